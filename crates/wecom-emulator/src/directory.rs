//! The corp's members and departments (the contacts directory), and `GET /cgi-bin/user/get`.
//!
//! Other emulator modules (sign-in, the directory lookups) read members through
//! [`Members::user`]. The directory is fixed at start; without one, [`DirectoryData::default`]
//! gives a small corp (department 1 with zhangsan, lisi and wangwu).
//!
//! `user/get`: the access token first; a missing `userid` → 41009, one not in the directory →
//! 60111 (WeCom's "userid not found"). The answer carries every field the member has (real
//! WeCom withholds mobile, email, avatar and gender from apps created since 2022-06-20; the
//! emulator plays an older app, so tests can see them).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::reply::Reply;
use super::server::Call;
use super::state::Shared;
use super::token::{authenticate, authenticated_body, param};

/// A department of the corp. The root department has `parentid` 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub parentid: u64,
    #[serde(default)]
    pub order: u64,
}

/// A member of the corp as `user/get` shows it; absent optional fields are left out of answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub userid: String,
    pub name: String,
    /// Department ids; a member is in at least one (department 1 when none is given).
    #[serde(default = "root_department")]
    pub department: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// "0" unknown, "1" male, "2" female, as WeCom sends it (a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

fn root_department() -> Vec<u64> {
    vec![1]
}

/// What the directory holds at start: `{ "departments": [...], "users": [...] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryData {
    #[serde(default)]
    pub departments: Vec<Department>,
    #[serde(default)]
    pub users: Vec<User>,
}

impl Default for DirectoryData {
    fn default() -> Self {
        let user = |userid: &str, name: &str, email: &str, mobile: &str, gender: &str| User {
            userid: userid.to_owned(),
            name: name.to_owned(),
            department: vec![1],
            email: Some(format!("{email}@example.com")),
            biz_mail: Some(format!("{email}@corp.example.com")),
            mobile: Some(mobile.to_owned()),
            avatar: Some(format!("https://wework.qpic.cn/avatar/{userid}/0")),
            gender: Some(gender.to_owned()),
            position: Some("Engineer".to_owned()),
        };
        DirectoryData {
            departments: vec![Department {
                id: 1,
                name: "Corp".to_owned(),
                parentid: 0,
                order: 1,
            }],
            users: vec![
                user("zhangsan", "张三", "zhangsan", "13800000001", "1"),
                user("lisi", "李四", "lisi", "13800000002", "2"),
                user("wangwu", "王五", "wangwu", "13800000003", "1"),
            ],
        }
    }
}

impl DirectoryData {
    /// Refuses what WeCom could not hold: duplicate or empty ids, members of unknown
    /// departments, a parent that does not exist.
    pub fn validate(&self) -> Result<(), String> {
        let mut departments = HashMap::new();
        for department in &self.departments {
            if department.id == 0 {
                return Err("directory: department id must be at least 1".to_owned());
            }
            if departments.insert(department.id, department).is_some() {
                return Err(format!(
                    "directory: department {} appears twice",
                    department.id
                ));
            }
        }
        for department in &self.departments {
            if department.parentid != 0 && !departments.contains_key(&department.parentid) {
                return Err(format!(
                    "directory: department {} has parentid {}, which is no department",
                    department.id, department.parentid
                ));
            }
        }
        let mut userids = HashMap::new();
        for user in &self.users {
            if user.userid.is_empty() {
                return Err("directory: a user has an empty userid".to_owned());
            }
            if userids.insert(user.userid.as_str(), ()).is_some() {
                return Err(format!("directory: userid {:?} appears twice", user.userid));
            }
            if let Some(id) = user
                .department
                .iter()
                .find(|id| !departments.contains_key(id))
            {
                return Err(format!(
                    "directory: user {:?} is in department {id}, which is no department",
                    user.userid
                ));
            }
        }
        Ok(())
    }
}

/// The directory as the handlers read it.
#[derive(Debug)]
pub struct Members {
    data: DirectoryData,
    by_userid: HashMap<String, usize>,
}

