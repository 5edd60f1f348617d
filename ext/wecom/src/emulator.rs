//! `WeCom::Native::Emulator`: the native half of `WeCom::Emulator` (lib/wecom/emulator.rb).
//! The server runs on its own threads, so it answers while Ruby holds the GVL.

use std::collections::HashSet;

use magnus::{function, method, prelude::*, Error, IntoValue, RArray, RHash, RModule, Ruby};
use serde_json::Value as Json;
use wecom_core::Error as CoreError;
use wecom_emulator::{
    Card, CardUpdate, Counts, DirectoryData, Emulator, EmulatorApp, EmulatorConfig, RobotMessage,
    Upload, Uploader,
};

use crate::convert;
use crate::errors::{self, guard};

#[magnus::wrap(class = "WeCom::Native::Emulator", free_immediately, size)]
struct NativeEmulator(Emulator);

type Directory = Option<Vec<String>>;

impl NativeEmulator {
    #[allow(clippy::too_many_arguments)]
    fn start(
        ruby: &Ruby,
        corp_id: String,
        apps: Vec<(String, i64)>,
        token_ttl: f64,
        users: Directory,
        parties: Directory,
        tags: Directory,
        robots: Directory,
        robot_limit_per_minute: u32,
        port: u16,
        tls: Option<(String, String)>,
        members: Option<String>,
        max_records: usize,
        contact_sync_secret: Option<String>,
    ) -> Result<Self, Error> {
        guard(ruby, || {
            let token_ttl = crate::convert::seconds(ruby, "token_ttl", token_ttl)?;
            // The members and departments arrive as JSON (lib/wecom/emulator.rb builds it), so
            // serde names a wrong or unknown field.
            let directory = match members {
                None => DirectoryData::default(),
                Some(json) => serde_json::from_str(&json).map_err(|e| {
                    let message = format!("directory: {e}");
                    magnus::Error::new(ruby.exception_arg_error(), message)
                })?,
            };
            directory
                .validate()
                .map_err(|e| magnus::Error::new(ruby.exception_arg_error(), e))?;
            let set = |ids: Directory| ids.map(|ids| ids.into_iter().collect::<HashSet<_>>());
            let config = EmulatorConfig {
                corp_id,
                apps: apps
                    .into_iter()
                    .map(|(secret, agent_id)| EmulatorApp { secret, agent_id })
                    .collect(),
                token_ttl,
                users: set(users),
                parties: set(parties),
                tags: set(tags),
                directory,
                robots: set(robots),
                robot_limit_per_minute,
                port,
                max_records,
                contact_sync_secret,
            };
            // A taken or forbidden port, or a corp without apps: a setting to change, so a
            // WeCom::ConfigurationError (a WeCom::Error) that says which.
            let started = match &tls {
                None => Emulator::start(config),
                Some((cert, key)) => Emulator::start_https(config, cert.as_ref(), key.as_ref()),
            };
            started.map(NativeEmulator).map_err(|e| {
                let place = match port {
                    0 => "127.0.0.1 (any free port)".to_owned(),
                    port => format!("127.0.0.1:{port}"),
                };
                errors::to_ruby(
                    ruby,
                    CoreError::Configuration(format!(
                        "the WeCom emulator could not start on {place}: {e}"
                    )),
                )
            })
        })
    }

    /// The member as JSON (as user/get shows it), or nil.
    fn member(&self, userid: String) -> Option<String> {
        self.0
            .members()
            .user(&userid)
            .map(|user| serde_json::to_string(user).expect("plain struct serializes"))
    }

    fn base_url(&self) -> String {
        self.0.base_url()
    }

    fn port(&self) -> u16 {
        self.0.port()
    }

    /// { requests:, messages:, ... } → how many were received since the start or `clear`.
    fn counts(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        counts_hash(ruby, rb_self.0.counts())
    }

