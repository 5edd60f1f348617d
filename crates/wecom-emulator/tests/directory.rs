//! The directory lookups over real HTTP: user/get, getuserid (mobile), get_userid_by_email.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn emulator_directory_lookups_find_members_or_answer_46004() {
    let h = Harness::default();
    let token = h.token().await;
    let mobile_path = format!("/cgi-bin/user/getuserid?access_token={token}");
    let by_mobile = |body: serde_json::Value| h.post(&mobile_path, body.to_string());
    let found = by_mobile(json!({"mobile": "13800000002"})).await;
    assert_eq!(found.json()["userid"], "lisi");
    assert_eq!(
        by_mobile(json!({"mobile": "10000000000"})).await.errcode(),
        46004
    );
    assert_eq!(by_mobile(json!({})).await.errcode(), 40058);

    let email_path = format!("/cgi-bin/user/get_userid_by_email?access_token={token}");
    let by_email = |body: serde_json::Value| h.post(&email_path, body.to_string());
    let work = by_email(json!({"email": "ZhangSan@corp.example.com"})).await;
    assert_eq!(work.json()["userid"], "zhangsan");
    // A personal address is not found as a corporate one, and the other way round.
    let personal = json!({"email": "zhangsan@example.com", "email_type": 2});
    assert_eq!(by_email(personal).await.json()["userid"], "zhangsan");
    let wrong_type = json!({"email": "zhangsan@example.com", "email_type": 1});
    assert_eq!(by_email(wrong_type).await.errcode(), 46004);
    let bad_type = json!({"email": "zhangsan@example.com", "email_type": 3});
    assert_eq!(by_email(bad_type).await.errcode(), 40058);

    let unauthenticated = h
        .post("/cgi-bin/user/getuserid?access_token=nope", "{}")
        .await;
    assert_eq!(unauthenticated.errcode(), 40014);
}

#[tokio::test]
async fn emulator_departments_list_a_subtree_or_answer_60123() {
    let directory: wecom_emulator::DirectoryData = serde_json::from_value(json!({
        "departments": [
            {"id": 1, "name": "HQ"},
            {"id": 2, "name": "Recruiting", "parentid": 1},
            {"id": 3, "name": "Campus", "parentid": 2},
            {"id": 4, "name": "Finance", "parentid": 1}
        ]
    }))
    .unwrap();
    let h = Harness::new(wecom_emulator::EmulatorConfig {
        directory,
        ..wecom_emulator::EmulatorConfig::default()
    });
    let token = h.token().await;
    let list = h
        .get(&format!(
            "/cgi-bin/department/list?access_token={token}&id=2"
        ))
        .await
        .json();
    let ids: Vec<i64> = list["department"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![2, 3]);
    assert_eq!(list["department"][1]["name"], "Campus");
    let all = h
        .get(&format!(
            "/cgi-bin/department/simplelist?access_token={token}"
        ))
        .await
        .json();
    assert_eq!(all["department_id"].as_array().unwrap().len(), 4);
    assert!(all["department_id"][0].get("name").is_none());
    let unknown = h
        .get(&format!(
            "/cgi-bin/department/list?access_token={token}&id=9"
        ))
        .await;
    assert_eq!(unknown.errcode(), 60123);
}
