//! An HTTP 200 body from whatever answered (WeCom, a gateway, a captive portal): read as WeCom's
//! answer, then read the way a send, a token fetch and an upload read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wecom_core::api::read_answer;
use wecom_core::SendResult;

fuzz_target!(|body: &[u8]| {
    let query = [("corpid", "ww-fuzz"), ("corpsecret", "fuzz-secret")];
    for may_act in [false, true] {
        match read_answer(body, "/cgi-bin/message/send", &query, may_act) {
            Ok(answer) => {
                let mut result = SendResult::default();
                result.merge(&answer);
                let _ = answer["access_token"].as_str();
                let _ = answer["expires_in"].as_u64();
            }
            Err(error) => {
                // No credential of the request may reach the error's text.
                assert!(!error.to_string().contains("fuzz-secret"), "{error}");
            }
        }
    }
});
