//! A local, fake WeCom server for tests and benchmarks: `WeCom::Emulator` in Ruby, and what
//! `wecom-core`'s own tests talk to (it is only a dev-dependency there, so a send builds no
//! server code). It needs nothing from the core.
//!
//! The real client talks real HTTP/1.1 (keep-alive) to it on 127.0.0.1. It implements
//! `gettoken`, `message/send`, `message/recall`, `message/update_template_card`, `media/upload`,
//! the group robot webhooks (`webhook/send`, `webhook/upload_media`) and app group chats
//! (`appchat/create`, `update`, `get`, `send`) and `user/get`, `user/getuserid`, `user/get_userid_by_email` (from the corp's members and departments,
//! `directory`) with WeCom's error codes (each with the errmsg WeCom words it with, in
//! `reply::default_text`), records what it receives, and can inject faults and latency.
//!
//! It runs on its own two-worker tokio runtime, created by [`Emulator::start`] and shut down by
//! [`Emulator::stop`] (or on drop), so it never competes with, or depends on, a runtime of the
//! code under test.
//!
//! It also plays a member of the corp pressing a button of an interactive template card the app
//! sent ([`Emulator::click`]): the event to deliver to the app's callback URL, with a fresh
//! response code that `update_template_card` accepts once within 72 hours
//! ([`Emulator::age_response_codes`] moves that clock).
//!
//! Choices where real WeCom is unspecified (see also the module docs of `token`, `message`,
//! `card`, `media`, `robot` and `chat`, which give each endpoint's order of checks):
//! - `gettoken`: missing `corpid` → 41002, missing `corpsecret` → 41004 (an empty value counts as
//!   missing); `expires_in` is the token's remaining lifetime rounded up to whole seconds, which
//!   is the configured ttl for a fresh token. Past half its life a token is replaced by a new
//!   one on the next gettoken (the old one stays valid until it expires); fetching never extends
//!   a token.
//! - Too many recipients (over 1000 users, 100 parties or 100 tags) → 40058.
//! - An empty `message/send` body → 44002 ("empty post data"); any other non-object → 47001.
//!   The same holds for every JSON endpoint.
//! - Uploads: unknown `type` → 40004 "invalid media type", a wrong extension → 40005 "invalid
//!   file type" (the errmsgs real servers give, although WeCom's code table words the two the
//!   other way round); no well-formed `media` part with a filename → 41005; size → 40006, with
//!   MB = 1024 × 1024 bytes; `.jpeg` counts as jpg. The answer's errmsg is "ok". `message/send`
//!   and `appchat/send` accept any media_id, uploaded or not.
//! - Robots: an image whose base64 is not canonical (`"Zh=="` is not: `"f"` is `"Zg=="`), or
//!   whose md5 does not match, → 301019 ("media md5 not match", as real robots answer a wrong
//!   md5); over 2 MB decoded → 40009; file and voice messages need a media_id from a robot
//!   upload (any robot's) → else 40007. The per-minute limit (45009, WeCom's "api freq out of
//!   limit") is a rolling 60 s window over accepted messages; `robot_limit_per_minute: 0` turns
//!   it off.
//! - Chats: a userlist outside 2..=2000 → 86006 and ids outside the user directory → 86216
//!   (WeCom's codes for "too many or too few members" and "invalid member id"); an owner who is
//!   not a member → 86207, and without `owner` the first member owns the chat; a too-long name
//!   is cut to 50 characters, as WeCom documents. Chats are shared by the corp's apps.
//! - Unknown path → HTTP 404, wrong method on a known path → HTTP 405, body over 25 MB → HTTP 413;
//!   these (and `fail_next_http`) answer a small `text/html` body, like a real front proxy.
//!
//! Everything received is kept in memory until [`Emulator::clear`]; long benchmarks should call
//! it between rounds. Uploaded files are not kept: only their size and md5 (and a multipart
//! body appears in [`Emulator::requests`] as a short description).

mod card;
mod chat;
mod check;
mod directory;
mod jssdk;
mod media;
mod message;
mod multipart;
mod records;
mod reply;
mod robot;
mod server;
mod signin;
mod state;
mod token;

