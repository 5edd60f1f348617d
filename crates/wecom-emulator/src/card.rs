//! Interactive template cards: what `message/send` remembers of them, a member pressing one of
//! their buttons ([`Emulator::click`](crate::Emulator::click)), and
//! `POST /cgi-bin/message/update_template_card`.
//!
//! `message/send` of a `button_interaction`, `vote_interaction` or `multiple_interaction` card
//! needs a `task_id` (1 to 128 bytes of `[0-9A-Za-z_-@]`, else 40058) that the same app has not
//! used before (else 40058 "task_id already exists": WeCom's docs say a task id cannot repeat
//! within an app and publish no code of its own for it). The send's `response_code`, and the
//! fresh one of each click, update the card once, within 72 hours.
//!
//! What a card offers to press: the keys of `button_list` (buttons of type 0, the default; a
//! type 1 button opens a URL), `submit_button.key`, and the keys of `action_menu.action_list`
//! (which give `template_card_menu_event`); its questions are `button_selection`, `checkbox` and
//! `select_list`, whose preselected options (`is_checked`, `selected_id`) are what a click
//! answers unless it says otherwise.
//!
//! `update_template_card` checks, in order, each answering the first failure: token → body
//! (blank → 44002, not a JSON object → 47001) → `agentid` (another app's → 301002, else → 40056)
//! → `response_code` (missing or not a string → 40058) → exactly one of `button` and
//! `template_card` (else 40058) → `button.replace_name`, a non-empty string, or the card as
//! `message/send` checks it (40058) → `userids` (an array of strings, at most 1000),
//! `partyids` and `tagids` (arrays of ids as numbers or numeric strings, at most 100 each),
//! `atall` (0 or 1) → 40058 → the code: unknown, used, expired or another app's → 40058
//! "invalid response_code" (WeCom documents no code of its own for a spent code) → recipients
//! outside the directory are listed in `invaliduser` (an array, as WeCom answers it); all of
//! them invalid → 81013. Without recipients a click's code updates the card for the member who
//! clicked, and a send's code for everyone the card went to. Only an accepted update uses up
//! its code. A replacement card that is itself interactive offers its own buttons from then on.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::check::{reject, reject_with, Check};
use super::message::{check_agent, check_content, ids, int_field, Invalid};
use super::records::Records;
use super::reply::Reply;
use super::server::Call;
use super::state::{random_string, Directory, Shared};
use super::token::authenticated_body;

/// How long a response code can update its card.
pub const RESPONSE_CODE_TTL: Duration = Duration::from_secs(72 * 3600);

const MAX_TASK_ID_BYTES: usize = 128;
const MAX_USERS: usize = 1000;
const MAX_PARTIES: usize = 100;
const MAX_TAGS: usize = 100;
/// The errcode of a response code that is unknown, used, expired or another app's.
const INVALID_CODE: i64 = 40058;

/// An interactive template card an app sent, as the emulator remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub task_id: String,
    pub msgid: String,
    pub agent_id: i64,
    pub card_type: String,
    /// The users it reached (ids outside the directory left out), unless it went to `@all`.
    pub users: Vec<String>,
    pub parties: Vec<String>,
    pub tags: Vec<String>,
    /// Sent to `@all`.
    pub all: bool,
    /// Keys that give a `template_card_event`: `button_list` and `submit_button`.
    pub keys: Vec<String>,
    /// Keys of the card's action menu, which give a `template_card_menu_event`.
    pub menu_keys: Vec<String>,
    /// The card's questions (vote, multiple choice, a button card's selection).
    pub questions: Vec<Question>,
    app: usize,
}

/// A question of a card and the ids of its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub key: String,
    pub options: Vec<String>,
    /// Options checked before the member changes anything (`is_checked`, `selected_id`).
    pub preselected: Vec<String>,
}

