//! The emulator's query options: `$filter`, `$orderby`, `$select`, `$top`,
//! `$count`, `$expand`, `$skiptoken`, parameter aliases (`@p1=...`) and the rest
//! of a collection `GET`'s query string.
//!
//! Input: `<entity set>?<query string>` (or only a query string, for
//! `cb_chatsessions`), as a client would put it in the URL.
//!
//! Checks: the parser ([`QueryOptions::parse`]) refuses with a 400 that has a
//! code and a message; what it accepts, the query that the emulator repeats in
//! its next and delta links parses again to the same options; the same query
//! through the Web API (`GET`, with paging and annotations) never fails with a
//! server error, is refused with Dataverse's error JSON, and every next link it
//! hands out is served.

use crate::support::{block_on, check_answer, uri_safe, Emulator, API};
use axum::http::{Method, StatusCode};
use chatbell_emulator::odata::{build_query, QueryOptions};
use chatbell_emulator::schema::schema;
use std::sync::OnceLock;

/// Next links followed at most, per input.
const MAX_PAGES: usize = 20;

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (set, query) = match text.split_once('?') {
        Some((set, query)) => (set.trim(), query),
        None => ("cb_chatsessions", text.as_ref()),
    };
    let tables = schema().tables();
    let Some(table) = tables
        .iter()
        .find(|t| t.set == set)
        .or_else(|| tables.iter().find(|t| t.set == "cb_chatsessions"))
    else {
        return;
    };

    let parsed = QueryOptions::parse(query, table);
    match &parsed {
        Err(e) => {
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{e}");
            assert!(
                e.code.starts_with("0x") && !e.message.trim().is_empty(),
                "{e:?}"
            );
        }
        Ok(q) => {
            let link = build_query(&q.link_query());
            let again = QueryOptions::parse(link.trim_start_matches('?'), table)
                .unwrap_or_else(|e| panic!("the link query {link:?} of {query:?} is refused: {e}"));
            assert_eq!(again.select, q.select, "{link}");
            assert_eq!(again.orderby, q.orderby, "{link}");
            assert_eq!(again.count, q.count, "{link}");
            assert_eq!(again.expand, q.expand, "{link}");
            assert_eq!(again.aliases, q.aliases, "{link}");
            assert_eq!(
                again.filter.as_ref().map(|f| &f.0),
                q.filter.as_ref().map(|f| &f.0),
                "{link}"
            );
        }
    }

    // The same query through the Web API.
    static EMU: OnceLock<Emulator> = OnceLock::new();
    let emu = EMU.get_or_init(Emulator::demo);
    let mut target = format!("{API}/{}?{}", table.set, uri_safe(query));
    if target.parse::<axum::http::Uri>().is_err() {
        return;
    }
    block_on(async {
        for page in 0..MAX_PAGES {
            let req = crate::support::RawRequest {
                method: Method::GET,
                target: target.clone(),
                headers: vec![(
                    axum::http::HeaderName::from_static("prefer"),
                    axum::http::HeaderValue::from_static(
                        "odata.include-annotations=\"*\",odata.maxpagesize=4",
                    ),
                )],
                body: Vec::new(),
            };
            let Some((status, body)) = emu.send(&req).await else {
                return;
            };
            check_answer(&target, status, &body);
            if page == 0 && parsed.is_err() {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{target}");
            }
            if page > 0 {
                assert_eq!(status, StatusCode::OK, "the next link {target} is refused");
            }
            if status != StatusCode::OK {
                return;
            }
            let v: serde_json::Value = serde_json::from_slice(&body).expect("a collection is JSON");
            let Some(next) = v["@odata.nextLink"].as_str() else {
                return;
            };
            let Some(at) = next.find(API) else {
                panic!("a next link outside the Web API: {next}");
            };
            target = next[at..].to_string();
        }
    });
}
