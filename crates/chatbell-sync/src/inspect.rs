//! Discovery: finds the add-on's tables in an org by their shape, and proposes
//! the mapping ([`Mapping`]) that ChatBell needs to run there.
//!
//! The org's custom tables are read from `EntityDefinitions` ([`crate::org`]).
//! Each of ChatBell's tables is looked for in dependency order
//! (configuration, chat, message, request, blocked number): a table fits when
//! every column ChatBell uses has a column of the right type there (a lookup
//! pointing to the right table; a choice whose labels carry the meanings), and
//! the best fit wins, its columns chosen by type, then by name ([`SHAPES`]),
//! then by the choice's labels. What cannot be told apart (two tables or two
//! columns that fit equally) is left out of the mapping and listed, for the
//! administrator to decide.

use crate::client::{Dataverse, DataverseError};
use crate::org::{self, AttrDef, EntityDef};
use crate::schema::{Mapping, Table, TableMapping, CHOICES};
use std::collections::BTreeMap;

/// What a column of ChatBell's tables looks like in any org.
#[derive(Debug)]
pub struct ColumnShape {
    /// The reference column.
    pub column: &'static str,
    /// Its `AttributeType`s.
    pub kinds: &'static [&'static str],
    /// For a lookup: the table it points to.
    pub target: Option<Table>,
    /// Words its name is likely to hold (without the publisher prefix).
    pub words: &'static [&'static str],
    /// Whether it is the table's primary name column in the reference schema.
    pub primary: bool,
}

/// What one of ChatBell's tables looks like in any org.
#[derive(Debug)]
pub struct TableShape {
    pub table: Table,
    /// Words its name is likely to hold.
    pub words: &'static [&'static str],
    /// Its add-on columns (the key, owner, status and Dataverse's own columns
    /// are not looked for: every table has them).
    pub columns: &'static [ColumnShape],
}

const fn c(
    column: &'static str,
    kinds: &'static [&'static str],
    words: &'static [&'static str],
) -> ColumnShape {
    ColumnShape {
        column,
        kinds,
        target: None,
        words,
        primary: false,
    }
}

const fn primary(column: &'static str, words: &'static [&'static str]) -> ColumnShape {
    ColumnShape {
        column,
        kinds: TEXT,
        target: None,
        words,
        primary: true,
    }
}

const fn lookup(
    column: &'static str,
    target: Table,
    words: &'static [&'static str],
) -> ColumnShape {
    ColumnShape {
        column,
        kinds: &["Lookup"],
        target: Some(target),
        words,
        primary: false,
    }
}

const TEXT: &[&str] = &["String", "Memo"];
const CHOICE: &[&str] = &["Picklist"];
const WHEN: &[&str] = &["DateTime"];
const WHOLE: &[&str] = &["Integer"];
const YESNO: &[&str] = &["Boolean"];
const CHANNEL_WORDS: &[&str] = &["channel", "medium", "source"];

