//! Where sends run: each calling thread has its own single-threaded tokio runtime and connection
//! pool (an [`Engine`]); the token cache is shared by the whole process. All of it is rebuilt
//! after a fork.
//!
//! Why a runtime per thread: the thread that waits on a send also drives its I/O, so a request
//! costs no hand-off to a worker thread and back — on loopback that hand-off was most of the
//! time of a send. Connections stay with the thread that opened them, like a keep-alive
//! connection per thread in a careful Ruby client.
//!
//! Why the fork checks: Puma, Resque and Sidekiq fork after the gem is loaded. A child inherits
//! the parent's memory but none of its other threads, so state built by the parent may hold
//! locks or wait on threads that do not exist there; dropping it could hang. The child leaks the
//! parent's copy and builds its own lazily, so a preloading master that never sends builds
//! nothing. A fork is told by a generation counter that a `pthread_atfork` child handler bumps,
//! not by comparing pids: `getpid` is a system call (glibc no longer caches it), once per send.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::token::TokenCache;
use crate::transport::Transport;

/// One HTTP request to WeCom, as instrumentation reports it (no token, no secret).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestEvent {
    pub path: String,
    /// 0 for the first try, then 1, 2, ... for retries.
    pub attempt: u32,
    pub duration: Duration,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// WeCom's errcode, when the answer was WeCom's JSON.
    pub errcode: Option<i64>,
    /// "network" or "timeout" when no answer came.
    pub failure: Option<&'static str>,
}

impl RequestEvent {
    pub fn new(
        path: &str,
        attempt: u32,
        duration: Duration,
        result: &Result<serde_json::Value>,
    ) -> RequestEvent {
        let (status, errcode, failure) = match result {
            Ok(_) => (Some(200), Some(0), None),
            Err(Error::Api { errcode, .. }) => (Some(200), Some(*errcode), None),
            Err(Error::Http { status, .. }) => (Some(*status), None, None),
            Err(Error::Timeout { .. }) => (None, None, Some("timeout")),
            Err(_) => (None, None, Some("network")),
        };
        RequestEvent {
            path: path.to_owned(),
            attempt,
            duration,
            status,
            errcode,
            failure,
        }
    }
}

/// What a client needs to send: the thread's connections and the process's token cache.
pub struct Context {
    pub transport: Transport,
    pub tokens: Arc<TokenCache>,
    /// The requests of the current call, when someone will read them (`record_events`).
    events: Mutex<Option<Vec<RequestEvent>>>,
}

impl Context {
    pub fn new(tokens: Arc<TokenCache>) -> Context {
        Context {
            transport: Transport::default(),
            tokens,
            events: Mutex::default(),
        }
    }

    pub fn record(&self, event: RequestEvent) {
        if let Some(events) = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            events.push(event);
        }
    }

    /// Keeps every request from now until `take_events`: all of them, however many a batch
    /// makes. Nothing is kept otherwise.
    pub fn record_events(&self) {
        *self.events.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    }

    /// The requests made since `record_events`; recording stops.
    pub fn take_events(&self) -> Vec<RequestEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default()
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new(Arc::default())
    }
}

/// The calling thread's runtime and context.
pub struct Engine {
    pub runtime: tokio::runtime::Runtime,
    pub context: Arc<Context>,
    /// Wakes this thread's wait early (Ruby's Thread#kill, Timeout, signals).
    pub interrupt: Interrupt,
}

/// Bumped in a forked child (see `generation`).
static GENERATION: AtomicU32 = AtomicU32::new(0);

extern "C" fn forked_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Which process this is: the value changes in a child after every `fork` (Ruby's fork, Puma's
/// workers), so state tagged with it is known to be inherited. Cheap: one load after the first
/// call, which registers the fork handler (state tagged before that cannot exist).
pub fn generation() -> u32 {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: the handler is async-signal-safe (one atomic add) and lives forever.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
        assert_eq!(registered, 0, "pthread_atfork failed");
    });
    GENERATION.load(Ordering::Relaxed)
}

static TOKENS: Mutex<Option<(u32, Arc<TokenCache>)>> = Mutex::new(None);

/// Problems the core works around and reports once per process (a token store that cannot be
/// written): their keys, and the messages not yet handed to the host's log.
static WARNINGS: Mutex<Option<(HashSet<String>, Vec<String>)>> = Mutex::new(None);
/// Set while WARNINGS holds messages, so the host's check after each call costs one load.
static WARNINGS_PENDING: AtomicBool = AtomicBool::new(false);

