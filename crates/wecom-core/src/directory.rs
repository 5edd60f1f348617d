//! Finding a member's userid by email or mobile (`user/get_userid_by_email`, `user/getuserid`).
//!
//! WeCom blocks a corp's lookups for a day once too many addresses turned out to be nobody, so
//! every answer — "nobody" too — is kept for the caller's `ttl`: in the token store when one is
//! configured (shared by the fleet, like tokens), else in this process. Keys hash the corp and the
//! address, so a store never holds an email or a mobile number in the clear.

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::Repeat;
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::process::Context;
use crate::store::{MemoryStore, TokenStore};

/// What a member is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address<'a> {
    /// A corporate email (`email_type` 1), or a personal one (2).
    Email {
        email: &'a str,
        personal: bool,
    },
    Mobile(&'a str),
}

impl Address<'_> {
    fn path(&self) -> &'static str {
        match self {
            Address::Email { .. } => "/cgi-bin/user/get_userid_by_email",
            Address::Mobile(_) => "/cgi-bin/user/getuserid",
        }
    }

    fn body(&self) -> Vec<u8> {
        let body = match self {
            Address::Email { email, personal } => {
                serde_json::json!({ "email": email, "email_type": if *personal { 2 } else { 1 } })
            }
            Address::Mobile(mobile) => serde_json::json!({ "mobile": mobile }),
        };
        serde_json::to_vec(&body).expect("a JSON value always serialises")
    }

    /// The cache key: a digest of the corp and the address (emails in any case are one).
    fn key(&self, corp_id: &str) -> String {
        let (kind, value) = match self {
            Address::Email {
                email,
                personal: false,
            } => ("email", email.to_lowercase()),
            Address::Email {
                email,
                personal: true,
            } => ("personal-email", email.to_lowercase()),
            Address::Mobile(mobile) => ("mobile", (*mobile).to_owned()),
        };
        let digest = Sha256::digest(format!("{corp_id}\0{kind}\0{value}").as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("directory-{hex}")
    }
}

/// A cached answer: the userid, or `None` for "nobody has this address".
#[derive(Serialize, Deserialize)]
struct Cached {
    userid: Option<String>,
}

/// Where lookups are cached when no token store is configured: this process, all its clients.
fn process_cache() -> &'static MemoryStore {
    static CACHE: OnceLock<MemoryStore> = OnceLock::new();
    CACHE.get_or_init(MemoryStore::default)
}

impl Client {
    /// The userid of the member with `address`, or `None` when WeCom says nobody has it (46004,
    /// 60111); answers are cached for `ttl`, misses too, and a cached answer makes no call.
    pub async fn userid_by(
        &self,
        context: &Context,
        address: Address<'_>,
        ttl: Duration,
    ) -> Result<Option<String>> {
        let store: &dyn TokenStore = match &self.config().token_store {
            Some(store) => store.as_ref(),
            None => process_cache(),
        };
        let key = address.key(&self.config().corp_id);
        if let Some(raw) = store.read(&key).await? {
            // A torn or foreign value is no answer: ask WeCom again.
            if let Ok(cached) = serde_json::from_slice::<Cached>(&raw) {
                return Ok(cached.userid);
            }
        }
        let userid = match self
            .post(context, address.path(), address.body(), Repeat::Safe)
            .await
        {
            Ok(answer) => match answer["userid"].as_str() {
                Some(userid) if !userid.is_empty() => Some(userid.to_owned()),
                _ => {
                    return Err(Error::Internal(format!(
                        "WeCom {} answered without a userid",
                        address.path()
                    )))
                }
            },
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let value = serde_json::to_vec(&Cached {
            userid: userid.clone(),
        })
        .expect("a cached answer always serialises");
        store.write(&key, value, ttl).await?;
        Ok(userid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hide_the_address_and_tell_corps_and_kinds_apart() {
        let email = Address::Email {
            email: "Zhang.San@Example.com",
            personal: false,
        };
        let key = email.key("ww1");
        assert!(key.starts_with("directory-") && key.len() == "directory-".len() + 32);
        assert!(!key.to_lowercase().contains("zhang"));
        let same = Address::Email {
            email: "zhang.san@example.com",
            personal: false,
        };
        assert_eq!(key, same.key("ww1"));
        assert_ne!(key, email.key("ww2"));
        let personal = Address::Email {
            email: "zhang.san@example.com",
            personal: true,
        };
        assert_ne!(key, personal.key("ww1"));
        assert_ne!(
            Address::Mobile("13800000000").key("ww1"),
            Address::Mobile("13800000001").key("ww1")
        );
    }

    #[test]
    fn bodies_are_wecoms() {
        let email = Address::Email {
            email: "a@b.c",
            personal: true,
        };
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&email.body()).unwrap(),
            serde_json::json!({ "email": "a@b.c", "email_type": 2 })
        );
        assert_eq!(
            Address::Mobile("138").body(),
            br#"{"mobile":"138"}"#.to_vec()
        );
    }
}