/// An accepted `update_template_card`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardUpdate {
    pub task_id: String,
    pub agent_id: i64,
    pub response_code: String,
    /// Who it updated the card for: the request's recipients, else those the code stands for
    /// (the member who clicked, or everyone the card went to).
    pub users: Vec<String>,
    pub parties: Vec<String>,
    pub tags: Vec<String>,
    pub all: bool,
    /// The request body as received.
    pub body: Value,
}

/// A member's click: the `template_card_event` (or `template_card_menu_event`) WeCom delivers
/// to the app's callback URL, as a tree of WeCom's fields (`CreateTime` left to the deliverer).
#[derive(Debug, Clone, PartialEq)]
pub struct CardClick {
    /// The app that sent the card: its callback URL receives the event.
    pub agent_id: i64,
    pub event: Value,
}

/// Why a click cannot happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickError {
    /// No card has this msgid or task id.
    UnknownCard(String),
    /// Several apps sent a card with this task id: give the msgid.
    AmbiguousTaskId(String),
    NotARecipient {
        user: String,
        task_id: String,
    },
    UnknownKey {
        key: String,
        task_id: String,
        keys: Vec<String>,
    },
    UnknownQuestion {
        question: String,
        task_id: String,
    },
    UnknownOption {
        option: String,
        question: String,
    },
}

impl fmt::Display for ClickError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClickError::UnknownCard(id) => {
                write!(
                    f,
                    "no interactive template card has msgid or task_id {id:?}"
                )
            }
            ClickError::AmbiguousTaskId(id) => write!(
                f,
                "several apps sent a card with task_id {id:?}: give the msgid instead"
            ),
            ClickError::NotARecipient { user, task_id } => {
                write!(f, "{user:?} did not receive the card {task_id:?}")
            }
            ClickError::UnknownKey { key, task_id, keys } => write!(
                f,
                "the card {task_id:?} has no button {key:?} (its keys: {})",
                if keys.is_empty() {
                    "none".to_owned()
                } else {
                    keys.join(", ")
                }
            ),
            ClickError::UnknownQuestion { question, task_id } => {
                write!(f, "the card {task_id:?} has no question {question:?}")
            }
            ClickError::UnknownOption { option, question } => {
                write!(f, "the question {question:?} has no option {option:?}")
            }
        }
    }
}

impl std::error::Error for ClickError {}

/// A response code: the card it updates, and for whom by default.
struct Code {
    app: usize,
    card: usize,
    /// The member who clicked; `None` for the code of the send.
    user: Option<String>,
    issued_at: Instant,
    /// Added by `age_response_codes`, so tests need not wait 72 hours.
    aged: Duration,
    used: bool,
}

impl Code {
    fn is_valid(&self, app: usize, now: Instant) -> bool {
        !self.used
            && self.app == app
            && now.duration_since(self.issued_at) + self.aged < RESPONSE_CODE_TTL
    }
}

/// The cards sent, their codes and their updates. It lives in the outbox, under the same lock
/// as the send that adds a card, so that two sends cannot both take one task id.
#[derive(Default)]
pub(crate) struct CardStore {
    pub cards: Vec<Card>,
    by_task: HashMap<(usize, String), usize>,
    by_msgid: HashMap<String, usize>,
    codes: HashMap<String, Code>,
    pub updates: Records<CardUpdate>,
}

impl CardStore {
    pub fn has_task(&self, app: usize, task_id: &str) -> bool {
        self.by_task.contains_key(&(app, task_id.to_owned()))
    }

    /// Remembers a card accepted by message/send, with the send's response code.
    pub fn add(&mut self, card: Card, response_code: String, now: Instant) {
        let index = self.cards.len();
        self.by_task.insert((card.app, card.task_id.clone()), index);
        self.by_msgid.insert(card.msgid.clone(), index);
        self.issue(response_code, card.app, index, None, now);
        self.cards.push(card);
    }

    fn issue(&mut self, code: String, app: usize, card: usize, user: Option<String>, now: Instant) {
        self.codes.insert(
            code,
            Code {
                app,
                card,
                user,
                issued_at: now,
                aged: Duration::ZERO,
                used: false,
            },
        );
    }

