//! Everything after a valid signature: the input is the decrypted frame itself (random ‖ length ‖
//! message ‖ receive id, and the padding), encrypted here and correctly signed, so the fuzzer
//! reaches the padding and length checks, the receive-id check and the message's XML parser.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use aes::cipher::{block_padding::NoPadding, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use wecom_callback::{Keys, Query};

const TOKEN: &str = "QDG6eK";
const ENCODING_AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const TIMESTAMP: &str = "1409659589";
const NONCE: &str = "263014780";

fuzz_target!(|frame: &[u8]| {
    // The frame's tail is the padding: the fuzzer chooses it; zeros only fill the last block.
    let mut plaintext = frame.to_vec();
    plaintext.resize(frame.len().div_ceil(16).max(1) * 16, 0);
    // An EncodingAESKey is 43 characters whose last carries spare bits: `=` appended, as WeCom says.
    let key = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    )
    .decode(format!("{ENCODING_AES_KEY}="))
    .unwrap();
    let length = plaintext.len();
    let ciphertext = cbc::Encryptor::<aes::Aes256>::new(key[..].into(), key[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut plaintext, length)
        .unwrap()
        .to_vec();
    let encrypt = base64::engine::general_purpose::STANDARD.encode(ciphertext);

    let keys = Keys::new(TOKEN, ENCODING_AES_KEY, "wx5823bf96d3bd56c7").unwrap();
    let signature = keys.signature(TIMESTAMP, NONCE, &encrypt);
    let body = format!("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>");
    let query = Query {
        msg_signature: &signature,
        timestamp: TIMESTAMP,
        nonce: NONCE,
        echostr: Some(&encrypt),
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_409_659_589);
    let _ = keys.open(&query, body.as_bytes(), now, Duration::from_secs(300));
    let _ = keys.verify_url(&query, now, Duration::from_secs(300));
});
