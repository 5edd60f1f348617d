//! Group robot webhooks: `POST /cgi-bin/webhook/send` and `POST /cgi-bin/webhook/upload_media`.
//!
//! No access token: the `key` query parameter is the credential. A missing or empty key, or one
//! outside `EmulatorConfig::robots`, answers 93000.
//!
//! `webhook/send` checks, in order: key → body (blank → 44002, not a JSON object → 47001) →
//! `msgtype` (text, markdown, image, news, file, voice, template_card; else 40008) → the body
//! under the msgtype key (missing → 40008) → the per-robot limit (45009). Bodies:
//! - text: `content` (empty → 44004, over 2048 bytes → 40058); `mentioned_list` and
//!   `mentioned_mobile_list`, when present, arrays of non-empty strings (else 40058).
//! - markdown: `content` (empty → 44004, over 4096 bytes → 40058).
//! - image: `base64` and `md5` strings (missing → 40058; empty base64 → 44004); base64 that is
//!   not canonical RFC 4648 (standard alphabet, padded, no line breaks, no bits set past the
//!   end: `"Zh=="` is refused, `"Zg=="` is "f") → 301019 "invalid base64 image data"; decoded
//!   over 2 MB → 40009 "invalid image size"; `md5` not the lowercase hex md5 of the decoded
//!   bytes → 301019 "media md5 not match". The image format itself is not checked.
//! - news: `articles`, 1 to 8 objects each with a non-empty `title` and `url` (else 40058).
//! - file, voice: `media_id` handed out by `webhook/upload_media` to any robot (else 40007);
//!   a file media id is accepted in a voice message and vice versa.
//! - template_card: an object with a non-empty string `card_type` (else 40058).
//!
//! Only accepted messages count against the limit: at most `robot_limit_per_minute` (default
//! 20) within any 60 seconds per key; the next answers 45009.
//!
//! `webhook/upload_media` checks key → `type` (file or voice; else 40004) → the upload rules of
//! `media/upload` (see the `media` module).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::check::{
    content, optional_str_list, parse_object, reject, reject_with, required, Check,
};
use super::media::{self, md5_hex, MediaKind, Uploader};
use super::message::check_articles;
use super::records::Records;
use super::reply::Reply;
use super::server::Call;
use super::state::Shared;
use super::token::param;

const MAX_TEXT_BYTES: usize = 2048;
const MAX_MARKDOWN_BYTES: usize = 4096;
const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;
const WINDOW: Duration = Duration::from_secs(60);

/// A message a group robot accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct RobotMessage {
    /// The robot's webhook key.
    pub key: String,
    /// The JSON body as received.
    pub body: Value,
}

/// What the robots received, and when each sent its recent messages.
#[derive(Default)]
pub(crate) struct RobotStore {
    pub messages: Records<RobotMessage>,
    windows: HashMap<String, Window>,
}

/// When a robot's messages of the last minute were accepted, oldest first.
#[derive(Default)]
struct Window(VecDeque<Instant>);

impl Window {
    /// Counts a message sent at `now` unless `limit` were accepted in the minute before.
    fn admit(&mut self, now: Instant, limit: u32) -> bool {
        while self
            .0
            .front()
            .is_some_and(|&sent| now.duration_since(sent) >= WINDOW)
        {
            self.0.pop_front();
        }
        if self.0.len() >= limit as usize {
            return false;
        }
        self.0.push_back(now);
        true
    }
}

/// The request's robot key if it names a robot of the emulated corp.
fn robot_key<'q>(shared: &Shared, query: &'q [(String, String)]) -> Option<&'q str> {
    let key = param(query, "key")?;
    match &shared.robot_keys {
        Some(keys) if !keys.contains(key) => None,
        _ => Some(key),
    }
}

pub(crate) fn send(shared: &Shared, call: &Call) -> Reply {
    let Some(key) = robot_key(shared, call.query) else {
        return Reply::error(93000, call.ip);
    };
    let body = match parse_object(call.body).and_then(|body| {
        check_message(
            shared,
            body.as_object().expect("parse_object returns objects"),
        )?;
        Ok(body)
    }) {
        Ok(body) => body,
        Err(rejection) => return rejection.into_reply(call.ip),
    };

    // One critical section admits and records, so concurrent sends cannot exceed the limit.
    let mut robots = shared.robots();
    let limit = shared.robot_limit_per_minute;
    if limit > 0
        && !robots
            .windows
            .entry(key.to_owned())
            .or_default()
            .admit(Instant::now(), limit)
    {
        drop(robots);
        return Reply::error(45009, call.ip);
    }
    robots.messages.push(
        RobotMessage {
            key: key.to_owned(),
            body,
        },
        shared.max_records,
    );
    drop(robots);
    Reply::ok()
}

pub(crate) fn upload_media(shared: &Shared, call: &Call) -> Reply {
    let Some(key) = robot_key(shared, call.query) else {
        return Reply::error(93000, call.ip);
    };
    let kind = match param(call.query, "type").and_then(MediaKind::from_param) {
        Some(kind @ (MediaKind::File | MediaKind::Voice)) => kind,
        _ => return Reply::error(40004, call.ip),
    };
    let uploader = Uploader::Robot {
        key: key.to_owned(),
    };
    media::receive(shared, call, kind, uploader)
}

