//! The in-memory WeCom: configuration, tokens, what was received, and pending faults.
//!
//! Each concern has its own lock so that a request holds at most a short, uncontended critical
//! section; no lock is ever held across an `.await`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::card::CardStore;
use super::chat::ChatStore;
use super::directory::Members;
use super::jssdk::JsSdk;
use super::media::MediaStore;
use super::records::Records;
use super::robot::RobotStore;
use super::signin::SignIn;
use super::{EmulatorApp, EmulatorConfig, RecordedRequest};

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub corp_id: String,
    pub apps: Vec<EmulatorApp>,
    /// The index in `apps` of the contact-sync secret's pseudo-app (agent id 0), if there is one.
    pub contact_sync_app: Option<usize>,
    pub token_ttl: Duration,
    pub directory: Directory,
    /// Members and departments (`user/get`, the directory APIs, sign-in).
    pub members: Members,
    /// Valid group robot keys; `None` = every non-empty key.
    pub robot_keys: Option<HashSet<String>>,
    /// Messages a robot accepts per rolling minute; 0 = no limit.
    pub robot_limit_per_minute: u32,
    pub jssdk: JsSdk,
    /// The sign-in pages' member, codes and tickets.
    pub signin: SignIn,
    /// How many records of each kind are kept (records.rs).
    pub max_records: usize,
    tokens: Mutex<Tokens>,
    journal: Mutex<Journal>,
    outbox: Mutex<Outbox>,
    media: Mutex<MediaStore>,
    robots: Mutex<RobotStore>,
    chats: Mutex<ChatStore>,
    faults: Mutex<Faults>,
    /// Lets the hot path skip the faults lock while none are pending.
    faults_pending: AtomicBool,
    token_requests: AtomicUsize,
    /// Calls to the directory APIs (user/*, department/*), failed ones too.
    directory_calls: AtomicUsize,
    /// Lookups by email or mobile that found nobody (directory.rs blocks lookups after
    /// LOOKUP_MISS_LIMIT of them, as WeCom blocks a corp for a day).
    lookup_misses: AtomicUsize,
    /// Requests being handled now, and the most ever at once (what a client's concurrency
    /// limit is checked against).
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    latency_nanos: AtomicU64,
    next_msg_seq: AtomicU64,
}

/// A request being handled; dropping it (also when the client goes away) ends it.
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Who may receive messages; `None` means every id is valid.
pub(crate) struct Directory {
    pub users: Option<HashSet<String>>,
    pub parties: Option<HashSet<String>>,
    pub tags: Option<HashSet<String>>,
}

/// What the emulator received, exposed through the public accessors.
#[derive(Default)]
pub(crate) struct Journal {
    pub requests: Records<RecordedRequest>,
    pub messages: Records<serde_json::Value>,
    pub recalled: Records<String>,
}

/// Server-side memory of accepted messages.
#[derive(Default)]
pub(crate) struct Outbox {
    /// msgid → index of the app that sent it (recall is only allowed by the same app), for the
    /// newest `max_records` messages: an older one cannot be recalled (like WeCom's 24 hours).
    pub sent: HashMap<String, usize>,
    sent_order: Records<String>,
    /// Canonical JSON of a body sent with `enable_duplicate_check` → its answer.
    pub recent: HashMap<String, Recent>,
    /// Interactive template cards, their response codes and updates.
    pub cards: CardStore,
}

pub(crate) struct Recent {
    pub accepted_at: Instant,
    pub interval: Duration,
    /// The exact answer of the first send, replayed for duplicates (same msgid, same
    /// response_code).
    pub reply: Bytes,
}

impl Outbox {
    /// Remembers who sent `msgid`, forgetting the oldest beyond `limit`.
    pub fn remember_sent(&mut self, msgid: String, app: usize, limit: usize) {
        self.sent.insert(msgid.clone(), app);
        for old in self.sent_order.push(msgid, limit.max(1)) {
            self.sent.remove(&old);
        }
    }