    fn fresh_code(&self) -> String {
        loop {
            let candidate = random_string(43);
            if !self.codes.contains_key(&candidate) {
                return candidate;
            }
        }
    }

    fn find(&self, id: &str) -> Result<usize, ClickError> {
        if let Some(&index) = self.by_msgid.get(id) {
            return Ok(index);
        }
        let mut found = self
            .by_task
            .iter()
            .filter(|((_, task_id), _)| task_id == id)
            .map(|(_, &index)| index);
        match (found.next(), found.next()) {
            (Some(index), None) => Ok(index),
            (Some(_), Some(_)) => Err(ClickError::AmbiguousTaskId(id.to_owned())),
            (None, _) => Err(ClickError::UnknownCard(id.to_owned())),
        }
    }

    pub fn age_codes(&mut self, by: Duration) {
        for code in self.codes.values_mut() {
            code.aged = code.aged.saturating_add(by);
        }
    }
}

/// A task id as WeCom allows it: 1 to 128 bytes of digits, letters and `_-@`.
fn valid_task_id(task_id: &str) -> bool {
    (1..=MAX_TASK_ID_BYTES).contains(&task_id.len())
        && task_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-@".contains(&b))
}

/// The checked `task_id` of an interactive card body.
pub(crate) fn check_task_id(card: &Map<String, Value>) -> Check<()> {
    match card.get("task_id").and_then(Value::as_str) {
        Some(task_id) if valid_task_id(task_id) => Ok(()),
        _ => Err(reject_with(40058, "task_id missing or invalid")),
    }
}

fn str_of<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An option id or a key given as a string or a number.
fn id_of(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn items<'v>(value: Option<&'v Value>, key: &str) -> &'v [Value] {
    value
        .and_then(|v| v.get(key))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The question of a `button_selection`, `checkbox` or `select_list` item.
fn question(item: &Value, checked: impl Fn(&Value) -> bool) -> Option<Question> {
    let key = str_of(item, "question_key")?.to_owned();
    let options = items(Some(item), "option_list");
    let selected = id_of(item, "selected_id");
    Some(Question {
        key,
        options: options.iter().filter_map(|o| id_of(o, "id")).collect(),
        preselected: options
            .iter()
            .filter(|o| checked(o) || (selected.is_some() && id_of(o, "id") == selected))
            .filter_map(|o| id_of(o, "id"))
            .collect(),
    })
}

/// What can be pressed on a card body: its keys, menu keys and questions.
fn controls(card: &Value) -> (Vec<String>, Vec<String>, Vec<Question>) {
    let mut keys: Vec<String> = items(Some(card), "button_list")
        .iter()
        // type 1 opens a URL instead of calling back.
        .filter(|b| int_value(b.get("type")).unwrap_or(0) == 0)
        .filter_map(|b| str_of(b, "key").map(str::to_owned))
        .collect();
    if let Some(key) = card.get("submit_button").and_then(|b| str_of(b, "key")) {
        keys.push(key.to_owned());
    }
    let menu_keys = items(card.get("action_menu"), "action_list")
        .iter()
        .filter_map(|a| str_of(a, "key").map(str::to_owned))
        .collect();
    let unchecked = |_: &Value| false;
    let is_checked = |o: &Value| o.get("is_checked").and_then(Value::as_bool) == Some(true);
    let mut questions = Vec::new();
    questions.extend(
        card.get("button_selection")
            .and_then(|q| question(q, unchecked)),
    );
    questions.extend(card.get("checkbox").and_then(|q| question(q, is_checked)));
    questions.extend(
        items(Some(card), "select_list")
            .iter()
            .filter_map(|q| question(q, unchecked)),
    );
    (keys, menu_keys, questions)
}