    /// [counts, messages, uploads, robot messages, chat messages, card updates]: what arrived
    /// since the counts given (Emulator#received_since).
    fn received_since(
        ruby: &Ruby,
        rb_self: &Self,
        (messages, uploads, robot_messages, chat_messages, card_updates): (u64, u64, u64, u64, u64),
    ) -> Result<RArray, Error> {
        let seen = Counts {
            messages,
            uploads,
            robot_messages,
            chat_messages,
            card_updates,
            ..Counts::default()
        };
        let received = rb_self.0.received_since(&seen);
        let parts: [magnus::Value; 6] = [
            counts_hash(ruby, received.counts)?.as_value(),
            json_array(ruby, &received.messages)?.as_value(),
            upload_hashes(ruby, received.uploads)?.as_value(),
            robot_bodies(ruby, received.robot_messages)?.as_value(),
            json_array(ruby, &received.chat_messages)?.as_value(),
            update_hashes(ruby, received.card_updates)?.as_value(),
        ];
        Ok(ruby.ary_new_from_values(&parts))
    }

    fn sign_in_as(&self, userid: Option<String>) {
        self.0.sign_in_as(userid)
    }

    fn sign_in_outsider(&self, openid: String, external_userid: Option<String>) {
        self.0.sign_in_outsider(openid, external_userid)
    }

    fn sign_in_codes(&self) -> usize {
        self.0.sign_in_codes()
    }

    fn age_sign_in_codes(ruby: &Ruby, rb_self: &Self, seconds: f64) -> Result<(), Error> {
        let by = std::time::Duration::try_from_secs_f64(seconds).map_err(|_| {
            let message = format!("seconds must be a finite number, at least 0, got {seconds}");
            Error::new(ruby.exception_arg_error(), message)
        })?;
        rb_self.0.age_sign_in_codes(by);
        Ok(())
    }

    fn max_records(&self) -> usize {
        self.0.max_records()
    }

    fn messages(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        json_array(ruby, &rb_self.0.messages())
    }

    fn requests(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        ruby.ary_try_from_iter(rb_self.0.requests().into_iter().map(|request| {
            let hash = ruby.hash_new();
            hash.aset(ruby.to_symbol("method"), request.method)?;
            hash.aset(ruby.to_symbol("path"), request.path)?;
            let query = ruby.hash_new();
            for (key, value) in request.query {
                query.aset(key, value)?;
            }
            hash.aset(ruby.to_symbol("query"), query)?;
            hash.aset(ruby.to_symbol("body"), request.body)?;
            Ok(hash)
        }))
    }

    fn uploads(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        upload_hashes(ruby, rb_self.0.uploads())
    }

    /// Each body with its robot's key added under "key" (robot bodies have no such field).
    fn robot_messages(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        robot_bodies(ruby, rb_self.0.robot_messages())
    }

    fn chats(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        ruby.ary_try_from_iter(rb_self.0.chats().into_iter().map(|chat| {
            let hash = ruby.hash_new();
            hash.aset(ruby.to_symbol("chat_id"), chat.chat_id)?;
            hash.aset(ruby.to_symbol("name"), chat.name)?;
            hash.aset(ruby.to_symbol("owner"), chat.owner)?;
            hash.aset(ruby.to_symbol("users"), convert::strings(ruby, &chat.users))?;
            Ok(hash)
        }))
    }

    fn chat_messages(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        json_array(ruby, &rb_self.0.chat_messages())
    }

    fn cards(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        ruby.ary_try_from_iter(
            rb_self
                .0
                .cards()
                .into_iter()
                .map(|card| card_hash(ruby, card)),
        )
    }

    fn card_updates(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        update_hashes(ruby, rb_self.0.card_updates())
    }

    /// [agent_id, the event's fields as a Hash]; a click that cannot happen is an ArgumentError.
    fn click(
        ruby: &Ruby,
        rb_self: &Self,
        id: String,
        user: String,
        key: String,
        selected: Vec<(String, Vec<String>)>,
    ) -> Result<(i64, magnus::Value), Error> {
        let click = rb_self
            .0
            .click(&id, &user, &key, &selected)
            .map_err(|e| Error::new(ruby.exception_arg_error(), e.to_string()))?;
        Ok((click.agent_id, convert::to_ruby(ruby, &click.event)?))
    }

