//! Ruby values <-> JSON values, for message bodies going out and emulator records coming back.

use magnus::{
    prelude::*, r_hash::ForEach, Error, Float, Integer, IntoValue, RArray, RHash, RString, Ruby,
    Symbol, Value,
};
use serde_json::{Map, Number, Value as Json};
use wecom_core::SendResult;

/// Deep enough for any WeCom body; a cycle (a Hash containing itself) hits it.
const MAX_DEPTH: usize = 32;

/// Converts a message body (Hashes, Arrays, Strings, Symbols, numbers, booleans, nil) to JSON.
/// `field` names the argument in error messages.
pub fn to_json(ruby: &Ruby, value: Value, field: &str) -> Result<Json, Error> {
    convert(ruby, value, field, 0)
}

fn convert(ruby: &Ruby, value: Value, field: &str, depth: usize) -> Result<Json, Error> {
    let invalid = |what: String| Error::new(ruby.exception_arg_error(), what);
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "{field} is nested more than {MAX_DEPTH} levels deep (is it recursive?)"
        )));
    }
    if value.is_nil() {
        return Ok(Json::Null);
    }
    if value.is_kind_of(ruby.class_true_class()) {
        return Ok(Json::Bool(true));
    }
    if value.is_kind_of(ruby.class_false_class()) {
        return Ok(Json::Bool(false));
    }
    if let Some(string) = RString::from_value(value) {
        return string
            .to_string()
            .map(Json::String)
            .map_err(|_| invalid(format!("{field} must be valid UTF-8")));
    }
    if let Some(symbol) = Symbol::from_value(value) {
        return symbol
            .name()
            .map(|name| Json::String(name.into_owned()))
            .map_err(|_| invalid(format!("{field} must be valid UTF-8")));
    }
    if let Some(integer) = Integer::from_value(value) {
        return integer
            .to_i64()
            .map(|i| Json::Number(i.into()))
            .map_err(|_| invalid(format!("{field} is an integer too large for JSON")));
    }
    if let Some(float) = Float::from_value(value) {
        return Number::from_f64(float.to_f64())
            .map(Json::Number)
            .ok_or_else(|| invalid(format!("{field} must be a finite number")));
    }
    if let Some(array) = RArray::from_value(value) {
        let mut items = Vec::with_capacity(array.len());
        for i in 0..array.len() {
            let item: Value = array.entry(i as isize)?;
            items.push(convert(ruby, item, &format!("{field}[{i}]"), depth + 1)?);
        }
        return Ok(Json::Array(items));
    }
    if let Some(hash) = RHash::from_value(value) {
        let mut object = Map::new();
        let mut failure = None;
        hash.foreach(|key: Value, item: Value| {
            let key = match (RString::from_value(key), Symbol::from_value(key)) {
                (Some(s), _) => s.to_string().ok(),
                (_, Some(s)) => s.name().ok().map(|n| n.into_owned()),
                _ => None,
            }
            .ok_or_else(|| {
                invalid(format!(
                    "{field} keys must be Strings or Symbols in valid UTF-8"
                ))
            })
            .and_then(|key| {
                // { content: "a", "content" => "b" } would silently lose one of them.
                if object.contains_key(&key) {
                    Err(invalid(format!(
                        "{field} has the key {key:?} twice (as a String and a Symbol)"
                    )))
                } else {
                    Ok(key)
                }
            });
            let converted = key.and_then(|key| {
                let child = format!("{field}[{key:?}]");
                convert(ruby, item, &child, depth + 1).map(|json| (key, json))
            });
            match converted {
                Ok((key, json)) => {
                    object.insert(key, json);
                    Ok(ForEach::Continue)
                }
                Err(e) => {
                    failure = Some(e);
                    Ok(ForEach::Stop)
                }
            }
        })?;
        return match failure {
            Some(e) => Err(e),
            None => Ok(Json::Object(object)),
        };
    }
    Err(invalid(format!(
        "{field} holds a {}, which has no JSON form (use String, Symbol, Integer, Float, true, false, nil, Array or Hash)",
        unsafe { value.classname() }
    )))
}

