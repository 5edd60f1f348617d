//! Signatures for pages inside WeCom: `wx.config` / `ww.register`'s `getConfigSignature` sign
//! with the corp's jsapi ticket, `wx.agentConfig` / `getAgentConfigSignature` with the app's.

use std::time::{SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::process::Context;
use crate::token::Credential;

/// Longest page URL signed. Browsers take longer ones, but a signing endpoint must not hash
/// whatever a caller posts; WeCom's own pages stay far below.
pub const MAX_URL_BYTES: usize = 4096;

/// What a page passes to `wx.config` (or `wx.agentConfig`), minus the ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub timestamp: u64,
    pub nonce_str: String,
    pub signature: String,
}

/// Hex SHA-1 of `jsapi_ticket=T&noncestr=N&timestamp=TS&url=U`: the fields in this fixed order,
/// nothing URL-encoded. `url` must already be without its `#...` (see [`page_url`]).
pub fn sign(ticket: &str, nonce_str: &str, timestamp: u64, url: &str) -> String {
    let plain =
        format!("jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}");
    Sha1::digest(plain.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The part of a page URL that is signed: everything before `#`, as the page has it (WeCom's
/// script signs `location.href.split('#')[0]`). Refuses what no page could be at.
pub fn page_url(url: &str) -> Result<&str> {
    let invalid = |why: String| Err(Error::InvalidArgument(format!("url {why}")));
    if url.len() > MAX_URL_BYTES {
        return invalid(format!(
            "must be at most {MAX_URL_BYTES} bytes, got {}",
            url.len()
        ));
    }
    let page = url.split('#').next().unwrap_or("");
    let lower = page.get(..8).unwrap_or(page).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return invalid("must be an http:// or https:// page URL".into());
    }
    if page.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain spaces or control characters".into());
    }
    match url::Url::parse(page) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(page),
        _ => invalid("must be an absolute URL with a host".into()),
    }
}

/// A fresh 16-character nonce over letters and digits (what WeCom's examples use).
fn nonce() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

impl Client {
    /// Signs `url` for `wx.config` (`Credential::JsapiTicket`) or `wx.agentConfig`
    /// (`Credential::AgentTicket`) with the cached ticket.
    pub async fn js_sdk_signature(
        &self,
        context: &Context,
        kind: Credential,
        url: &str,
    ) -> Result<Signature> {
        if kind == Credential::AccessToken {
            return Err(Error::InvalidArgument(
                "a JS-SDK signature takes the jsapi or the agent ticket".into(),
            ));
        }
        let page = page_url(url)?;
        let ticket = self.cached(context, kind).await?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let nonce_str = nonce();
        Ok(Signature {
            signature: sign(&ticket, &nonce_str, timestamp, page),
            timestamp,
            nonce_str,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_vector() {
        // shared/wecom-api.md, "Sign-in and pages inside WeCom" (WeCom's JS-SDK docs).
        let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
        assert_eq!(
            sign(
                ticket,
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com?params=value"
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn the_fragment_is_dropped_and_nothing_is_encoded() {
        assert_eq!(
            page_url("http://mp.weixin.qq.com?params=value#/a?b=c").unwrap(),
            "http://mp.weixin.qq.com?params=value"
        );
        // Signed as the page has it: no encoding, no normalisation.
        let raw = "https://HR.example.com/a b";
        assert!(page_url(raw).is_err());
        let kept = "https://hr.example.com/p?q=%E4%BD%A0&x=你|y";
        assert_eq!(page_url(kept).unwrap(), kept);
    }

    #[test]
    fn bad_urls_name_the_field_and_the_limit() {
        let long = format!("https://a.example/{}", "x".repeat(MAX_URL_BYTES));
        let err = page_url(&long).unwrap_err().to_string();
        assert!(err.contains("url") && err.contains("4096"), "{err}");
        for bad in [
            "",
            "/relative",
            "javascript:alert(1)",
            "https://",
            "ftp://a.b/",
        ] {
            let err = page_url(bad).unwrap_err().to_string();
            assert!(err.starts_with("url "), "{bad}: {err}");
        }
        assert!(page_url("https://a.example/x\ny").is_err());
    }

    #[test]
    fn nonces_differ() {
        let a = nonce();
        assert_eq!(a.len(), 16);
        assert_ne!(a, nonce());
    }
}
