//! The hyper plumbing: accepting connections, reading requests, routing, faults and latency.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::reply::{Outcome, Reply};
use super::state::{FaultKind, Shared};
use super::{
    card, chat, directory, jssdk, media, message, multipart, robot, signin, token, RecordedRequest,
};

pub(crate) const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";

/// Bodies above this are refused with HTTP 413 (WeCom's largest upload, a 20 MB file, fits
/// with room for the multipart framing).
const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// The resolution of tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(1);

const JSON: &str = "application/json; charset=UTF-8";
const HTML: &str = "text/html; charset=UTF-8";
const SCRIPT: &str = "text/javascript; charset=UTF-8";

/// Returned by the service to make hyper close the connection without writing a response.
#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for ConnectionDropped {}

/// A TLS handshake that takes longer than this is dropped, so that a stalled client holds no task.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS server set-up of `start_https`: the certificate chain and key from PEM files. Errors
/// name the file and what is wrong with it.
pub(crate) fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("the TLS {what} file {} cannot be read: {e}", path.display()),
            )
        })
    };
    let cert_pem = read(cert, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{} is not a PEM file: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "{} holds no certificate (-----BEGIN CERTIFICATE-----)",
            cert.display()
        )));
    }
    let key_pem = read(key, "key")?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(format!(
            "{} holds no usable private key: {e}",
            key.display()
        ))
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .map_err(|e| {
        invalid(format!(
            "the certificate {} and the key {} do not make a TLS identity: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    // HTTP/1.1 only, as the plain-HTTP server.
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Runs until the runtime shuts down, which drops this task, the listener and every connection.
/// With `tls`, each connection is a TLS one first.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut builder = http1::Builder::new();
    builder.keep_alive(true);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // E.g. out of file descriptors: back off rather than spin; the listener stays usable.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        // Small request/response pairs: don't let Nagle's algorithm add latency.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let ip = peer.ip();
            let service = service_fn(move |request| handle(Arc::clone(&shared), ip, request));
            // Errors here are peers going away, refused handshakes (a client that does not trust
            // the certificate) or deliberate drops; nothing to report.
            match tls {
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    ip: IpAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let _in_flight = shared.enter();
    let arrived = tokio::time::Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();

    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());

    let (body, too_large) = match read_body(&parts.headers, body).await {
        Ok(body) => (body, false),
        Err(BodyError::TooLarge) => (Bytes::new(), true),
        // The peer went away mid-request: there is nobody to answer.
        Err(BodyError::Io) => return Err(ConnectionDropped),
    };
    shared.record_request(RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        query: query.clone(),
        body: recorded_body(content_type, &body),
    });

    let delay = shared.take_delay(path).unwrap_or_default();
    let outcome = if too_large {
        Reply::http(413).into()
    } else {
        let call = Call {
            query: &query,
            body: &body,
            content_type,
            ip,
        };
        dispatch(&shared, &parts.method, path, &call)
    };

    // The work is done on arrival and only the answer is late, like a slow network: a client
    // that times out may still have had its message delivered.
    let latency = shared.latency() + delay;
    if !latency.is_zero() {
        // Counted from arrival. tokio's timer fires on the first millisecond tick after the
        // deadline, so aim one tick early: answers then take `latency`, not `latency` + ~1.5 ms.
        let deadline = arrived + latency.saturating_sub(TIMER_TICK);
        tokio::time::sleep_until(deadline.max(arrived)).await;
    }
    match outcome {
        Outcome::Reply(reply) => Ok(into_response(reply)),
        Outcome::Drop => Err(ConnectionDropped),
    }
}

/// What a handler gets to see of a request.
pub(crate) struct Call<'a> {
    /// Query pairs in order, percent-decoded.
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    /// The Content-Type header (uploads read their multipart boundary from it).
    pub content_type: Option<&'a str>,
    pub ip: IpAddr,
}

/// Every endpoint's handler: what the emulator holds, and the request.
type Handler = fn(&Shared, &Call) -> Reply;

/// The method and handler serving `path`.
fn route(path: &str) -> Option<(Method, Handler)> {
    let route: (Method, Handler) = match path {
        GETTOKEN_PATH => (Method::GET, token::gettoken),
        "/cgi-bin/message/send" => (Method::POST, message::send),
        "/cgi-bin/message/recall" => (Method::POST, message::recall),
        "/cgi-bin/message/update_template_card" => (Method::POST, card::update_template_card),
        "/cgi-bin/media/upload" => (Method::POST, media::upload),
        "/cgi-bin/webhook/send" => (Method::POST, robot::send),
        "/cgi-bin/webhook/upload_media" => (Method::POST, robot::upload_media),
        "/cgi-bin/appchat/create" => (Method::POST, chat::create),
        "/cgi-bin/appchat/update" => (Method::POST, chat::update),
        "/cgi-bin/appchat/get" => (Method::GET, chat::get),
        "/cgi-bin/appchat/send" => (Method::POST, chat::send),
        "/cgi-bin/get_jsapi_ticket" => (Method::GET, jssdk::jsapi_ticket),
        "/cgi-bin/ticket/get" => (Method::GET, jssdk::agent_ticket),
        "/jssdk/jweixin.js" => (Method::GET, jssdk::script),
        "/jssdk/check" => (Method::GET, jssdk::check),
        "/connect/oauth2/authorize" => (Method::GET, signin::oauth_authorize),
        "/wwlogin/sso/login" => (Method::GET, signin::web_login),
        "/cgi-bin/auth/getuserinfo" => (Method::GET, signin::getuserinfo),
        "/cgi-bin/auth/getuserdetail" => (Method::POST, signin::getuserdetail),
        "/cgi-bin/user/get" => (Method::GET, directory::user_get),
        "/cgi-bin/user/simplelist" => (Method::GET, directory::user_simplelist),
        "/cgi-bin/user/list_id" => (Method::POST, directory::user_list_id),
        "/cgi-bin/department/list" => (Method::GET, directory::department_list),
        "/cgi-bin/department/simplelist" => (Method::GET, directory::department_simplelist),
        "/cgi-bin/user/getuserid" => (Method::POST, directory::userid_by_mobile),
        "/cgi-bin/user/get_userid_by_email" => (Method::POST, directory::userid_by_email),
        _ => return None,
    };
    Some(route)
}

fn dispatch(shared: &Shared, method: &Method, path: &str, call: &Call) -> Outcome {
    if path == GETTOKEN_PATH {
        shared.count_token_request();
    } else if path.starts_with("/cgi-bin/user/") || path.starts_with("/cgi-bin/department/") {
        // Counted before faults, like gettoken: a cache test counts what reached WeCom.
        shared.count_directory_call();
    }
    match shared.take_fault(path) {
        Some(FaultKind::Drop) => return Outcome::Drop,
        Some(FaultKind::Http(status)) => return Reply::http(status).into(),
        Some(FaultKind::Errcode(code)) => return Reply::error(code, call.ip).into(),
        // Delays are taken apart from the others, by `handle`.
        Some(FaultKind::Delay(_)) | None => {}
    }
    let Some((allowed, handler)) = route(path) else {
        return Reply::http(404).into();
    };
    if *method != allowed {
        return Reply::http(405).into();
    }
    handler(shared, call).into()
}

/// The body as recorded in `requests()`: lossy UTF-8, except that a multipart body is only
/// described, so that uploaded files are not kept (`uploads()` has their size and md5).
fn recorded_body(content_type: Option<&str>, body: &[u8]) -> String {
    if content_type.and_then(multipart::boundary).is_some() {
        format!("<multipart/form-data, {} bytes>", body.len())
    } else {
        String::from_utf8_lossy(body).into_owned()
    }
}

enum BodyError {
    TooLarge,
    Io,
}

async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, BodyError> {
    // Refuse a declared oversize body before reading any of it.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Io),
    }
}

fn into_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    let content_type = if reply.script {
        SCRIPT
    } else if reply.html {
        HTML
    } else {
        JSON
    };
    // from_static neither allocates nor validates at runtime beyond a cheap scan.
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(location) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response
            .headers_mut()
            .insert(hyper::header::LOCATION, location);
    }
    response
}
