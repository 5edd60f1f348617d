//! WeCom's callback protocol (path/91144, 90968, 90241) in plain Rust: no Ruby, no HTTP.
//!
//! The app's side (the Ruby binding): [`Keys::verify_url`] answers the URL check,
//! [`Keys::open`] verifies, decrypts and parses a POSTed callback into a tree, and
//! [`write_xml`] + [`Keys::seal`] make the encrypted passive reply. WeCom's side (the
//! emulator): [`Keys::sign_url_check`], [`Keys::sign_message`] and [`Keys::open_reply`].
//!
//! The order of checks is the point: parameters, body size, timestamp window, then only the
//! envelope is parsed, the signature is compared in constant time, and only then is anything
//! decrypted or the message parsed. The XML parser refuses DTDs, entities beyond XML's five and
//! processing instructions, and bounds depth and size. Error messages never contain the token
//! or the EncodingAESKey.
//!
//! ```
//! use std::time::SystemTime;
//! use serde_json::json;
//! use wecom_callback::{nonce, timestamp, write_xml, Keys, DEFAULT_WINDOW};
//!
//! let keys = Keys::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")?;
//! let now = SystemTime::now();
//!
//! // WeCom (the emulator) delivers a message ...
//! let message = json!({"ToUserName": "wx5823bf96d3bd56c7", "FromUserName": "zhangsan",
//!                      "CreateTime": "1700000000", "MsgType": "text", "Content": "help"});
//! let xml = write_xml(message.as_object().unwrap())?;
//! let sent = keys.sign_message(xml.as_bytes(), "wx5823bf96d3bd56c7", Some("1000002"),
//!                              &timestamp(now), &nonce());
//!
//! // ... the app opens it and answers ...
//! let msg = keys.open(&sent.query(), sent.body.as_deref().unwrap().as_bytes(), now, DEFAULT_WINDOW)?;
//! assert_eq!(msg["Content"], "help");
//! let reply = json!({"ToUserName": "zhangsan", "FromUserName": "wx5823bf96d3bd56c7",
//!                    "CreateTime": "1700000001", "MsgType": "text", "Content": "Commands: today"});
//! let sealed = keys.seal(write_xml(reply.as_object().unwrap())?.as_bytes(), &timestamp(now), &nonce());
//!
//! // ... and WeCom reads the reply.
//! let answer = keys.open_reply(sealed.as_bytes())?.expect("a reply");
//! assert_eq!(answer["Content"], "Commands: today");
//! # Ok::<(), wecom_callback::CallbackError>(())
//! ```

mod error;
mod keys;
mod xml;

use std::time::Duration;

pub use error::{CallbackError, ErrorKind};
pub use keys::{nonce, timestamp, Keys, Outgoing, Query};
pub use xml::{parse_message, write_xml};

/// The largest body (and XML document) accepted: 1 MiB. Larger is [`ErrorKind::TooLarge`].
pub const MAX_BODY: usize = 1 << 20;

/// The deepest element nesting accepted, counting the root `<xml>`.
pub const MAX_DEPTH: usize = 32;

/// The default replay window for a callback's timestamp: 5 minutes either way.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
