//! The seeded demo organisation, the simulation, the SQLite state file and the
//! binary.
#![allow(clippy::unwrap_used)]

mod common;

use chatbell_emulator::schema::schema;
use chatbell_emulator::{
    Emulator, Options, OrgClock, RunningEmulator, Seed, SeedIds, DEMO_AGENT_EMAIL,
};
use common::{read, start, start_with};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::BufRead;

fn dump(emu: &RunningEmulator) -> Vec<(String, String, u64, Value)> {
    emu.with_store(|s| {
        let mut out = Vec::new();
        for t in schema().tables() {
            for (id, row) in s.rows(t.set) {
                out.push((
                    t.set.to_string(),
                    id.to_string(),
                    row.version,
                    Value::Object(row.fields.clone()),
                ));
            }
        }
        out
    })
}

fn count(
    emu: &RunningEmulator,
    set: &str,
    f: impl Fn(&chatbell_emulator::store::Row) -> bool,
) -> usize {
    emu.with_store(|s| s.rows(set).filter(|(_, r)| f(r)).count())
}

#[tokio::test]
async fn demo_seed_has_an_eligible_demo_agent_and_both_configurations() {
    let t = start().await;
    let teams = t
        .get(&format!(
            "systemusers({})/teammembership_association?$select=teamid",
            SeedIds::demo_agent()
        ))
        .await;
    let ids: Vec<&str> = teams
        .value()
        .iter()
        .map(|v| v["teamid"].as_str().unwrap())
        .collect();
    let cfgs = t.get("cb_configurations?$select=cb_channel,_cb_defaultteam_value,_cb_assignedteam_value&$orderby=cb_channel").await;
    assert_eq!(cfgs.value().len(), 2);
    for c in cfgs.value() {
        let default = c["_cb_defaultteam_value"].as_str().unwrap();
        assert!(ids.contains(&default));
        if let Some(assigned) = c["_cb_assignedteam_value"].as_str() {
            assert!(ids.contains(&assigned));
        }
    }
    assert!(
        cfgs.value()[1]["_cb_assignedteam_value"].is_null(),
        "SMS has no assigned team"
    );
    let mine = t
        .get(&format!(
            "cb_chatrequests?$filter=_cb_requestedto_value eq {} and statuscode eq 1",
            SeedIds::demo_agent()
        ))
        .await;
    assert_eq!(mine.value().len(), 1);
}

fn sim_options(seed: u64) -> Options {
    let mut o = Options::default()
        .seed(Seed::Demo)
        .clock(OrgClock::manual_default())
        .simulate(seed);
    o.simulate_rate = 60.0;
    o
}

#[tokio::test]
async fn simulation_is_deterministic_for_a_seed() {
    let a = Emulator::start(sim_options(7)).await.unwrap();
    let b = Emulator::start(sim_options(7)).await.unwrap();
    let c = Emulator::start(sim_options(8)).await.unwrap();
    for emu in [&a, &b, &c] {
        for _ in 0..8 {
            emu.advance_clock(3600);
        }
    }
    let (da, db, dc) = (dump(&a), dump(&b), dump(&c));
    assert!(
        da.len() > 100,
        "an 8-hour shift makes traffic: {} rows",
        da.len()
    );
    assert_eq!(da, db);
    assert_ne!(da, dc);
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}

