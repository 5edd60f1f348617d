//! Group robots: `webhook/send` (every msgtype, keys, image checks, the per-minute limit) and
//! `webhook/upload_media`.

mod common;

use common::*;
use serde_json::{json, Value};
use wecom_emulator::{EmulatorConfig, MediaKind, RobotMessage, Uploader};

#[test]
fn emulator_base64_encode_helper_matches_rfc_4648() {
    assert_eq!(base64_encode(b""), "");
    assert_eq!(base64_encode(b"f"), "Zg==");
    assert_eq!(base64_encode(b"fo"), "Zm8=");
    assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64_encode(PNG), PNG_BASE64);
}

// ---------------------------------------------------------------- group robot

fn robot_bodies(file_id: &str, voice_id: &str) -> Vec<Value> {
    vec![
        json!({"msgtype": "text", "text": {
            "content": "hi", "mentioned_list": ["u1", "@all"], "mentioned_mobile_list": ["13800001111"]}}),
        json!({"msgtype": "text", "text": {"content": "x".repeat(2048)}}),
        json!({"msgtype": "markdown", "markdown": {"content": "#".repeat(4096)}}),
        json!({"msgtype": "image", "image": {"base64": PNG_BASE64, "md5": PNG_MD5}}),
        json!({"msgtype": "news", "news": {"articles": [
            {"title": "t", "url": "https://example.com", "picurl": "https://example.com/p.png"}]}}),
        json!({"msgtype": "file", "file": {"media_id": file_id}}),
        json!({"msgtype": "voice", "voice": {"media_id": voice_id}}),
        json!({"msgtype": "template_card", "template_card": {"card_type": "text_notice"}}),
    ]
}

#[tokio::test]
async fn emulator_robot_accepts_every_msgtype_and_records_the_key() {
    let h = Harness::default();
    let file = h.robot_upload("k1", "file", "a.txt", PNG).await;
    assert_eq!(file.errcode(), 0, "{}", file.text);
    let file_id = file.json()["media_id"].as_str().unwrap().to_owned();
    let voice = h.robot_upload("k1", "voice", "a.AMR", PNG).await;
    assert_eq!(voice.errcode(), 0, "{}", voice.text);
    let voice_id = voice.json()["media_id"].as_str().unwrap().to_owned();

    let bodies = robot_bodies(&file_id, &voice_id);
    for body in &bodies {
        let answer = h.robot("k1", body).await;
        assert_eq!(answer.errcode(), 0, "{body}: {}", answer.text);
        assert_eq!(answer.json()["errmsg"], "ok");
    }
    // Another robot may use the media of the first.
    let file_from_k2 = json!({"msgtype": "file", "file": {"media_id": file_id}});
    assert_eq!(h.robot("k2", &file_from_k2).await.errcode(), 0);

    let recorded = h.emu.robot_messages();
    assert_eq!(recorded.len(), bodies.len() + 1);
    for (message, body) in recorded.iter().zip(&bodies) {
        assert_eq!(message.key, "k1");
        assert_eq!(&message.body, body);
    }
    assert_eq!(
        recorded.last().unwrap(),
        &RobotMessage {
            key: "k2".into(),
            body: file_from_k2
        }
    );
    // Robot messages are not app messages.
    assert!(h.emu.messages().is_empty());
}

#[tokio::test]
async fn emulator_robot_image_of_2_mb_passes_and_larger_fails() {
    let h = Harness::default();
    let image = vec![b'a'; 2 * MB];
    let body = json!({"msgtype": "image", "image": {
        "base64": base64_encode(&image), "md5": "de89461b64701958984c95d1bfb0065a"}});
    assert_eq!(h.robot("k", &body).await.errcode(), 0);
    let image = vec![b'a'; 2 * MB + 1];
    let body = json!({"msgtype": "image", "image": {
        "base64": base64_encode(&image), "md5": "f0a5d0aa0b425bf89a75a696a7c80347"}});
    assert_eq!(h.robot("k", &body).await.errcode(), 40009);
    assert_eq!(h.emu.robot_messages().len(), 1);
}