/// Converts JSON to Ruby: objects become Hashes with String keys.
pub fn to_ruby(ruby: &Ruby, json: &Json) -> Result<Value, Error> {
    Ok(match json {
        Json::Null => ruby.qnil().as_value(),
        Json::Bool(b) => b.into_value_with(ruby),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_value_with(ruby),
            (_, Some(u)) => u.into_value_with(ruby),
            _ => n.as_f64().unwrap_or(f64::NAN).into_value_with(ruby),
        },
        Json::String(s) => ruby.str_new(s).as_value(),
        Json::Array(items) => {
            let array = ruby.ary_new_capa(items.len());
            for item in items {
                array.push(to_ruby(ruby, item)?)?;
            }
            array.as_value()
        }
        Json::Object(object) => {
            let hash = ruby.hash_new();
            for (key, item) in object {
                hash.aset(ruby.str_new(key), to_ruby(ruby, item)?)?;
            }
            hash.as_value()
        }
    })
}

/// A list of ids as a Ruby Array of Strings.
pub fn strings(ruby: &Ruby, items: &[String]) -> RArray {
    let array = ruby.ary_new_capa(items.len());
    for item in items {
        array
            .push(ruby.str_new(item))
            .expect("pushing to a new Array cannot fail");
    }
    array
}

/// What WeCom reported for a send, as the keyword arguments of `WeCom::Result.new`.
pub fn send_result(ruby: &Ruby, result: &SendResult) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    for (key, ids) in [
        ("msgids", &result.msgids),
        ("invalid_users", &result.invalid_users),
        ("invalid_parties", &result.invalid_parties),
        ("invalid_tags", &result.invalid_tags),
        ("unlicensed_users", &result.unlicensed_users),
    ] {
        hash.aset(ruby.to_symbol(key), strings(ruby, ids))?;
    }
    hash.aset(
        ruby.to_symbol("response_code"),
        result.response_code.clone(),
    )?;
    Ok(hash)
}

/// The file of an upload: read from `path` by the core as it is sent (never through Ruby), or
/// `bytes` already in memory.
pub fn multipart(
    ruby: &Ruby,
    path: Option<String>,
    bytes: Option<magnus::RString>,
    filename: String,
    content_type: String,
) -> Result<wecom_core::Multipart, Error> {
    let source = match (path, bytes) {
        (Some(path), None) => wecom_core::Source::File(path.into()),
        // SAFETY: the bytes are copied out at once, while the GVL is held and the string alive.
        (None, Some(bytes)) => {
            wecom_core::Source::Bytes(bytes::Bytes::copy_from_slice(unsafe { bytes.as_slice() }))
        }
        _ => {
            return Err(Error::new(
                ruby.exception_arg_error(),
                "an upload takes a path or bytes",
            ))
        }
    };
    wecom_core::Multipart::new("media", &filename, &content_type, source)
        .map_err(|e| crate::errors::to_ruby(ruby, e))
}

/// Seconds from Ruby as a Duration, at most a day (zero included: the Ruby layer refuses it
/// where it matters).
pub fn seconds(ruby: &Ruby, name: &str, value: f64) -> Result<std::time::Duration, Error> {
    let max = wecom_core::config::MAX_DURATION;
    std::time::Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| *duration <= max)
        .ok_or_else(|| {
            Error::new(
                ruby.exception_arg_error(),
                format!(
                    "{name} must be from 0 to {} seconds, got {value}",
                    max.as_secs()
                ),
            )
        })
}

/// How to reach WeCom, from the Hash `WeCom::Settings#connection` builds (Symbol keys).
pub fn connection(ruby: &Ruby, settings: RHash) -> Result<wecom_core::config::Connection, Error> {
    let seconds = |name: &str| seconds(ruby, name, settings.fetch::<_, f64>(ruby.to_symbol(name))?);
    Ok(wecom_core::config::Connection {
        base_url: settings.fetch(ruby.to_symbol("base_url"))?,
        timeout: seconds("timeout")?,
        open_timeout: seconds("open_timeout")?,
        idle_timeout: seconds("idle_timeout")?,
        max_retries: settings.fetch(ruby.to_symbol("max_retries"))?,
        retry_base_delay: seconds("retry_base_delay")?,
        // Optional: a Hash without :proxy takes the environment's, as nil does.
        proxy: proxy(ruby, settings.get(ruby.to_symbol("proxy")))?,
        // Optional too: WeCom::Settings has checked it (check_ca_file), so a failure here is
        // the file changing in between.
        ca_file: match settings.get(ruby.to_symbol("ca_file")) {
            Some(path) if !path.is_nil() => {
                let path: String = magnus::TryConvert::try_convert(path)?;
                let ca = wecom_core::config::CaFile::load(&path).map_err(|problem| {
                    Error::new(ruby.exception_arg_error(), format!("ca_file {problem}"))
                })?;
                Some(ca)
            }
            _ => None,
        },
    })
}

