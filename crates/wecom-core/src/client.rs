//! The WeCom API client: token handling, one request, the retry loop, and app messages.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::process::Context;
use crate::retry::RetryPolicy;
use crate::token::TokenSlot;

pub const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";
pub const SEND_PATH: &str = "/cgi-bin/message/send";
pub const RECALL_PATH: &str = "/cgi-bin/message/recall";

/// What WeCom reported for one send (merged over the calls of a split send).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SendResult {
    /// One msgid per `message/send` call, in order.
    pub msgids: Vec<String>,
    pub invalid_users: Vec<String>,
    pub invalid_parties: Vec<String>,
    pub invalid_tags: Vec<String>,
    pub unlicensed_users: Vec<String>,
    /// Given for interactive template cards; needed to update the card later.
    pub response_code: Option<String>,
}

impl SendResult {
    fn merge(&mut self, answer: &Value) {
        let ids = |key: &str| -> Vec<String> {
            answer[key]
                .as_str()
                .unwrap_or("")
                .split('|')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(msgid) = answer["msgid"].as_str() {
            self.msgids.push(msgid.to_owned());
        }
        self.invalid_users.extend(ids("invaliduser"));
        self.invalid_parties.extend(ids("invalidparty"));
        self.invalid_tags.extend(ids("invalidtag"));
        self.unlicensed_users.extend(ids("unlicenseduser"));
        if self.response_code.is_none() {
            self.response_code = answer["response_code"].as_str().map(str::to_owned);
        }
    }
}

/// A client of one WeCom app, cheap to build: the connections and tokens live in [`Context`].
pub struct Client {
    config: Arc<Config>,
    http: reqwest::Client,
    token: Arc<TokenSlot>,
    policy: RetryPolicy,
}

/// Whether a repeat of a request can make WeCom act twice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Unsafe,
}

impl Client {
    /// `config` must have passed [`Config::validate`].
    pub fn new(config: Arc<Config>, context: &Context) -> Result<Client> {
        Ok(Client {
            http: context.http(config.open_timeout)?,
            token: context.tokens.slot(&config.credentials_key()),
            policy: RetryPolicy {
                max_retries: config.max_retries,
                base_delay: config.retry_base_delay,
            },
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The cached access token, fetched when missing or about to expire.
    pub async fn access_token(&self) -> Result<Arc<str>> {
        self.token.get(|| self.fetch_token()).await
    }

    /// Seconds until the cached token expires (None when nothing is cached).
    pub fn token_expires_in(&self) -> Option<Duration> {
        self.token
            .expires_at()
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }

    async fn fetch_token(&self) -> Result<(String, Duration)> {
        let query = [
            ("corpid", self.config.corp_id.as_str()),
            ("corpsecret", self.config.secret.as_str()),
        ];
        let answer = self
            .with_retries(Repeat::Safe, || {
                self.request_once(GETTOKEN_PATH, &query, None)
            })
            .await
            .map_err(|e| match e {
                // From gettoken, 40001 means a wrong secret: a settings problem, not a token one.
                Error::Api {
                    errcode: errcode @ (40001 | 40013 | 40091),
                    errmsg,
                    path,
                } => Error::Api {
                    errcode,
                    errmsg: format!("{errmsg} (check corp_id and secret)"),
                    path,
                },
                other => other,
            })?;
        let token = answer["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Internal("gettoken answered without an access_token".into()))?;
        let expires_in = answer["expires_in"].as_u64().unwrap_or(7200);
        Ok((token.to_owned(), Duration::from_secs(expires_in)))
    }

    /// POSTs `body` to an API that takes the access token, with retries and one token refresh.
    pub async fn post(&self, path: &str, body: Vec<u8>, idempotent: bool) -> Result<Value> {
        let repeat = if idempotent {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        };
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let query = [("access_token", &*token)];
            let result = self
                .with_retries(repeat, || {
                    self.request_once(path, &query, Some(body.clone()))
                })
                .await;
            match result {
                Err(Error::Api { errcode, .. })
                    if !refreshed && matches!(errcode, 40001 | 40014 | 42001) =>
                {
                    // WeCom dropped the token early. Another caller may have replaced it already.
                    self.token.invalidate(&token);
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    /// Sends an app message; large recipient lists become several calls, merged in order.
    pub async fn send(&self, message: &Message) -> Result<SendResult> {
        message.validate()?;
        let idempotent = message.options.duplicate_check.is_some();
        let mut result = SendResult::default();
        for recipients in message.recipients.chunks() {
            let body = message.to_json(self.config.agent_id, &recipients);
            let answer = self.post(SEND_PATH, body, idempotent).await?;
            result.merge(&answer);
        }
        Ok(result)
    }

    /// Recalls a message sent within the last 24 hours.
    pub async fn recall(&self, msgid: &str) -> Result<()> {
        if msgid.is_empty() {
            return Err(Error::InvalidArgument("msgid must not be empty".into()));
        }
        let body = serde_json::to_vec(&serde_json::json!({ "msgid": msgid }))
            .expect("a JSON value always serialises");
        self.post(RECALL_PATH, body, true).await.map(|_| ())
    }

    /// Runs `attempt_once` until it succeeds, fails for good, or runs out of retries.
    async fn with_retries<F, Fut>(&self, repeat: Repeat, mut attempt_once: F) -> Result<Value>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Value>>,
    {
        let mut attempt = 0;
        loop {
            match attempt_once().await {
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
    async fn request_once(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Value> {
        let mut url = String::with_capacity(self.config.base_url.len() + path.len() + 600);
        url.push_str(&self.config.base_url);
        url.push_str(path);
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        }
        let request = match body {
            Some(body) => self
                .http
                .post(url)
                .header("content-type", "application/json; charset=utf-8")
                .body(body),
            None => self.http.get(url),
        };
        let response = request
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(path, e))?;
        let status = response.status().as_u16();
        if status != 200 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(Error::Http {
                status,
                path: path.to_owned(),
                retry_after,
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(path, e))?;
        let answer: Value = serde_json::from_slice(&bytes).map_err(|_| Error::Network {
            message: format!("the answer was not JSON ({} bytes)", bytes.len()),
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

    /// Classifies a reqwest failure. The URL (which carries the token or secret) is dropped.
    fn transport_error(&self, path: &str, error: reqwest::Error) -> Error {
        let before_sending = error.is_connect();
        if error.is_timeout() {
            return Error::Timeout {
                path: path.to_owned(),
                after: if before_sending {
                    self.config.open_timeout
                } else {
                    self.config.timeout
                },
                delivery_unknown: !before_sending,
            };
        }
        Error::Network {
            message: describe(&error.without_url()),
            path: path.to_owned(),
            delivery_unknown: !before_sending,
        }
    }
}

/// The innermost causes of an error, which say what really happened ("connection refused").
fn describe(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
