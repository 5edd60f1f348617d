//! HTTP/1.1 to WeCom through reqwest (rustls with Mozilla's roots, no OpenSSL).
//!
//! Each calling thread owns one `Transport`, and so one `reqwest::Client` and one pool of
//! keep-alive connections, driven by that thread's current-thread runtime while it waits: no
//! request is handed to another thread. reqwest does the connections, TLS, pooling and URLs.
//! What it cannot know, this module adds:
//!
//! - **Whether a failed request may have reached WeCom.** A POST is "delivery unknown" only
//!   when its body may have been written and no answer came. Each attempt carries an
//!   [`Exchange`] that the connector (for connections it opens) and the request body (when
//!   hyper first asks it for bytes) report to.
//! - **Keep-alive connections the server closed while idle.** Servers close idle connections
//!   without a word, and the pool would hand one out: hyper resends by itself only a request it
//!   never started to write. So before a request that follows a pause the runtime is given a
//!   turn to read what arrived while it was not running (a connection that got the server's FIN then closes and
//!   the pool skips it), and a request written to a pooled connection the peer had already
//!   closed — refused with a reset or a broken pipe before any answer, which means the server
//!   never read it — goes once more on a fresh connection.
//! - **Settings per request.** The wecom clients of a thread share its pool but may have their
//!   own `timeout`, `open_timeout` and `idle_timeout`; reqwest's are per `Client`, so the
//!   request timeout is set per request, the connect timeout is applied by a connector layer,
//!   and the idle timeout decides when the thread's client is replaced by a fresh one. (The
//!   pool's own expiry is the idle timeout of the request that built the client. A request with
//!   a shorter one gets a fresh client when the origin's newest idle connection is older than
//!   it; with mixed settings on one thread and several idle connections, an older one can
//!   still be handed out, up to the client's expiry.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};

use crate::config::{check_proxy_url, redact_userinfo, CaFile, Proxy};
use crate::payload::{OutBody, Payload};

/// How long a connection may sit idle before it is closed rather than reused, unless the caller
/// says otherwise. Shorter than the 5 s that Apache, Node.js and many proxies keep idle
/// connections, so a request is rarely written just as the server gives up on the connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Idle connections kept per origin (a batch opens up to its concurrency).
const MAX_IDLE: usize = 128;
/// A send that follows the last exchange on its origin within this skips [`settle`]: the runtime
/// was reading this thread's sockets until the last answer came, so a FIN it has not seen arrived
/// in the last moment, from a server that closed a connection it had just used (one that says so
/// with `Connection: close` is never reused anyway). Back-to-back sends save two polls of the
/// I/O driver each.
const SETTLE_AFTER: Duration = Duration::from_millis(1);
/// Largest answer read; WeCom's JSON answers are a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
const USER_AGENT_VALUE: &str = concat!("wecom-ruby/", env!("CARGO_PKG_VERSION"));

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A checked base URL: its origin and path prefix (for gateways such as
/// `https://egress.example.com/wecom`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The base URL, parsed once: each request's URL is a copy with its path and query set.
    base: Url,
    /// The base URL's path without the trailing slash.
    prefix: String,
    /// `scheme://host[:port]`: which of the thread's idle connections a request may use.
    origin: String,
    /// `host[:port]`, for error messages (with the proxy's, when there is one).
    authority: String,
    /// The proxy the requests go through.
    route: Route,
}

/// The forward proxy of an [`Endpoint`], resolved when its client is built: the threads' reqwest
/// clients are keyed by it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Route {
    proxy: Option<Url>,
    /// Hosts that bypass `proxy` (NO_PROXY's syntax), when it came from the environment.
    no_proxy: Option<String>,
    /// The proxy forwards plain-HTTP requests itself (no CONNECT tunnel). Such connections are
    /// not kept: proxies such as tinyproxy close them after each answer without saying so, and a
    /// request written to one then fails with its delivery unknown.
    forwarded: bool,
    /// Roots trusted besides Mozilla's (the ca_file setting).
    roots: Option<CaFile>,
}

/// Never prints the proxy's password.
impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field(
                "proxy",
                &self.proxy.as_ref().map(|p| redact_userinfo(p.as_str())),
            )
            .field("no_proxy", &self.no_proxy)
            .field("forwarded", &self.forwarded)
            .field("roots", &self.roots)
            .finish()
    }
}