fn check_message(shared: &Shared, msg: &Map<String, Value>) -> Check<()> {
    let Some(msgtype) = msg.get("msgtype").and_then(Value::as_str) else {
        return Err(reject(40008));
    };
    if !matches!(
        msgtype,
        "text" | "markdown" | "image" | "news" | "file" | "voice" | "template_card"
    ) {
        return Err(reject(40008));
    }
    let Some(body) = msg.get(msgtype).and_then(Value::as_object) else {
        return Err(reject_with(40008, format!("{msgtype} body missing")));
    };
    match msgtype {
        "text" => {
            check_content(body, MAX_TEXT_BYTES)?;
            for list in ["mentioned_list", "mentioned_mobile_list"] {
                if optional_str_list(body, list).is_err() {
                    return Err(reject_with(40058, format!("{list} must be a string array")));
                }
            }
        }
        "markdown" => check_content(body, MAX_MARKDOWN_BYTES)?,
        "image" => check_image(body)?,
        "news" => check_articles(body, |article| {
            required(article, "title")?;
            required(article, "url")?;
            Ok(())
        })?,
        "file" | "voice" => {
            let media_id = body.get("media_id").and_then(Value::as_str);
            if !media_id.is_some_and(|id| shared.media().is_robot_media(id)) {
                return Err(reject(40007));
            }
        }
        "template_card" => {
            required(body, "card_type")?;
        }
        _ => unreachable!("msgtype was checked above"),
    }
    Ok(())
}

fn check_content(body: &Map<String, Value>, max: usize) -> Check<()> {
    if content(body)?.len() > max {
        return Err(reject_with(40058, format!("content exceeds {max} bytes")));
    }
    Ok(())
}

fn check_image(body: &Map<String, Value>) -> Check<()> {
    let (Some(encoded), Some(md5)) = (
        body.get("base64").and_then(Value::as_str),
        body.get("md5").and_then(Value::as_str),
    ) else {
        return Err(reject_with(40058, "base64 and md5 must be strings"));
    };
    if encoded.is_empty() {
        return Err(reject(44004));
    }
    let Some(image) = decode_base64(encoded) else {
        return Err(reject_with(301019, "invalid base64 image data"));
    };
    if image.len() > MAX_IMAGE_BYTES {
        return Err(reject(40009));
    }
    if md5 != md5_hex(&image) {
        return Err(reject(301019));
    }
    Ok(())
}

/// The bytes of canonical base64 (RFC 4648, standard alphabet, padded, no line breaks, no bits
/// set past the end), else `None`: a client that sends anything else finds out here rather than
/// against the real robot.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_robot_window_rolls_over_a_minute() {
        let mut window = Window::default();
        let t0 = Instant::now();
        assert!(window.admit(t0, 2));
        assert!(window.admit(t0 + Duration::from_secs(30), 2));
        assert!(!window.admit(t0 + Duration::from_secs(59), 2));
        // A refused message does not count; the first one leaves the window at 60 s.
        assert!(window.admit(t0 + Duration::from_secs(60), 2));
        assert!(!window.admit(t0 + Duration::from_secs(89), 2));
        assert!(window.admit(t0 + Duration::from_secs(90), 2));
        assert_eq!(window.0.len(), 2);
    }

    #[test]
    fn emulator_robot_content_limits_count_bytes() {
        let body = |s: &str| {
            serde_json::json!({ "content": s })
                .as_object()
                .unwrap()
                .clone()
        };
        // 682 three-byte characters = 2046 bytes; one more is over 2048.
        assert!(check_content(&body(&"你".repeat(682)), MAX_TEXT_BYTES).is_ok());
        assert_eq!(
            check_content(&body(&"你".repeat(683)), MAX_TEXT_BYTES)
                .unwrap_err()
                .code,
            40058
        );
        assert_eq!(
            check_content(&body(""), MAX_TEXT_BYTES).unwrap_err().code,
            44004
        );
    }

    #[test]
    fn emulator_base64_decodes_the_rfc_4648_vectors() {
        for (encoded, decoded) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(decode_base64(encoded).as_deref(), Some(decoded.as_bytes()));
        }
        assert_eq!(
            decode_base64("iVBORw0KGgpmYWtl").as_deref(),
            Some(&b"\x89PNG\r\n\x1a\nfake"[..])
        );
        assert_eq!(
            decode_base64("+/+/").as_deref(),
            Some(&[0xfb, 0xff, 0xbf][..])
        );
    }

    #[test]
    fn emulator_base64_rejects_anything_not_canonical() {
        for bad in [
            "Zg",         // missing padding
            "Zg=",        // short padding
            "Z===",       // too much padding
            "Zg==Zg==",   // padding in the middle
            "Zm9v\nYmFy", // line break
            "Zm9v YmFy",  // space
            "-_-_",       // URL-safe alphabet
            "Zm9=Zm9v",
            "Zh==", // bits set past the end: "f" is "Zg=="
            "Zm9=", // likewise: "fo" is "Zm8="
        ] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
    }
}
