//! Group chats of an app: `appchat/create`, `appchat/update`, `appchat/get` and `appchat/send`.
//!
//! Each checks the access token first, as `message/send` does. Chats belong to the corp: any
//! of its apps may update, read and send to any chat (real WeCom limits that to the app that
//! created the chat, answering 86008 to the others; the emulator does not check it).
//!
//! Checks run in these orders, each answering the first failure:
//! - create: body (blank → 44002, not a JSON object → 47001) → `chatid`, optional (a non-string
//!   or characters outside `[0-9a-zA-Z]` → 86001, over 32 characters → 86205; absent or empty:
//!   one is generated) → `name`, optional (non-string → 86004; cut to 50 characters, as WeCom
//!   documents) → `userlist` (missing → 86204; not an array of non-empty strings → 86007;
//!   duplicates count once; fewer than 2 or more than 2000 members → 86006; ids outside the
//!   user directory → 86216) → `owner`, optional (non-string → 86005; absent: the first member;
//!   not a member → 86207) → `chatid` taken → 86215.
//! - update: body → `chatid` (missing → 86201, unknown → 86003) → `name`, `owner` as for create
//!   (absent or empty: unchanged) → `add_user_list`, `del_user_list` (86007 and 86216 as for
//!   `userlist`) → the result of adding then removing: outside 2..=2000 members → 86006, owner
//!   not a member → 86207 (so removing the owner needs a new `owner`). Nothing changes unless
//!   every check passes.
//! - get: `chatid` query parameter (missing → 86201, unknown → 86003).
//! - send: body → `chatid` (missing → 86201, unknown → 86003) → `msgtype`: text, image, voice,
//!   video, file, textcard, news, mpnews or markdown (else 40008) → the body under it, checked
//!   as `message/send` checks it (any media_id is accepted). `safe` is not checked.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::check::{optional_str, optional_str_list, reject, Check};
use super::message::check_content;
use super::records::Records;
use super::reply::Reply;
use super::server::Call;
use super::state::Shared;
use super::token::{authenticate, authenticated_body, param};

const MAX_CHATID_CHARS: usize = 32;
const MAX_NAME_CHARS: usize = 50;
const MIN_MEMBERS: usize = 2;
const MAX_MEMBERS: usize = 2000;

const CHAT_MSGTYPES: &[&str] = &[
    "text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
];

/// A group chat created through `appchat/create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub chat_id: String,
    pub name: String,
    pub owner: String,
    /// Member user ids, in the order they joined.
    pub users: Vec<String>,
}

/// The corp's chats in creation order, and the messages sent to them.
#[derive(Default)]
pub(crate) struct ChatStore {
    pub chats: Vec<Chat>,
    index: HashMap<String, usize>,
    pub messages: Records<Value>,
}

impl ChatStore {
    fn get(&self, chat_id: &str) -> Option<&Chat> {
        self.index.get(chat_id).map(|&i| &self.chats[i])
    }

    fn get_mut(&mut self, chat_id: &str) -> Option<&mut Chat> {
        self.index.get(chat_id).map(|&i| &mut self.chats[i])
    }

    fn insert(&mut self, chat: Chat) {
        self.index.insert(chat.chat_id.clone(), self.chats.len());
        self.chats.push(chat);
    }
}

fn fields(value: &Value) -> &Map<String, Value> {
    value.as_object().expect("parse_object returns objects")
}

pub(crate) fn create(shared: &Shared, call: &Call) -> Reply {
    let body = match authenticated_body(shared, call) {
        Ok((_, body)) => body,
        Err(reply) => return reply,
    };
    let chat = match new_chat(shared, fields(&body)) {
        Ok(chat) => chat,
        Err(rejection) => return rejection.into_reply(call.ip),
    };

    let mut chats = shared.chats();
    let chat_id = match chat.chat_id {
        Some(id) if chats.get(&id).is_some() => {
            drop(chats);
            return Reply::error(86215, call.ip);
        }
        Some(id) => id,
        None => loop {
            let candidate = random_chat_id();
            if chats.get(&candidate).is_none() {
                break candidate;
            }
        },
    };
    chats.insert(Chat {
        chat_id: chat_id.clone(),
        name: chat.name,
        owner: chat.owner,
        users: chat.users,
    });
    drop(chats);

    #[derive(Serialize)]
    struct CreateAnswer<'a> {
        errcode: i64,
        errmsg: &'a str,
        chatid: &'a str,
    }
    Reply::json(
        serde_json::to_vec(&CreateAnswer {
            errcode: 0,
            errmsg: "ok",
            chatid: &chat_id,
        })
        .expect("plain struct serializes"),
    )
}