impl Route {
    /// The route of requests to a `scheme` URL: the `proxy` setting's, else the environment's
    /// as curl reads it (`https_proxy`/`HTTPS_PROXY` for https, `http_proxy`/`HTTP_PROXY` for
    /// http — the upper-case one not under CGI, where it is a request header —, then
    /// `all_proxy`/`ALL_PROXY`; `no_proxy`/`NO_PROXY` lists the hosts that bypass it).
    pub fn resolve(
        setting: &Proxy,
        scheme: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> crate::error::Result<Route> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        match setting {
            Proxy::Off => Ok(Route::default()),
            Proxy::Url(url) => Ok(Route {
                proxy: Some(check_proxy_url("proxy", url)?),
                no_proxy: None,
                forwarded: scheme == "http",
                roots: None,
            }),
            Proxy::Env => {
                let cgi = env("REQUEST_METHOD").is_some();
                let names: &[&str] = match (scheme, cgi) {
                    ("https", _) => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
                    (_, false) => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
                    (_, true) => &["http_proxy", "all_proxy", "ALL_PROXY"],
                };
                let Some((name, value)) = names
                    .iter()
                    .find_map(|name| var(name).map(|value| (*name, value)))
                else {
                    return Ok(Route::default());
                };
                // As curl: a proxy without a scheme is an HTTP one.
                let value = value.trim();
                let value = if value.contains("://") {
                    value.to_owned()
                } else {
                    format!("http://{value}")
                };
                Ok(Route {
                    proxy: Some(check_proxy_url(name, &value)?),
                    no_proxy: var("no_proxy").or_else(|| var("NO_PROXY")),
                    forwarded: scheme == "http",
                    roots: None,
                })
            }
        }
    }

    /// This route, trusting `roots` besides Mozilla's roots.
    pub fn trusting(mut self, roots: Option<CaFile>) -> Route {
        self.roots = roots;
        self
    }

    /// The proxy's `host:port`, for error messages.
    fn via(&self) -> Option<String> {
        let proxy = self.proxy.as_ref()?;
        Some(format!(
            "{}:{}",
            proxy.host_str().unwrap_or_default(),
            proxy.port_or_known_default().unwrap_or(80)
        ))
    }

    fn reqwest_proxy(&self) -> Option<std::result::Result<reqwest::Proxy, reqwest::Error>> {
        let proxy = self.proxy.as_ref()?;
        Some(reqwest::Proxy::all(proxy.clone()).map(|p| {
            p.no_proxy(
                self.no_proxy
                    .as_deref()
                    .and_then(reqwest::NoProxy::from_string),
            )
        }))
    }

    /// `text` without the proxy's password (as given and percent-decoded).
    fn scrub(&self, text: String) -> String {
        let Some(password) = self.proxy.as_ref().and_then(|p| p.password()) else {
            return text;
        };
        let decoded =
            url::form_urlencoded::parse(format!("p={}", password.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
        let mut text = text.replace(password, "[REDACTED]");
        if !decoded.is_empty() {
            text = text.replace(&decoded, "[REDACTED]");
        }
        text
    }
}

impl Endpoint {
    pub fn parse(base_url: &str) -> Option<Endpoint> {
        let mut base = Url::parse(base_url).ok()?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return None;
        }
        base.set_query(None);
        base.set_fragment(None);
        let origin = base.origin().ascii_serialization();
        let authority = origin.split_once("://")?.1.to_owned();
        let prefix = base.path().trim_end_matches('/').to_owned();
        Some(Endpoint {
            base,
            prefix,
            origin,
            authority,
            route: Route::default(),
        })
    }

    /// Whether `status` is the proxy's refusal of its credentials: 407, or (tinyproxy answers a
    /// plain-HTTP request so) 401 to a request the proxy forwards itself rather than tunnels.
    fn proxy_refused(&self, status: u16) -> bool {
        self.route.proxy.is_some()
            && (status == 407 || (status == 401 && self.base.scheme() == "http"))
    }

    /// This endpoint reached through `route`.
    pub fn through(mut self, route: Route) -> Endpoint {
        if let Some(via) = route.via() {
            self.authority = format!("{} through the proxy {via}", self.authority);
        }
        self.route = route;
        self
    }

    /// The URL of `path` under the base URL, with `query` form-encoded.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        let mut full = String::with_capacity(self.prefix.len() + path.len());
        full.push_str(&self.prefix);
        full.push_str(path);
        url.set_path(&full);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
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
    /// Could not connect, or failed before any of the request's body was written: the request
    /// was never sent.
    Connect(String),
    /// Connecting took longer than open_timeout.
    ConnectTimeout,
    /// The request was sent (or may have been) and then the connection failed.
    Lost(String),
    /// No complete answer within the timeout, after the request was sent.
    Timeout,
    /// The proxy wants other credentials (407): the request was not sent on.
    ProxyAuth(String),
    /// The server's TLS certificate was refused: the request was not sent.
    Certificate(String),
}

/// One attempt of a request, as the connector and the request body see it.
struct Exchange {
    open_timeout: Duration,
    /// Connections this attempt asked the connector for: none means the pool gave it one.
    connects: AtomicU32,
    /// Of those, the ones that finished (opened, failed or timed out); one dropped on the way
    /// (when the request timed out) never does.
    finished: AtomicU32,
    /// hyper asked the body for its bytes: from then on the request may reach the server.
    written: AtomicBool,
}

impl Exchange {
    fn new(open_timeout: Duration) -> Exchange {
        Exchange {
            open_timeout,
            connects: AtomicU32::new(0),
            finished: AtomicU32::new(0),
            written: AtomicBool::new(false),
        }
    }

