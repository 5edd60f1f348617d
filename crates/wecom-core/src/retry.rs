//! Which failures are worth another attempt, and how long to wait before it.

use std::time::Duration;

use crate::api::Repeat;
use crate::error::Error;

/// Longest single backoff: a job that waits longer should be rescheduled instead.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// A Retry-After header's wait: delay-seconds, or an HTTP date (a past one waits nothing).
/// `now` is the time the answer arrived.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// Whether `error` on attempt number `attempt` (0-based) should be tried again.
    /// A failure that can have reached WeCom is repeated only when `repeat` is safe.
    pub fn should_retry(&self, error: &Error, attempt: u32, repeat: Repeat) -> bool {
        if attempt >= self.max_retries {
            return false;
        }
        match error {
            // Retryable errcodes are retried now, unless WeCom makes the caller wait (45009).
            Error::Api { .. } => error.is_retryable() && error.retry_after().is_none(),
            Error::Http {
                status,
                retry_after,
                ..
            } => {
                (*status == 429 || *status >= 500)
                    && retry_after.is_none_or(|wait| wait <= MAX_DELAY)
            }
            Error::Network {
                delivery_unknown, ..
            }
            | Error::Timeout {
                delivery_unknown, ..
            } => !delivery_unknown || repeat == Repeat::Safe,
            _ => false,
        }
    }

    /// Exponential backoff with jitter (between half and all of the doubled delay), so that
    /// many clients failing together do not retry together. A server's Retry-After wins.
    pub fn delay(&self, error: &Error, attempt: u32) -> Duration {
        if let Some(wait) = error.retry_after() {
            return wait.min(MAX_DELAY);
        }
        let doubled = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(MAX_DELAY);
        doubled.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(100),
    };

    fn api(errcode: i64) -> Error {
        Error::Api {
            errcode,
            errmsg: String::new(),
            path: "/p".into(),
        }
    }

    fn timeout(delivery_unknown: bool) -> Error {
        Error::Timeout {
            path: "/p".into(),
            after: Duration::from_secs(1),
            delivery_unknown,
        }
    }

    #[test]
    fn retries_busy_and_concurrency_errors_up_to_the_limit() {
        assert!(POLICY.should_retry(&api(-1), 0, Repeat::Unsafe));
        assert!(POLICY.should_retry(&api(45033), 2, Repeat::Unsafe));
        assert!(!POLICY.should_retry(&api(-1), 3, Repeat::Unsafe));
    }

    #[test]
    fn never_retries_caller_mistakes_or_the_frequency_limit() {
        for code in [40003, 40008, 44004, 45002, 81013, 301002, 45009] {
            assert!(!POLICY.should_retry(&api(code), 0, Repeat::Safe), "{code}");
        }
    }

    #[test]
    fn ambiguous_failures_are_retried_only_when_idempotent() {
        assert!(!POLICY.should_retry(&timeout(true), 0, Repeat::Unsafe));
        assert!(POLICY.should_retry(&timeout(true), 0, Repeat::Safe));
        assert!(POLICY.should_retry(&timeout(false), 0, Repeat::Unsafe));
    }

    #[test]
    fn gateway_errors_are_retried_unless_told_to_wait_long() {
        let http = |status, retry_after| Error::Http {
            status,
            path: "/p".into(),
            retry_after,
        };
        assert!(POLICY.should_retry(&http(502, None), 0, Repeat::Unsafe));
        assert!(POLICY.should_retry(&http(429, Some(Duration::from_secs(1))), 0, Repeat::Unsafe));
        assert!(!POLICY.should_retry(
            &http(429, Some(Duration::from_secs(120))),
            0,
            Repeat::Unsafe
        ));
        assert!(!POLICY.should_retry(&http(404, None), 0, Repeat::Unsafe));
        assert_eq!(
            POLICY.delay(&http(429, Some(Duration::from_secs(2))), 0),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        // The obsolete forms HTTP/1.1 still accepts.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now),
            Some(Duration::ZERO)
        );
        // A date already past: retry now.
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = parse_retry_after(&later, SystemTime::now()).unwrap();
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn delay_doubles_with_jitter_and_is_capped() {
        for attempt in 0..4 {
            let full = Duration::from_millis(100 * 2u64.pow(attempt));
            let delay = POLICY.delay(&api(-1), attempt);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        assert!(POLICY.delay(&api(-1), 30) <= MAX_DELAY);
    }
}