    fn age_response_codes(ruby: &Ruby, rb_self: &Self, seconds: f64) -> Result<(), Error> {
        // Any age (days, typically): not capped at a day as timeouts are.
        let by = std::time::Duration::try_from_secs_f64(seconds).map_err(|_| {
            Error::new(
                ruby.exception_arg_error(),
                format!("seconds must be a finite number of seconds, at least 0, got {seconds}"),
            )
        })?;
        rb_self.0.age_response_codes(by);
        Ok(())
    }

    fn recalled(&self) -> Vec<String> {
        self.0.recalled()
    }

    fn token_requests(&self) -> usize {
        self.0.token_requests()
    }

    fn directory_calls(&self) -> usize {
        self.0.directory_calls()
    }

    fn max_in_flight(&self) -> usize {
        self.0.max_in_flight()
    }

    fn expire_tokens(&self) {
        self.0.expire_tokens()
    }

    fn set_ticket_ttl(ruby: &Ruby, rb_self: &Self, seconds: f64) -> Result<(), Error> {
        let ttl = crate::convert::seconds(ruby, "ticket_ttl", seconds)?;
        rb_self.0.set_ticket_ttl(ttl);
        Ok(())
    }

    /// `[jsapi ticket fetches, agent ticket fetches]`.
    fn ticket_requests(&self) -> (usize, usize) {
        self.0.ticket_requests()
    }

    fn expire_tickets(&self) {
        self.0.expire_tickets()
    }

    /// The checks of the stand-in JS-SDK script, as Hashes with Symbol keys.
    fn js_sdk_checks(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        let list = ruby.ary_new();
        for check in rb_self.0.js_sdk_checks() {
            let hash = ruby.hash_new();
            hash.aset(ruby.to_symbol("api"), check.api)?;
            hash.aset(ruby.to_symbol("url"), check.url)?;
            hash.aset(ruby.to_symbol("ok"), check.ok)?;
            hash.aset(ruby.to_symbol("err_msg"), check.err_msg)?;
            list.push(hash)?;
        }
        Ok(list)
    }

    fn fail_next(&self, errcode: i64, times: u32, path: Option<String>, after: u32) {
        self.0.fail_after(after, errcode, times, path)
    }

    fn fail_next_http(&self, status: u16, times: u32, path: Option<String>) {
        self.0.fail_next_http(status, times, path)
    }

    fn drop_next(&self, times: u32, path: Option<String>) {
        self.0.drop_next(times, path)
    }

    fn delay_next(
        ruby: &Ruby,
        rb_self: &Self,
        seconds: f64,
        times: u32,
        path: Option<String>,
    ) -> Result<(), Error> {
        let delay = crate::convert::seconds(ruby, "delay", seconds)?;
        rb_self.0.delay_next(delay, times, path);
        Ok(())
    }

    fn set_latency(ruby: &Ruby, rb_self: &Self, seconds: f64) -> Result<(), Error> {
        rb_self
            .0
            .set_latency(crate::convert::seconds(ruby, "latency", seconds)?);
        Ok(())
    }

    fn clear(&self) {
        self.0.clear()
    }

    fn stop(&self) {
        self.0.stop()
    }
}

fn card_hash(ruby: &Ruby, card: Card) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    hash.aset(ruby.to_symbol("task_id"), card.task_id)?;
    hash.aset(ruby.to_symbol("msgid"), card.msgid)?;
    hash.aset(ruby.to_symbol("agent_id"), card.agent_id)?;
    hash.aset(ruby.to_symbol("card_type"), card.card_type)?;
    hash.aset(ruby.to_symbol("users"), convert::strings(ruby, &card.users))?;
    hash.aset(
        ruby.to_symbol("parties"),
        convert::strings(ruby, &card.parties),
    )?;
    hash.aset(ruby.to_symbol("tags"), convert::strings(ruby, &card.tags))?;
    hash.aset(ruby.to_symbol("all"), card.all)?;
    hash.aset(ruby.to_symbol("keys"), convert::strings(ruby, &card.keys))?;
    hash.aset(
        ruby.to_symbol("menu_keys"),
        convert::strings(ruby, &card.menu_keys),
    )?;
    let questions = ruby.ary_try_from_iter(card.questions.into_iter().map(|question| {
        let hash = ruby.hash_new();
        hash.aset(ruby.to_symbol("key"), question.key)?;
        hash.aset(
            ruby.to_symbol("options"),
            convert::strings(ruby, &question.options),
        )?;
        hash.aset(
            ruby.to_symbol("preselected"),
            convert::strings(ruby, &question.preselected),
        )?;
        Ok::<RHash, Error>(hash)
    }))?;
    hash.aset(ruby.to_symbol("questions"), questions)?;
    Ok(hash)
}

