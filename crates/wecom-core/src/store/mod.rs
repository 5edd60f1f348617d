//! Token stores shared between processes, so a fleet uses one access token per app and
//! refreshes it once: a directory for the processes of one host ([`FileStore`]), Redis for many
//! hosts ([`RedisStore`]), or anything the host implements (the Ruby binding's store object).
//! [`MemoryStore`] keeps everything in this process, for claims when nothing is shared.
//!
//! A store offers four operations on opaque values: read, write, compare-and-delete, and a
//! refresh lock; and claims with an owner and a lifetime, for the callback receiver. The refresh protocol built on them lives in `client.rs`; the in-process cache
//! (`token.rs`) stays in front, so a send reads the store only when its own copy is due.

mod file;
mod memory;
mod redis;

use std::any::Any;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::CredentialsKey;
use crate::error::{Error, Result};

pub use file::FileStore;
pub use memory::MemoryStore;
pub use redis::RedisStore;

/// What a store call returns.
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>;

/// Where a fleet's tokens live. Values are a [`StoredToken`] as JSON; keys come from
/// [`token_key`] and are safe file names.
pub trait TokenStore: Send + Sync {
    /// The store as logs show it (never a password).
    fn describe(&self) -> String;
    /// What tells two stores apart in "reported once per store" warnings.
    fn identity(&self) -> String {
        self.describe()
    }
    fn read(&self, key: &str) -> StoreFuture<'_, Option<Vec<u8>>>;
    /// Keeps `value` for `expires_in` at least.
    fn write(&self, key: &str, value: Vec<u8>, expires_in: Duration) -> StoreFuture<'_, ()>;
    /// Deletes the value of `key` only if it still holds the token `failed`; true when it did.
    fn delete_if(&self, key: &str, failed: &str) -> StoreFuture<'_, bool>;
    /// Takes the refresh lock of `key` if it is free. A holder that dies must not keep it
    /// forever: `ttl` is the longest a refresh takes.
    fn try_lock(&self, key: &str, ttl: Duration) -> StoreFuture<'_, Option<Lock>>;
    /// Releases a lock taken by this store. Callers ignore a failure: the lock expires anyway.
    fn unlock(&self, lock: Lock) -> StoreFuture<'_, ()>;
    /// Claims `key` for `owner` until `ttl` has passed or the owner releases it; true for the
    /// one caller across the fleet that got it (the callback receiver runs a handler once per
    /// WeCom message this way). Keys are any text: a store makes them safe for itself.
    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool>;
    /// Gives up a claim, if `owner` still holds it.
    fn release(&self, key: &str, owner: &str) -> StoreFuture<'_, ()>;
    /// Extends a claim `owner` still holds to `ttl` from now; false when it is no longer
    /// theirs (it expired, and perhaps someone else took it). A lease kept short and renewed
    /// while its work runs lapses within `ttl` when its process dies.
    fn renew(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool>;
    /// Whether `renew` can work: a store written in Ruby may not define it.
    fn renews(&self) -> bool {
        true
    }
}

impl dyn TokenStore {
    /// The stored token of `key`, if one is there and unexpired. A torn or foreign value reads
    /// as "no token": the caller fetches a fresh one.
    pub async fn read_token(&self, key: &str) -> Result<Option<StoredToken>> {
        let raw = self.read(key).await?;
        Ok(raw
            .and_then(|raw| StoredToken::parse(&raw))
            .filter(|stored| stored.remaining() > Duration::ZERO))
    }

    pub async fn write_token(&self, key: &str, stored: &StoredToken) -> Result<()> {
        let json = serde_json::to_vec(stored).expect("a stored token always serialises");
        self.write(key, json, stored.remaining()).await
    }
}

impl std::fmt::Debug for dyn TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A held refresh lock: whatever its store needs to release it.
pub struct Lock(Box<dyn Any + Send>);

impl Lock {
    pub fn new(held: impl Any + Send) -> Lock {
        Lock(Box::new(held))
    }

