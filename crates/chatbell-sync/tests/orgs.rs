//! A real org's own schema: discovery proposes the mapping ChatBell then runs
//! with, and the org check names what is wrong (a column, a choice value, a
//! privilege, the clock) with the configuration key to fix.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::{Clock, NotificationKey, NotificationKind, Ts};
use chatbell_emulator::metadata::Verb;
use chatbell_emulator::profile::OrgProfile;
use chatbell_emulator::{Emulator, Options, OrgClock, RunningEmulator, Seed};
use chatbell_sync::orgcheck::{self, Finding};
use chatbell_sync::{inspect, Dataverse, Mapping, RetryPolicy, Schema, StaticToken};
use std::sync::Arc;
use support::*;

async fn contoso() -> RunningEmulator {
    let profile = OrgProfile::load(&orgs_dir().join("contoso.profile.toml")).unwrap();
    Emulator::start(
        Options::default()
            .seed(Seed::Demo)
            .clock(OrgClock::manual_default())
            .org(profile),
    )
    .await
    .unwrap()
}

fn dataverse(emu: &RunningEmulator, user: &str) -> Dataverse {
    Dataverse::new(
        emu.base_url(),
        Arc::new(StaticToken(emu.mint_token(user).unwrap())),
        RetryPolicy::default(),
    )
    .unwrap()
}

