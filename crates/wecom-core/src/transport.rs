//! HTTP/1.1 to WeCom over pooled keep-alive connections (TLS by rustls), on hyper's
//! connection-level client.
//!
//! A general HTTP client (reqwest) spent more time on URL parsing, header maps and pool
//! bookkeeping than the request itself took on loopback. WeCom needs little: one origin,
//! origin-form paths, small JSON bodies. Each calling thread owns one `Transport`, so its
//! connections are driven by that thread's runtime while it waits.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::payload::{OutBody, Payload};

/// How long a connection may sit idle before it is closed rather than reused, unless the caller
/// says otherwise. Shorter than the 5 s that Apache, Node.js and many proxies keep idle
/// connections, so a request is rarely written just as the server gives up on the connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Idle connections kept per origin (a batch opens up to its concurrency).
const MAX_IDLE: usize = 128;
/// Largest answer read; WeCom's JSON answers are a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
const USER_AGENT_VALUE: &str = concat!("wecom-ruby/", env!("CARGO_PKG_VERSION"));

/// Scheme, host and port of a base URL, plus its path prefix (for gateways such as
/// `https://egress.example.com/wecom`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// `host` or `host:port`, as the Host header wants it.
    authority: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub origin: Origin,
    pub prefix: String,
}

impl Endpoint {
    pub fn parse(base_url: &str) -> Option<Endpoint> {
        let url = url::Url::parse(base_url).ok()?;
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = match url.host()? {
            url::Host::Ipv6(ip) => format!("[{ip}]"),
            host => host.to_string(),
        };
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        Some(Endpoint {
            origin: Origin {
                tls,
                host: host.trim_matches(['[', ']']).to_owned(),
                port,
                authority,
            },
            prefix: url.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// An HTTP answer: status, the Retry-After header, and the body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Why a request failed, and whether it can have reached the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Could not connect: the request was never sent.
    Connect(String),
    /// Connecting took longer than open_timeout.
    ConnectTimeout,
    /// The request was sent (or may have been) and then the connection failed.
    Lost(String),
    /// No complete answer within the timeout, after the request was sent.
    Timeout,
}

type Sender = http1::SendRequest<OutBody>;

/// A connection: hyper's handle, and the socket under it (for the stale check before reuse).
struct Connection {
    sender: Sender,
    fd: RawFd,
}

struct Idle {
    connection: Connection,
    since: Instant,
}

/// One thread's connections, by origin.
#[derive(Default)]
pub struct Transport {
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
}

impl Transport {
    /// Sends one request. `timeout` bounds the whole exchange, `open_timeout` the connect;
    /// a pooled connection idle longer than `idle_timeout` is not reused.
    ///
    /// Servers close idle keep-alive connections without a word. A pooled connection is
    /// checked for that before reuse, and a request that the peer refused with a reset (it had
    /// closed the connection, so it never read the request) goes again on a fresh connection:
    /// neither is a lost request, and neither may be reported as one.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        origin: &Origin,
        method: Method,
        path_and_query: &str,
        payload: Option<&Payload>,
        open_timeout: Duration,
        timeout: Duration,
        idle_timeout: Duration,
    ) -> std::result::Result<Response, Failure> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut sent = false;
        let exchange = async {
            let mut pooled_ok = true;
            loop {
                let pooled = if pooled_ok {
                    self.checkout(origin, idle_timeout)
                } else {
                    None
                };
                let (mut connection, reused) = match pooled {
                    Some(connection) => (connection, true),
                    None => (self.connect(origin, open_timeout).await?, false),
                };
                if connection.sender.ready().await.is_err() {
                    // A pooled connection the server closed while it was idle.
                    if reused {
                        continue;
                    }
                    return Err(Failure::Connect("the connection closed at once".into()));
                }
                let request = build_request(origin, &method, path_and_query, payload)
                    .map_err(|e| Failure::Connect(format!("reading the upload failed: {e}")))?;
                sent = true;
                match connection.sender.try_send_request(request).await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = response
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs);
                        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                            .collect()
                            .await
                            .map_err(|e| Failure::Lost(format!("reading the answer failed: {e}")))?
                            .to_bytes();
                        self.checkin(origin, connection);
                        return Ok(Response {
                            status,
                            retry_after,
                            body,
                        });
                    }
                    // Not written to the connection: safe to try on a fresh one.
                    Err(e) if e.message().is_some() && reused => {
                        sent = false;
                        continue;
                    }
                    Err(e) if e.message().is_some() => {
                        return Err(Failure::Connect(e.into_error().to_string()));
                    }
                    // The peer had closed the pooled connection: its kernel answered the request
                    // with a reset, unread. The other pooled connections are as old: skip them.
                    Err(e) if reused && refused_unread(e.error()) => {
                        sent = false;
                        pooled_ok = false;
                        self.forget(origin);
                    }
                    Err(e) => return Err(Failure::Lost(e.into_error().to_string())),
                }
            }
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(result) => result,
            Err(_) if sent => Err(Failure::Timeout),
            Err(_) => Err(Failure::ConnectTimeout),
        }
    }

    fn checkout(&self, origin: &Origin, idle_timeout: Duration) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let pool = idle.get_mut(origin)?;
        while let Some(Idle { connection, since }) = pool.pop() {
            // On this thread's runtime the connection task cannot run (and close the socket)
            // between `is_closed` and the peek, so the descriptor is still this connection's.
            if since.elapsed() < idle_timeout
                && !connection.sender.is_closed()
                && !peer_closed(connection.fd)
            {
                return Some(connection);
            }
        }
        None
    }

    fn checkin(&self, origin: &Origin, connection: Connection) {
        if connection.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let pool = idle.entry(origin.clone()).or_default();
        if pool.len() < MAX_IDLE {
            pool.push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    /// Drops every idle connection to `origin`.
    fn forget(&self, origin: &Origin) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(origin);
    }

    async fn connect(
        &self,
        origin: &Origin,
        open_timeout: Duration,
    ) -> std::result::Result<Connection, Failure> {
        let connect = async {
            let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
                .await
                .map_err(|e| {
                    Failure::Connect(format!("connecting to {} failed: {e}", origin.authority))
                })?;
            // Small request/answer pairs: Nagle's algorithm would only add delay.
            let _ = tcp.set_nodelay(true);
            let fd = tcp.as_raw_fd();
            if origin.tls {
                let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
                    .map_err(|e| Failure::Connect(format!("invalid TLS server name: {e}")))?;
                let tls = tls_connector()
                    .map_err(|e| Failure::Connect(e.to_string()))?
                    .connect(name, tcp)
                    .await
                    .map_err(|e| {
                        Failure::Connect(format!(
                            "TLS handshake with {} failed: {e}",
                            origin.authority
                        ))
                    })?;
                handshake(tls).await
            } else {
                handshake(tcp).await
            }
            .map(|sender| Connection { sender, fd })
        };
        match tokio::time::timeout(open_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(Failure::ConnectTimeout),
        }
    }
}

