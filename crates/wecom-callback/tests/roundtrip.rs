//! Round trips: encrypt → decrypt, WeCom's side → the app's side → WeCom's side, and
//! write_xml → parse_message, over fixed cases and random ones.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use wecom_callback::{
    nonce, parse_message, timestamp, write_xml, ErrorKind, Keys, DEFAULT_WINDOW, MAX_DEPTH,
};

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const RECEIVE_ID: &str = "wx5823bf96d3bd56c7";

fn keys() -> Keys {
    Keys::new(TOKEN, KEY, RECEIVE_ID).unwrap()
}

fn tree(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn encrypt_then_decrypt_at_every_padding_length() {
    let k = keys();
    for n in 0..=100usize {
        let message: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        let encrypt = k.encrypt(&message);
        assert_eq!(k.decrypt(&encrypt).unwrap(), message, "length {n}");
    }
}

#[test]
fn encrypt_with_is_deterministic_and_encrypt_is_fresh() {
    let k = keys();
    let a = k.encrypt_with(b"hello", [9; 16]);
    assert_eq!(a, k.encrypt_with(b"hello", [9; 16]));
    assert_ne!(a, k.encrypt_with(b"hello", [8; 16]));
    assert_ne!(k.encrypt(b"hello"), k.encrypt(b"hello"));
    // 20 + 5 + 18 = 43 bytes pad to 64.
    assert_eq!(a.len(), 88);
}

#[test]
fn an_empty_receive_id_round_trips() {
    let k = Keys::new(TOKEN, KEY, "").unwrap();
    assert_eq!(k.decrypt(&k.encrypt(b"x")).unwrap(), b"x");
    assert_eq!(
        keys().decrypt(&k.encrypt(b"x")).unwrap_err().kind,
        ErrorKind::ReceiveId
    );
}

#[test]
fn url_check_round_trip() {
    let k = keys();
    let now = SystemTime::now();
    let out = k.sign_url_check(b"8731984753", &timestamp(now), &nonce());
    assert!(out.body.is_none());
    let pairs = out.query_pairs();
    assert_eq!(
        pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
        ["msg_signature", "timestamp", "nonce", "echostr"]
    );
    assert_eq!(
        k.verify_url(&out.query(), now, DEFAULT_WINDOW).unwrap(),
        b"8731984753"
    );
}

#[test]
fn message_round_trip_through_the_envelope() {
    let k = keys();
    let message = tree(json!({
        "ToUserName": RECEIVE_ID, "FromUserName": "zhangsan", "CreateTime": "1700000000",
        "MsgType": "text", "Content": "你好 <b>&</b> ]]> done", "MsgId": "123", "AgentID": "1000002"
    }));
    let xml = write_xml(&message).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let out = k.sign_message(
        xml.as_bytes(),
        RECEIVE_ID,
        Some("1000002"),
        "1700000000",
        "42",
    );
    let body = out.body.as_deref().unwrap();
    assert_eq!(
        out.query_pairs().iter().map(|p| p.0).collect::<Vec<_>>(),
        ["msg_signature", "timestamp", "nonce"]
    );
    let envelope = parse_message(body.as_bytes()).unwrap();
    assert_eq!(envelope["ToUserName"], RECEIVE_ID);
    assert_eq!(envelope["AgentID"], "1000002");
    assert_eq!(
        k.open(&out.query(), body.as_bytes(), now, DEFAULT_WINDOW)
            .unwrap(),
        message
    );
    // No AgentID in the envelope when there is none.
    let out = k.sign_message(xml.as_bytes(), RECEIVE_ID, None, "1700000000", "42");
    assert!(!out.body.as_deref().unwrap().contains("AgentID"));
}

#[test]
fn seal_then_open_the_envelope_by_hand() {
    let k = keys();
    let reply = write_xml(&tree(json!({
        "ToUserName": "zhangsan", "FromUserName": RECEIVE_ID, "CreateTime": "1700000000",
        "MsgType": "text", "Content": "Commands: today, next"
    })))
    .unwrap();
    let sealed = k.seal(reply.as_bytes(), "1700000000", "1372623149");
    assert!(sealed.starts_with("<xml><Encrypt><![CDATA["));
    assert!(sealed
        .contains("<TimeStamp>1700000000</TimeStamp><Nonce><![CDATA[1372623149]]></Nonce></xml>"));
    let envelope = parse_message(sealed.as_bytes()).unwrap();
    let text = |name: &str| envelope[name].as_str().unwrap().to_owned();
    k.verify(
        &text("MsgSignature"),
        &text("TimeStamp"),
        &text("Nonce"),
        &text("Encrypt"),
    )
    .unwrap();
    assert_eq!(k.decrypt(&text("Encrypt")).unwrap(), reply.as_bytes());
    // And the emulator's way.
    assert_eq!(
        k.decrypt_reply(sealed.as_bytes()).unwrap().unwrap(),
        reply.as_bytes()
    );
    assert_eq!(
        k.open_reply(sealed.as_bytes()).unwrap().unwrap()["Content"],
        "Commands: today, next"
    );
}

#[test]
fn open_reply_cases() {
    let k = keys();
    assert_eq!(k.open_reply(b"").unwrap(), None);
    assert_eq!(k.open_reply(b" \r\n").unwrap(), None);
    let sealed = k.seal(b"<xml><MsgType>text</MsgType></xml>", "1", "2");
    let tampered = sealed.replace("<Nonce><![CDATA[2]]>", "<Nonce><![CDATA[3]]>");
    assert_eq!(
        k.open_reply(tampered.as_bytes()).unwrap_err().kind,
        ErrorKind::Signature
    );
    let no_nonce = sealed.replace("<Nonce><![CDATA[2]]></Nonce>", "");
    assert_eq!(
        k.open_reply(no_nonce.as_bytes()).unwrap_err().kind,
        ErrorKind::MissingParameter
    );
    let other = Keys::new(TOKEN, KEY, "ww0000").unwrap();
    assert_eq!(
        other.open_reply(sealed.as_bytes()).unwrap_err().kind,
        ErrorKind::ReceiveId
    );
}

#[test]
fn nonce_and_timestamp() {
    let n = nonce();
    assert_eq!(n.len(), 10);
    assert!(n.bytes().all(|b| b.is_ascii_digit()));
    assert_ne!(nonce(), nonce());
    assert_eq!(
        timestamp(UNIX_EPOCH + Duration::from_millis(1_700_000_000_999)),
        "1700000000"
    );
}

// ---- replies (path/90241) ----

#[test]
fn text_reply_xml() {
    let xml = write_xml(&tree(json!({
        "Content": "hi", "MsgType": "text", "CreateTime": 1348831860,
        "FromUserName": "fromUser", "ToUserName": "toUser"
    })))
    .unwrap();
    assert_eq!(
        xml,
        "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName>\
         <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>"
    );
}

#[test]
fn media_reply_xml() {
    for (kind, body) in [
        ("image", json!({"MediaId": "m1"})),
        ("voice", json!({"MediaId": "m2"})),
        (
            "video",
            json!({"MediaId": "m3", "Title": "t", "Description": "d"}),
        ),
    ] {
        let key = format!("{}{}", kind[..1].to_uppercase(), &kind[1..]);
        let t = tree(json!({"ToUserName": "u", "MsgType": kind, key.clone(): body}));
        let xml = write_xml(&t).unwrap();
        assert!(xml.contains(&format!("<{key}>")), "{xml}");
        assert!(xml.contains("<MediaId><![CDATA[m"), "{xml}");
        assert_eq!(parse_message(xml.as_bytes()).unwrap(), t);
    }
}

#[test]
fn news_reply_xml() {
    let t = tree(json!({
        "ToUserName": "u", "FromUserName": "c", "CreateTime": "1", "MsgType": "news",
        "ArticleCount": "2",
        "Articles": {"item": [
            {"Title": "a", "Description": "b", "PicUrl": "http://p/1", "Url": "http://u/1"},
            {"Title": "c", "Description": "d", "PicUrl": "http://p/2", "Url": "http://u/2"}
        ]}
    }));
    let xml = write_xml(&t).unwrap();
    assert!(xml.contains(
        "<ArticleCount><![CDATA[2]]></ArticleCount><Articles><item><Description><![CDATA[b]]></Description>"
    ), "{xml}");
    assert!(xml.contains("</item><item>"), "{xml}");
    assert!(xml.ends_with("</item></Articles></xml>"), "{xml}");
    assert_eq!(parse_message(xml.as_bytes()).unwrap(), t);
}

#[test]
fn update_button_and_template_card_reply_xml() {
    let t = tree(json!({
        "ToUserName": "u", "FromUserName": "c", "CreateTime": "1", "MsgType": "update_button",
        "Button": {"ReplaceName": "Accepted"}
    }));
    let xml = write_xml(&t).unwrap();
    assert!(xml.contains("<Button><ReplaceName><![CDATA[Accepted]]></ReplaceName></Button>"));
    assert_eq!(parse_message(xml.as_bytes()).unwrap(), t);

    let card = tree(json!({
        "ToUserName": "u", "FromUserName": "c", "CreateTime": "1",
        "MsgType": "update_template_card",
        "TemplateCard": {
            "CardType": "button_interaction",
            "MainTitle": {"Title": "Interview", "Desc": "Tomorrow 10:00"},
            "ButtonList": {"Button": [
                {"Text": "Accept", "Style": "1", "Key": "accept"},
                {"Text": "Decline", "Style": "2", "Key": "decline"}
            ]},
            "ReplaceText": "Accepted"
        }
    }));
    let xml = write_xml(&card).unwrap();
    assert_eq!(parse_message(xml.as_bytes()).unwrap(), card);
}

#[test]
fn write_xml_numbers_booleans_null_and_empty_arrays() {
    let xml = write_xml(&tree(
        json!({"N": 1.5, "B": true, "Z": null, "E": [], "One": ["x"]}),
    ))
    .unwrap();
    assert_eq!(
        xml,
        "<xml><B>true</B><N>1.5</N><One><![CDATA[x]]></One><Z></Z></xml>"
    );
    assert_eq!(
        Value::Object(parse_message(xml.as_bytes()).unwrap()),
        json!({"B": "true", "N": "1.5", "One": "x", "Z": ""})
    );
}

#[test]
fn an_empty_object_reads_back_as_an_empty_string() {
    let xml = write_xml(&tree(json!({"A": {}}))).unwrap();
    assert_eq!(xml, "<xml><A></A></xml>");
    assert_eq!(
        parse_message(xml.as_bytes()).unwrap(),
        tree(json!({"A": ""}))
    );
}

#[test]
fn write_xml_at_the_depth_limit() {
    let mut deep = json!("x");
    for _ in 0..MAX_DEPTH - 2 {
        deep = json!({ "a": deep });
    }
    let t = tree(json!({ "a": deep }));
    let xml = write_xml(&t).unwrap();
    assert_eq!(parse_message(xml.as_bytes()).unwrap(), t);
}

// ---- random ----

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9+/]{43}").unwrap()
}