    fn reused_connection(&self) -> bool {
        self.connects.load(Ordering::Acquire) == 0
    }

    fn unfinished_connect(&self) -> bool {
        self.finished.load(Ordering::Acquire) < self.connects.load(Ordering::Acquire)
    }
}

tokio::task_local! {
    /// The attempt being polled: the connector runs inside its poll when it opens a connection.
    static EXCHANGE: Arc<Exchange>;
}

/// The thread's reqwest client, and when each origin last finished an exchange on it.
struct Pool {
    client: reqwest::Client,
    /// The proxy the client goes through.
    route: Route,
    /// The client's pool_idle_timeout.
    idle_timeout: Duration,
    generation: u64,
    last_done: Vec<(String, Instant)>,
}

impl Pool {
    fn new(idle_timeout: Duration, generation: u64, route: &Route) -> Result<Pool, Failure> {
        let setup = |e: reqwest::Error| {
            Failure::Connect(route.scrub(format!("setting up HTTP failed: {}", describe(&e))))
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT_VALUE)
            // No redirects, no retries of reqwest's own (ours are in api.rs, decided by what can
            // have reached WeCom), and only the proxy of `route` (the environment was read when
            // it was resolved).
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .http1_only()
            .tcp_nodelay(true)
            .pool_idle_timeout(idle_timeout)
            .pool_max_idle_per_host(if route.forwarded { 0 } else { MAX_IDLE })
            .connector_layer(AttributedLayer);
        // Added to the built-in roots, which stay; verification itself is never relaxed.
        for certificate in route.roots.iter().flat_map(CaFile::certificates) {
            let certificate = reqwest::Certificate::from_der(certificate).map_err(setup)?;
            builder = builder.add_root_certificate(certificate);
        }
        builder = match route.reqwest_proxy() {
            Some(proxy) => builder.proxy(proxy.map_err(setup)?),
            None => builder.no_proxy(),
        };
        let client = builder.build().map_err(setup)?;
        Ok(Pool {
            client,
            route: route.clone(),
            idle_timeout,
            generation,
            last_done: Vec::new(),
        })
    }

