//! One callback URL's secrets and everything done with them: signatures, the AES frame, the
//! URL check, opening a POST, sealing a reply, and WeCom's side of each.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::error::{CallbackError, ErrorKind};
use crate::xml::{parse_message, push_cdata, push_text};
use crate::MAX_BODY;

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// WeCom pads frames with PKCS#7 to 32-byte blocks (not AES's 16).
const PAD_BLOCK: usize = 32;
/// 16 random bytes and a 4-byte big-endian message length.
const FRAME_HEADER: usize = 20;

/// The EncodingAESKey's decoder: standard alphabet, canonical padding, but trailing bits
/// allowed. An EncodingAESKey is 43 random base64 characters rather than the encoding of 32
/// bytes, so its last character usually carries non-zero spare bits: both official vectors'
/// keys do, and WeCom's own SDKs decode them leniently.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The query parameters of a callback, as received. An empty string counts as absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<'a> {
    /// `msg_signature`: hex SHA-1 over the token, timestamp, nonce and ciphertext.
    pub msg_signature: &'a str,
    /// `timestamp`: seconds since the Unix epoch, in decimal.
    pub timestamp: &'a str,
    /// `nonce`: a random string (WeCom sends digits).
    pub nonce: &'a str,
    /// `echostr`: the URL check's ciphertext (GET only).
    pub echostr: Option<&'a str>,
}

/// A callback signed and encrypted as WeCom sends it (built by [`Keys::sign_url_check`] and
/// [`Keys::sign_message`], for the emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// `msg_signature` for the query.
    pub msg_signature: String,
    /// `timestamp` for the query.
    pub timestamp: String,
    /// `nonce` for the query.
    pub nonce: String,
    /// `echostr` for the query of a URL check (a GET); `None` for a message.
    pub echostr: Option<String>,
    /// The POST body envelope of a message; `None` for a URL check.
    pub body: Option<String>,
}

impl Outgoing {
    /// The query as [`Keys::verify_url`] and [`Keys::open`] take it.
    pub fn query(&self) -> Query<'_> {
        Query {
            msg_signature: &self.msg_signature,
            timestamp: &self.timestamp,
            nonce: &self.nonce,
            echostr: self.echostr.as_deref(),
        }
    }

    /// The query's name/value pairs in WeCom's order, not yet URL-encoded (the ciphertext's
    /// `+`, `/` and `=` must be percent-encoded).
    pub fn query_pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = vec![
            ("msg_signature", self.msg_signature.as_str()),
            ("timestamp", self.timestamp.as_str()),
            ("nonce", self.nonce.as_str()),
        ];
        if let Some(echostr) = &self.echostr {
            pairs.push(("echostr", echostr));
        }
        pairs
    }
}

/// One callback URL's settings: the Token, the AES key decoded from the EncodingAESKey, and the
/// receive id its frames must carry (the corp id for an in-house app, the suite id for a
/// third-party app's suite callbacks, an empty string for a personal third-party app). Its
/// `Debug` output hides the token and the key.
#[derive(Clone)]
pub struct Keys {
    token: String,
    aes_key: [u8; 32],
    receive_id: String,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("token", &"[hidden]")
            .field("aes_key", &"[hidden]")
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

impl Keys {
    /// Keys from the URL's Token, its EncodingAESKey (43 characters of base64; with `=`
    /// appended they decode to the 32-byte AES key) and the receive id. Errors
    /// ([`ErrorKind::Config`]) name the field and never quote the token or the key.
    pub fn new(
        token: &str,
        encoding_aes_key: &str,
        receive_id: &str,
    ) -> Result<Keys, CallbackError> {
        if token.is_empty() {
            return Err(CallbackError::new(ErrorKind::Config, "token is empty"));
        }
        if encoding_aes_key.len() != 43 {
            return Err(CallbackError::new(
                ErrorKind::Config,
                format!(
                    "encoding_aes_key must be 43 characters of base64, not {} bytes",
                    encoding_aes_key.len()
                ),
            ));
        }
        let mut padded = String::with_capacity(44);
        padded.push_str(encoding_aes_key);
        padded.push('=');
        let mut aes_key = [0u8; 32];
        match KEY_ENGINE.decode_slice(padded.as_bytes(), &mut aes_key) {
            Ok(32) => {}
            _ => {
                return Err(CallbackError::new(
                    ErrorKind::Config,
                    "encoding_aes_key must be 43 characters of base64 (A-Z a-z 0-9 + /)",
                ))
            }
        }
        Ok(Keys {
            token: token.to_owned(),
            aes_key,
            receive_id: receive_id.to_owned(),
        })
    }

