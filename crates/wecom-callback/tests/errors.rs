//! Every bad input, with the kind it must be refused as; no error message may carry the token
//! or the EncodingAESKey.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::Engine;
use wecom_callback::{
    parse_message, write_xml, CallbackError, ErrorKind, Keys, Query, MAX_BODY, MAX_DEPTH,
};

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const RECEIVE_ID: &str = "wx5823bf96d3bd56c7";
const TS: &str = "1700000000";
const NONCE: &str = "1372623149";
const WINDOW: Duration = Duration::from_secs(300);

fn keys() -> Keys {
    Keys::new(TOKEN, KEY, RECEIVE_ID).unwrap()
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Asserts the kind, and that the message is safe to log.
#[track_caller]
fn expect<T: std::fmt::Debug>(result: Result<T, CallbackError>, kind: ErrorKind) -> CallbackError {
    let err = result.expect_err("an error");
    assert_eq!(err.kind, kind, "{err}");
    assert_eq!(err.to_string(), err.message);
    assert!(!err.message.is_empty());
    assert!(!err.message.contains(TOKEN), "{err}");
    assert!(!err.message.contains(KEY), "{err}");
    assert!(!err.message.contains(&KEY[..12]), "{err}");
    err
}

fn raw_key() -> [u8; 32] {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    engine
        .decode(format!("{KEY}="))
        .unwrap()
        .try_into()
        .unwrap()
}

/// AES-256-CBC over `plain` as given (no padding added): for frames the crate would not make.
fn raw_encrypt(plain: &[u8]) -> String {
    assert_eq!(plain.len() % 16, 0);
    let key = raw_key();
    let iv: [u8; 16] = key[..16].try_into().unwrap();
    let mut buf = plain.to_vec();
    let n = buf.len();
    cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, n)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(buf)
}

fn frame(message: &[u8], receive_id: &[u8]) -> Vec<u8> {
    let mut f = vec![7u8; 16];
    f.extend_from_slice(&(message.len() as u32).to_be_bytes());
    f.extend_from_slice(message);
    f.extend_from_slice(receive_id);
    f
}

fn pad32(mut f: Vec<u8>) -> Vec<u8> {
    let pad = 32 - f.len() % 32;
    f.resize(f.len() + pad, pad as u8);
    f
}

/// The URL check over `echostr`, signed correctly, so that decryption is what gets tested.
fn url_check(echostr: &str) -> Result<Vec<u8>, CallbackError> {
    let k = keys();
    let sig = k.signature(TS, NONCE, echostr);
    k.verify_url(
        &Query {
            msg_signature: &sig,
            timestamp: TS,
            nonce: NONCE,
            echostr: Some(echostr),
        },
        now(),
        WINDOW,
    )
}

/// A POST whose Encrypt is the given ciphertext, signed correctly.
fn post(encrypt: &str) -> Result<serde_json::Map<String, serde_json::Value>, CallbackError> {
    let k = keys();
    let sig = k.signature(TS, NONCE, encrypt);
    let body = format!("<xml><ToUserName><![CDATA[{RECEIVE_ID}]]></ToUserName><AgentID><![CDATA[1]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    k.open(
        &Query {
            msg_signature: &sig,
            timestamp: TS,
            nonce: NONCE,
            echostr: None,
        },
        body.as_bytes(),
        now(),
        WINDOW,
    )
}

fn signed_query<'a>(sig: &'a str, ts: &'a str, echostr: &'a str) -> Query<'a> {
    Query {
        msg_signature: sig,
        timestamp: ts,
        nonce: NONCE,
        echostr: Some(echostr),
    }
}

// ---- keys ----

#[test]
fn keys_refuse_an_empty_token() {
    expect(Keys::new("", KEY, RECEIVE_ID), ErrorKind::Config);
}

#[test]
fn keys_refuse_a_key_of_the_wrong_length_without_echoing_it() {
    for key in [&KEY[..42], &format!("{KEY}="), &format!("{KEY}A"), ""] {
        let err = expect(Keys::new(TOKEN, key, RECEIVE_ID), ErrorKind::Config);
        assert!(err.message.contains("encoding_aes_key"), "{err}");
    }
}

