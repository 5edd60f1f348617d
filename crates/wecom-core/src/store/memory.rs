//! Everything in this process: what a claim needs when no store is shared (one process, or
//! tests). Entries expire; expired ones are swept as new ones come, so the map stays as small
//! as what is live.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{new_owner, Lock, StoreFuture, StoredToken, TokenStore};

#[derive(Default)]
pub struct MemoryStore {
    values: Mutex<Entries>,
    /// Locks and claims: the owner and until when.
    held: Mutex<Entries>,
}

type Entries = HashMap<String, (Vec<u8>, Instant)>;

/// Sweeps expired entries once the map has grown past this many since the last sweep.
const SWEEP_AFTER: usize = 1024;

fn live(entries: &mut Entries, key: &str) -> Option<Vec<u8>> {
    match entries.get(key) {
        Some((value, until)) if *until > Instant::now() => Some(value.clone()),
        Some(_) => {
            entries.remove(key);
            None
        }
        None => None,
    }
}

fn insert(entries: &mut Entries, key: &str, value: Vec<u8>, ttl: Duration) {
    if entries.len() >= SWEEP_AFTER && entries.len().is_power_of_two() {
        let now = Instant::now();
        entries.retain(|_, (_, until)| *until > now);
    }
    let until = Instant::now()
        .checked_add(ttl)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
    entries.insert(key.to_owned(), (value, until));
}

fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl MemoryStore {
    fn take(&self, key: &str, owner: &str, ttl: Duration) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if live(&mut held, key).is_some() {
            return false;
        }
        insert(&mut held, key, owner.as_bytes().to_vec(), ttl);
        true
    }

    fn extend(&self, key: &str, owner: &str, ttl: Duration) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let holds = live(&mut held, key).is_some_and(|holder| holder == owner.as_bytes());
        if holds {
            insert(&mut held, key, owner.as_bytes().to_vec(), ttl);
        }
        holds
    }

    fn give_up(&self, key: &str, owner: &str) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if live(&mut held, key).is_some_and(|holder| holder == owner.as_bytes()) {
            held.remove(key);
        }
    }
}

impl TokenStore for MemoryStore {
    fn describe(&self) -> String {
        "Memory".into()
    }

    fn identity(&self) -> String {
        format!("Memory {:p}", self)
    }

    fn read(&self, key: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        ready(live(&mut values, key))
    }

    fn write(&self, key: &str, value: Vec<u8>, expires_in: Duration) -> StoreFuture<'_, ()> {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        insert(&mut values, key, value, expires_in);
        ready(())
    }

    fn delete_if(&self, key: &str, failed: &str) -> StoreFuture<'_, bool> {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let holds_failed = live(&mut values, key)
            .and_then(|raw| StoredToken::parse(&raw))
            .is_some_and(|stored| stored.token == failed);
        if holds_failed {
            values.remove(key);
        }
        ready(holds_failed)
    }

    fn try_lock(&self, key: &str, ttl: Duration) -> StoreFuture<'_, Option<Lock>> {
        let (key, owner) = (format!("{key}:lock"), new_owner());
        let taken = self.take(&key, &owner, ttl);
        ready(taken.then(|| Lock::new((key, owner))))
    }

    fn unlock(&self, lock: Lock) -> StoreFuture<'_, ()> {
        if let Some((key, owner)) = lock.into_inner::<(String, String)>() {
            self.give_up(&key, &owner);
        }
        ready(())
    }

    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        ready(self.take(&format!("{key}:claim"), owner, ttl))
    }

    fn release(&self, key: &str, owner: &str) -> StoreFuture<'_, ()> {
        self.give_up(&format!("{key}:claim"), owner);
        ready(())
    }

    fn renew(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        ready(self.extend(&format!("{key}:claim"), owner, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_has_one_owner_until_it_is_released_or_expires() {
        let store = MemoryStore::default();
        let ttl = Duration::from_millis(50);
        assert!(store.claim("m1", "a", ttl).await.unwrap());
        assert!(!store.claim("m1", "b", ttl).await.unwrap());
        store.release("m1", "b").await.unwrap();
        assert!(
            !store.claim("m1", "b", ttl).await.unwrap(),
            "only the owner releases"
        );
        store.release("m1", "a").await.unwrap();
        assert!(store.claim("m1", "b", ttl).await.unwrap());
        assert!(
            !store.renew("m1", "a", ttl).await.unwrap(),
            "only the owner renews"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(store.renew("m1", "b", ttl).await.unwrap());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !store.claim("m1", "c", ttl).await.unwrap(),
            "a renewed claim outlives its first ttl"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            !store.renew("m1", "b", ttl).await.unwrap(),
            "an expired claim cannot be renewed"
        );
        assert!(
            store.claim("m1", "c", ttl).await.unwrap(),
            "an expired claim is free"
        );
    }

    #[tokio::test]
    async fn tokens_round_trip_and_expired_entries_are_swept() {
        let store = MemoryStore::default();
        let store_ref: &dyn TokenStore = &store;
        let stored = StoredToken::new("t1".into(), Duration::from_secs(60));
        store_ref.write_token("k", &stored).await.unwrap();
        assert_eq!(store_ref.read_token("k").await.unwrap(), Some(stored));
        assert!(store_ref.delete_if("k", "t1").await.unwrap());
        for i in 0..4 * SWEEP_AFTER {
            store
                .claim(&format!("k{i}"), "o", Duration::ZERO)
                .await
                .unwrap();
        }
        let held = store.held.lock().unwrap().len();
        assert!(held <= 2 * SWEEP_AFTER + 1, "{held} entries kept");
    }
}
