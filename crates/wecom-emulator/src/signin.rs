//! Sign-in with WeCom: the pages that send a member back to the app with a code, and the APIs
//! that turn a code into a member.
//!
//! `GET /connect/oauth2/authorize` (the OAuth2 page inside WeCom) and `GET /wwlogin/sso/login`
//! (the web/QR login outside it) sign in the person chosen with [`SignIn::sign_in_as`] (a
//! member, or someone outside the corp) and redirect (302) to `redirect_uri?code=CODE&state=STATE`; with nobody chosen they show a page
//! listing the members, each a link that signs that member in. The `appid` must be the corp's
//! and the `agentid` one of its apps'; `state` is letters and digits, at most 128 bytes; a bad
//! request is a 400 page, never a redirect.
//!
//! Codes are single use and live 5 minutes, bound to the app they were issued for:
//! `GET /cgi-bin/auth/getuserinfo?code=` with that app's token answers `{userid, user_ticket?}`
//! (a `user_ticket` only for `scope=snsapi_privateinfo`, valid 30 minutes), or for an outsider
//! `{openid, external_userid?}` (never a ticket), and anything else —
//! unknown, reused, expired, another app's — 40029. `POST /cgi-bin/auth/getuserdetail`
//! `{"user_ticket"}` answers the member's consented details.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use url::Url;

use super::reply::Reply;
use super::server::Call;
use super::state::{random_string, Shared};
use super::token::{authenticate, authenticated_body, param};

/// How long a sign-in code can be exchanged (WeCom: 5 minutes).
pub const CODE_TTL: Duration = Duration::from_secs(300);
/// How long a user_ticket can be exchanged for details (WeCom: 1800 s).
const TICKET_TTL: Duration = Duration::from_secs(1800);

/// Who the pages sign in, and the codes and tickets issued.
#[derive(Default)]
pub(crate) struct SignIn {
    person: Mutex<Option<Person>>,
    codes: Mutex<HashMap<String, Code>>,
    tickets: Mutex<HashMap<String, (String, Instant)>>,
    issued: std::sync::atomic::AtomicUsize,
}

/// Who a sign-in page signs in: a member of the corp, or someone outside it (a WeChat user, or a
/// customer the corp added as an external contact).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Person {
    Member(String),
    Outsider {
        openid: String,
        external_userid: Option<String>,
    },
}