fn update_hash(ruby: &Ruby, update: CardUpdate) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    hash.aset(ruby.to_symbol("task_id"), update.task_id)?;
    hash.aset(ruby.to_symbol("agent_id"), update.agent_id)?;
    hash.aset(ruby.to_symbol("response_code"), update.response_code)?;
    hash.aset(
        ruby.to_symbol("users"),
        convert::strings(ruby, &update.users),
    )?;
    hash.aset(
        ruby.to_symbol("parties"),
        convert::strings(ruby, &update.parties),
    )?;
    hash.aset(ruby.to_symbol("tags"), convert::strings(ruby, &update.tags))?;
    hash.aset(ruby.to_symbol("all"), update.all)?;
    hash.aset(
        ruby.to_symbol("body"),
        convert::to_ruby(ruby, &update.body)?,
    )?;
    Ok(hash)
}

/// JSON bodies as a Ruby Array of Hashes.
fn json_array(ruby: &Ruby, bodies: &[Json]) -> Result<RArray, Error> {
    ruby.ary_try_from_iter(bodies.iter().map(|body| convert::to_ruby(ruby, body)))
}

pub fn define(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Emulator", ruby.class_object())?;
    class.define_singleton_method("start", function!(NativeEmulator::start, 13))?;
    class.const_set("LOOKUP_MISS_LIMIT", wecom_emulator::LOOKUP_MISS_LIMIT)?;
    class.const_set("DEFAULT_MAX_RECORDS", wecom_emulator::DEFAULT_MAX_RECORDS)?;
    class.define_method("counts", method!(NativeEmulator::counts, 0))?;
    class.define_method("received_since", method!(NativeEmulator::received_since, 1))?;
    class.define_method("sign_in_as", method!(NativeEmulator::sign_in_as, 1))?;
    class.define_method(
        "sign_in_outsider",
        method!(NativeEmulator::sign_in_outsider, 2),
    )?;
    class.define_method("sign_in_codes", method!(NativeEmulator::sign_in_codes, 0))?;
    class.define_method(
        "age_sign_in_codes",
        method!(NativeEmulator::age_sign_in_codes, 1),
    )?;
    class.const_set(
        "SIGN_IN_CODE_TTL",
        wecom_emulator::SIGN_IN_CODE_TTL.as_secs(),
    )?;
    class.define_method("max_records", method!(NativeEmulator::max_records, 0))?;
    class.define_method("base_url", method!(NativeEmulator::base_url, 0))?;
    class.define_method("member", method!(NativeEmulator::member, 1))?;
    class.define_method("port", method!(NativeEmulator::port, 0))?;
    class.define_method("messages", method!(NativeEmulator::messages, 0))?;
    class.define_method("requests", method!(NativeEmulator::requests, 0))?;
    class.define_method("uploads", method!(NativeEmulator::uploads, 0))?;
    class.define_method("robot_messages", method!(NativeEmulator::robot_messages, 0))?;
    class.define_method("chats", method!(NativeEmulator::chats, 0))?;
    class.define_method("chat_messages", method!(NativeEmulator::chat_messages, 0))?;
    class.define_method("cards", method!(NativeEmulator::cards, 0))?;
    class.define_method("card_updates", method!(NativeEmulator::card_updates, 0))?;
    class.define_method("click", method!(NativeEmulator::click, 4))?;
    class.define_method(
        "age_response_codes",
        method!(NativeEmulator::age_response_codes, 1),
    )?;
    class.define_method("recalled", method!(NativeEmulator::recalled, 0))?;
    class.define_method("token_requests", method!(NativeEmulator::token_requests, 0))?;
    class.define_method("max_in_flight", method!(NativeEmulator::max_in_flight, 0))?;
    class.define_method(
        "directory_calls",
        method!(NativeEmulator::directory_calls, 0),
    )?;
    class.define_method("expire_tokens", method!(NativeEmulator::expire_tokens, 0))?;
    class.define_method("fail_next", method!(NativeEmulator::fail_next, 4))?;
    class.define_method("fail_next_http", method!(NativeEmulator::fail_next_http, 3))?;
    class.define_method("drop_next", method!(NativeEmulator::drop_next, 2))?;
    class.define_method("delay_next", method!(NativeEmulator::delay_next, 3))?;
    class.define_method("latency=", method!(NativeEmulator::set_latency, 1))?;
    class.define_method("clear", method!(NativeEmulator::clear, 0))?;
    class.define_method("ticket_ttl=", method!(NativeEmulator::set_ticket_ttl, 1))?;
    class.define_method(
        "ticket_requests",
        method!(NativeEmulator::ticket_requests, 0),
    )?;
    class.define_method("expire_tickets", method!(NativeEmulator::expire_tickets, 0))?;
    class.define_method("js_sdk_checks", method!(NativeEmulator::js_sdk_checks, 0))?;
    class.define_method("stop", method!(NativeEmulator::stop, 0))?;
    Ok(())
}

