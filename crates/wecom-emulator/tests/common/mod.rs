//! What the emulator's tests share: a harness that drives it over real HTTP on 127.0.0.1 with
//! reqwest (and raw sockets where the behaviour under test is below HTTP), and builders of
//! requests and multipart bodies. Each test file uses part of it.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};
use wecom_emulator::{Emulator, EmulatorApp, EmulatorConfig};

pub const GETTOKEN: &str = "/cgi-bin/gettoken";
pub const SEND: &str = "/cgi-bin/message/send";
pub const RECALL: &str = "/cgi-bin/message/recall";
pub const AGENT: i64 = 1000002;

pub struct Harness {
    pub emu: Emulator,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn errcode(&self) -> i64 {
        assert_eq!(self.status, 200, "body: {}", self.text);
        self.json()["errcode"].as_i64().expect("errcode")
    }
}

impl Harness {
    pub fn new(config: EmulatorConfig) -> Harness {
        Harness {
            emu: Emulator::start(config).expect("emulator starts"),
            // no_proxy: a proxy from the environment must not sit between us and 127.0.0.1.
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    pub fn default() -> Harness {
        Harness::new(EmulatorConfig::default())
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.emu.base_url(), path_and_query)
    }

    pub async fn answer(&self, response: reqwest::Response) -> Answer {
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

    pub async fn get(&self, path_and_query: &str) -> Answer {
        let response = self
            .http
            .get(self.url(path_and_query))
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub async fn post(&self, path_and_query: &str, body: impl Into<reqwest::Body>) -> Answer {
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

    pub async fn token_for(&self, secret: &str) -> String {
        let answer = self
            .get(&format!("{GETTOKEN}?corpid=corp&corpsecret={secret}"))
            .await;
        assert_eq!(answer.errcode(), 0, "{}", answer.text);
        answer.json()["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn token(&self) -> String {
        self.token_for("secret").await
    }

    pub async fn send(&self, token: &str, body: &Value) -> Answer {
        self.post(&format!("{SEND}?access_token={token}"), body.to_string())
            .await
    }
}

pub fn text(content: &str) -> Value {
    json!({"touser": "u1", "msgtype": "text", "agentid": AGENT, "text": {"content": content}})
}

/// A message of `msgtype` with `body` under its key, to user u1 from the default app.
pub fn msg(msgtype: &str, body: Value) -> Value {
    json!({"touser": "u1", "msgtype": msgtype, "agentid": AGENT, msgtype: body})
}

/// A corp with two apps: secret "s1" with agent id `first`, "s2" with `second`.
pub fn two_apps(first: i64, second: i64) -> EmulatorConfig {
    let app = |secret: &str, agent_id| EmulatorApp {
        secret: secret.into(),
        agent_id,
    };
    EmulatorConfig {
        apps: vec![app("s1", first), app("s2", second)],
        ..EmulatorConfig::default()
    }
}

pub fn set(ids: &[&str]) -> Option<HashSet<String>> {
    Some(ids.iter().map(|s| s.to_string()).collect())
}

pub fn raw_exchange(port: u16, request: &[u8]) -> Vec<u8> {
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

pub fn post_request(path: &str, body: &str, close: bool) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{body}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

pub const UPLOAD: &str = "/cgi-bin/media/upload";
pub const ROBOT_SEND: &str = "/cgi-bin/webhook/send";
pub const ROBOT_UPLOAD: &str = "/cgi-bin/webhook/upload_media";
pub const CHAT_CREATE: &str = "/cgi-bin/appchat/create";
pub const CHAT_UPDATE: &str = "/cgi-bin/appchat/update";
pub const CHAT_GET: &str = "/cgi-bin/appchat/get";
pub const CHAT_SEND: &str = "/cgi-bin/appchat/send";

pub const BOUNDARY: &str = "----wecom-test-7MA4YWxkTrZu0gW";
pub const MB: usize = 1024 * 1024;
/// A tiny "image": its md5 and base64 come from Python's hashlib and base64.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake";
pub const PNG_MD5: &str = "dc7b97b363d63f0eb8d4686afa2bc39b";
pub const PNG_BASE64: &str = "iVBORw0KGgpmYWtl";

/// One part of a hand-built multipart/form-data body.
pub struct FormPart<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

pub fn multipart(parts: &[FormPart]) -> Vec<u8> {
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
pub fn media_form(filename: &str, data: &[u8]) -> Vec<u8> {
    multipart(&[FormPart {
        name: "media",
        filename: Some(filename),
        content_type: Some("application/octet-stream"),
        data,
    }])
}

pub fn base64_encode(data: &[u8]) -> String {
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

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Harness {
    pub async fn post_form(&self, path_and_query: &str, body: Vec<u8>) -> Answer {
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

    pub async fn upload(&self, token: &str, kind: &str, filename: &str, data: &[u8]) -> Answer {
        self.post_form(
            &format!("{UPLOAD}?access_token={token}&type={kind}"),
            media_form(filename, data),
        )
        .await
    }

    pub async fn robot_upload(&self, key: &str, kind: &str, filename: &str, data: &[u8]) -> Answer {
        self.post_form(
            &format!("{ROBOT_UPLOAD}?key={key}&type={kind}"),
            media_form(filename, data),
        )
        .await
    }

    pub async fn robot(&self, key: &str, body: &Value) -> Answer {
        self.post(&format!("{ROBOT_SEND}?key={key}"), body.to_string())
            .await
    }

    pub async fn chat_call(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.post(&format!("{path}?access_token={token}"), body.to_string())
            .await
    }
}
