//! `WeCom::Native::Callback`: the native half of `WeCom::Callback` (lib/wecom/callback.rb) — one
//! callback URL's keys, checking, decrypting and parsing what WeCom sends, and sealing replies;
//! and WeCom's side of the same protocol, for `WeCom::Emulator`. All of it is CPU work of
//! microseconds, so it runs with the GVL held.

use std::time::{Duration, SystemTime};

use magnus::{function, method, prelude::*, Error, RHash, RModule, RString, Ruby, Value};
use wecom_callback::{Keys, Query};

use crate::convert;
use crate::errors::{self, guard};

#[magnus::wrap(class = "WeCom::Native::Callback", free_immediately, size)]
struct NativeCallback(Keys);

/// An absent parameter is an empty one: both are "missing" to the core.
fn query<'a>(
    signature: &'a Option<String>,
    timestamp: &'a Option<String>,
    nonce: &'a Option<String>,
    echostr: Option<&'a str>,
) -> Query<'a> {
    Query {
        msg_signature: signature.as_deref().unwrap_or(""),
        timestamp: timestamp.as_deref().unwrap_or(""),
        nonce: nonce.as_deref().unwrap_or(""),
        echostr,
    }
}

fn window(ruby: &Ruby, seconds: f64) -> Result<Duration, Error> {
    convert::seconds(ruby, "replay_window", seconds)
}

/// A reply or message tree (a Hash of String keys) as XML.
fn xml(ruby: &Ruby, tree: RHash, field: &str) -> Result<String, Error> {
    let serde_json::Value::Object(tree) = convert::to_json(ruby, tree.as_value(), field)? else {
        unreachable!("a Hash converts to an object");
    };
    // Only a tree the caller built can fail (an element name that is not an XML name).
    wecom_callback::write_xml(&tree)
        .map_err(|e| Error::new(ruby.exception_arg_error(), format!("{field}: {e}")))
}

fn tree(ruby: &Ruby, tree: serde_json::Map<String, serde_json::Value>) -> Result<Value, Error> {
    convert::to_ruby(ruby, &serde_json::Value::Object(tree))
}

impl NativeCallback {
    fn new(
        ruby: &Ruby,
        token: String,
        encoding_aes_key: String,
        receive_id: String,
    ) -> Result<Self, Error> {
        guard(ruby, || {
            let keys = Keys::new(&token, &encoding_aes_key, &receive_id)
                .map_err(|e| errors::callback_to_ruby(ruby, e))?;
            Ok(NativeCallback(keys))
        })
    }

    /// The URL check: the echostr's plaintext.
    fn verify_url(
        ruby: &Ruby,
        rb_self: &Self,
        signature: Option<String>,
        timestamp: Option<String>,
        nonce: Option<String>,
        echostr: Option<String>,
        replay_window: f64,
    ) -> Result<RString, Error> {
        guard(ruby, || {
            let q = query(&signature, &timestamp, &nonce, echostr.as_deref());
            let plain = rb_self
                .0
                .verify_url(&q, SystemTime::now(), window(ruby, replay_window)?)
                .map_err(|e| errors::callback_to_ruby(ruby, e))?;
            Ok(ruby.str_from_slice(&plain))
        })
    }

    /// A POSTed callback: its fields (a Hash of String keys; nested Hashes and Arrays).
    fn open(
        ruby: &Ruby,
        rb_self: &Self,
        signature: Option<String>,
        timestamp: Option<String>,
        nonce: Option<String>,
        body: RString,
        replay_window: f64,
    ) -> Result<Value, Error> {
        guard(ruby, || {
            let q = query(&signature, &timestamp, &nonce, None);
            let window = window(ruby, replay_window)?;
            // SAFETY: the bytes are read before anything else runs Ruby code.
            let opened = rb_self
                .0
                .open(&q, unsafe { body.as_slice() }, SystemTime::now(), window);
            tree(ruby, opened.map_err(|e| errors::callback_to_ruby(ruby, e))?)
        })
    }

    /// The encrypted reply envelope for a reply tree, with a fresh timestamp and nonce.
    fn seal(ruby: &Ruby, rb_self: &Self, reply: RHash) -> Result<String, Error> {
        guard(ruby, || {
            let reply = xml(ruby, reply, "reply")?;
            let timestamp = wecom_callback::timestamp(SystemTime::now());
            Ok(rb_self
                .0
                .seal(reply.as_bytes(), &timestamp, &wecom_callback::nonce()))
        })
    }

    /// WeCom's side of the URL check: `[msg_signature, timestamp, nonce, echostr]` for `echo`.
    fn sign_url_check(
        ruby: &Ruby,
        rb_self: &Self,
        echo: RString,
        timestamp: String,
    ) -> Result<Vec<String>, Error> {
        guard(ruby, || {
            // SAFETY: copied at once.
            let signed = rb_self.0.sign_url_check(
                unsafe { echo.as_slice() },
                &timestamp,
                &wecom_callback::nonce(),
            );
            let echostr = signed.echostr.unwrap_or_default();
            Ok(vec![
                signed.msg_signature,
                signed.timestamp,
                signed.nonce,
                echostr,
            ])
        })
    }

    /// WeCom's side of a message: `[msg_signature, timestamp, nonce, body]` for a message tree.
    fn sign_message(
        ruby: &Ruby,
        rb_self: &Self,
        message: RHash,
        timestamp: String,
    ) -> Result<Vec<String>, Error> {
        guard(ruby, || {
            let fields: RHash = message;
            let to: Option<String> = fields.lookup("ToUserName")?;
            let agent: Option<Value> = fields.lookup("AgentID")?;
            let agent = agent
                .map(|a| a.to_r_string().and_then(|s| s.to_string()))
                .transpose()?;
            let message = xml(ruby, fields, "message")?;
            let signed = rb_self.0.sign_message(
                message.as_bytes(),
                to.as_deref().unwrap_or(""),
                agent.as_deref(),
                &timestamp,
                &wecom_callback::nonce(),
            );
            let body = signed.body.unwrap_or_default();
            Ok(vec![
                signed.msg_signature,
                signed.timestamp,
                signed.nonce,
                body,
            ])
        })
    }

    /// WeCom's side of a reply: its tree, or nil for an empty answer (no reply).
    fn open_reply(ruby: &Ruby, rb_self: &Self, body: RString) -> Result<Option<Value>, Error> {
        guard(ruby, || {
            // SAFETY: the bytes are read before anything else runs Ruby code.
            let opened = rb_self.0.open_reply(unsafe { body.as_slice() });
            match opened.map_err(|e| errors::callback_to_ruby(ruby, e))? {
                Some(reply) => tree(ruby, reply).map(Some),
                None => Ok(None),
            }
        })
    }
}

pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Callback", ruby.class_object())?;
    class.const_set("MAX_BODY", wecom_callback::MAX_BODY)?;
    class.define_singleton_method("new", function!(NativeCallback::new, 3))?;
    class.define_method("verify_url", method!(NativeCallback::verify_url, 5))?;
    class.define_method("open", method!(NativeCallback::open, 5))?;
    class.define_method("seal", method!(NativeCallback::seal, 1))?;
    class.define_method("sign_url_check", method!(NativeCallback::sign_url_check, 2))?;
    class.define_method("sign_message", method!(NativeCallback::sign_message, 2))?;
    class.define_method("open_reply", method!(NativeCallback::open_reply, 1))?;
    Ok(())
}
