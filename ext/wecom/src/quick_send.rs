//! The common app message — text or markdown to a few ids — read and checked here from the
//! send's own arguments, with no `WeCom::AppMessage`, body Hash or keyword splats built in Ruby.
//! Used by `Client#send_text`/`#send_markdown` (lib/wecom/client.rb) when nothing else needs
//! those objects (live delivery, no subscriber).
//!
//! Anything unusual — a limit exceeded, a blank or non-UTF-8 string, a Symbol, a nested list,
//! an unknown keyword — is *not* an error here: `message` answers `None` and the send takes the
//! Ruby path, which raises exactly the `ArgumentError` it always has. So this module decides
//! only "plainly valid", and the wording of every error stays in one place.

use std::cell::RefCell;
use std::collections::HashSet;

use magnus::{
    function, method, prelude::*, value::LazyId, Error, Integer, RArray, RHash, RModule, RString,
    Ruby, Symbol, Value,
};
use serde_json::{Map, Value as Json};
use wecom_core::{Message, Recipients, SendOptions};

/// Messages::TEXT_MAX_BYTES and MARKDOWN_MAX_BYTES (lib/wecom/messages.rb).
const CONTENT_MAX_BYTES: usize = 2048;
/// Client::DEFAULT_DUPLICATE_CHECK and MAX_DUPLICATE_CHECK (lib/wecom/client.rb).
const DEFAULT_DUPLICATE_CHECK: u32 = 1800;
const MAX_DUPLICATE_CHECK: i64 = 14_400;
/// Past this many ids, duplicates are found with a set rather than by scanning.
const SCAN_LIMIT: usize = 16;

static TO: LazyId = LazyId::new("to");
static PARTY: LazyId = LazyId::new("party");
static TAG: LazyId = LazyId::new("tag");
static SAFE: LazyId = LazyId::new("safe");
static ID_TRANS: LazyId = LazyId::new("id_trans");
static DUPLICATE_CHECK: LazyId = LazyId::new("duplicate_check");

/// `WeCom::Native::QuickMessage`: a message read here while someone subscribes to
/// "deliver.wecom" — Ruby builds the event's payload from `counts` and sends it inside the event
/// with `Native::Client#send_prepared`, which takes it (a message is sent once).
#[magnus::wrap(class = "WeCom::Native::QuickMessage", free_immediately, size)]
pub struct QuickMessage(RefCell<Option<Message>>);

impl QuickMessage {
    /// `QuickMessage.read(msgtype, content, options)`: nil when the Ruby path must check them.
    fn read(msgtype: String, content: Value, options: RHash) -> Option<QuickMessage> {
        message(&msgtype, content, options).map(|m| QuickMessage(RefCell::new(Some(m))))
    }

    /// `[users, parties, tags, all]`, as the "deliver.wecom" payload counts them.
    fn counts(&self) -> Option<(usize, usize, usize, bool)> {
        let message = self.0.borrow();
        let recipients = &message.as_ref()?.recipients;
        Some((
            recipients.users.len(),
            recipients.parties.len(),
            recipients.tags.len(),
            recipients.all,
        ))
    }

    /// The message, once: nil after it was sent.
    pub fn take(&self) -> Option<Message> {
        self.0.borrow_mut().take()
    }
}

pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("QuickMessage", ruby.class_object())?;
    class.define_singleton_method("read", function!(QuickMessage::read, 3))?;
    class.define_method("counts", method!(QuickMessage::counts, 0))?;
    Ok(())
}

