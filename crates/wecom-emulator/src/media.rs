//! `POST /cgi-bin/media/upload`, and the checks and records app and robot uploads share.
//!
//! Checks run in this order, each answering the first failure: credential → `type` (unknown →
//! 40004 "invalid media type") → the `media` part (41005 "media data missing", also when the
//! body is not well-formed multipart/form-data or the part has no `filename`) → the filename's
//! extension for image (jpg, jpeg, png), voice (amr) and video (mp4), case-insensitive (40005
//! "invalid file type") → size (40006 "invalid file size": every file must be over 5 bytes;
//! image and video at most 10 MB, voice 2 MB, file 20 MB, where MB = 1024 × 1024 bytes).
//!
//! Only the file's size and md5 are kept, never its bytes. `filelength` is not checked.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use serde::Serialize;

use super::check::{reject, Check};
use super::multipart::{self, Part};
use super::records::Records;
use super::reply::Reply;
use super::server::Call;
use super::state::{random_string, Shared};
use super::token::{authenticate, param};

const MB: u64 = 1024 * 1024;
/// Files must be larger than this.
const MIN_EXCLUSIVE_BYTES: u64 = 5;
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The `type` of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Voice,
    Video,
    File,
}

impl MediaKind {
    /// The `type` query value, as WeCom spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Voice => "voice",
            MediaKind::Video => "video",
            MediaKind::File => "file",
        }
    }

    pub(crate) fn from_param(value: &str) -> Option<MediaKind> {
        match value {
            "image" => Some(MediaKind::Image),
            "voice" => Some(MediaKind::Voice),
            "video" => Some(MediaKind::Video),
            "file" => Some(MediaKind::File),
            _ => None,
        }
    }

    /// Allowed filename extensions (lowercase); empty = any.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            MediaKind::Image => &["jpg", "jpeg", "png"],
            MediaKind::Voice => &["amr"],
            MediaKind::Video => &["mp4"],
            MediaKind::File => &[],
        }
    }

    fn max_bytes(self) -> u64 {
        match self {
            MediaKind::Image | MediaKind::Video => 10 * MB,
            MediaKind::Voice => 2 * MB,
            MediaKind::File => 20 * MB,
        }
    }
}

/// Who uploaded a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uploader {
    /// An app, through `media/upload`.
    App { agent_id: i64 },
    /// A group robot, through `webhook/upload_media`.
    Robot { key: String },
}

/// One accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub media_id: String,
    pub kind: MediaKind,
    pub filename: String,
    /// The part's Content-Type; `application/octet-stream` when it had none (RFC 7578).
    pub content_type: String,
    /// In bytes.
    pub size: u64,
    /// Lowercase hex md5 of the file.
    pub md5: String,
    pub uploader: Uploader,
}

/// Uploads so far; robot media ids are also indexed, for robot file and voice messages.
#[derive(Default)]
pub(crate) struct MediaStore {
    pub uploads: Records<Upload>,
    robot_media: HashSet<String>,
}

impl MediaStore {
    pub fn is_robot_media(&self, media_id: &str) -> bool {
        self.robot_media.contains(media_id)
    }
}

pub(crate) fn upload(shared: &Shared, call: &Call) -> Reply {
    let app = match authenticate(shared, call.query, call.ip) {
        Ok(app) => app,
        Err(reply) => return reply,
    };
    let Some(kind) = param(call.query, "type").and_then(MediaKind::from_param) else {
        return Reply::error(40004, call.ip);
    };
    let uploader = Uploader::App {
        agent_id: shared.apps[app].agent_id,
    };
    receive(shared, call, kind, uploader)
}

/// Checks the `media` part of an upload whose credential and `type` were accepted, records it
/// and answers with its media_id.
pub(crate) fn receive(shared: &Shared, call: &Call, kind: MediaKind, uploader: Uploader) -> Reply {
    let part = match media_part(call).and_then(|part| check_file(&part, kind).map(|()| part)) {
        Ok(part) => part,
        Err(rejection) => return rejection.into_reply(call.ip),
    };
    let upload = Upload {
        media_id: random_string(64),
        kind,
        filename: part.filename.unwrap_or_default(),
        content_type: part
            .content_type
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
        size: part.data.len() as u64,
        md5: md5_hex(part.data),
        uploader,
    };
    let created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string();

    #[derive(Serialize)]
    struct UploadAnswer<'a> {
        errcode: i64,
        errmsg: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        media_id: &'a str,
        /// A string, as WeCom sends it.
        created_at: &'a str,
    }
    let answer = serde_json::to_vec(&UploadAnswer {
        errcode: 0,
        errmsg: "ok",
        kind: kind.as_str(),
        media_id: &upload.media_id,
        created_at: &created_at,
    })
    .expect("plain struct serializes");

    let mut store = shared.media();
    if matches!(upload.uploader, Uploader::Robot { .. }) {
        store.robot_media.insert(upload.media_id.clone());
    }
    // A robot media id stays usable while its upload is kept.
    for forgotten in store.uploads.push(upload, shared.max_records) {
        store.robot_media.remove(&forgotten.media_id);
    }
    drop(store);
    Reply::json(answer)
}

