//! The client's reading of what Dataverse answers besides rows: error bodies
//! (`{"error": {"code", "message"}}` or anything else), `Retry-After`, and the
//! shape of `WhoAmI` and of a collection.
//!
//! Input: a first line `<status> [<Retry-After value>]`, then the body. Without
//! a status there, the whole input is the body of a 400.
//!
//! Checks: no panic; an error body becomes a [`DataverseError`] with a message
//! of at most 500 characters (412 and 404 their own variants); a `Retry-After`
//! is a wait of at most an hour, or none; a body that is not what `WhoAmI` or a
//! collection answers is refused with a message.
//!
//! [`DataverseError`]: chatbell_sync::DataverseError

use crate::support::says;
use chatbell_sync::client::{error_from_body, parse_json, parse_retry_after, Page, WhoAmI};
use chatbell_sync::DataverseError;
use std::time::Duration;

pub fn run(data: &[u8]) {
    let (status, retry_after, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => {
            let first = String::from_utf8_lossy(&data[..i]);
            let mut words = first.split_whitespace();
            match words.next().and_then(|s| s.parse::<u16>().ok()) {
                Some(status) => (status, words.next().map(str::to_string), &data[i + 1..]),
                None => (400, None, data),
            }
        }
        None => (400, None, data),
    };

    let e = error_from_body(status, body);
    says(&e);
    match (status, &e) {
        (412, DataverseError::PreconditionFailed) | (404, DataverseError::NotFound) => {}
        (
            _,
            DataverseError::Service {
                status: s, message, ..
            },
        ) => {
            assert_eq!(*s, status);
            assert!(status != 412 && status != 404);
            assert!(
                message.chars().count() <= 500,
                "a message of {} characters",
                message.len()
            );
        }
        (_, other) => panic!("{status} became {other:?}"),
    }

    if let Some(v) = retry_after {
        if let Some(wait) = parse_retry_after(&v) {
            assert!(wait <= Duration::from_secs(3600), "{v:?} waits {wait:?}");
        }
    }
    if let Some(wait) = parse_retry_after(&String::from_utf8_lossy(body)) {
        assert!(wait <= Duration::from_secs(3600));
    }

    match parse_json(body) {
        Err(e) => {
            says(&e);
        }
        Ok(v) => {
            if let Err(e) = WhoAmI::from_json(&v) {
                says(&e);
            }
            if let Err(e) = Page::from_json(v) {
                says(&e);
            }
        }
    }
}
