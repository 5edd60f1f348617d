//! The WeCom API client: token handling, one request, the retry loop, and app messages.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::api::{Api, Repeat};
use crate::batch::Pause;
use crate::config::{Config, CredentialsKey};
use crate::error::{Error, Result};
use crate::message::{Message, Recipients};
use crate::payload::{Multipart, Payload};
use crate::process::Context;
use crate::store::{self, StoredToken};
use crate::token::{Credential, TokenSlot};

pub const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";
pub const SEND_PATH: &str = "/cgi-bin/message/send";
pub const RECALL_PATH: &str = "/cgi-bin/message/recall";
pub const UPLOAD_PATH: &str = "/cgi-bin/media/upload";
pub const JSAPI_TICKET_PATH: &str = "/cgi-bin/get_jsapi_ticket";
pub const AGENT_TICKET_PATH: &str = "/cgi-bin/ticket/get";

/// What WeCom reported for one send (merged over the calls of a split send).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SendResult {
    /// One msgid per `message/send` call, in order.
    pub msgids: Vec<String>,
    pub invalid_users: Vec<String>,
    pub invalid_parties: Vec<String>,
    pub invalid_tags: Vec<String>,
    pub unlicensed_users: Vec<String>,
    /// Given for interactive template cards; needed to update the card later.
    pub response_code: Option<String>,
}