/// The lowercase hex md5 of `data`: what an upload is recorded with, and what a robot image's
/// `md5` must be. A checksum only, never used for security.
pub(crate) fn md5_hex(data: &[u8]) -> String {
    format!("{:x}", Md5::digest(data))
}

/// The first part named `media` that carries a filename.
fn media_part<'a>(call: &Call<'a>) -> Check<Part<'a>> {
    let boundary = call
        .content_type
        .and_then(multipart::boundary)
        .ok_or_else(|| reject(41005))?;
    multipart::parse(call.body, &boundary)
        .map_err(|_| reject(41005))?
        .into_iter()
        .find(|part| part.name.as_deref() == Some("media") && part.filename.is_some())
        .ok_or_else(|| reject(41005))
}

fn check_file(part: &Part, kind: MediaKind) -> Check<()> {
    let allowed = kind.extensions();
    if !allowed.is_empty() {
        let extension = part
            .filename
            .as_deref()
            .and_then(|name| name.rsplit_once('.'))
            .map(|(_, ext)| ext.to_ascii_lowercase());
        if !extension.is_some_and(|ext| allowed.contains(&ext.as_str())) {
            return Err(reject(40005));
        }
    }
    let size = part.data.len() as u64;
    if size <= MIN_EXCLUSIVE_BYTES || size > kind.max_bytes() {
        return Err(reject(40006));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(filename: &str, size: usize) -> Part<'static> {
        static DATA: [u8; 64] = [7; 64];
        Part {
            name: Some("media".into()),
            filename: Some(filename.into()),
            content_type: None,
            data: &DATA[..size],
        }
    }

    #[test]
    fn emulator_media_extensions_by_kind() {
        use MediaKind::{File, Image, Video, Voice};
        for (name, kind, answer) in [
            ("a.JPG", Image, Ok(())),
            ("a.b.png", Image, Ok(())),
            ("a.jpeg", Image, Ok(())),
            ("a.gif", Image, Err(40005)),
            ("png", Image, Err(40005)),
            ("a.mp3", Voice, Err(40005)),
            ("a.amr", Voice, Ok(())),
            ("a.mov", Video, Err(40005)),
            ("a.mp4", Video, Ok(())),
            ("anything", File, Ok(())),
        ] {
            let code = check_file(&file(name, 6), kind).map_err(|rejection| rejection.code);
            assert_eq!(code, answer, "{name} as {kind:?}");
        }
    }

    #[test]
    fn emulator_media_must_be_over_5_bytes() {
        for kind in [MediaKind::Image, MediaKind::File] {
            let name = if kind == MediaKind::Image {
                "a.png"
            } else {
                "a"
            };
            assert_eq!(check_file(&file(name, 5), kind).unwrap_err().code, 40006);
            assert_eq!(check_file(&file(name, 6), kind), Ok(()));
        }
    }

    #[test]
    fn emulator_media_limits() {
        assert_eq!(MediaKind::Image.max_bytes(), 10 * 1024 * 1024);
        assert_eq!(MediaKind::Voice.max_bytes(), 2 * 1024 * 1024);
        assert_eq!(MediaKind::Video.max_bytes(), 10 * 1024 * 1024);
        assert_eq!(MediaKind::File.max_bytes(), 20 * 1024 * 1024);
        for kind in [
            MediaKind::Image,
            MediaKind::Voice,
            MediaKind::Video,
            MediaKind::File,
        ] {
            assert_eq!(MediaKind::from_param(kind.as_str()), Some(kind));
        }
        assert_eq!(MediaKind::from_param("thumb"), None);
    }

    #[test]
    fn emulator_md5_matches_the_rfc_1321_test_suite() {
        for (input, digest) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(md5_hex(input.as_bytes()), digest, "md5({input:?})");
        }
    }

    #[test]
    fn emulator_md5_pads_at_every_block_boundary() {
        // Lengths around 56 and 64 exercise the one- and two-block padding; digests from
        // Python's hashlib.
        let data: Vec<u8> = (0..120u32).map(|i| (i % 251) as u8).collect();
        for (len, digest) in [
            (55, "6912ee65fff2d9f9ce2508cddf8bcda0"),
            (56, "51fdd1acda72405dfdfa03fcb85896d7"),
            (63, "48a6295221902e8e0938f773a7185e72"),
            (64, "b2d3f56bc197fd985d5965079b5e7148"),
            (65, "8bd7053801c768420faf816fadba971c"),
            (119, "1c772251899a7ff007400b888d6b2042"),
            (120, "b7ba1efc6022e9ed272f00b8831e26e6"),
        ] {
            assert_eq!(md5_hex(&data[..len]), digest, "length {len}");
        }
    }
}
