//! The official vectors of wecom-api.md: path/90968 and Tencent's callback/Sample.py.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wecom_callback::{ErrorKind, Keys, Query};

const DOC_TOKEN: &str = "QDG6eK";
const DOC_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const DOC_RECEIVE_ID: &str = "wx5823bf96d3bd56c7";
const DOC_TIMESTAMP: &str = "1409659589";
const DOC_NONCE: &str = "263014780";
const DOC_ECHOSTR: &str =
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
const DOC_SIGNATURE: &str = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3";

const SAMPLE_TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
const SAMPLE_KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";
const SAMPLE_RECEIVE_ID: &str = "ww1436e0e65a779aee";
const SAMPLE_TIMESTAMP: &str = "1476416373";
const SAMPLE_NONCE: &str = "47744683";
const SAMPLE_ECHOSTR: &str =
    "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==";
const SAMPLE_SIGNATURE: &str = "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb";

fn at(timestamp: &str) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(timestamp.parse().unwrap())
}

#[test]
fn doc_vector_signature_matches() {
    let keys = Keys::new(DOC_TOKEN, DOC_KEY, DOC_RECEIVE_ID).unwrap();
    assert_eq!(
        keys.signature(DOC_TIMESTAMP, DOC_NONCE, DOC_ECHOSTR),
        DOC_SIGNATURE
    );
    keys.verify(DOC_SIGNATURE, DOC_TIMESTAMP, DOC_NONCE, DOC_ECHOSTR)
        .unwrap();
    keys.verify(
        &DOC_SIGNATURE.to_uppercase(),
        DOC_TIMESTAMP,
        DOC_NONCE,
        DOC_ECHOSTR,
    )
    .unwrap();
}

#[test]
fn doc_vector_decrypts_to_its_echo() {
    let keys = Keys::new(DOC_TOKEN, DOC_KEY, DOC_RECEIVE_ID).unwrap();
    assert_eq!(keys.decrypt(DOC_ECHOSTR).unwrap(), b"1616140317555161061");
}

#[test]
fn doc_vector_passes_the_url_check() {
    let keys = Keys::new(DOC_TOKEN, DOC_KEY, DOC_RECEIVE_ID).unwrap();
    let q = Query {
        msg_signature: DOC_SIGNATURE,
        timestamp: DOC_TIMESTAMP,
        nonce: DOC_NONCE,
        echostr: Some(DOC_ECHOSTR),
    };
    let now = at(DOC_TIMESTAMP) + Duration::from_secs(299);
    let echo = keys
        .verify_url(&q, now, wecom_callback::DEFAULT_WINDOW)
        .unwrap();
    assert_eq!(echo, b"1616140317555161061");
}

#[test]
fn doc_vector_refuses_another_receive_id() {
    let keys = Keys::new(DOC_TOKEN, DOC_KEY, "wx5823bf96d3bd56c8").unwrap();
    let err = keys.decrypt(DOC_ECHOSTR).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReceiveId);
}

#[test]
fn sample_vector_signature_matches_and_receive_id_checks() {
    let keys = Keys::new(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_RECEIVE_ID).unwrap();
    assert_eq!(
        keys.signature(SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ECHOSTR),
        SAMPLE_SIGNATURE
    );
    let q = Query {
        msg_signature: SAMPLE_SIGNATURE,
        timestamp: SAMPLE_TIMESTAMP,
        nonce: SAMPLE_NONCE,
        echostr: Some(SAMPLE_ECHOSTR),
    };
    let echo = keys
        .verify_url(&q, at(SAMPLE_TIMESTAMP), Duration::from_secs(300))
        .unwrap();
    assert!(!echo.is_empty());
    // The same frame under another receive id is refused: the check really ran.
    let other = Keys::new(SAMPLE_TOKEN, SAMPLE_KEY, "ww1436e0e65a779aef").unwrap();
    assert_eq!(
        other.decrypt(SAMPLE_ECHOSTR).unwrap_err().kind,
        ErrorKind::ReceiveId
    );
}

#[test]
fn vector_keys_need_lenient_trailing_bits() {
    // Both official EncodingAESKeys end in a character whose spare bits are not zero: a strict
    // decoder would refuse the very keys WeCom hands out.
    use base64::Engine;
    for key in [DOC_KEY, SAMPLE_KEY] {
        let padded = format!("{key}=");
        assert!(base64::engine::general_purpose::STANDARD
            .decode(&padded)
            .is_err());
    }
}