fn message_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4096),
        any::<String>().prop_map(String::into_bytes),
        proptest::string::string_regex("[a-z你好企业微信 <>&]{0,1365}")
            .unwrap()
            .prop_map(String::into_bytes),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex("(]]>|]|>|\r|\n|<|&|a|中| )*").unwrap(),
    ]
    .prop_map(Value::String)
}

fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z_][A-Za-z0-9_.-]{0,8}").unwrap()
}

/// Trees of strings, non-empty objects, and arrays of two or more non-array items: the trees
/// that write_xml and parse_message map onto each other exactly.
fn node() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            proptest::collection::btree_map(name(), inner.clone(), 1..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            (name(), proptest::collection::vec(inner, 2..4)).prop_map(|(k, items)| {
                let mut m = Map::new();
                m.insert(k, Value::Array(items));
                Value::Object(m)
            }),
        ]
    })
}

fn tree_strategy() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(name(), node(), 0..6).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_messages_keys_and_receive_ids_round_trip(
        message in message_strategy(),
        key in key_strategy(),
        token in "[A-Za-z0-9]{1,32}",
        receive_id in "[A-Za-z0-9_-]{0,40}",
        random in any::<[u8; 16]>(),
    ) {
        let k = Keys::new(&token, &key, &receive_id).unwrap();
        let encrypt = k.encrypt_with(&message, random);
        prop_assert_eq!(k.decrypt(&encrypt).unwrap(), message.clone());
        prop_assert_eq!(k.decrypt(&k.encrypt(&message)).unwrap(), message.clone());
        let sig = k.signature("1700000000", "nonce", &encrypt);
        prop_assert!(k.verify(&sig, "1700000000", "nonce", &encrypt).is_ok());
        let sealed = k.seal(&message, "1700000000", "n0");
        prop_assert_eq!(k.decrypt_reply(sealed.as_bytes()).unwrap(), Some(message));
    }

    #[test]
    fn random_trees_round_trip_through_xml(t in tree_strategy()) {
        let xml = write_xml(&t).unwrap();
        prop_assert_eq!(parse_message(xml.as_bytes()).unwrap(), t);
    }

    #[test]
    fn random_trees_round_trip_through_the_whole_protocol(t in tree_strategy(), key in key_strategy()) {
        let k = Keys::new(TOKEN, &key, RECEIVE_ID).unwrap();
        let xml = write_xml(&t).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let out = k.sign_message(xml.as_bytes(), RECEIVE_ID, Some("1"), "1700000000", "5");
        let opened = k.open(&out.query(), out.body.as_deref().unwrap().as_bytes(), now, DEFAULT_WINDOW).unwrap();
        prop_assert_eq!(&opened, &t);
        let sealed = k.seal(write_xml(&opened).unwrap().as_bytes(), "1700000000", "6");
        prop_assert_eq!(k.open_reply(sealed.as_bytes()).unwrap(), Some(t));
    }

    #[test]
    fn parse_message_never_panics_on_noise(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_message(&bytes);
    }

    #[test]
    fn parse_message_never_panics_on_xmlish_noise(s in "(<xml>|</xml>|<a>|</a>|<a/>|<!\\[CDATA\\[|\\]\\]>|&lt;|&|<!--|-->|<\\?|\\?>|<!DOCTYPE|x| )*") {
        let _ = parse_message(s.as_bytes());
    }
}
