//! Seed data: `--seed demo` creates a small organisation.
//!
//! - Teams "Chat Agents" (the default team of both configurations) and "Chat
//!   Escalations" (the WhatsApp configuration's assigned team; SMS has none).
//! - Agents: Dana Demo (`demo.agent@chatbell.example`, the demo agent, member of
//!   both teams and so eligible on both channels), Alex Rivera and Sam Patel (both
//!   teams), Riley Chen (default team only: not eligible on WhatsApp), Morgan Lee
//!   (a supervisor with organisation-level read, so change tracking works for her),
//!   and the SYSTEM user that the integration writes customer traffic as.
//! - Five sessions (new on WhatsApp and SMS, one owned by the demo agent with an
//!   unread message, one owned by Alex, one closed) with their messages, and a
//!   pending Discuss request from Alex to the demo agent.
//!
//! Ids are name-based (UUID v5), so they are the same on every run: see [`SeedIds`].

use crate::error::ApiError;
use crate::store::{OrgData, UserFlags, WriteCtx};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Which data to start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seed {
    /// No rows at all except the SYSTEM user.
    Empty,
    /// The demo organisation.
    #[default]
    Demo,
}

impl std::str::FromStr for Seed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "demo" => Ok(Seed::Demo),
            "empty" | "none" => Ok(Seed::Empty),
            _ => Err(format!("unknown seed '{s}' (use demo or empty)")),
        }
    }
}

/// The e-mail address of the demo agent.
pub const DEMO_AGENT_EMAIL: &str = "demo.agent@chatbell.example";
/// The e-mail address of the SYSTEM user.
pub const SYSTEM_EMAIL: &str = "system@chatbell.example";

/// A stable id for a seed row.
pub fn seed_id(name: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("https://chatbell.example/seed/{name}").as_bytes(),
    )
}

/// The ids of the demo organisation's rows.
#[derive(Debug, Clone, Copy)]
pub struct SeedIds;

