//! The one error type of the crate.

use std::fmt;

/// Why a callback (or a key) was refused. The binding maps each kind to an HTTP status and a
/// Ruby error class; the kinds are stable, the messages are for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A query parameter (`msg_signature`, `timestamp`, `nonce`, `echostr`) or the body's
    /// `<Encrypt>` is absent or empty. HTTP 400.
    MissingParameter,
    /// `msg_signature` does not match (also when it is not 40 hex digits). HTTP 403.
    Signature,
    /// The timestamp is outside the replay window, in the past or the future. HTTP 403.
    Stale,
    /// The decrypted frame names another receiver (corp id / suite id). HTTP 403.
    ReceiveId,
    /// Not what WeCom sends: a non-numeric timestamp, bad base64, ciphertext that is not whole
    /// 32-byte blocks, bad padding, a length field past the end, ill-formed XML, a DTD or an
    /// entity, a processing instruction, non-UTF-8, nesting too deep. HTTP 400.
    Malformed,
    /// A body over [`MAX_BODY`](crate::MAX_BODY). HTTP 413.
    TooLarge,
    /// The endpoint's own settings are unusable (an EncodingAESKey that is not 43 characters
    /// of base64, an empty token), or a reply tree cannot be written as XML (an element name
    /// that is not an XML name, nesting too deep). A programming or configuration error, not
    /// a bad request: the binding raises it as an `ArgumentError`.
    Config,
}

/// An error with its [`ErrorKind`] and a message. The message never contains the token or the
/// EncodingAESKey (nor the AES key); it may name a field and quote short, non-secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackError {
    /// What went wrong, for code.
    pub kind: ErrorKind,
    /// What went wrong, for people; also the `Display` text.
    pub message: String,
}

impl CallbackError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CallbackError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallbackError {}
