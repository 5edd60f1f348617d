//! Tokens in Redis, for every process of every host: `SET PX` for the token, `SET NX PX` for
//! the refresh lock (it expires if its holder dies), and small Lua scripts for the
//! compare-and-delete steps. Keys are prefixed with the store's namespace.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::{new_owner, store_error, Lock, StoreFuture, TokenStore};
use crate::error::{Error, Result};

pub struct RedisStore {
    url: String,
    namespace: String,
    /// Bounds each Redis call, connecting included.
    timeout: Duration,
}

/// Deletes the key only if it still holds the failed token.
const COMPARE_AND_DELETE: &str = r"
local value = redis.call('GET', KEYS[1])
if value and string.find(value, ARGV[1], 1, true) then return redis.call('DEL', KEYS[1]) end
return 0";

/// Deletes a lock or claim only if its owner still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// Extends a lock or claim only if its owner still holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0";

impl RedisStore {
    pub fn new(url: String, namespace: String, timeout: Duration) -> Result<RedisStore> {
        if redis::parse_redis_url(&url).is_none() {
            return Err(Error::Configuration(
                "token store: the Redis URL must look like redis://host:6379/0".into(),
            ));
        }
        if timeout.is_zero() {
            return Err(Error::Configuration(
                "token store: the Redis timeout must be greater than 0 seconds".into(),
            ));
        }
        Ok(RedisStore {
            url,
            namespace,
            timeout,
        })
    }

    /// Runs one Redis command on this thread's connection, within the store's timeout. A
    /// connection that broke (Redis restarted, a failover) is dropped and the command sent
    /// once more on a new one, so the store recovers by itself.
    async fn query<T: redis::FromRedisValue>(&self, command: redis::Cmd) -> Result<T> {
        let work = async {
            let mut retried = false;
            loop {
                let (mut connection, reused) = self.connection().await?;
                match command.query_async(&mut connection).await {
                    Ok(value) => return Ok(value),
                    Err(e) if broken(&e) => {
                        forget(&self.url);
                        if !reused || retried {
                            return Err(store_error("Redis call failed", e));
                        }
                        retried = true;
                    }
                    Err(e) => return Err(store_error("Redis call failed", e)),
                }
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => {
                // A connection that stopped answering is not trusted with the next call.
                forget(&self.url);
                Err(store_error(
                    "Redis did not answer",
                    format!("no answer within {:.3}s", self.timeout.as_secs_f64()),
                ))
            }
        }
    }

    fn key(&self, key: &str) -> String {
        if self.namespace.is_empty() {
            key.to_owned()
        } else {
            format!("{}:{key}", self.namespace)
        }
    }

    /// EVAL of a one-key script. The source is sent each time (it is tiny): no EVALSHA, so no
    /// NOSCRIPT round trip after a Redis restart.
    fn script(source: &str, key: String, arg: &str) -> redis::Cmd {
        let mut command = redis::cmd("EVAL");
        command.arg(source).arg(1).arg(key).arg(arg);
        command
    }

    /// This thread's connection to the store's server, and whether it was already open.
    async fn connection(&self) -> Result<(MultiplexedConnection, bool)> {
        if let Some(connection) = with_connections(|open| open.get(&self.url).cloned()) {
            return Ok((connection, true));
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| Error::Configuration(format!("token store: invalid Redis URL: {e}")))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| store_error("connecting to Redis failed", e))?;
        with_connections(|open| open.insert(self.url.clone(), connection.clone()));
        Ok((connection, false))
    }
}

impl TokenStore for RedisStore {
    /// Never shows the URL, which may carry a password.
    fn describe(&self) -> String {
        format!("Redis(namespace {:?})", self.namespace)
    }

    fn read(&self, key: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let mut command = redis::cmd("GET");
        command.arg(self.key(key));
        Box::pin(self.query(command))
    }

