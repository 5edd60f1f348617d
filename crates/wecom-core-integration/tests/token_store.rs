//! The shared-store refresh protocol against a real emulator and real stores (a directory, and
//! the Redis on 127.0.0.1:6379). Separate `Context`s stand in for separate processes: each has
//! its own in-process token cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wecom_core::store::{new_owner, Lock, StoreFuture, StoredToken};
use wecom_core::{Client, Config, Context, FileStore, MemoryStore, RedisStore, Repeat, TokenStore};
use wecom_emulator::{Emulator, EmulatorConfig};

/// A host-implemented store, as the Ruby binding provides (expiry is not needed here).
#[derive(Default)]
struct MapStore {
    values: Mutex<HashMap<String, Vec<u8>>>,
    locks: Mutex<HashMap<String, String>>,
}

impl MapStore {
    fn delete_now(&self, key: &str, failed: &str) -> bool {
        let mut values = self.values.lock().unwrap();
        let holds_failed = values
            .get(key)
            .and_then(|raw| StoredToken::parse(raw))
            .is_some_and(|stored| stored.token == failed);
        if holds_failed {
            values.remove(key);
        }
        holds_failed
    }

    fn lock_now(&self, key: &str, owner: &str) -> bool {
        let mut locks = self.locks.lock().unwrap();
        if locks.contains_key(key) {
            return false;
        }
        locks.insert(key.into(), owner.into());
        true
    }

    fn unlock_now(&self, key: &str, owner: &str) {
        let mut locks = self.locks.lock().unwrap();
        if locks.get(key).is_some_and(|o| o == owner) {
            locks.remove(key);
        }
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl TokenStore for MapStore {
    fn describe(&self) -> String {
        "MapStore".into()
    }
    fn read(&self, key: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        ready(self.values.lock().unwrap().get(key).cloned())
    }
    fn write(&self, key: &str, value: Vec<u8>, _expires_in: Duration) -> StoreFuture<'_, ()> {
        self.values.lock().unwrap().insert(key.into(), value);
        ready(())
    }
    fn delete_if(&self, key: &str, failed: &str) -> StoreFuture<'_, bool> {
        ready(self.delete_now(key, failed))
    }
    fn try_lock(&self, key: &str, _ttl: Duration) -> StoreFuture<'_, Option<Lock>> {
        let owner = new_owner();
        let taken = self.lock_now(key, &owner);
        ready(taken.then(|| Lock::new((key.to_owned(), owner))))
    }
    fn unlock(&self, lock: Lock) -> StoreFuture<'_, ()> {
        if let Some((key, owner)) = lock.into_inner::<(String, String)>() {
            self.unlock_now(&key, &owner);
        }
        ready(())
    }
    fn claim(&self, key: &str, owner: &str, _ttl: Duration) -> StoreFuture<'_, bool> {
        ready(self.lock_now(&format!("{key}:claim"), owner))
    }
    fn release(&self, key: &str, owner: &str) -> StoreFuture<'_, ()> {
        self.unlock_now(&format!("{key}:claim"), owner);
        ready(())
    }
    fn renew(&self, key: &str, owner: &str, _ttl: Duration) -> StoreFuture<'_, bool> {
        let locks = self.locks.lock().unwrap();
        ready(
            locks
                .get(&format!("{key}:claim"))
                .is_some_and(|o| o == owner),
        )
    }
}

fn client(emulator: &Emulator, store: Arc<dyn TokenStore>) -> Client {
    let mut config = Config::new("corp", "secret", 1000002);
    config.connection.base_url = emulator.base_url();
    config.connection.retry_base_delay = Duration::from_millis(1);
    config.token_store = Some(store);
    Client::new(config).unwrap()
}

