//! The org checked before the first shift, with the agent's own sign-in: every
//! mapped table and column exists with the expected type and choice values, the
//! agent may read and write what ChatBell reads and writes, the org's clock
//! agrees with the desktop's, and the request budget the polling spends.
//!
//! Each failed check names the table, column or privilege, the configuration
//! key where the mapping says it, and what to do.

use crate::client::{Dataverse, DataverseError};
use crate::inspect::shape;
use crate::org::{self, EntityDef};
use crate::schema::{Schema, Table};
use chatbell_core::Ts;
use std::time::Duration;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub ok: bool,
    /// What was checked (`table cb_chatsession`, `privileges`, `clock`).
    pub check: String,
    pub detail: String,
}

impl Finding {
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            ok: true,
            check: check.into(),
            detail: detail.into(),
        }
    }
    fn fail(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            ok: false,
            check: check.into(),
            detail: detail.into(),
        }
    }
}

/// How far the desktop's clock may be off the org's before it is reported:
/// idle offers and request expiry are minutes long.
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(60);

/// Power Platform's daily request allowance per licensed user (Dynamics 365
/// Enterprise and Professional; Team Member and per-app licences have 6,000):
/// learn.microsoft.com, power-platform/admin/api-request-limits-allocations.
pub const DAILY_ALLOWANCE: u64 = 40_000;
/// The allowance of Team Member and per-app licences.
pub const DAILY_ALLOWANCE_SMALL: u64 = 6_000;

/// What ChatBell does with each table, and so the privileges it needs.
const NEEDS: &[(Table, &str, &str)] = &[
    (Table::SystemUser, "Read", "read agents' names"),
    (Table::Team, "Read", "know your teams' queues"),
    (Table::Configuration, "Read", "read the channels' settings"),
    (Table::Session, "Read", "see the chats"),
    (Table::Session, "Write", "close a chat as blocked"),
    (
        Table::Session,
        "Assign",
        "take a chat for you (Accept, Assign to me)",
    ),
    (Table::Message, "Read", "see new messages"),
    (Table::Request, "Read", "see assign and discuss requests"),
    (Table::Request, "Write", "answer and withdraw requests"),
    (Table::Blocked, "Read", "know blocked numbers"),
    (Table::Blocked, "Create", "block a number"),
];

/// Runs every check. `now` is the desktop's clock; `spent` the requests
/// ChatBell made over how long, if it has been running.
pub async fn check(
    dv: &Dataverse,
    schema: &Schema,
    now: Ts,
    spent: Option<(u64, Duration)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let me = match dv.org_time().await {
        Ok((date, who)) => {
            out.push(clock(date, now));
            who.user_id
        }
        Err(e) => {
            out.push(Finding::fail("sign-in", format!("WhoAmI failed: {e}")));
            return out;
        }
    };
    let mut defs: Vec<(Table, EntityDef)> = Vec::new();
    for table in Table::ALL {
        match table_check(dv, schema, table).await {
            Ok((finding, def)) => {
                out.push(finding);
                if let Some(d) = def {
                    defs.push((table, d));
                }
            }
            Err(e) => out.push(Finding::fail(
                format!("table {}", table.reference_name()),
                format!("its definition could not be read: {e}"),
            )),
        }
    }
    out.push(privileges(dv, me, schema, &defs).await);
    out.push(budget(spent));
    out
}

fn clock(date: Option<Ts>, now: Ts) -> Finding {
    match date {
        None => Finding::ok("clock", "Dynamics sent no date to compare with"),
        Some(org) => match clock_note(now.0 - org.0) {
            None => Finding::ok(
                "clock",
                format!(
                    "this desktop's clock agrees with Dynamics' (within {} s)",
                    CLOCK_TOLERANCE.as_secs()
                ),
            ),
            Some(note) => Finding::fail("clock", note),
        },
    }
}

/// What to tell the agent (the org check, the panel, `status`) of a desktop
/// clock `off_ms` milliseconds off Dynamics' (positive: ahead); `None` within
/// [`CLOCK_TOLERANCE`] (an HTTP date has whole seconds: one more is allowed).
pub fn clock_note(off_ms: i64) -> Option<String> {
    let off = Duration::from_millis(off_ms.unsigned_abs());
    if off <= CLOCK_TOLERANCE + Duration::from_secs(1) {
        return None;
    }
    let secs = off.as_secs();
    let how_far = match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", (secs + 30) / 60),
        7_200..=172_799 => format!("{} h", (secs + 1_800) / 3_600),
        _ => format!("{} days", (secs + 43_200) / 86_400),
    };
    Some(format!(
        "This desktop's clock is {how_far} {} Dynamics'. ChatBell keeps Dynamics' time for idle offers and request expiry, but the times other programs show are off: turn on automatic time (NTP) on this desktop.",
        if off_ms > 0 { "ahead of" } else { "behind" }
    ))
}