    fn write(&self, key: &str, value: Vec<u8>, expires_in: Duration) -> StoreFuture<'_, ()> {
        let mut command = redis::cmd("SET");
        let ttl = expires_in.as_millis().max(1) as u64;
        command.arg(self.key(key)).arg(value).arg("PX").arg(ttl);
        Box::pin(self.query(command))
    }

    fn delete_if(&self, key: &str, failed: &str) -> StoreFuture<'_, bool> {
        let command = Self::script(COMPARE_AND_DELETE, self.key(key), failed);
        Box::pin(async move { Ok(self.query::<i64>(command).await? == 1) })
    }

    fn try_lock(&self, key: &str, ttl: Duration) -> StoreFuture<'_, Option<Lock>> {
        let (lock_key, owner) = (format!("{}:lock", self.key(key)), new_owner());
        Box::pin(async move {
            let taken = self.take(&lock_key, &owner, ttl).await?;
            Ok(taken.then(|| Lock::new((lock_key, owner))))
        })
    }

    fn unlock(&self, lock: Lock) -> StoreFuture<'_, ()> {
        let Some((lock_key, owner)) = lock.into_inner::<(String, String)>() else {
            return Box::pin(std::future::ready(Ok(())));
        };
        Box::pin(async move { self.give_up(lock_key, &owner).await })
    }

    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        let (claim_key, owner) = (format!("{}:claim", self.key(key)), owner.to_owned());
        Box::pin(async move { self.take(&claim_key, &owner, ttl).await })
    }

    fn release(&self, key: &str, owner: &str) -> StoreFuture<'_, ()> {
        let (claim_key, owner) = (format!("{}:claim", self.key(key)), owner.to_owned());
        Box::pin(async move { self.give_up(claim_key, &owner).await })
    }

    fn renew(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        let mut command = Self::script(RENEW, format!("{}:claim", self.key(key)), owner);
        command.arg(ttl.as_millis().max(1) as u64);
        Box::pin(async move { Ok(self.query::<i64>(command).await? == 1) })
    }
}

impl RedisStore {
    /// SET NX PX: true when `key` was free and now holds `owner` for `ttl`.
    async fn take(&self, key: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let mut command = redis::cmd("SET");
        let ttl = ttl.as_millis().max(1) as u64;
        command.arg(key).arg(owner).arg("NX").arg("PX").arg(ttl);
        let taken: Option<String> = self.query(command).await?;
        Ok(taken.is_some())
    }

    /// Deletes `key` if `owner` still holds it (it may have expired and been taken by another).
    async fn give_up(&self, key: String, owner: &str) -> Result<()> {
        let command = Self::script(RELEASE, key, owner);
        self.query::<i64>(command).await.map(drop)
    }
}

thread_local! {
    /// This thread's connections by URL, and the process that opened them. A connection belongs
    /// to the runtime that drives it, which is the thread's own (see `process.rs`); after a fork
    /// the child's threads open their own.
    static CONNECTIONS: RefCell<(u32, HashMap<String, MultiplexedConnection>)> =
        RefCell::new((0, HashMap::new()));
}

fn with_connections<T>(action: impl FnOnce(&mut HashMap<String, MultiplexedConnection>) -> T) -> T {
    CONNECTIONS.with(|cell| {
        let mut cell = cell.borrow_mut();
        let generation = crate::process::generation();
        if cell.0 != generation {
            // Inherited through fork: its driver ran on a runtime that does not exist here.
            std::mem::forget(std::mem::take(&mut cell.1));
            cell.0 = generation;
        }
        action(&mut cell.1)
    })
}

fn forget(url: &str) {
    with_connections(|open| open.remove(url));
}

/// Whether a Redis error means the connection itself is gone, rather than a refused command.
fn broken(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_configuration_errors() {
        let error = |url: &str, timeout| {
            RedisStore::new(url.into(), "wecom".into(), timeout)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(error("http://x", Duration::from_secs(1)).contains("redis://host:6379/0"));
        assert!(error("redis://127.0.0.1:6379/0", Duration::ZERO).contains("greater than 0"));
    }

    #[test]
    fn describe_never_shows_the_url() {
        let store = RedisStore::new(
            "redis://:hunter2@127.0.0.1:6379/0".into(),
            "wecom".into(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(store.describe(), "Redis(namespace \"wecom\")");
    }
}