/// `WeCom::Native.ca_file_problem(path)`: what is wrong with the ca_file at `path` (starting
/// with the path), or nil when it is a readable PEM file of usable certificates.
fn ca_file_problem(path: String) -> Option<String> {
    wecom_core::config::CaFile::load(&path).err()
}

/// The proxy setting: nil (the environment's), false (none) or a URL.
fn proxy(ruby: &Ruby, value: Option<Value>) -> Result<wecom_core::config::Proxy, Error> {
    use wecom_core::config::Proxy;
    let Some(value) = value.filter(|value| !value.is_nil()) else {
        return Ok(Proxy::Env);
    };
    if value.is_kind_of(ruby.class_false_class()) {
        return Ok(Proxy::Off);
    }
    match RString::from_value(value).map(|s| s.to_string()) {
        Some(Ok(url)) => Ok(Proxy::Url(url)),
        _ => Err(Error::new(
            ruby.exception_arg_error(),
            "proxy must be a URL String, false or nil",
        )),
    }
}

/// `WeCom::Native.check_json(value, field)`: raises the ArgumentError a send of `value` would
/// raise, so input can be checked before it is queued (WeCom.deliver_later).
fn check_json(ruby: &Ruby, value: Value, field: String) -> Result<(), Error> {
    to_json(ruby, value, &field).map(|_| ())
}

pub fn define(native: magnus::RModule) -> Result<(), Error> {
    native.define_module_function("check_json", magnus::function!(check_json, 2))?;
    native.define_module_function("ca_file_problem", magnus::function!(ca_file_problem, 1))?;
    Ok(())
}

/// `WeCom::Result` (lib/wecom/result.rb).
static RESULT: magnus::value::Lazy<magnus::RClass> = magnus::value::Lazy::new(|ruby| {
    let wecom: magnus::RModule = ruby
        .class_object()
        .const_get("WeCom")
        .expect("WeCom is defined");
    wecom
        .const_get("Result")
        .expect("lib/wecom/result.rb defines WeCom::Result")
});

static MSGIDS: magnus::value::LazyId = magnus::value::LazyId::new("@msgids");
static INVALID_USERS: magnus::value::LazyId = magnus::value::LazyId::new("@invalid_users");
static INVALID_PARTIES: magnus::value::LazyId = magnus::value::LazyId::new("@invalid_parties");
static INVALID_TAGS: magnus::value::LazyId = magnus::value::LazyId::new("@invalid_tags");
static UNLICENSED_USERS: magnus::value::LazyId = magnus::value::LazyId::new("@unlicensed_users");
static RESPONSE_CODE: magnus::value::LazyId = magnus::value::LazyId::new("@response_code");

/// The one frozen empty Array that every empty list of every `WeCom::Result` is: nearly every
/// send reports no invalid ids, and four Arrays allocated per send for nothing are GC work.
static EMPTY: magnus::value::Lazy<RArray> = magnus::value::Lazy::new(|ruby| {
    let empty = ruby.ary_new();
    empty.freeze();
    empty
});

/// What WeCom reported for a send, as the frozen `WeCom::Result` that `Result.new` would build:
/// made here, without the keyword Hash and splat of `Result.new(**hash)`, once per send.
pub fn result(ruby: &Ruby, result: &SendResult) -> Result<Value, Error> {
    let object = magnus::RClass::obj_alloc(ruby.get_inner(&RESULT))?;
    let object = magnus::RObject::from_value(object).expect("WeCom::Result is a plain class");
    for (name, ids) in [
        (&MSGIDS, &result.msgids),
        (&INVALID_USERS, &result.invalid_users),
        (&INVALID_PARTIES, &result.invalid_parties),
        (&INVALID_TAGS, &result.invalid_tags),
        (&UNLICENSED_USERS, &result.unlicensed_users),
    ] {
        let list = if ids.is_empty() {
            ruby.get_inner(&EMPTY)
        } else {
            let list = strings(ruby, ids);
            list.freeze();
            list
        };
        object.ivar_set(**name, list)?;
    }
    object.ivar_set(*RESPONSE_CODE, result.response_code.clone())?;
    object.freeze();
    Ok(object.as_value())
}