/// Upload records as Hashes with Symbol keys.
fn upload_hashes(ruby: &Ruby, uploads: Vec<Upload>) -> Result<RArray, Error> {
    ruby.ary_try_from_iter(uploads.into_iter().map(|upload| {
        let hash = ruby.hash_new();
        hash.aset(ruby.to_symbol("media_id"), upload.media_id)?;
        hash.aset(ruby.to_symbol("type"), upload.kind.as_str())?;
        hash.aset(ruby.to_symbol("filename"), upload.filename)?;
        hash.aset(ruby.to_symbol("content_type"), upload.content_type)?;
        hash.aset(ruby.to_symbol("size"), upload.size)?;
        hash.aset(ruby.to_symbol("md5"), upload.md5)?;
        // An app's agent id (Integer) or a robot's key (String).
        let uploader = match upload.uploader {
            Uploader::App { agent_id } => agent_id.into_value_with(ruby),
            Uploader::Robot { key } => key.into_value_with(ruby),
        };
        hash.aset(ruby.to_symbol("uploader"), uploader)?;
        Ok(hash)
    }))
}

/// Robot message bodies, each with its robot's key added under "key" (robot bodies have no
/// such field).
fn robot_bodies(ruby: &Ruby, messages: Vec<RobotMessage>) -> Result<RArray, Error> {
    ruby.ary_try_from_iter(messages.into_iter().map(|message| {
        let mut body = message.body;
        if let Some(fields) = body.as_object_mut() {
            fields.insert("key".to_owned(), message.key.into());
        }
        convert::to_ruby(ruby, &body)
    }))
}

fn update_hashes(ruby: &Ruby, updates: Vec<CardUpdate>) -> Result<RArray, Error> {
    ruby.ary_try_from_iter(updates.into_iter().map(|update| update_hash(ruby, update)))
}

fn counts_hash(ruby: &Ruby, counts: Counts) -> Result<RHash, Error> {
    let hash = ruby.hash_new();
    for (name, count) in [
        ("requests", counts.requests),
        ("messages", counts.messages),
        ("uploads", counts.uploads),
        ("robot_messages", counts.robot_messages),
        ("chat_messages", counts.chat_messages),
        ("card_updates", counts.card_updates),
        ("recalled", counts.recalled),
    ] {
        hash.aset(ruby.to_symbol(name), count)?;
    }
    Ok(hash)
}