impl Members {
    pub(crate) fn new(data: DirectoryData) -> Members {
        let by_userid = data
            .users
            .iter()
            .enumerate()
            .map(|(i, user)| (user.userid.clone(), i))
            .collect();
        Members { data, by_userid }
    }

    /// The member with this userid (exact, case-sensitive as WeCom's).
    pub fn user(&self, userid: &str) -> Option<&User> {
        self.by_userid.get(userid).map(|&i| &self.data.users[i])
    }

    /// Every member, in the order given.
    pub fn users(&self) -> &[User] {
        &self.data.users
    }

    /// Every department, in the order given.
    pub fn departments(&self) -> &[Department] {
        &self.data.departments
    }
}

/// `GET /cgi-bin/user/get?access_token=T&userid=U`.
pub(crate) fn user_get(shared: &Shared, call: &Call) -> Reply {
    if let Err(reply) = authenticate(shared, call.query, call.ip) {
        return reply;
    }
    let Some(userid) = param(call.query, "userid") else {
        return Reply::error(41009, call.ip);
    };
    let Some(user) = shared.members.user(userid) else {
        return Reply::error(60111, call.ip);
    };
    #[derive(Serialize)]
    struct Answer<'a> {
        errcode: i64,
        errmsg: &'a str,
        #[serde(flatten)]
        user: &'a User,
        main_department: u64,
        status: u8,
    }
    let answer = Answer {
        errcode: 0,
        errmsg: "ok",
        user,
        main_department: user.department.first().copied().unwrap_or(1),
        status: 1,
    };
    Reply::json(serde_json::to_vec(&answer).expect("plain struct serializes"))
}

/// `GET /cgi-bin/department/list?id=`: the department `id` and every department below it
/// (without `id`, all), with names; an unknown or malformed id → 60123.
pub(crate) fn department_list(shared: &Shared, call: &Call) -> Reply {
    departments_answer(shared, call, "department", true)
}

/// `GET /cgi-bin/department/simplelist?id=`: as `department/list`, ids, parents and order only.
pub(crate) fn department_simplelist(shared: &Shared, call: &Call) -> Reply {
    departments_answer(shared, call, "department_id", false)
}

fn departments_answer(shared: &Shared, call: &Call, key: &str, names: bool) -> Reply {
    if let Err(reply) = authenticate(shared, call.query, call.ip) {
        return reply;
    }
    let all = shared.members.departments();
    let picked: Vec<&Department> = match param(call.query, "id") {
        None => all.iter().collect(),
        Some(id) => {
            let Some(root) = known_department(all, id) else {
                return Reply::error(60123, call.ip);
            };
            subtree(all, root)
                .iter()
                .filter_map(|id| all.iter().find(|d| d.id == *id))
                .collect()
        }
    };
    let list: Vec<serde_json::Value> = picked
        .into_iter()
        .map(|d| {
            if names {
                serde_json::json!({"id": d.id, "name": d.name, "parentid": d.parentid, "order": d.order})
            } else {
                serde_json::json!({"id": d.id, "parentid": d.parentid, "order": d.order})
            }
        })
        .collect();
    let mut answer = serde_json::json!({"errcode": 0, "errmsg": "ok"});
    answer[key] = serde_json::Value::Array(list);
    Reply::json(answer.to_string())
}

/// The id of a department of `all` written as `id`, if there is one.
fn known_department(all: &[Department], id: &str) -> Option<u64> {
    id.parse::<u64>()
        .ok()
        .filter(|id| all.iter().any(|d| d.id == *id))
}

/// `root` and every department below it, breadth first (parents before children); skipping ids
/// already picked keeps a cycle of parents from looping.
fn subtree(all: &[Department], root: u64) -> Vec<u64> {
    let mut picked = vec![root];
    let mut i = 0;
    while i < picked.len() {
        let parent = picked[i];
        for d in all
            .iter()
            .filter(|d| d.parentid == parent && d.id != parent)
        {
            if !picked.contains(&d.id) {
                picked.push(d.id);
            }
        }
        i += 1;
    }
    picked
}