pub use card::{Card, CardClick, CardUpdate, ClickError, Question, RESPONSE_CODE_TTL};

/// Entry points for the fuzz targets (fuzz/): the emulator's parsers of what clients send.
#[doc(hidden)]
pub mod fuzzing {
    /// The parts of an upload's body under `content_type`, as the media endpoints read them;
    /// `None` when the type is not multipart or the body is malformed.
    pub fn multipart(content_type: &str, body: &[u8]) -> Option<usize> {
        let boundary = crate::multipart::boundary(content_type)?;
        crate::multipart::parse(body, &boundary)
            .ok()
            .map(|parts| parts.len())
    }
}
pub use chat::Chat;
pub use directory::{Department, DirectoryData, Members, User, LOOKUP_MISS_LIMIT};
pub use jssdk::JsSdkCheck;
pub use media::{MediaKind, Upload, Uploader};
pub use records::DEFAULT_MAX_RECORDS;
pub use robot::RobotMessage;
pub use signin::CODE_TTL as SIGN_IN_CODE_TTL;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use signin::Person;
use state::{FaultKind, Shared};

/// One self-built app of the emulated corp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorApp {
    pub secret: String,
    pub agent_id: i64,
}

/// How the emulated corp looks.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub corp_id: String,
    /// One or more self-built apps of the corp, each with its own secret and agentid.
    pub apps: Vec<EmulatorApp>,
    /// `expires_in` given out by gettoken; tokens really expire after it.
    pub token_ttl: Duration,
    /// User directory; `None` = every user id is valid.
    pub users: Option<HashSet<String>>,
    /// `None` = every party id is valid.
    pub parties: Option<HashSet<String>>,
    /// `None` = every tag id is valid.
    pub tags: Option<HashSet<String>>,
    /// The corp's members and departments, as `user/get` and the directory APIs show them.
    /// Independent of `users`, which only decides which recipients a send accepts.
    pub directory: DirectoryData,
    /// Group robot webhook keys; `None` = every non-empty key is valid.
    pub robots: Option<HashSet<String>>,
    /// Messages each robot accepts in any 60 seconds (WeCom's limit is 20); 0 = no limit.
    pub robot_limit_per_minute: u32,
    /// 0 = pick a free port.
    pub port: u16,
    /// How many of each kind of record (requests, messages, uploads, robot and chat messages,
    /// recalls, card updates) are kept, the newest; [`Emulator::counts`] counts them all. 0 keeps
    /// none (only counts).
    pub max_records: usize,
    /// The corp's contact-sync secret (通讯录同步 Secret): its token may call `user/list_id`,
    /// which an app's token may not (48002). `None`: nobody may.
    pub contact_sync_secret: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            corp_id: "corp".to_owned(),
            apps: vec![EmulatorApp {
                secret: "secret".to_owned(),
                agent_id: 1000002,
            }],
            token_ttl: Duration::from_secs(7200),
            users: None,
            parties: None,
            tags: None,
            directory: DirectoryData::default(),
            robots: None,
            robot_limit_per_minute: 20,
            port: 0,
            max_records: DEFAULT_MAX_RECORDS,
            contact_sync_secret: None,
        }
    }
}

/// How many records of each kind an emulator received: [`Emulator::counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub requests: u64,
    pub messages: u64,
    pub recalled: u64,
    pub uploads: u64,
    pub robot_messages: u64,
    pub chat_messages: u64,
    pub card_updates: u64,
}

/// What [`Emulator::received_since`] found new, and the counts it is new up to.
#[derive(Debug, Clone)]
pub struct Received {
    pub counts: Counts,
    pub messages: Vec<serde_json::Value>,
    pub uploads: Vec<Upload>,
    pub robot_messages: Vec<RobotMessage>,
    pub chat_messages: Vec<serde_json::Value>,
    pub card_updates: Vec<CardUpdate>,
}