/// ChatBell's tables as discovery looks for them, in the order it does.
pub const SHAPES: &[TableShape] = &[
    TableShape {
        table: Table::Configuration,
        words: &["configuration", "config", "setup", "setting", "channel"],
        columns: &[
            primary("cb_name", &["name", "label", "title"]),
            c("cb_channel", CHOICE, CHANNEL_WORDS),
            lookup(
                "cb_defaultteam",
                Table::Team,
                &["default", "fallback", "overflow"],
            ),
            lookup(
                "cb_assignedteam",
                Table::Team,
                &["assigned", "agent", "routing", "owner"],
            ),
            c("cb_idletimeoutminutes", WHOLE, &["idle"]),
            c(
                "cb_requesttimeoutminutes",
                WHOLE,
                &["request", "handover", "transfer"],
            ),
            c(
                "cb_enablesystemnotification",
                YESNO,
                &["notification", "notify", "alert", "desktop", "toast"],
            ),
        ],
    },
    TableShape {
        table: Table::Session,
        words: &["session", "conversation", "chat"],
        columns: &[
            primary("cb_name", &["name", "title", "subject", "topic"]),
            c(
                "cb_customernumber",
                TEXT,
                &["number", "phone", "mobile", "msisdn", "customer"],
            ),
            c("cb_channel", CHOICE, CHANNEL_WORDS),
            lookup(
                "cb_configuration",
                Table::Configuration,
                &["configuration", "config", "setup"],
            ),
            c(
                "cb_acceptedon",
                WHEN,
                &["accepted", "accept", "pickedup", "pickup", "taken"],
            ),
            c("cb_firstcontact", YESNO, &["firstcontact", "first", "new"]),
            c(
                "cb_lastcustomermessageon",
                WHEN,
                &[
                    "lastcustomer",
                    "customermessage",
                    "inbound",
                    "incoming",
                    "customer",
                ],
            ),
            c(
                "cb_lastagentmessageon",
                WHEN,
                &[
                    "lastagent",
                    "agentmessage",
                    "outbound",
                    "outgoing",
                    "agent",
                    "reply",
                ],
            ),
            c(
                "cb_lastmessagepreview",
                TEXT,
                &["preview", "lastmessage", "snippet", "message", "text"],
            ),
            c("cb_unreadcount", WHOLE, &["unread", "count"]),
            c("cb_callstate", CHOICE, &["callstate", "callstatus", "call"]),
            c(
                "cb_callstartedon",
                WHEN,
                &["callstart", "callbegan", "callbegin", "call"],
            ),
        ],
    },
    TableShape {
        table: Table::Message,
        words: &["message"],
        columns: &[
            lookup(
                "cb_chatsession",
                Table::Session,
                &["session", "conversation", "chat"],
            ),
            c(
                "cb_direction",
                CHOICE,
                &["direction", "flow", "inbound", "outbound"],
            ),
            ColumnShape {
                column: "cb_body",
                kinds: TEXT,
                target: None,
                words: &["body", "text", "content", "message"],
                primary: true,
            },
        ],
    },
    TableShape {
        table: Table::Request,
        words: &["request", "handover", "transfer"],
        columns: &[
            c("cb_kind", CHOICE, &["kind", "type", "category"]),
            lookup(
                "cb_chatsession",
                Table::Session,
                &["session", "conversation", "chat"],
            ),
            lookup(
                "cb_requestedby",
                Table::SystemUser,
                &["requestedby", "by", "from", "requester", "sender"],
            ),
            lookup(
                "cb_requestedto",
                Table::SystemUser,
                &["requestedto", "to", "target", "recipient", "assignee"],
            ),
            ColumnShape {
                column: "cb_reason",
                kinds: TEXT,
                target: None,
                words: &["reason", "note", "comment", "message"],
                primary: true,
            },
            c(
                "cb_expireson",
                WHEN,
                &["expireson", "expire", "validuntil", "until", "deadline"],
            ),
        ],
    },
    TableShape {
        table: Table::Blocked,
        words: &["blocked", "block", "blocklist", "ban", "spam"],
        columns: &[
            ColumnShape {
                column: "cb_number",
                kinds: TEXT,
                target: None,
                words: &["number", "phone", "mobile"],
                primary: true,
            },
            c("cb_channel", CHOICE, CHANNEL_WORDS),
        ],
    },
];