    /// How long the connections to `origin` have been idle at least (the newest finished last).
    fn idle_for(&self, origin: &str) -> Option<Duration> {
        self.last_done
            .iter()
            .find(|(o, _)| o == origin)
            .map(|(_, at)| at.elapsed())
    }
}

/// One thread's HTTP client (see the module's documentation).
#[derive(Default)]
pub struct Transport {
    /// One client per proxy route (nearly always one).
    pools: Mutex<Vec<Pool>>,
}

impl Transport {
    /// Sends one request to `url` (one of `endpoint`'s). `timeout` bounds the
    /// whole exchange, `open_timeout` the connect; a pooled connection idle longer than
    /// `idle_timeout` is not reused.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        endpoint: &Endpoint,
        method: Method,
        url: Url,
        payload: Option<&Payload>,
        open_timeout: Duration,
        timeout: Duration,
        idle_timeout: Duration,
    ) -> std::result::Result<Response, Failure> {
        let deadline = Instant::now() + timeout;
        let mut resent = false;
        loop {
            let (client, generation, idle) = self.client(endpoint, idle_timeout)?;
            if idle.is_some_and(|idle| idle >= SETTLE_AFTER) {
                settle().await;
            }
            let exchange = Arc::new(Exchange::new(open_timeout));
            let mut request = reqwest::Request::new(method.clone(), url.clone());
            if let Some(payload) = payload {
                let body = payload
                    .body()
                    .map_err(|e| Failure::Connect(format!("reading the upload failed: {e}")))?;
                let headers = request.headers_mut();
                if let Ok(content_type) = HeaderValue::from_str(&payload.content_type()) {
                    headers.insert(CONTENT_TYPE, content_type);
                }
                headers.insert(CONTENT_LENGTH, HeaderValue::from(payload.content_length()));
                *request.body_mut() = Some(reqwest::Body::wrap(Watched {
                    body,
                    exchange: exchange.clone(),
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Timeout);
            }
            *request.timeout_mut() = Some(left);
            let sent = EXCHANGE
                .scope(exchange.clone(), async { client.execute(request).await })
                .await;
            match sent {
                Ok(response) if endpoint.proxy_refused(response.status().as_u16()) => {
                    return Err(Failure::ProxyAuth(proxy_auth_message(endpoint)));
                }
                Ok(response) => {
                    let response = read(response, endpoint).await?;
                    self.done(endpoint, generation);
                    return Ok(response);
                }
                Err(error) => {
                    let failure = classify(&error, &exchange, payload.is_some(), endpoint);
                    // `reused_connection` is false whenever this attempt started a connect,
                    // even one it did not end up using: such a failure is reported, not resent.
                    if !resent && exchange.reused_connection() && refused_unread(&error) {
                        // The peer had closed this pooled connection, so its kernel refused the
                        // request unread. The other idle connections are as old: start afresh.
                        resent = true;
                        self.forget(&endpoint.route, generation);
                        continue;
                    }
                    return Err(failure);
                }
            }
        }
    }

    /// The thread's client for `endpoint`'s route: built on first use, and built anew when
    /// every idle connection to `endpoint` has been idle for `idle_timeout` (the last exchange
    /// finished that long ago). The third value is how long the pool's connections to
    /// `endpoint` have been idle, when it may hold some.
    fn client(
        &self,
        endpoint: &Endpoint,
        idle_timeout: Duration,
    ) -> std::result::Result<(reqwest::Client, u64, Option<Duration>), Failure> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let at = pools.iter().position(|p| p.route == endpoint.route);
        let idle = at.and_then(|at| pools[at].idle_for(&endpoint.origin));
        let fresh = match (at, idle) {
            (None, _) => true,
            (Some(_), Some(idle)) => idle >= idle_timeout,
            (Some(_), None) => false,
        };
        let at = match at {
            Some(at) if fresh => {
                let generation = pools[at].generation + 1;
                pools[at] = Pool::new(idle_timeout, generation, &endpoint.route)?;
                at
            }
            Some(at) => at,
            None => {
                pools.push(Pool::new(idle_timeout, 0, &endpoint.route)?);
                pools.len() - 1
            }
        };
        let pool = &pools[at];
        Ok((
            pool.client.clone(),
            pool.generation,
            idle.filter(|_| !fresh),
        ))
    }

    fn done(&self, endpoint: &Endpoint, generation: u64) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let Some(pool) = pools
            .iter_mut()
            .find(|p| p.route == endpoint.route && p.generation == generation)
        else {
            return;
        };
        let now = Instant::now();
        match pool
            .last_done
            .iter_mut()
            .find(|(o, _)| *o == endpoint.origin)
        {
            Some((_, at)) => *at = now,
            None => pool.last_done.push((endpoint.origin.clone(), now)),
        }
    }

    /// Replaces `route`'s client of `generation` (and so drops its idle connections), unless
    /// another request already did.
    fn forget(&self, route: &Route, generation: u64) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools
            .iter_mut()
            .find(|p| p.route == *route && p.generation == generation)
        {
            if let Ok(fresh) = Pool::new(pool.idle_timeout, generation + 1, route) {
                *pool = fresh;
            }
        }
    }

    /// How many reqwest clients this thread holds (one per proxy route in use).
    pub fn clients(&self) -> usize {
        self.pools.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Lets this thread's connection tasks read what arrived while the runtime was not running, so
/// a pooled connection the server has closed is closed here too before the pool hands it out.
///
/// On a current-thread runtime a yield waits for one poll of the I/O driver, which wakes the
/// connections that have something to read; the future being driven is polled again before
/// those tasks run, so the second yield lets them run first.
async fn settle() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

async fn read(
    mut response: reqwest::Response,
    endpoint: &Endpoint,
) -> std::result::Result<Response, Failure> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::retry::parse_retry_after(v, std::time::SystemTime::now()));
    let too_long = || {
        Failure::Lost(format!(
            "reading the answer failed: {} sent more than {MAX_RESPONSE_BYTES} bytes",
            endpoint.authority
        ))
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_long());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(too_long());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Err(Failure::Timeout),
            Err(e) => {
                return Err(Failure::Lost(format!(
                    "reading the answer failed: {}",
                    describe(&e)
                )))
            }
        }
    }
    Ok(Response {
        status,
        retry_after,
        body: Bytes::from(body),
    })
}