#[test]
fn keys_refuse_a_key_that_is_not_base64_without_echoing_it() {
    for bad in ['*', '=', '-', '_', ' ', 'é'] {
        let key: String = KEY[..42].chars().chain([bad]).collect();
        let key = if key.len() > 43 {
            key[1..].to_string()
        } else {
            key
        };
        let err = expect(Keys::new(TOKEN, &key, RECEIVE_ID), ErrorKind::Config);
        assert!(err.message.contains("encoding_aes_key"), "{err}");
        assert!(!err.message.contains(&key[..20]), "{err}");
    }
}

#[test]
fn keys_debug_hides_the_secrets() {
    let shown = format!("{:?}", keys());
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains(RECEIVE_ID), "{shown}");
}

// ---- signature ----

#[test]
fn wrong_signature() {
    let k = keys();
    let echostr = k.encrypt(b"hi");
    let err = expect(
        k.verify_url(
            &signed_query("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", TS, &echostr),
            now(),
            WINDOW,
        ),
        ErrorKind::Signature,
    );
    assert!(err.message.contains("msg_signature"));
}

#[test]
fn signature_differing_only_in_the_last_hex_digit() {
    let k = keys();
    let echostr = k.encrypt(b"hi");
    let good = k.signature(TS, NONCE, &echostr);
    let last = good.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let bad = format!("{}{flipped}", &good[..39]);
    expect(
        k.verify_url(&signed_query(&bad, TS, &echostr), now(), WINDOW),
        ErrorKind::Signature,
    );
    k.verify_url(&signed_query(&good, TS, &echostr), now(), WINDOW)
        .unwrap();
}

#[test]
fn signature_of_another_length_or_not_hex() {
    let k = keys();
    let echostr = k.encrypt(b"hi");
    let good = k.signature(TS, NONCE, &echostr);
    let not_hex = format!("{}g", &good[..39]);
    let longer = format!("{good}0");
    let with_space = format!(" {}", &good[..39]);
    for bad in [
        &good[..39],
        &good[..2],
        &longer,
        &not_hex,
        &with_space,
        "+0",
    ] {
        expect(
            k.verify_url(&signed_query(bad, TS, &echostr), now(), WINDOW),
            ErrorKind::Signature,
        );
        expect(k.verify(bad, TS, NONCE, &echostr), ErrorKind::Signature);
    }
}

#[test]
fn signature_covers_every_part() {
    let k = keys();
    let sig = k.signature(TS, NONCE, "abc");
    expect(
        k.verify(&sig, "1700000001", NONCE, "abc"),
        ErrorKind::Signature,
    );
    expect(
        k.verify(&sig, TS, "1372623148", "abc"),
        ErrorKind::Signature,
    );
    expect(k.verify(&sig, TS, NONCE, "abd"), ErrorKind::Signature);
    let other = Keys::new("QDG6eL", KEY, RECEIVE_ID).unwrap();
    expect(other.verify(&sig, TS, NONCE, "abc"), ErrorKind::Signature);
}

// ---- timestamps ----

#[test]
fn stale_and_future_timestamps_beyond_the_window() {
    let k = keys();
    let echostr = k.encrypt(b"hi");
    for (ts, ok) in [
        ("1699999700", true),  // 300 s old: at the edge
        ("1699999699", false), // 301 s old
        ("1700000300", true),  // 300 s ahead
        ("1700000301", false), // 301 s ahead
        ("1", false),
        ("9999999999999999999", false),
    ] {
        let sig = k.signature(ts, NONCE, &echostr);
        let result = k.verify_url(&signed_query(&sig, ts, &echostr), now(), WINDOW);
        if ok {
            assert_eq!(result.unwrap(), b"hi", "{ts}");
        } else {
            expect(result, ErrorKind::Stale);
        }
    }
}

#[test]
fn stale_is_found_before_the_signature() {
    let k = keys();
    let echostr = k.encrypt(b"hi");
    expect(
        k.verify_url(
            &signed_query(&"0".repeat(40), "1600000000", &echostr),
            now(),
            WINDOW,
        ),
        ErrorKind::Stale,
    );
}

#[test]
fn non_numeric_timestamps() {
    let k = keys();
    let echostr = k.encrypt(b"hi");
    for ts in [
        "abc",
        "-1",
        "+1700000000",
        "1700000000.5",
        " 1700000000",
        "1700000000 ",
        "0x10",
        "17000000000000000000000",
    ] {
        let sig = k.signature(ts, NONCE, &echostr);
        expect(
            k.verify_url(&signed_query(&sig, ts, &echostr), now(), WINDOW),
            ErrorKind::Malformed,
        );
    }
}

