//! JS-SDK tickets and a stand-in for WeCom's JS-SDK script.
//!
//! - `GET /cgi-bin/get_jsapi_ticket` (the corp's ticket) and `GET /cgi-bin/ticket/get?type=agent_config`
//!   (the calling app's; another `type` → 40058) take the access token like every API and answer
//!   `{"ticket","expires_in"}`. Tickets live `ticket_ttl` (7200 s) and are reused, then renewed,
//!   exactly like tokens: in the second half of its life the next fetch issues a new ticket and
//!   the old one stays valid until it expires. Fetches are counted per kind.
//! - `GET /jssdk/jweixin.js`: a script with `wx.config`, `wx.ready`, `wx.error`, `wx.agentConfig`
//!   and `ww.register` (the shapes of `jweixin` and `@wecom/jssdk`) that asks
//!   `GET /jssdk/check` (JSONP, so a page on another origin needs no CORS) whether the page's
//!   signature is right for `location.href` without `#...`, and reports `config:ok` /
//!   `agentConfig:ok` or `...:invalid signature` as WeCom's script does. Every check is recorded
//!   ([`JsSdkCheck`]), so a browser test proves what the page signed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha1::{Digest, Sha1};

use super::reply::Reply;
use super::server::Call;
use super::state::{random_string, Shared};
use super::token::{authenticate, param};

/// Which ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Corp,
    /// The app's, by app index.
    Agent(usize),
}

struct Ticket {
    kind: Kind,
    expires_at: Instant,
    revoked: bool,
}

/// One signature a page asked the stand-in script to check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JsSdkCheck {
    /// "config" (`wx.config`, `ww.register`'s corp signature) or "agentConfig".
    pub api: String,
    /// The page URL the script signed (`location.href` without `#...`).
    pub url: String,
    pub ok: bool,
    /// "config:ok", "config:invalid signature", "agentConfig:invalid corpid"...
    pub err_msg: String,
}

/// The emulator's JS-SDK side.
pub(crate) struct JsSdk {
    ttl_ms: AtomicU64,
    tickets: Mutex<Tickets>,
    jsapi_calls: AtomicUsize,
    agent_calls: AtomicUsize,
    checks: Mutex<Vec<JsSdkCheck>>,
}

#[derive(Default)]
struct Tickets {
    by_ticket: HashMap<String, Ticket>,
    latest: HashMap<Kind, String>,
}