/// The words a choice's label holds for each meaning of [`CHOICES`].
const LABELS: &[(&str, &str, &[&str])] = &[
    ("cb_channel", "whatsapp", &["whatsapp"]),
    ("cb_channel", "sms", &["sms", "text"]),
    ("cb_callstate", "none", &["none", "no call", "idle"]),
    ("cb_callstate", "ringing", &["ring"]),
    (
        "cb_callstate",
        "in_call",
        &["in call", "connected", "talking", "active"],
    ),
    ("statuscode", "open", &["open", "active"]),
    ("statuscode", "closed", &["closed", "resolved", "ended"]),
    ("statuscode", "blocked", &["block", "spam"]),
    (
        "cb_direction",
        "from_customer",
        &["customer", "inbound", "incoming", "received"],
    ),
    (
        "cb_direction",
        "from_agent",
        &["agent", "outbound", "outgoing", "sent"],
    ),
    ("cb_kind", "assign", &["assign", "transfer", "handover"]),
    ("cb_kind", "discuss", &["discuss", "consult"]),
    ("statuscode", "pending", &["pending", "waiting", "open"]),
    ("statuscode", "accepted", &["accept"]),
    ("statuscode", "rejected", &["reject", "decline"]),
    ("statuscode", "withdrawn", &["withdr", "cancel"]),
    ("statuscode", "expired", &["expir", "timed out"]),
];

/// The shape of one of ChatBell's columns, for the org check.
pub fn shape(table: Table, column: &str) -> Option<&'static ColumnShape> {
    SHAPES
        .iter()
        .find(|s| s.table == table)?
        .columns
        .iter()
        .find(|c| c.column == column)
}

/// What discovery proposes.
#[derive(Debug, Clone, Default)]
pub struct Proposal {
    /// The mapping, as far as it could be decided.
    pub mapping: Mapping,
    /// ChatBell's tables found, with the org's table.
    pub found: Vec<(Table, String)>,
    /// What the administrator must decide, each with its configuration key.
    pub undecided: Vec<String>,
}

impl Proposal {
    /// The proposal as the configuration takes it, what is undecided as
    /// comments at the top.
    pub fn to_toml(&self, org: &str) -> String {
        let mut out = format!(
            "# ChatBell's mapping for {org}, proposed by `chatbell org inspect`.\n\
             # Review it, then put it in the system configuration (/etc/chatbell/config.toml)\n\
             # and check a desktop with `chatbell doctor`.\n"
        );
        for (t, name) in &self.found {
            out.push_str(&format!("# {} is {name}\n", t.reference_name()));
        }
        if self.undecided.is_empty() {
            out.push_str("# Everything was decided.\n");
        } else {
            out.push_str("#\n# To decide (left out below):\n");
            for u in &self.undecided {
                out.push_str(&format!("#   {u}\n"));
            }
        }
        out.push('\n');
        out.push_str(&self.mapping.to_toml());
        out
    }
}

/// Reads the org's custom tables and proposes a mapping.
pub async fn inspect(dv: &Dataverse) -> Result<Proposal, DataverseError> {
    let mut entities = org::read_entities(dv, Some("IsCustomEntity eq true")).await?;
    for e in &mut entities {
        // Only tables that could be one of ChatBell's: a lookup, or a choice.
        if e.attrs
            .iter()
            .any(|a| matches!(a.kind.as_str(), "Lookup" | "Picklist"))
        {
            org::read_details(dv, e).await?;
        }
    }
    Ok(propose(&entities))
}

