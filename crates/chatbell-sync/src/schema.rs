//! The reference schema of `docs/architecture.md`, and the mapping that lets an
//! org whose add-on names its tables or columns differently use ChatBell unchanged.
//!
//! Everything in ChatBell speaks of the reference names (`cb_chatsession`,
//! `cb_lastmessagepreview`, ...); [`Schema`] turns them into the org's names at the
//! edge, when a query is written or a row is read.
//!
//! A mapping, as it sits in ChatBell's configuration file:
//!
//! ```toml
//! [schema.cb_chatsession]
//! name = "new_whatsappsession"           # the table's logical name
//! entity_set = "new_whatsappsessions"    # its entity set (default: name + "s")
//! columns = { cb_name = "new_name", cb_configuration = "new_config" }
//! navigation = { cb_configuration = "new_Config" }   # lookups' navigation properties
//! choices.statuscode = { open = 1, closed = 2, blocked = 100000000 }
//! ```
//!
//! Lookup columns are mapped by their logical name (`cb_configuration`, not
//! `_cb_configuration_value`): ChatBell derives `_x_value` to read them, and sets
//! them with `nav@odata.bind`, where `nav` is the lookup's navigation property
//! (in a real org its case-sensitive schema name; by default the column's name).
//!
//! A choice column maps each meaning ChatBell relies on ([`CHOICES`]) to the
//! org's value; a choice column that is mapped at all must map every meaning.
//! `statecode` is Dataverse's own (0 active, 1 inactive) and is not mapped.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The tables ChatBell reads and writes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Table {
    SystemUser,
    Team,
    Configuration,
    Session,
    Message,
    Request,
    Blocked,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::SystemUser,
        Table::Team,
        Table::Configuration,
        Table::Session,
        Table::Message,
        Table::Request,
        Table::Blocked,
    ];

    /// The reference logical name.
    pub fn reference_name(self) -> &'static str {
        match self {
            Table::SystemUser => "systemuser",
            Table::Team => "team",
            Table::Configuration => "cb_configuration",
            Table::Session => "cb_chatsession",
            Table::Message => "cb_chatmessage",
            Table::Request => "cb_chatrequest",
            Table::Blocked => "cb_blockednumber",
        }
    }

    /// The reference columns ChatBell uses, primary key first. Lookups are listed
    /// by their logical name; see [`Table::lookups`].
    pub fn reference_columns(self) -> &'static [&'static str] {
        match self {
            Table::SystemUser => &["systemuserid", "fullname", "internalemailaddress"],
            Table::Team => &["teamid", "name"],
            Table::Configuration => &[
                "cb_configurationid",
                "cb_name",
                "cb_channel",
                "cb_defaultteam",
                "cb_assignedteam",
                "cb_idletimeoutminutes",
                "cb_requesttimeoutminutes",
                "cb_enablesystemnotification",
            ],
            Table::Session => &[
                "cb_chatsessionid",
                "cb_name",
                "cb_customernumber",
                "cb_channel",
                "cb_configuration",
                "ownerid",
                "cb_acceptedon",
                "cb_firstcontact",
                "cb_lastcustomermessageon",
                "cb_lastagentmessageon",
                "cb_lastmessagepreview",
                "cb_unreadcount",
                "cb_callstate",
                "cb_callstartedon",
                "statecode",
                "statuscode",
            ],
            Table::Message => &[
                "cb_chatmessageid",
                "cb_chatsession",
                "cb_direction",
                "cb_body",
                "createdby",
            ],
            Table::Request => &[
                "cb_chatrequestid",
                "cb_kind",
                "cb_chatsession",
                "cb_requestedby",
                "cb_requestedto",
                "statuscode",
                "cb_reason",
                "cb_expireson",
            ],
            Table::Blocked => &["cb_blockednumberid", "cb_number", "cb_channel"],
        }
    }

    /// Which of [`Table::reference_columns`] are lookups.
    pub fn lookups(self) -> &'static [&'static str] {
        match self {
            Table::Configuration => &["cb_defaultteam", "cb_assignedteam"],
            Table::Session => &["cb_configuration", "ownerid"],
            Table::Message => &["cb_chatsession", "createdby"],
            Table::Request => &["cb_chatsession", "cb_requestedby", "cb_requestedto"],
            _ => &[],
        }
    }

    /// The choice columns of this table that ChatBell reads or writes.
    pub fn choices(self) -> impl Iterator<Item = &'static Choice> {
        CHOICES.iter().filter(move |c| c.table == self)
    }

    /// The reference table with this logical name.
    pub fn from_reference_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.reference_name() == name)
    }
}