/// One mapped table: it exists under its logical name and entity set, and each
/// column ChatBell uses exists with its type, navigation property and values.
async fn table_check(
    dv: &Dataverse,
    schema: &Schema,
    table: Table,
) -> Result<(Finding, Option<EntityDef>), DataverseError> {
    let key = format!("schema.{}", table.reference_name());
    let check = format!("table {}", table.reference_name());
    let logical = schema.logical(table);
    let Some(mut def) = org::read_entity(dv, logical).await? else {
        return Ok((
            Finding::fail(
                check,
                format!("the org has no table {logical} ({key}.name): run `chatbell org inspect` to find the add-on's tables"),
            ),
            None,
        ));
    };
    org::read_details(dv, &mut def).await?;
    let mut problems = Vec::new();
    if def.set != schema.set(table) {
        problems.push(format!(
            "its entity set is {}, not {} ({key}.entity_set)",
            def.set,
            schema.set(table)
        ));
    }
    for column in table.reference_columns().iter().skip(1) {
        let name = schema.col(table, column);
        let Some(attr) = def.attr(name) else {
            problems.push(format!("it has no column {name} ({key}.columns.{column})"));
            continue;
        };
        if let Some(s) = shape(table, column) {
            if !s.kinds.contains(&attr.kind.as_str()) {
                problems.push(format!(
                    "its column {name} is a {}, where ChatBell needs a {} ({key}.columns.{column})",
                    attr.kind,
                    s.kinds.join(" or ")
                ));
            }
        }
        if table.lookups().contains(column) {
            let nav = schema.nav(table, column);
            if let Some(actual) = def.nav(name) {
                if actual != nav {
                    problems.push(format!(
                        "the navigation property of {name} is {actual}, not {nav} ({key}.navigation.{column})"
                    ));
                }
            }
        }
    }
    for choice in table.choices() {
        let name = schema.col(table, choice.column);
        let Some(attr) = def.attr(name) else {
            continue;
        };
        for (meaning, _) in choice.meanings {
            let v = schema.value(table, choice.column, meaning);
            if !attr.options.iter().any(|(o, _)| *o == v) {
                let values = attr
                    .options
                    .iter()
                    .map(|(v, l)| format!("{v} {l}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                problems.push(format!(
                    "{name} has no value {v} for {meaning} ({key}.choices.{}.{meaning}; its values: {values})",
                    choice.column
                ));
            }
        }
    }
    let finding = if problems.is_empty() {
        Finding::ok(
            check,
            format!(
                "{} ({}): every column ChatBell uses is there",
                def.logical, def.set
            ),
        )
    } else {
        Finding::fail(check, format!("{}: {}", def.logical, problems.join("; ")))
    };
    Ok((finding, Some(def)))
}

/// The privileges ChatBell's reads and writes need, from the agent's roles.
async fn privileges(
    dv: &Dataverse,
    me: uuid::Uuid,
    schema: &Schema,
    defs: &[(Table, EntityDef)],
) -> Finding {
    let held = match org::read_privileges(dv, me).await {
        Ok(p) => p,
        Err(e) => {
            return Finding::fail(
                "privileges",
                format!("your privileges could not be read (RetrieveUserPrivileges): {e}"),
            )
        }
    };
    let mut missing = Vec::new();
    for (table, verb, why) in NEEDS {
        let schema_name = defs
            .iter()
            .find(|(t, _)| t == table)
            .map_or(schema.logical(*table), |(_, d)| d.schema_name.as_str());
        let name = format!("prv{verb}{schema_name}");
        if !held.iter().any(|h| h.eq_ignore_ascii_case(&name)) {
            missing.push(format!(
                "{name} (to {why}: add {verb} on {} to your security role)",
                schema.logical(*table)
            ));
        }
    }
    if missing.is_empty() {
        Finding::ok(
            "privileges",
            format!("your security roles allow everything ChatBell reads and writes ({} privileges checked)", NEEDS.len()),
        )
    } else {
        Finding::fail(
            "privileges",
            format!(
                "missing {}. Ask your Dynamics administrator",
                missing.join("; ")
            ),
        )
    }
}

/// The requests ChatBell's polling spends, against the daily allowance.
pub fn budget(spent: Option<(u64, Duration)>) -> Finding {
    match spent {
        Some((requests, over)) if over >= Duration::from_secs(600) => {
            let per_hour = requests as f64 * 3600.0 / over.as_secs_f64();
            let shift = (per_hour * 8.0).round() as u64;
            let day = (per_hour * 24.0).round() as u64;
            let detail = format!(
                "{requests} requests in {} min: about {shift} in an 8-hour shift, {day} if left running all day (allowance per user and day: {DAILY_ALLOWANCE}, {DAILY_ALLOWANCE_SMALL} on Team Member and per-app licences)",
                over.as_secs() / 60
            );
            if shift > DAILY_ALLOWANCE_SMALL {
                Finding::fail(
                    "request budget",
                    format!("{detail}: over the allowance of Team Member and per-app licences in one shift (within it on Enterprise and Professional licences)"),
                )
            } else {
                Finding::ok("request budget", detail)
            }
        }
        _ => Finding::ok(
            "request budget",
            format!(
                "not measured yet (ChatBell has run under 10 minutes); allowance per user and day: {DAILY_ALLOWANCE}, {DAILY_ALLOWANCE_SMALL} on Team Member and per-app licences"
            ),
        ),
    }
}
