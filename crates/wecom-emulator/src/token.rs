//! `GET /cgi-bin/gettoken` and the `access_token` check every other API starts with.
//!
//! - missing (or empty) `corpid` → 41002, missing `corpsecret` → 41004, wrong corpid → 40013,
//!   a secret of no app of the corp → 40001.
//! - In the first half of its life, gettoken hands out an app's latest token again; `expires_in`
//!   is its remaining lifetime rounded up to whole seconds (never 0), so a fresh token carries
//!   the configured ttl. In the second half it issues a new token and the old one stays valid
//!   until it expires ("old and new tokens are both accepted for a short while"), so a client
//!   that refreshes early gets a new token. Fetching never extends a token's life.
//! - APIs: no `access_token` in the query → 41001, unknown → 40014, expired or revoked → 42001.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::check::parse_object;
use super::reply::Reply;
use super::server::Call;
use super::state::{Shared, TokenCheck};

/// First value of `name` in the query; an empty value counts as absent, like WeCom.
pub(crate) fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

pub(crate) fn gettoken(shared: &Shared, call: &Call) -> Reply {
    let Some(corp_id) = param(call.query, "corpid") else {
        return Reply::error(41002, call.ip);
    };
    let Some(secret) = param(call.query, "corpsecret") else {
        return Reply::error(41004, call.ip);
    };
    if corp_id != shared.corp_id {
        return Reply::error(40013, call.ip);
    }
    let Some(app) = shared.apps.iter().position(|a| a.secret == secret) else {
        return Reply::error(40001, call.ip);
    };
    let (token, remaining) = shared.issue_token(app, Instant::now());
    // The token alphabet needs no JSON escaping.
    Reply::json(format!(
        r#"{{"errcode":0,"errmsg":"ok","access_token":"{token}","expires_in":{}}}"#,
        whole_seconds(remaining)
    ))
}

/// The app index owning the request's token, or the error answer.
pub(crate) fn authenticate(
    shared: &Shared,
    query: &[(String, String)],
    ip: IpAddr,
) -> Result<usize, Reply> {
    let Some(token) = param(query, "access_token") else {
        return Err(Reply::error(41001, ip));
    };
    match shared.check_token(token, Instant::now()) {
        TokenCheck::Valid { app } => Ok(app),
        TokenCheck::Unknown => Err(Reply::error(40014, ip)),
        TokenCheck::Expired => Err(Reply::error(42001, ip)),
    }
}

/// The app and the JSON object body of an authenticated POST, or the answer refusing it.
pub(crate) fn authenticated_body(shared: &Shared, call: &Call) -> Result<(usize, Value), Reply> {
    let app = authenticate(shared, call.query, call.ip)?;
    let body = parse_object(call.body).map_err(|rejection| rejection.into_reply(call.ip))?;
    Ok((app, body))
}

/// Rounds up, and at least 1: a client told "0" would never cache the token.
fn whole_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_expires_in_rounds_up() {
        assert_eq!(whole_seconds(Duration::from_millis(300)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(7200)), 7200);
        assert_eq!(whole_seconds(Duration::from_millis(7_199_001)), 7200);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn emulator_param_treats_empty_as_missing() {
        let q = vec![
            ("a".to_owned(), String::new()),
            ("b".to_owned(), "x".to_owned()),
        ];
        assert_eq!(param(&q, "a"), None);
        assert_eq!(param(&q, "b"), Some("x"));
        assert_eq!(param(&q, "c"), None);
    }
}