#[tokio::test]
async fn emulator_robot_refuses_non_canonical_base64() {
    let h = Harness::default();
    // "Zh==" and "Zg==" both carry the byte "f"; "Zh==" also sets bits past its end, which a
    // canonical encoder never does. The md5 matches "f", so only the base64 check can refuse it.
    let md5_of_f = "8fa14cdd754f91cc6554c9e71929cce7";
    let image =
        |base64: &str| json!({"msgtype": "image", "image": {"base64": base64, "md5": md5_of_f}});
    let refused = h.robot("k", &image("Zh==")).await;
    assert_eq!(refused.errcode(), 301019, "{}", refused.text);
    assert!(
        refused.json()["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("invalid base64 image data"),
        "{}",
        refused.text
    );
    assert!(h.emu.robot_messages().is_empty());
    assert_eq!(h.robot("k", &image("Zg==")).await.errcode(), 0);
    assert_eq!(h.emu.robot_messages().len(), 1);
}

#[tokio::test]
async fn emulator_robot_keys() {
    let h = Harness::new(EmulatorConfig {
        robots: set(&["k1"]),
        ..EmulatorConfig::default()
    });
    let body = json!({"msgtype": "text", "text": {"content": "hi"}});
    assert_eq!(h.robot("k1", &body).await.errcode(), 0);
    assert_eq!(h.robot("k2", &body).await.errcode(), 93000);
    assert_eq!(h.robot("", &body).await.errcode(), 93000);
    assert_eq!(h.post(ROBOT_SEND, body.to_string()).await.errcode(), 93000);
    // The key is checked before the body.
    assert_eq!(
        h.post(&format!("{ROBOT_SEND}?key=k2"), "{oops")
            .await
            .errcode(),
        93000
    );
    assert_eq!(
        h.robot_upload("k2", "file", "a.txt", PNG).await.errcode(),
        93000
    );
    assert_eq!(h.emu.robot_messages().len(), 1);

    // Without a key list, any non-empty key is a robot.
    let open = Harness::default();
    assert_eq!(open.robot("anything", &body).await.errcode(), 0);
    assert_eq!(open.robot("", &body).await.errcode(), 93000);
    let answer = open.post(ROBOT_SEND, body.to_string()).await;
    assert_eq!(answer.errcode(), 93000);
    assert!(answer.json()["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("invalid webhook url, hint: ["));
}

#[tokio::test]
async fn emulator_robot_rejects_invalid_messages() {
    let h = Harness::default();
    let app_token = h.token().await;
    let app_media = h.upload(&app_token, "file", "a.txt", PNG).await;
    let app_media_id = app_media.json()["media_id"].as_str().unwrap().to_owned();
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "unknown msgtype",
            json!({"msgtype": "mpnews", "mpnews": {}}),
            40008,
        ),
        ("no msgtype", json!({"text": {"content": "x"}}), 40008),
        ("no body", json!({"msgtype": "text"}), 40008),
        (
            "empty text",
            json!({"msgtype": "text", "text": {"content": ""}}),
            44004,
        ),
        ("no content", json!({"msgtype": "text", "text": {}}), 44004),
        (
            "text over 2048 bytes",
            json!({"msgtype": "text", "text": {"content": "x".repeat(2049)}}),
            40058,
        ),
        (
            "mentioned_list not a list",
            json!({"msgtype": "text", "text": {"content": "x", "mentioned_list": "u1"}}),
            40058,
        ),
        (
            "mentioned_mobile_list with a number",
            json!({"msgtype": "text", "text": {"content": "x", "mentioned_mobile_list": [138]}}),
            40058,
        ),
        (
            "empty markdown",
            json!({"msgtype": "markdown", "markdown": {"content": ""}}),
            44004,
        ),
        (
            "markdown over 4096 bytes",
            json!({"msgtype": "markdown", "markdown": {"content": "x".repeat(4097)}}),
            40058,
        ),
        (
            "image md5 mismatch",
            json!({"msgtype": "image", "image": {"base64": PNG_BASE64, "md5": "0".repeat(32)}}),
            301019,
        ),
        (
            "image md5 in uppercase",
            json!({"msgtype": "image", "image": {"base64": PNG_BASE64, "md5": PNG_MD5.to_uppercase()}}),
            301019,
        ),
        (
            "image bad base64",
            json!({"msgtype": "image", "image": {"base64": "not base64!", "md5": PNG_MD5}}),
            301019,
        ),
        (
            "image base64 with a line break",
            json!({"msgtype": "image", "image": {"base64": "iVBORw0K\nGgpmYWtl", "md5": PNG_MD5}}),
            301019,
        ),
        (
            "image without md5",
            json!({"msgtype": "image", "image": {"base64": PNG_BASE64}}),
            40058,
        ),
        (
            "image empty base64",
            json!({"msgtype": "image", "image": {"base64": "", "md5": PNG_MD5}}),
            44004,
        ),
        (
            "no articles",
            json!({"msgtype": "news", "news": {"articles": []}}),
            40058,
        ),
        (
            "nine articles",
            json!({"msgtype": "news", "news": {"articles": vec![json!({"title": "t", "url": "u"}); 9]}}),
            40058,
        ),
        (
            "article without url",
            json!({"msgtype": "news", "news": {"articles": [{"title": "t"}]}}),
            40058,
        ),
        (
            "file with a made-up media id",
            json!({"msgtype": "file", "file": {"media_id": "made-up"}}),
            40007,
        ),
        (
            "file with an app's media id",
            json!({"msgtype": "file", "file": {"media_id": app_media_id}}),
            40007,
        ),
        (
            "voice without media id",
            json!({"msgtype": "voice", "voice": {}}),
            40007,
        ),
        (
            "template_card without card_type",
            json!({"msgtype": "template_card", "template_card": {"main_title": {}}}),
            40058,
        ),
    ];
    for (case, body, code) in cases {
        assert_eq!(h.robot("k", &body).await.errcode(), code, "{case}");
    }
    let url = format!("{ROBOT_SEND}?key=k");
    assert_eq!(h.post(&url, "").await.errcode(), 44002);
    assert_eq!(h.post(&url, "[1]").await.errcode(), 47001);
    assert!(h.emu.robot_messages().is_empty());
}

#[tokio::test]
async fn emulator_robot_limit_per_minute() {
    let h = Harness::new(EmulatorConfig {
        robot_limit_per_minute: 3,
        ..EmulatorConfig::default()
    });
    let body = json!({"msgtype": "text", "text": {"content": "hi"}});
    // Refused messages do not count against the limit.
    let empty = json!({"msgtype": "text", "text": {"content": ""}});
    assert_eq!(h.robot("k1", &empty).await.errcode(), 44004);
    for _ in 0..3 {
        assert_eq!(h.robot("k1", &body).await.errcode(), 0);
    }
    let answer = h.robot("k1", &body).await;
    assert_eq!(answer.errcode(), 45009);
    assert!(answer.json()["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("api freq out of limit"));
    assert_eq!(h.robot("k1", &body).await.errcode(), 45009);
    // Each robot has its own limit.
    assert_eq!(h.robot("k2", &body).await.errcode(), 0);
    assert_eq!(h.emu.robot_messages().len(), 4);
    // clear() forgets the window.
    h.emu.clear();
    assert_eq!(h.robot("k1", &body).await.errcode(), 0);
}

#[tokio::test]
async fn emulator_robot_default_limit_is_20_a_minute_and_0_turns_it_off() {
    let h = Harness::default();
    let body = json!({"msgtype": "markdown", "markdown": {"content": "x"}});
    for i in 0..20 {
        assert_eq!(h.robot("k", &body).await.errcode(), 0, "message {i}");
    }
    assert_eq!(h.robot("k", &body).await.errcode(), 45009);

    let unlimited = Harness::new(EmulatorConfig {
        robot_limit_per_minute: 0,
        ..EmulatorConfig::default()
    });
    for _ in 0..30 {
        assert_eq!(unlimited.robot("k", &body).await.errcode(), 0);
    }
}

#[tokio::test]
async fn emulator_robot_limit_holds_under_concurrency() {
    let h = Harness::new(EmulatorConfig {
        robot_limit_per_minute: 5,
        ..EmulatorConfig::default()
    });
    let body = json!({"msgtype": "text", "text": {"content": "hi"}});
    let answers = futures_util::future::join_all((0..12).map(|_| h.robot("k", &body))).await;
    let accepted = answers.iter().filter(|a| a.errcode() == 0).count();
    let limited = answers.iter().filter(|a| a.errcode() == 45009).count();
    assert_eq!((accepted, limited), (5, 7));
    assert_eq!(h.emu.robot_messages().len(), 5);
}

#[tokio::test]
async fn emulator_robot_upload_media() {
    let h = Harness::default();
    let answer = h.robot_upload("k1", "file", "notes.txt", PNG).await;
    assert_eq!(answer.errcode(), 0, "{}", answer.text);
    let v = answer.json();
    assert_eq!(v["type"], "file");
    assert_eq!(v["errmsg"], "ok");
    let created_at: u64 = v["created_at"].as_str().unwrap().parse().unwrap();
    assert!(created_at <= unix_now());
    let upload = &h.emu.uploads()[0];
    assert_eq!(upload.media_id, v["media_id"].as_str().unwrap());
    assert_eq!(upload.kind, MediaKind::File);
    assert_eq!(upload.md5, PNG_MD5);
    assert_eq!(upload.uploader, Uploader::Robot { key: "k1".into() });

    for (kind, filename, data, code) in [
        ("image", "a.png", PNG.to_vec(), 40004),
        ("video", "a.mp4", PNG.to_vec(), 40004),
        ("", "a.txt", PNG.to_vec(), 40004),
        ("voice", "a.mp3", PNG.to_vec(), 40005),
        ("voice", "a.amr", vec![1; 2 * MB + 1], 40006),
        ("file", "a.txt", b"12345".to_vec(), 40006),
        ("file", "a.txt", vec![1; 20 * MB + 1], 40006),
    ] {
        let answer = h.robot_upload("k1", kind, filename, &data).await;
        assert_eq!(answer.errcode(), code, "{kind} {filename}");
    }
    let no_media = h
        .post_form(&format!("{ROBOT_UPLOAD}?key=k1&type=file"), multipart(&[]))
        .await;
    assert_eq!(no_media.errcode(), 41005);
    assert_eq!(h.emu.uploads().len(), 1);
}
