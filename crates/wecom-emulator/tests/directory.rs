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