    /// What the store put in, if it is a `T`.
    pub fn into_inner<T: Any>(self) -> Option<T> {
        self.0.downcast().ok().map(|held| *held)
    }
}

/// A new lock owner's name: unique across the processes of a fleet.
pub fn new_owner() -> String {
    format!("{}-{:016x}", std::process::id(), fastrand::u64(..))
}

/// A token as stored: the value and when it expires (Unix milliseconds, comparable across
/// processes and hosts, unlike `Instant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub token: String,
    pub expires_at_ms: u64,
    /// The lifetime WeCom gave it, which sets how early it is refreshed.
    pub lifetime_ms: u64,
}

impl StoredToken {
    pub fn new(token: String, expires_in: Duration) -> StoredToken {
        let lifetime_ms = expires_in.as_millis() as u64;
        StoredToken {
            token,
            expires_at_ms: now_ms().saturating_add(lifetime_ms),
            lifetime_ms,
        }
    }

    /// A value as a store holds it; None for anything that is not a stored token.
    pub fn parse(raw: &[u8]) -> Option<StoredToken> {
        serde_json::from_slice(raw).ok()
    }

    /// Within the last twentieth of its life (five minutes at most): the first process to ask
    /// refreshes it for everyone.
    pub fn due_for_refresh(&self) -> bool {
        let margin = (self.lifetime_ms / 20).min(300_000);
        self.remaining() <= Duration::from_millis(margin)
    }

    pub fn remaining(&self) -> Duration {
        Duration::from_millis(self.expires_at_ms.saturating_sub(now_ms()))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The store's name for one app's token: corp id and a digest of the secret, never the secret.
pub fn token_key(key: &CredentialsKey) -> String {
    let digest: String = key.secret_digest[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{digest}", safe_corp(&key.corp_id))
}

/// Corp ids are [A-Za-z0-9]; anything else is replaced so a key is always a safe file name.
fn safe_corp(corp_id: &str) -> String {
    corp_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The store's name for a JS-SDK ticket: the corp's ticket per corp, the app's per corp and
/// app (two apps of a corp must not overwrite each other's agent ticket).
pub fn ticket_key(key: &CredentialsKey, kind: crate::token::Credential) -> String {
    use crate::token::Credential;
    match kind {
        Credential::AccessToken => token_key(key),
        Credential::JsapiTicket => format!("jsapi-{}", safe_corp(&key.corp_id)),
        Credential::AgentTicket => format!("agent-{}", token_key(key)),
    }
}

/// The key of a corp-wide credential: the corp id alone.
pub fn corp_wide(key: &CredentialsKey) -> CredentialsKey {
    CredentialsKey {
        corp_id: key.corp_id.clone(),
        secret_digest: [0; 32],
    }
}

/// A store that failed: a network error of the "token store", never "delivery unknown".
pub fn store_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Network {
        message: format!("{what}: {error}"),
        path: "token store".into(),
        delivery_unknown: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_contain_the_secret() {
        let key = token_key(&CredentialsKey::new("ww12/../x", "very-secret"));
        assert!(!key.contains("very-secret"));
        assert!(key.starts_with("ww12____x-"));
        assert_eq!(key.len(), "ww12____x-".len() + 16);
        assert_ne!(key, token_key(&CredentialsKey::new("ww12/../x", "other")));
        use crate::token::Credential;
        let creds = CredentialsKey::new("ww12/../x", "very-secret");
        assert_eq!(ticket_key(&creds, Credential::AccessToken), key);
        assert_eq!(
            ticket_key(&creds, Credential::AgentTicket),
            format!("agent-{key}")
        );
        // The corp's ticket is one per corp, whichever app fetched it.
        let jsapi = ticket_key(&creds, Credential::JsapiTicket);
        assert_eq!(jsapi, "jsapi-ww12____x");
        assert_eq!(
            jsapi,
            ticket_key(
                &CredentialsKey::new("ww12/../x", "other"),
                Credential::JsapiTicket
            )
        );
    }

    #[test]
    fn a_lock_gives_back_what_its_store_put_in() {
        let lock = Lock::new(("key".to_owned(), "owner".to_owned()));
        assert_eq!(
            lock.into_inner::<(String, String)>(),
            Some(("key".to_owned(), "owner".to_owned()))
        );
        assert!(Lock::new(1u8).into_inner::<String>().is_none());
    }
}