fn int_value(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The card of an accepted interactive `message/send` (its recipients already checked), to
/// remember.
pub(crate) fn sent_card(
    app: usize,
    agent_id: i64,
    msgid: &str,
    body: &Value,
    invalid: &Invalid,
) -> Card {
    let msg = body.as_object().expect("checked to be an object");
    let listed = |key: &'static str, invalid: &str| -> Vec<String> {
        let invalid: HashSet<&str> = invalid.split('|').collect();
        ids(msg, key, usize::MAX)
            .unwrap_or_default()
            .into_iter()
            .filter(|id| !invalid.contains(id))
            .map(str::to_owned)
            .collect()
    };
    let mut users = listed("touser", &invalid.users);
    let all = users.iter().any(|u| u == "@all");
    if all {
        users.clear();
    }
    let card = &body["template_card"];
    let (keys, menu_keys, questions) = controls(card);
    Card {
        task_id: str_of(card, "task_id").unwrap_or_default().to_owned(),
        msgid: msgid.to_owned(),
        agent_id,
        card_type: str_of(card, "card_type").unwrap_or_default().to_owned(),
        users,
        parties: listed("toparty", &invalid.parties),
        tags: listed("totag", &invalid.tags),
        all,
        keys,
        menu_keys,
        questions,
        app,
    }
}

/// A member pressing `key` on a card: checks it, issues a fresh response code and returns the
/// event to deliver. `selected`: answers to the card's questions (question key → option ids),
/// overriding what is preselected.
pub(crate) fn click(
    shared: &Shared,
    id: &str,
    user: &str,
    key: &str,
    selected: &[(String, Vec<String>)],
) -> Result<CardClick, ClickError> {
    let mut outbox = shared.outbox();
    let cards = &mut outbox.cards;
    let index = cards.find(id)?;
    let card = &cards.cards[index];
    if !received(card, user, &shared.directory) {
        return Err(ClickError::NotARecipient {
            user: user.to_owned(),
            task_id: card.task_id.clone(),
        });
    }
    let event = if card.keys.iter().any(|k| k == key) {
        "template_card_event"
    } else if card.menu_keys.iter().any(|k| k == key) {
        "template_card_menu_event"
    } else {
        return Err(ClickError::UnknownKey {
            key: key.to_owned(),
            task_id: card.task_id.clone(),
            keys: card.keys.iter().chain(&card.menu_keys).cloned().collect(),
        });
    };
    for (question, options) in selected {
        let Some(q) = card.questions.iter().find(|q| &q.key == question) else {
            return Err(ClickError::UnknownQuestion {
                question: question.clone(),
                task_id: card.task_id.clone(),
            });
        };
        if let Some(option) = options.iter().find(|o| !q.options.contains(o)) {
            return Err(ClickError::UnknownOption {
                option: option.clone(),
                question: question.clone(),
            });
        }
    }

    let code = cards.fresh_code();
    let card = &cards.cards[index];
    let mut fields = json!({
        "ToUserName": shared.corp_id,
        "FromUserName": user,
        "MsgType": "event",
        "Event": event,
        "EventKey": key,
        "TaskId": card.task_id,
        "CardType": card.card_type,
        "ResponseCode": code,
        "AgentID": card.agent_id.to_string(),
    });
    if event == "template_card_event" && !card.questions.is_empty() {
        let answers: Vec<Value> = card
            .questions
            .iter()
            .map(|q| {
                let chosen = selected
                    .iter()
                    .find(|(key, _)| key == &q.key)
                    .map_or(&q.preselected, |(_, options)| options);
                json!({"QuestionKey": q.key, "OptionIds": {"OptionId": chosen}})
            })
            .collect();
        fields["SelectedItems"] = json!({ "SelectedItem": answers });
    }
    let agent_id = card.agent_id;
    let app = card.app;
    cards.issue(code, app, index, Some(user.to_owned()), Instant::now());
    Ok(CardClick {
        agent_id,
        event: fields,
    })
}

/// Whether `user` got the card: named in touser, or it went to `@all`, or to a party or tag (the
/// emulator knows no membership, so any user of the directory then).
fn received(card: &Card, user: &str, directory: &Directory) -> bool {
    if card.users.iter().any(|u| u == user) {
        return true;
    }
    let to_groups = card.all || !card.parties.is_empty() || !card.tags.is_empty();
    to_groups
        && directory
            .users
            .as_ref()
            .is_none_or(|known| known.contains(user))
}

