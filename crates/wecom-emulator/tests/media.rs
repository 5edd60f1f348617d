//! `media/upload`: each media type, the checks in their order, the size limits.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;
use wecom_emulator::{MediaKind, Uploader};

#[tokio::test]
async fn emulator_media_upload_accepts_each_type_and_records_it() {
    let h = Harness::new(two_apps(1000002, 1000003));
    let t1 = h.token_for("s1").await;
    let t2 = h.token_for("s2").await;
    let mut media_ids = Vec::new();
    for (token, kind, filename) in [
        (&t1, "image", "photo.PNG"),
        (&t1, "voice", "hello.amr"),
        (&t1, "video", "clip.mp4"),
        (&t2, "file", "report.pdf"),
    ] {
        let before = unix_now();
        let answer = h.upload(token, kind, filename, PNG).await;
        assert_eq!(answer.errcode(), 0, "{kind}: {}", answer.text);
        let v = answer.json();
        assert_eq!(v["errmsg"], "ok");
        assert_eq!(v["type"], kind);
        let media_id = v["media_id"].as_str().unwrap().to_owned();
        assert!(media_id.len() >= 40, "{media_id}");
        // created_at is a string of unix seconds.
        let created_at: u64 = v["created_at"].as_str().unwrap().parse().unwrap();
        assert!((before..=unix_now()).contains(&created_at));
        media_ids.push(media_id);
    }
    let unique: HashSet<&String> = media_ids.iter().collect();
    assert_eq!(unique.len(), 4);

    let uploads = h.emu.uploads();
    assert_eq!(uploads.len(), 4);
    assert_eq!(uploads[0].media_id, media_ids[0]);
    assert_eq!(uploads[0].kind, MediaKind::Image);
    assert_eq!(uploads[0].filename, "photo.PNG");
    assert_eq!(uploads[0].content_type, "application/octet-stream");
    assert_eq!(uploads[0].size, PNG.len() as u64);
    assert_eq!(uploads[0].md5, PNG_MD5);
    assert_eq!(uploads[0].uploader, Uploader::App { agent_id: 1000002 });
    assert_eq!(
        uploads.iter().map(|u| u.kind.as_str()).collect::<Vec<_>>(),
        ["image", "voice", "video", "file"]
    );
    assert_eq!(uploads[3].uploader, Uploader::App { agent_id: 1000003 });

    // The file is not kept: the request log only describes the multipart body.
    let recorded = h.emu.requests().pop().unwrap();
    assert_eq!(recorded.path, UPLOAD);
    assert_eq!(
        recorded.body,
        format!(
            "<multipart/form-data, {} bytes>",
            media_form("report.pdf", PNG).len()
        )
    );

    // An uploaded media_id can be sent, as can (still) a made-up one.
    let image = msg("image", json!({ "media_id": media_ids[0] }));
    assert_eq!(h.send(&t1, &image).await.errcode(), 0);
    let made_up = msg("image", json!({"media_id": "made-up"}));
    assert_eq!(h.send(&t1, &made_up).await.errcode(), 0);
}

#[tokio::test]
async fn emulator_media_upload_reads_the_part_content_type_and_ignores_other_fields() {
    let h = Harness::default();
    let token = h.token().await;
    let body = multipart(&[
        FormPart {
            name: "note",
            filename: None,
            content_type: None,
            data: b"not the file",
        },
        FormPart {
            name: "media",
            filename: Some("a.jpg"),
            content_type: Some("image/jpeg"),
            data: b"\xff\xd8\xff\xe0 jpeg",
        },
    ]);
    let answer = h
        .post_form(&format!("{UPLOAD}?access_token={token}&type=image"), body)
        .await;
    assert_eq!(answer.errcode(), 0, "{}", answer.text);
    let upload = &h.emu.uploads()[0];
    assert_eq!(upload.filename, "a.jpg");
    assert_eq!(upload.content_type, "image/jpeg");
    assert_eq!(upload.size, 9);
}