/// A choice (option set) column ChatBell relies on, and what its values mean.
#[derive(Debug)]
pub struct Choice {
    pub table: Table,
    /// The reference column.
    pub column: &'static str,
    /// Each meaning ChatBell relies on, with its value in the reference schema.
    pub meanings: &'static [(&'static str, i64)],
}

const CHANNEL: &[(&str, i64)] = &[("whatsapp", 1), ("sms", 2)];

/// Every choice column ChatBell reads or writes: one definition, read by the
/// mapping, the decoder, the queries, the writer and the org check.
pub const CHOICES: &[Choice] = &[
    Choice {
        table: Table::Configuration,
        column: "cb_channel",
        meanings: CHANNEL,
    },
    Choice {
        table: Table::Session,
        column: "cb_channel",
        meanings: CHANNEL,
    },
    Choice {
        table: Table::Session,
        column: "cb_callstate",
        meanings: &[("none", 0), ("ringing", 1), ("in_call", 2)],
    },
    Choice {
        table: Table::Session,
        column: "statuscode",
        meanings: &[("open", 1), ("closed", 2), ("blocked", 3)],
    },
    Choice {
        table: Table::Message,
        column: "cb_direction",
        meanings: &[("from_customer", 1), ("from_agent", 2)],
    },
    Choice {
        table: Table::Request,
        column: "cb_kind",
        meanings: &[("assign", 1), ("discuss", 2)],
    },
    Choice {
        table: Table::Request,
        column: "statuscode",
        meanings: &[
            ("pending", 1),
            ("accepted", 2),
            ("rejected", 3),
            ("withdrawn", 4),
            ("expired", 5),
        ],
    },
    Choice {
        table: Table::Blocked,
        column: "cb_channel",
        meanings: CHANNEL,
    },
];

impl Choice {
    /// The reference value of a meaning. Panics on a meaning that is not in
    /// [`CHOICES`]: that is a bug in ChatBell, not input.
    pub fn reference_value(&self, meaning: &str) -> i64 {
        match self.meanings.iter().find(|(m, _)| *m == meaning) {
            Some((_, v)) => *v,
            None => panic!(
                "{meaning} is not a meaning of {:?}.{}",
                self.table, self.column
            ),
        }
    }
}

fn choice(table: Table, column: &str) -> Option<&'static Choice> {
    CHOICES
        .iter()
        .find(|c| c.table == table && c.column == column)
}

/// A mapping as written in the configuration file: per reference table, its name,
/// entity set and column names in the org, where they differ.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Mapping(pub BTreeMap<String, TableMapping>);