impl SeedIds {
    /// SYSTEM.
    pub fn system() -> Uuid {
        seed_id("user/system")
    }
    /// Dana Demo, the demo agent.
    pub fn demo_agent() -> Uuid {
        seed_id("user/demo")
    }
    /// Alex Rivera.
    pub fn alex() -> Uuid {
        seed_id("user/alex")
    }
    /// Sam Patel.
    pub fn sam() -> Uuid {
        seed_id("user/sam")
    }
    /// Riley Chen (default team only).
    pub fn riley() -> Uuid {
        seed_id("user/riley")
    }
    /// Morgan Lee (supervisor, organisation-level read).
    pub fn morgan() -> Uuid {
        seed_id("user/morgan")
    }
    /// The default team.
    pub fn default_team() -> Uuid {
        seed_id("team/agents")
    }
    /// The assigned team.
    pub fn assigned_team() -> Uuid {
        seed_id("team/escalations")
    }
    /// The WhatsApp configuration.
    pub fn whatsapp_config() -> Uuid {
        seed_id("config/whatsapp")
    }
    /// The SMS configuration.
    pub fn sms_config() -> Uuid {
        seed_id("config/sms")
    }
    /// Session `n` (1-5) of the demo data.
    pub fn session(n: u32) -> Uuid {
        seed_id(&format!("session/{n}"))
    }
    /// The pending Discuss request.
    pub fn discuss_request() -> Uuid {
        seed_id("request/1")
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Creates the SYSTEM user (every store has it: it is the default writer).
pub fn ensure_system_user(store: &mut OrgData, now: DateTime<Utc>) -> Result<(), ApiError> {
    let id = SeedIds::system();
    if store.get("systemusers", id).is_none() {
        let ctx = WriteCtx { actor: id, now };
        store.create(
            "systemusers",
            Some(id),
            &obj(json!({"fullname": "SYSTEM", "internalemailaddress": SYSTEM_EMAIL, "domainname": SYSTEM_EMAIL, "isdisabled": false})),
            ctx,
        )?;
        store.set_flags(
            id,
            UserFlags {
                org_level_read: true,
            },
        );
    }
    Ok(())
}

/// Fills `store` with `seed` as of `now`.
pub fn apply(store: &mut OrgData, seed: Seed, now: DateTime<Utc>) -> Result<(), ApiError> {
    ensure_system_user(store, now)?;
    if seed == Seed::Empty {
        return Ok(());
    }
    let sys = SeedIds::system();
    let at = |minutes_ago: i64| WriteCtx {
        actor: sys,
        now: now - chrono::Duration::minutes(minutes_ago),
    };
    let setup = at(24 * 60);
    let users = [
        (
            SeedIds::demo_agent(),
            "Dana Demo",
            DEMO_AGENT_EMAIL,
            true,
            false,
        ),
        (
            SeedIds::alex(),
            "Alex Rivera",
            "alex.rivera@chatbell.example",
            true,
            false,
        ),
        (
            SeedIds::sam(),
            "Sam Patel",
            "sam.patel@chatbell.example",
            true,
            false,
        ),
        (
            SeedIds::riley(),
            "Riley Chen",
            "riley.chen@chatbell.example",
            false,
            false,
        ),
        (
            SeedIds::morgan(),
            "Morgan Lee",
            "morgan.lee@chatbell.example",
            true,
            true,
        ),
    ];
    for (id, name, email, _, org) in users {
        store.create(
            "systemusers",
            Some(id),
            &obj(json!({"fullname": name, "internalemailaddress": email, "domainname": email, "isdisabled": false})),
            setup,
        )?;
        store.set_flags(
            id,
            UserFlags {
                org_level_read: org,
            },
        );
    }
    store.create(
        "teams",
        Some(SeedIds::default_team()),
        &obj(json!({"name": "Chat Agents", "teamtype": 0})),
        setup,
    )?;
    store.create(
        "teams",
        Some(SeedIds::assigned_team()),
        &obj(json!({"name": "Chat Escalations", "teamtype": 0})),
        setup,
    )?;
    for (id, _, _, escalations, _) in users {
        store.add_member(SeedIds::default_team(), id);
        if escalations {
            store.add_member(SeedIds::assigned_team(), id);
        }
    }
    let team = |id: Uuid| format!("/teams({id})");
    let user = |id: Uuid| format!("/systemusers({id})");
    store.create(
        "cb_configurations",
        Some(SeedIds::whatsapp_config()),
        &obj(json!({
            "cb_name": "WhatsApp", "cb_channel": 1,
            "cb_defaultteam@odata.bind": team(SeedIds::default_team()),
            "cb_assignedteam@odata.bind": team(SeedIds::assigned_team()),
            "cb_idletimeoutminutes": 5, "cb_requesttimeoutminutes": 10,
            "cb_enablesystemnotification": true,
            "ownerid@odata.bind": team(SeedIds::default_team()),
        })),
        setup,
    )?;
    store.create(
        "cb_configurations",
        Some(SeedIds::sms_config()),
        &obj(json!({
            "cb_name": "SMS", "cb_channel": 2,
            "cb_defaultteam@odata.bind": team(SeedIds::default_team()),
            "cb_idletimeoutminutes": 10, "cb_requesttimeoutminutes": 15,
            "cb_enablesystemnotification": true,
            "ownerid@odata.bind": team(SeedIds::default_team()),
        })),
        setup,
    )?;

    // (n, name, number, channel, owner, accepted minutes ago, configuration)
    let whatsapp = format!("/cb_configurations({})", SeedIds::whatsapp_config());
    let sms = format!("/cb_configurations({})", SeedIds::sms_config());
    let sessions = [
        (
            1,
            "Maria Garcia",
            "+14155550101",
            1,
            team(SeedIds::default_team()),
            None,
            &whatsapp,
        ),
        (
            2,
            "Tom Becker",
            "+4915155500102",
            1,
            user(SeedIds::demo_agent()),
            Some(40),
            &whatsapp,
        ),
        (
            3,
            "Priya Nair",
            "+447700900103",
            2,
            team(SeedIds::default_team()),
            None,
            &sms,
        ),
        (
            4,
            "Chen Wei",
            "+8613800000104",
            1,
            user(SeedIds::alex()),
            Some(90),
            &whatsapp,
        ),
        (
            5,
            "Lena Fischer",
            "+14155550105",
            2,
            user(SeedIds::sam()),
            Some(300),
            &sms,
        ),
    ];
    for (n, name, number, channel, owner, accepted, cfg) in &sessions {
        let mut body = json!({
            "cb_name": name, "cb_customernumber": number, "cb_channel": channel,
            "cb_configuration@odata.bind": cfg,
            "ownerid@odata.bind": owner,
        });
        if let Some(m) = accepted {
            body["cb_acceptedon"] =
                json!(crate::clock::format_ts(now - chrono::Duration::minutes(*m)));
            body["cb_firstcontact"] = json!(false);
        }
        store.create(
            "cb_chatsessions",
            Some(SeedIds::session(*n)),
            &obj(body),
            at(accepted.unwrap_or(30) + 5),
        )?;
    }
    let mut count = 0;
    let mut msg = |store: &mut OrgData, n: u32, dir: i64, text: &str, ctx: WriteCtx| {
        count += 1;
        store
            .create(
                "cb_chatmessages",
                Some(seed_id(&format!("message/{count}"))),
                &obj(json!({
                    "cb_chatsession@odata.bind": format!("/cb_chatsessions({})", SeedIds::session(n)),
                    "cb_direction": dir, "cb_body": text,
                })),
                ctx,
            )
            .map(|_| ())
    };
    let agent_at = |agent: Uuid, minutes_ago: i64| WriteCtx {
        actor: agent,
        now: now - chrono::Duration::minutes(minutes_ago),
    };
    msg(
        store,
        5,
        1,
        "Hi, I need to change my delivery address.",
        at(310),
    )?;
    msg(
        store,
        5,
        2,
        "Done! Anything else?",
        agent_at(SeedIds::sam(), 295),
    )?;
    msg(store, 4, 1, "Is my order #4471 shipped yet?", at(95))?;
    msg(
        store,
        4,
        2,
        "Let me check that for you.",
        agent_at(SeedIds::alex(), 88),
    )?;
    msg(store, 4, 1, "Thanks, I'll wait.", at(80))?;
    msg(store, 2, 1, "Hello, my parcel arrived damaged.", at(45))?;
    msg(
        store,
        2,
        2,
        "Sorry to hear that! Could you send a photo?",
        agent_at(SeedIds::demo_agent(), 38),
    )?;
    msg(store, 2, 1, "Sure, here it is.", at(6))?;
    msg(store, 3, 1, "Do you open on Sundays?", at(12))?;
    msg(store, 1, 1, "Hi!", at(4))?;
    msg(store, 1, 1, "Can someone help me with a refund?", at(3))?;
    // Session 5 is closed after its conversation.
    store.update(
        "cb_chatsessions",
        SeedIds::session(5),
        &obj(json!({"statecode": 1, "statuscode": 2})),
        agent_at(SeedIds::sam(), 290),
    )?;
    store.create(
        "cb_chatrequests",
        Some(SeedIds::discuss_request()),
        &obj(json!({
            "cb_kind": 2,
            "cb_chatsession@odata.bind": format!("/cb_chatsessions({})", SeedIds::session(4)),
            "cb_requestedby@odata.bind": user(SeedIds::alex()),
            "cb_requestedto@odata.bind": user(SeedIds::demo_agent()),
            "cb_reason": "Customer asks about a refund policy you know well.",
            "ownerid@odata.bind": user(SeedIds::alex()),
        })),
        agent_at(SeedIds::alex(), 2),
    )?;
    Ok(())
}
