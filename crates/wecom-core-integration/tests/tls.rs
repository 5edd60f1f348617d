//! wecom-core over HTTPS to the emulator (`Emulator::start_https`): `ca_file` adds the test's
//! CA to the roots, and without it the certificate is refused with `Error::Certificate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wecom_core::config::CaFile;
use wecom_core::{Client, Config, Context, Error, Message, Recipients, SendOptions};
use wecom_emulator::{Emulator, EmulatorConfig};

/// A fresh directory with `ca.pem` and `server.pem`/`server.key` for 127.0.0.1 signed by it.
fn certificates(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wecom-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    dir
}

fn client(emulator: &Emulator, ca_file: Option<&Path>) -> Client {
    let mut config = Config::new("corp", "secret", 1000002);
    config.connection.base_url = emulator.base_url();
    config.connection.retry_base_delay = Duration::from_millis(1);
    config.connection.ca_file = ca_file.map(|path| CaFile::load(path.to_str().unwrap()).unwrap());
    Client::new(config).unwrap()
}

fn text(content: &str) -> Message {
    Message {
        msgtype: "text".into(),
        body: json!({ "content": content }),
        recipients: Recipients {
            users: vec!["u".into()],
            ..Recipients::default()
        },
        options: SendOptions::default(),
    }
}

#[tokio::test]
async fn sends_over_https_trusting_ca_file_and_refuses_the_certificate_without_it() {
    let dir = certificates("send");
    let emulator = Emulator::start_https(
        EmulatorConfig::default(),
        &dir.join("server.pem"),
        &dir.join("server.key"),
    )
    .unwrap();
    assert!(emulator.base_url().starts_with("https://127.0.0.1:"));
    let context = Context::new(Arc::default());

    let trusted = client(&emulator, Some(&dir.join("ca.pem")));
    trusted.send(&context, &text("over TLS")).await.unwrap();
    assert_eq!(emulator.messages()[0]["text"]["content"], "over TLS");

    let error = client(&emulator, None)
        .send(&context, &text("refused"))
        .await
        .unwrap_err();
    let Error::Certificate { message, path } = &error else {
        panic!("{error:?}")
    };
    // The token is cached (per credentials), so the send was the first request refused.
    assert_eq!(path, "/cgi-bin/message/send");
    assert!(
        message.contains("UnknownIssuer") && message.contains("ca_file"),
        "{message}"
    );
    // Not retried, and nothing reached the emulator over the untrusted client.
    assert_eq!(emulator.token_requests(), 1);
    assert_eq!(emulator.messages().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn start_https_names_the_file_that_is_wrong() {
    let dir = certificates("files");
    let start = |cert: &str, key: &str| {
        Emulator::start_https(EmulatorConfig::default(), &dir.join(cert), &dir.join(key))
            .unwrap_err()
            .to_string()
    };
    let missing = start("nope.pem", "server.key");
    assert!(missing.contains("nope.pem cannot be read"), "{missing}");
    let no_key = start("server.pem", "ca.pem");
    assert!(
        no_key.contains("ca.pem holds no usable private key"),
        "{no_key}"
    );
    let no_cert = start("server.key", "server.key");
    assert!(no_cert.contains("holds no certificate"), "{no_cert}");
    std::fs::remove_dir_all(&dir).unwrap();
}