#[tokio::test]
async fn simulated_shift_has_realistic_traffic_through_the_write_path() {
    let t = start_with(sim_options(3)).await;
    // An 8-hour shift, minute by minute (as a polling client would see it).
    for _ in 0..(8 * 60) {
        t.emu.advance_clock(60);
    }
    let emu = &t.emu;
    let demo = SeedIds::demo_agent().to_string();
    assert!(count(emu, "cb_chatsessions", |_| true) > 20);
    assert!(count(emu, "cb_chatmessages", |r| r.int("cb_direction") == Some(1)) > 50);
    assert!(count(emu, "cb_chatmessages", |r| r.int("cb_direction") == Some(2)) > 10);
    assert!(
        count(emu, "cb_chatsessions", |r| r
            .str("cb_callstartedon")
            .is_some())
            > 0,
        "calls rang"
    );
    assert!(
        count(emu, "cb_chatsessions", |r| r.str("cb_acceptedon").is_some()) > 5,
        "agents accepted"
    );
    assert!(
        count(emu, "cb_chatsessions", |r| r.int("statuscode") == Some(2)) > 1,
        "sessions closed"
    );
    let to_demo = |status: i64| {
        count(emu, "cb_chatrequests", move |r| {
            r.str("_cb_requestedto_value") == Some(demo.as_str())
                && r.int("statuscode") == Some(status)
        })
    };
    assert!(to_demo(5) > 0, "unanswered requests expire");
    assert!(count(emu, "cb_chatrequests", |r| r.int("cb_kind") == Some(1)) > 0);
    assert!(count(emu, "cb_chatrequests", |r| r.int("cb_kind") == Some(2)) > 0);
    // The add-on's behaviour applied to simulated messages: every session with a
    // customer message has its timestamp and preview.
    let sessions_with_customer_messages: Vec<String> = emu.with_store(|s| {
        s.rows("cb_chatmessages")
            .filter(|(_, r)| r.int("cb_direction") == Some(1))
            .filter_map(|(_, r)| r.str("_cb_chatsession_value").map(str::to_string))
            .collect()
    });
    for sid in sessions_with_customer_messages {
        let ok = emu.with_store(|s| {
            let r = s
                .get("cb_chatsessions", uuid::Uuid::parse_str(&sid).unwrap())
                .unwrap();
            r.str("cb_lastcustomermessageon").is_some() && r.str("cb_lastmessagepreview").is_some()
        });
        assert!(ok, "session {sid}");
    }
    // The Web API sees the simulated rows, with a fresh token (the old one expired).
    let tok = t.token_for(DEMO_AGENT_EMAIL);
    let r = read(
        t.req_as(
            &tok,
            Method::GET,
            "cb_chatsessions?$select=cb_name&$count=true",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert!(r.json["@odata.count"].as_u64().unwrap() > 20);
}

#[tokio::test]
async fn state_file_keeps_rows_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.sqlite");
    let opts = || {
        Options::default()
            .seed(Seed::Demo)
            .clock(OrgClock::manual_default())
            .state_file(&path)
    };
    let t = start_with(opts()).await;
    let id = t
        .create(
            "cb_blockednumbers",
            json!({"cb_number": "+15550000077", "cb_channel": 2}),
        )
        .await;
    t.send(
        Method::POST,
        &format!(
            "teams({})/teammembership_association/$ref",
            SeedIds::assigned_team()
        ),
        json!({"@odata.id": format!("{}/systemusers({})", t.api(), SeedIds::riley())}),
    )
    .await;
    t.emu.set_org_level_read(DEMO_AGENT_EMAIL, true).unwrap();
    let deleted = t
        .create("cb_blockednumbers", json!({"cb_number": "+15550000078"}))
        .await;
    assert_eq!(
        read(
            t.req(Method::DELETE, &format!("cb_blockednumbers({deleted})"))
                .send()
                .await
                .unwrap()
        )
        .await
        .status,
        204
    );
    let before = dump(&t.emu);
    let version = t.emu.with_store(|s| s.version());
    t.emu.shutdown().await;

    let t = start_with(opts()).await;
    assert_eq!(dump(&t.emu), before, "same rows, not seeded again");
    assert_eq!(t.emu.with_store(|s| s.version()), version);
    let r = t.get(&format!("cb_blockednumbers({id})")).await;
    assert_eq!(r.json["cb_number"], "+15550000077");
    assert_eq!(
        t.get(&format!("cb_blockednumbers({deleted})")).await.status,
        404
    );
    assert!(t.emu.with_store(|s| s.teams_of(SeedIds::riley()).len()) == 2);
    assert!(t
        .emu
        .with_store(|s| s.flags(SeedIds::demo_agent()).org_level_read));
    let next = t
        .create("cb_blockednumbers", json!({"cb_number": "+15550000079"}))
        .await;
    let v = t.get(&format!("cb_blockednumbers({next})")).await.json["versionnumber"]
        .as_u64()
        .unwrap();
    assert!(v > version);
    t.emu.shutdown().await;
}

#[tokio::test]
async fn binary_prints_base_url_first_and_serves_whoami() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chatbell-emulator"))
        .args(["--listen", "127.0.0.1:0", "--seed", "demo"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), first).await;
    let base = match line {
        Ok(Ok(Ok(l))) => l.trim().to_string(),
        other => {
            let _ = child.kill();
            panic!("no first line: {other:?}");
        }
    };
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let http = reqwest::Client::new();
    let minted: Value = http
        .post(format!("{base}/_emulator/token"))
        .json(&json!({"user": DEMO_AGENT_EMAIL}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let who: Value = http
        .get(format!("{base}/api/data/v9.2/WhoAmI"))
        .bearer_auth(minted["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(who["UserId"], SeedIds::demo_agent().to_string());
}