    /// The receive id that frames must carry.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// `msg_signature`: lower-case hex SHA-1 of the token, `timestamp`, `nonce` and `encrypt`
    /// sorted (bytewise) and concatenated.
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        hex(&self.digest(timestamp, nonce, encrypt))
    }

    fn digest(&self, timestamp: &str, nonce: &str, encrypt: &str) -> [u8; 20] {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let mut sha = Sha1::new();
        for part in parts {
            sha.update(part.as_bytes());
        }
        sha.finalize().into()
    }

    /// Checks `msg_signature` (hex, either case) in constant time. A wrong signature, and one
    /// that is not 40 hex digits, is [`ErrorKind::Signature`].
    pub fn verify(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CallbackError> {
        let given = unhex20(msg_signature).ok_or_else(|| {
            CallbackError::new(
                ErrorKind::Signature,
                "msg_signature is not a SHA-1 digest (40 hex digits)",
            )
        })?;
        let expected = self.digest(timestamp, nonce, encrypt);
        if bool::from(expected.ct_eq(&given)) {
            Ok(())
        } else {
            Err(CallbackError::new(
                ErrorKind::Signature,
                "msg_signature does not match",
            ))
        }
    }

    /// Opens a ciphertext: strict base64 → AES-256-CBC (IV = the key's first 16 bytes) →
    /// PKCS#7 padding to 32-byte blocks, checked strictly (1..=32, every pad byte equal) →
    /// 16 random bytes ‖ u32 big-endian length ‖ message ‖ receive id. Returns the message.
    ///
    /// Errors: [`ErrorKind::Malformed`] for bad base64, a ciphertext that is not whole 32-byte
    /// blocks, bad padding, a frame shorter than its header or a length past its end;
    /// [`ErrorKind::ReceiveId`] when the receive id differs. Check the signature first (as
    /// [`Keys::verify_url`] and [`Keys::open`] do): it covers the ciphertext, so these
    /// distinct errors are no padding oracle.
    pub fn decrypt(&self, encrypt: &str) -> Result<Vec<u8>, CallbackError> {
        let mut buf = STANDARD
            .decode(encrypt)
            .map_err(|_| CallbackError::malformed("the ciphertext is not base64"))?;
        if buf.is_empty() || buf.len() % PAD_BLOCK != 0 {
            return Err(CallbackError::malformed(format!(
                "the ciphertext is {} bytes, not whole {PAD_BLOCK}-byte blocks",
                buf.len()
            )));
        }
        let len = Decryptor::new(&self.aes_key.into(), &self.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CallbackError::malformed("the ciphertext is not whole AES blocks"))?
            .len();
        let pad = buf[len - 1] as usize;
        if pad == 0 || pad > PAD_BLOCK || buf[len - pad..len].iter().any(|&b| b as usize != pad) {
            return Err(CallbackError::malformed("the plaintext has bad padding"));
        }
        let frame = &buf[..len - pad];
        if frame.len() < FRAME_HEADER {
            return Err(CallbackError::malformed(
                "the plaintext is shorter than its 20-byte header",
            ));
        }
        let n = u32::from_be_bytes(frame[16..20].try_into().expect("4 bytes")) as usize;
        let end = FRAME_HEADER
            .checked_add(n)
            .filter(|&end| end <= frame.len())
            .ok_or_else(|| {
                CallbackError::malformed(format!(
                    "the plaintext's length field ({n}) runs past its end"
                ))
            })?;
        if &frame[end..] != self.receive_id.as_bytes() {
            return Err(CallbackError::new(
                ErrorKind::ReceiveId,
                "the message is for another receive id (corp id or suite id)",
            ));
        }
        Ok(frame[FRAME_HEADER..end].to_vec())
    }

    /// Encrypts `message` in a frame with 16 fresh random bytes from the OS; base64 out.
    ///
    /// # Panics
    /// If the OS has no random source, or `message` is 4 GiB or more.
    pub fn encrypt(&self, message: &[u8]) -> String {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("the OS random source failed");
        self.encrypt_with(message, random)
    }

    /// [`Keys::encrypt`] with given random bytes, for test vectors.
    ///
    /// # Panics
    /// If `message` is 4 GiB or more.
    pub fn encrypt_with(&self, message: &[u8], random: [u8; 16]) -> String {
        let n = u32::try_from(message.len()).expect("a callback message is under 4 GiB");
        let unpadded = FRAME_HEADER + message.len() + self.receive_id.len();
        let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
        let mut buf = Vec::with_capacity(unpadded + pad);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&n.to_be_bytes());
        buf.extend_from_slice(message);
        buf.extend_from_slice(self.receive_id.as_bytes());
        buf.resize(unpadded + pad, pad as u8);
        let total = buf.len();
        Encryptor::new(&self.aes_key.into(), &self.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, total)
            .expect("whole blocks");
        STANDARD.encode(&buf)
    }