fn contoso_mapping() -> Mapping {
    let text = std::fs::read_to_string(orgs_dir().join("contoso.mapping.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v.get("schema").cloned().unwrap().try_into().unwrap()
}

fn now(emu: &RunningEmulator) -> Ts {
    EmuClock(emu.clock().clone()).now()
}

fn failed(findings: &[Finding]) -> Vec<&Finding> {
    findings.iter().filter(|f| !f.ok).collect()
}

#[tokio::test]
async fn inspect_proposes_the_orgs_mapping_and_chatbell_runs_with_it_unchanged() {
    let emu = contoso().await;
    let dv = dataverse(&emu, DEMO_AGENT_EMAIL);
    let proposal = inspect::inspect(&dv).await.unwrap();
    assert!(proposal.undecided.is_empty(), "{:?}", proposal.undecided);
    assert_eq!(proposal.found.len(), 5, "{:?}", proposal.found);
    assert_eq!(
        proposal.mapping,
        contoso_mapping(),
        "{}",
        proposal.to_toml("contoso")
    );

    // What inspect printed is what the configuration takes.
    let text = proposal.to_toml("contoso");
    let v: toml::Value = toml::from_str(&text).unwrap();
    let mapping: Mapping = v.get("schema").cloned().unwrap().try_into().unwrap();
    let schema = Schema::with_mapping(&mapping).unwrap();

    // ChatBell runs with it: a new conversation reaches the engine.
    let mut me = desk_with(&emu, DEMO_AGENT_EMAIL, None, quick(), schema.clone()).await;
    me.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);
    let s = customer
        .new_conversation("Ana Souza", "+5511999990001")
        .await;
    emu.advance_clock(2);
    customer.customer_writes(s, "Olá").await;
    emu.advance_clock(2);
    me.desk.poll().await.unwrap();
    let n = live(me.desk.engine(), NotificationKey::Chat(s)).expect("a live notification");
    assert_eq!(n.kind, NotificationKind::NewConversation);

    // And the org check finds nothing wrong with it.
    let findings = orgcheck::check(&dv, &schema, now(&emu), None).await;
    assert!(failed(&findings).is_empty(), "{findings:#?}");
    assert_eq!(findings.len(), 1 + 7 + 1 + 1, "{findings:#?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn inspect_on_an_org_with_the_reference_names_proposes_them() {
    let emu = Emulator::start(
        Options::default()
            .seed(Seed::Demo)
            .clock(OrgClock::manual_default()),
    )
    .await
    .unwrap();
    let proposal = inspect::inspect(&dataverse(&emu, DEMO_AGENT_EMAIL))
        .await
        .unwrap();
    assert!(proposal.undecided.is_empty(), "{:?}", proposal.undecided);
    let m = &proposal.mapping.0["cb_chatsession"];
    assert_eq!(m.name.as_deref(), Some("cb_chatsession"));
    assert!(m.columns.is_empty() && m.choices.is_empty(), "{m:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn org_check_names_a_missing_column_and_a_wrong_choice_value_with_their_keys() {
    let emu = contoso().await;
    let mut mapping = contoso_mapping();
    let session = mapping.0.get_mut("cb_chatsession").unwrap();
    session
        .columns
        .insert("cb_acceptedon".into(), "cts_acceptedon".into());
    session
        .choices
        .get_mut("statuscode")
        .unwrap()
        .insert("blocked".into(), 3);
    let schema = Schema::with_mapping(&mapping).unwrap();
    let findings =
        orgcheck::check(&dataverse(&emu, DEMO_AGENT_EMAIL), &schema, now(&emu), None).await;
    let bad = failed(&findings);
    assert_eq!(bad.len(), 1, "{findings:#?}");
    assert_eq!(bad[0].check, "table cb_chatsession");
    assert!(
        bad[0]
            .detail
            .contains("no column cts_acceptedon (schema.cb_chatsession.columns.cb_acceptedon)"),
        "{}",
        bad[0].detail
    );
    assert!(
        bad[0]
            .detail
            .contains("no value 3 for blocked (schema.cb_chatsession.choices.statuscode.blocked"),
        "{}",
        bad[0].detail
    );

    // The reference schema against this org: its tables are not there.
    let findings = orgcheck::check(
        &dataverse(&emu, DEMO_AGENT_EMAIL),
        &Schema::reference(),
        now(&emu),
        None,
    )
    .await;
    let session = findings
        .iter()
        .find(|f| f.check == "table cb_chatsession")
        .unwrap();
    assert!(!session.ok);
    assert!(
        session
            .detail
            .contains("no table cb_chatsession (schema.cb_chatsession.name)"),
        "{}",
        session.detail
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn org_check_names_a_missing_privilege_and_a_clock_that_is_off() {
    let emu = contoso().await;
    emu.set_privilege(DEMO_AGENT_EMAIL, Verb::Assign, "cb_chatsession", false)
        .unwrap();
    let schema = Schema::with_mapping(&contoso_mapping()).unwrap();
    let five_minutes_ahead = Ts(now(&emu).0 + 300_000);
    let findings = orgcheck::check(
        &dataverse(&emu, DEMO_AGENT_EMAIL),
        &schema,
        five_minutes_ahead,
        None,
    )
    .await;
    let bad = failed(&findings);
    assert_eq!(bad.len(), 2, "{findings:#?}");
    let privileges = bad.iter().find(|f| f.check == "privileges").unwrap();
    assert!(
        privileges.detail.contains("prvAssigncts_Conversation")
            && privileges.detail.contains("add Assign on cts_conversation"),
        "{}",
        privileges.detail
    );
    let clock = bad.iter().find(|f| f.check == "clock").unwrap();
    assert!(clock.detail.contains("5 min ahead of"), "{}", clock.detail);
    emu.shutdown().await;
}

#[test]
fn org_check_projects_the_request_budget_over_a_shift() {
    let f = orgcheck::budget(Some((1_200, std::time::Duration::from_secs(3600))));
    assert!(!f.ok, "over the smaller allowance: {f:?}");
    assert!(
        f.detail.contains("about 9600 in an 8-hour shift"),
        "{}",
        f.detail
    );
    let f = orgcheck::budget(Some((120, std::time::Duration::from_secs(3600))));
    assert!(
        f.ok && f.detail.contains("about 960 in an 8-hour shift"),
        "{}",
        f.detail
    );
    let f = orgcheck::budget(None);
    assert!(
        f.ok && f.detail.contains("not measured yet"),
        "{}",
        f.detail
    );
}
