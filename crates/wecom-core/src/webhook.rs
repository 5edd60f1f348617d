//! A group robot: messages POSTed to `/cgi-bin/webhook/send?key=KEY` and files uploaded for it.
//! The key is the only credential, so it travels in the query and never in an error or event.
//!
//! WeCom takes at most 20 messages a minute per robot. A robot's sends in this process share one
//! sliding window: a send waits for a free slot (up to the timeout) or fails at once with
//! [`Error::Throttled`], instead of being refused by WeCom (45009) after the fact.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::api::{Api, Repeat};
use crate::client::media_id;
use crate::config::Connection;
use crate::error::{Error, Result};
use crate::payload::{Multipart, Payload};
use crate::process::Context;

pub const WEBHOOK_SEND_PATH: &str = "/cgi-bin/webhook/send";
pub const WEBHOOK_UPLOAD_PATH: &str = "/cgi-bin/webhook/upload_media";
/// WeCom's published limit.
pub const MESSAGES_PER_MINUTE: u32 = 20;
const MINUTE: Duration = Duration::from_secs(60);

/// How to reach one robot.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub key: String,
    pub connection: Connection,
    pub per_minute: u32,
}

pub struct Webhook {
    api: Api,
    key: String,
    per_minute: u32,
    window: Arc<Window>,
}

impl Webhook {
    pub fn new(config: WebhookConfig) -> Result<Webhook> {
        if config.key.trim().is_empty() {
            return Err(Error::Configuration("the robot's key is empty".into()));
        }
        if config.per_minute == 0 {
            return Err(Error::InvalidArgument(
                "per_minute must be at least 1".into(),
            ));
        }
        Ok(Webhook {
            api: Api::new(&config.connection.validate()?)?,
            window: window_for(&config.key),
            key: config.key,
            per_minute: config.per_minute,
        })
    }

    /// Sends one message (its JSON body). With `wait`, waits up to the timeout for a slot of the
    /// per-minute limit; without, fails at once when none is free. A send whose answer was lost
    /// is not repeated: robots have no duplicate check.
    pub async fn send(&self, context: &Context, body: Vec<u8>, wait: bool) -> Result<()> {
        let max_wait = if wait {
            self.api.timeout
        } else {
            Duration::ZERO
        };
        self.window.acquire(self.per_minute, max_wait).await?;
        let payload = Payload::Json(Bytes::from(body));
        self.api
            .call(
                context,
                WEBHOOK_SEND_PATH,
                &[("key", &self.key)],
                Some(&payload),
                Repeat::Unsafe,
            )
            .await
            .map(|_| ())
    }

    /// Uploads a file (`kind`: file or voice) for a file or voice message; returns its media_id.
    pub async fn upload_media(
        &self,
        context: &Context,
        kind: &str,
        upload: Multipart,
    ) -> Result<String> {
        let payload = Payload::Multipart(Arc::new(upload));
        let answer = self
            .api
            .call(
                context,
                WEBHOOK_UPLOAD_PATH,
                &[("key", &self.key), ("type", kind)],
                Some(&payload),
                Repeat::Safe,
            )
            .await?;
        media_id(&answer, WEBHOOK_UPLOAD_PATH)
    }
}

/// When the last minute's sends of one robot went out.
#[derive(Default)]
struct Window {
    sent: Mutex<VecDeque<Instant>>,
}

impl Window {
    /// Takes a slot, waiting at most `max_wait` for one.
    async fn acquire(&self, per_minute: u32, max_wait: Duration) -> Result<()> {
        let deadline = Instant::now() + max_wait;
        loop {
            let free_at = {
                let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while sent.front().is_some_and(|t| *t + MINUTE <= now) {
                    sent.pop_front();
                }
                if sent.len() < per_minute as usize {
                    sent.push_back(now);
                    return Ok(());
                }
                // Full: the slot frees when the send `per_minute` sends ago turns a minute old.
                sent[sent.len() - per_minute as usize] + MINUTE
            };
            if free_at > deadline {
                return Err(Error::Throttled {
                    path: WEBHOOK_SEND_PATH.to_owned(),
                    limit: format!("a group robot takes at most {per_minute} messages a minute"),
                    retry_after: free_at - Instant::now(),
                });
            }
            tokio::time::sleep_until(free_at).await;
        }
    }
}

type Windows = HashMap<[u8; 32], Arc<Window>>;

/// Every robot's window in this process, by a digest of its key. Tagged with the fork generation, like the
/// token cache: a forked child starts counting afresh.
static WINDOWS: Mutex<Option<(u32, Windows)>> = Mutex::new(None);

fn window_for(key: &str) -> Arc<Window> {
    let generation = crate::process::generation();
    let mut windows = WINDOWS.lock().unwrap_or_else(|p| p.into_inner());
    if windows
        .as_ref()
        .is_some_and(|(owner, _)| *owner != generation)
    {
        std::mem::forget(windows.take());
    }
    let (_, map) = windows.get_or_insert_with(|| (generation, HashMap::new()));
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    map.entry(digest).or_default().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_window_lets_per_minute_sends_through_then_waits_or_refuses() {
        let window = Window::default();
        for _ in 0..3 {
            window.acquire(3, Duration::ZERO).await.unwrap();
        }
        let refused = window
            .acquire(3, Duration::from_secs(10))
            .await
            .unwrap_err();
        let Error::Throttled { retry_after, .. } = refused else {
            panic!("{refused:?}")
        };
        assert!(retry_after > Duration::from_secs(59) && retry_after <= MINUTE);

        let started = Instant::now();
        window.acquire(3, Duration::from_secs(61)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(59));
    }

    #[test]
    fn robots_with_the_same_key_share_a_window() {
        assert!(Arc::ptr_eq(&window_for("k1"), &window_for("k1")));
        assert!(!Arc::ptr_eq(&window_for("k1"), &window_for("k2")));
    }

    #[test]
    fn an_empty_key_is_a_configuration_error() {
        let config = WebhookConfig {
            key: " ".into(),
            connection: Connection::default(),
            per_minute: 20,
        };
        assert!(matches!(Webhook::new(config), Err(Error::Configuration(_))));
    }
}