/// `GET /cgi-bin/user/simplelist?department_id=ID&fetch_child=0|1`: the members of department
/// ID (with `fetch_child=1`, of the departments below it too) as userid, name and department
/// ids, in the directory's order; an unknown or malformed id → 60123.
pub(crate) fn user_simplelist(shared: &Shared, call: &Call) -> Reply {
    if let Err(reply) = authenticate(shared, call.query, call.ip) {
        return reply;
    }
    let all = shared.members.departments();
    let Some(root) = param(call.query, "department_id").and_then(|id| known_department(all, id))
    else {
        return Reply::error(60123, call.ip);
    };
    let wanted = if param(call.query, "fetch_child") == Some("1") {
        subtree(all, root)
    } else {
        vec![root]
    };
    let list: Vec<serde_json::Value> = shared
        .members
        .users()
        .iter()
        .filter(|u| u.department.iter().any(|d| wanted.contains(d)))
        .map(
            |u| serde_json::json!({"userid": u.userid, "name": u.name, "department": u.department}),
        )
        .collect();
    Reply::json(serde_json::json!({"errcode": 0, "errmsg": "ok", "userlist": list}).to_string())
}

/// The most `dept_user` entries one `user/list_id` page holds (WeCom's limit).
const LIST_ID_MAX_LIMIT: u64 = 10_000;

/// `POST /cgi-bin/user/list_id` `{"cursor", "limit"}`: a page of `{userid, department}` entries
/// (one per member and department) and the `next_cursor` of the rest ("" after the last page).
/// Only the contact-sync secret's token may call it: an app's gets 48002. `limit` is 1 to
/// 10000 (default 1000); a bad limit or a cursor this emulator did not give → 40058.
pub(crate) fn user_list_id(shared: &Shared, call: &Call) -> Reply {
    let (app, body) = match authenticated_body(shared, call) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    if shared.contact_sync_app != Some(app) {
        return Reply::error(48002, call.ip);
    }
    let limit = match body.get("limit") {
        None => 1000,
        Some(limit) => match limit.as_u64() {
            Some(limit @ 1..=LIST_ID_MAX_LIMIT) => limit as usize,
            _ => return Reply::error_with(40058, "limit must be 1 to 10000", call.ip),
        },
    };
    let start: usize = match body.get("cursor").and_then(serde_json::Value::as_str) {
        None | Some("") => 0,
        Some(cursor) => match cursor.strip_prefix("c").and_then(|n| n.parse().ok()) {
            Some(start) => start,
            None => return Reply::error_with(40058, "invalid cursor", call.ip),
        },
    };
    let entries: Vec<(&str, u64)> = shared
        .members
        .users()
        .iter()
        .flat_map(|u| u.department.iter().map(|&d| (u.userid.as_str(), d)))
        .collect();
    let end = entries.len().min(start.saturating_add(limit));
    let page: Vec<serde_json::Value> = entries
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|(userid, department)| serde_json::json!({"userid": userid, "department": department}))
        .collect();
    let next_cursor = if end < entries.len() {
        format!("c{end}")
    } else {
        String::new()
    };
    Reply::json(
        serde_json::json!({"errcode": 0, "errmsg": "ok", "next_cursor": next_cursor, "dept_user": page})
            .to_string(),
    )
}

/// Lookups by email or mobile that may find nobody before every further lookup is refused (until
/// `clear`): WeCom blocks a corp's lookups for a day once misses pass a share of its member cap.
pub const LOOKUP_MISS_LIMIT: usize = 20;

const LOOKUPS_BLOCKED: &str =
    "api freq out of limit: too many lookups of unknown emails or mobiles, blocked for a day";

/// `POST /cgi-bin/user/getuserid` `{"mobile"}`: the member with exactly that mobile, else 46004.
/// A missing or non-string mobile → 40058 (WeCom's "invalid parameter").
pub(crate) fn userid_by_mobile(shared: &Shared, call: &Call) -> Reply {
    lookup(shared, call, "mobile", |user, mobile| {
        user.mobile.as_deref() == Some(mobile)
    })
}