#[tokio::test]
async fn emulator_media_upload_checks_the_token_first() {
    let h = Harness::default();
    let no_token = h.post_form(&format!("{UPLOAD}?type=zip"), Vec::new()).await;
    assert_eq!(no_token.errcode(), 41001);
    assert_eq!(
        h.upload("nope", "image", "a.png", PNG).await.errcode(),
        40014
    );
    let token = h.token().await;
    h.emu.expire_tokens();
    assert_eq!(
        h.upload(&token, "image", "a.png", PNG).await.errcode(),
        42001
    );
    assert!(h.emu.uploads().is_empty());
}

#[tokio::test]
async fn emulator_media_upload_errors() {
    let h = Harness::default();
    let token = h.token().await;
    let url = |kind: &str| format!("{UPLOAD}?access_token={token}&type={kind}");
    let cases: Vec<(&str, String, Vec<u8>, i64)> = vec![
        (
            "unknown type",
            url("thumb"),
            media_form("a.png", PNG),
            40004,
        ),
        (
            "no type",
            format!("{UPLOAD}?access_token={token}"),
            media_form("a.png", PNG),
            40004,
        ),
        (
            "no media part",
            url("file"),
            multipart(&[FormPart {
                name: "file",
                filename: Some("a.txt"),
                content_type: None,
                data: PNG,
            }]),
            41005,
        ),
        (
            "media part without filename",
            url("file"),
            multipart(&[FormPart {
                name: "media",
                filename: None,
                content_type: None,
                data: PNG,
            }]),
            41005,
        ),
        (
            "no close delimiter",
            url("file"),
            media_form("a.txt", PNG)[..40].to_vec(),
            41005,
        ),
        ("empty body", url("file"), Vec::new(), 41005),
        (
            "image not jpg/png",
            url("image"),
            media_form("a.gif", PNG),
            40005,
        ),
        (
            "image without extension",
            url("image"),
            media_form("png", PNG),
            40005,
        ),
        (
            "voice not amr",
            url("voice"),
            media_form("a.mp3", PNG),
            40005,
        ),
        (
            "video not mp4",
            url("video"),
            media_form("a.mov", PNG),
            40005,
        ),
        ("5 bytes", url("file"), media_form("a.txt", b"12345"), 40006),
        ("empty file", url("image"), media_form("a.png", b""), 40006),
        (
            "image over 10 MB",
            url("image"),
            media_form("a.png", &vec![1; 10 * MB + 1]),
            40006,
        ),
        (
            "video over 10 MB",
            url("video"),
            media_form("a.mp4", &vec![1; 10 * MB + 1]),
            40006,
        ),
        (
            "voice over 2 MB",
            url("voice"),
            media_form("a.amr", &vec![1; 2 * MB + 1]),
            40006,
        ),
    ];
    for (case, url, body, code) in cases {
        assert_eq!(h.post_form(&url, body).await.errcode(), code, "{case}");
    }
    // Not multipart at all.
    assert_eq!(
        h.post(&url("file"), r#"{"media":"x"}"#).await.errcode(),
        41005
    );
    assert!(h.emu.uploads().is_empty());

    // The limits are inclusive.
    for (kind, filename, size) in [
        ("image", "a.png", 10 * MB),
        ("voice", "a.amr", 2 * MB),
        ("file", "a.bin", 6),
    ] {
        let answer = h.upload(&token, kind, filename, &vec![1; size]).await;
        assert_eq!(answer.errcode(), 0, "{kind} of {size} bytes");
    }
    assert_eq!(h.emu.uploads().len(), 3);
}

#[tokio::test]
async fn emulator_media_upload_takes_a_20_mb_file_and_refuses_more() {
    let h = Harness::default();
    let token = h.token().await;
    let data = vec![b'a'; 20 * MB];
    let answer = h.upload(&token, "file", "big.bin", &data).await;
    assert_eq!(answer.errcode(), 0, "{}", answer.text);
    assert_eq!(h.emu.uploads()[0].size, 20 * MB as u64);

    let too_big = vec![b'a'; 20 * MB + 1];
    let answer = h.upload(&token, "file", "big.bin", &too_big).await;
    assert_eq!(answer.errcode(), 40006);
    assert_eq!(h.emu.uploads().len(), 1);
}
