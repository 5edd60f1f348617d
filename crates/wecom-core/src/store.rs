//! Token stores shared between processes, so a fleet uses one access token per app and
//! refreshes it once: a directory for the processes of one host, Redis for many hosts.
//!
//! Each store offers the same four operations: read, write, compare-and-delete, and a refresh
//! lock. The refresh protocol built on them lives in `client.rs`; the in-process cache
//! (`token.rs`) stays in front of both, so a send reads the store only when its own copy is due.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::CredentialsKey;
use crate::error::{Error, Result};

/// What an [`ExternalStore`] call returns.
pub type StoreFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send>>;

/// A store implemented by the host program (the Ruby binding calls a Ruby object).
pub trait ExternalStore: Send + Sync {
    fn read(&self, key: &str) -> StoreFuture<Option<String>>;
    fn write(&self, key: &str, value: &str, expires_in: Duration) -> StoreFuture<()>;
    /// Deletes the key only if it still holds `value`; true when it did.
    fn delete(&self, key: &str, value: &str) -> StoreFuture<bool>;
    /// Takes the lock of `key` for `owner` if it is free; true when it did.
    fn lock(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<bool>;
    fn unlock(&self, key: &str, owner: &str) -> StoreFuture<()>;
}

/// Where tokens live.
#[derive(Clone, Default)]
pub enum StoreConfig {
    /// This process only (the default).
    #[default]
    Memory,
    /// Files in a directory: every process of one host. `timeout` bounds each file operation
    /// (a hung network mount must not hang a send); clients set it to their own timeout.
    File { dir: PathBuf, timeout: Duration },
    /// A Redis server: every process of every host. `timeout` bounds each Redis call.
    Redis {
        url: String,
        namespace: String,
        timeout: Duration,
    },
    /// Anything else, through the host's [`ExternalStore`].
    External(std::sync::Arc<dyn ExternalStore>),
}

impl PartialEq for StoreConfig {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StoreConfig::Memory, StoreConfig::Memory) => true,
            (
                StoreConfig::File { dir: a, timeout: b },
                StoreConfig::File { dir: x, timeout: y },
            ) => (a, b) == (x, y),
            (
                StoreConfig::Redis {
                    url: a,
                    namespace: b,
                    timeout: c,
                },
                StoreConfig::Redis {
                    url: x,
                    namespace: y,
                    timeout: z,
                },
            ) => (a, b, c) == (x, y, z),
            (StoreConfig::External(a), StoreConfig::External(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    /// Never shows a Redis URL, which may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreConfig::Memory => f.write_str("Memory"),
            StoreConfig::File { dir, .. } => write!(f, "File({})", dir.display()),
            StoreConfig::Redis { namespace, .. } => write!(f, "Redis(namespace {namespace:?})"),
            StoreConfig::External(_) => f.write_str("External"),
        }
    }
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
    // Corp ids are [A-Za-z0-9]; anything else is replaced so a key is always a safe file name.
    let corp: String = key
        .corp_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{corp}-{digest}")
}

/// A held refresh lock.
pub enum Lock {
    File(File),
    Redis { key: String, owner: String },
    External { key: String, owner: String },
}

fn new_owner() -> String {
    format!("{}-{:016x}", std::process::id(), fastrand::u64(..))
}

/// Redis connections of one thread (see `process.rs`: connections belong to the thread whose
/// runtime drives them).
#[derive(Default)]
pub struct RedisConnections {
    by_url: Mutex<HashMap<String, redis::aio::MultiplexedConnection>>,
}

fn store_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Network {
        message: format!("{what}: {error}"),
        path: "token store".into(),
        delivery_unknown: false,
    }
}