async fn handshake<S>(stream: S) -> std::result::Result<Sender, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Connect(format!("HTTP handshake failed: {e}")))?;
    // Runs on this thread's runtime; it ends when the sender is dropped or the peer closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Whether the peer has closed an idle connection, or sent on it unasked (an idle HTTP/1.1
/// connection is silent, so that is a goodbye too, such as a TLS close_notify): a peek that
/// neither blocks nor consumes anything.
fn peer_closed(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer we own; `fd` is an open socket (see `checkout`).
    let read = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    read >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock
}

/// A reset or broken pipe before any answer: the peer's socket was closed when the request
/// arrived, so the server never read it.
fn refused_unread(error: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            );
        }
        source = e.source();
    }
    false
}

fn build_request(
    origin: &Origin,
    method: &Method,
    path_and_query: &str,
    payload: Option<&Payload>,
) -> std::io::Result<Request<OutBody>> {
    let body = match payload {
        Some(payload) => payload.body()?,
        None => OutBody::full(Bytes::new()),
    };
    let mut request = Request::new(body);
    *request.method_mut() = method.clone();
    *request.uri_mut() = path_and_query
        .parse()
        .unwrap_or_else(|_| hyper::Uri::from_static("/"));
    let headers = request.headers_mut();
    if let Ok(host) = HeaderValue::from_str(&origin.authority) {
        headers.insert(HOST, host);
    }
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    if let Some(payload) = payload {
        if let Ok(content_type) = HeaderValue::from_str(&payload.content_type()) {
            headers.insert(CONTENT_TYPE, content_type);
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(payload.content_length()));
    }
    Ok(request)
}

/// rustls with Mozilla's roots (webpki-roots): no OpenSSL, no system store needed.
fn tls_connector() -> Result<tokio_rustls::TlsConnector> {
    static CONFIG: OnceLock<std::result::Result<Arc<rustls::ClientConfig>, String>> =
        OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    });
    config
        .clone()
        .map(tokio_rustls::TlsConnector::from)
        .map_err(Error::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_splits_origin_and_prefix() {
        let e = Endpoint::parse("https://qyapi.weixin.qq.com").unwrap();
        assert!(e.origin.tls);
        assert_eq!(
            (e.origin.host.as_str(), e.origin.port),
            ("qyapi.weixin.qq.com", 443)
        );
        assert_eq!(e.origin.authority, "qyapi.weixin.qq.com");
        assert_eq!(e.prefix, "");
        let e = Endpoint::parse("http://127.0.0.1:8080/wecom/").unwrap();
        assert!(!e.origin.tls);
        assert_eq!(e.origin.authority, "127.0.0.1:8080");
        assert_eq!(e.prefix, "/wecom");
        assert!(Endpoint::parse("ftp://example.com").is_none());
    }

    #[test]
    fn tls_connector_builds() {
        assert!(tls_connector().is_ok());
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let failure = Transport::default()
            .request(
                &endpoint.origin,
                Method::GET,
                "/",
                None,
                Duration::from_secs(1),
                Duration::from_secs(1),
                DEFAULT_IDLE_TIMEOUT,
            )
            .await
            .unwrap_err();
        assert!(matches!(failure, Failure::Connect(_)), "{failure:?}");
    }
}
