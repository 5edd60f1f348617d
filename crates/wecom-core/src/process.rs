//! What one OS process shares between all its clients: the tokio runtime, pooled HTTP
//! connections and the token cache — rebuilt in a forked child.
//!
//! Puma, Resque and Sidekiq fork after the gem is loaded. A child inherits the parent's memory
//! but none of its threads, so the parent's runtime cannot run there and dropping it could hang.
//! [`current`] notices the new process id, builds fresh state lazily (a preloading master that
//! never sends starts no threads), and leaks the parent's copy instead of dropping it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::token::TokenCache;

/// Connections and tokens, shared by every client of the process.
#[derive(Default)]
pub struct Context {
    /// reqwest sets the connect timeout per client, so there is one pool per open_timeout.
    http: Mutex<HashMap<Duration, reqwest::Client>>,
    pub tokens: TokenCache,
}

impl Context {
    pub fn http(&self, open_timeout: Duration) -> Result<reqwest::Client> {
        let mut clients = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&open_timeout) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(open_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_nodelay(true)
            .user_agent(concat!("wecom-ruby/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("could not build the HTTP client: {e}")))?;
        clients.insert(open_timeout, client.clone());
        Ok(client)
    }
}

pub struct Process {
    pub runtime: tokio::runtime::Runtime,
    pub context: Arc<Context>,
}

static CURRENT: Mutex<Option<(u32, Arc<Process>)>> = Mutex::new(None);

/// The state of this process, built on first use and again after a fork.
pub fn current() -> Result<Arc<Process>> {
    let pid = std::process::id();
    let mut current = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
    match current.as_ref() {
        Some((owner, process)) if *owner == pid => return Ok(process.clone()),
        Some(_) => {
            // Inherited through fork: its worker threads do not exist in this process.
            std::mem::forget(current.take());
        }
        None => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wecom-worker")
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("could not start the wecom runtime: {e}")))?;
    let process = Arc::new(Process {
        runtime,
        context: Arc::new(Context::default()),
    });
    *current = Some((pid, process.clone()));
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_state_per_process() {
        let a = current().unwrap();
        let b = current().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn one_http_pool_per_open_timeout() {
        let context = Context::default();
        context.http(Duration::from_secs(1)).unwrap();
        context.http(Duration::from_secs(1)).unwrap();
        context.http(Duration::from_secs(2)).unwrap();
        assert_eq!(context.http.lock().unwrap().len(), 2);
    }
}
