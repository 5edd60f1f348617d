//! The in-process cache of access tokens and JS-SDK tickets: one slot per credentials and kind,
//! one refresh in flight per slot. Tickets live and refresh exactly like tokens, so they share it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::CredentialsKey;
use crate::error::Result;

/// Refresh this long before WeCom's expiry at most (a twentieth of short lifetimes), plus up to
/// half as much again at random, so the processes of a fleet do not all refresh at once.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Lifetimes outside these bounds (WeCom gives 7200 s) are taken as the nearest bound: zero
/// would make every send refresh, and an absurd one would overflow the clock arithmetic.
const MIN_LIFETIME: Duration = Duration::from_secs(1);
const MAX_LIFETIME: Duration = crate::config::MAX_DURATION;
/// After a failed refresh the current token serves until the next try: a second later, then
/// twice as long after each further failure, at most this long.
const MAX_REFRESH_RETRY: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
struct Token {
    value: Arc<str>,
    /// From here on the next caller refreshes; others keep using the token meanwhile.
    refresh_at: Instant,
    expires_at: Instant,
    /// Refreshes that failed since this token was fetched.
    failed_refreshes: u32,
}

impl Token {
    fn new(value: String, expires_in: Duration) -> Token {
        let expires_in = expires_in.clamp(MIN_LIFETIME, MAX_LIFETIME);
        let now = Instant::now();
        let margin = MAX_REFRESH_MARGIN.min(expires_in / 20);
        let jitter = margin.mul_f64(fastrand::f64() / 2.0);
        Token {
            value: value.into(),
            refresh_at: now + expires_in.saturating_sub(margin + jitter),
            expires_at: now + expires_in,
            failed_refreshes: 0,
        }
    }

    /// This token, to be used until the refresh is tried again (never past its expiry).
    fn after_failed_refresh(mut self) -> Token {
        let wait = Duration::from_secs(1)
            .saturating_mul(2u32.saturating_pow(self.failed_refreshes))
            .min(MAX_REFRESH_RETRY);
        self.failed_refreshes = self.failed_refreshes.saturating_add(1);
        self.refresh_at = (Instant::now() + wait).min(self.expires_at);
        self
    }
}

/// What a slot holds: the app's access token, or one of the JS-SDK tickets fetched with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    AccessToken,
    /// The corp's ticket (`get_jsapi_ticket`), for `wx.config` and `ww.register`.
    JsapiTicket,
    /// The app's ticket (`ticket/get?type=agent_config`), for `wx.agentConfig`.
    AgentTicket,
}

impl Credential {
    /// As errors and logs name it.
    pub fn name(self) -> &'static str {
        match self {
            Credential::AccessToken => "access token",
            Credential::JsapiTicket => "jsapi ticket",
            Credential::AgentTicket => "agent ticket",
        }
    }
}

/// All slots of a process, keyed by corp id, secret digest and kind.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<(CredentialsKey, Credential), Arc<TokenSlot>>>,
}

impl TokenCache {
    /// The access token's slot.
    pub fn slot(&self, key: &CredentialsKey) -> Arc<TokenSlot> {
        self.slot_of(key, Credential::AccessToken)
    }

    /// The slot of `kind` for these credentials (the caller keys the corp ticket per corp).
    pub fn slot_of(&self, key: &CredentialsKey, kind: Credential) -> Arc<TokenSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry((key.clone(), kind)).or_default().clone()
    }
}

/// The token of one set of credentials.
#[derive(Default)]
pub struct TokenSlot {
    current: RwLock<Option<Token>>,
    /// Held by the one caller that fetches; the others wait for it instead of fetching too.
    refreshing: tokio::sync::Mutex<()>,
}

