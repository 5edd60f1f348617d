//! Answers in WeCom's wire format.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::StatusCode;
use serde::Serialize;

use super::state::random_string;

/// An answer before it becomes a hyper response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    /// `false`: `application/json; charset=UTF-8`; `true`: `text/html` (proxy-style errors).
    pub html: bool,
    /// `true`: `text/javascript` (the stand-in JS-SDK script and its JSONP answers).
    pub script: bool,
    /// A redirect's target (the sign-in pages).
    pub location: Option<String>,
    pub body: Bytes,
}

/// What a handler decided for one request.
pub(crate) enum Outcome {
    Reply(Reply),
    /// Close the connection without answering.
    Drop,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Outcome {
        Outcome::Reply(reply)
    }
}

impl Reply {
    pub fn json(body: impl Into<Bytes>) -> Reply {
        Reply {
            status: StatusCode::OK,
            html: false,
            script: false,
            location: None,
            body: body.into(),
        }
    }

    /// An HTML page (the sign-in pages) with this status.
    pub fn page(status: u16, html: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            html: true,
            ..Reply::json(html.to_owned())
        }
    }

    /// `302 Found` to `location`.
    pub fn redirect(location: &str) -> Reply {
        Reply {
            status: StatusCode::FOUND,
            location: Some(location.to_owned()),
            ..Reply::page(302, "")
        }
    }

    pub fn script(body: impl Into<Bytes>) -> Reply {
        Reply {
            script: true,
            ..Reply::json(body)
        }
    }

    pub fn ok() -> Reply {
        Reply::json(Bytes::from_static(br#"{"errcode":0,"errmsg":"ok"}"#))
    }

    /// A business error: HTTP 200 `{"errcode":code,"errmsg":"<text>, hint: ..."}`.
    pub fn error(code: i64, ip: IpAddr) -> Reply {
        Reply::error_with(code, default_text(code), ip)
    }

    /// A business error with a specific first part of errmsg.
    pub fn error_with(code: i64, text: &str, ip: IpAddr) -> Reply {
        #[derive(Serialize)]
        struct ErrorBody<'a> {
            errcode: i64,
            errmsg: &'a str,
        }
        let errmsg = errmsg(code, text, ip);
        let body = serde_json::to_vec(&ErrorBody {
            errcode: code,
            errmsg: &errmsg,
        })
        .expect("serializing a plain struct cannot fail");
        Reply::json(body)
    }

    /// A non-JSON answer such as a front proxy gives.
    pub fn http(status: u16) -> Reply {
        // Informational codes would confuse the HTTP framing; anything odd becomes a 500.
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| !s.is_informational())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>",
            code = status.as_u16()
        );
        Reply {
            status,
            html: true,
            script: false,
            location: None,
            body: body.into(),
        }
    }
}

/// Real errmsg values carry a hint, the caller's ip and a link; clients sometimes show them, so
/// tests should see the same shape.
fn errmsg(code: i64, text: &str, ip: IpAddr) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{text}, hint: [{secs}_{hint}], from ip: {ip}, more info at https://open.work.weixin.qq.com/devtool/query?e={code}",
        hint = random_string(8),
    )
}

/// The first part of errmsg as WeCom words it.
pub(crate) fn default_text(code: i64) -> &'static str {
    match code {
        -1 => "system busy",
        40001 => "invalid credential",
        40003 => "invalid userid",
        40004 => "invalid media type",
        40005 => "invalid file type",
        40006 => "invalid file size",
        40007 => "invalid media_id",
        40008 => "invalid message type",
        40009 => "invalid image size",
        40013 => "invalid corpid",
        40014 => "invalid access_token",
        40056 => "invalid agentid",
        40058 => "invalid parameter",
        40091 => "secret is invalid",
        41001 => "access_token missing",
        41002 => "corpid missing",
        41004 => "corpsecret missing",
        41005 => "media data missing",
        41009 => "missing userid",
        42001 => "access_token expired",
        44002 => "empty post data",
        44004 => "empty content",
        46004 => "user not exist",
        45002 => "content size out of limit",
        45009 => "api freq out of limit",
        45033 => "api concurrent out of limit",
        47001 => "data format error",
        60020 => "not allow to access from your ip",
        60111 => "userid not found",
        60123 => "invalid party id",
        81013 => "user & party & tag all invalid",
        86001 => "invalid chatid",
        86003 => "chatid not found",
        86004 => "invalid chat name",
        86005 => "invalid chat owner",
        86006 => "invalid chat member count",
        86007 => "invalid chat member",
        86201 => "chatid missing",
        86204 => "chat members missing",
        86205 => "chatid too long",
        86207 => "chat owner not in member list",
        86215 => "chatid already exists",
        86216 => "invalid chat member userid",
        93000 => "invalid webhook url",
        301002 => "not allow operate another agent with this accesstoken.",
        301019 => "media md5 not match",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_error_reply_looks_real() {
        let reply = Reply::error(40014, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(reply.status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(v["errcode"], 40014);
        let msg = v["errmsg"].as_str().unwrap();
        assert!(msg.starts_with("invalid access_token, hint: ["), "{msg}");
        assert!(msg.ends_with(
            "from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=40014"
        ));
    }

    #[test]
    fn emulator_http_reply_never_has_an_informational_status() {
        assert_eq!(Reply::http(101).status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Reply::http(7).status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Reply::http(429).status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn emulator_http_reply_is_not_json() {
        let reply = Reply::http(502);
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
        assert!(reply.html);
        assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_err());
    }
}