    /// Forgets de-duplication entries whose window has passed; called only when the map has
    /// grown, so it costs nothing per request.
    pub fn prune_recent(&mut self, now: Instant) {
        if self.recent.len() >= 4096 {
            self.recent
                .retain(|_, r| now.duration_since(r.accepted_at) < r.interval);
        }
    }
}

/// Issued tokens. Expired and revoked tokens are kept so that they answer 42001, not 40014.
struct Tokens {
    by_token: HashMap<String, TokenEntry>,
    /// Latest token per app index, reused by gettoken while still valid.
    latest: Vec<Option<String>>,
}

struct TokenEntry {
    app: usize,
    expires_at: Instant,
    revoked: bool,
}

impl TokenEntry {
    fn is_valid(&self, now: Instant) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// Outcome of checking an `access_token`.
pub(crate) enum TokenCheck {
    Valid { app: usize },
    Unknown,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Errcode(i64),
    Http(u16),
    Drop,
    /// Handled as usual, but answered this much later (on top of the latency).
    Delay(Duration),
}

struct Fault {
    path: Option<String>,
    /// Matching requests to let through before the fault starts.
    skip: u32,
    remaining: u32,
}

impl Fault {
    fn matches(&self, path: &str) -> bool {
        match &self.path {
            Some(p) => p == path,
            // Without a path a fault spares gettoken, so tests can fail API calls without
            // breaking the token fetch that precedes them.
            None => path != super::server::GETTOKEN_PATH,
        }
    }
}

/// Independent queues, each consumed in the order the faults were added. A delay combines with
/// the others; drop, HTTP and errcode exclude each other.
#[derive(Default)]
struct Faults {
    drop: VecDeque<((), Fault)>,
    http: VecDeque<(u16, Fault)>,
    errcode: VecDeque<(i64, Fault)>,
    delay: VecDeque<(Duration, Fault)>,
}

impl Faults {
    fn is_empty(&self) -> bool {
        self.drop.is_empty()
            && self.http.is_empty()
            && self.errcode.is_empty()
            && self.delay.is_empty()
    }

    fn take(&mut self, path: &str) -> Option<FaultKind> {
        if consume(&mut self.drop, path).is_some() {
            return Some(FaultKind::Drop);
        }
        if let Some(status) = consume(&mut self.http, path) {
            return Some(FaultKind::Http(status));
        }
        consume(&mut self.errcode, path).map(FaultKind::Errcode)
    }
}

/// Uses up one count of the first fault in `queue` that matches `path`.
fn consume<V: Copy>(queue: &mut VecDeque<(V, Fault)>, path: &str) -> Option<V> {
    let i = queue.iter().position(|(_, f)| f.matches(path))?;
    let (value, fault) = &mut queue[i];
    if fault.skip > 0 {
        fault.skip -= 1;
        return None;
    }
    let value = *value;
    fault.remaining -= 1;
    if fault.remaining == 0 {
        queue.remove(i);
    }
    Some(value)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these structures inconsistent in a way that
    // matters to a test double, so recover instead of cascading the panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Random string over the URL-safe alphabet real tokens and ids use.
pub(crate) fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

impl Shared {
    pub fn new(config: EmulatorConfig) -> Shared {
        let mut apps = config.apps;
        // The contact-sync secret gets tokens like an app's, so it is kept as one without an
        // agent id; only user/list_id tells it apart.
        let contact_sync_app = config.contact_sync_secret.map(|secret| {
            apps.push(EmulatorApp {
                secret,
                agent_id: 0,
            });
            apps.len() - 1
        });
        let app_count = apps.len();
        Shared {
            corp_id: config.corp_id,
            apps,
            contact_sync_app,
            token_ttl: config.token_ttl,
            directory: Directory {
                users: config.users,
                parties: config.parties,
                tags: config.tags,
            },
            members: Members::new(config.directory),
            robot_keys: config.robots,
            robot_limit_per_minute: config.robot_limit_per_minute,
            jssdk: JsSdk::default(),
            signin: SignIn::default(),
            max_records: config.max_records,
            tokens: Mutex::new(Tokens {
                by_token: HashMap::new(),
                latest: vec![None; app_count],
            }),
            journal: Mutex::new(Journal::default()),
            outbox: Mutex::new(Outbox::default()),
            media: Mutex::new(MediaStore::default()),
            robots: Mutex::new(RobotStore::default()),
            chats: Mutex::new(ChatStore::default()),
            faults: Mutex::new(Faults::default()),
            faults_pending: AtomicBool::new(false),
            token_requests: AtomicUsize::new(0),
            directory_calls: AtomicUsize::new(0),
            lookup_misses: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            latency_nanos: AtomicU64::new(0),
            next_msg_seq: AtomicU64::new(1),
        }
    }

    // ---- journal ----

    pub fn journal(&self) -> MutexGuard<'_, Journal> {
        lock(&self.journal)
    }

    pub fn record_request(&self, request: RecordedRequest) {
        lock(&self.journal).requests.push(request, self.max_records);
    }

    pub fn count_token_request(&self) {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::Relaxed)
    }

