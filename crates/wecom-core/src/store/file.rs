//! Tokens as files in a directory, for the processes of one host: `KEY.json` holds the token,
//! `KEY.lock` is flock'ed by the process refreshing it (the kernel releases it if that process
//! dies). Every file operation runs on a thread of its own, bounded by the client's timeout.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::{store_error, Lock, StoreFuture, StoredToken, TokenStore};
use crate::error::{Error, Result};

pub struct FileStore {
    dir: PathBuf,
    /// Bounds each file operation: a hung network mount must not hang a send.
    timeout: Duration,
}

impl FileStore {
    /// Creates `dir` if it is missing.
    pub fn new(dir: impl Into<PathBuf>, timeout: Duration) -> Result<FileStore> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::Configuration(format!(
                "token store directory {} cannot be created: {e}",
                dir.display()
            ))
        })?;
        Ok(FileStore { dir, timeout })
    }

    fn path(&self, key: &str, extension: &str) -> PathBuf {
        self.dir.join(format!("{key}.{extension}"))
    }
}

impl TokenStore for FileStore {
    fn describe(&self) -> String {
        format!("File({})", self.dir.display())
    }

    fn read(&self, key: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        let path = self.path(key, "json");
        Box::pin(async move {
            off_thread(self.timeout, move || match std::fs::read(path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .await
            .map_err(|e| store_error("reading the token file failed", e))
        })
    }

    fn write(&self, key: &str, value: Vec<u8>, _expires_in: Duration) -> StoreFuture<'_, ()> {
        // Write then rename: a reader sees the old file or the new one, never half.
        let path = self.path(key, "json");
        let temporary = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        Box::pin(async move {
            off_thread(self.timeout, move || {
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&temporary)?
                    .write_all(&value)?;
                std::fs::rename(&temporary, &path)
            })
            .await
            .map_err(|e| store_error("writing the token file failed", e))
        })
    }

    fn delete_if(&self, key: &str, failed: &str) -> StoreFuture<'_, bool> {
        let (key, failed) = (key.to_owned(), failed.to_owned());
        Box::pin(async move {
            // Under the refresh lock, so no process writes between our read and delete.
            let lock = self.try_lock(&key, Duration::from_secs(5)).await?;
            let holds_failed = self
                .read(&key)
                .await?
                .and_then(|raw| StoredToken::parse(&raw))
                .is_some_and(|stored| stored.token == failed);
            let path = self.path(&key, "json");
            let deleted = holds_failed
                && off_thread(self.timeout, move || std::fs::remove_file(path))
                    .await
                    .is_ok();
            if let Some(lock) = lock {
                let _ = self.unlock(lock).await;
            }
            Ok(deleted)
        })
    }

    fn try_lock(&self, key: &str, _ttl: Duration) -> StoreFuture<'_, Option<Lock>> {
        let path = self.path(key, "lock");
        Box::pin(async move {
            off_thread(self.timeout, move || {
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(path)?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(Lock::new(file))),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => Err(e),
                }
            })
            .await
            .map_err(|e| store_error("locking the token file failed", e))
        })
    }

    fn unlock(&self, lock: Lock) -> StoreFuture<'_, ()> {
        if let Some(file) = lock.into_inner::<File>() {
            // Closing the file releases the flock; off this thread, like every file call.
            std::thread::spawn(move || drop(file));
        }
        Box::pin(std::future::ready(Ok(())))
    }

    /// A claim outlives the call, so it is not a flock but a file holding the owner and the
    /// expiry, read and written under a flock of its own. The name is a digest of the key.
    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        let held = format!("{owner} {}", until(ttl));
        self.on_claim_file(key, "claiming", move |holder| match holder {
            Some((_, expires)) if expires > super::now_ms() => (false, None),
            _ => (true, Some(held)),
        })
    }

    fn release(&self, key: &str, owner: &str) -> StoreFuture<'_, ()> {
        let owner = owner.to_owned();
        self.on_claim_file(key, "releasing a claim", move |holder| match holder {
            Some((holder, _)) if holder == owner => ((), Some(String::new())),
            _ => ((), None),
        })
    }

    fn renew(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        let (owner, held) = (owner.to_owned(), format!("{owner} {}", until(ttl)));
        self.on_claim_file(key, "renewing a claim", move |holder| match holder {
            Some((holder, expires)) if holder == owner && expires > super::now_ms() => {
                (true, Some(held))
            }
            _ => (false, None),
        })
    }
}

/// Unix ms `ttl` from now.
fn until(ttl: Duration) -> u64 {
    super::now_ms().saturating_add(ttl.as_millis() as u64)
}

