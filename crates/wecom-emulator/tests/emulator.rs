//! The emulator over real HTTP on 127.0.0.1, driven by reqwest (and raw sockets where the
//! behaviour under test is below HTTP).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wecom_emulator::{
    Chat, Emulator, EmulatorApp, EmulatorConfig, MediaKind, RobotMessage, Uploader,
};

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

/// A corp with two apps: secret "s1" with agent id `first`, "s2" with `second`.
fn two_apps(first: i64, second: i64) -> EmulatorConfig {
    let app = |secret: &str, agent_id| EmulatorApp {
        secret: secret.into(),
        agent_id,
    };
    EmulatorConfig {
        apps: vec![app("s1", first), app("s2", second)],
        ..EmulatorConfig::default()
    }
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
    let h = Harness::new(two_apps(1, 2));
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

// ---------------------------------------------------------------- media upload

const UPLOAD: &str = "/cgi-bin/media/upload";
const ROBOT_SEND: &str = "/cgi-bin/webhook/send";
const ROBOT_UPLOAD: &str = "/cgi-bin/webhook/upload_media";
const CHAT_CREATE: &str = "/cgi-bin/appchat/create";
const CHAT_UPDATE: &str = "/cgi-bin/appchat/update";
const CHAT_GET: &str = "/cgi-bin/appchat/get";
const CHAT_SEND: &str = "/cgi-bin/appchat/send";

const BOUNDARY: &str = "----wecom-test-7MA4YWxkTrZu0gW";
const MB: usize = 1024 * 1024;
/// A tiny "image": its md5 and base64 come from Python's hashlib and base64.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake";
const PNG_MD5: &str = "dc7b97b363d63f0eb8d4686afa2bc39b";
const PNG_BASE64: &str = "iVBORw0KGgpmYWtl";

/// One part of a hand-built multipart/form-data body.
struct FormPart<'a> {
    name: &'a str,
    filename: Option<&'a str>,
    content_type: Option<&'a str>,
    data: &'a [u8],
}