/// The message of `send_<msgtype>(content, **options)`, or `None` when the Ruby path must check
/// it (see the module comment).
pub fn message(msgtype: &str, content: Value, options: RHash) -> Option<Message> {
    if !matches!(msgtype, "text" | "markdown") {
        return None;
    }
    let content = plain_string(content)?;
    if content.len() > CONTENT_MAX_BYTES || blank(&content) {
        return None;
    }
    let mut found = 0;
    let mut get = |key: &LazyId| -> Option<Value> {
        let value = options.get(**key);
        found += usize::from(value.is_some());
        value.filter(|value| !value.is_nil())
    };
    let to = get(&TO);
    let party = get(&PARTY);
    let tag = get(&TAG);
    let safe = get(&SAFE).is_some_and(|value| value.to_bool());
    let id_trans = get(&ID_TRANS).is_some_and(|value| value.to_bool());
    let duplicate_check = get(&DUPLICATE_CHECK);
    if found != options.len() {
        return None; // an unknown keyword: Ruby names it
    }

    let mut recipients = Recipients::default();
    if let Some(to) = to {
        if let Some(symbol) = Symbol::from_value(to) {
            // to: :all, and no other Symbol (Ruby turns those into ids).
            if symbol.name().ok()? != "all" {
                return None;
            }
            recipients.all = true;
        } else {
            recipients.users = ids(to)?;
            if recipients.users.iter().any(|id| id == "@all") {
                recipients.all = true;
                recipients.users = Vec::new();
            }
        }
    }
    if let Some(party) = party {
        recipients.parties = ids(party)?;
    }
    if let Some(tag) = tag {
        recipients.tags = ids(tag)?;
    }
    if recipients.is_empty() {
        return None;
    }

    let mut body = Map::with_capacity(1);
    body.insert("content".into(), Json::String(content));
    Some(Message {
        msgtype: msgtype.to_owned(),
        body: Json::Object(body),
        recipients,
        options: SendOptions {
            safe,
            id_trans,
            duplicate_check: interval(duplicate_check)?,
        },
    })
}

/// A String in UTF-8 (or US-ASCII) that is valid UTF-8, copied out.
fn plain_string(value: Value) -> Option<String> {
    let string = RString::from_value(value)?;
    let ruby = Ruby::get_with(string);
    let encoding = string.enc_get();
    if encoding != ruby.utf8_encindex() && encoding != ruby.usascii_encindex() {
        return None;
    }
    // SAFETY: the bytes are copied at once, with the GVL held and the string alive.
    let bytes = unsafe { string.as_slice() };
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// What Ruby's String#strip removes (ASCII whitespace and NUL).
fn strippable(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0)
}

fn blank(text: &str) -> bool {
    text.bytes().all(strippable)
}

/// One id or a flat Array of them, each a plain String (no `|`, no surrounding blanks) or an
/// Integer; duplicates dropped in order, as `Recipients.ids` does.
fn ids(value: Value) -> Option<Vec<String>> {
    let mut list = Vec::new();
    match RArray::from_value(value) {
        Some(array) => {
            list.reserve(array.len());
            for i in 0..array.len() {
                list.push(id(array.entry::<Value>(i as isize).ok()?)?);
            }
        }
        None => list.push(id(value)?),
    }
    if list.len() <= SCAN_LIMIT {
        let mut unique: Vec<String> = Vec::with_capacity(list.len());
        for id in list {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        Some(unique)
    } else {
        let mut seen = HashSet::with_capacity(list.len());
        list.retain(|id| seen.insert(id.clone()));
        Some(list)
    }
}

fn id(value: Value) -> Option<String> {
    if let Some(integer) = Integer::from_value(value) {
        return integer.to_i64().ok().map(|n| n.to_string());
    }
    let id = plain_string(value)?;
    let plain = !id.is_empty()
        && !id.contains('|')
        && !id.bytes().next().is_some_and(strippable)
        && !id.bytes().last().is_some_and(strippable);
    plain.then_some(id)
}

/// duplicate_check: nil/false (off), true (the default window) or whole seconds in range.
fn interval(value: Option<Value>) -> Option<Option<u32>> {
    let Some(value) = value else {
        return Some(None);
    };
    if !value.to_bool() {
        return Some(None);
    }
    let ruby = Ruby::get_with(value);
    if value.is_kind_of(ruby.class_true_class()) {
        return Some(Some(DEFAULT_DUPLICATE_CHECK));
    }
    let seconds = Integer::from_value(value)?.to_i64().ok()?;
    (1..=MAX_DUPLICATE_CHECK)
        .contains(&seconds)
        .then_some(Some(seconds as u32))
}