/// One HTTP request as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Query pairs in order, percent-decoded.
    pub query: Vec<(String, String)>,
    /// The body as (lossy) UTF-8; a multipart/form-data body only as
    /// `"<multipart/form-data, N bytes>"`, so that uploaded files are not kept.
    pub body: String,
}

impl RecordedRequest {
    /// The first value of the query parameter `name`, if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running emulator. Dropping it stops it.
pub struct Emulator {
    shared: Arc<Shared>,
    port: u16,
    /// Serving HTTPS (start_https).
    https: bool,
    /// `None` once stopped; a mutex so that `stop(&self)` can take it.
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl Emulator {
    /// Binds 127.0.0.1:`config.port` and starts serving; returns once the socket is listening.
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        Emulator::serve(config, None)
    }

    /// As [`Emulator::start`], serving HTTPS with the certificate chain of the PEM file `cert`
    /// (the server's certificate first) and the private key of the PEM file `key`.
    pub fn start_https(
        config: EmulatorConfig,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> std::io::Result<Emulator> {
        Emulator::serve(config, Some(server::tls_acceptor(cert, key)?))
    }

    fn serve(
        config: EmulatorConfig,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Emulator> {
        if config.apps.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the emulator needs at least one app",
            ));
        }
        config
            .directory
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        // Bind with std so that the socket is listening (and errors surface) before we return.
        let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wecom-emulator")
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared::new(config));
        let https = tls.is_some();
        runtime.spawn(server::accept_loop(listener, Arc::clone(&shared), tls));

        Ok(Emulator {
            shared,
            port,
            https,
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// `"http://127.0.0.1:PORT"`, or `"https://127.0.0.1:PORT"` when serving HTTPS.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many records of each kind were received since the start or the last [`clear`]
    /// (the accessors below keep only the newest `max_records`).
    ///
    /// [`clear`]: Emulator::clear
    pub fn counts(&self) -> Counts {
        let journal = self.shared.journal();
        let (requests, messages, recalled) = (
            journal.requests.total(),
            journal.messages.total(),
            journal.recalled.total(),
        );
        drop(journal);
        Counts {
            requests,
            messages,
            recalled,
            uploads: self.shared.media().uploads.total(),
            robot_messages: self.shared.robots().messages.total(),
            chat_messages: self.shared.chats().messages.total(),
            card_updates: self.shared.outbox().cards.updates.total(),
        }
    }

    /// What arrived since a reader's earlier [`counts`](Emulator::counts) `seen`, kind by kind
    /// (each read at once with its count, so nothing is missed or seen twice): how a poller
    /// (`wecom emulator`) follows the records without re-reading the window.
    pub fn received_since(&self, seen: &Counts) -> Received {
        let (messages_total, messages) = self.shared.journal().messages.since(seen.messages);
        let (uploads_total, uploads) = self.shared.media().uploads.since(seen.uploads);
        let (robot_total, robot_messages) =
            self.shared.robots().messages.since(seen.robot_messages);
        let (chat_total, chat_messages) = self.shared.chats().messages.since(seen.chat_messages);
        let (updates_total, card_updates) =
            self.shared.outbox().cards.updates.since(seen.card_updates);
        Received {
            counts: Counts {
                messages: messages_total,
                uploads: uploads_total,
                robot_messages: robot_total,
                chat_messages: chat_total,
                card_updates: updates_total,
                ..self.counts()
            },
            messages,
            uploads,
            robot_messages,
            chat_messages,
            card_updates,
        }
    }

    /// How many records of each kind are kept.
    pub fn max_records(&self) -> usize {
        self.shared.max_records
    }

    /// Accepted `message/send` bodies in arrival order (de-duplicated sends appear once).
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.shared.journal().messages.to_vec()
    }

    /// Every request received, in arrival order (gettoken and failed ones too).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.journal().requests.to_vec()
    }

    /// Accepted uploads (`media/upload` and `webhook/upload_media`) in arrival order.
    pub fn uploads(&self) -> Vec<Upload> {
        self.shared.media().uploads.to_vec()
    }

    /// Messages the group robots accepted, with their keys, in arrival order.
    pub fn robot_messages(&self) -> Vec<RobotMessage> {
        self.shared.robots().messages.to_vec()
    }