fn id_list(
    msg: &Map<String, Value>,
    key: &'static str,
    max: usize,
    numeric: bool,
) -> Check<Vec<String>> {
    let invalid = || {
        reject_with(
            40058,
            format!("{key} must be an array of at most {max} ids"),
        )
    };
    let items = match msg.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= max => items,
        Some(_) => return Err(invalid()),
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::String(s)
                if !s.is_empty() && (!numeric || s.bytes().all(|b| b.is_ascii_digit())) =>
            {
                s.clone()
            }
            Value::Number(n) if numeric && n.is_u64() => n.to_string(),
            _ => return Err(invalid()),
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// What an update changes: the new button text, or a whole card.
fn check_change(msg: &Map<String, Value>) -> Check<()> {
    match (msg.get("button"), msg.get("template_card")) {
        (Some(button), None) => match button.get("replace_name").and_then(Value::as_str) {
            Some(name) if !name.trim().is_empty() => Ok(()),
            _ => Err(reject_with(40058, "button.replace_name missing or invalid")),
        },
        (None, Some(card)) => {
            // As message/send checks it (an interactive card's task_id included).
            let as_send = json!({"msgtype": "template_card", "template_card": card});
            check_content(as_send.as_object().expect("an object")).map(|_| ())
        }
        _ => Err(reject_with(
            40058,
            "exactly one of button and template_card is required",
        )),
    }
}

struct Recipients {
    users: Vec<String>,
    parties: Vec<String>,
    tags: Vec<String>,
    all: bool,
}

fn check_recipients(msg: &Map<String, Value>) -> Check<Recipients> {
    let all = match msg.get("atall") {
        None | Some(Value::Null) => false,
        Some(_) => match int_field(msg, "atall") {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(reject_with(40058, "atall must be 0 or 1")),
        },
    };
    Ok(Recipients {
        users: id_list(msg, "userids", MAX_USERS, false)?,
        parties: id_list(msg, "partyids", MAX_PARTIES, true)?,
        tags: id_list(msg, "tagids", MAX_TAGS, true)?,
        all,
    })
}

fn not_in<'a>(ids: &'a [String], known: &Option<HashSet<String>>) -> Vec<&'a str> {
    match known {
        None => Vec::new(),
        Some(known) => ids
            .iter()
            .filter(|id| !known.contains(*id))
            .map(String::as_str)
            .collect(),
    }
}

#[derive(Serialize)]
struct UpdateAnswer<'a> {
    errcode: i64,
    errmsg: &'a str,
    invaliduser: Vec<&'a str>,
}

