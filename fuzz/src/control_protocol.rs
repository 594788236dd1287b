//! The local control socket's protocol: what a connection sends, line by line
//! (`{"cmd":"status"}`, `{"cmd":"act",...}`...), through the server's reader
//! ([`serve_lines`]) to a running ChatBell that is not signed in.
//!
//! Input: the bytes a client writes on one connection.
//!
//! Checks: no panic; every answer is one line of JSON; a refusal is
//! `{"ok": false, "error": <message>}`; there is no more than one answer per
//! request line.
//!
//! [`serve_lines`]: chatbell_app::control::serve_lines

use crate::support::{app, block_on};
use chatbell_app::control::serve_lines;
use serde_json::Value;

pub fn run(data: &[u8]) {
    let app = app();
    let mut out: Vec<u8> = Vec::new();
    block_on(serve_lines(data, &mut out, app));
    let requests = data.split(|b| *b == b'\n').count();
    let mut answers = 0;
    for line in out.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        answers += 1;
        let v: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
            panic!(
                "an answer that is not JSON ({e}): {}",
                String::from_utf8_lossy(line)
            )
        });
        if v["ok"] == Value::Bool(false) {
            let error = v["error"].as_str().unwrap_or_default();
            assert!(!error.trim().is_empty(), "a refusal without a message: {v}");
        }
    }
    assert!(answers <= requests, "{answers} answers to {requests} lines");
    assert!(
        out.ends_with(b"\n") || out.is_empty(),
        "an answer without its newline"
    );
}