/// A checked `appchat/create` body; `chat_id` is `None` when one must be generated.
struct NewChat {
    chat_id: Option<String>,
    name: String,
    owner: String,
    users: Vec<String>,
}

fn new_chat(shared: &Shared, body: &Map<String, Value>) -> Check<NewChat> {
    let chat_id = optional_str(body, "chatid").map_err(|()| reject(86001))?;
    if let Some(id) = chat_id {
        if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(reject(86001));
        }
        if id.len() > MAX_CHATID_CHARS {
            return Err(reject(86205));
        }
    }
    let name = chat_name(body)?.unwrap_or_default();
    let users = match optional_str_list(body, "userlist") {
        Ok(Some(users)) => dedup(users),
        Ok(None) => return Err(reject(86204)),
        Err(()) => return Err(reject(86007)),
    };
    check_member_count(users.len())?;
    check_in_directory(shared, &users)?;
    let owner = match chat_owner(body)? {
        Some(owner) if !users.iter().any(|u| u == owner) => return Err(reject(86207)),
        Some(owner) => owner.to_owned(),
        None => users[0].clone(),
    };
    Ok(NewChat {
        chat_id: chat_id.map(str::to_owned),
        name,
        owner,
        users,
    })
}

pub(crate) fn update(shared: &Shared, call: &Call) -> Reply {
    let body = match authenticated_body(shared, call) {
        Ok((_, body)) => body,
        Err(reply) => return reply,
    };
    match apply_update(shared, fields(&body)) {
        Ok(()) => Reply::ok(),
        Err(rejection) => rejection.into_reply(call.ip),
    }
}

fn apply_update(shared: &Shared, body: &Map<String, Value>) -> Check<()> {
    let chat_id = match optional_str(body, "chatid") {
        Ok(Some(id)) => id,
        Ok(None) => return Err(reject(86201)),
        Err(()) => return Err(reject(86001)),
    };
    let name = chat_name(body)?;
    let owner = chat_owner(body)?;
    let member_list = |key| optional_str_list(body, key).map_err(|()| reject(86007));
    let added = member_list("add_user_list")?.unwrap_or_default();
    let removed = member_list("del_user_list")?.unwrap_or_default();
    check_in_directory(shared, &added)?;

    let mut chats = shared.chats();
    let chat = chats.get_mut(chat_id).ok_or_else(|| reject(86003))?;
    let mut users = chat.users.clone();
    for id in added {
        if !users.iter().any(|u| u == id) {
            users.push(id.to_owned());
        }
    }
    users.retain(|u| !removed.contains(&u.as_str()));
    check_member_count(users.len())?;
    let owner = owner.unwrap_or(&chat.owner);
    if !users.iter().any(|u| u == owner) {
        return Err(reject(86207));
    }
    chat.owner = owner.to_owned();
    chat.users = users;
    if let Some(name) = name {
        chat.name = name;
    }
    Ok(())
}

