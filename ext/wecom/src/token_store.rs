//! A token store written in Ruby — any object with `read`, `write`, `delete`, `lock` and
//! `unlock`, and optionally `renew` — as a core `TokenStore`.
//!
//! The core calls a store while a send runs without the GVL. Rather than re-acquiring the GVL
//! from inside (where a pending interrupt could unwind through Rust frames), each call is queued
//! as a job for `gvl::run`, which wakes, runs it with the GVL in ordinary Ruby context, hands the
//! result back and resumes the send. A StandardError from the store becomes a
//! `WeCom::NetworkError`; anything else (Thread#kill, Interrupt, Timeout) ends the send and
//! reaches Ruby as it was.

use std::sync::Arc;
use std::time::Duration;

use magnus::rb_sys::{AsRawValue, FromRawValue};
use magnus::{prelude::*, Error, IntoValue, RArray, Ruby, Value};
use rb_sys::VALUE;
use tokio::sync::oneshot;
use wecom_core::error::Error as CoreError;
use wecom_core::store::{new_owner, Lock, StoreFuture, StoredToken, TokenStore};
use wecom_core::{FileStore, RedisStore};

use crate::{convert, errors, gvl};

/// A token store as the Ruby layer gives it (`WeCom::Settings#token_store`).
pub struct Store {
    /// None: this process only.
    pub shared: Option<Arc<dyn TokenStore>>,
    /// The Ruby object behind `shared`, for its owner's GC mark function.
    pub ruby: Option<Arc<RubyStore>>,
}

/// nil (this process only), `["file", dir]` (each file operation bounded by `timeout`, the
/// client's), `["redis", url, namespace, timeout]`, or an object with the store methods.
pub fn from_ruby(ruby: &Ruby, value: Option<Value>, timeout: Duration) -> Result<Store, Error> {
    let Some(value) = value.filter(|v| !v.is_nil()) else {
        return Ok(Store {
            shared: None,
            ruby: None,
        });
    };
    let Some(spec) = RArray::from_value(value) else {
        let store = Arc::new(RubyStore::new(value));
        return Ok(Store {
            shared: Some(store.clone()),
            ruby: Some(store),
        });
    };
    let kind: String = spec.entry(0)?;
    let shared: Arc<dyn TokenStore> = match kind.as_str() {
        "file" => Arc::new(
            FileStore::new(spec.entry::<String>(1)?, timeout)
                .map_err(|e| errors::to_ruby(ruby, e))?,
        ),
        "redis" => Arc::new(
            RedisStore::new(
                spec.entry(1)?,
                spec.entry(2)?,
                convert::seconds(ruby, "timeout", spec.entry(3)?)?,
            )
            .map_err(|e| errors::to_ruby(ruby, e))?,
        ),
        other => {
            return Err(Error::new(
                ruby.exception_arg_error(),
                format!("unknown token store kind {other:?}"),
            ))
        }
    };
    Ok(Store {
        shared: Some(shared),
        ruby: None,
    })
}

/// The Ruby store object, kept alive and in place by the `WeCom::Native::Client` holding this
/// (its GC mark function marks it), and only touched with the GVL held.
pub struct RubyStore {
    object: VALUE,
    /// Whether the object defines `renew(key, owner, ttl)`.
    renews: bool,
}

// SAFETY: `object` is only turned back into a Value inside jobs, which run with the GVL.
unsafe impl Send for RubyStore {}
unsafe impl Sync for RubyStore {}

impl RubyStore {
    pub fn new(object: Value) -> RubyStore {
        RubyStore {
            object: object.as_raw(),
            renews: object.respond_to("renew", false).unwrap_or(false),
        }
    }

    /// For the owning client's mark function (called by the GC, with the GVL).
    pub fn object(&self) -> Value {
        // SAFETY: alive while its client is, see above.
        unsafe { Value::from_raw(self.object) }
    }

    /// Calls `method` with `args` in Ruby and converts its answer with `convert`.
    fn call<T, F>(
        &self,
        method: &'static str,
        args: Vec<Arg>,
        convert: F,
    ) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(Value) -> T + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let object = self.object;
        gvl::queue_ruby_job(Box::new(move |ruby: &Ruby| {
            // SAFETY: we hold the GVL; the store is alive (see `RubyStore`).
            let store = unsafe { Value::from_raw(object) };
            let args = RArray::from_iter(args.into_iter().map(|arg| arg.into_value_with(ruby)));
            match store.funcall::<_, _, Value>(method, unsafe { args.as_slice() }) {
                Ok(value) => {
                    let _ = answer.send(Ok(convert(value)));
                    Ok(())
                }
                Err(error) if error.is_kind_of(ruby.exception_standard_error()) => {
                    let _ = answer.send(Err(store_failure(method, &error)));
                    Ok(())
                }
                // Ruby is interrupting the thread: end the send and let that propagate.
                Err(interrupt) => Err(interrupt),
            }
        }));
        Box::pin(async move {
            answered.await.unwrap_or_else(|_| {
                Err(CoreError::Internal(format!(
                    "token store {method}: interrupted"
                )))
            })
        })
    }
}