fn multipart(parts: &[FormPart]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = part.filename {
            disposition += &format!("; filename=\"{filename}\"; filelength={}", part.data.len());
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A body with one `media` file part, as WeCom expects.
fn media_form(filename: &str, data: &[u8]) -> Vec<u8> {
    multipart(&[FormPart {
        name: "media",
        filename: Some(filename),
        content_type: Some("application/octet-stream"),
        data,
    }])
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(group >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Harness {
    async fn post_form(&self, path_and_query: &str, body: Vec<u8>) -> Answer {
        let response = self
            .http
            .post(self.url(path_and_query))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    async fn upload(&self, token: &str, kind: &str, filename: &str, data: &[u8]) -> Answer {
        self.post_form(
            &format!("{UPLOAD}?access_token={token}&type={kind}"),
            media_form(filename, data),
        )
        .await
    }

    async fn robot_upload(&self, key: &str, kind: &str, filename: &str, data: &[u8]) -> Answer {
        self.post_form(
            &format!("{ROBOT_UPLOAD}?key={key}&type={kind}"),
            media_form(filename, data),
        )
        .await
    }

    async fn robot(&self, key: &str, body: &Value) -> Answer {
        self.post(&format!("{ROBOT_SEND}?key={key}"), body.to_string())
            .await
    }

    async fn chat_call(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.post(&format!("{path}?access_token={token}"), body.to_string())
            .await
    }
}

#[test]
fn emulator_base64_encode_helper_matches_rfc_4648() {
    assert_eq!(base64_encode(b""), "");
    assert_eq!(base64_encode(b"f"), "Zg==");
    assert_eq!(base64_encode(b"fo"), "Zm8=");
    assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64_encode(PNG), PNG_BASE64);
}

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

// ---------------------------------------------------------------- app group chats

#[tokio::test]
async fn emulator_appchat_create_get_update_send() {
    let h = Harness::default();
    let token = h.token().await;
    let created = h
        .chat_call(
            CHAT_CREATE,
            &token,
            &json!({"name": "Ops", "owner": "u2", "userlist": ["u1", "u2", "u1"], "chatid": "ops1"}),
        )
        .await;
    assert_eq!(created.errcode(), 0, "{}", created.text);
    assert_eq!(created.json()["chatid"], "ops1");

    let got = h
        .get(&format!("{CHAT_GET}?access_token={token}&chatid=ops1"))
        .await;
    assert_eq!(got.errcode(), 0);
    assert_eq!(
        got.json()["chat_info"],
        json!({"chatid": "ops1", "name": "Ops", "owner": "u2", "userlist": ["u1", "u2"]})
    );

    let updated = h
        .chat_call(
            CHAT_UPDATE,
            &token,
            &json!({"chatid": "ops1", "name": "Ops 2", "owner": "u3",
                    "add_user_list": ["u3", "u1"], "del_user_list": ["u2", "nobody"]}),
        )
        .await;
    assert_eq!(updated.errcode(), 0, "{}", updated.text);
    assert_eq!(
        h.emu.chats(),
        vec![Chat {
            chat_id: "ops1".into(),
            name: "Ops 2".into(),
            owner: "u3".into(),
            users: vec!["u1".into(), "u3".into()],
        }]
    );
    // Fields left out stay as they are.
    let renamed_only = json!({"chatid": "ops1", "name": ""});
    assert_eq!(
        h.chat_call(CHAT_UPDATE, &token, &renamed_only)
            .await
            .errcode(),
        0
    );
    assert_eq!(h.emu.chats()[0].name, "Ops 2");

    let text = json!({"chatid": "ops1", "msgtype": "text", "text": {"content": "hi"}, "safe": 0});
    let sent = h.chat_call(CHAT_SEND, &token, &text).await;
    assert_eq!(sent.errcode(), 0, "{}", sent.text);
    assert_eq!(sent.json()["errmsg"], "ok");
    assert_eq!(h.emu.chat_messages(), vec![text]);
    // Chat messages are not app messages.
    assert!(h.emu.messages().is_empty());
}

#[tokio::test]
async fn emulator_appchat_generates_a_chatid_and_an_owner() {
    let h = Harness::default();
    let token = h.token().await;
    let long_name = "群".repeat(60);
    let created = h
        .chat_call(
            CHAT_CREATE,
            &token,
            &json!({"name": long_name, "userlist": ["u1", "u2"]}),
        )
        .await;
    assert_eq!(created.errcode(), 0, "{}", created.text);
    let chat_id = created.json()["chatid"].as_str().unwrap().to_owned();
    assert_eq!(chat_id.len(), 32);
    assert!(
        chat_id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{chat_id}"
    );
    let chat = &h.emu.chats()[0];
    assert_eq!(chat.chat_id, chat_id);
    assert_eq!(chat.owner, "u1", "the first member owns it");
    assert_eq!(
        chat.name,
        "群".repeat(50),
        "the name is cut to 50 characters"
    );

    let again = h
        .chat_call(
            CHAT_CREATE,
            &token,
            &json!({"userlist": ["u1", "u2"], "chatid": ""}),
        )
        .await;
    assert_eq!(again.errcode(), 0);
    assert_ne!(again.json()["chatid"], chat_id.as_str());
    assert_eq!(h.emu.chats()[1].name, "");
}

#[tokio::test]
async fn emulator_appchat_create_errors() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["u1", "u2", "u3"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    let ok = json!({"chatid": "taken", "userlist": ["u1", "u2"]});
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &ok).await.errcode(), 0);
    let too_many: Vec<String> = (0..2001).map(|i| format!("u{i}")).collect();
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "chatid taken",
            json!({"chatid": "taken", "userlist": ["u1", "u3"]}),
            86215,
        ),
        (
            "chatid with a dash",
            json!({"chatid": "a-b", "userlist": ["u1", "u2"]}),
            86001,
        ),
        (
            "chatid not a string",
            json!({"chatid": 7, "userlist": ["u1", "u2"]}),
            86001,
        ),
        (
            "chatid of 33 characters",
            json!({"chatid": "a".repeat(33), "userlist": ["u1", "u2"]}),
            86205,
        ),
        (
            "name not a string",
            json!({"name": 1, "userlist": ["u1", "u2"]}),
            86004,
        ),
        ("no userlist", json!({"name": "n"}), 86204),
        ("userlist not a list", json!({"userlist": "u1|u2"}), 86007),
        (
            "userlist with an empty id",
            json!({"userlist": ["u1", ""]}),
            86007,
        ),
        ("one member", json!({"userlist": ["u1"]}), 86006),
        ("one member twice", json!({"userlist": ["u1", "u1"]}), 86006),
        ("2001 members", json!({ "userlist": too_many }), 86006),
        (
            "member outside the directory",
            json!({"userlist": ["u1", "ghost"]}),
            86216,
        ),
        (
            "owner not a member",
            json!({"owner": "u3", "userlist": ["u1", "u2"]}),
            86207,
        ),
        (
            "owner not a string",
            json!({"owner": 3, "userlist": ["u1", "u2"]}),
            86005,
        ),
    ];
    for (case, body, code) in cases {
        assert_eq!(
            h.chat_call(CHAT_CREATE, &token, &body).await.errcode(),
            code,
            "{case}"
        );
    }
    let url = format!("{CHAT_CREATE}?access_token={token}");
    assert_eq!(h.post(&url, " ").await.errcode(), 44002);
    assert_eq!(h.post(&url, "[]").await.errcode(), 47001);
    assert_eq!(h.emu.chats().len(), 1);

    // 2000 members is allowed (with no directory).
    let open = Harness::default();
    let token = open.token().await;
    let members: Vec<String> = (0..2000).map(|i| format!("u{i}")).collect();
    let body = json!({ "userlist": members });
    assert_eq!(
        open.chat_call(CHAT_CREATE, &token, &body).await.errcode(),
        0
    );
    assert_eq!(open.emu.chats()[0].users.len(), 2000);
}

