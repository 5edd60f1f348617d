//! `WeCom::Native::Client`: the native half of `WeCom::Client` (lib/wecom/client.rb), which
//! checks arguments and builds bodies before calling in here.

use std::sync::{Arc, OnceLock};

use magnus::{
    function, gc, method, prelude::*, value::Lazy, DataTypeFunctions, Error, RArray, RClass, RHash,
    RModule, RString, RStruct, Ruby, Value,
};
use wecom_core::directory::Address;
use wecom_core::payload::Payload;
use wecom_core::{BatchOptions, Client, Config, Context, Message, Recipients, Repeat, SendOptions};

use crate::convert;
use crate::errors::{self, guard};
use crate::gvl;
use crate::quick_send;
use crate::token_store::{self, RubyStore};

#[derive(magnus::TypedData)]
#[magnus(class = "WeCom::Native::Client", free_immediately, size, mark)]
struct NativeClient {
    client: Arc<Client>,
    /// A token store written in Ruby, kept alive (and in place) by `mark`.
    ruby_store: Option<Arc<RubyStore>>,
}

impl DataTypeFunctions for NativeClient {
    fn mark(&self, marker: &gc::Marker) {
        if let Some(store) = &self.ruby_store {
            marker.mark(store.object());
        }
    }
}

impl NativeClient {
    /// `connection`: see `convert::connection`; `store`: see `token_store::from_ruby`.
    fn new(
        ruby: &Ruby,
        corp_id: String,
        secret: String,
        agent_id: i64,
        connection: RHash,
        store: Option<Value>,
    ) -> Result<Self, Error> {
        guard(ruby, || {
            let mut config = Config::new(corp_id, secret, agent_id);
            config.connection = convert::connection(ruby, connection)?;
            let store = token_store::from_ruby(ruby, store, config.connection.timeout)?;
            config.token_store = store.shared;
            let client = Client::new(config).map_err(|e| errors::to_ruby(ruby, e))?;
            Ok(NativeClient {
                client: Arc::new(client),
                ruby_store: store.ruby,
            })
        })
    }

    /// Runs `action` with the core client and the thread's context, with the GVL released.
    fn with_client<T, F>(
        &self,
        ruby: &Ruby,
        action: impl FnOnce(Arc<Client>, Arc<Context>) -> F + Send,
    ) -> Result<T, Error>
    where
        F: std::future::Future<Output = wecom_core::error::Result<T>> + Send,
        T: Send,
    {
        let client = self.client.clone();
        gvl::run(ruby, move |context| action(client, context))
    }

