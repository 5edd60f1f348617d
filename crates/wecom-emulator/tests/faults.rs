//! Injected faults (`fail_next`, `fail_next_http`, `drop_next`, `delay_next`) and latency.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use wecom_emulator::{Emulator, EmulatorConfig};

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
