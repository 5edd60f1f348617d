//! `POST /cgi-bin/message/send` and `POST /cgi-bin/message/recall`.
//!
//! Checks run in this order, each answering the first failure: token → body (empty → 44002,
//! not a JSON object → 47001) → `agentid` (another app's → 301002, else → 40056) → `msgtype`
//! (40008) → the body under the msgtype key (an interactive template card needs a valid
//! `task_id`, see `card`) → recipients → duplicate check → an interactive card's `task_id` used
//! before by the app → 40058.
//!
//! Recipient ids are split on `|` (blank pieces ignored). More than 1000 users, 100 parties or
//! 100 tags → 40058; a non-string `touser`/`toparty`/`totag` → 40058; none given, or all of them
//! invalid → 81013. `@all` in `touser` addresses everyone: nothing is invalid then.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::card::{check_task_id, sent_card};
use super::check::{content, reject, reject_with, required, Check};
use super::reply::Reply;
use super::server::Call;
use super::state::{random_string, Directory, Recent, Shared};
use super::token::authenticated_body;

const MAX_CONTENT_BYTES: usize = 2048;
const MAX_USERS: usize = 1000;
const MAX_PARTIES: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_ARTICLES: usize = 8;
const DEFAULT_DUPLICATE_INTERVAL: i64 = 1800;
const MAX_DUPLICATE_INTERVAL: i64 = 14400;

const MSGTYPES: &[&str] = &[
    "text",
    "markdown",
    "image",
    "voice",
    "file",
    "video",
    "textcard",
    "news",
    "mpnews",
    "miniprogram_notice",
    "template_card",
];

const CARD_TYPES: &[&str] = &[
    "text_notice",
    "news_notice",
    "button_interaction",
    "vote_interaction",
    "multiple_interaction",
];

/// Card types the user can act on; only they get a `response_code` (needed to update the card).
const INTERACTIVE_CARD_TYPES: &[&str] = &[
    "button_interaction",
    "vote_interaction",
    "multiple_interaction",
];

pub(crate) fn send(shared: &Shared, call: &Call) -> Reply {
    let ip = call.ip;
    let (app, value) = match authenticated_body(shared, call) {
        Ok(authenticated) => authenticated,
        Err(reply) => return reply,
    };
    let msg = value.as_object().expect("parse_object returns objects");
    let checked = check_agent(shared, app, msg)
        .and_then(|()| check_content(msg))
        .and_then(|interactive| Ok((interactive, check_recipients(&shared.directory, msg)?)));
    match checked {
        Ok((interactive, invalid)) => accept(shared, app, value, interactive, invalid, ip),
        Err(rejection) => rejection.into_reply(ip),
    }
}

pub(crate) fn recall(shared: &Shared, call: &Call) -> Reply {
    let ip = call.ip;
    let (app, value) = match authenticated_body(shared, call) {
        Ok(authenticated) => authenticated,
        Err(reply) => return reply,
    };
    let invalid = || Reply::error_with(40058, "invalid msgid", ip);
    let Some(msgid) = value.get("msgid").and_then(Value::as_str) else {
        return invalid();
    };
    // Only the app that sent a message may recall it.
    if shared.outbox().sent.get(msgid) != Some(&app) {
        return invalid();
    }
    let mut journal = shared.journal();
    // Recalling twice succeeds (so a retried recall is harmless) but is listed once.
    if !journal.recalled.iter().any(|m| m == msgid) {
        journal.recalled.push(msgid.to_owned(), shared.max_records);
    }
    Reply::ok()
}