/// An argument of a store method.
enum Arg {
    Text(String),
    Seconds(f64),
}

impl IntoValue for Arg {
    fn into_value_with(self, ruby: &Ruby) -> Value {
        match self {
            Arg::Text(text) => ruby.str_new(&text).as_value(),
            Arg::Seconds(seconds) => seconds.into_value_with(ruby),
        }
    }
}

fn text(value: &str) -> Arg {
    Arg::Text(value.to_owned())
}

fn store_failure(method: &str, error: &Error) -> CoreError {
    let (class, message) = match error.value() {
        // SAFETY: the class name is copied at once.
        Some(exception) => (
            unsafe { exception.classname() }.into_owned(),
            exception
                .funcall::<_, _, String>("message", ())
                .unwrap_or_default(),
        ),
        None => (String::new(), error.to_string()),
    };
    CoreError::Network {
        message: format!("{method} raised {class}: {message}"),
        path: "token store".into(),
        delivery_unknown: false,
    }
}

impl TokenStore for RubyStore {
    fn describe(&self) -> String {
        "External".into()
    }

    /// Stores all describe themselves alike: tell them apart by the object.
    fn identity(&self) -> String {
        format!("External {:#x}", self.object)
    }

    fn read(&self, key: &str) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.call("read", vec![text(key)], |value| {
            magnus::RString::from_value(value)
                .and_then(|s| s.to_string().ok())
                .map(String::into_bytes)
        })
    }

    fn write(&self, key: &str, value: Vec<u8>, expires_in: Duration) -> StoreFuture<'_, ()> {
        let value = String::from_utf8(value).expect("a stored token is JSON, so UTF-8");
        let args = vec![
            text(key),
            Arg::Text(value),
            Arg::Seconds(expires_in.as_secs_f64()),
        ];
        self.call("write", args, |_| ())
    }

    /// The object's `delete(key, value)` deletes only if the key still holds `value`: it is
    /// given the value just read, if that value holds the failed token.
    fn delete_if(&self, key: &str, failed: &str) -> StoreFuture<'_, bool> {
        let (key, failed) = (key.to_owned(), failed.to_owned());
        Box::pin(async move {
            let Some(raw) = self.read(&key).await? else {
                return Ok(false);
            };
            let holds_failed = StoredToken::parse(&raw).is_some_and(|s| s.token == failed);
            if !holds_failed {
                return Ok(false);
            }
            let raw = String::from_utf8(raw).expect("read gives UTF-8");
            let args = vec![text(&key), Arg::Text(raw)];
            self.call("delete", args, |v| v.to_bool()).await
        })
    }

    fn try_lock(&self, key: &str, ttl: Duration) -> StoreFuture<'_, Option<Lock>> {
        let (key, owner) = (key.to_owned(), new_owner());
        let taken = self.claim(&key, &owner, ttl);
        Box::pin(async move { Ok(taken.await?.then(|| Lock::new((key, owner)))) })
    }

    fn unlock(&self, lock: Lock) -> StoreFuture<'_, ()> {
        match lock.into_inner::<(String, String)>() {
            Some((key, owner)) => self.release(&key, &owner),
            None => Box::pin(std::future::ready(Ok(()))),
        }
    }

    /// The object's `lock(key, owner, ttl)`: a lock with a lifetime is a claim.
    fn claim(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        let args = vec![text(key), text(owner), Arg::Seconds(ttl.as_secs_f64())];
        self.call("lock", args, |v| v.to_bool())
    }

    fn release(&self, key: &str, owner: &str) -> StoreFuture<'_, ()> {
        self.call("unlock", vec![text(key), text(owner)], |_| ())
    }

    /// The object's `renew(key, owner, ttl)`; a store without one renews nothing.
    fn renew(&self, key: &str, owner: &str, ttl: Duration) -> StoreFuture<'_, bool> {
        if !self.renews {
            return Box::pin(std::future::ready(Ok(false)));
        }
        let args = vec![text(key), text(owner), Arg::Seconds(ttl.as_secs_f64())];
        self.call("renew", args, |v| v.to_bool())
    }

    fn renews(&self) -> bool {
        self.renews
    }
}
