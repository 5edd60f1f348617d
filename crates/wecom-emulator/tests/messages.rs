//! `message/send` (agents, message types, recipients, the duplicate check) and `message/recall`.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use wecom_emulator::EmulatorConfig;

// ---------------------------------------------------------------- agents

#[tokio::test]
async fn emulator_agentid_must_belong_to_the_tokens_app() {
    let h = Harness::new(two_apps(1000002, 1000003));
    let t1 = h.token_for("s1").await;
    let t2 = h.token_for("s2").await;
    let with_agent = |agent: Value| json!({"touser": "u", "msgtype": "text", "agentid": agent, "text": {"content": "x"}});
    assert_eq!(h.send(&t1, &with_agent(json!(1000002))).await.errcode(), 0);
    assert_eq!(h.send(&t2, &with_agent(json!(1000003))).await.errcode(), 0);
    // Numeric strings are accepted like on the real server.
    assert_eq!(
        h.send(&t2, &with_agent(json!("1000003"))).await.errcode(),
        0
    );
    assert_eq!(
        h.send(&t1, &with_agent(json!(1000003))).await.errcode(),
        301002
    );
    assert_eq!(
        h.send(&t2, &with_agent(json!(1000002))).await.errcode(),
        301002
    );
    assert_eq!(h.send(&t1, &with_agent(json!(42))).await.errcode(), 40056);
    assert_eq!(h.send(&t1, &with_agent(json!(null))).await.errcode(), 40056);
    let mut no_agent = with_agent(json!(1));
    no_agent.as_object_mut().unwrap().remove("agentid");
    assert_eq!(h.send(&t1, &no_agent).await.errcode(), 40056);
    assert_eq!(h.emu.messages().len(), 3);
}

// ---------------------------------------------------------------- message/send

fn valid_bodies() -> Vec<(&'static str, Value)> {
    vec![
        ("text", json!({"content": "hello"})),
        ("markdown", json!({"content": "**hello**"})),
        ("image", json!({"media_id": "m1"})),
        ("voice", json!({"media_id": "m1"})),
        ("file", json!({"media_id": "m1"})),
        (
            "video",
            json!({"media_id": "m1", "title": "t", "description": "d"}),
        ),
        (
            "textcard",
            json!({"title": "t", "description": "d", "url": "https://x", "btntxt": "more"}),
        ),
        (
            "news",
            json!({"articles": [{"title": "t", "url": "https://x"}]}),
        ),
        (
            "news",
            json!({"articles": [{"title": "t", "appid": "wx1", "pagepath": "pages/index"}]}),
        ),
        (
            "mpnews",
            json!({"articles": [{"title": "t", "thumb_media_id": "m", "content": "<p>x</p>"}]}),
        ),
        (
            "miniprogram_notice",
            json!({"appid": "wx1", "page": "p", "title": "t", "content_item": []}),
        ),
        (
            "template_card",
            json!({"card_type": "text_notice", "main_title": {"title": "t"}}),
        ),
        ("template_card", json!({"card_type": "news_notice"})),
        (
            "template_card",
            json!({"card_type": "button_interaction", "task_id": "t1"}),
        ),
        (
            "template_card",
            json!({"card_type": "vote_interaction", "task_id": "t2"}),
        ),
        (
            "template_card",
            json!({"card_type": "multiple_interaction", "task_id": "t3"}),
        ),
    ]
}

#[tokio::test]
async fn emulator_accepts_every_msgtype() {
    let h = Harness::default();
    let token = h.token().await;
    let mut msgids = HashSet::new();
    let bodies = valid_bodies();
    for (msgtype, body) in &bodies {
        let sent = msg(msgtype, body.clone());
        let answer = h.send(&token, &sent).await;
        assert_eq!(answer.errcode(), 0, "{msgtype}: {}", answer.text);
        assert_eq!(answer.content_type, "application/json; charset=UTF-8");
        let v = answer.json();
        assert_eq!(v["errmsg"], "ok");
        for field in [
            "invaliduser",
            "invalidparty",
            "invalidtag",
            "unlicenseduser",
        ] {
            assert_eq!(v[field], "", "{field}");
        }
        let msgid = v["msgid"].as_str().unwrap();
        assert!(!msgid.is_empty());
        assert!(msgids.insert(msgid.to_owned()), "msgid reused");
        let interactive = [
            "button_interaction",
            "vote_interaction",
            "multiple_interaction",
        ]
        .contains(&body["card_type"].as_str().unwrap_or(""));
        assert_eq!(
            v["response_code"].is_string(),
            interactive,
            "{msgtype} {body}"
        );
    }
    let recorded = h.emu.messages();
    assert_eq!(recorded.len(), bodies.len());
    assert_eq!(recorded[0], msg("text", json!({"content": "hello"})));
}