/// An integer given as a JSON number or a numeric string (WeCom accepts both).
pub(crate) fn int_field(msg: &Map<String, Value>, key: &str) -> Option<i64> {
    match msg.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn check_agent(shared: &Shared, app: usize, msg: &Map<String, Value>) -> Check<()> {
    match int_field(msg, "agentid") {
        Some(id) if id == shared.apps[app].agent_id => Ok(()),
        Some(id) if shared.apps.iter().any(|a| a.agent_id == id) => Err(reject(301002)),
        _ => Err(reject(40056)),
    }
}

fn max_len(value: &str, key: &str, max: usize) -> Check<()> {
    if value.len() > max {
        Err(reject_with(
            45002,
            format!("{key} size out of limit ({max} bytes)"),
        ))
    } else {
        Ok(())
    }
}

/// Validates the body under the msgtype key; `Ok(true)` for an interactive template card.
pub(crate) fn check_content(msg: &Map<String, Value>) -> Check<bool> {
    let Some(msgtype) = msg
        .get("msgtype")
        .and_then(Value::as_str)
        .filter(|t| MSGTYPES.contains(t))
    else {
        return Err(reject(40008));
    };
    let Some(body) = msg.get(msgtype).and_then(Value::as_object) else {
        return Err(reject_with(40008, format!("{msgtype} body missing")));
    };
    match msgtype {
        "text" | "markdown" => max_len(content(body)?, "content", MAX_CONTENT_BYTES)?,
        "image" | "voice" | "file" | "video" => {
            required(body, "media_id").map_err(|_| reject(40007))?;
        }
        "textcard" => {
            let title = required(body, "title")?;
            let description = required(body, "description")?;
            let url = required(body, "url")?;
            max_len(title, "title", 128)?;
            max_len(description, "description", 512)?;
            max_len(url, "url", 2048)?;
        }
        "news" => check_articles(body, |article| {
            required(article, "title")?;
            // A news article opens either a url or a mini program page.
            if required(article, "url").is_err()
                && (required(article, "appid").is_err() || required(article, "pagepath").is_err())
            {
                return Err(reject_with(40058, "url missing or invalid"));
            }
            Ok(())
        })?,
        "mpnews" => check_articles(body, |article| {
            required(article, "title")?;
            required(article, "thumb_media_id")?;
            required(article, "content")?;
            Ok(())
        })?,
        "miniprogram_notice" => {
            required(body, "appid")?;
            required(body, "title")?;
        }
        "template_card" => {
            let card_type = required(body, "card_type")?;
            if !CARD_TYPES.contains(&card_type) {
                return Err(reject_with(40058, "invalid card_type"));
            }
            let interactive = INTERACTIVE_CARD_TYPES.contains(&card_type);
            if interactive {
                check_task_id(body)?;
            }
            return Ok(interactive);
        }
        _ => unreachable!("msgtype was checked against MSGTYPES"),
    }
    Ok(false)
}

/// Checks an `articles` list of 1 to 8 objects (40058 otherwise), each with `check`.
pub(crate) fn check_articles(
    body: &Map<String, Value>,
    check: impl Fn(&Map<String, Value>) -> Check<()>,
) -> Check<()> {
    let articles = match body.get("articles").and_then(Value::as_array) {
        Some(a) if (1..=MAX_ARTICLES).contains(&a.len()) => a,
        _ => return Err(reject_with(40058, "articles must hold 1 to 8 items")),
    };
    for article in articles {
        let Some(article) = article.as_object() else {
            return Err(reject_with(40058, "article must be an object"));
        };
        check(article)?;
    }
    Ok(())
}

/// Recipients not found in the directory, as `a|b` lists.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub users: String,
    pub parties: String,
    pub tags: String,
}

pub(crate) fn ids<'m>(
    msg: &'m Map<String, Value>,
    key: &'static str,
    max: usize,
) -> Check<Vec<&'m str>> {
    let ids: Vec<&str> = match msg.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s
            .split('|')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .collect(),
        Some(_) => return Err(reject_with(40058, format!("{key} must be a string"))),
    };
    if ids.len() > max {
        return Err(reject_with(40058, format!("{key} exceeds {max} ids")));
    }
    Ok(ids)
}

fn check_recipients(directory: &Directory, msg: &Map<String, Value>) -> Check<Invalid> {
    let users = ids(msg, "touser", MAX_USERS)?;
    let parties = ids(msg, "toparty", MAX_PARTIES)?;
    let tags = ids(msg, "totag", MAX_TAGS)?;
    let total = users.len() + parties.len() + tags.len();
    if total == 0 {
        return Err(reject(81013));
    }
    if users.contains(&"@all") {
        return Ok(Invalid::default());
    }
    let mut invalid_count = 0;
    let mut not_in = |ids: &[&str], known: &Option<std::collections::HashSet<String>>| {
        let Some(known) = known else {
            return String::new();
        };
        let unknown: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !known.contains(*id))
            .collect();
        invalid_count += unknown.len();
        unknown.join("|")
    };
    let invalid = Invalid {
        users: not_in(&users, &directory.users),
        parties: not_in(&parties, &directory.parties),
        tags: not_in(&tags, &directory.tags),
    };
    if invalid_count == total {
        return Err(reject(81013));
    }
    Ok(invalid)
}

/// The duplicate-check window asked for by the body, if any.
fn duplicate_window(msg: &Map<String, Value>) -> Option<Duration> {
    let enabled = match msg.get("enable_duplicate_check") {
        Some(Value::Bool(b)) => *b,
        _ => int_field(msg, "enable_duplicate_check") == Some(1),
    };
    if !enabled {
        return None;
    }
    let secs = int_field(msg, "duplicate_check_interval")
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_DUPLICATE_INTERVAL)
        .min(MAX_DUPLICATE_INTERVAL);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