#[tokio::test]
async fn emulator_appchat_update_errors_change_nothing() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["u1", "u2", "u3"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    let create = json!({"chatid": "c1", "name": "n", "owner": "u1", "userlist": ["u1", "u2"]});
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &create).await.errcode(), 0);
    let before = h.emu.chats();
    let cases: Vec<(&str, Value, i64)> = vec![
        ("no chatid", json!({"name": "x"}), 86201),
        (
            "unknown chatid",
            json!({"chatid": "nope", "name": "x"}),
            86003,
        ),
        (
            "removing down to one member",
            json!({"chatid": "c1", "name": "x", "del_user_list": ["u2"]}),
            86006,
        ),
        (
            "removing the owner without a new one",
            json!({"chatid": "c1", "add_user_list": ["u3"], "del_user_list": ["u1"]}),
            86207,
        ),
        (
            "an owner who is not a member",
            json!({"chatid": "c1", "owner": "u3"}),
            86207,
        ),
        (
            "adding someone outside the directory",
            json!({"chatid": "c1", "name": "x", "add_user_list": ["ghost"]}),
            86216,
        ),
        (
            "add_user_list not a list",
            json!({"chatid": "c1", "add_user_list": "u3"}),
            86007,
        ),
        (
            "name not a string",
            json!({"chatid": "c1", "name": ["x"]}),
            86004,
        ),
    ];
    for (case, body, code) in cases {
        assert_eq!(
            h.chat_call(CHAT_UPDATE, &token, &body).await.errcode(),
            code,
            "{case}"
        );
    }
    assert_eq!(h.emu.chats(), before);

    // Handing over and leaving in one update works.
    let handover =
        json!({"chatid": "c1", "owner": "u2", "del_user_list": ["u1"], "add_user_list": ["u3"]});
    assert_eq!(
        h.chat_call(CHAT_UPDATE, &token, &handover).await.errcode(),
        0
    );
    let chat = &h.emu.chats()[0];
    assert_eq!(
        (chat.owner.as_str(), chat.users.clone()),
        ("u2", vec!["u2".to_owned(), "u3".to_owned()])
    );
}