fn stores() -> Vec<Arc<dyn TokenStore>> {
    let dir = std::env::temp_dir().join(format!("wecom-fleet-{}", fastrand::u64(..)));
    vec![
        Arc::new(FileStore::new(dir, Duration::from_secs(1)).unwrap()),
        Arc::new(
            RedisStore::new(
                "redis://127.0.0.1:6379/0".into(),
                format!("wecom-test-{}", fastrand::u64(..)),
                Duration::from_secs(1),
            )
            .unwrap(),
        ),
        Arc::new(MapStore::default()),
        Arc::new(MemoryStore::default()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_sharing_a_store_fetch_one_token() {
    for store in stores() {
        let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
        emulator.set_latency(Duration::from_millis(100));
        let client = Arc::new(client(&emulator, store.clone()));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                // Each task is a separate "process": its own in-process cache.
                tokio::spawn(async move {
                    let context = Context::new(Arc::default());
                    client.access_token(&context).await.unwrap().to_string()
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.unwrap());
        }
        tokens.dedup();
        assert_eq!(tokens.len(), 1, "{store:?}");
        assert_eq!(emulator.token_requests(), 1, "{store:?}");
        emulator.stop();
    }
}

#[tokio::test]
async fn a_rejected_token_is_replaced_in_the_store_once() {
    for store in stores() {
        let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
        let client = client(&emulator, store.clone());
        let (a, b) = (Context::new(Arc::default()), Context::new(Arc::default()));
        let first = client.access_token(&a).await.unwrap();
        assert_eq!(client.access_token(&b).await.unwrap(), first);
        emulator.expire_tokens();
        // Process a meets 42001, drops the token from the store and fetches a new one; process
        // b then finds the new one in the store instead of fetching again.
        let body = br#"{"touser":"u","msgtype":"text","agentid":1000002,"text":{"content":"x"}}"#;
        client
            .post(&a, "/cgi-bin/message/send", body.to_vec(), Repeat::Unsafe)
            .await
            .unwrap();
        let refreshed = client.access_token(&a).await.unwrap();
        assert_ne!(refreshed, first, "{store:?}");
        client
            .post(&b, "/cgi-bin/message/send", body.to_vec(), Repeat::Unsafe)
            .await
            .unwrap();
        assert_eq!(client.access_token(&b).await.unwrap(), refreshed);
        assert_eq!(emulator.token_requests(), 2, "{store:?}");
        emulator.stop();
    }
}

/// JS-SDK tickets go through the same refresh protocol: separate "processes" sharing a store
/// fetch each ticket once, and a ticket dropped as invalid is replaced once for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_sharing_a_store_fetch_each_ticket_once() {
    use wecom_core::token::Credential;
    for store in stores() {
        let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
        emulator.set_latency(Duration::from_millis(50));
        let client = Arc::new(client(&emulator, store.clone()));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    let context = Context::new(Arc::default());
                    let jsapi = client.cached(&context, Credential::JsapiTicket).await;
                    let agent = client.cached(&context, Credential::AgentTicket).await;
                    (jsapi.unwrap().to_string(), agent.unwrap().to_string())
                })
            })
            .collect();
        let mut tickets = Vec::new();
        for task in tasks {
            tickets.push(task.await.unwrap());
        }
        tickets.dedup();
        assert_eq!(tickets.len(), 1, "{store:?}");
        assert_ne!(tickets[0].0, tickets[0].1);
        assert_eq!(emulator.ticket_requests(), (1, 1), "{store:?}");

        let (a, b) = (Context::new(Arc::default()), Context::new(Arc::default()));
        let old = client.cached(&a, Credential::JsapiTicket).await.unwrap();
        emulator.expire_tickets();
        assert!(client
            .invalidate(&a, Credential::JsapiTicket, &old)
            .await
            .unwrap());
        let fresh = client.cached(&a, Credential::JsapiTicket).await.unwrap();
        assert_ne!(fresh, old);
        // Process b, which still holds nothing, finds the new ticket in the store; a late
        // invalidation of the old one drops nothing.
        assert_eq!(
            client.cached(&b, Credential::JsapiTicket).await.unwrap(),
            fresh
        );
        assert!(!client
            .invalidate(&b, Credential::JsapiTicket, &old)
            .await
            .unwrap());
        assert_eq!(emulator.ticket_requests(), (2, 1), "{store:?}");
        emulator.stop();
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_not_a_hang() {
    let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client(
        &emulator,
        Arc::new(
            RedisStore::new(
                format!("redis://127.0.0.1:{port}/0"),
                "wecom".into(),
                Duration::from_millis(300),
            )
            .unwrap(),
        ),
    );
    let started = std::time::Instant::now();
    let error = client
        .access_token(&Context::new(Arc::default()))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(error.to_string().contains("token store"), "{error}");
    assert_eq!(emulator.token_requests(), 0);
    emulator.stop();
}

/// Many "processes" claim the same callback at once: exactly one gets it, in every store; only
/// its owner can give it up, and then the next claimant gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_is_won_once_across_processes() {
    for store in stores() {
        let key = format!("wecom-callback:ww1:msg:{}", fastrand::u64(..));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    let owner = format!("process-{i}");
                    let won = store.claim(&key, &owner, Duration::from_secs(30)).await;
                    (owner, won.unwrap())
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (owner, won) = task.await.unwrap();
            if won {
                winners.push(owner);
            }
        }
        assert_eq!(winners.len(), 1, "{store:?}: {winners:?}");
        store.release(&key, "someone-else").await.unwrap();
        let ttl = Duration::from_secs(30);
        assert!(!store.claim(&key, "late", ttl).await.unwrap(), "{store:?}");
        store.release(&key, &winners[0]).await.unwrap();
        assert!(store.claim(&key, "late", ttl).await.unwrap(), "{store:?}");
    }
}

/// A short lease renewed by its owner outlives its first lifetime; no one else renews it, and
/// once it lapses its old owner cannot renew it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_lives_while_its_owner_renews_it() {
    let short = Duration::from_millis(300);
    for store in stores().into_iter().filter(|s| s.describe() != "MapStore") {
        let key = format!("wecom-callback:ww1:lease:{}", fastrand::u64(..));
        assert!(store.claim(&key, "worker-1", short).await.unwrap());
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            assert!(
                store.renew(&key, "worker-1", short).await.unwrap(),
                "{store:?}"
            );
            assert!(
                !store.renew(&key, "worker-2", short).await.unwrap(),
                "{store:?}"
            );
        }
        assert!(
            !store.claim(&key, "worker-2", short).await.unwrap(),
            "{store:?}: renewed past its first 300 ms"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !store.renew(&key, "worker-1", short).await.unwrap(),
            "{store:?}: lapsed"
        );
        assert!(
            store.claim(&key, "worker-2", short).await.unwrap(),
            "{store:?}"
        );
    }
}