    pub fn count_directory_call(&self) {
        self.directory_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a lookup that found nobody; returns how many there have been.
    pub fn count_lookup_miss(&self) -> usize {
        self.lookup_misses.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn lookup_misses(&self) -> usize {
        self.lookup_misses.load(Ordering::Relaxed)
    }

    pub fn directory_calls(&self) -> usize {
        self.directory_calls.load(Ordering::Relaxed)
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.outbox)
    }

    pub fn media(&self) -> MutexGuard<'_, MediaStore> {
        lock(&self.media)
    }

    pub fn robots(&self) -> MutexGuard<'_, RobotStore> {
        lock(&self.robots)
    }

    pub fn chats(&self) -> MutexGuard<'_, ChatStore> {
        lock(&self.chats)
    }

    pub fn next_msg_seq(&self) -> u64 {
        self.next_msg_seq.fetch_add(1, Ordering::Relaxed)
    }

    pub fn clear(&self) {
        *lock(&self.journal) = Journal::default();
        *lock(&self.outbox) = Outbox::default();
        *lock(&self.media) = MediaStore::default();
        *lock(&self.robots) = RobotStore::default();
        *lock(&self.chats) = ChatStore::default();
        self.token_requests.store(0, Ordering::Relaxed);
        self.jssdk.clear();
        self.signin.clear();
        self.directory_calls.store(0, Ordering::Relaxed);
        self.lookup_misses.store(0, Ordering::Relaxed);
        self.max_in_flight.store(0, Ordering::Relaxed);
    }

    // ---- tokens ----

    /// Returns the app's current token (issuing one if it has none valid) and its remaining
    /// lifetime.
    pub fn issue_token(&self, app: usize, now: Instant) -> (String, Duration) {
        let mut tokens = lock(&self.tokens);
        if let Some(current) = &tokens.latest[app] {
            let entry = &tokens.by_token[current];
            // In the second half of its life a token is renewed: the client that refreshes
            // early gets a new one, and the old one stays valid until it expires.
            if entry.is_valid(now) && entry.expires_at - now > self.token_ttl / 2 {
                return (current.clone(), entry.expires_at - now);
            }
        }
        let token = loop {
            let candidate = random_string(64);
            if !tokens.by_token.contains_key(&candidate) {
                break candidate;
            }
        };
        let expires_at = now + self.token_ttl;
        tokens.by_token.insert(
            token.clone(),
            TokenEntry {
                app,
                expires_at,
                revoked: false,
            },
        );
        tokens.latest[app] = Some(token.clone());
        (token, self.token_ttl)
    }

    pub fn check_token(&self, token: &str, now: Instant) -> TokenCheck {
        match lock(&self.tokens).by_token.get(token) {
            None => TokenCheck::Unknown,
            Some(entry) if entry.is_valid(now) => TokenCheck::Valid { app: entry.app },
            Some(_) => TokenCheck::Expired,
        }
    }

    pub fn expire_tokens(&self) {
        let mut tokens = lock(&self.tokens);
        for entry in tokens.by_token.values_mut() {
            entry.revoked = true;
        }
    }

    // ---- faults and latency ----

    pub fn add_fault(&self, kind: FaultKind, times: u32, path: Option<String>, skip: u32) {
        if times == 0 {
            return;
        }
        let fault = Fault {
            path,
            skip,
            remaining: times,
        };
        let mut faults = lock(&self.faults);
        match kind {
            FaultKind::Drop => faults.drop.push_back(((), fault)),
            FaultKind::Http(status) => faults.http.push_back((status, fault)),
            FaultKind::Errcode(code) => faults.errcode.push_back((code, fault)),
            FaultKind::Delay(delay) => faults.delay.push_back((delay, fault)),
        }
        self.faults_pending.store(true, Ordering::Release);
    }

    /// Consumes the fault (if any) that applies to a request to `path`: drop first, then HTTP,
    /// then errcode.
    pub fn take_fault(&self, path: &str) -> Option<FaultKind> {
        if !self.faults_pending.load(Ordering::Acquire) {
            return None;
        }
        let mut faults = lock(&self.faults);
        let taken = faults.take(path);
        if faults.is_empty() {
            self.faults_pending.store(false, Ordering::Release);
        }
        taken
    }

    /// Consumes the delay fault (if any) that applies to a request to `path`.
    pub fn take_delay(&self, path: &str) -> Option<Duration> {
        if !self.faults_pending.load(Ordering::Acquire) {
            return None;
        }
        let mut faults = lock(&self.faults);
        let taken = consume(&mut faults.delay, path);
        if faults.is_empty() {
            self.faults_pending.store(false, Ordering::Release);
        }
        taken
    }

    pub fn set_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(EmulatorConfig {
            token_ttl: Duration::from_millis(100),
            ..EmulatorConfig::default()
        })
    }

    #[test]
    fn emulator_faults_are_consumed_per_queue_in_order_with_path_filters() {
        let s = shared();
        s.add_fault(
            FaultKind::Errcode(-1),
            1,
            Some("/cgi-bin/gettoken".into()),
            0,
        );
        s.add_fault(FaultKind::Errcode(45009), 2, None, 0);
        s.add_fault(FaultKind::Http(502), 1, None, 0);
        s.add_fault(FaultKind::Drop, 0, None, 0); // no-op
        assert_eq!(s.take_fault("/x"), Some(FaultKind::Http(502)));
        assert_eq!(s.take_fault("/x"), Some(FaultKind::Errcode(45009)));
        assert_eq!(
            s.take_fault("/cgi-bin/gettoken"),
            Some(FaultKind::Errcode(-1))
        );
        assert_eq!(s.take_fault("/cgi-bin/gettoken"), None);
        assert_eq!(s.take_fault("/x"), Some(FaultKind::Errcode(45009)));
        assert_eq!(s.take_fault("/x"), None);
        assert!(!s.faults_pending.load(Ordering::Acquire));
    }

    #[test]
    fn emulator_tokens_are_reused_then_expire() {
        let s = shared();
        let t0 = Instant::now();
        let (a, ttl) = s.issue_token(0, t0);
        assert_eq!(ttl, Duration::from_millis(100));
        let (b, left) = s.issue_token(0, t0 + Duration::from_millis(40));
        assert_eq!(a, b);
        assert_eq!(left, Duration::from_millis(60));
        assert!(matches!(
            s.check_token(&a, t0 + Duration::from_millis(99)),
            TokenCheck::Valid { app: 0 }
        ));
        let later = t0 + Duration::from_millis(100);
        assert!(matches!(s.check_token(&a, later), TokenCheck::Expired));
        let (c, _) = s.issue_token(0, later);
        assert_ne!(a, c);
        s.expire_tokens();
        assert!(matches!(s.check_token(&c, later), TokenCheck::Expired));
        assert!(matches!(s.check_token("nope", later), TokenCheck::Unknown));
    }
}