impl Mapping {
    /// The mapping as the configuration file takes it (`[schema.<table>]`
    /// tables), tables in [`Table::ALL`]'s order, meanings in [`CHOICES`]'.
    pub fn to_toml(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::new();
        for table in Table::ALL {
            let Some(m) = self.0.get(table.reference_name()) else {
                continue;
            };
            out.push_str(&format!("[schema.{}]\n", table.reference_name()));
            if let Some(n) = &m.name {
                out.push_str(&format!("name = {}\n", q(n)));
            }
            if let Some(n) = &m.entity_set {
                out.push_str(&format!("entity_set = {}\n", q(n)));
            }
            let inline = |pairs: Vec<String>| format!("{{ {} }}", pairs.join(", "));
            let ordered = |map: &BTreeMap<String, String>| -> Vec<String> {
                table
                    .reference_columns()
                    .iter()
                    .filter_map(|c| map.get(*c).map(|v| format!("{c} = {}", q(v))))
                    .collect()
            };
            if !m.columns.is_empty() {
                out.push_str(&format!("columns = {}\n", inline(ordered(&m.columns))));
            }
            if !m.navigation.is_empty() {
                out.push_str(&format!(
                    "navigation = {}\n",
                    inline(ordered(&m.navigation))
                ));
            }
            for c in table.choices() {
                if let Some(values) = m.choices.get(c.column) {
                    let pairs = c
                        .meanings
                        .iter()
                        .filter_map(|(meaning, _)| {
                            values.get(*meaning).map(|v| format!("{meaning} = {v}"))
                        })
                        .collect();
                    out.push_str(&format!("choices.{} = {}\n", c.column, inline(pairs)));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// One table's entry of a [`Mapping`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableMapping {
    pub name: Option<String>,
    pub entity_set: Option<String>,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Lookup column (reference name) → the org's navigation property.
    #[serde(default)]
    pub navigation: BTreeMap<String, String>,
    /// Choice column (reference name) → meaning → the org's value.
    #[serde(default)]
    pub choices: BTreeMap<String, BTreeMap<String, i64>>,
}

/// A mapping that names something ChatBell does not know, or a name that is not a
/// Dataverse identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema mapping: unknown table {0:?} (known: systemuser, team, cb_configuration, cb_chatsession, cb_chatmessage, cb_chatrequest, cb_blockednumber)")]
    UnknownTable(String),
    #[error("schema mapping: table {table:?} has no column {column:?} that ChatBell uses")]
    UnknownColumn { table: String, column: String },
    #[error("schema mapping: {what} {name:?} is not a valid Dataverse name (letters, digits and _, not starting with a digit)")]
    BadName { what: &'static str, name: String },
    #[error("schema mapping: table {table:?}: {column:?} is not a lookup, so it has no navigation property")]
    NotALookup { table: String, column: String },
    #[error("schema mapping: table {table:?}: {column:?} is not a choice column ChatBell maps (choices: {known})")]
    NotAChoice {
        table: String,
        column: String,
        known: String,
    },
    #[error("schema mapping: table {table:?}, choices.{column}: {problem}")]
    BadChoice {
        table: String,
        column: String,
        problem: String,
    },
}

/// The org's names for everything ChatBell uses.
#[derive(Clone, Debug)]
pub struct Schema {
    tables: HashMap<Table, TableNames>,
}

#[derive(Clone, Debug)]
struct TableNames {
    logical: String,
    set: String,
    columns: HashMap<&'static str, String>,
    navigation: HashMap<&'static str, String>,
    /// Choice column → (reference value, org value), for mapped columns only.
    values: HashMap<&'static str, Vec<(i64, i64)>>,
}

impl Default for Schema {
    fn default() -> Self {
        Schema::reference()
    }
}

impl Schema {
    /// The reference schema, unmapped.
    pub fn reference() -> Schema {
        let tables = Table::ALL
            .into_iter()
            .map(|t| {
                let columns = t
                    .reference_columns()
                    .iter()
                    .map(|c| (*c, (*c).to_string()))
                    .collect();
                let logical = t.reference_name().to_string();
                let set = format!("{logical}s");
                (
                    t,
                    TableNames {
                        logical,
                        set,
                        columns,
                        navigation: HashMap::new(),
                        values: HashMap::new(),
                    },
                )
            })
            .collect();
        Schema { tables }
    }

    /// The reference schema with `mapping` applied.
    pub fn with_mapping(mapping: &Mapping) -> Result<Schema, SchemaError> {
        let mut schema = Schema::reference();
        for (table_name, m) in &mapping.0 {
            let table = Table::from_reference_name(table_name)
                .ok_or_else(|| SchemaError::UnknownTable(table_name.clone()))?;
            let names = schema
                .tables
                .get_mut(&table)
                .ok_or_else(|| SchemaError::UnknownTable(table_name.clone()))?;
            if let Some(name) = &m.name {
                check_name("table name", name)?;
                names.logical = name.clone();
                names.set = format!("{name}s");
                // The primary key follows the table's name unless mapped itself.
                let key = table.reference_columns()[0];
                names.columns.insert(key, format!("{name}id"));
            }
            if let Some(set) = &m.entity_set {
                check_name("entity set", set)?;
                names.set = set.clone();
            }
            for (column, to) in &m.columns {
                let known = table
                    .reference_columns()
                    .iter()
                    .find(|c| **c == column.as_str())
                    .ok_or_else(|| SchemaError::UnknownColumn {
                        table: table_name.clone(),
                        column: column.clone(),
                    })?;
                check_name("column name", to)?;
                names.columns.insert(known, to.clone());
            }
            for (column, nav) in &m.navigation {
                let lookup = table
                    .lookups()
                    .iter()
                    .find(|c| **c == column.as_str())
                    .ok_or_else(|| SchemaError::NotALookup {
                        table: table_name.clone(),
                        column: column.clone(),
                    })?;
                check_name("navigation property", nav)?;
                names.navigation.insert(lookup, nav.clone());
            }
            for (column, meanings) in &m.choices {
                let c = choice(table, column).ok_or_else(|| SchemaError::NotAChoice {
                    table: table_name.clone(),
                    column: column.clone(),
                    known: table
                        .choices()
                        .map(|c| c.column)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
                let bad = |problem: String| SchemaError::BadChoice {
                    table: table_name.clone(),
                    column: column.clone(),
                    problem,
                };
                if let Some(unknown) = meanings
                    .keys()
                    .find(|k| !c.meanings.iter().any(|(m, _)| m == k))
                {
                    return Err(bad(format!(
                        "{unknown:?} is not a meaning ChatBell knows (it knows: {})",
                        meaning_list(c)
                    )));
                }
                let missing: Vec<&str> = c
                    .meanings
                    .iter()
                    .map(|(m, _)| *m)
                    .filter(|m| !meanings.contains_key(*m))
                    .collect();
                if !missing.is_empty() {
                    return Err(bad(format!(
                        "{} missing: map every meaning ({})",
                        missing.join(", "),
                        meaning_list(c)
                    )));
                }
                let mut org: Vec<i64> = meanings.values().copied().collect();
                org.sort_unstable();
                org.dedup();
                if org.len() != meanings.len() {
                    return Err(bad("two meanings have the same value".into()));
                }
                let pairs = c
                    .meanings
                    .iter()
                    .map(|(m, r)| (*r, meanings.get(*m).copied().unwrap_or(*r)))
                    .collect();
                names.values.insert(c.column, pairs);
            }
        }
        Ok(schema)
    }

    /// The org's value of a choice column's meaning (`statuscode`, `blocked`).
    /// Panics on a column or meaning not in [`CHOICES`]: a bug in ChatBell.
    pub fn value(&self, table: Table, column: &'static str, meaning: &str) -> i64 {
        let Some(c) = choice(table, column) else {
            panic!("{column} of {table:?} is not in CHOICES");
        };
        let reference = c.reference_value(meaning);
        self.to_org(table, column, reference)
    }

    /// The org's value of a choice column's reference value.
    pub fn to_org(&self, table: Table, column: &str, reference: i64) -> i64 {
        match self.names(table).values.get(column) {
            Some(pairs) => pairs
                .iter()
                .find(|(r, _)| *r == reference)
                .map_or(reference, |(_, o)| *o),
            None => reference,
        }
    }

    /// The reference value of the org's value of a choice column; `None` for a
    /// value the mapping does not name.
    pub fn from_org(&self, table: Table, column: &str, org: i64) -> Option<i64> {
        match self.names(table).values.get(column) {
            Some(pairs) => pairs.iter().find(|(_, o)| *o == org).map(|(r, _)| *r),
            None => Some(org),
        }
    }

    /// The meaning of the org's value of a choice column (`blocked`), if any.
    pub fn meaning(&self, table: Table, column: &str, org: i64) -> Option<&'static str> {
        let c = choice(table, column)?;
        let r = self.from_org(table, column, org)?;
        c.meanings.iter().find(|(_, v)| *v == r).map(|(m, _)| *m)
    }

    /// The lookup's navigation property (`cb_configuration`, or as mapped).
    pub fn nav(&self, table: Table, reference: &'static str) -> &str {
        match self.names(table).navigation.get(reference) {
            Some(n) => n,
            None => self.col(table, reference),
        }
    }

    fn names(&self, table: Table) -> &TableNames {
        // Every table is present: built from Table::ALL.
        &self.tables[&table]
    }

    /// The table's logical name in the org (`cb_chatsession`).
    pub fn logical(&self, table: Table) -> &str {
        &self.names(table).logical
    }

    /// The table's entity set in the org (`cb_chatsessions`).
    pub fn set(&self, table: Table) -> &str {
        &self.names(table).set
    }

    /// The org's name of a reference column (`cb_name` → `cb_name`). Panics on a
    /// reference column ChatBell does not use: that is a bug in ChatBell, not input.
    pub fn col(&self, table: Table, reference: &'static str) -> &str {
        match self.names(table).columns.get(reference) {
            Some(name) => name,
            None => panic!("{reference} is not a column of {table:?} in the reference schema"),
        }
    }

    /// The primary key column (`cb_chatsessionid`).
    pub fn key(&self, table: Table) -> &str {
        self.col(table, table.reference_columns()[0])
    }

    /// How a lookup is read (`cb_configuration` → `_cb_configuration_value`).
    pub fn lookup_value(&self, table: Table, reference: &'static str) -> String {
        format!("_{}_value", self.col(table, reference))
    }

    /// How a lookup is set (`cb_chatsession` → `cb_chatsession@odata.bind`,
    /// through its navigation property).
    pub fn lookup_bind(&self, table: Table, reference: &'static str) -> String {
        format!("{}@odata.bind", self.nav(table, reference))
    }

    /// The `$select` list for a table: every column ChatBell reads, lookups as
    /// `_x_value`, plus `createdon` and `modifiedon`.
    pub fn select(&self, table: Table) -> String {
        let mut out: Vec<String> = Vec::new();
        for c in table.reference_columns() {
            if table.lookups().contains(c) {
                out.push(self.lookup_value(table, c));
            } else {
                out.push(self.col(table, c).to_string());
            }
        }
        if !matches!(table, Table::SystemUser | Table::Team) {
            out.push("createdon".into());
            out.push("modifiedon".into());
        }
        out.join(",")
    }
}

fn meaning_list(c: &Choice) -> String {
    c.meanings
        .iter()
        .map(|(m, _)| *m)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_name(what: &'static str, name: &str) -> Result<(), SchemaError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(SchemaError::BadName {
            what,
            name: name.chars().take(80).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_names_follow_the_contract() {
        let s = Schema::reference();
        assert_eq!(s.set(Table::Session), "cb_chatsessions");
        assert_eq!(s.key(Table::Request), "cb_chatrequestid");
        assert_eq!(
            s.lookup_value(Table::Message, "cb_chatsession"),
            "_cb_chatsession_value"
        );
        assert_eq!(
            s.lookup_bind(Table::Message, "cb_chatsession"),
            "cb_chatsession@odata.bind"
        );
        assert!(s
            .select(Table::Session)
            .starts_with("cb_chatsessionid,cb_name,cb_customernumber,cb_channel,_cb_configuration_value,_ownerid_value,"));
    }

    #[test]
    fn mapping_renames_tables_sets_and_columns() {
        let m: Mapping = serde_json::from_value(serde_json::json!({
            "cb_chatsession": {
                "name": "new_whatsappsession",
                "columns": {"cb_name": "new_name", "cb_configuration": "new_config"}
            },
            "cb_blockednumber": {"entity_set": "new_blocklist"}
        }))
        .expect("valid mapping");
        let s = Schema::with_mapping(&m).expect("mapping applies");
        assert_eq!(s.logical(Table::Session), "new_whatsappsession");
        assert_eq!(s.set(Table::Session), "new_whatsappsessions");
        assert_eq!(s.key(Table::Session), "new_whatsappsessionid");
        assert_eq!(s.col(Table::Session, "cb_name"), "new_name");
        assert_eq!(
            s.lookup_value(Table::Session, "cb_configuration"),
            "_new_config_value"
        );
        assert_eq!(s.set(Table::Blocked), "new_blocklist");
        assert_eq!(s.logical(Table::Blocked), "cb_blockednumber");
    }

    #[test]
    fn mapping_errors_name_what_is_wrong() {
        let unknown_table = Mapping(BTreeMap::from([(
            "cb_chat".to_string(),
            TableMapping::default(),
        )]));
        assert_eq!(
            Schema::with_mapping(&unknown_table).expect_err("unknown table"),
            SchemaError::UnknownTable("cb_chat".into())
        );
        let unknown_column = Mapping(BTreeMap::from([(
            "cb_chatsession".to_string(),
            TableMapping {
                columns: BTreeMap::from([("cb_nope".to_string(), "x".to_string())]),
                ..TableMapping::default()
            },
        )]));
        assert!(matches!(
            Schema::with_mapping(&unknown_column),
            Err(SchemaError::UnknownColumn { column, .. }) if column == "cb_nope"
        ));
        let injection = Mapping(BTreeMap::from([(
            "cb_chatsession".to_string(),
            TableMapping {
                name: Some("x eq 1 or".to_string()),
                ..TableMapping::default()
            },
        )]));
        assert!(matches!(
            Schema::with_mapping(&injection),
            Err(SchemaError::BadName { .. })
        ));
    }
}
