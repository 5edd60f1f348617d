//! One error type for the whole core. The Ruby binding maps it to the `WeCom::*Error` classes
//! in exactly one place, using [`Error::kind`].

use std::fmt;
use std::time::Duration;

/// What kind of failure an [`Error`] is, which decides the Ruby class it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input from the caller (Ruby's `ArgumentError`), found before any request.
    Argument,
    /// Missing or invalid settings, found before any request.
    Configuration,
    /// WeCom answered with a non-zero errcode.
    Api,
    /// WeCom rejected the credentials or the token (40001, 40013, 40014, 42001, ...).
    Authentication,
    /// WeCom (45009) or an HTTP gateway (429) says to slow down.
    RateLimit,
    /// The connection failed, was lost, or a gateway answered 5xx.
    Network,
    /// No answer within the configured timeout.
    Timeout,
    /// A bug in wecom itself (a caught panic, an unparsable success answer).
    Internal,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    InvalidArgument(String),
    Configuration(String),
    /// A WeCom business error: HTTP 200 with a non-zero `errcode`.
    Api {
        errcode: i64,
        errmsg: String,
        path: String,
    },
    /// An HTTP status other than 200 (a gateway or proxy in front of WeCom).
    Http {
        status: u16,
        path: String,
        retry_after: Option<Duration>,
    },
    /// The connection failed or was lost. `delivery_unknown` is true when the request may
    /// already have reached WeCom.
    Network {
        message: String,
        path: String,
        delivery_unknown: bool,
    },
    Timeout {
        path: String,
        after: Duration,
        delivery_unknown: bool,
    },
    Internal(String),
}

/// Error codes that mean "the credentials or the token are not accepted".
const AUTHENTICATION_ERRCODES: &[i64] = &[40001, 40013, 40014, 40091, 41001, 42001, 301002, 60020];

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) => ErrorKind::Argument,
            Error::Configuration(_) => ErrorKind::Configuration,
            Error::Api { errcode: 45009, .. } => ErrorKind::RateLimit,
            Error::Api { errcode, .. } if AUTHENTICATION_ERRCODES.contains(errcode) => {
                ErrorKind::Authentication
            }
            Error::Api { .. } => ErrorKind::Api,
            Error::Http { status: 429, .. } => ErrorKind::RateLimit,
            Error::Http { .. } | Error::Network { .. } => ErrorKind::Network,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether trying the same call again later can succeed (what ActiveJob's `retry_on` wants).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { errcode, .. } => matches!(errcode, -1 | 45009 | 45033),
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::Network { .. } | Error::Timeout { .. } => true,
            Error::InvalidArgument(_) | Error::Configuration(_) | Error::Internal(_) => false,
        }
    }

    /// How long to wait before trying again, when the server said so (or the limit is known).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            // A per-minute frequency limit blocks the caller for 60 s.
            Error::Api { errcode: 45009, .. } => Some(Duration::from_secs(60)),
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn errcode(&self) -> Option<i64> {
        match self {
            Error::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Api { path, .. }
            | Error::Http { path, .. }
            | Error::Network { path, .. }
            | Error::Timeout { path, .. } => Some(path),
            Error::InvalidArgument(_) | Error::Configuration(_) | Error::Internal(_) => None,
        }
    }

    /// True when a send failed in a way that leaves it unknown whether WeCom delivered it.
    pub fn delivery_unknown(&self) -> bool {
        matches!(
            self,
            Error::Network {
                delivery_unknown: true,
                ..
            } | Error::Timeout {
                delivery_unknown: true,
                ..
            }
        )
    }
}

const UNKNOWN_DELIVERY: &str =
    "; delivery is unknown (the request may have reached WeCom): enable duplicate_check to retry safely";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(message)
            | Error::Configuration(message)
            | Error::Internal(message) => f.write_str(message),
            Error::Api {
                errcode,
                errmsg,
                path,
            } => write!(f, "WeCom {path} failed: errcode {errcode}, {errmsg}"),
            Error::Http { status, path, .. } => {
                write!(f, "WeCom {path} failed: HTTP {status}")
            }
            Error::Network {
                message,
                path,
                delivery_unknown,
            } => {
                write!(f, "WeCom {path} failed: {message}")?;
                if *delivery_unknown {
                    f.write_str(UNKNOWN_DELIVERY)?;
                }
                Ok(())
            }
            Error::Timeout {
                path,
                after,
                delivery_unknown,
            } => {
                write!(
                    f,
                    "WeCom {path} timed out after {:.3}s",
                    after.as_secs_f64()
                )?;
                if *delivery_unknown {
                    f.write_str(UNKNOWN_DELIVERY)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(errcode: i64) -> Error {
        Error::Api {
            errcode,
            errmsg: "x".into(),
            path: "/cgi-bin/message/send".into(),
        }
    }

    #[test]
    fn kinds_follow_the_errcode() {
        assert_eq!(api(45009).kind(), ErrorKind::RateLimit);
        assert_eq!(api(42001).kind(), ErrorKind::Authentication);
        assert_eq!(api(40003).kind(), ErrorKind::Api);
        assert_eq!(
            Error::Http {
                status: 429,
                path: "/p".into(),
                retry_after: None
            }
            .kind(),
            ErrorKind::RateLimit
        );
    }

    #[test]
    fn retryable_only_when_a_retry_can_help() {
        assert!(api(-1).is_retryable());
        assert!(api(45033).is_retryable());
        assert!(api(45009).is_retryable());
        assert!(!api(40003).is_retryable());
        assert!(!api(42001).is_retryable());
        assert_eq!(api(45009).retry_after(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn ambiguous_failures_say_delivery_is_unknown() {
        let e = Error::Timeout {
            path: "/cgi-bin/message/send".into(),
            after: Duration::from_millis(1500),
            delivery_unknown: true,
        };
        assert!(e.to_string().contains("timed out after 1.500s"));
        assert!(e.to_string().contains("delivery is unknown"));
        assert!(e.delivery_unknown());
    }

    #[test]
    fn api_message_shows_errcode_and_errmsg() {
        assert_eq!(
            api(40003).to_string(),
            "WeCom /cgi-bin/message/send failed: errcode 40003, x"
        );
    }
}
