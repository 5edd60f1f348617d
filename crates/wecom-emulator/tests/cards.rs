//! Interactive template cards: what `message/send` remembers of them, a member's click, and
//! `message/update_template_card` (its checks, single-use and expiring response codes).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use wecom_emulator::{ClickError, EmulatorConfig, RESPONSE_CODE_TTL};

const UPDATE: &str = "/cgi-bin/message/update_template_card";

fn button_card(task_id: &str) -> Value {
    json!({
        "card_type": "button_interaction",
        "task_id": task_id,
        "main_title": {"title": "Interview at 15:00"},
        "button_list": [
            {"text": "Accept", "key": "accept"},
            {"text": "Decline", "key": "decline", "style": 2},
            {"text": "Details", "type": 1, "url": "https://hr.example.com/i/42"}
        ],
        "action_menu": {"desc": "More", "action_list": [{"text": "Mute", "key": "mute"}]}
    })
}

fn card_to(touser: &str, card: Value) -> Value {
    json!({"touser": touser, "msgtype": "template_card", "agentid": AGENT, "template_card": card})
}

impl Harness {
    async fn update(&self, token: &str, body: &Value) -> Answer {
        self.post(&format!("{UPDATE}?access_token={token}"), body.to_string())
            .await
    }

    /// Sends a card; returns its msgid and response_code.
    async fn send_card(&self, token: &str, body: &Value) -> (String, String) {
        let answer = self.send(token, body).await;
        assert_eq!(answer.errcode(), 0, "{}", answer.text);
        let v = answer.json();
        (
            v["msgid"].as_str().unwrap().to_owned(),
            v["response_code"].as_str().unwrap().to_owned(),
        )
    }
}

fn button_update(code: &str, name: &str) -> Value {
    json!({"agentid": AGENT, "response_code": code, "button": {"replace_name": name}})
}

// ---------------------------------------------------------------- message/send