pub(crate) fn update_template_card(shared: &Shared, call: &Call) -> Reply {
    let (app, body) = match authenticated_body(shared, call) {
        Ok(authenticated) => authenticated,
        Err(reply) => return reply,
    };
    let msg = body.as_object().expect("parse_object returns objects");
    let checked = check_agent(shared, app, msg)
        .and_then(
            |()| match msg.get("response_code").and_then(Value::as_str) {
                Some(code) if !code.is_empty() => Ok(code.to_owned()),
                _ => Err(reject_with(40058, "response_code missing or invalid")),
            },
        )
        .and_then(|code| {
            check_change(msg)?;
            Ok((code, check_recipients(msg)?))
        });
    let (code, mut recipients) = match checked {
        Ok(checked) => checked,
        Err(rejection) => return rejection.into_reply(call.ip),
    };

    let now = Instant::now();
    let mut outbox = shared.outbox();
    let cards = &mut outbox.cards;
    let Some((index, user)) = cards
        .codes
        .get(&code)
        .filter(|c| c.is_valid(app, now))
        .map(|c| (c.card, c.user.clone()))
    else {
        drop(outbox);
        return reject_with(
            INVALID_CODE,
            "invalid response_code (unknown, used or expired)",
        )
        .into_reply(call.ip);
    };
    let card = &cards.cards[index];
    let (task_id, agent_id) = (card.task_id.clone(), card.agent_id);
    if !recipients.all
        && recipients.users.is_empty()
        && recipients.parties.is_empty()
        && recipients.tags.is_empty()
    {
        // The code's own audience: the member who clicked, or everyone the card went to.
        recipients = match user {
            Some(user) => Recipients {
                users: vec![user],
                parties: Vec::new(),
                tags: Vec::new(),
                all: false,
            },
            None => Recipients {
                users: card.users.clone(),
                parties: card.parties.clone(),
                tags: card.tags.clone(),
                all: card.all,
            },
        };
    }
    let invalid_users = if recipients.all {
        Vec::new()
    } else {
        not_in(&recipients.users, &shared.directory.users)
    };
    let invalid_count = invalid_users.len()
        + if recipients.all {
            0
        } else {
            not_in(&recipients.parties, &shared.directory.parties).len()
                + not_in(&recipients.tags, &shared.directory.tags).len()
        };
    let total = recipients.users.len() + recipients.parties.len() + recipients.tags.len();
    if !recipients.all && invalid_count == total {
        drop(outbox);
        return reject(81013).into_reply(call.ip);
    }
    let answer = serde_json::to_vec(&UpdateAnswer {
        errcode: 0,
        errmsg: "ok",
        invaliduser: invalid_users,
    })
    .expect("plain struct serializes");

    if let Some(replacement) = msg.get("template_card") {
        let (keys, menu_keys, questions) = controls(replacement);
        if !(keys.is_empty() && menu_keys.is_empty() && questions.is_empty()) {
            let card = &mut cards.cards[index];
            card.keys = keys;
            card.menu_keys = menu_keys;
            card.questions = questions;
            if let Some(card_type) = str_of(replacement, "card_type") {
                card.card_type = card_type.to_owned();
            }
        }
    }
    cards.codes.get_mut(&code).expect("found above").used = true;
    let limit = shared.max_records;
    cards.updates.push(
        CardUpdate {
            task_id,
            agent_id,
            response_code: code,
            users: recipients.users,
            parties: recipients.parties,
            tags: recipients.tags,
            all: recipients.all,
            body,
        },
        limit,
    );
    drop(outbox);
    Reply::json(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_task_ids_as_wecom_allows_them() {
        assert!(valid_task_id("interview-42_a@b"));
        assert!(valid_task_id(&"a".repeat(128)));
        assert!(!valid_task_id(&"a".repeat(129)));
        assert!(!valid_task_id(""));
        assert!(!valid_task_id("with space"));
        assert!(!valid_task_id("任务"));
    }

    #[test]
    fn emulator_card_controls() {
        let card = json!({
            "card_type": "button_interaction",
            "button_list": [{"text": "Yes", "key": "yes"}, {"text": "Open", "type": 1, "url": "https://x"},
                            {"text": "No", "key": "no", "type": 0}],
            "button_selection": {"question_key": "room", "option_list": [{"id": "r1"}, {"id": "r2"}],
                                 "selected_id": "r2"},
            "action_menu": {"action_list": [{"text": "Mute", "key": "mute"}]},
        });
        let (keys, menu, questions) = controls(&card);
        assert_eq!(keys, ["yes", "no"]);
        assert_eq!(menu, ["mute"]);
        assert_eq!(
            questions,
            [Question {
                key: "room".into(),
                options: vec!["r1".into(), "r2".into()],
                preselected: vec!["r2".into()]
            }]
        );
        let vote = json!({
            "checkbox": {"question_key": "q", "option_list": [{"id": "a", "is_checked": true}, {"id": "b"}]},
            "submit_button": {"text": "Send", "key": "submit"},
        });
        let (keys, _, questions) = controls(&vote);
        assert_eq!(keys, ["submit"]);
        assert_eq!(questions[0].preselected, ["a"]);
    }
}