struct Code {
    person: Person,
    app: usize,
    privateinfo: bool,
    issued_at: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SignIn {
    /// Who the sign-in pages sign in from now on (`None`: they show the pick list).
    pub fn sign_in_as(&self, person: Option<Person>) {
        *lock(&self.person) = person;
    }

    /// How many codes the pages issued.
    pub fn codes_issued(&self) -> usize {
        self.issued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes every code issued so far `by` older (5 minutes: expired).
    pub fn age_codes(&self, by: Duration) {
        for code in lock(&self.codes).values_mut() {
            code.issued_at = code.issued_at.checked_sub(by).unwrap_or(code.issued_at);
        }
    }

    pub fn clear(&self) {
        lock(&self.codes).clear();
        lock(&self.tickets).clear();
        self.issued.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    fn issue(&self, person: Person, app: usize, privateinfo: bool) -> String {
        let code = random_string(64);
        let mut codes = lock(&self.codes);
        codes.retain(|_, c| c.issued_at.elapsed() < CODE_TTL);
        codes.insert(
            code.clone(),
            Code {
                person,
                app,
                privateinfo,
                issued_at: Instant::now(),
            },
        );
        self.issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        code
    }

    /// The code's person (and, for a member with snsapi_privateinfo, a fresh user_ticket),
    /// once, for `app`.
    fn redeem(&self, code: &str, app: usize) -> Option<(Person, Option<String>)> {
        let issued = lock(&self.codes).remove(code)?;
        if issued.app != app || issued.issued_at.elapsed() >= CODE_TTL {
            return None;
        }
        let ticket = match &issued.person {
            Person::Member(userid) if issued.privateinfo => {
                let ticket = random_string(96);
                let mut tickets = lock(&self.tickets);
                tickets.retain(|_, (_, at)| at.elapsed() < TICKET_TTL);
                tickets.insert(ticket.clone(), (userid.clone(), Instant::now()));
                Some(ticket)
            }
            _ => None,
        };
        Some((issued.person, ticket))
    }

    fn ticket_member(&self, ticket: &str) -> Option<String> {
        let tickets = lock(&self.tickets);
        let (userid, at) = tickets.get(ticket)?;
        (at.elapsed() < TICKET_TTL).then(|| userid.clone())
    }
}

/// `GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state&agentid`.
pub(crate) fn oauth_authorize(shared: &Shared, call: &Call) -> Reply {
    sign_in_page(shared, call, "/connect/oauth2/authorize")
}

/// `GET /wwlogin/sso/login?login_type=CorpApp&appid&agentid&redirect_uri&state`.
pub(crate) fn web_login(shared: &Shared, call: &Call) -> Reply {
    sign_in_page(shared, call, "/wwlogin/sso/login")
}

fn sign_in_page(shared: &Shared, call: &Call, path: &str) -> Reply {
    let request = match SignInRequest::read(shared, call) {
        Ok(request) => request,
        Err(why) => return Reply::page(400, &format!("<h1>400</h1><p>{}</p>", escape(&why))),
    };
    let chosen = param(call.query, "userid")
        .map(|userid| Person::Member(userid.to_owned()))
        .or_else(|| lock(&shared.signin.person).clone());
    let Some(person) = chosen else {
        return Reply::page(200, &pick_list(shared, call, path));
    };
    if let Person::Member(userid) = &person {
        if shared.members.user(userid).is_none() {
            let why = format!("{userid} is not a member of this corp");
            return Reply::page(400, &format!("<h1>400</h1><p>{}</p>", escape(&why)));
        }
    }
    let code = shared
        .signin
        .issue(person, request.app, request.privateinfo);
    let mut target = request.redirect_uri;
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &request.state);
    Reply::redirect(target.as_str())
}

/// What a sign-in page was asked for, checked as WeCom checks it.
struct SignInRequest {
    redirect_uri: Url,
    state: String,
    app: usize,
    privateinfo: bool,
}

impl SignInRequest {
    fn read(shared: &Shared, call: &Call) -> Result<SignInRequest, String> {
        if param(call.query, "appid") != Some(shared.corp_id.as_str()) {
            return Err("appid is not this corp's id".to_owned());
        }
        let agent_id = param(call.query, "agentid").and_then(|id| id.parse::<i64>().ok());
        let Some(app) = shared
            .apps
            .iter()
            .position(|a| Some(a.agent_id) == agent_id)
        else {
            return Err("agentid is not one of this corp's apps".to_owned());
        };
        let redirect_uri = param(call.query, "redirect_uri")
            .and_then(|uri| Url::parse(uri).ok())
            .filter(|uri| matches!(uri.scheme(), "http" | "https") && uri.fragment().is_none())
            .ok_or("redirect_uri must be an absolute http(s) URL without a #fragment")?;
        let state = param(call.query, "state").unwrap_or_default();
        if state.len() > 128 || !state.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("state must be at most 128 letters and digits".to_owned());
        }
        Ok(SignInRequest {
            redirect_uri,
            state: state.to_owned(),
            app,
            privateinfo: param(call.query, "scope") == Some("snsapi_privateinfo"),
        })
    }
}

/// The page shown with nobody chosen: a link per member that signs them in.
fn pick_list(shared: &Shared, call: &Call, path: &str) -> String {
    let mut items = String::new();
    for user in shared.members.users() {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in call.query.iter().filter(|(key, _)| key != "userid") {
            query.append_pair(key, value);
        }
        query.append_pair("userid", &user.userid);
        items.push_str(&format!(
            r#"<li><a class="member" data-userid="{id}" href="{path}?{query}">{name} ({id})</a></li>"#,
            id = escape(&user.userid),
            name = escape(&user.name),
            query = escape(&query.finish()),
        ));
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>WeCom emulator: sign in</title></head>\
         <body><h1>Sign in as</h1><ul>{items}</ul></body></html>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /cgi-bin/auth/getuserinfo?access_token=T&code=C`.
pub(crate) fn getuserinfo(shared: &Shared, call: &Call) -> Reply {
    let app = match authenticate(shared, call.query, call.ip) {
        Ok(app) => app,
        Err(reply) => return reply,
    };
    let redeemed = param(call.query, "code").and_then(|code| shared.signin.redeem(code, app));
    let Some((person, user_ticket)) = redeemed else {
        return Reply::error(40029, call.ip);
    };
    #[derive(Serialize)]
    struct Answer<'a> {
        errcode: i64,
        errmsg: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        userid: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_ticket: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_in: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        openid: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        external_userid: Option<&'a str>,
    }
    let (userid, openid, external_userid) = match &person {
        Person::Member(userid) => (Some(userid.as_str()), None, None),
        Person::Outsider {
            openid,
            external_userid,
        } => (None, Some(openid.as_str()), external_userid.as_deref()),
    };
    let answer = Answer {
        errcode: 0,
        errmsg: "ok",
        userid,
        user_ticket: user_ticket.as_deref(),
        expires_in: user_ticket.as_ref().map(|_| TICKET_TTL.as_secs()),
        openid,
        external_userid,
    };
    Reply::json(serde_json::to_vec(&answer).expect("plain struct serializes"))
}

/// `POST /cgi-bin/auth/getuserdetail` `{"user_ticket"}`: the member's details (every field the
/// directory has: the emulator's members consented to all).
pub(crate) fn getuserdetail(shared: &Shared, call: &Call) -> Reply {
    let (_, body) = match authenticated_body(shared, call) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let member = body
        .get("user_ticket")
        .and_then(serde_json::Value::as_str)
        .and_then(|ticket| shared.signin.ticket_member(ticket))
        .and_then(|userid| shared.members.user(&userid));
    let Some(user) = member else {
        return Reply::error_with(40058, "invalid user_ticket", call.ip);
    };
    let answer = serde_json::json!({
        "errcode": 0, "errmsg": "ok", "userid": user.userid,
        "gender": user.gender.clone().unwrap_or_else(|| "0".to_owned()),
        "avatar": user.avatar.clone().unwrap_or_default(),
        "mobile": user.mobile.clone().unwrap_or_default(),
        "email": user.email.clone().unwrap_or_default(),
        "biz_mail": user.biz_mail.clone().unwrap_or_default(),
    });
    Reply::json(answer.to_string())
}