/// Proposes a mapping for an org with these custom tables (with their
/// details, [`org::read_details`]).
pub fn propose(entities: &[EntityDef]) -> Proposal {
    let mut p = Proposal::default();
    let mut assigned: BTreeMap<Table, &EntityDef> = BTreeMap::new();
    for shape in SHAPES {
        let mut fits: Vec<(u32, &EntityDef, Fit)> = entities
            .iter()
            .filter(|e| !assigned.values().any(|a| a.logical == e.logical))
            .filter_map(|e| {
                let fit = fit(shape, e, &assigned)?;
                let score = fit.score + 4 * name_score(&e.logical, shape.words);
                Some((score, e, fit))
            })
            .collect();
        fits.sort_by_key(|f| std::cmp::Reverse(f.0));
        let table = shape.table.reference_name();
        match fits.as_slice() {
            [] => p.undecided.push(format!(
                "schema.{table}: no table of this org has the columns it needs"
            )),
            [(s1, e1, _), (s2, e2, _), ..] if s1 == s2 => p.undecided.push(format!(
                "schema.{table}: {} or {}? (both fit as well)",
                e1.logical, e2.logical
            )),
            [(_, e, fit), ..] => {
                assigned.insert(shape.table, e);
                p.found.push((shape.table, e.logical.clone()));
                let mut m = TableMapping {
                    name: Some(e.logical.clone()),
                    entity_set: Some(e.set.clone()),
                    ..TableMapping::default()
                };
                for (column, attr) in &fit.columns {
                    if *column != attr.as_str() {
                        m.columns.insert((*column).to_string(), attr.clone());
                    }
                    if let Some(nav) = e.nav(attr) {
                        if nav != attr {
                            m.navigation.insert((*column).to_string(), nav.to_string());
                        }
                    }
                }
                for u in &fit.undecided {
                    p.undecided.push(format!("schema.{table}.columns.{u}"));
                }
                choices(shape.table, e, &fit.columns, &mut m, &mut p.undecided);
                p.mapping.0.insert(table.to_string(), m);
            }
        }
    }
    p
}

