//! An app message (`POST /cgi-bin/message/send`): recipients, options, the JSON body, and the
//! splitting of large recipient lists into several calls.

use serde_json::Value;

use crate::error::{Error, Result};

/// WeCom's per-call limits on `touser`, `toparty` and `totag`.
pub const MAX_USERS: usize = 1000;
pub const MAX_PARTIES: usize = 100;
pub const MAX_TAGS: usize = 100;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recipients {
    pub users: Vec<String>,
    pub parties: Vec<String>,
    pub tags: Vec<String>,
    /// `touser: "@all"`: everyone the app can see; parties and tags are then ignored.
    pub all: bool,
}

impl Recipients {
    pub fn is_empty(&self) -> bool {
        !self.all && self.users.is_empty() && self.parties.is_empty() && self.tags.is_empty()
    }

    /// Splits into groups that each fit in one call, preserving order.
    pub fn chunks(&self) -> Vec<Recipients> {
        if self.all {
            return vec![Recipients {
                all: true,
                ..Recipients::default()
            }];
        }
        let calls = [
            self.users.len().div_ceil(MAX_USERS),
            self.parties.len().div_ceil(MAX_PARTIES),
            self.tags.len().div_ceil(MAX_TAGS),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
        .max(1);
        let part = |ids: &[String], size: usize, i: usize| -> Vec<String> {
            ids.iter().skip(i * size).take(size).cloned().collect()
        };
        (0..calls)
            .map(|i| Recipients {
                users: part(&self.users, MAX_USERS, i),
                parties: part(&self.parties, MAX_PARTIES, i),
                tags: part(&self.tags, MAX_TAGS, i),
                all: false,
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SendOptions {
    /// `safe: 1`: confidential message (no forwarding, watermark).
    pub safe: bool,
    /// `enable_id_trans: 1`: WeCom translates ids into names in the text.
    pub id_trans: bool,
    /// Seconds within which WeCom drops an identical request (`enable_duplicate_check`).
    pub duplicate_check: Option<u32>,
}

/// The longest `duplicate_check_interval` WeCom accepts (4 hours).
pub const MAX_DUPLICATE_CHECK: u32 = 14_400;

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub msgtype: String,
    /// The object stored under the msgtype key, e.g. `{"content": "..."}` for text.
    pub body: Value,
    pub recipients: Recipients,
    pub options: SendOptions,
}

impl Message {
    pub fn validate(&self) -> Result<()> {
        if self.msgtype.is_empty()
            || !self
                .msgtype
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err(Error::InvalidArgument(format!(
                "msgtype must be a lowercase WeCom message type such as \"text\", got {:?}",
                self.msgtype
            )));
        }
        if !self.body.is_object() {
            return Err(Error::InvalidArgument(format!(
                "the {} body must be a Hash (a JSON object)",
                self.msgtype
            )));
        }
        if self.recipients.is_empty() {
            return Err(Error::InvalidArgument(
                "no recipients: give to: (user ids or :all), party: or tag:".into(),
            ));
        }
        if let Some(interval) = self.options.duplicate_check {
            if interval == 0 || interval > MAX_DUPLICATE_CHECK {
                return Err(Error::InvalidArgument(format!(
                    "duplicate_check must be between 1 and {MAX_DUPLICATE_CHECK} seconds, got {interval}"
                )));
            }
        }
        Ok(())
    }

    /// The JSON of one `message/send` call for `recipients` (one of [`Recipients::chunks`]).
    ///
    /// Written straight from the message, with no `serde_json::Map` in between (that cost a deep
    /// copy of the body and a tree of owned keys per send); the keys come out sorted, as a `Map`
    /// writes them, so the bytes are what they always were.
    pub fn to_json(&self, agent_id: i64, recipients: &Recipients) -> Vec<u8> {
        let mut fields: Vec<(&str, Field<'_>)> = Vec::with_capacity(10);
        if recipients.all {
            fields.push(("touser", Field::Str("@all")));
        } else {
            for (key, ids) in [
                ("touser", &recipients.users),
                ("toparty", &recipients.parties),
                ("totag", &recipients.tags),
            ] {
                if !ids.is_empty() {
                    fields.push((key, Field::Ids(ids)));
                }
            }
        }
        fields.push(("msgtype", Field::Str(&self.msgtype)));
        fields.push(("agentid", Field::Int(agent_id)));
        fields.push((&self.msgtype, Field::Json(&self.body)));
        fields.push(("safe", Field::Int(self.options.safe.into())));
        fields.push(("enable_id_trans", Field::Int(self.options.id_trans.into())));
        if let Some(interval) = self.options.duplicate_check {
            fields.push(("enable_duplicate_check", Field::Int(1)));
            fields.push(("duplicate_check_interval", Field::Int(interval.into())));
        }
        // Sorted by key, and of two fields with one key (a msgtype named like another field)
        // the one pushed last, as a Map that had them inserted in this order would hold.
        fields.reverse();
        fields.sort_by_key(|(key, _)| *key);
        fields.dedup_by_key(|(key, _)| *key);
        serde_json::to_vec(&Fields(&fields)).expect("a JSON value always serialises")
    }
}

/// One value of a `message/send` body.
enum Field<'a> {
    Str(&'a str),
    Int(i64),
    /// Ids joined with `|`.
    Ids(&'a [String]),
    Json(&'a Value),
}

/// The body's fields, in order, as one JSON object.
struct Fields<'a>(&'a [(&'a str, Field<'a>)]);

impl serde::Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, field) in self.0 {
            map.serialize_key(key)?;
            match field {
                Field::Str(value) => map.serialize_value(value)?,
                Field::Int(value) => map.serialize_value(value)?,
                Field::Ids(ids) => map.serialize_value(&ids.join("|"))?,
                Field::Json(value) => map.serialize_value(value)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn text(recipients: Recipients) -> Message {
        Message {
            msgtype: "text".into(),
            body: json!({"content": "Interview at 15:00"}),
            recipients,
            options: SendOptions::default(),
        }
    }

    /// The body as a `serde_json::Map` holds it, fields inserted in `to_json`'s order: what
    /// `to_json` wrote before it skipped the Map, and must still write byte for byte.
    fn through_a_map(message: &Message, agent_id: i64, recipients: &Recipients) -> Vec<u8> {
        let mut object = serde_json::Map::new();
        if recipients.all {
            object.insert("touser".into(), "@all".into());
        }
        for (key, ids) in [
            ("touser", &recipients.users),
            ("toparty", &recipients.parties),
            ("totag", &recipients.tags),
        ] {
            if !recipients.all && !ids.is_empty() {
                object.insert(key.into(), ids.join("|").into());
            }
        }
        object.insert("msgtype".into(), message.msgtype.clone().into());
        object.insert("agentid".into(), agent_id.into());
        object.insert(message.msgtype.clone(), message.body.clone());
        object.insert("safe".into(), u8::from(message.options.safe).into());
        object.insert(
            "enable_id_trans".into(),
            u8::from(message.options.id_trans).into(),
        );
        if let Some(interval) = message.options.duplicate_check {
            object.insert("enable_duplicate_check".into(), 1.into());
            object.insert("duplicate_check_interval".into(), interval.into());
        }
        serde_json::to_vec(&Value::Object(object)).unwrap()
    }

    #[test]
    fn json_is_the_bytes_a_map_wrote() {
        let everyone = Recipients {
            all: true,
            users: vec!["ignored".into()],
            ..Default::default()
        };
        let some = Recipients {
            users: vec!["zhangsan".into(), "lisi".into()],
            parties: vec!["2".into()],
            tags: vec!["7".into()],
            all: false,
        };
        let options = [
            SendOptions::default(),
            SendOptions {
                safe: true,
                id_trans: true,
                duplicate_check: Some(14400),
            },
        ];
        // Real types, and ones named like other fields (the later field wins, as in a Map).
        for msgtype in [
            "text",
            "markdown",
            "template_card",
            "safe",
            "touser",
            "agentid",
            "zzz",
        ] {
            for options in &options {
                for recipients in [&everyone, &some] {
                    let message = Message {
                        msgtype: msgtype.into(),
                        body: json!({"content": "Interview at 15:00 \u{1F600} \"quoted\"", "n": [1, 2.5]}),
                        recipients: recipients.clone(),
                        options: *options,
                    };
                    assert_eq!(
                        String::from_utf8(message.to_json(1000002, recipients)).unwrap(),
                        String::from_utf8(through_a_map(&message, 1000002, recipients)).unwrap(),
                        "{msgtype} {options:?} {recipients:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn json_has_wecom_field_names() {
        let message = Message {
            options: SendOptions {
                safe: true,
                id_trans: false,
                duplicate_check: Some(600),
            },
            ..text(Recipients {
                users: vec!["zhangsan".into(), "lisi".into()],
                parties: vec!["2".into()],
                ..Default::default()
            })
        };
        let json: Value =
            serde_json::from_slice(&message.to_json(1000002, &message.recipients)).unwrap();
        assert_eq!(
            json,
            json!({
                "touser": "zhangsan|lisi", "toparty": "2", "msgtype": "text", "agentid": 1000002,
                "text": {"content": "Interview at 15:00"}, "safe": 1, "enable_id_trans": 0,
                "enable_duplicate_check": 1, "duplicate_check_interval": 600
            })
        );
    }

    #[test]
    fn all_sends_to_at_all_only() {
        let message = text(Recipients {
            all: true,
            parties: vec!["1".into()],
            ..Default::default()
        });
        let chunks = message.recipients.chunks();
        assert_eq!(chunks.len(), 1);
        let json: Value = serde_json::from_slice(&message.to_json(1, &chunks[0])).unwrap();
        assert_eq!(json["touser"], "@all");
        assert!(json.get("toparty").is_none());
    }

    #[test]
    fn large_lists_split_at_wecom_limits() {
        let recipients = Recipients {
            users: ids("u", 2500),
            parties: ids("", 150),
            tags: ids("t", 10),
            all: false,
        };
        let chunks = recipients.chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].users.len(), 1000);
        assert_eq!(chunks[2].users.len(), 500);
        assert_eq!(chunks[0].parties.len(), 100);
        assert_eq!(chunks[1].parties.len(), 50);
        assert!(chunks[2].parties.is_empty());
        assert_eq!(chunks[0].tags.len(), 10);
        assert_eq!(chunks[2].users[499], "u2499");
        let total: usize = chunks.iter().map(|c| c.users.len()).sum();
        assert_eq!(total, 2500);
    }

    #[test]
    fn parties_alone_split_at_one_hundred() {
        let recipients = Recipients {
            parties: ids("", 201),
            ..Default::default()
        };
        let sizes: Vec<_> = recipients
            .chunks()
            .iter()
            .map(|c| c.parties.len())
            .collect();
        assert_eq!(sizes, [100, 100, 1]);
    }

    #[test]
    fn validate_names_the_problem() {
        let err = text(Recipients::default()).validate().unwrap_err();
        assert!(err.to_string().contains("no recipients"));
        let mut message = text(Recipients {
            all: true,
            ..Default::default()
        });
        message.options.duplicate_check = Some(20_000);
        assert!(message
            .validate()
            .unwrap_err()
            .to_string()
            .contains("14400"));
        message.options.duplicate_check = None;
        message.msgtype = "Text!".into();
        assert!(message
            .validate()
            .unwrap_err()
            .to_string()
            .contains("msgtype"));
    }
}