pub(crate) fn get(shared: &Shared, call: &Call) -> Reply {
    if let Err(reply) = authenticate(shared, call.query, call.ip) {
        return reply;
    }
    let Some(chat_id) = param(call.query, "chatid") else {
        return Reply::error(86201, call.ip);
    };
    let chats = shared.chats();
    let Some(chat) = chats.get(chat_id) else {
        drop(chats);
        return Reply::error(86003, call.ip);
    };

    #[derive(Serialize)]
    struct ChatInfo<'a> {
        chatid: &'a str,
        name: &'a str,
        owner: &'a str,
        userlist: &'a [String],
    }
    #[derive(Serialize)]
    struct GetAnswer<'a> {
        errcode: i64,
        errmsg: &'a str,
        chat_info: ChatInfo<'a>,
    }
    let answer = serde_json::to_vec(&GetAnswer {
        errcode: 0,
        errmsg: "ok",
        chat_info: ChatInfo {
            chatid: &chat.chat_id,
            name: &chat.name,
            owner: &chat.owner,
            userlist: &chat.users,
        },
    })
    .expect("plain struct serializes");
    drop(chats);
    Reply::json(answer)
}

pub(crate) fn send(shared: &Shared, call: &Call) -> Reply {
    let body = match authenticated_body(shared, call) {
        Ok((_, body)) => body,
        Err(reply) => return reply,
    };
    let chat_id = match optional_str(fields(&body), "chatid") {
        Ok(Some(id)) => id.to_owned(),
        Ok(None) => return Reply::error(86201, call.ip),
        Err(()) => return Reply::error(86001, call.ip),
    };
    if shared.chats().get(&chat_id).is_none() {
        return Reply::error(86003, call.ip);
    }
    if let Err(rejection) = check_chat_message(fields(&body)) {
        return rejection.into_reply(call.ip);
    }
    shared.chats().messages.push(body, shared.max_records);
    Reply::ok()
}

fn check_chat_message(msg: &Map<String, Value>) -> Check<()> {
    let msgtype = msg.get("msgtype").and_then(Value::as_str);
    if !msgtype.is_some_and(|t| CHAT_MSGTYPES.contains(&t)) {
        return Err(reject(40008));
    }
    check_content(msg).map(|_interactive| ())
}

/// `name` cut to 50 characters; `None` when absent or empty.
fn chat_name(body: &Map<String, Value>) -> Check<Option<String>> {
    let name = optional_str(body, "name").map_err(|()| reject(86004))?;
    Ok(name.map(|name| name.chars().take(MAX_NAME_CHARS).collect()))
}

fn chat_owner(body: &Map<String, Value>) -> Check<Option<&str>> {
    optional_str(body, "owner").map_err(|()| reject(86005))
}

fn check_member_count(count: usize) -> Check<()> {
    if (MIN_MEMBERS..=MAX_MEMBERS).contains(&count) {
        Ok(())
    } else {
        Err(reject(86006))
    }
}

fn check_in_directory<S: AsRef<str>>(shared: &Shared, ids: &[S]) -> Check<()> {
    match &shared.directory.users {
        Some(known) if ids.iter().any(|id| !known.contains(id.as_ref())) => Err(reject(86216)),
        _ => Ok(()),
    }
}

/// The ids in first-seen order, each once.
fn dedup(ids: Vec<&str>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for id in ids {
        if seen.insert(id) {
            unique.push(id.to_owned());
        }
    }
    unique
}

/// 32 characters of `[0-9a-zA-Z]`, the alphabet WeCom allows in a chatid.
fn random_chat_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..MAX_CHATID_CHARS)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_chat_dedup_keeps_first_seen_order() {
        assert_eq!(dedup(vec!["b", "a", "b", "c", "a"]), vec!["b", "a", "c"]);
    }

    #[test]
    fn emulator_chat_member_count_bounds() {
        assert_eq!(check_member_count(1).unwrap_err().code, 86006);
        assert!(check_member_count(2).is_ok());
        assert!(check_member_count(2000).is_ok());
        assert_eq!(check_member_count(2001).unwrap_err().code, 86006);
    }

    #[test]
    fn emulator_chat_generated_ids_are_valid_chatids() {
        let id = random_chat_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert_ne!(id, random_chat_id());
    }

    #[test]
    fn emulator_chat_name_is_cut_to_50_characters() {
        let body = serde_json::json!({ "name": "群".repeat(60) });
        let name = chat_name(body.as_object().unwrap()).unwrap().unwrap();
        assert_eq!(name, "群".repeat(50));
    }
}
