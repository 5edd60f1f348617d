//! A callback POST body as it arrives, before anything is trusted: the size limit, the envelope's
//! XML (no DTDs, no entities), its `<Encrypt>`, the signature check; and the XML parser alone.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use wecom_callback::{parse_message, Keys, Query};

fuzz_target!(|body: &[u8]| {
    let keys = Keys::new(
        "QDG6eK",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c7",
    )
    .unwrap();
    let query = Query {
        msg_signature: "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
        timestamp: "1409659589",
        nonce: "263014780",
        echostr: None,
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_409_659_589);
    let _ = keys.open(&query, body, now, Duration::from_secs(300));
    let _ = keys.open_reply(body);
    if let Ok(tree) = parse_message(body) {
        // Whatever parses must write back out.
        let _ = wecom_callback::write_xml(&tree);
    }
});
