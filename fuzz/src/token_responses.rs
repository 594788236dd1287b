//! The sign-in's reading of the identity platform's answers: token responses
//! (with the account in the `id_token`), device code responses, OAuth error
//! bodies, and the browser's redirect to ChatBell's loopback port.
//!
//! Input: a first line that says what the rest is:
//!
//! - `token <status>`: the token endpoint's answer;
//! - `devicecode <status>`: the device code endpoint's answer;
//! - `redirect <state>`: the request (line and headers) the browser sends to
//!   the loopback port, with the `state` ChatBell expects.
//!
//! Without such a line the whole input goes to each of them (status 200).
//!
//! Checks: no panic; a refusal is an [`AuthError`] with a message; no message
//! (nor the `Debug` of tokens or of a device code prompt) holds a token or the
//! device code that came in the answer; expiry is within a day; a redirect's
//! code is never empty.
//!
//! [`AuthError`]: chatbell_auth::AuthError

use crate::support::says;
use chatbell_auth::{redirect_request, token_response, DeviceCodePrompt};
use std::time::{Duration, SystemTime};

const NOW: SystemTime = SystemTime::UNIX_EPOCH;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The secrets in a body that appear in it only once (as their own field's
/// value): no message may repeat them.
fn secrets(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(body);
    ["access_token", "refresh_token", "id_token", "device_code"]
        .iter()
        .filter_map(|k| v.get(k)?.as_str())
        .filter(|s| s.len() >= 8 && text.matches(*s).count() == 1)
        .map(str::to_string)
        .collect()
}

fn keeps_secrets(shown: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!shown.contains(s.as_str()), "a secret shows: {shown}");
    }
}

fn token(status: u16, body: &[u8]) {
    let secrets = secrets(body);
    match token_response(status, body, NOW) {
        Ok(t) => {
            assert_eq!(status, 200);
            assert!(!t.access_token.secret().is_empty());
            assert!(t.access_token.expires_at() <= NOW + DAY);
            if let Some(r) = &t.refresh_token {
                assert!(!r.secret().is_empty());
            }
            let shown = format!("{t:?}");
            let only: Vec<String> = secrets
                .into_iter()
                .filter(|s| {
                    Some(s.as_str()) == Some(t.access_token.secret())
                        || t.refresh_token.as_ref().map(|r| r.secret()) == Some(s.as_str())
                })
                .collect();
            keeps_secrets(&shown, &only);
        }
        Err(e) => {
            keeps_secrets(&says(&e), &secrets);
            keeps_secrets(&format!("{e:?}"), &secrets);
        }
    }
}

fn device_code(status: u16, body: &[u8]) {
    let secrets = secrets(body);
    match DeviceCodePrompt::from_response(status, body, NOW) {
        Ok(p) => {
            assert_eq!(status, 200);
            assert!(!p.user_code.is_empty());
            assert!(p.expires_at > NOW && p.expires_at <= NOW + DAY);
            assert!(p.interval >= Duration::from_secs(1) && p.interval <= Duration::from_secs(60));
            let only: Vec<String> = secrets
                .into_iter()
                .filter(|s| {
                    s != &p.user_code && Some(s) != p.message.as_ref() && s != &p.verification_uri
                })
                .collect();
            keeps_secrets(&format!("{p:?}"), &only);
        }
        Err(e) => {
            keeps_secrets(&says(&e), &secrets);
            keeps_secrets(&format!("{e:?}"), &secrets);
        }
    }
}

fn redirect(head: &str, state: &str) {
    match redirect_request(head, state) {
        None => {}
        Some(Ok(code)) => assert!(!code.is_empty()),
        Some(Err(e)) => {
            says(&e);
        }
    }
}

pub fn run(data: &[u8]) {
    let first_line = data.iter().position(|b| *b == b'\n').map(|i| {
        (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        )
    });
    if let Some((first, rest)) = first_line {
        let mut words = first.split_whitespace();
        let (what, arg) = (words.next(), words.next());
        let status = arg.and_then(|s| s.parse::<u16>().ok());
        match (what, status) {
            (Some("token"), Some(status)) => return token(status, rest),
            (Some("devicecode"), Some(status)) => return device_code(status, rest),
            (Some("redirect"), _) => {
                return redirect(&String::from_utf8_lossy(rest), arg.unwrap_or("state"))
            }
            _ => {}
        }
    }
    token(200, data);
    device_code(200, data);
    redirect(&String::from_utf8_lossy(data), "state");
}
