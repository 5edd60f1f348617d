//! The emulator over real HTTP on 127.0.0.1, driven by reqwest (and raw sockets where the
//! behaviour under test is below HTTP).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wecom_core::emulator::{Emulator, EmulatorApp, EmulatorConfig};

const GETTOKEN: &str = "/cgi-bin/gettoken";
const SEND: &str = "/cgi-bin/message/send";
const RECALL: &str = "/cgi-bin/message/recall";
const AGENT: i64 = 1000002;

struct Harness {
    emu: Emulator,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn errcode(&self) -> i64 {
        assert_eq!(self.status, 200, "body: {}", self.text);
        self.json()["errcode"].as_i64().expect("errcode")
    }
}

impl Harness {
    fn new(config: EmulatorConfig) -> Harness {
        Harness {
            emu: Emulator::start(config).expect("emulator starts"),
            // no_proxy: a proxy from the environment must not sit between us and 127.0.0.1.
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    fn default() -> Harness {
        Harness::new(EmulatorConfig::default())
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.emu.base_url(), path_and_query)
    }

    async fn answer(&self, response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Answer {
            status,
            content_type,
            text: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path_and_query: &str) -> Answer {
        let response = self
            .http
            .get(self.url(path_and_query))
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn post(&self, path_and_query: &str, body: impl Into<reqwest::Body>) -> Answer {
        let response = self
            .http
            .post(self.url(path_and_query))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn token_for(&self, secret: &str) -> String {
        let answer = self
            .get(&format!("{GETTOKEN}?corpid=corp&corpsecret={secret}"))
            .await;
        assert_eq!(answer.errcode(), 0, "{}", answer.text);
        answer.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn token(&self) -> String {
        self.token_for("secret").await
    }

    async fn send(&self, token: &str, body: &Value) -> Answer {
        self.post(&format!("{SEND}?access_token={token}"), body.to_string())
            .await
    }
}

fn text(content: &str) -> Value {
    json!({"touser": "u1", "msgtype": "text", "agentid": AGENT, "text": {"content": content}})
}

/// A message of `msgtype` with `body` under its key, to user u1 from the default app.
fn msg(msgtype: &str, body: Value) -> Value {
    json!({"touser": "u1", "msgtype": msgtype, "agentid": AGENT, msgtype: body})
}

fn set(ids: &[&str]) -> Option<HashSet<String>> {
    Some(ids.iter().map(|s| s.to_string()).collect())
}

// ---------------------------------------------------------------- gettoken

#[tokio::test]
async fn emulator_gettoken_success() {
    let h = Harness::default();
    let answer = h
        .get(&format!("{GETTOKEN}?corpid=corp&corpsecret=secret"))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json; charset=UTF-8");
    let v = answer.json();
    assert_eq!(v["errcode"], 0);
    assert_eq!(v["errmsg"], "ok");
    assert_eq!(v["expires_in"], 7200);
    let token = v["access_token"].as_str().unwrap();
    assert!(token.len() >= 64, "{token}");
    assert_eq!(h.emu.token_requests(), 1);
}

#[tokio::test]
async fn emulator_gettoken_errors() {
    let h = Harness::default();
    for (query, code) in [
        ("corpsecret=secret", 41002),
        ("corpid=&corpsecret=secret", 41002),
        ("corpid=corp", 41004),
        ("", 41002),
        ("corpid=other&corpsecret=secret", 40013),
        ("corpid=corp&corpsecret=wrong", 40001),
    ] {
        let answer = h.get(&format!("{GETTOKEN}?{query}")).await;
        assert_eq!(answer.errcode(), code, "query {query:?}");
        let errmsg = answer.json()["errmsg"].as_str().unwrap().to_owned();
        assert!(
            errmsg.ends_with(&format!(
                "from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
            )),
            "{errmsg}"
        );
        assert!(errmsg.contains(", hint: ["), "{errmsg}");
    }
    assert_eq!(h.emu.token_requests(), 6);
}

#[tokio::test]
async fn emulator_gettoken_returns_the_same_token_while_valid() {
    let h = Harness::default();
    let a = h.token().await;
    let b = h.token().await;
    assert_eq!(a, b);
    assert_eq!(h.emu.token_requests(), 2);
}

#[tokio::test]
async fn emulator_renews_a_token_past_half_its_life_and_keeps_the_old_one_valid() {
    let h = Harness::new(EmulatorConfig {
        token_ttl: Duration::from_millis(600),
        ..EmulatorConfig::default()
    });
    let old = h.token().await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let new = h.token().await;
    assert_ne!(old, new, "an early refresh gets a new token");
    assert_eq!(h.send(&old, &text("hi")).await.errcode(), 0);
    assert_eq!(h.send(&new, &text("hi")).await.errcode(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.send(&old, &text("hi")).await.errcode(), 42001);
    assert_eq!(h.send(&new, &text("hi")).await.errcode(), 0);
}

#[tokio::test]
async fn emulator_tokens_expire_after_the_ttl() {
    let h = Harness::new(EmulatorConfig {
        token_ttl: Duration::from_millis(300),
        ..EmulatorConfig::default()
    });
    let answer = h
        .get(&format!("{GETTOKEN}?corpid=corp&corpsecret=secret"))
        .await;
    // Sub-second ttls are rounded up so that a client never sees expires_in 0.
    assert_eq!(answer.json()["expires_in"], 1);
    let old = answer.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(h.send(&old, &text("hi")).await.errcode(), 0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.send(&old, &text("hi")).await.errcode(), 42001);
    let new = h.token().await;
    assert_ne!(old, new);
    assert_eq!(h.send(&new, &text("hi")).await.errcode(), 0);
    assert_eq!(h.send(&old, &text("hi")).await.errcode(), 42001);
}

#[tokio::test]
async fn emulator_expire_tokens_revokes_every_issued_token() {
    let h = Harness::new(EmulatorConfig {
        apps: vec![
            EmulatorApp {
                secret: "s1".into(),
                agent_id: 1,
            },
            EmulatorApp {
                secret: "s2".into(),
                agent_id: 2,
            },
        ],
        ..EmulatorConfig::default()
    });
    let t1 = h.token_for("s1").await;
    let t2 = h.token_for("s2").await;
    assert_ne!(t1, t2);
    h.emu.expire_tokens();
    for token in [&t1, &t2] {
        let body =
            json!({"touser": "u", "msgtype": "text", "agentid": 1, "text": {"content": "x"}});
        assert_eq!(h.send(token, &body).await.errcode(), 42001);
    }
    let fresh = h.token_for("s1").await;
    assert_ne!(fresh, t1);
    let body = json!({"touser": "u", "msgtype": "text", "agentid": 1, "text": {"content": "x"}});
    assert_eq!(h.send(&fresh, &body).await.errcode(), 0);
}

#[tokio::test]
async fn emulator_access_token_missing_or_unknown() {
    let h = Harness::default();
    assert_eq!(h.post(SEND, text("x").to_string()).await.errcode(), 41001);
    assert_eq!(
        h.post(&format!("{SEND}?access_token="), text("x").to_string())
            .await
            .errcode(),
        41001
    );
    assert_eq!(h.send("nope", &text("x")).await.errcode(), 40014);
    // The token is checked before the parameters.
    assert_eq!(
        h.post(&format!("{SEND}?access_token=nope"), "{not json")
            .await
            .errcode(),
        40014
    );
    assert_eq!(h.post(RECALL, r#"{"msgid":"m"}"#).await.errcode(), 41001);
    // A token in the body does not count.
    let token = h.token().await;
    let mut body = text("x");
    body["access_token"] = json!(token);
    assert_eq!(h.post(SEND, body.to_string()).await.errcode(), 41001);
}

// ---------------------------------------------------------------- agents

#[tokio::test]
async fn emulator_agentid_must_belong_to_the_tokens_app() {
    let h = Harness::new(EmulatorConfig {
        apps: vec![
            EmulatorApp {
                secret: "s1".into(),
                agent_id: 1000002,
            },
            EmulatorApp {
                secret: "s2".into(),
                agent_id: 1000003,
            },
        ],
        ..EmulatorConfig::default()
    });
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
        ("template_card", json!({"card_type": "vote_interaction"})),
        (
            "template_card",
            json!({"card_type": "multiple_interaction"}),
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
    let mut card = msg("template_card", json!({"card_type": "button_interaction"}));
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
    let h = Harness::new(EmulatorConfig {
        apps: vec![
            EmulatorApp {
                secret: "s1".into(),
                agent_id: 1,
            },
            EmulatorApp {
                secret: "s2".into(),
                agent_id: 2,
            },
        ],
        ..EmulatorConfig::default()
    });
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

// ---------------------------------------------------------------- fault injection

#[tokio::test]
async fn emulator_fail_next_spares_gettoken_unless_asked() {
    let h = Harness::default();
    h.emu.fail_next(-1, 2, None);
    let token = h.token().await; // not affected
    let first = h.send(&token, &text("a")).await;
    assert_eq!(first.errcode(), -1);
    assert!(first.json()["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("system busy"));
    assert_eq!(h.send(&token, &text("a")).await.errcode(), -1);
    assert_eq!(h.send(&token, &text("a")).await.errcode(), 0);
    // Failed sends are requests but not messages.
    assert_eq!(h.emu.messages().len(), 1);
    assert_eq!(h.emu.requests().len(), 4);

    h.emu.fail_next(45009, 1, Some(GETTOKEN.into()));
    h.emu.fail_next(60020, 1, Some(RECALL.into()));
    assert_eq!(h.send(&token, &text("b")).await.errcode(), 0, "path filter");
    let answer = h
        .get(&format!("{GETTOKEN}?corpid=corp&corpsecret=secret"))
        .await;
    assert_eq!(answer.errcode(), 45009);
    assert_eq!(h.emu.token_requests(), 2);
    assert_eq!(h.token().await, token);
    // The injected error comes before the token check.
    assert_eq!(h.post(RECALL, "{}").await.errcode(), 60020);
    assert_eq!(h.post(RECALL, "{}").await.errcode(), 41001);
}

#[tokio::test]
async fn emulator_fail_next_http() {
    let h = Harness::default();
    let token = h.token().await;
    h.emu.fail_next_http(502, 1, None);
    let answer = h.send(&token, &text("a")).await;
    assert_eq!(answer.status, 502);
    assert!(
        serde_json::from_str::<Value>(&answer.text).is_err(),
        "{}",
        answer.text
    );
    assert!(answer.text.contains("502"));
    assert!(answer.content_type.starts_with("text/html"));
    assert!(h.emu.messages().is_empty());

    h.emu.fail_next_http(503, 1, Some(GETTOKEN.into()));
    assert_eq!(h.send(&token, &text("a")).await.errcode(), 0);
    assert_eq!(
        h.get(&format!("{GETTOKEN}?corpid=corp&corpsecret=secret"))
            .await
            .status,
        503
    );
    assert_eq!(h.emu.messages().len(), 1);
}

#[tokio::test]
async fn emulator_drop_next_closes_the_connection_without_answer() {
    let h = Harness::default();
    let token = h.token().await;
    h.emu.drop_next(1, Some(SEND.into()));
    let err = h
        .http
        .post(h.url(&format!("{SEND}?access_token={token}")))
        .body(text("lost").to_string())
        .send()
        .await
        .expect_err("the connection must die");
    assert!(!err.is_timeout(), "{err:?}");
    let last = h.emu.requests().pop().unwrap();
    assert_eq!(last.path, SEND);
    assert_eq!(
        serde_json::from_str::<Value>(&last.body).unwrap(),
        text("lost")
    );
    assert!(h.emu.messages().is_empty());
    // Only one was dropped.
    assert_eq!(h.send(&token, &text("ok")).await.errcode(), 0);
}

#[tokio::test]
async fn emulator_delay_next_accepts_the_message_but_answers_late() {
    let h = Harness::default();
    let token = h.token().await;
    h.emu
        .delay_next(Duration::from_millis(300), 1, Some(SEND.into()));
    let started = std::time::Instant::now();
    assert_eq!(h.send(&token, &text("late")).await.errcode(), 0);
    assert!(started.elapsed() >= Duration::from_millis(290));
    assert_eq!(h.emu.messages().len(), 1, "accepted although answered late");
    // Only the next one was late.
    let started = std::time::Instant::now();
    assert_eq!(h.send(&token, &text("prompt")).await.errcode(), 0);
    assert!(started.elapsed() < Duration::from_millis(200));
}

/// Writes raw HTTP and returns everything read until the server closes (or 2 s pass).
fn raw_exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "read failed ({e}); got so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    got
}

fn post_request(path: &str, body: &str, close: bool) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{body}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

#[test]
fn emulator_drop_next_sends_no_bytes_and_honours_the_path_filter() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    emu.drop_next(1, Some(RECALL.into()));
    // A send is not affected: it answers (41001 here, without token) and closes as asked.
    let answer = raw_exchange(emu.port(), &post_request(SEND, "{}", true));
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("41001"));
    // The recall is read, recorded, and the connection closed with nothing written. No
    // `Connection: close`: the server, not the client, ends this keep-alive connection.
    let answer = raw_exchange(emu.port(), &post_request(RECALL, r#"{"msgid":"m"}"#, false));
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    let requests = emu.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].path, RECALL);
    assert_eq!(requests[1].body, r#"{"msgid":"m"}"#);
}

#[tokio::test]
async fn emulator_fault_queues_drop_then_http_then_errcode() {
    let h = Harness::default();
    let token = h.token().await;
    h.emu.fail_next(-1, 1, None);
    h.emu.fail_next_http(500, 1, None);
    h.emu.drop_next(1, None);
    assert!(h
        .http
        .post(h.url(&format!("{SEND}?access_token={token}")))
        .body(text("a").to_string())
        .send()
        .await
        .is_err());
    assert_eq!(h.send(&token, &text("a")).await.status, 500);
    assert_eq!(h.send(&token, &text("a")).await.errcode(), -1);
    assert_eq!(h.send(&token, &text("a")).await.errcode(), 0);
    assert_eq!(h.emu.requests().len(), 5);
}

// ---------------------------------------------------------------- latency, HTTP, lifecycle

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn emulator_latency_overlaps_across_concurrent_requests() {
    let h = Harness::default();
    let token = h.token().await;
    h.emu.set_latency(Duration::from_millis(50));

    let single = Instant::now();
    assert_eq!(h.send(&token, &text("slow")).await.errcode(), 0);
    assert!(
        single.elapsed() >= Duration::from_millis(50),
        "latency applied"
    );

    let started = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let http = h.http.clone();
            let url = h.url(&format!("{SEND}?access_token={token}"));
            let body = text(&format!("m{i}")).to_string();
            tokio::spawn(async move {
                let response = http.post(url).body(body).send().await.unwrap();
                let v: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                v["errcode"].as_i64().unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 0);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(400),
        "requests did not overlap: {elapsed:?}"
    );
    assert_eq!(h.emu.messages().len(), 65);

    h.emu.set_latency(Duration::ZERO);
    let fast = Instant::now();
    h.send(&token, &text("fast")).await;
    assert!(fast.elapsed() < Duration::from_millis(50));
}

#[tokio::test]
async fn emulator_http_level_errors() {
    let h = Harness::default();
    let token = h.token().await;
    let unknown = h
        .get(&format!("/cgi-bin/user/get?access_token={token}"))
        .await;
    assert_eq!(unknown.status, 404);
    let wrong_method = h.get(&format!("{SEND}?access_token={token}")).await;
    assert_eq!(wrong_method.status, 405);
    let wrong_method = h
        .post(&format!("{GETTOKEN}?corpid=corp&corpsecret=secret"), "")
        .await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(h.emu.requests().len(), 4);
}

#[test]
fn emulator_refuses_bodies_over_25_mb() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let head = format!(
        "POST {SEND}?access_token=t HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        26 * 1024 * 1024
    );
    let answer = String::from_utf8(raw_exchange(emu.port(), head.as_bytes())).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(emu.requests().len(), 1);
}

#[test]
fn emulator_keeps_connections_alive() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", emu.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let request =
        format!("GET {GETTOKEN}?corpid=corp&corpsecret=secret HTTP/1.1\r\nHost: x\r\n\r\n");
    for _ in 0..3 {
        stream.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("access_token"), "{answer}");
    }
    assert_eq!(emu.token_requests(), 3);
    // stop() closes open keep-alive connections too.
    emu.stop();
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[tokio::test]
async fn emulator_records_requests_and_clear_forgets_them() {
    let h = Harness::default();
    let token = h.token().await;
    h.send(&token, &text("x")).await;
    h.get("/nowhere?a=b%20c&x=%E4%BD%A0&a=2").await;

    let requests = h.emu.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, GETTOKEN);
    assert_eq!(requests[0].query_param("corpsecret"), Some("secret"));
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].path, SEND);
    assert_eq!(
        requests[1].query,
        vec![("access_token".to_owned(), token.clone())]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&requests[1].body).unwrap(),
        text("x")
    );
    assert_eq!(
        requests[2].query,
        vec![
            ("a".to_owned(), "b c".to_owned()),
            ("x".to_owned(), "你".to_owned()),
            ("a".to_owned(), "2".to_owned()),
        ]
    );

    h.emu.fail_next(-1, 1, None);
    h.emu.clear();
    assert!(h.emu.requests().is_empty());
    assert!(h.emu.messages().is_empty());
    assert_eq!(h.emu.token_requests(), 0);
    // Tokens and pending faults survive clear().
    assert_eq!(h.send(&token, &text("y")).await.errcode(), -1);
    assert_eq!(h.send(&token, &text("y")).await.errcode(), 0);
}

#[test]
fn emulator_stop_closes_the_port_and_drop_stops_too() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let port = emu.port();
    assert_eq!(emu.base_url(), format!("http://127.0.0.1:{port}"));
    TcpStream::connect(("127.0.0.1", port)).expect("listening after start");
    emu.stop();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    emu.stop(); // idempotent
    drop(emu);

    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let port = emu.port();
    drop(emu);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn emulator_listens_on_a_chosen_port() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emu = Emulator::start(EmulatorConfig {
        port: free,
        ..EmulatorConfig::default()
    })
    .unwrap();
    assert_eq!(emu.port(), free);
    // The port is taken now: a second emulator on it fails cleanly.
    let again = Emulator::start(EmulatorConfig {
        port: free,
        ..EmulatorConfig::default()
    });
    assert!(again.is_err());
}