/// Reports `message` for the host to log, the first time `key` comes up in this process.
pub fn warn_once(key: String, message: String) {
    let mut warnings = WARNINGS.lock().unwrap_or_else(|p| p.into_inner());
    let (seen, pending) = warnings.get_or_insert_with(Default::default);
    if seen.insert(key) {
        pending.push(message);
        WARNINGS_PENDING.store(true, Ordering::Release);
    }
}

/// The warnings not yet taken (see `warn_once`).
pub fn take_warnings() -> Vec<String> {
    // A plain load first: this runs after every call, and a swap would write a shared cache line.
    if !WARNINGS_PENDING.load(Ordering::Acquire) || !WARNINGS_PENDING.swap(false, Ordering::AcqRel)
    {
        return Vec::new();
    }
    let mut warnings = WARNINGS.lock().unwrap_or_else(|p| p.into_inner());
    warnings
        .as_mut()
        .map(|(_, pending)| std::mem::take(pending))
        .unwrap_or_default()
}

thread_local! {
    static ENGINE: RefCell<Option<(u32, Rc<Engine>)>> = const { RefCell::new(None) };
}

/// The token cache of this process, shared by all its threads.
pub fn tokens() -> Arc<TokenCache> {
    let generation = generation();
    let mut tokens = TOKENS.lock().unwrap_or_else(|p| p.into_inner());
    match tokens.as_ref() {
        Some((owner, cache)) if *owner == generation => return cache.clone(),
        // Inherited through fork: a refresh in flight in the parent would never finish here.
        Some(_) => std::mem::forget(tokens.take()),
        None => {}
    }
    let cache = Arc::new(TokenCache::default());
    *tokens = Some((generation, cache.clone()));
    cache
}

/// The calling thread's engine, built on first use and again after a fork.
pub fn engine() -> Result<Rc<Engine>> {
    let generation = generation();
    ENGINE.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some((owner, engine)) if *owner == generation => return Ok(engine.clone()),
            Some(_) => std::mem::forget(slot.take()),
            None => {}
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("could not start the wecom runtime: {e}")))?;
        let interrupt = {
            let _inside = runtime.enter();
            Interrupt::new().map_err(|e| {
                Error::Internal(format!("could not create the interrupt socket: {e}"))
            })?
        };
        let engine = Rc::new(Engine {
            runtime,
            context: Arc::new(Context::new(tokens())),
            interrupt,
        });
        *slot = Some((generation, engine.clone()));
        Ok(engine)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_sees_a_new_generation() {
        let here = generation();
        assert_eq!(generation(), here);
        // SAFETY: the child only reads an atomic and exits, touching no lock or allocation.
        unsafe {
            let child = libc::fork();
            assert!(child >= 0);
            if child == 0 {
                let status = i32::from(generation() != here.wrapping_add(1));
                libc::_exit(status);
            }
            let mut status = 0;
            assert_eq!(libc::waitpid(child, &mut status, 0), child);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        assert_eq!(generation(), here);
    }

    #[test]
    fn one_engine_per_thread_and_one_token_cache_per_process() {
        let here = engine().unwrap();
        assert!(Rc::ptr_eq(&here, &engine().unwrap()));
        let there_tokens = std::thread::spawn(|| {
            let there = engine().unwrap();
            there.context.tokens.clone()
        })
        .join()
        .unwrap();
        assert!(Arc::ptr_eq(&here.context.tokens, &there_tokens));
    }

    #[test]
    fn events_are_kept_only_while_recording_and_without_a_cap() {
        let context = Context::default();
        let event = || RequestEvent::new("/p", 0, Duration::ZERO, &Ok(serde_json::Value::Null));
        context.record(event());
        assert!(context.take_events().is_empty());
        context.record_events();
        for _ in 0..1000 {
            context.record(event());
        }
        assert_eq!(context.take_events().len(), 1000);
        context.record(event());
        assert!(context.take_events().is_empty());
    }

    #[test]
    fn a_warning_is_reported_once_per_key() {
        warn_once("test-key".into(), "first".into());
        warn_once("test-key".into(), "again".into());
        let taken = take_warnings();
        assert!(taken.contains(&"first".to_owned()));
        assert!(!taken.contains(&"again".to_owned()));
    }
}
