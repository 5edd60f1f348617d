//! App group chats: `appchat/create`, `update`, `get` and `send`.

mod common;

use common::*;
use serde_json::{json, Value};
use wecom_emulator::{Chat, EmulatorConfig};

// ---------------------------------------------------------------- app group chats

#[tokio::test]
async fn emulator_appchat_create_get_update_send() {
    let h = Harness::default();
    let token = h.token().await;
    let created = h
        .chat_call(
            CHAT_CREATE,
            &token,
            &json!({"name": "Ops", "owner": "u2", "userlist": ["u1", "u2", "u1"], "chatid": "ops1"}),
        )
        .await;
    assert_eq!(created.errcode(), 0, "{}", created.text);
    assert_eq!(created.json()["chatid"], "ops1");

    let got = h
        .get(&format!("{CHAT_GET}?access_token={token}&chatid=ops1"))
        .await;
    assert_eq!(got.errcode(), 0);
    assert_eq!(
        got.json()["chat_info"],
        json!({"chatid": "ops1", "name": "Ops", "owner": "u2", "userlist": ["u1", "u2"]})
    );

    let updated = h
        .chat_call(
            CHAT_UPDATE,
            &token,
            &json!({"chatid": "ops1", "name": "Ops 2", "owner": "u3",
                    "add_user_list": ["u3", "u1"], "del_user_list": ["u2", "nobody"]}),
        )
        .await;
    assert_eq!(updated.errcode(), 0, "{}", updated.text);
    assert_eq!(
        h.emu.chats(),
        vec![Chat {
            chat_id: "ops1".into(),
            name: "Ops 2".into(),
            owner: "u3".into(),
            users: vec!["u1".into(), "u3".into()],
        }]
    );
    // Fields left out stay as they are.
    let renamed_only = json!({"chatid": "ops1", "name": ""});
    assert_eq!(
        h.chat_call(CHAT_UPDATE, &token, &renamed_only)
            .await
            .errcode(),
        0
    );
    assert_eq!(h.emu.chats()[0].name, "Ops 2");

    let text = json!({"chatid": "ops1", "msgtype": "text", "text": {"content": "hi"}, "safe": 0});
    let sent = h.chat_call(CHAT_SEND, &token, &text).await;
    assert_eq!(sent.errcode(), 0, "{}", sent.text);
    assert_eq!(sent.json()["errmsg"], "ok");
    assert_eq!(h.emu.chat_messages(), vec![text]);
    // Chat messages are not app messages.
    assert!(h.emu.messages().is_empty());
}

#[tokio::test]
async fn emulator_appchat_generates_a_chatid_and_an_owner() {
    let h = Harness::default();
    let token = h.token().await;
    let long_name = "群".repeat(60);
    let created = h
        .chat_call(
            CHAT_CREATE,
            &token,
            &json!({"name": long_name, "userlist": ["u1", "u2"]}),
        )
        .await;
    assert_eq!(created.errcode(), 0, "{}", created.text);
    let chat_id = created.json()["chatid"].as_str().unwrap().to_owned();
    assert_eq!(chat_id.len(), 32);
    assert!(
        chat_id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{chat_id}"
    );
    let chat = &h.emu.chats()[0];
    assert_eq!(chat.chat_id, chat_id);
    assert_eq!(chat.owner, "u1", "the first member owns it");
    assert_eq!(
        chat.name,
        "群".repeat(50),
        "the name is cut to 50 characters"
    );

    let again = h
        .chat_call(
            CHAT_CREATE,
            &token,
            &json!({"userlist": ["u1", "u2"], "chatid": ""}),
        )
        .await;
    assert_eq!(again.errcode(), 0);
    assert_ne!(again.json()["chatid"], chat_id.as_str());
    assert_eq!(h.emu.chats()[1].name, "");
}