#[tokio::test]
async fn emulator_rejects_invalid_messages() {
    let h = Harness::default();
    let token = h.token().await;
    let long = "x".repeat(2049);
    let max = "é".repeat(1024); // 2048 bytes exactly
    let nine_news: Vec<Value> = (0..9).map(|_| json!({"title": "t", "url": "u"})).collect();
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "no msgtype",
            json!({"touser": "u", "agentid": AGENT, "text": {"content": "x"}}),
            40008,
        ),
        (
            "unknown msgtype",
            msg("sms", json!({"content": "x"})),
            40008,
        ),
        (
            "msgtype not a string",
            json!({"touser": "u", "agentid": AGENT, "msgtype": 1}),
            40008,
        ),
        (
            "body missing",
            json!({"touser": "u", "agentid": AGENT, "msgtype": "text"}),
            40008,
        ),
        ("body not an object", msg("text", json!("hello")), 40008),
        ("text content missing", msg("text", json!({})), 44004),
        (
            "text content empty",
            msg("text", json!({"content": ""})),
            44004,
        ),
        (
            "markdown content empty",
            msg("markdown", json!({"content": ""})),
            44004,
        ),
        (
            "text too long",
            msg("text", json!({"content": long})),
            45002,
        ),
        (
            "markdown too long",
            msg("markdown", json!({"content": long})),
            45002,
        ),
        (
            "text content not a string",
            msg("text", json!({"content": 5})),
            40058,
        ),
        ("image without media_id", msg("image", json!({})), 40007),
        (
            "voice empty media_id",
            msg("voice", json!({"media_id": ""})),
            40007,
        ),
        (
            "file without media_id",
            msg("file", json!({"name": "x"})),
            40007,
        ),
        (
            "video without media_id",
            msg("video", json!({"title": "t"})),
            40007,
        ),
        (
            "textcard no title",
            msg("textcard", json!({"description": "d", "url": "u"})),
            40058,
        ),
        (
            "textcard no description",
            msg("textcard", json!({"title": "t", "url": "u"})),
            40058,
        ),
        (
            "textcard no url",
            msg("textcard", json!({"title": "t", "description": "d"})),
            40058,
        ),
        (
            "textcard title too long",
            msg(
                "textcard",
                json!({"title": "t".repeat(129), "description": "d", "url": "u"}),
            ),
            45002,
        ),
        (
            "textcard description too long",
            msg(
                "textcard",
                json!({"title": "t", "description": "d".repeat(513), "url": "u"}),
            ),
            45002,
        ),
        ("news no articles", msg("news", json!({})), 40058),
        (
            "news zero articles",
            msg("news", json!({"articles": []})),
            40058,
        ),
        (
            "news nine articles",
            msg("news", json!({"articles": nine_news})),
            40058,
        ),
        (
            "news article no title",
            msg("news", json!({"articles": [{"url": "u"}]})),
            40058,
        ),
        (
            "news article no url",
            msg("news", json!({"articles": [{"title": "t"}]})),
            40058,
        ),
        (
            "news article not object",
            msg("news", json!({"articles": ["x"]})),
            40058,
        ),
        (
            "mpnews no thumb",
            msg(
                "mpnews",
                json!({"articles": [{"title": "t", "content": "c"}]}),
            ),
            40058,
        ),
        (
            "mpnews no content",
            msg(
                "mpnews",
                json!({"articles": [{"title": "t", "thumb_media_id": "m"}]}),
            ),
            40058,
        ),
        (
            "mpnews zero articles",
            msg("mpnews", json!({"articles": []})),
            40058,
        ),
        (
            "miniprogram no appid",
            msg("miniprogram_notice", json!({"title": "t"})),
            40058,
        ),
        (
            "miniprogram no title",
            msg("miniprogram_notice", json!({"appid": "wx"})),
            40058,
        ),
        ("card no card_type", msg("template_card", json!({})), 40058),
        (
            "card bad card_type",
            msg("template_card", json!({"card_type": "poster"})),
            40058,
        ),
    ];
    for (name, body, code) in &cases {
        let answer = h.send(&token, body).await;
        assert_eq!(answer.errcode(), *code, "{name}: {}", answer.text);
    }
    assert!(h.emu.messages().is_empty());
    // The limits are inclusive.
    assert_eq!(h.send(&token, &text(&max)).await.errcode(), 0);
    let ok_card = msg(
        "textcard",
        json!({"title": "t".repeat(128), "description": "d".repeat(512), "url": "u"}),
    );
    assert_eq!(h.send(&token, &ok_card).await.errcode(), 0);
    let eight: Vec<Value> = (0..8).map(|_| json!({"title": "t", "url": "u"})).collect();
    assert_eq!(
        h.send(&token, &msg("news", json!({"articles": eight})))
            .await
            .errcode(),
        0
    );
}