/// `POST /cgi-bin/user/get_userid_by_email` `{"email","email_type"}`: type 1 (the default)
/// matches `biz_mail`, the corporate mailbox; 2 matches `email`, the personal one; any other
/// type → 40058. Emails compare case-insensitively, as mail addresses do. A miss → 46004.
pub(crate) fn userid_by_email(shared: &Shared, call: &Call) -> Reply {
    let (_, body) = match authenticated_body(shared, call) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let personal = match body.get("email_type") {
        None | Some(serde_json::Value::Null) => false,
        Some(t) if t.as_i64() == Some(1) => false,
        Some(t) if t.as_i64() == Some(2) => true,
        Some(_) => return Reply::error_with(40058, "email_type must be 1 or 2", call.ip),
    };
    answer_lookup(shared, call, &body, "email", |user, email| {
        let held = if personal {
            &user.email
        } else {
            &user.biz_mail
        };
        held.as_deref()
            .is_some_and(|held| held.eq_ignore_ascii_case(email))
    })
}

fn lookup(shared: &Shared, call: &Call, field: &str, matches: fn(&User, &str) -> bool) -> Reply {
    match authenticated_body(shared, call) {
        Ok((_, body)) => answer_lookup(shared, call, &body, field, matches),
        Err(reply) => reply,
    }
}

fn answer_lookup(
    shared: &Shared,
    call: &Call,
    body: &serde_json::Value,
    field: &str,
    matches: impl Fn(&User, &str) -> bool,
) -> Reply {
    let Some(wanted) = body
        .get(field)
        .and_then(serde_json::Value::as_str)
        .filter(|v| !v.is_empty())
    else {
        return Reply::error_with(40058, &format!("{field} missing"), call.ip);
    };
    if shared.lookup_misses() >= LOOKUP_MISS_LIMIT {
        return Reply::error_with(45009, LOOKUPS_BLOCKED, call.ip);
    }
    let Some(user) = shared.members.users().iter().find(|u| matches(u, wanted)) else {
        shared.count_lookup_miss();
        return Reply::error(46004, call.ip);
    };
    #[derive(Serialize)]
    struct Found<'a> {
        errcode: i64,
        errmsg: &'a str,
        userid: &'a str,
    }
    Reply::json(
        serde_json::to_vec(&Found {
            errcode: 0,
            errmsg: "ok",
            userid: &user.userid,
        })
        .expect("plain struct serializes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_default_directory_is_valid_and_has_zhangsan_and_lisi() {
        let data = DirectoryData::default();
        data.validate().unwrap();
        let members = Members::new(data);
        assert_eq!(members.user("zhangsan").unwrap().department, vec![1]);
        assert_eq!(members.user("lisi").unwrap().name, "李四");
        assert!(members.user("ZhangSan").is_none());
    }

    #[test]
    fn emulator_directory_refuses_unknown_departments_and_duplicates() {
        let parsed: DirectoryData = serde_json::from_str(
            r#"{"departments":[{"id":1,"name":"A"}],"users":[{"userid":"u","name":"U","department":[2]}]}"#,
        )
        .unwrap();
        assert!(parsed.validate().unwrap_err().contains("department 2"));
        let twice: DirectoryData = serde_json::from_str(
            r#"{"departments":[{"id":1,"name":"A"}],"users":[{"userid":"u","name":"U"},{"userid":"u","name":"V"}]}"#,
        )
        .unwrap();
        assert!(twice.validate().unwrap_err().contains("twice"));
        let orphan: DirectoryData =
            serde_json::from_str(r#"{"departments":[{"id":2,"name":"B","parentid":9}]}"#).unwrap();
        assert!(orphan.validate().unwrap_err().contains("parentid 9"));
        assert!(serde_json::from_str::<DirectoryData>(r#"{"users":[{"userid":"u"}]}"#).is_err());
        assert!(serde_json::from_str::<DirectoryData>(r#"{"people":[]}"#).is_err());
    }
}