/// What a failed attempt means for delivery, never with the proxy's password.
fn classify(
    error: &reqwest::Error,
    exchange: &Exchange,
    has_body: bool,
    endpoint: &Endpoint,
) -> Failure {
    let route = &endpoint.route;
    match classify_unscrubbed(error, exchange, has_body, endpoint) {
        Failure::Connect(m) if m.contains("proxy authorization required") => {
            Failure::ProxyAuth(proxy_auth_message(endpoint))
        }
        Failure::Connect(m) => Failure::Connect(route.scrub(m)),
        Failure::Lost(m) => Failure::Lost(route.scrub(m)),
        other => other,
    }
}

fn proxy_auth_message(endpoint: &Endpoint) -> String {
    format!(
        "the proxy {} refused its credentials (407 Proxy Authentication Required): check the \
         user and password of the proxy setting",
        endpoint.route.via().unwrap_or_default()
    )
}

fn classify_unscrubbed(
    error: &reqwest::Error,
    exchange: &Exchange,
    has_body: bool,
    endpoint: &Endpoint,
) -> Failure {
    let written = exchange.written.load(Ordering::Acquire);
    if source::<ConnectTimedOut>(error).is_some() {
        return Failure::ConnectTimeout;
    }
    if error.is_timeout() {
        // The whole timeout ran out: while connecting, before anything was written, or after.
        return if !written && exchange.unfinished_connect() {
            Failure::ConnectTimeout
        } else {
            Failure::Timeout
        };
    }
    if let Some(rustls::Error::InvalidCertificate(refused)) = source::<rustls::Error>(error) {
        return Failure::Certificate(certificate_message(endpoint, refused));
    }
    if error.is_connect() {
        return Failure::Connect(format!(
            "connecting to {} failed: {}",
            endpoint.authority,
            describe(error)
        ));
    }
    if has_body && !written && error.is_request() {
        // No byte of the body was asked for (at most the head went out): the server cannot
        // have acted on it.
        return Failure::Connect(format!(
            "sending to {} failed before the request was written: {}",
            endpoint.authority,
            describe(error)
        ));
    }
    Failure::Lost(describe(error))
}

/// Why the certificate was refused, and what to do about it: ca_file helps only when the
/// issuer is unknown.
fn certificate_message(endpoint: &Endpoint, refused: &rustls::CertificateError) -> String {
    use rustls::CertificateError as Refused;
    let remedy = match refused {
        Refused::Expired
        | Refused::ExpiredContext { .. }
        | Refused::NotValidYet
        | Refused::NotValidYetContext { .. } => {
            "the certificate is out of its validity period: it must be renewed (or this \
             machine's clock is wrong)"
                .to_owned()
        }
        Refused::NotValidForName | Refused::NotValidForNameContext { .. } => {
            "base_url must name a host the certificate is for".to_owned()
        }
        _ => match &endpoint.route.roots {
            Some(roots) => format!(
                "if a private CA or a TLS-inspecting proxy signs it, that CA's certificate (PEM) \
                 must be in ca_file {:?}, which does not hold it",
                roots.path()
            ),
            None => "if a private CA or a TLS-inspecting proxy signs it, give that CA's \
                     certificate (a PEM file) as ca_file"
                .to_owned(),
        },
    };
    format!(
        "the TLS certificate of {} was not accepted ({refused}): {remedy}; certificate checks \
         are never turned off",
        endpoint.authority
    )
}

/// A reset or broken pipe before any answer: the peer's socket was closed when the request
/// arrived, so the server never read it.
fn refused_unread(error: &reqwest::Error) -> bool {
    source::<std::io::Error>(error).is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        )
    })
}

/// The first error of type `E` in `error`'s chain of causes.
fn source<E: std::error::Error + 'static>(error: &reqwest::Error) -> Option<&E> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        // An io::Error's `source` skips the error it wraps (which may be another io::Error,
        // as a TLS failure is): go into it instead.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            cause = Some(inner as &(dyn std::error::Error + 'static));
            continue;
        }
        cause = e.source();
    }
    None
}

/// The causes of `error`, without reqwest's own line (which holds the URL, and so the token).
fn describe(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        let text = e.to_string();
        // hyper-util's wrapper ("client error (Connect)") says nothing its cause does not.
        if !text.starts_with("client error (") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = e.source();
    }
    if parts.is_empty() {
        // reqwest's own kind of error, without the URL.
        let mut error = error.to_string();
        if let Some(at) = error.find(" for url (") {
            error.truncate(at);
        }
        parts.push(error);
    }
    parts.join(": ")
}

