//! The client's reading of a Dataverse page (`{"value": [rows], "@odata.nextLink"...}`)
//! and the decoding of its rows into the engine's changes, then the rules
//! engine on those changes, as a live poll or a catch-up, with every timer they
//! arm fired.
//!
//! Input: a first line `<entity set> live|catchup` (the reference schema's
//! sets: `systemusers`, `teams`, `cb_configurations`, `cb_chatsessions`,
//! `cb_chatmessages`, `cb_chatrequests`, `cb_blockednumbers`), then the page's
//! JSON. Without such a line, the whole input is a page of `cb_chatsessions`.
//!
//! Checks: no panic; an unreadable page is a [`DataverseError`] with a message;
//! a row that cannot be decoded is a [`DecodeError`] naming its table and
//! column, and the rows after it are still decoded; the engine takes whatever
//! decodes (on top of the demo org's agents, teams and configurations) and its
//! bookkeeping holds ([`Engine::check_invariants`]).
//!
//! [`DataverseError`]: chatbell_sync::DataverseError
//! [`DecodeError`]: chatbell_sync::decode::DecodeError

use crate::support::{block_on, says, Emulator, API};
use axum::http::Method;
use chatbell_core::{Change, Engine, Event, SyncMode, Ts, UserId};
use chatbell_sync::client::{parse_json, Page};
use chatbell_sync::{decode, Schema, Table};
use std::sync::OnceLock;

/// Timers fired at most, per input.
const MAX_TIMERS: usize = 64;

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(Schema::reference)
}

/// The demo org's time (the emulator's manual clock).
const NOW: Ts = Ts(1_795_251_600_000); // 2026-11-21T09:00:00Z

/// The demo org's agents, teams and configurations, as the client decodes
/// them from the emulator, and the demo agent.
fn base() -> &'static (UserId, Vec<Change>) {
    static BASE: OnceLock<(UserId, Vec<Change>)> = OnceLock::new();
    BASE.get_or_init(|| {
        let emu = Emulator::demo();
        let mut changes = Vec::new();
        for table in [Table::SystemUser, Table::Team, Table::Configuration] {
            let req = crate::support::RawRequest {
                method: Method::GET,
                target: format!(
                    "{API}/{}?$select={}",
                    schema().set(table),
                    schema().select(table)
                ),
                headers: Vec::new(),
                body: Vec::new(),
            };
            let (_, body) = block_on(emu.send(&req)).expect("a demo page");
            let page = parse_json(&body)
                .and_then(Page::from_json)
                .expect("the demo org's page");
            let errors = decode::changes(schema(), table, &page.value, &mut changes);
            assert!(errors.is_empty(), "{errors:?}");
        }
        let teams = changes
            .iter()
            .filter_map(|c| match c {
                Change::Team(t) => Some(t.id),
                _ => None,
            })
            .collect();
        changes.push(Change::MyTeams(teams));
        let me = UserId(chatbell_emulator::SeedIds::demo_agent());
        (me, changes)
    })
}

fn header(line: &str) -> Option<(Table, SyncMode)> {
    let mut words = line.split_whitespace();
    let set = words.next()?;
    let table = Table::ALL.into_iter().find(|t| schema().set(*t) == set)?;
    let mode = match words.next() {
        Some("catchup") => SyncMode::CatchUp,
        _ => SyncMode::Live,
    };
    Some((table, mode))
}

fn check(engine: &Engine) {
    if let Err(e) = engine.check_invariants() {
        panic!("the engine's bookkeeping is off: {e}");
    }
}

pub fn run(data: &[u8]) {
    let (table, mode, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => match header(&String::from_utf8_lossy(&data[..i])) {
            Some((t, m)) => (t, m, &data[i + 1..]),
            None => (Table::Session, SyncMode::Live, data),
        },
        None => (Table::Session, SyncMode::Live, data),
    };
    let page = match parse_json(body).and_then(Page::from_json) {
        Ok(p) => p,
        Err(e) => {
            says(&e);
            return;
        }
    };
    let (me, base) = base();
    let mut changes = Vec::new();
    let errors = decode::changes(schema(), table, &page.value, &mut changes);
    for e in &errors {
        let m = says(e);
        assert!(m.contains(e.table), "{m}");
        assert!(!e.column.is_empty() && !e.problem.is_empty(), "{e:?}");
    }
    assert!(
        errors.len() <= page.value.len(),
        "more errors than rows: {errors:?}"
    );

    let mut engine = Engine::new(Some(*me));
    let mut now = NOW;
    let sync = |changes: Vec<Change>, mode| Event::Sync { changes, mode };
    if let Err(e) = engine.handle(sync(base.clone(), SyncMode::CatchUp), now) {
        says(&e);
    }
    if let Err(e) = engine.handle(sync(changes, mode), now) {
        says(&e);
    }
    check(&engine);
    for _ in 0..MAX_TIMERS {
        let Some((key, at)) = engine
            .armed_timers()
            .min_by_key(|(k, at)| (**at, **k))
            .map(|(k, at)| (*k, *at))
        else {
            break;
        };
        now = now.max(at);
        if let Err(e) = engine.handle(Event::TimerFired(key), now) {
            says(&e);
        }
        check(&engine);
        assert!(
            engine.armed_timers().all(|(k, at)| *k != key || *at > now),
            "timer {key:?} fired at {now:?} and is still due"
        );
    }
}