    /// Sends one `WeCom::AppMessage`, checked by Ruby. Returns the result as a Hash (see
    /// `deliver_message` for the `WeCom::Result` a send returns).
    fn send_message(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<RHash, Error> {
        guard(ruby, || {
            let message = app_message(ruby, message, None)?;
            let result = rb_self.with_client(ruby, move |client, context| async move {
                client.send(&context, &message).await
            })?;
            convert::send_result(ruby, &result)
        })
    }

    /// Sends one `WeCom::AppMessage`, checked by Ruby, and returns its `WeCom::Result`.
    fn deliver_message(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<Value, Error> {
        guard(ruby, || {
            let message = app_message(ruby, message, None)?;
            rb_self.deliver(ruby, message)
        })
    }

    /// `send_text`/`send_markdown` (`msgtype`) of `content` with the send's keyword arguments
    /// `options`, read here (see quick_send.rs). Returns a `WeCom::Result`, or nil when the
    /// arguments need Ruby's checks (nothing was sent): the caller then takes the Ruby path.
    fn send_quick(
        ruby: &Ruby,
        rb_self: &Self,
        msgtype: String,
        content: Value,
        options: RHash,
    ) -> Result<Option<Value>, Error> {
        guard(ruby, || {
            match quick_send::message(&msgtype, content, options) {
                Some(message) => rb_self.deliver(ruby, message).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Sends a message `QuickMessage.read` made (inside the "deliver.wecom" event Ruby opened).
    fn send_prepared(
        ruby: &Ruby,
        rb_self: &Self,
        quick: &quick_send::QuickMessage,
    ) -> Result<Value, Error> {
        guard(ruby, || match quick.take() {
            Some(message) => rb_self.deliver(ruby, message),
            None => Err(Error::new(
                ruby.exception_arg_error(),
                "this WeCom::Native::QuickMessage was already sent",
            )),
        })
    }

    fn deliver(&self, ruby: &Ruby, message: Message) -> Result<Value, Error> {
        let result = self.with_client(ruby, move |client, context| async move {
            client.send(&context, &message).await
        })?;
        convert::result(ruby, &result)
    }

    /// `messages`: `WeCom::AppMessage`s, checked by Ruby. Returns, in order, a `WeCom::Result` or the
    /// `WeCom::Error` each message met (not raised).
    fn send_batch(
        ruby: &Ruby,
        rb_self: &Self,
        messages: RArray,
        concurrency: usize,
        rate_limit_pause: f64,
    ) -> Result<RArray, Error> {
        guard(ruby, || {
            let options = BatchOptions {
                concurrency,
                rate_limit_pause: convert::seconds(ruby, "rate_limit_pause", rate_limit_pause)?,
            };
            let mut batch = Vec::with_capacity(messages.len());
            for i in 0..messages.len() {
                let message = messages.entry(i as isize)?;
                batch.push(app_message(ruby, message, Some(i))?);
            }
            let results = rb_self.with_client(ruby, move |client, context| async move {
                Ok(client.send_batch(&context, batch, options).await)
            })?;
            let array = ruby.ary_new_capa(results.len());
            for result in results {
                match result {
                    Ok(result) => array.push(convert::result(ruby, &result)?)?,
                    Err(error) => array.push(errors::exception(ruby, error))?,
                }
            }
            Ok(array)
        })
    }

    fn recall(ruby: &Ruby, rb_self: &Self, msgid: String) -> Result<bool, Error> {
        guard(ruby, || {
            rb_self.with_client(ruby, move |client, context| async move {
                client.recall(&context, &msgid).await.map(|()| true)
            })
        })
    }

    /// The userid of the member with this address (`kind`: "email", "personal_email" or
    /// "mobile"), or nil for nobody; answers are cached for `ttl` seconds (directory.rs).
    fn userid_by(
        ruby: &Ruby,
        rb_self: &Self,
        kind: String,
        value: String,
        ttl: f64,
    ) -> Result<Option<String>, Error> {
        guard(ruby, || {
            let ttl = convert::seconds(ruby, "directory_cache_ttl", ttl)?;
            if !matches!(kind.as_str(), "email" | "personal_email" | "mobile") {
                let message = format!("kind must be email, personal_email or mobile, got {kind}");
                return Err(Error::new(ruby.exception_arg_error(), message));
            }
            rb_self.with_client(ruby, move |client, context| async move {
                let address = match kind.as_str() {
                    "mobile" => Address::Mobile(&value),
                    email => Address::Email {
                        email: &value,
                        personal: email == "personal_email",
                    },
                };
                client.userid_by(&context, address, ttl).await
            })
        })
    }

    /// Calls an API that takes the access token: a GET with `query` when `body` is nil, else a
    /// POST of the JSON `body`. `idempotent`: a repeat cannot make WeCom act twice. Returns
    /// WeCom's answer as a Hash.
    fn call(
        ruby: &Ruby,
        rb_self: &Self,
        path: String,
        query: Vec<(String, String)>,
        body: Option<RHash>,
        idempotent: bool,
    ) -> Result<Value, Error> {
        guard(ruby, || {
            let payload = match body {
                Some(body) => {
                    let json = convert::to_json(ruby, body.as_value(), "body")?;
                    let bytes = serde_json::to_vec(&json).expect("a JSON value always serialises");
                    Some(Payload::Json(bytes.into()))
                }
                None => None,
            };
            let repeat = Repeat::safe_if(idempotent || payload.is_none());
            let answer = rb_self.with_client(ruby, move |client, context| async move {
                let query: Vec<(&str, &str)> = query
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                client
                    .call(&context, &path, &query, payload.as_ref(), repeat)
                    .await
            })?;
            convert::to_ruby(ruby, &answer)
        })
    }

    /// Uploads a temporary media file of `kind` from `path` (streamed) or `bytes`.
    fn upload_media(
        ruby: &Ruby,
        rb_self: &Self,
        kind: String,
        path: Option<String>,
        bytes: Option<RString>,
        filename: String,
        content_type: String,
    ) -> Result<String, Error> {
        guard(ruby, || {
            let upload = convert::multipart(ruby, path, bytes, filename, content_type)?;
            rb_self.with_client(ruby, move |client, context| async move {
                client.upload_media(&context, &kind, upload).await
            })
        })
    }

    fn access_token(ruby: &Ruby, rb_self: &Self) -> Result<String, Error> {
        guard(ruby, || {
            rb_self.with_client(ruby, |client, context| async move {
                client.access_token(&context).await.map(|t| t.to_string())
            })
        })
    }

    /// Seconds the cached token stays valid, or nil when none is cached in this process.
    fn token_expires_in(&self) -> Option<f64> {
        let context = wecom_core::Context::new(wecom_core::process::tokens());
        self.client
            .token_expires_in(&context)
            .map(|d| d.as_secs_f64())
    }

    fn corp_id(&self) -> String {
        self.client.config().corp_id.clone()
    }

    fn agent_id(&self) -> i64 {
        self.client.config().agent_id
    }

    fn base_url(&self) -> String {
        self.client.config().connection.base_url.clone()
    }

    /// The cached JS-SDK ticket of `kind` ("jsapi" or "agent").
    fn ticket(ruby: &Ruby, rb_self: &Self, kind: String) -> Result<String, Error> {
        guard(ruby, || {
            let kind = ticket_kind(ruby, &kind)?;
            rb_self.with_client(ruby, move |client, context| async move {
                client.cached(&context, kind).await.map(|t| t.to_string())
            })
        })
    }

    /// Drops the ticket of `kind` here and in the store if it is still `failed`.
    fn invalidate_ticket(
        ruby: &Ruby,
        rb_self: &Self,
        kind: String,
        failed: String,
    ) -> Result<bool, Error> {
        guard(ruby, || {
            let kind = ticket_kind(ruby, &kind)?;
            rb_self.with_client(ruby, move |client, context| async move {
                client.invalidate(&context, kind, &failed).await
            })
        })
    }

    /// Seconds the cached ticket of `kind` stays valid, or nil when none is cached here.
    fn ticket_expires_in(ruby: &Ruby, rb_self: &Self, kind: String) -> Result<Option<f64>, Error> {
        let kind = ticket_kind(ruby, &kind)?;
        let context = wecom_core::Context::new(wecom_core::process::tokens());
        Ok(rb_self
            .client
            .expires_in(&context, kind)
            .map(|d| d.as_secs_f64()))
    }

    /// `[timestamp, nonceStr, signature]` of `url` with the ticket of `kind`.
    fn js_sdk_signature(
        ruby: &Ruby,
        rb_self: &Self,
        kind: String,
        url: String,
    ) -> Result<(u64, String, String), Error> {
        guard(ruby, || {
            let kind = ticket_kind(ruby, &kind)?;
            let signed = rb_self.with_client(ruby, move |client, context| async move {
                client.js_sdk_signature(&context, kind, &url).await
            })?;
            Ok((signed.timestamp, signed.nonce_str, signed.signature))
        })
    }
}

/// `WeCom::Native.js_sdk_sign(ticket, nonce_str, timestamp, url)`: the bare signature.
fn js_sdk_sign(
    ruby: &Ruby,
    ticket: String,
    nonce_str: String,
    timestamp: u64,
    url: String,
) -> Result<String, Error> {
    let page = wecom_core::jssdk::page_url(&url).map_err(|e| errors::to_ruby(ruby, e))?;
    Ok(wecom_core::jssdk::sign(
        &ticket, &nonce_str, timestamp, page,
    ))
}

fn ticket_kind(ruby: &Ruby, kind: &str) -> Result<wecom_core::token::Credential, Error> {
    use wecom_core::token::Credential;
    match kind {
        "jsapi" => Ok(Credential::JsapiTicket),
        "agent" => Ok(Credential::AgentTicket),
        other => Err(Error::new(
            ruby.exception_arg_error(),
            format!("ticket kind must be \"jsapi\" or \"agent\", got {other:?}"),
        )),
    }
}

/// `WeCom::AppMessage` (lib/wecom/app_message.rb).
static APP_MESSAGE: Lazy<RClass> = Lazy::new(|ruby| {
    let wecom: RModule = ruby
        .class_object()
        .const_get("WeCom")
        .expect("WeCom is defined");
    wecom
        .const_get("AppMessage")
        .expect("lib/wecom/app_message.rb defines WeCom::AppMessage")
});

/// The members of `WeCom::AppMessage` a send reads, by name.
const FIELDS: [&str; 9] = [
    "msgtype",
    "body",
    "users",
    "parties",
    "tags",
    "all",
    "safe",
    "id_trans",
    "duplicate_check",
];

/// Where each of FIELDS is in `WeCom::AppMessage`, looked up by name once: a send then reads
/// them by position (a lookup by name interns the name and searches the members, per field).
static POSITIONS: OnceLock<[usize; FIELDS.len()]> = OnceLock::new();

fn positions(message: RStruct) -> Result<&'static [usize; FIELDS.len()], Error> {
    if let Some(positions) = POSITIONS.get() {
        return Ok(positions);
    }
    let members = message.members()?;
    let mut positions = [0; FIELDS.len()];
    for (position, name) in positions.iter_mut().zip(FIELDS) {
        *position = members
            .iter()
            .position(|member| member == name)
            .ok_or_else(|| {
                Error::new(
                    Ruby::get_with(message).exception_type_error(),
                    format!("WeCom::AppMessage has no member {name}"),
                )
            })?;
    }
    Ok(POSITIONS.get_or_init(|| positions))
}

/// A `WeCom::AppMessage`, its fields read by name. Errors name the body by its msgtype, or by
/// its place in a batch (`index`).
fn app_message(ruby: &Ruby, value: Value, index: Option<usize>) -> Result<Message, Error> {
    let message = RStruct::from_value(value)
        .filter(|message| message.is_kind_of(ruby.get_inner(&APP_MESSAGE)))
        .ok_or_else(|| {
            Error::new(
                ruby.exception_type_error(),
                "a send takes a WeCom::AppMessage",
            )
        })?;
    let [msgtype, body, users, parties, tags, all, safe, id_trans, duplicate_check] =
        *positions(message)?;
    let msgtype: String = message.aref(msgtype)?;
    let field = index.map_or_else(|| msgtype.clone(), |i| format!("messages[{i}]"));
    let body: Value = message.aref(body)?;
    Ok(Message {
        body: convert::to_json(ruby, body, &field)?,
        msgtype,
        recipients: Recipients {
            users: message.aref(users)?,
            parties: message.aref(parties)?,
            tags: message.aref(tags)?,
            all: message.aref(all)?,
        },
        options: SendOptions {
            safe: message.aref(safe)?,
            id_trans: message.aref(id_trans)?,
            duplicate_check: message.aref(duplicate_check)?,
        },
    })
}

pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Client", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeClient::new, 5))?;
    class.define_method("send_message", method!(NativeClient::send_message, 1))?;
    class.define_method("deliver_message", method!(NativeClient::deliver_message, 1))?;
    class.define_method("send_quick", method!(NativeClient::send_quick, 3))?;
    class.define_method("send_prepared", method!(NativeClient::send_prepared, 1))?;
    class.define_method("send_batch", method!(NativeClient::send_batch, 3))?;
    class.define_method("recall", method!(NativeClient::recall, 1))?;
    class.define_method("call", method!(NativeClient::call, 4))?;
    class.define_method("userid_by", method!(NativeClient::userid_by, 3))?;
    class.define_method("upload_media", method!(NativeClient::upload_media, 5))?;
    class.define_method("access_token", method!(NativeClient::access_token, 0))?;
    class.define_method(
        "token_expires_in",
        method!(NativeClient::token_expires_in, 0),
    )?;
    class.define_method("corp_id", method!(NativeClient::corp_id, 0))?;
    class.define_method("agent_id", method!(NativeClient::agent_id, 0))?;
    class.define_method("base_url", method!(NativeClient::base_url, 0))?;
    native.define_module_function("js_sdk_sign", function!(js_sdk_sign, 4))?;
    class.define_method("ticket", method!(NativeClient::ticket, 1))?;
    class.define_method(
        "invalidate_ticket",
        method!(NativeClient::invalidate_ticket, 2),
    )?;
    class.define_method(
        "ticket_expires_in",
        method!(NativeClient::ticket_expires_in, 1),
    )?;
    class.define_method(
        "js_sdk_signature",
        method!(NativeClient::js_sdk_signature, 2),
    )?;
    Ok(())
}