#[tokio::test]
async fn emulator_appchat_create_errors() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["u1", "u2", "u3"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    let ok = json!({"chatid": "taken", "userlist": ["u1", "u2"]});
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &ok).await.errcode(), 0);
    let too_many: Vec<String> = (0..2001).map(|i| format!("u{i}")).collect();
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "chatid taken",
            json!({"chatid": "taken", "userlist": ["u1", "u3"]}),
            86215,
        ),
        (
            "chatid with a dash",
            json!({"chatid": "a-b", "userlist": ["u1", "u2"]}),
            86001,
        ),
        (
            "chatid not a string",
            json!({"chatid": 7, "userlist": ["u1", "u2"]}),
            86001,
        ),
        (
            "chatid of 33 characters",
            json!({"chatid": "a".repeat(33), "userlist": ["u1", "u2"]}),
            86205,
        ),
        (
            "name not a string",
            json!({"name": 1, "userlist": ["u1", "u2"]}),
            86004,
        ),
        ("no userlist", json!({"name": "n"}), 86204),
        ("userlist not a list", json!({"userlist": "u1|u2"}), 86007),
        (
            "userlist with an empty id",
            json!({"userlist": ["u1", ""]}),
            86007,
        ),
        ("one member", json!({"userlist": ["u1"]}), 86006),
        ("one member twice", json!({"userlist": ["u1", "u1"]}), 86006),
        ("2001 members", json!({ "userlist": too_many }), 86006),
        (
            "member outside the directory",
            json!({"userlist": ["u1", "ghost"]}),
            86216,
        ),
        (
            "owner not a member",
            json!({"owner": "u3", "userlist": ["u1", "u2"]}),
            86207,
        ),
        (
            "owner not a string",
            json!({"owner": 3, "userlist": ["u1", "u2"]}),
            86005,
        ),
    ];
    for (case, body, code) in cases {
        assert_eq!(
            h.chat_call(CHAT_CREATE, &token, &body).await.errcode(),
            code,
            "{case}"
        );
    }
    let url = format!("{CHAT_CREATE}?access_token={token}");
    assert_eq!(h.post(&url, " ").await.errcode(), 44002);
    assert_eq!(h.post(&url, "[]").await.errcode(), 47001);
    assert_eq!(h.emu.chats().len(), 1);

    // 2000 members is allowed (with no directory).
    let open = Harness::default();
    let token = open.token().await;
    let members: Vec<String> = (0..2000).map(|i| format!("u{i}")).collect();
    let body = json!({ "userlist": members });
    assert_eq!(
        open.chat_call(CHAT_CREATE, &token, &body).await.errcode(),
        0
    );
    assert_eq!(open.emu.chats()[0].users.len(), 2000);
}

#[tokio::test]
async fn emulator_appchat_update_errors_change_nothing() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["u1", "u2", "u3"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    let create = json!({"chatid": "c1", "name": "n", "owner": "u1", "userlist": ["u1", "u2"]});
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &create).await.errcode(), 0);
    let before = h.emu.chats();
    let cases: Vec<(&str, Value, i64)> = vec![
        ("no chatid", json!({"name": "x"}), 86201),
        (
            "unknown chatid",
            json!({"chatid": "nope", "name": "x"}),
            86003,
        ),
        (
            "removing down to one member",
            json!({"chatid": "c1", "name": "x", "del_user_list": ["u2"]}),
            86006,
        ),
        (
            "removing the owner without a new one",
            json!({"chatid": "c1", "add_user_list": ["u3"], "del_user_list": ["u1"]}),
            86207,
        ),
        (
            "an owner who is not a member",
            json!({"chatid": "c1", "owner": "u3"}),
            86207,
        ),
        (
            "adding someone outside the directory",
            json!({"chatid": "c1", "name": "x", "add_user_list": ["ghost"]}),
            86216,
        ),
        (
            "add_user_list not a list",
            json!({"chatid": "c1", "add_user_list": "u3"}),
            86007,
        ),
        (
            "name not a string",
            json!({"chatid": "c1", "name": ["x"]}),
            86004,
        ),
    ];
    for (case, body, code) in cases {
        assert_eq!(
            h.chat_call(CHAT_UPDATE, &token, &body).await.errcode(),
            code,
            "{case}"
        );
    }
    assert_eq!(h.emu.chats(), before);

    // Handing over and leaving in one update works.
    let handover =
        json!({"chatid": "c1", "owner": "u2", "del_user_list": ["u1"], "add_user_list": ["u3"]});
    assert_eq!(
        h.chat_call(CHAT_UPDATE, &token, &handover).await.errcode(),
        0
    );
    let chat = &h.emu.chats()[0];
    assert_eq!(
        (chat.owner.as_str(), chat.users.clone()),
        ("u2", vec!["u2".to_owned(), "u3".to_owned()])
    );
}