/// JSON with object keys sorted, so that JSON-equal bodies share one duplicate-check key
/// whatever their key order or whitespace.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[derive(Serialize)]
struct SendAnswer<'a> {
    errcode: i64,
    errmsg: &'a str,
    invaliduser: &'a str,
    invalidparty: &'a str,
    invalidtag: &'a str,
    unlicenseduser: &'a str,
    msgid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_code: Option<&'a str>,
}

fn accept(
    shared: &Shared,
    app: usize,
    value: Value,
    interactive: bool,
    invalid: Invalid,
    ip: IpAddr,
) -> Reply {
    let now = Instant::now();
    let window = duplicate_window(value.as_object().expect("checked to be an object"));
    let key = window.map(|_| {
        let mut key = String::new();
        canonical(&value, &mut key);
        key
    });

    // One outbox critical section makes the duplicate check and the insertion atomic, so two
    // concurrent identical sends cannot both be accepted.
    let mut outbox = shared.outbox();
    if let (Some(window), Some(key)) = (window, &key) {
        if let Some(recent) = outbox.recent.get(key) {
            if now.duration_since(recent.accepted_at) < window {
                return Reply::json(recent.reply.clone());
            }
        }
    }
    let task_id = interactive.then(|| {
        value["template_card"]["task_id"]
            .as_str()
            .unwrap_or_default()
    });
    if task_id.is_some_and(|task_id| outbox.cards.has_task(app, task_id)) {
        drop(outbox);
        return Reply::error_with(40058, "task_id already exists", ip);
    }

    let msgid = format!("{}{}", random_string(24), shared.next_msg_seq());
    let response_code = interactive.then(|| random_string(43));
    let answer = SendAnswer {
        errcode: 0,
        errmsg: "ok",
        invaliduser: &invalid.users,
        invalidparty: &invalid.parties,
        invalidtag: &invalid.tags,
        unlicenseduser: "",
        msgid: &msgid,
        response_code: response_code.as_deref(),
    };
    let reply = Bytes::from(serde_json::to_vec(&answer).expect("plain struct serializes"));

    if let (Some(window), Some(key)) = (window, key) {
        outbox.prune_recent(now);
        outbox.recent.insert(
            key,
            Recent {
                accepted_at: now,
                interval: window,
                reply: reply.clone(),
            },
        );
    }
    if let Some(code) = response_code {
        let card = sent_card(app, shared.apps[app].agent_id, &msgid, &value, &invalid);
        outbox.cards.add(card, code, now);
    }
    outbox.remember_sent(msgid, app, shared.max_records);
    // Lock order is always outbox → journal; recording under the outbox lock keeps messages()
    // in the same order as the msgids were handed out.
    shared.journal().messages.push(value, shared.max_records);
    drop(outbox);
    Reply::json(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::obj;
    use serde_json::json;

    #[test]
    fn emulator_canonical_json_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"q":2,"p":"x"}],"x":null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"p":"x","q":2}]},"b":1}"#).unwrap();
        let (mut ca, mut cb) = (String::new(), String::new());
        canonical(&a, &mut ca);
        canonical(&b, &mut cb);
        assert_eq!(ca, cb);
        assert_eq!(ca, r#"{"a":{"x":null,"y":[1,{"p":"x","q":2}]},"b":1}"#);
    }

    #[test]
    fn emulator_duplicate_window_defaults_and_clamps() {
        assert_eq!(duplicate_window(&obj(json!({}))), None);
        assert_eq!(
            duplicate_window(&obj(json!({"enable_duplicate_check": 0}))),
            None
        );
        assert_eq!(
            duplicate_window(&obj(json!({"enable_duplicate_check": 1}))),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            duplicate_window(&obj(
                json!({"enable_duplicate_check": 1, "duplicate_check_interval": 99999})
            )),
            Some(Duration::from_secs(14400))
        );
        assert_eq!(
            duplicate_window(&obj(
                json!({"enable_duplicate_check": "1", "duplicate_check_interval": "60"})
            )),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn emulator_recipient_limits() {
        let dir = Directory {
            users: None,
            parties: None,
            tags: None,
        };
        let users = vec!["u"; 1001].join("|");
        let err = check_recipients(&dir, &obj(json!({ "touser": users }))).unwrap_err();
        assert_eq!(err.code, 40058);
        let parties = vec!["1"; 101].join("|");
        let err = check_recipients(&dir, &obj(json!({ "toparty": parties }))).unwrap_err();
        assert_eq!(err.code, 40058);
        let users = vec!["u"; 1000].join("|");
        assert!(check_recipients(&dir, &obj(json!({ "touser": users }))).is_ok());
        let err = check_recipients(&dir, &obj(json!({ "touser": " | " }))).unwrap_err();
        assert_eq!(err.code, 81013);
        let err = check_recipients(&dir, &obj(json!({ "toparty": 1 }))).unwrap_err();
        assert_eq!(err.code, 40058);
    }
}