/// How a table fits a shape: its columns, and what could not be told apart.
struct Fit {
    score: u32,
    columns: Vec<(&'static str, String)>,
    undecided: Vec<String>,
}

/// How well `e` fits `shape`; `None` when a column has no candidate at all.
fn fit(shape: &TableShape, e: &EntityDef, assigned: &BTreeMap<Table, &EntityDef>) -> Option<Fit> {
    let mut used: Vec<&str> = Vec::new();
    let mut out = Fit {
        score: 0,
        columns: Vec::new(),
        undecided: Vec::new(),
    };
    for col in shape.columns {
        let target = match col.target {
            None => None,
            Some(Table::SystemUser) => Some("systemuser"),
            Some(Table::Team) => Some("team"),
            Some(t) => Some(assigned.get(&t)?.logical.as_str()),
        };
        let mut candidates: Vec<(u32, &AttrDef)> = e
            .attrs
            .iter()
            .filter(|a| col.kinds.contains(&a.kind.as_str()) && !used.contains(&a.logical.as_str()))
            .filter(|a| target.is_none_or(|t| e.targets(&a.logical).contains(&t)))
            .filter(|a| !is_system(&a.logical))
            .map(|a| {
                let mut s = name_score(&a.logical, col.words);
                if col.primary && a.logical == e.primary_name {
                    s += 3;
                }
                s += labels_score(col.column, a);
                (s, a)
            })
            .collect();
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        match candidates.as_slice() {
            [] => return None,
            [(s, a)] => {
                out.score += 1 + s;
                used.push(&a.logical);
                out.columns.push((col.column, a.logical.clone()));
            }
            [(s1, a1), (s2, a2), ..] if s1 == s2 => {
                out.score += 1;
                out.undecided.push(format!(
                    "{}: {} or {}? (both fit as well)",
                    col.column, a1.logical, a2.logical
                ));
            }
            [(s, a), ..] => {
                out.score += 1 + s;
                used.push(&a.logical);
                out.columns.push((col.column, a.logical.clone()));
            }
        }
    }
    Some(out)
}

/// Dataverse's own columns, which no add-on column is.
fn is_system(logical: &str) -> bool {
    matches!(
        logical,
        "createdon"
            | "modifiedon"
            | "overriddencreatedon"
            | "createdby"
            | "modifiedby"
            | "ownerid"
            | "owninguser"
            | "owningteam"
            | "owningbusinessunit"
            | "statecode"
            | "statuscode"
            | "versionnumber"
            | "importsequencenumber"
            | "timezoneruleversionnumber"
            | "utcconversiontimezonecode"
    )
}

/// How well a name holds one of `words`: 3 when it is the word (after the
/// publisher prefix), 2 when it starts or ends with it, 1 when it holds a word
/// of four letters or more.
fn name_score(logical: &str, words: &[&str]) -> u32 {
    let name = logical.to_ascii_lowercase();
    let bare = name.split_once('_').map_or(name.as_str(), |(_, b)| b);
    words
        .iter()
        .map(|w| {
            if bare == *w {
                3
            } else if bare.starts_with(w) || bare.ends_with(w) {
                2
            } else if w.len() >= 4 && bare.contains(w) {
                1
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
}

/// For a choice: 2 for each meaning a label of its carries.
fn labels_score(column: &str, a: &AttrDef) -> u32 {
    LABELS
        .iter()
        .filter(|(c, _, _)| *c == column)
        .filter(|(_, _, words)| a.options.iter().any(|(_, l)| label_has(l, words)))
        .count() as u32
        * 2
}

fn label_has(label: &str, words: &[&str]) -> bool {
    let l = label.to_ascii_lowercase();
    words.iter().any(|w| l.contains(w))
}

/// Maps each choice column's meanings to the org's values by their labels.
fn choices(
    table: Table,
    e: &EntityDef,
    columns: &[(&'static str, String)],
    m: &mut TableMapping,
    undecided: &mut Vec<String>,
) {
    for choice in CHOICES.iter().filter(|c| c.table == table) {
        let attr_name = match choice.column {
            "statuscode" => "statuscode".to_string(),
            col => match columns.iter().find(|(c, _)| *c == col) {
                Some((_, a)) => a.clone(),
                None => continue,
            },
        };
        let Some(attr) = e.attr(&attr_name) else {
            continue;
        };
        let mut values = BTreeMap::new();
        let mut differs = false;
        for (meaning, reference) in choice.meanings {
            let words = LABELS
                .iter()
                .find(|(c, m, _)| *c == choice.column && m == meaning)
                .map_or(&[][..], |(_, _, w)| *w);
            let hits: Vec<i64> = attr
                .options
                .iter()
                .filter(|(v, l)| label_has(l, words) && !values.values().any(|x| x == v))
                .map(|(v, _)| *v)
                .collect();
            match hits.as_slice() {
                [v] => {
                    differs |= v != reference;
                    values.insert((*meaning).to_string(), *v);
                }
                [] => undecided.push(format!(
                    "schema.{}.choices.{}.{meaning}: no value of {}.{attr_name} is labelled so (its values: {})",
                    table.reference_name(),
                    choice.column,
                    e.logical,
                    options_list(attr)
                )),
                _ => undecided.push(format!(
                    "schema.{}.choices.{}.{meaning}: {} values of {}.{attr_name} could be it ({})",
                    table.reference_name(),
                    choice.column,
                    hits.len(),
                    e.logical,
                    options_list(attr)
                )),
            }
        }
        if differs && values.len() == choice.meanings.len() {
            m.choices.insert(choice.column.to_string(), values);
        }
    }
}

fn options_list(a: &AttrDef) -> String {
    a.options
        .iter()
        .map(|(v, l)| format!("{v} {l}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_scored_without_the_publisher_prefix() {
        assert_eq!(name_score("cts_title", &["title"]), 3);
        assert_eq!(name_score("cts_customerphone", &["phone"]), 2);
        assert_eq!(name_score("cts_lastinboundon", &["inbound"]), 1);
        assert_eq!(name_score("cts_customer", &["to"]), 0);
        assert_eq!(name_score("cts_toagent", &["to"]), 2);
    }

    #[test]
    fn every_shape_column_is_a_reference_column_and_every_choice_has_labels() {
        for s in SHAPES {
            for c in s.columns {
                assert!(
                    s.table.reference_columns().contains(&c.column),
                    "{}",
                    c.column
                );
            }
        }
        for c in CHOICES {
            for (m, _) in c.meanings {
                assert!(
                    LABELS
                        .iter()
                        .any(|(col, meaning, _)| *col == c.column && meaning == m),
                    "{}.{m}",
                    c.column
                );
            }
        }
    }
}