#[tokio::test]
async fn emulator_appchat_get_and_send_errors() {
    let h = Harness::default();
    let token = h.token().await;
    let create = json!({"chatid": "c1", "userlist": ["u1", "u2"]});
    assert_eq!(h.chat_call(CHAT_CREATE, &token, &create).await.errcode(), 0);

    assert_eq!(
        h.get(&format!("{CHAT_GET}?access_token={token}"))
            .await
            .errcode(),
        86201
    );
    assert_eq!(
        h.get(&format!("{CHAT_GET}?access_token={token}&chatid=nope"))
            .await
            .errcode(),
        86003
    );
    let wrong_method = h
        .post(&format!("{CHAT_GET}?access_token={token}&chatid=c1"), "{}")
        .await;
    assert_eq!(wrong_method.status, 405);

    let to_c1 =
        |msgtype: &str, body: Value| json!({"chatid": "c1", "msgtype": msgtype, msgtype: body});
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "no chatid",
            json!({"msgtype": "text", "text": {"content": "x"}}),
            86201,
        ),
        (
            "unknown chat",
            json!({"chatid": "nope", "msgtype": "text", "text": {"content": "x"}}),
            86003,
        ),
        (
            "template_card",
            to_c1("template_card", json!({"card_type": "text_notice"})),
            40008,
        ),
        (
            "miniprogram_notice",
            to_c1("miniprogram_notice", json!({"appid": "a", "title": "t"})),
            40008,
        ),
        (
            "no msgtype",
            json!({"chatid": "c1", "text": {"content": "x"}}),
            40008,
        ),
        ("empty text", to_c1("text", json!({"content": ""})), 44004),
        (
            "text over 2048 bytes",
            to_c1("text", json!({"content": "x".repeat(2049)})),
            45002,
        ),
        ("image without media_id", to_c1("image", json!({})), 40007),
        (
            "textcard without url",
            to_c1("textcard", json!({"title": "t", "description": "d"})),
            40058,
        ),
        (
            "news without articles",
            to_c1("news", json!({"articles": []})),
            40058,
        ),
    ];
    for (case, body, code) in cases {
        assert_eq!(
            h.chat_call(CHAT_SEND, &token, &body).await.errcode(),
            code,
            "{case}"
        );
    }
    assert!(h.emu.chat_messages().is_empty());

    let accepted = [
        to_c1("text", json!({"content": "x"})),
        to_c1("image", json!({"media_id": "made-up"})),
        to_c1("voice", json!({"media_id": "m"})),
        to_c1("video", json!({"media_id": "m", "title": "t"})),
        to_c1("file", json!({"media_id": "m"})),
        to_c1(
            "textcard",
            json!({"title": "t", "description": "d", "url": "https://e.com"}),
        ),
        to_c1(
            "news",
            json!({"articles": [{"title": "t", "url": "https://e.com"}]}),
        ),
        to_c1(
            "mpnews",
            json!({"articles": [{"title": "t", "thumb_media_id": "m", "content": "c"}]}),
        ),
        to_c1("markdown", json!({"content": "**x**"})),
    ];
    for body in &accepted {
        let answer = h.chat_call(CHAT_SEND, &token, body).await;
        assert_eq!(answer.errcode(), 0, "{body}: {}", answer.text);
    }
    assert_eq!(h.emu.chat_messages(), accepted.to_vec());
}

#[tokio::test]
async fn emulator_appchat_checks_the_token_and_chats_are_shared_by_the_corp() {
    let h = Harness::new(two_apps(1, 2));
    let create = json!({"chatid": "c1", "userlist": ["u1", "u2"]});
    for path in [CHAT_CREATE, CHAT_UPDATE, CHAT_SEND] {
        assert_eq!(
            h.post(path, create.to_string()).await.errcode(),
            41001,
            "{path}"
        );
        assert_eq!(
            h.chat_call(path, "nope", &create).await.errcode(),
            40014,
            "{path}"
        );
    }
    assert_eq!(
        h.get(&format!("{CHAT_GET}?chatid=c1")).await.errcode(),
        41001
    );
    assert!(h.emu.chats().is_empty());

    let t1 = h.token_for("s1").await;
    let t2 = h.token_for("s2").await;
    assert_eq!(h.chat_call(CHAT_CREATE, &t1, &create).await.errcode(), 0);
    assert_eq!(
        h.chat_call(CHAT_CREATE, &t2, &create).await.errcode(),
        86215
    );
    let text = json!({"chatid": "c1", "msgtype": "text", "text": {"content": "x"}});
    assert_eq!(h.chat_call(CHAT_SEND, &t2, &text).await.errcode(), 0);
    assert_eq!(
        h.get(&format!("{CHAT_GET}?access_token={t2}&chatid=c1"))
            .await
            .errcode(),
        0
    );
}
