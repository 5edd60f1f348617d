//! One error type for the whole core. The Ruby binding maps it to the `WeCom::*Error` classes
//! in exactly one place, using [`Error::kind`].

use std::fmt;
use std::time::Duration;

use crate::api::Repeat;
use crate::client::SendResult;

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
    /// What was asked for does not exist: a member (46004, 60111).
    NotFound,
    /// The secret used may not call this API or read this member or department (48002,
    /// 60011, 50002): a setting to change, not a retry.
    Permission,
    /// WeCom (45009) or an HTTP gateway (429) says to slow down.
    RateLimit,
    /// The connection failed, was lost, or a gateway answered 5xx.
    Network,
    /// No answer within the configured timeout.
    Timeout,
    /// The server's TLS certificate was not accepted (a Network error that no retry fixes).
    Certificate,
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
    /// The TLS handshake refused the server's certificate: nothing was sent.
    Certificate {
        message: String,
        path: String,
    },
    Internal(String),
    /// A limit kept on this side (a group robot's 20 messages a minute) has no room before
    /// `retry_after`; nothing was sent.
    Throttled {
        path: String,
        limit: String,
        retry_after: Duration,
    },
    /// A send split into several calls failed after some calls were delivered.
    PartiallySent {
        cause: Box<Error>,
        /// What the delivered calls reported.
        delivered: Box<SendResult>,
        /// How many calls the send needed in all.
        calls: usize,
        /// Whether repeating the whole send is safe (duplicate_check was on).
        repeat: Repeat,
    },
}

/// Error codes worth another try: -1 (busy) and 45033 (too many concurrent calls) at once,
/// 45009 (frequency limit) only after its `retry_after`.
const RETRYABLE_ERRCODES: &[i64] = &[-1, 45009, 45033];

/// Error codes that mean "the credentials or the token are not accepted".
const AUTHENTICATION_ERRCODES: &[i64] = &[40001, 40013, 40014, 40091, 41001, 42001, 301002, 60020];

/// "No such member": 46004 (user does not exist) and 60111 (userid not found).
const NOT_FOUND_ERRCODES: &[i64] = &[46004, 60111];