impl SendResult {
    /// Adds one `message/send` answer: its msgid, the recipients WeCom refused, the response code.
    pub fn merge(&mut self, answer: &Value) {
        let ids = |key: &str| -> Vec<String> {
            answer[key]
                .as_str()
                .unwrap_or("")
                .split('|')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(msgid) = answer["msgid"].as_str() {
            self.msgids.push(msgid.to_owned());
        }
        self.invalid_users.extend(ids("invaliduser"));
        self.invalid_parties.extend(ids("invalidparty"));
        self.invalid_tags.extend(ids("invalidtag"));
        self.unlicensed_users.extend(ids("unlicenseduser"));
        if self.response_code.is_none() {
            self.response_code = answer["response_code"].as_str().map(str::to_owned);
        }
    }

    fn add_invalid(&mut self, recipients: &Recipients) {
        self.invalid_users.extend_from_slice(&recipients.users);
        self.invalid_parties.extend_from_slice(&recipients.parties);
        self.invalid_tags.extend_from_slice(&recipients.tags);
    }
}

/// A client of one WeCom app. It holds only settings: the connections and tokens it uses come
/// from the [`Context`] each call is given (the calling thread's).
pub struct Client {
    config: Arc<Config>,
    key: CredentialsKey,
    /// The token's name in a shared store.
    store_key: String,
    jsapi_store_key: String,
    agent_store_key: String,
    api: Api,
}

impl Client {
    /// Checks the settings (see [`Config::validate`]).
    pub fn new(config: Config) -> Result<Client> {
        let config = config.validate()?;
        let key = config.credentials_key();
        Ok(Client {
            store_key: store::token_key(&key),
            jsapi_store_key: store::ticket_key(&key, Credential::JsapiTicket),
            agent_store_key: store::ticket_key(&key, Credential::AgentTicket),
            key,
            api: Api::new(&config.connection)?,
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The cached access token, fetched when missing or about to expire.
    pub async fn access_token(&self, context: &Context) -> Result<Arc<str>> {
        self.cached(context, Credential::AccessToken).await
    }

    /// The cached token or ticket of `kind`, fetched when missing or about to expire: tickets
    /// are cached, shared through the store and refreshed exactly like the access token.
    pub async fn cached(&self, context: &Context, kind: Credential) -> Result<Arc<str>> {
        self.slot(context, kind)
            .get(|| self.shared_token(context, kind, None))
            .await
    }

    /// Drops the cached `kind` here and in the store, but only where it is still `failed`, so
    /// a value another caller has just fetched survives. True when this process dropped it.
    pub async fn invalidate(
        &self,
        context: &Context,
        kind: Credential,
        failed: &str,
    ) -> Result<bool> {
        let dropped = self.slot(context, kind).invalidate(failed);
        if let Some(store) = &self.config.token_store {
            store.delete_if(self.store_key_of(kind), failed).await?;
        }
        Ok(dropped)
    }

    /// How long the cached value of `kind` stays valid (None when nothing is cached).
    pub fn expires_in(&self, context: &Context, kind: Credential) -> Option<Duration> {
        self.slot(context, kind)
            .expires_at()
            .map(|at| at.saturating_duration_since(std::time::Instant::now()))
    }

    /// How long the cached token stays valid (None when nothing is cached).
    pub fn token_expires_in(&self, context: &Context) -> Option<Duration> {
        self.expires_in(context, Credential::AccessToken)
    }

    fn slot(&self, context: &Context, kind: Credential) -> Arc<TokenSlot> {
        match kind {
            // One corp ticket per corp, whichever of its apps fetched it.
            Credential::JsapiTicket => context.tokens.slot_of(&store::corp_wide(&self.key), kind),
            _ => context.tokens.slot_of(&self.key, kind),
        }
    }

    fn store_key_of(&self, kind: Credential) -> &str {
        match kind {
            Credential::AccessToken => &self.store_key,
            Credential::JsapiTicket => &self.jsapi_store_key,
            Credential::AgentTicket => &self.agent_store_key,
        }
    }

    /// A token from the shared store, refreshed there under the store's lock when it is due:
    /// one process fetches, the others wait for its token instead of fetching too. `failed` is
    /// a token WeCom just rejected, never to be handed out again.
    async fn shared_token(
        &self,
        context: &Context,
        kind: Credential,
        failed: Option<&str>,
    ) -> Result<(String, Duration)> {
        let Some(store) = self.config.token_store.as_deref() else {
            return self.fetch(context, kind).await;
        };
        let key = self.store_key_of(kind);
        let usable = |stored: &StoredToken| Some(stored.token.as_str()) != failed;
        let fresh = |stored: &StoredToken| usable(stored) && !stored.due_for_refresh();
        // A holder that died keeps a Redis lock until it expires; wait that long at most.
        let lock_ttl = self.config.connection.timeout.max(Duration::from_secs(1)) * 2;
        let deadline = tokio::time::Instant::now() + lock_ttl + self.config.connection.timeout;
        loop {
            let current = store.read_token(key).await?;
            if let Some(stored) = current.as_ref().filter(|s| fresh(s)) {
                return Ok((stored.token.clone(), stored.remaining()));
            }
            let lock = match store.try_lock(key, lock_ttl).await {
                Ok(lock) => lock,
                // Readable but not lockable (a read-only directory, a cache that drops writes):
                // fetch for this process alone rather than fail every send.
                Err(error) => {
                    let fetched = self.fetch(context, kind).await?;
                    self.store_failed(store, &error);
                    return Ok(fetched);
                }
            };
            if let Some(lock) = lock {
                let refreshed = async {
                    // Another process may have refreshed between our read and our lock.
                    if let Some(stored) = store.read_token(key).await?.filter(|s| fresh(s)) {
                        let remaining = stored.remaining();
                        return Ok((stored.token, remaining));
                    }
                    let (token, expires_in) = self.fetch(context, kind).await?;
                    let stored = StoredToken::new(token.clone(), expires_in);
                    // Unwritten, the token still serves this process until it is due: a store
                    // failure must not become a gettoken call per send.
                    if let Err(error) = store.write_token(key, &stored).await {
                        self.store_failed(store, &error);
                    }
                    Ok((token, expires_in))
                }
                .await;
                let _ = store.unlock(lock).await;
                return refreshed;
            }
            // Someone else is refreshing: the current token is still good meanwhile.
            if let Some(stored) = current.filter(|s| usable(s)) {
                return Ok((stored.token.clone(), stored.remaining()));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    path: "token store".into(),
                    after: lock_ttl + self.config.connection.timeout,
                    delivery_unknown: false,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Logs, once per process and store, that the store could not be written.
    fn store_failed(&self, store: &dyn store::TokenStore, error: &Error) {
        crate::process::warn_once(
            format!("store {}", store.identity()),
            format!(
                "the token store {} cannot be written ({error}); each process keeps the tokens \
                 it fetches to itself until the store works again",
                store.describe()
            ),
        );
    }

    /// Fetches `kind` from WeCom; a ticket with the access token (boxed: that call may fetch
    /// the token through this very function).
    fn fetch<'a>(
        &'a self,
        context: &'a Context,
        kind: Credential,
    ) -> store::StoreFuture<'a, (String, Duration)> {
        Box::pin(async move {
            let (path, query): (&str, &[(&str, &str)]) = match kind {
                Credential::AccessToken => return self.fetch_token(context).await,
                Credential::JsapiTicket => (JSAPI_TICKET_PATH, &[]),
                Credential::AgentTicket => (AGENT_TICKET_PATH, &[("type", "agent_config")]),
            };
            let answer = self.call(context, path, query, None, Repeat::Safe).await?;
            let ticket = answer["ticket"]
                .as_str()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| not_answered(path, "ticket"))?;
            let expires_in = answer["expires_in"].as_u64().unwrap_or(7200);
            Ok((ticket.to_owned(), Duration::from_secs(expires_in)))
        })
    }

    async fn fetch_token(&self, context: &Context) -> Result<(String, Duration)> {
        let query = [
            ("corpid", self.config.corp_id.as_str()),
            ("corpsecret", self.config.secret.as_str()),
        ];
        let answer = self
            .api
            .call(context, GETTOKEN_PATH, &query, None, Repeat::Safe)
            .await
            .map_err(|e| match e {
                // From gettoken, 40001 means a wrong secret: a settings problem, not a token one.
                Error::Api {
                    errcode: errcode @ (40001 | 40013 | 40091),
                    errmsg,
                    path,
                } => Error::Api {
                    errcode,
                    errmsg: format!("{errmsg} (check corp_id and secret)"),
                    path,
                },
                other => other,
            })?;
        let token = answer["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| not_answered(GETTOKEN_PATH, "access_token"))?;
        let expires_in = answer["expires_in"].as_u64().unwrap_or(7200);
        Ok((token.to_owned(), Duration::from_secs(expires_in)))
    }

    /// POSTs the JSON `body` to an API that takes the access token.
    pub async fn post(
        &self,
        context: &Context,
        path: &str,
        body: Vec<u8>,
        repeat: Repeat,
    ) -> Result<Value> {
        let payload = Payload::Json(Bytes::from(body));
        self.call(context, path, &[], Some(&payload), repeat).await
    }

    /// Calls an API that takes the access token (a GET without `payload`, else a POST), with
    /// retries and, when WeCom rejects the token, one refresh.
    pub async fn call(
        &self,
        context: &Context,
        path: &str,
        query: &[(&str, &str)],
        payload: Option<&Payload>,
        repeat: Repeat,
    ) -> Result<Value> {
        let slot = self.slot(context, Credential::AccessToken);
        let mut refreshed = false;
        let mut failed: Option<Arc<str>> = None;
        loop {
            let token = slot
                .get(|| self.shared_token(context, Credential::AccessToken, failed.as_deref()))
                .await?;
            let mut with_token = Vec::with_capacity(query.len() + 1);
            with_token.push(("access_token", &*token));
            with_token.extend_from_slice(query);
            match self
                .api
                .call(context, path, &with_token, payload, repeat)
                .await
            {
                Err(Error::Api { errcode, .. })
                    if !refreshed && matches!(errcode, 40001 | 40014 | 42001) =>
                {
                    // WeCom dropped the token early. Another caller (or process) may have
                    // replaced it already, so drop it only where it is still the current one.
                    slot.invalidate(&token);
                    if let Some(store) = &self.config.token_store {
                        // If the store cannot be reached, the refresh below still skips it.
                        let _ = store.delete_if(&self.store_key, &token).await;
                    }
                    failed = Some(token);
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    /// Uploads a temporary media file (`kind`: image, voice, video or file); returns its
    /// media_id, valid for 3 days. A repeat only makes another media_id, so it is retried.
    pub async fn upload_media(
        &self,
        context: &Context,
        kind: &str,
        upload: Multipart,
    ) -> Result<String> {
        let payload = Payload::Multipart(Arc::new(upload));
        let answer = self
            .call(
                context,
                UPLOAD_PATH,
                &[("type", kind)],
                Some(&payload),
                Repeat::Safe,
            )
            .await?;
        media_id(&answer, UPLOAD_PATH)
    }

    /// Sends an app message; large recipient lists become several calls, merged in order.
    pub async fn send(&self, context: &Context, message: &Message) -> Result<SendResult> {
        self.send_paced(context, message, None).await
    }

    /// [`Client::send`], waiting out a batch's 45009 pause before each call (see `batch`).
    pub(crate) async fn send_paced(
        &self,
        context: &Context,
        message: &Message,
        pause: Option<&Pause>,
    ) -> Result<SendResult> {
        message.validate()?;
        let repeat = Repeat::safe_if(message.options.duplicate_check.is_some());
        let chunks = message.recipients.chunks();
        let mut result = SendResult::default();
        let mut all_invalid = None;
        for recipients in &chunks {
            let body = message.to_json(self.config.agent_id, recipients);
            match self.post_chunk(context, body, repeat, pause).await {
                Ok(answer) => result.merge(&answer),
                // In a split send, one call whose recipients are all invalid is not a failure of
                // the send: they are reported like WeCom reports invalid ids in a good call.
                Err(error) if error.errcode() == Some(81013) && chunks.len() > 1 => {
                    result.add_invalid(recipients);
                    all_invalid = Some(error);
                }
                Err(cause) if result.msgids.is_empty() => return Err(cause),
                Err(cause) => {
                    return Err(Error::PartiallySent {
                        cause: Box::new(cause),
                        delivered: Box::new(result),
                        calls: chunks.len(),
                        repeat,
                    })
                }
            }
        }
        match all_invalid {
            Some(error) if result.msgids.is_empty() => Err(error),
            _ => Ok(result),
        }
    }

    /// One `message/send` call; in a batch, waits out and repeats on WeCom's 45009.
    async fn post_chunk(
        &self,
        context: &Context,
        body: Vec<u8>,
        repeat: Repeat,
        pause: Option<&Pause>,
    ) -> Result<Value> {
        let Some(pause) = pause else {
            return self.post(context, SEND_PATH, body, repeat).await;
        };
        let mut paused = 0;
        loop {
            pause.wait().await;
            match self.post(context, SEND_PATH, body.clone(), repeat).await {
                Err(e) if e.errcode() == Some(45009) && paused < self.api.policy.max_retries => {
                    pause.start();
                    paused += 1;
                }
                other => return other,
            }
        }
    }

    /// Recalls a message sent within the last 24 hours.
    pub async fn recall(&self, context: &Context, msgid: &str) -> Result<()> {
        if msgid.is_empty() {
            return Err(Error::InvalidArgument("msgid must not be empty".into()));
        }
        let body = serde_json::to_vec(&serde_json::json!({ "msgid": msgid }))
            .expect("a JSON value always serialises");
        self.post(context, RECALL_PATH, body, Repeat::Safe)
            .await
            .map(|_| ())
    }
}

/// The media_id of an upload's answer.
pub(crate) fn media_id(answer: &Value, path: &str) -> Result<String> {
    answer["media_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| not_answered(path, "media_id"))
}

/// A success answer without what it exists for: a gateway's, not WeCom's. Only calls that a
/// repeat cannot harm (gettoken, uploads) read such a field, so nothing was delivered.
fn not_answered(path: &str, what: &str) -> Error {
    Error::Network {
        message: format!("the answer has errcode 0 but no {what}: it did not come from WeCom"),
        path: path.to_owned(),
        delivery_unknown: false,
    }
}
