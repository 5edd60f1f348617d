//! `gettoken`, and the `access_token` check every app API starts with.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use wecom_emulator::EmulatorConfig;

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