/// The request body, reporting to its exchange when hyper first asks it for bytes.
struct Watched {
    body: OutBody,
    exchange: Arc<Exchange>,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        this.exchange.written.store(true, Ordering::Release);
        Pin::new(&mut this.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// open_timeout ran out while connecting.
#[derive(Debug)]
struct ConnectTimedOut(Duration);

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no connection within {:.3}s", self.0.as_secs_f64())
    }
}

impl std::error::Error for ConnectTimedOut {}

/// A layer around reqwest's connector: tells the exchange being polled that it opens a
/// connection, and bounds the connect by that exchange's open_timeout.
#[derive(Clone)]
struct Attributed<S>(S);

#[derive(Clone)]
struct AttributedLayer;

impl<S> tower_layer::Layer<S> for AttributedLayer {
    type Service = Attributed<S>;

    fn layer(&self, inner: S) -> Attributed<S> {
        Attributed(inner)
    }
}

impl<S, R> tower_service::Service<R> for Attributed<S>
where
    S: tower_service::Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<S::Response, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, target: R) -> Self::Future {
        let connect = self.0.call(target);
        let Ok(exchange) = EXCHANGE.try_with(Arc::clone) else {
            return Box::pin(connect);
        };
        exchange.connects.fetch_add(1, Ordering::AcqRel);
        Box::pin(async move {
            let result = tokio::time::timeout(exchange.open_timeout, connect).await;
            exchange.finished.fetch_add(1, Ordering::AcqRel);
            result.unwrap_or_else(|_| Err(Box::new(ConnectTimedOut(exchange.open_timeout))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_splits_origin_and_prefix() {
        let e = Endpoint::parse("https://qyapi.weixin.qq.com").unwrap();
        assert_eq!(
            e.url(
                "/cgi-bin/gettoken",
                &[("corpid", "c"), ("corpsecret", "s/+ x")]
            )
            .as_str(),
            "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=c&corpsecret=s%2F%2B+x"
        );
        assert_eq!(e.authority, "qyapi.weixin.qq.com");
        let e = Endpoint::parse("http://127.0.0.1:8080/wecom/?x=1").unwrap();
        assert_eq!(
            e.url("/cgi-bin/message/send", &[]).as_str(),
            "http://127.0.0.1:8080/wecom/cgi-bin/message/send"
        );
        assert_eq!(e.origin, "http://127.0.0.1:8080");
        assert_eq!(e.authority, "127.0.0.1:8080");
        let e = Endpoint::parse("http://[::1]:80/").unwrap();
        assert_eq!(e.url("/p", &[]).as_str(), "http://[::1]/p");
        assert!(Endpoint::parse("ftp://example.com").is_none());
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_route_follows_the_setting_then_the_environment_as_curl_reads_it() {
        let proxy = |route: Route| route.proxy.map(|p| p.to_string());
        let vars = [
            ("HTTPS_PROXY", "big:1"),
            ("https_proxy", "http://small:2"),
            ("HTTP_PROXY", "http://plain:3"),
            ("ALL_PROXY", "http://all:4"),
            ("NO_PROXY", "127.0.0.1,.internal"),
        ];
        let https = Route::resolve(&Proxy::Env, "https", env(&vars)).unwrap();
        assert_eq!(https.no_proxy.as_deref(), Some("127.0.0.1,.internal"));
        assert_eq!(proxy(https).as_deref(), Some("http://small:2/"));
        assert_eq!(
            proxy(Route::resolve(&Proxy::Env, "https", env(&vars[..1])).unwrap()).as_deref(),
            Some("http://big:1/")
        );
        assert_eq!(
            proxy(Route::resolve(&Proxy::Env, "http", env(&vars)).unwrap()).as_deref(),
            Some("http://plain:3/")
        );
        assert_eq!(
            proxy(Route::resolve(&Proxy::Env, "http", env(&vars[3..])).unwrap()).as_deref(),
            Some("http://all:4/")
        );
        // Under CGI, HTTP_PROXY is the client's Proxy header.
        let cgi = [("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://evil:1")];
        assert_eq!(
            proxy(Route::resolve(&Proxy::Env, "http", env(&cgi)).unwrap()),
            None
        );
        assert_eq!(
            Route::resolve(&Proxy::Off, "https", env(&vars)).unwrap(),
            Route::default()
        );
        let given = Route::resolve(
            &Proxy::Url("http://u:p@given:5".into()),
            "https",
            env(&vars),
        )
        .unwrap();
        assert_eq!(given.no_proxy, None);
        assert_eq!(proxy(given).as_deref(), Some("http://u:p@given:5/"));
        let err = Route::resolve(
            &Proxy::Env,
            "https",
            env(&[("HTTPS_PROXY", "ftp://u:hunter2@x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("HTTPS_PROXY must be an http:// URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn clients_with_other_proxies_get_their_own_reqwest_client() {
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{}", unused_port())).unwrap();
        let proxied = endpoint.clone().through(
            Route::resolve(
                &Proxy::Url(format!("http://user:hunter2@127.0.0.1:{}", unused_port())),
                "http",
                |_| None,
            )
            .unwrap(),
        );
        let transport = Transport::default();
        for endpoint in [&endpoint, &proxied, &endpoint, &proxied] {
            let _ = transport
                .request(
                    endpoint,
                    Method::GET,
                    endpoint.url("/", &[]),
                    None,
                    Duration::from_secs(1),
                    Duration::from_secs(1),
                    DEFAULT_IDLE_TIMEOUT,
                )
                .await;
        }
        assert_eq!(transport.clients(), 2);
        // A proxy that refuses: the error names it, without the password.
        let failure = transport
            .request(
                &proxied,
                Method::POST,
                proxied.url("/", &[]),
                Some(&Payload::Json(Bytes::from_static(b"{}"))),
                Duration::from_secs(1),
                Duration::from_secs(1),
                DEFAULT_IDLE_TIMEOUT,
            )
            .await
            .unwrap_err();
        let Failure::Connect(message) = &failure else {
            panic!("{failure:?}")
        };
        assert!(
            message.contains("through the proxy 127.0.0.1:"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!format!("{proxied:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn retry_after_as_an_http_date_is_read() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint =
            Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(5));
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = [0; 1024];
            let _ = stream.read(&mut head);
            let answer = format!(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {date}\r\nContent-Length: 0\r\n\r\n"
            );
            stream.write_all(answer.as_bytes()).unwrap();
        });
        let response = Transport::default()
            .request(
                &endpoint,
                Method::GET,
                endpoint.url("/", &[]),
                None,
                Duration::from_secs(1),
                Duration::from_secs(1),
                DEFAULT_IDLE_TIMEOUT,
            )
            .await
            .unwrap();
        assert_eq!(response.status, 503);
        let wait = response.retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(3) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
    }

    /// A CA, and a certificate it signs for `names` (valid now, or expired).
    fn signed(names: &[&str], expired: bool) -> (rcgen::Certificate, String, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 2);
        }
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        (ca, cert.pem(), key.serialize_pem())
    }

    /// An HTTPS server on 127.0.0.1 that answers `{}` to each request; its base URL.
    async fn https_server(cert_pem: &str, key_pem: &str) -> String {
        use rustls_pki_types::pem::PemObject;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A refused handshake ends here: the client closes the connection.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        base
    }

    async fn get(
        transport: &Transport,
        base: &str,
        roots: Option<CaFile>,
    ) -> Result<Response, Failure> {
        let endpoint = Endpoint::parse(base)
            .unwrap()
            .through(Route::default().trusting(roots));
        transport
            .request(
                &endpoint,
                Method::GET,
                endpoint.url("/cgi-bin/gettoken", &[]),
                None,
                Duration::from_secs(2),
                Duration::from_secs(2),
                DEFAULT_IDLE_TIMEOUT,
            )
            .await
    }

    fn refusal(result: Result<Response, Failure>) -> String {
        match result {
            Err(Failure::Certificate(message)) => message,
            other => panic!("expected a certificate failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn ca_file_adds_roots_and_every_certificate_is_still_checked() {
        let (ca, cert, key) = signed(&["127.0.0.1", "localhost"], false);
        let base = https_server(&cert, &key).await;
        let roots = CaFile::from_pem("/etc/ca.pem", ca.pem().as_bytes()).unwrap();
        let transport = Transport::default();

        let message = refusal(get(&transport, &base, None).await);
        assert!(message.contains("UnknownIssuer"), "{message}");
        assert!(
            message.contains("give that CA's certificate (a PEM file) as ca_file"),
            "{message}"
        );
        assert!(message.contains(&base["https://".len()..]), "{message}");

        assert_eq!(
            get(&transport, &base, Some(roots.clone()))
                .await
                .unwrap()
                .status,
            200
        );
        // Another CA's roots: a client of its own, and the same refusal, naming the file.
        let (other_ca, _, _) = signed(&["127.0.0.1"], false);
        let other = CaFile::from_pem("/etc/other.pem", other_ca.pem().as_bytes()).unwrap();
        let message = refusal(get(&transport, &base, Some(other)).await);
        assert!(
            message.contains("must be in ca_file \"/etc/other.pem\""),
            "{message}"
        );
        assert_eq!(transport.clients(), 3);
        // The same certificates from another path are the same roots: the client is shared.
        let same = CaFile::from_pem("/elsewhere.pem", ca.pem().as_bytes()).unwrap();
        assert_eq!(
            get(&transport, &base, Some(same)).await.unwrap().status,
            200
        );
        assert_eq!(transport.clients(), 3);
    }

    #[tokio::test]
    async fn an_expired_certificate_or_another_host_name_is_refused_with_what_to_do() {
        let (ca, cert, key) = signed(&["127.0.0.1"], true);
        let base = https_server(&cert, &key).await;
        let roots = CaFile::from_pem("ca.pem", ca.pem().as_bytes()).unwrap();
        let message = refusal(get(&Transport::default(), &base, Some(roots)).await);
        assert!(message.contains("certificate expired"), "{message}");
        assert!(message.contains("must be renewed"), "{message}");

        let (ca, cert, key) = signed(&["wecom.example"], false);
        let base = https_server(&cert, &key).await;
        let roots = CaFile::from_pem("ca.pem", ca.pem().as_bytes()).unwrap();
        let message = refusal(get(&Transport::default(), &base, Some(roots)).await);
        assert!(message.contains("not valid for name"), "{message}");
        assert!(message.contains("base_url must name a host"), "{message}");
    }

    #[test]
    fn the_client_builds() {
        assert!(Pool::new(DEFAULT_IDLE_TIMEOUT, 0, &Route::default()).is_ok());
    }

    fn unused_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure() {
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{}", unused_port())).unwrap();
        let failure = Transport::default()
            .request(
                &endpoint,
                Method::POST,
                endpoint.url("/", &[]),
                Some(&Payload::Json(Bytes::from_static(b"{}"))),
                Duration::from_secs(1),
                Duration::from_secs(1),
                DEFAULT_IDLE_TIMEOUT,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&failure, Failure::Connect(m) if m.starts_with("connecting to 127.0.0.1:")),
            "{failure:?}"
        );
    }

    /// A connector that never connects.
    #[derive(Clone)]
    struct Never;

    impl tower_service::Service<()> for Never {
        type Response = ();
        type Error = BoxError;
        type Future = std::future::Pending<std::result::Result<(), BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            std::future::pending()
        }
    }

    #[tokio::test]
    async fn the_connector_layer_counts_connects_and_applies_open_timeout() {
        use tower_layer::Layer;
        use tower_service::Service;
        let exchange = Arc::new(Exchange::new(Duration::from_millis(50)));
        let mut connector = AttributedLayer.layer(Never);
        let started = Instant::now();
        let connect = EXCHANGE.sync_scope(exchange.clone(), || connector.call(()));
        assert!(!exchange.reused_connection());
        assert!(exchange.unfinished_connect());
        let error = connect.await.unwrap_err();
        assert!(error.downcast_ref::<ConnectTimedOut>().is_some(), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(!exchange.unfinished_connect());
    }

    /// A server on its own thread that answers each request on a connection with `{}` and,
    /// after answering, closes the connection once it has been idle for `idle_close`. It
    /// counts connections and requests.
    fn closing_server(idle_close: Duration) -> (String, Arc<AtomicU32>, Arc<AtomicU32>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicU32::new(0));
        let requests = Arc::new(AtomicU32::new(0));
        let (c, r) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                std::thread::spawn(move || {
                    stream.set_read_timeout(Some(idle_close)).unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    loop {
                        let mut length = 0;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            // A timeout (idle too long) or EOF ends the connection.
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(value) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = value.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                        r.fetch_add(1, Ordering::SeqCst);
                        let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                    }
                });
            }
        });
        (base, connections, requests)
    }

    #[test]
    fn a_pooled_connection_the_server_closed_while_the_runtime_slept_is_not_used() {
        let (base, connections, requests) = closing_server(Duration::from_millis(100));
        let endpoint = Endpoint::parse(&base).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let transport = Transport::default();
        let post = || {
            runtime.block_on(transport.request(
                &endpoint,
                Method::POST,
                endpoint.url("/send", &[]),
                Some(&Payload::Json(Bytes::from_static(b"{}"))),
                Duration::from_secs(1),
                Duration::from_secs(1),
                Duration::from_secs(60),
            ))
        };
        for _ in 0..3 {
            assert_eq!(post().unwrap().status, 200);
            // Outside the runtime, as a Ruby thread between two sends: nothing reads the FIN.
            std::thread::sleep(Duration::from_millis(300));
        }
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    }
}
