//! An upload's body as the emulator receives it: the first line is the Content-Type header, the
//! rest the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let split = input
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(input.len());
    let content_type = String::from_utf8_lossy(&input[..split]);
    let body = input.get(split + 1..).unwrap_or_default();
    let _ = wecom_emulator::fuzzing::multipart(&content_type, body);
});