/// Deletes the key only if it still holds the failed token.
const COMPARE_AND_DELETE: &str = r"
local value = redis.call('GET', KEYS[1])
if value and string.find(value, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0";

/// Releases the lock only if we still own it (it may have expired and been taken by another).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

impl StoreConfig {
    pub async fn read(&self, redis: &RedisConnections, key: &str) -> Result<Option<StoredToken>> {
        let raw = match self {
            StoreConfig::Memory => return Ok(None),
            StoreConfig::File { dir, timeout } => {
                let path = dir.join(format!("{key}.json"));
                let read = off_thread(*timeout, move || match std::fs::read(path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                });
                read.await
                    .map_err(|e| store_error("reading the token file failed", e))?
            }
            StoreConfig::Redis { .. } => {
                let value: Option<Vec<u8>> = self
                    .redis(redis, |mut c, k| async move {
                        redis::cmd("GET").arg(k).query_async(&mut c).await
                    }, key)
                    .await?;
                value
            }
            StoreConfig::External(store) => store.read(key).await?.map(String::into_bytes),
        };
        // A torn or foreign value reads as "no token": the caller fetches a fresh one.
        Ok(raw
            .and_then(|raw| serde_json::from_slice::<StoredToken>(&raw).ok())
            .filter(|stored| stored.remaining() > Duration::ZERO))
    }

    pub async fn write(
        &self,
        redis: &RedisConnections,
        key: &str,
        stored: &StoredToken,
    ) -> Result<()> {
        let json = serde_json::to_vec(stored).expect("a stored token always serialises");
        match self {
            StoreConfig::Memory => Ok(()),
            StoreConfig::File { dir, timeout } => {
                // Write then rename: a reader sees the old file or the new one, never half.
                let path = dir.join(format!("{key}.json"));
                let temporary = dir.join(format!(".{key}.{}.tmp", std::process::id()));
                let write = off_thread(*timeout, move || {
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&temporary)?
                        .write_all(&json)?;
                    std::fs::rename(&temporary, &path)
                });
                write
                    .await
                    .map_err(|e| store_error("writing the token file failed", e))
            }
            StoreConfig::Redis { .. } => {
                let ttl = stored.remaining().as_millis().max(1) as u64;
                self.redis(
                    redis,
                    |mut c, k| {
                        let json = json.clone();
                        async move {
                            redis::cmd("SET")
                                .arg(k)
                                .arg(json)
                                .arg("PX")
                                .arg(ttl)
                                .query_async::<()>(&mut c)
                                .await
                        }
                    },
                    key,
                )
                .await
            }
            StoreConfig::External(store) => {
                let json = String::from_utf8(json).expect("JSON is UTF-8");
                store.write(key, &json, stored.remaining()).await
            }
        }
    }

    /// Removes the stored token only if it is still `failed`; true when it did.
    pub async fn delete_if(
        &self,
        redis: &RedisConnections,
        key: &str,
        failed: &str,
    ) -> Result<bool> {
        match self {
            StoreConfig::Memory => Ok(false),
            StoreConfig::File { dir, timeout } => {
                // Under the refresh lock, so no process writes between our read and delete.
                let lock = self.try_lock(redis, key, Duration::from_secs(5)).await?;
                let deleted = match self.read(redis, key).await? {
                    Some(stored) if stored.token == failed => {
                        let path = dir.join(format!("{key}.json"));
                        off_thread(*timeout, move || std::fs::remove_file(path))
                            .await
                            .is_ok()
                    }
                    _ => false,
                };
                if let Some(lock) = lock {
                    self.unlock(redis, lock).await;
                }
                Ok(deleted)
            }
            StoreConfig::Redis { .. } => {
                let failed = failed.to_owned();
                let deleted: i64 = self
                    .redis(
                        redis,
                        |mut c, k| {
                            let failed = failed.clone();
                            async move {
                                redis::Script::new(COMPARE_AND_DELETE)
                                    .key(k)
                                    .arg(failed)
                                    .invoke_async(&mut c)
                                    .await
                            }
                        },
                        key,
                    )
                    .await?;
                Ok(deleted == 1)
            }
            StoreConfig::External(store) => match store.read(key).await? {
                Some(raw)
                    if serde_json::from_str::<StoredToken>(&raw)
                        .is_ok_and(|s| s.token == failed) =>
                {
                    store.delete(key, &raw).await
                }
                _ => Ok(false),
            },
        }
    }

    /// Takes the refresh lock if it is free. A holder that dies releases it: at once for a file
    /// lock (the kernel drops it with the process), after `ttl` for Redis.
    pub async fn try_lock(
        &self,
        redis: &RedisConnections,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<Lock>> {
        match self {
            StoreConfig::Memory => Ok(None),
            StoreConfig::File { dir, timeout } => {
                let path = dir.join(format!("{key}.lock"));
                let lock = off_thread(*timeout, move || {
                    let file = OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .mode(0o600)
                        .open(path)?;
                    match file.try_lock() {
                        Ok(()) => Ok(Some(file)),
                        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                        Err(std::fs::TryLockError::Error(e)) => Err(e),
                    }
                });
                lock.await
                    .map(|file| file.map(Lock::File))
                    .map_err(|e| store_error("locking the token file failed", e))
            }
            StoreConfig::Redis { .. } => {
                let owner = new_owner();
                let o = owner.clone();
                let taken: Option<String> = self
                    .redis(
                        redis,
                        |mut c, k| {
                            let o = o.clone();
                            async move {
                                redis::cmd("SET")
                                    .arg(format!("{k}:lock"))
                                    .arg(o)
                                    .arg("NX")
                                    .arg("PX")
                                    .arg(ttl.as_millis() as u64)
                                    .query_async(&mut c)
                                    .await
                            }
                        },
                        key,
                    )
                    .await?;
                Ok(taken.map(|_| Lock::Redis {
                    key: key.to_owned(),
                    owner,
                }))
            }
            StoreConfig::External(store) => {
                let owner = new_owner();
                Ok(store.lock(key, &owner, ttl).await?.then(|| Lock::External {
                    key: key.to_owned(),
                    owner,
                }))
            }
        }
    }

    /// Releases a lock. Failure is harmless (a Redis lock expires on its own), so it is ignored.
    pub async fn unlock(&self, redis: &RedisConnections, lock: Lock) {
        match lock {
            Lock::File(file) => {
                // Closing the file releases the flock; off this thread, like every file call.
                std::thread::spawn(move || drop(file));
            }
            Lock::Redis { key, owner } => {
                let _: Result<i64> = self
                    .redis(
                        redis,
                        |mut c, k| {
                            let owner = owner.clone();
                            async move {
                                redis::Script::new(RELEASE)
                                    .key(format!("{k}:lock"))
                                    .arg(owner)
                                    .invoke_async(&mut c)
                                    .await
                            }
                        },
                        &key,
                    )
                    .await;
            }
            Lock::External { key, owner } => {
                if let StoreConfig::External(store) = self {
                    let _ = store.unlock(&key, &owner).await;
                }
            }
        }
    }

    /// Runs one Redis call on this thread's connection, within the store's timeout. The key is
    /// prefixed with the namespace. A connection that broke (Redis restarted, a failover) is
    /// dropped and the call made once more on a new one, so the store recovers by itself.
    async fn redis<T, F, Fut>(&self, redis: &RedisConnections, call: F, key: &str) -> Result<T>
    where
        F: Fn(redis::aio::MultiplexedConnection, String) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let StoreConfig::Redis {
            url,
            namespace,
            timeout,
        } = self
        else {
            unreachable!("only called for the Redis store");
        };
        let key = if namespace.is_empty() {
            key.to_owned()
        } else {
            format!("{namespace}:{key}")
        };
        let work = async {
            let mut retried = false;
            loop {
                let (connection, reused) = redis.connection(url, *timeout).await?;
                match call(connection, key.clone()).await {
                    Ok(value) => return Ok(value),
                    Err(e) if broken(&e) => {
                        redis.forget(url);
                        if !reused || retried {
                            return Err(store_error("Redis call failed", e));
                        }
                        retried = true;
                    }
                    Err(e) => return Err(store_error("Redis call failed", e)),
                }
            }
        };
        match tokio::time::timeout(*timeout, work).await {
            Ok(result) => result,
            Err(_) => {
                // A connection that stopped answering is not trusted with the next call.
                redis.forget(url);
                Err(store_error(
                    "Redis did not answer",
                    format!("no answer within {:.3}s", timeout.as_secs_f64()),
                ))
            }
        }
    }
}