// ---- missing parameters ----

#[test]
fn missing_parameters() {
    let k = keys();
    let echostr = k.encrypt(b"hi");
    let sig = k.signature(TS, NONCE, &echostr);
    let full = signed_query(&sig, TS, &echostr);
    let cases = [
        (
            "msg_signature",
            Query {
                msg_signature: "",
                ..full
            },
        ),
        (
            "timestamp",
            Query {
                timestamp: "",
                ..full
            },
        ),
        ("nonce", Query { nonce: "", ..full }),
        (
            "echostr",
            Query {
                echostr: None,
                ..full
            },
        ),
        (
            "echostr",
            Query {
                echostr: Some(""),
                ..full
            },
        ),
    ];
    for (name, q) in cases {
        let err = expect(k.verify_url(&q, now(), WINDOW), ErrorKind::MissingParameter);
        assert!(err.message.contains(name), "{err}");
    }
    // A POST needs no echostr, but the other three.
    let body = b"<xml><Encrypt>x</Encrypt></xml>";
    for q in [
        Query {
            msg_signature: "",
            ..full
        },
        Query {
            timestamp: "",
            ..full
        },
        Query { nonce: "", ..full },
    ] {
        expect(k.open(&q, body, now(), WINDOW), ErrorKind::MissingParameter);
    }
}

#[test]
fn missing_or_empty_or_repeated_encrypt() {
    let k = keys();
    let q = Query {
        msg_signature: &"0".repeat(40),
        timestamp: TS,
        nonce: NONCE,
        echostr: None,
    };
    for body in [
        "<xml><ToUserName><![CDATA[x]]></ToUserName></xml>",
        "<xml></xml>",
        "<xml><Encrypt></Encrypt></xml>",
        "<xml><Encrypt/></xml>",
    ] {
        let err = expect(
            k.open(&q, body.as_bytes(), now(), WINDOW),
            ErrorKind::MissingParameter,
        );
        assert!(err.message.contains("Encrypt"), "{err}");
    }
    for body in [
        "<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
        "<xml><Encrypt><A>a</A></Encrypt></xml>",
        "",
        "not xml",
        "<xml><Encrypt>a</Encrypt>",
    ] {
        expect(
            k.open(&q, body.as_bytes(), now(), WINDOW),
            ErrorKind::Malformed,
        );
    }
}

// ---- size ----

#[test]
fn body_over_max_body_is_too_large() {
    let k = keys();
    let q = Query {
        msg_signature: &"0".repeat(40),
        timestamp: TS,
        nonce: NONCE,
        echostr: None,
    };
    let mut body = b"<xml><Encrypt>".to_vec();
    body.resize(MAX_BODY - 15, b'A');
    body.extend_from_slice(b"</Encrypt></xml>");
    assert_eq!(body.len(), MAX_BODY + 1);
    expect(k.open(&q, &body, now(), WINDOW), ErrorKind::TooLarge);
    expect(parse_message(&body), ErrorKind::TooLarge);
    // At the limit it is read (and refused only for its signature).
    body.truncate(MAX_BODY - 16);
    body.extend_from_slice(b"</Encrypt></xml>");
    assert_eq!(body.len(), MAX_BODY);
    expect(k.open(&q, &body, now(), WINDOW), ErrorKind::Signature);
}

// ---- the frame ----

#[test]
fn wrong_receive_id() {
    let other = Keys::new(TOKEN, KEY, "ww0000000000000000").unwrap();
    let encrypt = other.encrypt(b"<xml><MsgType>text</MsgType></xml>");
    expect(post(&encrypt), ErrorKind::ReceiveId);
    expect(url_check(&other.encrypt(b"1")), ErrorKind::ReceiveId);
    // A receive id that is a prefix, or has one more byte, is another receive id.
    for rid in ["wx5823bf96d3bd56c", "wx5823bf96d3bd56c77", ""] {
        let enc = raw_encrypt(&pad32(frame(b"1", rid.as_bytes())));
        expect(url_check(&enc), ErrorKind::ReceiveId);
    }
    assert_eq!(
        url_check(&raw_encrypt(&pad32(frame(b"1", RECEIVE_ID.as_bytes())))).unwrap(),
        b"1"
    );
}