    /// The corp's group chats as they are now, in creation order.
    pub fn chats(&self) -> Vec<Chat> {
        self.shared.chats().chats.clone()
    }

    /// Accepted `appchat/send` bodies in arrival order.
    pub fn chat_messages(&self) -> Vec<serde_json::Value> {
        self.shared.chats().messages.to_vec()
    }

    /// The interactive template cards accepted by `message/send`, in order.
    pub fn cards(&self) -> Vec<Card> {
        self.shared.outbox().cards.cards.clone()
    }

    /// Accepted `update_template_card` calls, in order.
    pub fn card_updates(&self) -> Vec<CardUpdate> {
        self.shared.outbox().cards.updates.to_vec()
    }

    /// `user` presses the button `key` of the card with this msgid or task id: the
    /// `template_card_event` (or, for a key of its action menu, `template_card_menu_event`) to
    /// deliver to the sending app's callback URL, with a fresh response code. `selected` answers
    /// the card's questions (question key → option ids); unanswered ones keep their
    /// preselected options. Nothing is delivered here: the caller delivers the event.
    pub fn click(
        &self,
        id: &str,
        user: &str,
        key: &str,
        selected: &[(String, Vec<String>)],
    ) -> Result<CardClick, ClickError> {
        card::click(&self.shared, id, user, key, selected)
    }

    /// Makes every response code issued so far `by` older (72 hours: expired).
    pub fn age_response_codes(&self, by: Duration) {
        self.shared.outbox().cards.age_codes(by);
    }

    /// msgids successfully recalled, in order (each at most once).
    pub fn recalled(&self) -> Vec<String> {
        self.shared.journal().recalled.to_vec()
    }

    /// The member the sign-in pages sign in from now on (`None`: they show a pick list).
    pub fn sign_in_as(&self, userid: Option<String>) {
        self.shared.signin.sign_in_as(userid.map(Person::Member));
    }

    /// Someone outside the corp the sign-in pages sign in from now on: getuserinfo answers their
    /// `openid` (and `external_userid` when the corp has them as an external contact).
    pub fn sign_in_outsider(&self, openid: String, external_userid: Option<String>) {
        self.shared.signin.sign_in_as(Some(Person::Outsider {
            openid,
            external_userid,
        }));
    }

    /// How many sign-in codes the pages issued.
    pub fn sign_in_codes(&self) -> usize {
        self.shared.signin.codes_issued()
    }

    /// Makes every sign-in code issued so far `by` older (5 minutes: expired).
    pub fn age_sign_in_codes(&self, by: Duration) {
        self.shared.signin.age_codes(by);
    }

    /// The corp's members and departments.
    pub fn members(&self) -> &Members {
        &self.shared.members
    }