#[tokio::test]
async fn emulator_appchat_get_and_send_errors() {
    let h = Harness::default();
    let token = h.token().await;
    let create = json!({"chatid": "c1", "userlist": ["u1", "u2"]});
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &create).await.errcode(), 0);

    assert_eq!(
        h.get(&format!("{CHAT_GET}?access_token={token}"))
            .await
            .errcode(),
        86201
    );
    assert_eq!(
        h.get(&format!("{CHAT_GET}?access_token={token}&chatid=nope"))
            .await
            .errcode(),
        86003
    );
    let wrong_method = h
        .post(&format!("{CHAT_GET}?access_token={token}&chatid=c1"), "{}")
        .await;
    assert_eq!(wrong_method.status, 405);

    let to_c1 =
        |msgtype: &str, body: Value| json!({"chatid": "c1", "msgtype": msgtype, msgtype: body});
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "no chatid",
            json!({"msgtype": "text", "text": {"content": "x"}}),
            86201,
        ),
        (
            "unknown chat",
            json!({"chatid": "nope", "msgtype": "text", "text": {"content": "x"}}),
            86003,
        ),
        (
            "template_card",
            to_c1("template_card", json!({"card_type": "text_notice"})),
            40008,
        ),
        (
            "miniprogram_notice",
            to_c1("miniprogram_notice", json!({"appid": "a", "title": "t"})),
            40008,
        ),
        (
            "no msgtype",
            json!({"chatid": "c1", "text": {"content": "x"}}),
            40008,
        ),
        ("empty text", to_c1("text", json!({"content": ""})), 44004),
        (
            "text over 2048 bytes",
            to_c1("text", json!({"content": "x".repeat(2049)})),
            45002,
        ),
        ("image without media_id", to_c1("image", json!({})), 40007),
        (
            "textcard without url",
            to_c1("textcard", json!({"title": "t", "description": "d"})),
            40058,
        ),
        (
            "news without articles",
            to_c1("news", json!({"articles": []})),
            40058,
        ),
    ];
    for (case, body, code) in cases {
        assert_eq!(
            h.chat_call(CHAT_SEND, &token, &body).await.errcode(),
            code,
            "{case}"
        );
    }
    assert!(h.emu.chat_messages().is_empty());

    let accepted = [
        to_c1("text", json!({"content": "x"})),
        to_c1("image", json!({"media_id": "made-up"})),
        to_c1("voice", json!({"media_id": "m"})),
        to_c1("video", json!({"media_id": "m", "title": "t"})),
        to_c1("file", json!({"media_id": "m"})),
        to_c1(
            "textcard",
            json!({"title": "t", "description": "d", "url": "https://e.com"}),
        ),
        to_c1(
            "news",
            json!({"articles": [{"title": "t", "url": "https://e.com"}]}),
        ),
        to_c1(
            "mpnews",
            json!({"articles": [{"title": "t", "thumb_media_id": "m", "content": "c"}]}),
        ),
        to_c1("markdown", json!({"content": "**x**"})),
    ];
    for body in &accepted {
        let answer = h.chat_call(CHAT_SEND, &token, body).await;
        assert_eq!(answer.errcode(), 0, "{body}: {}", answer.text);
    }
    assert_eq!(h.emu.chat_messages(), accepted.to_vec());
}

#[tokio::test]
async fn emulator_appchat_checks_the_token_and_chats_are_shared_by_the_corp() {
    let h = Harness::new(two_apps(1, 2));
    let create = json!({"chatid": "c1", "userlist": ["u1", "u2"]});
    for path in [CHAT_CREATE, CHAT_UPDATE, CHAT_SEND] {
        assert_eq!(
            h.post(path, create.to_string()).await.errcode(),
            41001,
            "{path}"
        );
        assert_eq!(
            h.chat_call(path, "nope", &create).await.errcode(),
            40014,
            "{path}"
        );
    }
    assert_eq!(
        h.get(&format!("{CHAT_GET}?chatid=c1")).await.errcode(),
        41001
    );
    assert!(h.emu.chats().is_empty());

    let t1 = h.token_for("s1").await;
    let t2 = h.token_for("s2").await;
    assert_eq!(h.chat_call(CHAT_CREATE, &t1, &create).await.errcode(), 0);
    assert_eq!(
        h.chat_call(CHAT_CREATE, &t2, &create).await.errcode(),
        86215
    );
    let text = json!({"chatid": "c1", "msgtype": "text", "text": {"content": "x"}});
    assert_eq!(h.chat_call(CHAT_SEND, &t2, &text).await.errcode(), 0);
    assert_eq!(
        h.get(&format!("{CHAT_GET}?access_token={t2}&chatid=c1"))
            .await
            .errcode(),
        0
    );
}

// ---------------------------------------------------------------- clear

#[tokio::test]
async fn emulator_clear_forgets_uploads_robot_messages_and_chats() {
    let h = Harness::default();
    let token = h.token().await;
    let upload = h.robot_upload("k", "file", "a.txt", PNG).await;
    let media_id = upload.json()["media_id"].as_str().unwrap().to_owned();
    let file = json!({"msgtype": "file", "file": {"media_id": media_id}});
    assert_eq!(h.robot("k", &file).await.errcode(), 0);
    let create = json!({"chatid": "c1", "userlist": ["u1", "u2"]});
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &create).await.errcode(), 0);
    let text = json!({"chatid": "c1", "msgtype": "text", "text": {"content": "x"}});
    assert_eq!(h.chat_call(CHAT_SEND, &token, &text).await.errcode(), 0);

    h.emu.clear();
    assert!(h.emu.uploads().is_empty());
    assert!(h.emu.robot_messages().is_empty());
    assert!(h.emu.chats().is_empty());
    assert!(h.emu.chat_messages().is_empty());
    // Forgotten media and chats are unknown from now on.
    assert_eq!(h.robot("k", &file).await.errcode(), 40007);
    assert_eq!(h.chat_call(CHAT_SEND, &token, &text).await.errcode(), 86003);
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &create).await.errcode(), 0);
}