    fn iv(&self) -> [u8; 16] {
        self.aes_key[..16].try_into().expect("16 bytes")
    }

    /// The URL check (a GET with `echostr`): every parameter present
    /// ([`ErrorKind::MissingParameter`]), the timestamp within `window` of `now`
    /// ([`ErrorKind::Stale`]; [`ErrorKind::Malformed`] when not a number), the signature over
    /// `echostr`, then [`Keys::decrypt`]. Returns the plaintext the app must answer with.
    pub fn verify_url(
        &self,
        q: &Query<'_>,
        now: SystemTime,
        window: Duration,
    ) -> Result<Vec<u8>, CallbackError> {
        check_present(q)?;
        let echostr = q
            .echostr
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("echostr"))?;
        check_timestamp(q.timestamp, now, window)?;
        self.verify(q.msg_signature, q.timestamp, q.nonce, echostr)?;
        self.decrypt(echostr)
    }

    /// A message or event (a POST): the parameters present, the body at most [`MAX_BODY`]
    /// ([`ErrorKind::TooLarge`]), the timestamp window, then the envelope parsed for its
    /// `<Encrypt>` (nothing else is read before the signature is checked), the signature,
    /// [`Keys::decrypt`], and [`parse_message`] → the message tree. `echostr` is ignored.
    pub fn open(
        &self,
        q: &Query<'_>,
        body: &[u8],
        now: SystemTime,
        window: Duration,
    ) -> Result<Map<String, Value>, CallbackError> {
        check_present(q)?;
        check_size(body)?;
        check_timestamp(q.timestamp, now, window)?;
        let envelope = parse_message(body)?;
        let encrypt = text_field(&envelope, "Encrypt")?;
        self.verify(q.msg_signature, q.timestamp, q.nonce, encrypt)?;
        parse_message(&self.decrypt(encrypt)?)
    }

    /// The encrypted reply to a callback, for a plaintext reply XML (see
    /// [`write_xml`](crate::write_xml)): `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`
    /// as Tencent's samples write it (CDATA but for the timestamp). `timestamp` is normally
    /// [`timestamp`](crate::timestamp)`(now)` and `nonce` a fresh [`nonce`](crate::nonce)`()`.
    pub fn seal(&self, reply_xml: &[u8], timestamp: &str, nonce: &str) -> String {
        let encrypt = self.encrypt(reply_xml);
        let signature = self.signature(timestamp, nonce, &encrypt);
        let mut out = String::with_capacity(encrypt.len() + 160);
        out.push_str("<xml><Encrypt>");
        push_cdata(&mut out, &encrypt);
        out.push_str("</Encrypt><MsgSignature>");
        push_cdata(&mut out, &signature);
        out.push_str("</MsgSignature><TimeStamp>");
        push_text(&mut out, timestamp);
        out.push_str("</TimeStamp><Nonce>");
        push_cdata(&mut out, nonce);
        out.push_str("</Nonce></xml>");
        out
    }

    /// WeCom's side of the URL check: `echo` encrypted as `echostr`, and its signature.
    pub fn sign_url_check(&self, echo: &[u8], timestamp: &str, nonce: &str) -> Outgoing {
        let encrypt = self.encrypt(echo);
        Outgoing {
            msg_signature: self.signature(timestamp, nonce, &encrypt),
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            echostr: Some(encrypt),
            body: None,
        }
    }

    /// WeCom's side of a message or event: `message_xml` (see [`write_xml`](crate::write_xml))
    /// encrypted into the POST body `<xml><ToUserName/><AgentID/><Encrypt/></xml>` (no
    /// `AgentID` when `agent_id` is `None`), and the query's signature.
    pub fn sign_message(
        &self,
        message_xml: &[u8],
        to_user_name: &str,
        agent_id: Option<&str>,
        timestamp: &str,
        nonce: &str,
    ) -> Outgoing {
        let encrypt = self.encrypt(message_xml);
        let mut body = String::with_capacity(encrypt.len() + 120);
        body.push_str("<xml><ToUserName>");
        push_cdata(&mut body, to_user_name);
        body.push_str("</ToUserName>");
        if let Some(agent_id) = agent_id {
            body.push_str("<AgentID>");
            push_cdata(&mut body, agent_id);
            body.push_str("</AgentID>");
        }
        body.push_str("<Encrypt>");
        push_cdata(&mut body, &encrypt);
        body.push_str("</Encrypt></xml>");
        Outgoing {
            msg_signature: self.signature(timestamp, nonce, &encrypt),
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            echostr: None,
            body: Some(body),
        }
    }

    /// WeCom's side of a reply: `Ok(None)` for an empty (or blank) body, which means "no
    /// reply"; otherwise the envelope's `Encrypt`, `MsgSignature`, `TimeStamp` and `Nonce`
    /// ([`ErrorKind::MissingParameter`] when absent), the signature, then [`Keys::decrypt`] →
    /// the reply's plaintext XML. The reply's timestamp is not held to a window.
    pub fn decrypt_reply(&self, body: &[u8]) -> Result<Option<Vec<u8>>, CallbackError> {
        if body
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            return Ok(None);
        }
        check_size(body)?;
        let envelope = parse_message(body)?;
        let encrypt = text_field(&envelope, "Encrypt")?;
        let signature = text_field(&envelope, "MsgSignature")?;
        let timestamp = text_field(&envelope, "TimeStamp")?;
        let nonce = text_field(&envelope, "Nonce")?;
        self.verify(signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt).map(Some)
    }

    /// [`Keys::decrypt_reply`], then [`parse_message`] → the reply tree (`None`: no reply).
    pub fn open_reply(&self, body: &[u8]) -> Result<Option<Map<String, Value>>, CallbackError> {
        match self.decrypt_reply(body)? {
            Some(xml) => parse_message(&xml).map(Some),
            None => Ok(None),
        }
    }
}