#[test]
fn bad_base64() {
    for bad in [
        "not base64!",
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ", // padding dropped
        "P9nAzCzyDtyTWESHep1vC5X9xho_qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp-4RPcs8TgAE7OaBO-FZXvnaqQ==", // URL-safe alphabet
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqR==", // trailing bits
        "P9nAzCzyDtyTWESHep1vC5X9xho qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==", // '+' read as a space
    ] {
        let err = expect(url_check(bad), ErrorKind::Malformed);
        assert!(err.message.contains("base64"), "{err}");
        expect(post(bad), ErrorKind::Malformed);
    }
}

#[test]
fn ciphertext_not_whole_blocks() {
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![0u8; n]);
    for n in [1, 15, 17, 20, 31, 33] {
        expect(url_check(&b64(n)), ErrorKind::Malformed); // not a multiple of 16
    }
    for n in [16, 48, 80] {
        expect(url_check(&b64(n)), ErrorKind::Malformed); // AES blocks, not 32-byte ones
    }
    expect(keys().decrypt(""), ErrorKind::Malformed);
}

#[test]
fn bad_padding() {
    let body = frame(b"hello", RECEIVE_ID.as_bytes()); // 43 bytes: a pad of 21
    let good = pad32(body.clone());
    assert_eq!(url_check(&raw_encrypt(&good)).unwrap(), b"hello");

    let mut zero = good.clone();
    *zero.last_mut().unwrap() = 0;
    expect(url_check(&raw_encrypt(&zero)), ErrorKind::Malformed);

    let mut too_big = body.clone();
    too_big.resize(64, 33);
    expect(url_check(&raw_encrypt(&too_big)), ErrorKind::Malformed);

    let mut inconsistent = good.clone();
    inconsistent[45] = 20;
    expect(url_check(&raw_encrypt(&inconsistent)), ErrorKind::Malformed);

    // PKCS#7 to AES's 16-byte blocks (a pad of 5 here) is not WeCom's 32-byte padding.
    let mut sixteen = body;
    sixteen.resize(48, 5);
    expect(url_check(&raw_encrypt(&sixteen)), ErrorKind::Malformed);
}

#[test]
fn a_full_block_of_padding_is_valid() {
    // A frame of whole 32-byte blocks gets a whole block of padding (32 × 32).
    let message = vec![b'x'; 64 - 20 - RECEIVE_ID.len()];
    let f = frame(&message, RECEIVE_ID.as_bytes());
    assert_eq!(f.len(), 64);
    let padded = pad32(f);
    assert_eq!(padded.len(), 96);
    assert_eq!(url_check(&raw_encrypt(&padded)).unwrap(), message);
}

#[test]
fn length_field_past_the_end() {
    for n in [6u32, 19, 1000, u32::MAX] {
        let mut f = frame(b"hello", RECEIVE_ID.as_bytes());
        f[16..20].copy_from_slice(&n.to_be_bytes());
        if n <= 5 + RECEIVE_ID.len() as u32 {
            // Within the frame: the receive id just comes out wrong.
            expect(url_check(&raw_encrypt(&pad32(f))), ErrorKind::ReceiveId);
        } else {
            let err = expect(url_check(&raw_encrypt(&pad32(f))), ErrorKind::Malformed);
            assert!(err.message.contains("length"), "{err}");
        }
    }
}

#[test]
fn frame_shorter_than_its_header() {
    let short = pad32(vec![1u8; 19]);
    expect(url_check(&raw_encrypt(&short)), ErrorKind::Malformed);
    let empty = vec![32u8; 32];
    expect(url_check(&raw_encrypt(&empty)), ErrorKind::Malformed);
}

