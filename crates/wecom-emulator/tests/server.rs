//! What is not one endpoint: HTTP-level errors, the body limit, keep-alive, the request record
//! and `clear`, starting and stopping.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use wecom_emulator::{Emulator, EmulatorConfig};

#[tokio::test]
async fn emulator_http_level_errors() {
    let h = Harness::default();
    let token = h.token().await;
    let unknown = h
        .get(&format!("/cgi-bin/no/such/api?access_token={token}"))
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