impl TokenSlot {
    /// The cached token, or a fresh one from `fetch` (which returns the token and `expires_in`).
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<str>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Duration)>>,
    {
        let now = Instant::now();
        if let Some(token) = self.read() {
            if now < token.refresh_at {
                return Ok(token.value);
            }
        }
        let _guard = match self.refreshing.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // Someone is refreshing: a token that has not expired yet is still good.
                if let Some(token) = self.read().filter(|t| now < t.expires_at) {
                    return Ok(token.value);
                }
                self.refreshing.lock().await
            }
        };
        // The holder before us may have refreshed while we waited.
        if let Some(token) = self.read() {
            if Instant::now() < token.refresh_at {
                return Ok(token.value);
            }
        }
        let previous = self.read();
        let (value, expires_in) = match fetch().await {
            Ok(fetched) => fetched,
            // A refresh ahead of expiry that failed (the store is down, gettoken answered 502)
            // is no reason to fail a send: the current token is still good. Try again later.
            Err(error) => {
                let still_valid = previous.filter(|t| Instant::now() < t.expires_at);
                let Some(token) = still_valid else {
                    return Err(error);
                };
                let token = token.after_failed_refresh();
                let value = token.value.clone();
                self.store(token);
                return Ok(value);
            }
        };
        let mut token = Token::new(value, expires_in);
        if previous.is_some_and(|p| p.value == token.value) {
            // WeCom handed out the same token again: asking before it expires is pointless.
            token.refresh_at = token.expires_at;
        }
        let fresh = token.value.clone();
        self.store(token);
        Ok(fresh)
    }

    fn store(&self, token: Token) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(token);
    }

    /// Drops the cached token only if it is still `failed`, so a token another caller has just
    /// fetched survives. Returns whether it dropped it.
    pub fn invalidate(&self, failed: &str) -> bool {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|t| &*t.value == failed) {
            *current = None;
            true
        } else {
            false
        }
    }

    /// The cached token's expiry, if there is one.
    pub fn expires_at(&self) -> Option<Instant> {
        self.read().map(|t| t.expires_at)
    }

    fn read(&self) -> Option<Token> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn fetch_counting(calls: &AtomicUsize, ttl: Duration) -> Result<(String, Duration)> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok((format!("token-{n}"), ttl))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sixteen_cold_callers_cause_one_fetch() {
        let slot = Arc::new(TokenSlot::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (slot, calls) = (slot.clone(), calls.clone());
                tokio::spawn(async move {
                    slot.get(|| fetch_counting(&calls, Duration::from_secs(7200)))
                        .await
                        .unwrap()
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(&*task.await.unwrap(), "token-0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refreshes_a_margin_before_expiry() {
        let slot = TokenSlot::default();
        let calls = AtomicUsize::new(0);
        let ttl = Duration::from_millis(1000);
        assert_eq!(
            &*slot.get(|| fetch_counting(&calls, ttl)).await.unwrap(),
            "token-0"
        );
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            &*slot.get(|| fetch_counting(&calls, ttl)).await.unwrap(),
            "token-0"
        );
        // The token came 50 ms after the first call, so it is due between 975 and 1000 ms
        // (ttl minus a twentieth, minus up to half that again) and expires at 1050 ms.
        tokio::time::sleep(Duration::from_millis(170)).await;
        assert_eq!(
            &*slot.get(|| fetch_counting(&calls, ttl)).await.unwrap(),
            "token-1"
        );
    }

    #[tokio::test]
    async fn invalidate_drops_only_the_token_that_failed() {
        let slot = TokenSlot::default();
        let calls = AtomicUsize::new(0);
        let ttl = Duration::from_secs(60);
        let first = slot.get(|| fetch_counting(&calls, ttl)).await.unwrap();
        assert!(slot.invalidate(&first));
        let second = slot.get(|| fetch_counting(&calls, ttl)).await.unwrap();
        assert_eq!(&*second, "token-1");
        // A late caller that failed with the old token must not drop the new one.
        assert!(!slot.invalidate(&first));
        assert_eq!(
            &*slot.get(|| fetch_counting(&calls, ttl)).await.unwrap(),
            "token-1"
        );
    }

    #[tokio::test]
    async fn a_failed_fetch_leaves_the_slot_empty_and_reports_the_error() {
        let slot = TokenSlot::default();
        let err = slot
            .get(|| async { Err(crate::Error::Configuration("nope".into())) })
            .await
            .unwrap_err();
        assert_eq!(err, crate::Error::Configuration("nope".into()));
        assert!(slot.expires_at().is_none());
    }

    #[test]
    fn refresh_points_are_jittered_within_one_and_a_half_margins() {
        let ttl = Duration::from_secs(2000); // margin: a twentieth, 100 s
        let offsets: Vec<Duration> = (0..200)
            .map(|_| {
                let token = Token::new("t".into(), ttl);
                token.expires_at - token.refresh_at
            })
            .collect();
        assert!(offsets
            .iter()
            .all(|o| *o >= Duration::from_secs(100) && *o <= Duration::from_secs(150)));
        let spread = offsets
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*offsets.iter().min().unwrap());
        assert!(
            spread > Duration::from_secs(20),
            "a fleet must not refresh together"
        );
    }

    #[tokio::test]
    async fn the_same_token_again_is_not_refreshed_before_it_expires() {
        let slot = TokenSlot::default();
        let ttl = Duration::from_millis(1000);
        slot.get(|| async { Ok(("same".to_owned(), ttl)) })
            .await
            .unwrap();
        slot.invalidate("other"); // no effect
                                  // Force a refresh, as if it were due, by dropping and re-reading the same value.
        *slot.current.write().unwrap() = slot.read().map(|mut t| {
            t.refresh_at = Instant::now();
            t
        });
        slot.get(|| async { Ok(("same".to_owned(), ttl)) })
            .await
            .unwrap();
        let token = slot.read().unwrap();
        assert_eq!(token.refresh_at, token.expires_at);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_valid_token_and_waits_before_trying_again() {
        let slot = TokenSlot::default();
        slot.get(|| async { Ok(("first".to_owned(), Duration::from_secs(60))) })
            .await
            .unwrap();
        *slot.current.write().unwrap() = slot.read().map(|mut t| {
            t.refresh_at = Instant::now();
            t
        });
        let calls = AtomicUsize::new(0);
        let failing = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(crate::Error::Configuration("store down".into()))
        };
        assert_eq!(&*slot.get(failing).await.unwrap(), "first");
        // Not tried again on the next send, but a second later.
        assert_eq!(&*slot.get(failing).await.unwrap(), "first");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let token = slot.read().unwrap();
        let wait = token.refresh_at - Instant::now();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert_eq!(token.after_failed_refresh().failed_refreshes, 2);
    }

    #[tokio::test]
    async fn a_failed_fetch_without_a_valid_token_fails() {
        let slot = TokenSlot::default();
        slot.get(|| async { Ok(("old".to_owned(), Duration::from_millis(1))) })
            .await
            .unwrap();
        *slot.current.write().unwrap() = slot.read().map(|mut t| {
            t.expires_at = Instant::now();
            t.refresh_at = t.expires_at;
            t
        });
        let error = slot
            .get(|| async { Err(crate::Error::Configuration("down".into())) })
            .await;
        assert_eq!(error, Err(crate::Error::Configuration("down".into())));
    }

    #[test]
    fn lifetimes_are_kept_within_bounds() {
        let huge = Token::new("t".into(), Duration::from_secs(u64::MAX));
        assert!(huge.expires_at - Instant::now() <= MAX_LIFETIME);
        let zero = Token::new("t".into(), Duration::ZERO);
        assert!(zero.expires_at - Instant::now() > MIN_LIFETIME / 2);
    }

    #[test]
    fn cache_shares_a_slot_per_credentials() {
        let cache = TokenCache::default();
        let a = cache.slot(&CredentialsKey::new("corp", "a"));
        let a2 = cache.slot(&CredentialsKey::new("corp", "a"));
        let b = cache.slot(&CredentialsKey::new("corp", "b"));
        assert!(Arc::ptr_eq(&a, &a2));
        assert!(!Arc::ptr_eq(&a, &b));
        let ticket = cache.slot_of(&CredentialsKey::new("corp", "a"), Credential::AgentTicket);
        assert!(!Arc::ptr_eq(&a, &ticket));
    }
}