#[tokio::test]
async fn emulator_interactive_cards_need_a_task_id_unused_by_the_app() {
    let h = Harness::new(two_apps(AGENT, 1000003));
    let token = h.token_for("s1").await;
    let other = h.token_for("s2").await;
    for card in [
        json!({"card_type": "button_interaction"}),
        json!({"card_type": "vote_interaction", "task_id": ""}),
        json!({"card_type": "multiple_interaction", "task_id": "with space"}),
        json!({"card_type": "button_interaction", "task_id": "a".repeat(129)}),
        json!({"card_type": "button_interaction", "task_id": 42}),
    ] {
        let answer = h.send(&token, &card_to("u1", card.clone())).await;
        assert_eq!(answer.errcode(), 40058, "{card}");
        assert!(answer.json()["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("task_id missing or invalid"));
    }
    // Notices need none.
    let notice = card_to("u1", json!({"card_type": "text_notice"}));
    assert!(h.send(&token, &notice).await.json()["response_code"].is_null());

    h.send_card(&token, &card_to("u1", button_card("task-1_@x")))
        .await;
    let again = h
        .send(&token, &card_to("u2", button_card("task-1_@x")))
        .await;
    assert_eq!(again.errcode(), 40058);
    assert!(again.json()["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("task_id already exists"));
    // Task ids are per app.
    let mut theirs = card_to("u1", button_card("task-1_@x"));
    theirs["agentid"] = json!(1000003);
    h.send_card(&other, &theirs).await;
    assert_eq!(h.emu.cards().len(), 2);
    assert_eq!(h.emu.messages().len(), 3); // the notice and two cards
}

#[tokio::test]
async fn emulator_remembers_each_card_its_recipients_and_keys() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["u1", "u2"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    let mut body = card_to("u1|ghost|u2", button_card("t1"));
    body["toparty"] = json!("2");
    let (msgid, code) = h.send_card(&token, &body).await;
    assert_eq!(code.len(), 43);

    let vote = json!({
        "card_type": "vote_interaction", "task_id": "t2",
        "checkbox": {"question_key": "slot", "mode": 1,
                     "option_list": [{"id": "am", "text": "Morning", "is_checked": true}, {"id": "pm", "text": "Afternoon"}]},
        "submit_button": {"text": "Vote", "key": "submit"}
    });
    h.send_card(&token, &card_to("@all", vote)).await;

    let cards = h.emu.cards();
    assert_eq!(cards.len(), 2);
    let card = &cards[0];
    assert_eq!(
        (card.task_id.as_str(), card.msgid.as_str(), card.agent_id),
        ("t1", msgid.as_str(), AGENT)
    );
    assert_eq!(card.card_type, "button_interaction");
    assert_eq!(card.users, ["u1", "u2"], "invalid users never got it");
    assert_eq!(card.parties, ["2"]);
    assert!(!card.all);
    assert_eq!(
        card.keys,
        ["accept", "decline"],
        "the URL button calls no one back"
    );
    assert_eq!(card.menu_keys, ["mute"]);
    assert!(cards[1].all && cards[1].users.is_empty());
    assert_eq!(cards[1].keys, ["submit"]);
    assert_eq!(cards[1].questions[0].options, ["am", "pm"]);
    assert_eq!(cards[1].questions[0].preselected, ["am"]);
}

// ---------------------------------------------------------------- click

#[tokio::test]
async fn emulator_click_is_the_event_wecom_delivers_with_a_fresh_code() {
    let h = Harness::default();
    let token = h.token().await;
    let (msgid, sent_code) = h
        .send_card(&token, &card_to("u1|u2", button_card("t1")))
        .await;

    let click = h.emu.click("t1", "u2", "accept", &[]).unwrap();
    assert_eq!(click.agent_id, AGENT);
    let code = click.event["ResponseCode"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 43);
    assert_ne!(code, sent_code);
    assert_eq!(
        click.event,
        json!({"ToUserName": "corp", "FromUserName": "u2", "MsgType": "event",
               "Event": "template_card_event", "EventKey": "accept", "TaskId": "t1",
               "CardType": "button_interaction", "ResponseCode": code, "AgentID": AGENT.to_string()})
    );
    // By msgid too; every click has a code of its own; a menu key is a menu event.
    let again = h.emu.click(&msgid, "u1", "decline", &[]).unwrap();
    assert_ne!(again.event["ResponseCode"], click.event["ResponseCode"]);
    let menu = h.emu.click(&msgid, "u1", "mute", &[]).unwrap();
    assert_eq!(menu.event["Event"], "template_card_menu_event");

    assert_eq!(
        h.emu.click("t9", "u1", "accept", &[]),
        Err(ClickError::UnknownCard("t9".into()))
    );
    assert_eq!(
        h.emu.click("t1", "u3", "accept", &[]),
        Err(ClickError::NotARecipient {
            user: "u3".into(),
            task_id: "t1".into()
        })
    );
    let unknown = h.emu.click("t1", "u1", "Details", &[]).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        r#"the card "t1" has no button "Details" (its keys: accept, decline, mute)"#
    );
}

#[tokio::test]
async fn emulator_click_answers_the_cards_questions() {
    let h = Harness::default();
    let token = h.token().await;
    let card = json!({
        "card_type": "multiple_interaction", "task_id": "m1",
        "select_list": [
            {"question_key": "day", "selected_id": "mon", "option_list": [{"id": "mon"}, {"id": "tue"}]},
            {"question_key": "room", "option_list": [{"id": "r1"}, {"id": "r2"}]}
        ],
        "submit_button": {"text": "Send", "key": "submit"}
    });
    h.send_card(&token, &card_to("u1", card)).await;
    let picked = [("room".to_owned(), vec!["r2".to_owned()])];
    let click = h.emu.click("m1", "u1", "submit", &picked).unwrap();
    assert_eq!(
        click.event["SelectedItems"],
        json!({"SelectedItem": [
            {"QuestionKey": "day", "OptionIds": {"OptionId": ["mon"]}},
            {"QuestionKey": "room", "OptionIds": {"OptionId": ["r2"]}}
        ]})
    );
    let bad = [("floor".to_owned(), vec!["1".to_owned()])];
    assert!(matches!(
        h.emu.click("m1", "u1", "submit", &bad),
        Err(ClickError::UnknownQuestion { .. })
    ));
    let bad = [("room".to_owned(), vec!["r9".to_owned()])];
    assert!(matches!(
        h.emu.click("m1", "u1", "submit", &bad),
        Err(ClickError::UnknownOption { .. })
    ));
}

#[tokio::test]
async fn emulator_click_reaches_every_member_of_a_party_tag_or_all() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["u1", "u2"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    let mut body = card_to("", button_card("t1"));
    body.as_object_mut().unwrap().remove("touser");
    body["toparty"] = json!("2");
    h.send_card(&token, &body).await;
    assert!(h.emu.click("t1", "u2", "accept", &[]).is_ok());
    // Outside the directory: nobody WeCom knows.
    assert!(matches!(
        h.emu.click("t1", "ghost", "accept", &[]),
        Err(ClickError::NotARecipient { .. })
    ));
}

// ---------------------------------------------------------------- update_template_card

#[tokio::test]
async fn emulator_a_response_code_updates_once() {
    let h = Harness::default();
    let token = h.token().await;
    let (_, sent_code) = h
        .send_card(&token, &card_to("u1|u2", button_card("t1")))
        .await;

    let first = h.update(&token, &button_update(&sent_code, "Sent")).await;
    assert_eq!(
        first.json(),
        json!({"errcode": 0, "errmsg": "ok", "invaliduser": []})
    );
    let second = h.update(&token, &button_update(&sent_code, "Again")).await;
    assert_eq!(second.errcode(), 40058);
    assert!(second.json()["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("invalid response_code (unknown, used or expired)"));
    assert_eq!(
        h.update(&token, &button_update("no-such-code", "x"))
            .await
            .errcode(),
        40058
    );

    let updates = h.emu.card_updates();
    assert_eq!(updates.len(), 1);
    let update = &updates[0];
    assert_eq!(
        (
            update.task_id.as_str(),
            update.agent_id,
            update.response_code.as_str()
        ),
        ("t1", AGENT, sent_code.as_str())
    );
    // A send's code, without recipients: everyone the card went to.
    assert_eq!(update.users, ["u1", "u2"]);
    assert_eq!(update.body, button_update(&sent_code, "Sent"));
}

#[tokio::test]
async fn emulator_a_clicks_code_updates_the_card_for_whoever_clicked() {
    let h = Harness::new(EmulatorConfig {
        users: set(&["u1", "u2", "u3"]),
        ..EmulatorConfig::default()
    });
    let token = h.token().await;
    h.send_card(&token, &card_to("u1|u2|u3", button_card("t1")))
        .await;
    let code =
        |click: wecom_emulator::CardClick| click.event["ResponseCode"].as_str().unwrap().to_owned();

    let by_u2 = code(h.emu.click("t1", "u2", "accept", &[]).unwrap());
    assert_eq!(
        h.update(&token, &button_update(&by_u2, "Accepted"))
            .await
            .errcode(),
        0
    );
    assert_eq!(h.emu.card_updates()[0].users, ["u2"]);

    // Recipients given: those; ids outside the directory are listed, all of them fail.
    let by_u1 = code(h.emu.click("t1", "u1", "accept", &[]).unwrap());
    let mut body = button_update(&by_u1, "Accepted");
    body["userids"] = json!(["u1", "ghost"]);
    body["partyids"] = json!([2, "3"]);
    let answer = h.update(&token, &body).await.json();
    assert_eq!(answer["invaliduser"], json!(["ghost"]));
    assert_eq!(h.emu.card_updates()[1].users, ["u1", "ghost"]);
    assert_eq!(h.emu.card_updates()[1].parties, ["2", "3"]);

    let by_u3 = code(h.emu.click("t1", "u3", "decline", &[]).unwrap());
    let mut body = button_update(&by_u3, "Declined");
    body["userids"] = json!(["ghost"]);
    assert_eq!(h.update(&token, &body).await.errcode(), 81013);
    // A refused update leaves the code usable.
    body["atall"] = json!(1);
    body.as_object_mut().unwrap().remove("userids");
    assert_eq!(h.update(&token, &body).await.errcode(), 0);
    assert!(h.emu.card_updates()[2].all);
}

#[tokio::test]
async fn emulator_response_codes_expire_after_72_hours() {
    let h = Harness::default();
    let token = h.token().await;
    let (_, young) = h.send_card(&token, &card_to("u1", button_card("t1"))).await;
    let (_, old) = h.send_card(&token, &card_to("u1", button_card("t2"))).await;
    h.emu
        .age_response_codes(RESPONSE_CODE_TTL - Duration::from_secs(60));
    assert_eq!(
        h.update(&token, &button_update(&young, "x"))
            .await
            .errcode(),
        0,
        "71 h 59 min old"
    );
    h.emu.age_response_codes(Duration::from_secs(60));
    assert_eq!(
        h.update(&token, &button_update(&old, "x")).await.errcode(),
        40058,
        "72 h old"
    );
    // A code issued after the ageing is fresh.
    let click = h.emu.click("t2", "u1", "accept", &[]).unwrap();
    let fresh = click.event["ResponseCode"].as_str().unwrap();
    assert_eq!(
        h.update(&token, &button_update(fresh, "x")).await.errcode(),
        0
    );
}

#[tokio::test]
async fn emulator_update_checks_the_agent_and_the_token() {
    let h = Harness::new(two_apps(AGENT, 1000003));
    let token = h.token_for("s1").await;
    let other = h.token_for("s2").await;
    let (_, code) = h.send_card(&token, &card_to("u1", button_card("t1"))).await;
    let mut body = button_update(&code, "x");
    assert_eq!(h.update(&other, &body).await.errcode(), 301002);
    body["agentid"] = json!(42);
    assert_eq!(h.update(&token, &body).await.errcode(), 40056);
    // Another app's code is no code of this app's.
    body["agentid"] = json!(1000003);
    assert_eq!(h.update(&other, &body).await.errcode(), 40058);
    assert_eq!(
        h.post(UPDATE, button_update(&code, "x").to_string())
            .await
            .errcode(),
        41001
    );
    assert_eq!(
        h.post(&format!("{UPDATE}?access_token={token}"), " ")
            .await
            .errcode(),
        44002
    );
    assert!(h.emu.card_updates().is_empty());
    // None of that used the code up.
    body["agentid"] = json!(AGENT);
    assert_eq!(h.update(&token, &body).await.errcode(), 0);
}

#[tokio::test]
async fn emulator_update_checks_its_parameters() {
    let h = Harness::default();
    let token = h.token().await;
    let (_, code) = h.send_card(&token, &card_to("u1", button_card("t1"))).await;
    let base = button_update(&code, "x");
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let bad = [
        ("no response_code", without("response_code")),
        ("empty response_code", with("response_code", json!(""))),
        ("neither button nor card", without("button")),
        (
            "both",
            with("template_card", json!({"card_type": "text_notice"})),
        ),
        ("empty name", with("button", json!({"replace_name": " "}))),
        ("no name", with("button", json!({}))),
        ("bad card", {
            let mut body = without("button");
            body["template_card"] = json!({"card_type": "poster"});
            body
        }),
        ("interactive card without task_id", {
            let mut body = without("button");
            body["template_card"] = json!({"card_type": "button_interaction"});
            body
        }),
        ("userids not an array", with("userids", json!("u1|u2"))),
        ("an empty userid", with("userids", json!(["u1", ""]))),
        ("too many users", with("userids", json!(vec!["u"; 1001]))),
        ("a party id not a number", with("partyids", json!(["hr"]))),
        ("too many tags", with("tagids", json!(vec![1; 101]))),
        ("atall 2", with("atall", json!(2))),
    ];
    for (what, body) in bad {
        assert_eq!(h.update(&token, &body).await.errcode(), 40058, "{what}");
    }
    assert!(h.emu.card_updates().is_empty());
    // 1000 users and numeric strings are fine; the code is still unused.
    let mut body = with("userids", json!(vec!["u"; 1000]));
    body["tagids"] = json!(["7"]);
    assert_eq!(h.update(&token, &body).await.errcode(), 0);
    assert_eq!(
        h.emu.card_updates()[0].users,
        ["u"],
        "duplicates count once"
    );
}

#[tokio::test]
async fn emulator_a_replacement_card_offers_its_own_buttons() {
    let h = Harness::default();
    let token = h.token().await;
    let (_, code) = h.send_card(&token, &card_to("u1", button_card("t1"))).await;
    let replacement = json!({
        "card_type": "button_interaction", "task_id": "t1",
        "main_title": {"title": "Accepted: 15:00"},
        "button_list": [{"text": "Reschedule", "key": "reschedule"}]
    });
    let body = json!({"agentid": AGENT, "response_code": code, "template_card": replacement});
    assert_eq!(h.update(&token, &body).await.errcode(), 0);
    assert_eq!(h.emu.card_updates()[0].body["template_card"], replacement);
    assert!(h.emu.click("t1", "u1", "reschedule", &[]).is_ok());
    assert!(matches!(
        h.emu.click("t1", "u1", "accept", &[]),
        Err(ClickError::UnknownKey { .. })
    ));
}

#[tokio::test]
async fn emulator_clear_forgets_cards_and_codes() {
    let h = Harness::default();
    let token = h.token().await;
    let (_, code) = h.send_card(&token, &card_to("u1", button_card("t1"))).await;
    h.emu.clear();
    assert!(h.emu.cards().is_empty());
    assert_eq!(
        h.update(&token, &button_update(&code, "x")).await.errcode(),
        40058
    );
    // The task id is free again.
    h.send_card(&token, &card_to("u1", button_card("t1"))).await;
}