impl Default for JsSdk {
    fn default() -> Self {
        JsSdk {
            ttl_ms: AtomicU64::new(7_200_000),
            tickets: Mutex::default(),
            jsapi_calls: AtomicUsize::new(0),
            agent_calls: AtomicUsize::new(0),
            checks: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl JsSdk {
    pub fn set_ticket_ttl(&self, ttl: Duration) {
        self.ttl_ms
            .store(ttl.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
    }

    /// (jsapi ticket fetches, agent ticket fetches).
    pub fn calls(&self) -> (usize, usize) {
        (
            self.jsapi_calls.load(Ordering::Relaxed),
            self.agent_calls.load(Ordering::Relaxed),
        )
    }

    pub fn checks(&self) -> Vec<JsSdkCheck> {
        lock(&self.checks).clone()
    }

    /// Every ticket issued so far stops being valid (as if WeCom had expired them all).
    pub fn expire_tickets(&self) {
        for ticket in lock(&self.tickets).by_ticket.values_mut() {
            ticket.revoked = true;
        }
    }

    pub fn clear(&self) {
        self.jsapi_calls.store(0, Ordering::Relaxed);
        self.agent_calls.store(0, Ordering::Relaxed);
        lock(&self.checks).clear();
    }

    fn issue(&self, kind: Kind, now: Instant) -> (String, Duration) {
        let ttl = self.ttl();
        let mut tickets = lock(&self.tickets);
        if let Some(current) = tickets.latest.get(&kind) {
            let ticket = &tickets.by_ticket[current];
            if !ticket.revoked && ticket.expires_at > now && ticket.expires_at - now > ttl / 2 {
                return (current.clone(), ticket.expires_at - now);
            }
        }
        let value = random_string(86);
        tickets.by_ticket.insert(
            value.clone(),
            Ticket {
                kind,
                expires_at: now + ttl,
                revoked: false,
            },
        );
        tickets.latest.insert(kind, value.clone());
        (value, ttl)
    }

    /// Whether some valid ticket of `kind` signs (nonce, timestamp, url) as `signature`.
    fn verifies(
        &self,
        kind: Kind,
        nonce: &str,
        timestamp: &str,
        url: &str,
        signature: &str,
    ) -> bool {
        let now = Instant::now();
        lock(&self.tickets).by_ticket.iter().any(|(value, ticket)| {
            ticket.kind == kind
                && !ticket.revoked
                && now < ticket.expires_at
                && sign(value, nonce, timestamp, url) == signature
        })
    }
}

/// Hex SHA-1 of `jsapi_ticket=T&noncestr=N&timestamp=TS&url=U`, as WeCom checks it.
fn sign(ticket: &str, nonce: &str, timestamp: &str, url: &str) -> String {
    let plain = format!("jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}");
    Sha1::digest(plain.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ticket_reply(ticket: String, remaining: Duration) -> Reply {
    let secs = (remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0)).max(1);
    Reply::json(format!(
        r#"{{"errcode":0,"errmsg":"ok","ticket":"{ticket}","expires_in":{secs}}}"#
    ))
}

pub(crate) fn jsapi_ticket(shared: &Shared, call: &Call) -> Reply {
    if let Err(reply) = authenticate(shared, call.query, call.ip) {
        return reply;
    }
    shared.jssdk.jsapi_calls.fetch_add(1, Ordering::Relaxed);
    let (ticket, remaining) = shared.jssdk.issue(Kind::Corp, Instant::now());
    ticket_reply(ticket, remaining)
}

pub(crate) fn agent_ticket(shared: &Shared, call: &Call) -> Reply {
    let app = match authenticate(shared, call.query, call.ip) {
        Ok(app) => app,
        Err(reply) => return reply,
    };
    if param(call.query, "type") != Some("agent_config") {
        return Reply::error(40058, call.ip);
    }
    shared.jssdk.agent_calls.fetch_add(1, Ordering::Relaxed);
    let (ticket, remaining) = shared.jssdk.issue(Kind::Agent(app), Instant::now());
    ticket_reply(ticket, remaining)
}

pub(crate) fn script(_shared: &Shared, _call: &Call) -> Reply {
    Reply::script(SCRIPT)
}

/// `GET /jssdk/check?api=config|agentConfig&corpid&agentid&timestamp&nonceStr&signature&url&callback`
/// → `callback({"errMsg": ...})`.
pub(crate) fn check(shared: &Shared, call: &Call) -> Reply {
    let get = |name| param(call.query, name).unwrap_or("");
    let callback = get("callback");
    if callback.is_empty()
        || !callback
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Reply::http(400);
    }
    let api = if get("api") == "agentConfig" {
        "agentConfig"
    } else {
        "config"
    };
    let url = get("url");
    let result = (|| {
        if get("corpid") != shared.corp_id {
            return Err("invalid corpid");
        }
        let kind = if api == "agentConfig" {
            let agent_id: i64 = get("agentid").parse().map_err(|_| "invalid agentid")?;
            let app = shared
                .apps
                .iter()
                .position(|a| a.agent_id == agent_id)
                .ok_or("invalid agentid")?;
            Kind::Agent(app)
        } else {
            Kind::Corp
        };
        if url.contains('#') {
            return Err("invalid url domain");
        }
        if !shared.jssdk.verifies(
            kind,
            get("nonceStr"),
            get("timestamp"),
            url,
            get("signature"),
        ) {
            return Err("invalid signature");
        }
        Ok(())
    })();
    let err_msg = match result {
        Ok(()) => format!("{api}:ok"),
        Err(why) => format!("{api}:{why}"),
    };
    lock(&shared.jssdk.checks).push(JsSdkCheck {
        api: api.to_owned(),
        url: url.to_owned(),
        ok: result.is_ok(),
        err_msg: err_msg.clone(),
    });
    let body = serde_json::json!({ "errMsg": err_msg });
    Reply::script(format!("{callback}({body});"))
}

/// The stand-in script. It signs nothing itself: it sends what the page was given to
/// `/jssdk/check` on the origin it was loaded from.
const SCRIPT: &str = r##"(function () {
  "use strict";
  var me = document.currentScript;
  var origin = new URL(me.src).origin;
  var seq = 0;
  function check(api, corpid, agentid, sig) {
    return new Promise(function (resolve) {
      var name = "__wecomJsSdk" + (++seq);
      var q = new URLSearchParams({
        api: api, corpid: String(corpid || ""), agentid: String(agentid || ""),
        timestamp: String(sig && sig.timestamp || ""), nonceStr: String(sig && sig.nonceStr || ""),
        signature: String(sig && sig.signature || ""), url: location.href.split("#")[0], callback: name
      });
      var tag = document.createElement("script");
      window[name] = function (answer) { delete window[name]; tag.remove(); resolve(answer); };
      tag.onerror = function () { resolve({ errMsg: api + ":fail network" }); };
      tag.src = origin + "/jssdk/check?" + q.toString();
      document.head.appendChild(tag);
    });
  }
  function ok(answer) { return /:ok$/.test(answer.errMsg); }
  var ready = [], errors = [], state = null;
  var wx = window.wx = {
    config: function (c) {
      check("config", c.appId, "", c).then(function (answer) {
        state = answer;
        (ok(answer) ? ready : errors).forEach(function (f) { f(ok(answer) ? undefined : answer); });
      });
    },
    ready: function (f) { if (state && ok(state)) f(); else ready.push(f); },
    error: function (f) { if (state && !ok(state)) f(state); else errors.push(f); },
    agentConfig: function (c) {
      check("agentConfig", c.corpid, c.agentid, c).then(function (answer) {
        var f = ok(answer) ? c.success : c.fail;
        if (f) f(answer);
      });
    }
  };
  function register(o) {
    Promise.resolve()
      .then(function () { return o.getConfigSignature(location.href.split("#")[0]); })
      .then(function (sig) { return check("config", o.corpId, "", sig); })
      .then(function (answer) {
        var f = ok(answer) ? o.onConfigSuccess : o.onConfigFail;
        if (f) f(answer);
        if (!ok(answer) || !o.agentId || !o.getAgentConfigSignature) return;
        return Promise.resolve(o.getAgentConfigSignature(location.href.split("#")[0]))
          .then(function (sig) { return check("agentConfig", o.corpId, o.agentId, sig); })
          .then(function (answer) {
            var g = ok(answer) ? o.onAgentConfigSuccess : o.onAgentConfigFail;
            if (g) g(answer);
          });
      })
      .catch(function (e) {
        if (o.onConfigFail) o.onConfigFail({ errMsg: "config:fail " + e });
      });
  }
  window.ww = { register: register, SDK_VERSION: "emulator" };
  void wx;
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_tickets_are_reused_then_renewed_and_expire() {
        let jssdk = JsSdk::default();
        jssdk.set_ticket_ttl(Duration::from_millis(100));
        let t0 = Instant::now();
        let (a, ttl) = jssdk.issue(Kind::Corp, t0);
        assert_eq!(ttl, Duration::from_millis(100));
        assert_eq!(jssdk.issue(Kind::Corp, t0 + Duration::from_millis(40)).0, a);
        let (b, _) = jssdk.issue(Kind::Corp, t0 + Duration::from_millis(60));
        assert_ne!(a, b);
        let (agent, _) = jssdk.issue(Kind::Agent(0), t0);
        assert_ne!(agent, b);
        let sig = sign(&b, "n", "1", "https://a/");
        assert!(jssdk.verifies(Kind::Corp, "n", "1", "https://a/", &sig));
        assert!(!jssdk.verifies(Kind::Agent(0), "n", "1", "https://a/", &sig));
        jssdk.expire_tickets();
        assert!(!jssdk.verifies(Kind::Corp, "n", "1", "https://a/", &sig));
    }

    #[test]
    fn emulator_signs_the_official_vector() {
        assert_eq!(
            sign(
                "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
                "Wm3WZYTPz0wzccnW",
                "1414587457",
                "http://mp.weixin.qq.com?params=value"
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }
}