/// Whether a Redis error means the connection itself is gone, rather than a refused command.
fn broken(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
}

/// Runs a file operation on a thread of its own and waits for it at most `timeout`. A token
/// file can block (a FIFO, a hung network mount): the waiting send must stay interruptible and
/// bounded, so the operation never runs on the thread that waits. Such a thread is left behind
/// if the operation never returns; file operations happen only when a token is due.
async fn off_thread<T: Send + 'static>(
    timeout: Duration,
    operation: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("wecom-token-file".into())
        .spawn(move || {
            let _ = done.send(operation());
        })?;
    match tokio::time::timeout(timeout, result).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(std::io::Error::other("the file operation panicked")),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {:.3}s", timeout.as_secs_f64()),
        )),
    }
}

impl RedisConnections {
    /// This thread's connection to `url`, and whether it was already open.
    async fn connection(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<(redis::aio::MultiplexedConnection, bool)> {
        if let Some(connection) = self
            .by_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(url)
        {
            return Ok((connection.clone(), true));
        }
        let client = redis::Client::open(url)
            .map_err(|e| Error::Configuration(format!("token store: invalid Redis URL: {e}")))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| store_error("connecting to Redis failed", e))?;
        self.by_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(url.to_owned(), connection.clone());
        Ok((connection, false))
    }

    fn forget(&self, url: &str) {
        self.by_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(url);
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
    }

    #[tokio::test]
    async fn file_store_round_trip_compare_and_delete_and_lock() {
        let dir = std::env::temp_dir().join(format!("wecom-store-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let store = StoreConfig::File {
            dir: dir.clone(),
            timeout: Duration::from_secs(1),
        };
        let redis = RedisConnections::default();
        assert_eq!(store.read(&redis, "k").await.unwrap(), None);
        let stored = StoredToken::new("t1".into(), Duration::from_secs(60));
        store.write(&redis, "k", &stored).await.unwrap();
        assert_eq!(store.read(&redis, "k").await.unwrap(), Some(stored));
        let mode = std::fs::metadata(dir.join("k.json")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        assert!(!store.delete_if(&redis, "k", "other").await.unwrap());
        assert!(store.delete_if(&redis, "k", "t1").await.unwrap());
        assert_eq!(store.read(&redis, "k").await.unwrap(), None);

        let held = store
            .try_lock(&redis, "k", Duration::from_secs(1))
            .await
            .unwrap();
        assert!(held.is_some());
        assert!(store
            .try_lock(&redis, "k", Duration::from_secs(1))
            .await
            .unwrap()
            .is_none());
        store.unlock(&redis, held.unwrap()).await;
        assert!(store
            .try_lock(&redis, "k", Duration::from_secs(1))
            .await
            .unwrap()
            .is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_torn_file_reads_as_no_token() {
        let dir = std::env::temp_dir().join(format!("wecom-store-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k.json"), b"{\"token\":\"t1\",\"expi").unwrap();
        let store = StoreConfig::File {
            dir: dir.clone(),
            timeout: Duration::from_secs(1),
        };
        let redis = RedisConnections::default();
        assert_eq!(store.read(&redis, "k").await.unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