/// `now` as WeCom's `timestamp`: whole seconds since the Unix epoch, in decimal.
pub fn timestamp(now: SystemTime) -> String {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

/// A fresh `nonce`: ten random decimal digits from the OS, like WeCom's.
///
/// # Panics
/// If the OS has no random source.
pub fn nonce() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source failed");
    format!("{:010}", u64::from_le_bytes(bytes) % 10_000_000_000)
}

fn missing(name: &str) -> CallbackError {
    CallbackError::new(
        ErrorKind::MissingParameter,
        format!("the {name} parameter is missing"),
    )
}

fn check_present(q: &Query<'_>) -> Result<(), CallbackError> {
    for (name, value) in [
        ("msg_signature", q.msg_signature),
        ("timestamp", q.timestamp),
        ("nonce", q.nonce),
    ] {
        if value.is_empty() {
            return Err(missing(name));
        }
    }
    Ok(())
}

fn check_size(body: &[u8]) -> Result<(), CallbackError> {
    if body.len() > MAX_BODY {
        return Err(CallbackError::new(
            ErrorKind::TooLarge,
            format!(
                "the body is {} bytes, over the {MAX_BODY}-byte limit",
                body.len()
            ),
        ));
    }
    Ok(())
}

/// The timestamp is decimal seconds within `window` of `now`, either way.
fn check_timestamp(
    timestamp: &str,
    now: SystemTime,
    window: Duration,
) -> Result<(), CallbackError> {
    let ts: u64 = Some(timestamp)
        .filter(|t| (1..=19).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| CallbackError::malformed("the timestamp is not a number of seconds"))?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (skew, way) = if ts <= now {
        (now - ts, "old")
    } else {
        (ts - now, "in the future")
    };
    if skew > window.as_secs() {
        return Err(CallbackError::new(
            ErrorKind::Stale,
            format!(
                "the timestamp is {skew} s {way}, outside the {} s window",
                window.as_secs()
            ),
        ));
    }
    Ok(())
}

/// A text element of an envelope: absent or empty is MissingParameter, repeated or nested is
/// Malformed.
fn text_field<'m>(envelope: &'m Map<String, Value>, name: &str) -> Result<&'m str, CallbackError> {
    match envelope.get(name) {
        None => Err(CallbackError::new(
            ErrorKind::MissingParameter,
            format!("the body has no <{name}>"),
        )),
        Some(Value::String(s)) if s.is_empty() => Err(CallbackError::new(
            ErrorKind::MissingParameter,
            format!("the body's <{name}> is empty"),
        )),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(CallbackError::malformed(format!(
            "the body's <{name}> is not a single text element"
        ))),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn unhex20(s: &str) -> Option<[u8; 20]> {
    let s = s.as_bytes();
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}