impl FileStore {
    /// Runs `decide` on `key`'s claim file under its flock, off this thread (see
    /// `with_claim_file`); `doing` names the step in the error.
    fn on_claim_file<T: Send + 'static>(
        &self,
        key: &str,
        doing: &'static str,
        decide: impl FnOnce(Option<(&str, u64)>) -> (T, Option<String>) + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let path = self.claim_path(key);
        Box::pin(async move {
            off_thread(self.timeout, move || with_claim_file(&path, decide))
                .await
                .map_err(|e| store_error(&format!("{doing} in the token directory failed"), e))
        })
    }

    fn claim_path(&self, key: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        let digest: String = Sha256::digest(key.as_bytes())[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.path(&format!("claim-{digest}"), "claim")
    }
}

/// Opens (or creates) a claim file, holds its flock while `decide` looks at the current holder
/// (owner, expiry in Unix ms) and returns what to write instead (Some("") empties it).
fn with_claim_file<T>(
    path: &std::path::Path,
    decide: impl FnOnce(Option<(&str, u64)>) -> (T, Option<String>),
) -> std::io::Result<T> {
    use std::io::{Read, Seek};
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    file.lock()?;
    let mut current = String::new();
    file.read_to_string(&mut current)?;
    let holder = current
        .split_once(' ')
        .and_then(|(owner, until)| Some((owner, until.trim().parse().ok()?)));
    let (answer, replacement) = decide(holder);
    if let Some(replacement) = replacement {
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(replacement.as_bytes())?;
    }
    Ok(answer)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary_store() -> (FileStore, PathBuf) {
        let dir = std::env::temp_dir().join(format!("wecom-store-{}", fastrand::u64(..)));
        (FileStore::new(&dir, Duration::from_secs(1)).unwrap(), dir)
    }

    #[tokio::test]
    async fn round_trip_compare_and_delete_and_lock() {
        let (store, dir) = temporary_store();
        let store: &dyn TokenStore = &store;
        assert_eq!(store.read_token("k").await.unwrap(), None);
        let stored = StoredToken::new("t1".into(), Duration::from_secs(60));
        store.write_token("k", &stored).await.unwrap();
        assert_eq!(store.read_token("k").await.unwrap(), Some(stored));
        let mode = std::fs::metadata(dir.join("k.json")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        assert!(!store.delete_if("k", "other").await.unwrap());
        assert!(store.delete_if("k", "t1").await.unwrap());
        assert_eq!(store.read_token("k").await.unwrap(), None);

        // delete_if held the lock too, and released it: a lock is taken again once the thread
        // that closes the file has run.
        let held = lock_soon(store).await;
        assert!(held.is_some());
        let ttl = Duration::from_secs(1);
        assert!(store.try_lock("k", ttl).await.unwrap().is_none());
        store.unlock(held.unwrap()).await.unwrap();
        assert!(lock_soon(store).await.is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The lock of "k" within two seconds, or None: a flock is released by a thread of its own.
    async fn lock_soon(store: &dyn TokenStore) -> Option<Lock> {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let lock = store.try_lock("k", Duration::from_secs(1)).await.unwrap();
            if lock.is_some() || std::time::Instant::now() >= deadline {
                return lock;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_torn_file_reads_as_no_token() {
        let (store, dir) = temporary_store();
        std::fs::write(dir.join("k.json"), b"{\"token\":\"t1\",\"expi").unwrap();
        let store: &dyn TokenStore = &store;
        assert_eq!(store.read_token("k").await.unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_claim_has_one_owner_until_it_is_released_or_expires() {
        let (store, dir) = temporary_store();
        let ttl = Duration::from_millis(100);
        let key = "wecom-callback:ww1:msg:123/../x";
        assert!(store.claim(key, "a", ttl).await.unwrap());
        assert!(!store.claim(key, "b", ttl).await.unwrap());
        // Another process sees the same claim: a second store on the same directory.
        let other = FileStore::new(&dir, Duration::from_secs(1)).unwrap();
        assert!(!other.claim(key, "b", ttl).await.unwrap());
        other.release(key, "b").await.unwrap();
        assert!(
            !other.claim(key, "b", ttl).await.unwrap(),
            "only the owner releases"
        );
        store.release(key, "a").await.unwrap();
        assert!(other.claim(key, "b", ttl).await.unwrap());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(
            store.claim(key, "c", ttl).await.unwrap(),
            "an expired claim is free"
        );
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("claim-") && !n.contains("..")),
            "{names:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_that_cannot_be_made_is_a_configuration_error() {
        let error = FileStore::new("/proc/wecom-cannot-be-here", Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(matches!(error, Error::Configuration(_)), "{error}");
        assert!(error.to_string().contains("cannot be created"), "{error}");
    }
}