/// "This secret may not do that": no API permission, no privilege for the member or department,
/// a member outside the app's visible range.
const PERMISSION_ERRCODES: &[i64] = &[48002, 60011, 50002];

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) => ErrorKind::Argument,
            Error::Configuration(_) => ErrorKind::Configuration,
            Error::Api { errcode: 45009, .. } => ErrorKind::RateLimit,
            Error::Api { errcode, .. } if AUTHENTICATION_ERRCODES.contains(errcode) => {
                ErrorKind::Authentication
            }
            Error::Api { errcode, .. } if NOT_FOUND_ERRCODES.contains(errcode) => {
                ErrorKind::NotFound
            }
            Error::Api { errcode, .. } if PERMISSION_ERRCODES.contains(errcode) => {
                ErrorKind::Permission
            }
            Error::Api { .. } => ErrorKind::Api,
            Error::Http { status: 429, .. } | Error::Throttled { .. } => ErrorKind::RateLimit,
            Error::Http { .. } | Error::Network { .. } => ErrorKind::Network,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Certificate { .. } => ErrorKind::Certificate,
            Error::Internal(_) => ErrorKind::Internal,
            Error::PartiallySent { cause, .. } => cause.kind(),
        }
    }

    /// Whether trying the same call again later can succeed (what ActiveJob's `retry_on` wants).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { errcode, .. } => RETRYABLE_ERRCODES.contains(errcode),
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::Network { .. } | Error::Timeout { .. } | Error::Throttled { .. } => true,
            // The same certificate will be refused again: the trusted roots must change.
            Error::InvalidArgument(_)
            | Error::Configuration(_)
            | Error::Internal(_)
            | Error::Certificate { .. } => false,
            // Repeating the whole send would deliver the first calls twice.
            Error::PartiallySent { cause, repeat, .. } => {
                *repeat == Repeat::Safe && cause.is_retryable()
            }
        }
    }

    /// What WeCom reported for the calls delivered before a split send failed.
    pub fn partial_result(&self) -> Option<&SendResult> {
        match self {
            Error::PartiallySent { delivered, .. } => Some(delivered),
            _ => None,
        }
    }

    /// How long to wait before trying again, when the server said so (or the limit is known).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            // A per-minute frequency limit blocks the caller for 60 s.
            Error::Api { errcode: 45009, .. } => Some(Duration::from_secs(60)),
            Error::Http { retry_after, .. } => *retry_after,
            Error::Throttled { retry_after, .. } => Some(*retry_after),
            Error::PartiallySent { cause, .. } => cause.retry_after(),
            _ => None,
        }
    }

    pub fn errcode(&self) -> Option<i64> {
        match self {
            Error::Api { errcode, .. } => Some(*errcode),
            Error::PartiallySent { cause, .. } => cause.errcode(),
            _ => None,
        }
    }

    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Api { path, .. }
            | Error::Http { path, .. }
            | Error::Network { path, .. }
            | Error::Timeout { path, .. }
            | Error::Certificate { path, .. }
            | Error::Throttled { path, .. } => Some(path),
            Error::PartiallySent { cause, .. } => cause.path(),
            Error::InvalidArgument(_) | Error::Configuration(_) | Error::Internal(_) => None,
        }
    }

    /// True when a send failed in a way that leaves it unknown whether WeCom delivered it.
    pub fn delivery_unknown(&self) -> bool {
        if let Error::PartiallySent { cause, .. } = self {
            return cause.delivery_unknown();
        }
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

const UNTRUSTED_IP: &str = "; the IP this request came from is not among the app's trusted IPs \
     (企业可信IP, in the app's settings in the WeCom admin console): add it there, or send through \
     a forward proxy with a fixed trusted IP (the proxy setting, or HTTPS_PROXY)";

const NO_PRIVILEGE: &str = "; this secret may not call this API or read this member or department: \
     reading the whole directory (user/list_id) needs the contact-sync secret (通讯录同步 Secret, under \
     管理工具 → 通讯录同步 in the WeCom admin console), and an app's secret reads only the members and \
     departments in the app's visible range (可见范围)";

const OUTSIDE_RANGE: &str =
    "; the member is outside the app's visible range (可见范围, in the app's \
     settings in the WeCom admin console)";

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
            } => {
                write!(f, "WeCom {path} failed: errcode {errcode}, {errmsg}")?;
                match errcode {
                    60020 => f.write_str(UNTRUSTED_IP)?,
                    48002 | 60011 => f.write_str(NO_PRIVILEGE)?,
                    50002 => f.write_str(OUTSIDE_RANGE)?,
                    _ => {}
                }
                Ok(())
            }
            Error::Http { status, path, .. } => {
                write!(f, "WeCom {path} failed: HTTP {status}")
            }
            Error::Throttled {
                path,
                limit,
                retry_after,
            } => write!(
                f,
                "WeCom {path} not sent: {limit}; a slot opens in {:.1}s",
                retry_after.as_secs_f64()
            ),
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
            Error::Certificate { message, path } => write!(f, "WeCom {path} failed: {message}"),
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
            Error::PartiallySent {
                cause,
                delivered,
                calls,
                repeat,
            } => {
                write!(
                    f,
                    "{cause} (after {} of {calls} calls of this send were delivered, msgids {}",
                    delivered.msgids.len(),
                    delivered.msgids.join(", ")
                )?;
                f.write_str(if *repeat == Repeat::Safe {
                    "; duplicate_check makes repeating the whole send safe)"
                } else {
                    "; repeating the whole send would deliver those again)"
                })
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
        assert_eq!(api(46004).kind(), ErrorKind::NotFound);
        assert_eq!(api(60111).kind(), ErrorKind::NotFound);
        assert_eq!(api(48002).kind(), ErrorKind::Permission);
        assert_eq!(api(60011).kind(), ErrorKind::Permission);
        assert!(!api(60011).is_retryable());
        assert!(api(48002)
            .to_string()
            .contains("contact-sync secret (通讯录同步 Secret"));
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
    fn a_partly_sent_split_send_is_retryable_only_with_duplicate_check() {
        let partly = |repeat| Error::PartiallySent {
            cause: Box::new(api(-1)),
            delivered: Box::new(SendResult {
                msgids: vec!["m1".into()],
                ..SendResult::default()
            }),
            calls: 3,
            repeat,
        };
        assert!(!partly(Repeat::Unsafe).is_retryable());
        assert!(partly(Repeat::Safe).is_retryable());
        assert_eq!(partly(Repeat::Unsafe).errcode(), Some(-1));
        assert_eq!(
            partly(Repeat::Unsafe).partial_result().unwrap().msgids,
            ["m1"]
        );
        assert!(partly(Repeat::Unsafe)
            .to_string()
            .contains("after 1 of 3 calls of this send were delivered, msgids m1"));
    }

    #[test]
    fn api_message_shows_errcode_and_errmsg() {
        assert_eq!(
            api(40003).to_string(),
            "WeCom /cgi-bin/message/send failed: errcode 40003, x"
        );
    }

    #[test]
    fn a_refused_certificate_is_never_retried() {
        let error = Error::Certificate {
            message: "the TLS certificate of h was not accepted".into(),
            path: "/cgi-bin/gettoken".into(),
        };
        assert_eq!(error.kind(), ErrorKind::Certificate);
        assert!(!error.is_retryable() && !error.delivery_unknown());
        assert_eq!(error.path(), Some("/cgi-bin/gettoken"));
        let policy = crate::retry::RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
        };
        assert!(!policy.should_retry(&error, 0, Repeat::Safe));
        assert_eq!(
            error.to_string(),
            "WeCom /cgi-bin/gettoken failed: the TLS certificate of h was not accepted"
        );
    }

    #[test]
    fn an_untrusted_ip_points_at_the_proxy_setting() {
        let message = api(60020).to_string();
        assert!(
            message.contains("not among the app's trusted IPs"),
            "{message}"
        );
        assert!(message.contains("the proxy setting"), "{message}");
    }
}