#[tokio::test]
async fn emulator_rejects_bad_json_and_empty_bodies() {
    let h = Harness::default();
    let token = h.token().await;
    let path = format!("{SEND}?access_token={token}");
    assert_eq!(h.post(&path, "{\"touser\":").await.errcode(), 47001);
    assert_eq!(h.post(&path, "[1,2]").await.errcode(), 47001);
    assert_eq!(h.post(&path, "").await.errcode(), 44002);
    // Invalid UTF-8 is refused and recorded lossily, never a panic.
    let answer = h.post(&path, vec![b'{', 0xff, 0xfe, b'}']).await;
    assert_eq!(answer.errcode(), 47001);
    let last = h.emu.requests().pop().unwrap();
    assert_eq!(last.body, "{\u{fffd}\u{fffd}}");
}

#[tokio::test]
async fn emulator_recipients_against_a_directory() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["alice", "bob"]),
        parties: set(&["1", "2"]),
        tags: set(&["7"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    let base = |to: Value| {
        let mut body = text("x");
        let body_map = body.as_object_mut().unwrap();
        body_map.remove("touser");
        for (k, v) in to.as_object().unwrap() {
            body_map.insert(k.clone(), v.clone());
        }
        body
    };

    let answer = h
        .send(
            &token,
            &base(json!({"touser": "alice|zed|bob|yan", "toparty": "1|9", "totag": "7|8|6"})),
        )
        .await;
    assert_eq!(answer.errcode(), 0, "{}", answer.text);
    let v = answer.json();
    assert_eq!(v["invaliduser"], "zed|yan");
    assert_eq!(v["invalidparty"], "9");
    assert_eq!(v["invalidtag"], "8|6");

    // All recipients invalid, or none at all.
    for to in [
        json!({"touser": "zed|yan"}),
        json!({"touser": "zed", "toparty": "9", "totag": "8"}),
        json!({}),
        json!({"touser": "", "toparty": "", "totag": ""}),
    ] {
        let answer = h.send(&token, &base(to.clone())).await;
        assert_eq!(answer.errcode(), 81013, "{to}");
    }
    // One valid party is enough.
    let answer = h
        .send(&token, &base(json!({"touser": "zed", "toparty": "2"})))
        .await;
    assert_eq!(answer.errcode(), 0);
    assert_eq!(answer.json()["invaliduser"], "zed");
    // @all: everyone, nothing invalid.
    let answer = h
        .send(
            &token,
            &base(json!({"touser": "@all", "toparty": "99", "totag": "99"})),
        )
        .await;
    assert_eq!(answer.errcode(), 0);
    assert_eq!(answer.json()["invalidparty"], "");
    assert_eq!(answer.json()["invalidtag"], "");
    assert_eq!(h.emu.messages().len(), 3);

    // Limits: 1000 users, 100 parties, 100 tags.
    let users = vec!["alice"; 1001].join("|");
    assert_eq!(
        h.send(&token, &base(json!({ "touser": users })))
            .await
            .errcode(),
        40058
    );
    let parties = vec!["1"; 101].join("|");
    assert_eq!(
        h.send(&token, &base(json!({ "toparty": parties })))
            .await
            .errcode(),
        40058
    );
    let tags = vec!["7"; 101].join("|");
    assert_eq!(
        h.send(&token, &base(json!({ "totag": tags })))
            .await
            .errcode(),
        40058
    );
}

#[tokio::test]
async fn emulator_without_directory_everyone_is_valid() {
    let h = Harness::default();
    let token = h.token().await;
    let mut body = text("x");
    body["touser"] = json!("anyone|anybody");
    body["toparty"] = json!("12345");
    let v = h.send(&token, &body).await.json();
    assert_eq!(v["errcode"], 0);
    assert_eq!(v["invaliduser"], "");
    assert_eq!(v["invalidparty"], "");
}

#[tokio::test]
async fn emulator_duplicate_check_replays_the_first_answer() {
    let h = Harness::default();
    let token = h.token().await;
    let mut body = text("once");
    body["enable_duplicate_check"] = json!(1);
    body["duplicate_check_interval"] = json!(1);

    let first = h.send(&token, &body).await.json();
    let second = h.send(&token, &body).await.json();
    assert_eq!(first["errcode"], 0);
    assert_eq!(first, second);
    // JSON-equal with another key order counts as the same body.
    let reordered = format!(
        r#"{{"duplicate_check_interval":1,"enable_duplicate_check":1,"text":{{"content":"once"}},"agentid":{AGENT},"msgtype":"text","touser":"u1"}}"#
    );
    let third = h
        .post(&format!("{SEND}?access_token={token}"), reordered)
        .await
        .json();
    assert_eq!(third["msgid"], first["msgid"]);
    assert_eq!(h.emu.messages(), vec![body.clone()]);
    assert_eq!(h.emu.requests().len(), 4); // gettoken + 3 sends

    // After the interval the same body is a new message.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fourth = h.send(&token, &body).await.json();
    assert_eq!(fourth["errcode"], 0);
    assert_ne!(fourth["msgid"], first["msgid"]);
    assert_eq!(h.emu.messages().len(), 2);

    // Interactive cards replay their response_code too.
    let mut card = msg(
        "template_card",
        json!({"card_type": "button_interaction", "task_id": "dup"}),
    );
    card["enable_duplicate_check"] = json!(1);
    let a = h.send(&token, &card).await.json();
    let b = h.send(&token, &card).await.json();
    assert!(a["response_code"].is_string());
    assert_eq!(a, b);
}

#[tokio::test]
async fn emulator_without_duplicate_check_every_send_counts() {
    let h = Harness::default();
    let token = h.token().await;
    let a = h.send(&token, &text("twice")).await.json();
    let b = h.send(&token, &text("twice")).await.json();
    assert_ne!(a["msgid"], b["msgid"]);
    assert_eq!(h.emu.messages().len(), 2);
}

#[tokio::test]
async fn emulator_recall() {
    let h = Harness::new(two_apps(1, 2));
    let token = h.token_for("s1").await;
    let other = h.token_for("s2").await;
    let body = json!({"touser": "u", "msgtype": "text", "agentid": 1, "text": {"content": "x"}});
    let msgid = h.send(&token, &body).await.json()["msgid"]
        .as_str()
        .unwrap()
        .to_owned();

    let recall = |t: &str, id: &str| {
        (
            format!("{RECALL}?access_token={t}"),
            json!({ "msgid": id }).to_string(),
        )
    };
    let (path, b) = recall(&other, &msgid);
    assert_eq!(
        h.post(&path, b).await.errcode(),
        40058,
        "another app's msgid"
    );
    let (path, b) = recall(&token, "unknown");
    let answer = h.post(&path, b).await;
    assert_eq!(answer.errcode(), 40058);
    assert!(answer.json()["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("invalid msgid"));
    assert_eq!(
        h.post(&format!("{RECALL}?access_token={token}"), "{}")
            .await
            .errcode(),
        40058
    );
    assert!(h.emu.recalled().is_empty());

    let (path, b) = recall(&token, &msgid);
    let answer = h.post(&path, b.clone()).await;
    assert_eq!(answer.json(), json!({"errcode": 0, "errmsg": "ok"}));
    assert_eq!(
        h.post(&path, b).await.errcode(),
        0,
        "recalling again is harmless"
    );
    assert_eq!(h.emu.recalled(), vec![msgid]);
}
