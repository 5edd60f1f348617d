//! One WeCom API call with its retries: what the app client (with an access token) and the
//! group robot webhook (with a key) have in common.

use std::time::Duration;

use hyper::Method;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::process::{Context, RequestEvent};
use crate::retry::RetryPolicy;
use crate::transport::{Endpoint, Failure};

/// Whether a repeat of a request can make WeCom act twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    Safe,
    Unsafe,
}

/// Where and how to call WeCom: the base URL, timeouts and retry policy.
pub struct Api {
    pub endpoint: Endpoint,
    pub open_timeout: Duration,
    pub timeout: Duration,
    /// A pooled connection idle longer than this is not reused.
    pub idle_timeout: Duration,
    pub policy: RetryPolicy,
}

impl Api {
    /// Calls `path` until it succeeds, fails for good, or runs out of retries: a GET without
    /// `payload`, else a POST. The query is sent as given: it may hold a credential, which is
    /// why only `path` ever appears in errors and events.
    pub async fn call(
        &self,
        context: &Context,
        path: &str,
        query: &[(&str, &str)],
        payload: Option<&Payload>,
        repeat: Repeat,
    ) -> Result<Value> {
        let mut attempt = 0;
        loop {
            let started = std::time::Instant::now();
            let result = self.exchange(context, path, query, payload).await;
            context.record(RequestEvent::new(path, attempt, started.elapsed(), &result));
            match result {
                Err(error)
                    if self
                        .policy
                        .should_retry(&error, attempt, repeat == Repeat::Safe) =>
                {
                    tokio::time::sleep(self.policy.delay(&error, attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One HTTP request; a non-zero errcode becomes [`Error::Api`].
    async fn exchange(
        &self,
        context: &Context,
        path: &str,
        query: &[(&str, &str)],
        payload: Option<&Payload>,
    ) -> Result<Value> {
        let mut target = String::with_capacity(self.endpoint.prefix.len() + path.len() + 600);
        target.push_str(&self.endpoint.prefix);
        target.push_str(path);
        for (i, (key, value)) in query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(key);
            target.push('=');
            target.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        }
        // Only a POST can make WeCom act; a lost GET is merely unanswered.
        let (method, may_act) = if payload.is_some() {
            (Method::POST, true)
        } else {
            (Method::GET, false)
        };
        let response = context
            .transport
            .request(
                &self.endpoint.origin,
                method,
                &target,
                payload,
                self.open_timeout,
                self.timeout,
                self.idle_timeout,
            )
            .await
            .map_err(|failure| self.transport_error(path, failure, may_act))?;
        if response.status != 200 {
            return Err(Error::Http {
                status: response.status,
                path: path.to_owned(),
                retry_after: response.retry_after,
            });
        }
        let answer: Value = serde_json::from_slice(&response.body).map_err(|_| Error::Network {
            message: format!("the answer was not JSON ({} bytes)", response.body.len()),
            path: path.to_owned(),
            delivery_unknown: true,
        })?;
        match answer["errcode"].as_i64().unwrap_or(0) {
            0 => Ok(answer),
            errcode => Err(Error::Api {
                errcode,
                errmsg: answer["errmsg"].as_str().unwrap_or("").to_owned(),
                path: path.to_owned(),
            }),
        }
    }

    /// Classifies a transport failure by whether the request can have made WeCom act. Transport
    /// messages never hold the URL, so neither a token nor a key can leak through them.
    fn transport_error(&self, path: &str, failure: Failure, may_act: bool) -> Error {
        let path = path.to_owned();
        match failure {
            Failure::Connect(message) => Error::Network {
                message,
                path,
                delivery_unknown: false,
            },
            Failure::ConnectTimeout => Error::Timeout {
                path,
                after: self.open_timeout,
                delivery_unknown: false,
            },
            Failure::Lost(message) => Error::Network {
                message,
                path,
                delivery_unknown: may_act,
            },
            Failure::Timeout => Error::Timeout {
                path,
                after: self.timeout,
                delivery_unknown: may_act,
            },
        }
    }
}
