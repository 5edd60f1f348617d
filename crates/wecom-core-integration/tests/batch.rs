//! `send_batch` against the emulator: bounded concurrency, input order, the 45009 pause.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wecom_core::{BatchOptions, Client, Config, Context, Message, Recipients, SendOptions};
use wecom_emulator::{Emulator, EmulatorConfig};

fn text(content: &str, user: &str) -> Message {
    Message {
        msgtype: "text".into(),
        body: json!({ "content": content }),
        recipients: Recipients {
            users: vec![user.into()],
            ..Recipients::default()
        },
        options: SendOptions::default(),
    }
}

fn client(emulator: &Emulator) -> Client {
    let mut config = Config::new("corp", "secret", 1000002);
    config.connection.base_url = emulator.base_url();
    config.connection.retry_base_delay = Duration::from_millis(1);
    Client::new(config).unwrap()
}

#[tokio::test]
async fn results_come_back_in_input_order_with_bounded_concurrency() {
    let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
    emulator.set_latency(Duration::from_millis(20));
    let context = Context::new(Arc::default());
    let messages: Vec<_> = (0..40).map(|i| text(&format!("m{i}"), "u")).collect();
    let options = BatchOptions {
        concurrency: 8,
        ..BatchOptions::default()
    };
    let results = client(&emulator)
        .send_batch(&context, messages, options)
        .await;
    assert_eq!(results.len(), 40);
    assert!(results.iter().all(|r| r.is_ok()));
    assert!(
        emulator.max_in_flight() <= 8,
        "{}",
        emulator.max_in_flight()
    );
    assert!(
        emulator.max_in_flight() >= 4,
        "{}",
        emulator.max_in_flight()
    );
    assert_eq!(emulator.token_requests(), 1);
    let mut contents: Vec<String> = emulator
        .messages()
        .iter()
        .map(|m| m["text"]["content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort_by_key(|c| c[1..].parse::<u32>().unwrap());
    assert_eq!(
        contents,
        (0..40).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    emulator.stop();
}

#[tokio::test]
async fn a_rate_limit_pauses_the_batch_and_then_it_goes_on() {
    let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
    let context = Context::new(Arc::default());
    let client = client(&emulator);
    client.access_token(&context).await.unwrap();
    emulator.fail_next(45009, 1, None);
    let options = BatchOptions {
        concurrency: 1,
        rate_limit_pause: Duration::from_millis(200),
    };
    let started = Instant::now();
    let messages = (0..3).map(|i| text(&format!("m{i}"), "u")).collect();
    let results = client.send_batch(&context, messages, options).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(emulator.messages().len(), 3);
    emulator.stop();
}