// ---- XML ----

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE xml [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><Content>&lol3;</Content></xml>"#;

#[test]
fn doctype_and_entities_are_refused() {
    for xml in [
        BILLION_LAUGHS,
        r#"<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><Content>x</Content></xml>"#,
        r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>"#,
        "<xml><Content>&lol;</Content></xml>",
        "<xml><Content>&nbsp;</Content></xml>",
        "<xml><Content>&#0;</Content></xml>",
        "<xml><Content>&#xD800;</Content></xml>",
        "<xml><Content>a & b</Content></xml>",
    ] {
        expect(parse_message(xml.as_bytes()), ErrorKind::Malformed);
        // Inside a correctly signed callback too.
        expect(post(&keys().encrypt(xml.as_bytes())), ErrorKind::Malformed);
    }
}

#[test]
fn a_doctype_in_the_envelope_is_refused_before_the_signature() {
    let k = keys();
    let q = Query {
        msg_signature: &"0".repeat(40),
        timestamp: TS,
        nonce: NONCE,
        echostr: None,
    };
    let body = format!(
        "<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><Encrypt>{}</Encrypt></xml>",
        k.encrypt(b"<xml/>")
    );
    expect(
        k.open(&q, body.as_bytes(), now(), WINDOW),
        ErrorKind::Malformed,
    );
}

#[test]
fn the_message_is_not_parsed_before_the_signature_is_checked() {
    let k = keys();
    let encrypt = k.encrypt(BILLION_LAUGHS.as_bytes());
    let q = Query {
        msg_signature: &"0".repeat(40),
        timestamp: TS,
        nonce: NONCE,
        echostr: None,
    };
    let body = format!("<xml><Encrypt>{encrypt}</Encrypt></xml>");
    expect(
        k.open(&q, body.as_bytes(), now(), WINDOW),
        ErrorKind::Signature,
    );
}

#[test]
fn processing_instructions_and_other_roots_are_refused() {
    for xml in [
        r#"<?xml-stylesheet href="a.xsl"?><xml><A>1</A></xml>"#,
        "<xml><?php echo 1; ?><A>1</A></xml>",
        r#"<xml><A>1</A></xml><?pi?>"#,
        r#"<xml/><?xml version="1.0"?>"#,
        r#" <?xml version="1.0"?><xml/>"#,
        r#"<?xml version="1.0" encoding="GBK"?><xml/>"#,
        "<root><A>1</A></root>",
        "<xml><A>1</A></xml><xml><A>2</A></xml>",
        "text<xml/>",
        "<xml/>text",
        "<xml><A>1</A>loose text</xml>",
        "<xml>only text</xml>",
        "<xml><A>1</B></xml>",
        "<xml><A>1</A>",
        "<xml><A><![CDATA[x]]></A>",
        "<xml><!-- a -- b --><A/></xml>",
        "",
        "   ",
    ] {
        expect(parse_message(xml.as_bytes()), ErrorKind::Malformed);
    }
}

#[test]
fn non_utf8_is_refused() {
    let mut gbk = b"<xml><Content>".to_vec();
    gbk.extend_from_slice(&[0xc4, 0xe3, 0xba, 0xc3]); // 你好 in GBK
    gbk.extend_from_slice(b"</Content></xml>");
    let err = expect(parse_message(&gbk), ErrorKind::Malformed);
    assert!(err.message.contains("UTF-8"), "{err}");
    expect(post(&keys().encrypt(&gbk)), ErrorKind::Malformed);
    expect(parse_message(b"<xml>\xff</xml>"), ErrorKind::Malformed);
}

fn nested(depth: usize) -> String {
    // depth elements in all, counting <xml>.
    let mut s = String::from("<xml>");
    for _ in 1..depth {
        s.push_str("<a>");
    }
    s.push('x');
    for _ in 1..depth {
        s.push_str("</a>");
    }
    s.push_str("</xml>");
    s
}

#[test]
fn nesting_too_deep() {
    parse_message(nested(MAX_DEPTH).as_bytes()).unwrap();
    expect(
        parse_message(nested(MAX_DEPTH + 1).as_bytes()),
        ErrorKind::Malformed,
    );
    expect(
        parse_message(nested(100_000).as_bytes()),
        ErrorKind::Malformed,
    );
    expect(
        post(&keys().encrypt(nested(MAX_DEPTH + 1).as_bytes())),
        ErrorKind::Malformed,
    );
}

#[test]
fn write_xml_refuses_what_xml_cannot_say() {
    use serde_json::json;
    let tree = |v: serde_json::Value| v.as_object().unwrap().clone();
    for bad in [
        json!({"a b": "x"}),
        json!({"": "x"}),
        json!({"1st": "x"}),
        json!({"a><script": "x"}),
        json!({"A": {"</A><B": "x"}}),
        json!({"A": [["x", "y"]]}),
    ] {
        expect(write_xml(&tree(bad)), ErrorKind::Config);
    }
    let mut deep = json!("x");
    for _ in 0..MAX_DEPTH {
        deep = json!({ "a": deep });
    }
    expect(write_xml(&tree(deep)), ErrorKind::Config);
}
