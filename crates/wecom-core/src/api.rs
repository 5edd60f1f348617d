//! One WeCom API call with its retries: what the app client (with an access token) and the
//! group robot webhook (with a key) have in common.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::config::Connection;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::process::{Context, RequestEvent};
use crate::retry::RetryPolicy;
use crate::transport::{Endpoint, Failure, Route};

/// Query parameters that are credentials: a gateway that echoes the URL must not put them in an
/// error message.
const CREDENTIAL_PARAMETERS: &[&str] = &["corpsecret", "access_token", "key"];
/// How much of an unexpected answer an error message shows.
const EXCERPT_CHARS: usize = 80;

/// The credentials among a request's query parameters.
struct Secrets<'a>(&'a [(&'a str, &'a str)]);

impl Secrets<'_> {
    /// `text` with every credential of the request, as sent or URL-encoded, replaced.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (_, value) in self
            .0
            .iter()
            .filter(|(name, value)| CREDENTIAL_PARAMETERS.contains(name) && !value.is_empty())
        {
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            for form in [*value, encoded.as_str()] {
                text = text.replace(form, "[REDACTED]");
            }
        }
        text
    }
}

/// The start of an unexpected answer, on one line, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut shown: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        shown.push_str("...");
    }
    format!("{shown:?}")
}

/// Whether a repeat of a request can make WeCom act twice: `Safe` for a GET, an upload, or a send
/// with WeCom's duplicate check; `Unsafe` for any other send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    Safe,
    Unsafe,
}

impl Repeat {
    pub fn safe_if(safe: bool) -> Repeat {
        if safe {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        }
    }
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
    /// The calls of one app or robot, over `connection` (checked, see [`Connection::validate`]).
    pub fn new(connection: &Connection) -> Result<Api> {
        let endpoint = Endpoint::parse(&connection.base_url).ok_or_else(|| {
            Error::Configuration(format!("base_url {:?} is not usable", connection.base_url))
        })?;
        let scheme = connection.base_url.split_once("://").map_or("", |(s, _)| s);
        let route = Route::resolve(&connection.proxy, scheme, |name| std::env::var(name).ok())?;
        let endpoint = endpoint.through(route.trusting(connection.ca_file.clone()));
        Ok(Api {
            endpoint,
            open_timeout: connection.open_timeout,
            timeout: connection.timeout,
            idle_timeout: connection.idle_timeout,
            policy: RetryPolicy {
                max_retries: connection.max_retries,
                base_delay: connection.retry_base_delay,
            },
        })
    }

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
                Err(error) if self.policy.should_retry(&error, attempt, repeat) => {
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
        let url = self.endpoint.url(path, query);
        // Only a POST can make WeCom act; a lost GET is merely unanswered.
        let (method, may_act) = if payload.is_some() {
            (Method::POST, true)
        } else {
            (Method::GET, false)
        };
        let response = context
            .transport
            .request(
                &self.endpoint,
                method,
                url,
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
        read_answer(&response.body, path, query, may_act)
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
            Failure::ProxyAuth(message) => Error::Configuration(message),
            Failure::Certificate(message) => Error::Certificate { message, path },
        }
    }
}

/// WeCom's answer to a request with a 200 status: the JSON object when its errcode is 0,
/// [`Error::Api`] for another errcode, and [`Error::Network`] for anything that is not WeCom's
/// (not JSON, no integer errcode). Credentials of `query` never reach an error's text. Public
/// for the fuzz target that feeds it arbitrary bytes (fuzz/fuzz_targets/wecom_answer.rs).
pub fn read_answer(
    body: &[u8],
    path: &str,
    query: &[(&str, &str)],
    may_act: bool,
) -> Result<Value> {
    let secrets = Secrets(query);
    let not_wecom = |what: String| Error::Network {
        message: secrets.scrub(&what),
        path: path.to_owned(),
        // A GET (gettoken) cannot have made WeCom act, whatever answered it.
        delivery_unknown: may_act,
    };
    let answer: Value = serde_json::from_slice(body).map_err(|_| {
        not_wecom(format!(
            "the answer was not JSON ({} bytes: {})",
            body.len(),
            excerpt(body)
        ))
    })?;
    // A gateway or a captive portal can answer 200 with JSON of its own: only an object with
    // an integer errcode is WeCom's answer.
    let errcode = match answer.get("errcode") {
        Some(Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or_default(),
        _ => {
            return Err(not_wecom(format!(
                "the answer was not WeCom's (no integer errcode): {}",
                excerpt(body)
            )))
        }
    };
    match errcode {
        0 => Ok(answer),
        errcode => Err(Error::Api {
            errcode,
            errmsg: secrets.scrub(answer["errmsg"].as_str().unwrap_or("")),
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_credentials_as_sent_and_url_encoded() {
        let query = [
            ("corpid", "corp"),
            ("corpsecret", "s3cr/et+x"),
            ("access_token", "tok-1234"),
        ];
        let scrubbed = Secrets(&query).scrub(
            "bad url /cgi-bin/gettoken?corpid=corp&corpsecret=s3cr%2Fet%2Bx, raw s3cr/et+x, tok-1234",
        );
        assert_eq!(
            scrubbed,
            "bad url /cgi-bin/gettoken?corpid=corp&corpsecret=[REDACTED], raw [REDACTED], [REDACTED]"
        );
    }

    #[test]
    fn excerpt_is_short_and_on_one_line() {
        assert_eq!(excerpt(b"<html>\n<b>hi</b>"), "\"<html> <b>hi</b>\"");
        let long = excerpt(&[b'x'; 200]);
        assert!(long.ends_with("...\"") && long.len() < 100, "{long}");
    }
}
