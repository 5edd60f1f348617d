//! Sending many messages at once: at most `concurrency` requests in flight over the thread's
//! pooled connections, results in input order, one failure never stopping the others.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::client::{Client, SendResult};
use crate::error::Result;
use crate::message::Message;
use crate::process::Context;

#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// Most requests in flight at once.
    pub concurrency: usize,
    /// How long the whole batch waits after WeCom's frequency limit (45009) before going on.
    pub rate_limit_pause: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            concurrency: 16,
            // WeCom blocks a caller that broke a per-minute limit for 60 s.
            rate_limit_pause: Duration::from_secs(60),
        }
    }
}

/// Shared by the sends of one batch: after a 45009 every send waits until the pause is over,
/// instead of each failing against the limit.
pub(crate) struct Pause {
    until: Mutex<Option<Instant>>,
    length: Duration,
}

impl Pause {
    fn new(length: Duration) -> Pause {
        Pause {
            until: Mutex::new(None),
            length,
        }
    }

    fn until(&self) -> Option<Instant> {
        *self.until.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn start(&self) {
        let until = Instant::now() + self.length;
        let mut current = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_none_or(|current| current < until) {
            *current = Some(until);
        }
    }

    pub(crate) async fn wait(&self) {
        // Re-read after each sleep: another send may have extended the pause meanwhile.
        while let Some(until) = self.until().filter(|until| *until > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
    }
}

impl Client {
    /// Sends every message, at most `options.concurrency` at a time, and returns each one's
    /// result in input order. Only `concurrency` sends exist at any moment, however many
    /// messages there are.
    pub async fn send_batch(
        &self,
        context: &Context,
        messages: Vec<Message>,
        options: BatchOptions,
    ) -> Vec<Result<SendResult>> {
        let concurrency = options.concurrency.max(1);
        let pause = Pause::new(options.rate_limit_pause);
        let mut results: Vec<Option<Result<SendResult>>> = Vec::with_capacity(messages.len());
        results.resize_with(messages.len(), || None);
        let mut queue = messages.into_iter().enumerate();
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < concurrency {
                let Some((index, message)) = queue.next() else {
                    break;
                };
                let pause = &pause;
                in_flight.push(async move {
                    (index, self.send_paced(context, &message, Some(pause)).await)
                });
            }
            match in_flight.next().await {
                Some((index, result)) => results[index] = Some(result),
                None => break,
            }
        }
        results
            .into_iter()
            .map(|result| result.expect("every message of the batch was sent"))
            .collect()
    }
}