    /// Number of gettoken requests received (including failed ones).
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests()
    }

    /// Number of directory API calls received (user/get, the lookups, department/*; failed
    /// ones too), since start or [`Emulator::clear`].
    pub fn directory_calls(&self) -> usize {
        self.shared.directory_calls()
    }

    /// The most requests it was handling at the same time (since start or `clear`).
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight()
    }

    /// Every token issued so far now answers 42001; the next gettoken issues a new one.
    pub fn expire_tokens(&self) {
        self.shared.expire_tokens();
    }

    /// How long the JS-SDK tickets it issues from now on live (7200 s by default).
    pub fn set_ticket_ttl(&self, ttl: Duration) {
        self.shared.jssdk.set_ticket_ttl(ttl);
    }

    /// (get_jsapi_ticket calls, ticket/get?type=agent_config calls) that issued a ticket.
    pub fn ticket_requests(&self) -> (usize, usize) {
        self.shared.jssdk.calls()
    }

    /// Makes every JS-SDK ticket issued so far invalid.
    pub fn expire_tickets(&self) {
        self.shared.jssdk.expire_tickets();
    }

    /// The signatures pages asked the stand-in JS-SDK script (`/jssdk/jweixin.js`) to check.
    pub fn js_sdk_checks(&self) -> Vec<JsSdkCheck> {
        self.shared.jssdk.checks()
    }

    /// The next `times` requests (to `path`, or to any path except gettoken when `None`) answer
    /// HTTP 200 `{"errcode":errcode,...}` without doing anything else.
    pub fn fail_next(&self, errcode: i64, times: u32, path: Option<String>) {
        self.fail_after(0, errcode, times, path);
    }

    /// Like [`fail_next`](Self::fail_next), after letting `skip` matching requests through
    /// (e.g. to fail the second call of a split send).
    pub fn fail_after(&self, skip: u32, errcode: i64, times: u32, path: Option<String>) {
        self.shared
            .add_fault(FaultKind::Errcode(errcode), times, path, skip);
    }

    /// Like [`fail_next`](Self::fail_next) but answers HTTP `status` with a small HTML body.
    pub fn fail_next_http(&self, status: u16, times: u32, path: Option<String>) {
        self.shared
            .add_fault(FaultKind::Http(status), times, path, 0);
    }

    /// The next `times` matching requests are read and recorded, then their connection is
    /// closed without any response.
    pub fn drop_next(&self, times: u32, path: Option<String>) {
        self.shared.add_fault(FaultKind::Drop, times, path, 0);
    }

    /// The next `times` matching requests are handled as usual (a message is accepted), but
    /// answered `delay` later: a client with a shorter timeout gives up although WeCom got it.
    pub fn delay_next(&self, delay: Duration, times: u32, path: Option<String>) {
        self.shared
            .add_fault(FaultKind::Delay(delay), times, path, 0);
    }

    /// Delays every response by `latency` (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Forgets recorded requests, messages, recalls, template cards (their response codes and
    /// updates), uploads (their media_ids become unknown to robot messages), robot messages and
    /// limits, chats and their messages, the gettoken and directory counters and the history used for
    /// de-duplication and recall; keeps tokens, latency and pending faults.
    pub fn clear(&self) {
        self.shared.clear();
    }

    /// Stops listening, closes every connection and shuts the runtime down. Idempotent.
    pub fn stop(&self) {
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(runtime) = runtime else { return };
        // Waiting for the workers guarantees the listener and connections are dropped (the port
        // is closed) when we return. tokio forbids that wait inside an async context, so there we
        // wait on a helper thread instead.
        let wait = Duration::from_secs(2);
        if tokio::runtime::Handle::try_current().is_ok() {
            let waiter = std::thread::spawn(move || runtime.shutdown_timeout(wait));
            let _ = waiter.join();
        } else {
            runtime.shutdown_timeout(wait);
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Emulator>();
    }

    #[test]
    fn default_config_matches_contract() {
        let c = EmulatorConfig::default();
        assert_eq!(c.corp_id, "corp");
        assert_eq!(
            c.apps,
            vec![EmulatorApp {
                secret: "secret".into(),
                agent_id: 1000002
            }]
        );
        assert_eq!(c.token_ttl, Duration::from_secs(7200));
        assert!(c.users.is_none() && c.parties.is_none() && c.tags.is_none());
        assert!(c.robots.is_none());
        assert_eq!(c.robot_limit_per_minute, 20);
        assert_eq!(c.port, 0);
    }

    #[test]
    fn start_rejects_a_corp_without_apps() {
        let config = EmulatorConfig {
            apps: vec![],
            ..EmulatorConfig::default()
        };
        assert!(Emulator::start(config).is_err());
    }

    #[test]
    fn stop_is_idempotent_and_closes_the_port() {
        let emu = Emulator::start(EmulatorConfig::default()).unwrap();
        let addr = ("127.0.0.1", emu.port());
        assert!(std::net::TcpStream::connect(addr).is_ok());
        emu.stop();
        emu.stop();
        assert!(std::net::TcpStream::connect(addr).is_err());
    }

    #[test]
    fn stop_inside_an_async_context_does_not_panic() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let emu = Emulator::start(EmulatorConfig::default()).unwrap();
        let port = emu.port();
        rt.block_on(async move { drop(emu) });
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
