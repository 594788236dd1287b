//! The emulator's request bodies and everything else a request carries: `POST`
//! and `PATCH` JSON rows (with `@odata.bind` lookups, `If-Match`,
//! `If-None-Match`, `Prefer`), `$ref` associations, the sign-in endpoints' forms
//! and the test endpoints' JSON, through its router in-process.
//!
//! Input: up to four requests, each as
//!
//! ```text
//! METHOD /path?query
//! Header: value
//!
//! body
//! ```
//!
//! separated by a line `###`, sent in order to a fresh demo org (the demo
//! agent's token goes with each, unless it has its own `Authorization`).
//! `PUT /_emulator/faults` is left out: the latency and dropped connections it
//! sets up are what it is for.
//!
//! Checks: no server error, ever; a refused Web API request gets Dataverse's
//! error JSON (code and message), a refused sign-in request the OAuth error
//! JSON.

use crate::support::{block_on, check_answer, Emulator, RawRequest};

const MAX_REQUESTS: usize = 4;

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() < MAX_REQUESTS - 1 {
        match rest.windows(5).position(|w| w == b"\n###\n") {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + 5..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

pub fn run(data: &[u8]) {
    let requests: Vec<RawRequest> = split(data)
        .into_iter()
        .filter_map(RawRequest::parse)
        .filter(|r| r.path() != "/_emulator/faults")
        .collect();
    if requests.is_empty() {
        return;
    }
    let emu = Emulator::demo();
    block_on(async {
        for r in &requests {
            if let Some((status, body)) = emu.send(r).await {
                check_answer(&r.path(), status, &body);
            }
        }
    });
}
