//! What the JSON endpoints share when checking a request: rejections and field readers.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::reply::{default_text, Reply};

/// Why a request was refused: the errcode and the first part of errmsg.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub code: i64,
    pub text: Cow<'static, str>,
}

pub(crate) type Check<T> = Result<T, Rejection>;

pub(crate) fn reject(code: i64) -> Rejection {
    Rejection {
        code,
        text: Cow::Borrowed(default_text(code)),
    }
}

pub(crate) fn reject_with(code: i64, text: impl Into<Cow<'static, str>>) -> Rejection {
    Rejection {
        code,
        text: text.into(),
    }
}

impl Rejection {
    pub fn into_reply(self, ip: IpAddr) -> Reply {
        Reply::error_with(self.code, &self.text, ip)
    }
}

/// A message's `content`: a string (else 40058) that is not empty (else 44004). The length limit
/// and its errcode differ between app messages and robots, so callers check it.
pub(crate) fn content(body: &Map<String, Value>) -> Check<&str> {
    let content = match body.get("content") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(reject_with(40058, "content must be a string")),
    };
    if content.is_empty() {
        return Err(reject(44004));
    }
    Ok(content)
}

/// The body as a JSON object: blank → 44002, anything but an object → 47001.
pub(crate) fn parse_object(body: &[u8]) -> Check<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(reject(44002));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err(reject(47001)),
    }
}

/// A non-empty string field, or 40058 naming it.
pub(crate) fn required<'m>(obj: &'m Map<String, Value>, key: &str) -> Check<&'m str> {
    match obj.get(key).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(reject_with(40058, format!("{key} missing or invalid"))),
    }
}

/// An optional string field: absent, null and `""` are `None`; `Err(())` for a non-string.
pub(crate) fn optional_str<'m>(
    obj: &'m Map<String, Value>,
    key: &str,
) -> Result<Option<&'m str>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}

/// An optional array of non-empty strings: absent and null are `None`; `Err(())` for anything
/// else that is not such an array.
pub(crate) fn optional_str_list<'m>(
    obj: &'m Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<&'m str>>, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().filter(|s| !s.is_empty()).ok_or(()))
            .collect::<Result<Vec<_>, ()>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A `json!` object as the map the checks read (shared by the other modules' tests).
    pub(crate) fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn emulator_parse_object_codes() {
        assert_eq!(parse_object(b" \n").unwrap_err().code, 44002);
        assert_eq!(parse_object(b"[1]").unwrap_err().code, 47001);
        assert_eq!(parse_object(b"{").unwrap_err().code, 47001);
        assert_eq!(parse_object(br#"{"a":1}"#).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn emulator_optional_fields() {
        let o = obj(
            json!({"s": "x", "e": "", "n": null, "i": 1, "l": ["a", "b"], "bad": ["a", 2], "blank": [""]}),
        );
        assert_eq!(optional_str(&o, "s"), Ok(Some("x")));
        assert_eq!(optional_str(&o, "e"), Ok(None));
        assert_eq!(optional_str(&o, "n"), Ok(None));
        assert_eq!(optional_str(&o, "missing"), Ok(None));
        assert_eq!(optional_str(&o, "i"), Err(()));
        assert_eq!(optional_str_list(&o, "l"), Ok(Some(vec!["a", "b"])));
        assert_eq!(optional_str_list(&o, "missing"), Ok(None));
        assert_eq!(optional_str_list(&o, "bad"), Err(()));
        assert_eq!(optional_str_list(&o, "blank"), Err(()));
        assert_eq!(optional_str_list(&o, "s"), Err(()));
    }
}
