//! An org profile: an organisation whose add-on names its tables, columns,
//! navigation properties and choice values its own way.
//!
//! Inside, the emulator always speaks the reference schema ([`crate::schema`]):
//! the store, the add-on's plugins, the simulation, the seed and the test-only
//! admin API. With a profile, its Web API speaks the org's names instead, as a
//! real org would: this module translates every request from the org's names to
//! the reference (path, `$select`, `$filter`, `$orderby`, `$expand`, bodies,
//! `@odata.bind`) and every answer back (rows, annotations, `@odata.context`,
//! next and delta links, `OData-EntityId`, error messages). The table
//! definitions under `EntityDefinitions` ([`crate::metadata`]) are rendered in
//! the org's names directly.
//!
//! A name of the reference schema that the org renamed is *not* a name of the
//! org: a client that uses it anyway is refused as Dataverse refuses an unknown
//! column, table or choice value (the name is poisoned on the way in, and the
//! poison removed from the error's message on the way out).
//!
//! The profile file (TOML) lists, per reference table, what differs:
//!
//! ```toml
//! [cb_chatsession]
//! name = "cts_conversation"              # logical name (key column: name + "id")
//! schema_name = "cts_Conversation"       # default: the logical name
//! set = "cts_conversations"              # default: the logical name + "s"
//! display_name = "Conversation"          # default: the schema name
//! [cb_chatsession.columns]
//! cb_name = "cts_title"
//! cb_configuration = { name = "cts_channelsetup", nav = "cts_ChannelSetup" }
//! [cb_chatsession.choices.statuscode]     # reference value = org value
//! 1 = 100000000
//! ```
//!
//! Lookup columns are named by their logical name (`cb_configuration`, read as
//! `_cb_configuration_value`); their navigation property defaults to the
//! column's name. The system columns (`createdon`, `statecode`, `ownerid`, ...)
//! keep their names; `statuscode`'s values may differ.
//!
//! Not translated (deviations of the profile, not of Dataverse): a parameter
//! alias's value that is a choice literal (one that names a column is), lambda
//! operators in `$filter`, and a choice value inside a function call.

use crate::schema::{schema, ColType, Table};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Added to a reference name the org does not have, on its way in: the
/// emulator then refuses it as it refuses any unknown name.
const POISON: &str = "__not_in_this_org";
/// What an org value with no reference value becomes on its way in: a value no
/// choice column has.
const POISON_VALUE: i64 = -1_999_999_999;

/// A request with this header (from a loopback peer) is served in the
/// reference names whatever the profile: for tests that play the org's other
/// users (the Chat UI, the add-on) and write in the reference schema.
pub const REFERENCE_NAMES_HEADER: &str = "x-emulator-reference-names";

/// Which way a translation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the org's names to the reference (requests).
    ToRef,
    /// From the reference to the org's names (responses).
    ToOrg,
}

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("org profile {path}: {message}")]
    Read { path: String, message: String },
    #[error("org profile: {0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTable {
    name: Option<String>,
    schema_name: Option<String>,
    set: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    columns: BTreeMap<String, FileColumn>,
    #[serde(default)]
    choices: BTreeMap<String, BTreeMap<String, i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileColumn {
    Name(String),
    Lookup { name: String, nav: Option<String> },
}

/// One table's names in the org.
#[derive(Debug, Clone)]
pub struct OrgTable {
    /// The reference table.
    pub reference: &'static Table,
    /// Logical name.
    pub logical: String,
    /// Schema name (privilege names are built from it).
    pub schema_name: String,
    /// Entity set.
    pub set: String,
    /// Display name.
    pub display_name: String,
    /// Reference read name (`cb_name`, `_cb_configuration_value`) → org read name.
    cols: HashMap<&'static str, String>,
    /// Org read name → reference read name.
    cols_back: HashMap<String, &'static str>,
    /// Reference navigation property → org navigation property.
    navs: HashMap<&'static str, String>,
    navs_back: HashMap<String, &'static str>,
    /// Reference read name of a choice column → (reference value → org value).
    values: HashMap<&'static str, Vec<(i64, i64)>>,
}

impl OrgTable {
    fn identity(t: &'static Table) -> OrgTable {
        let mut cols = HashMap::new();
        let mut navs = HashMap::new();
        for c in &t.columns {
            cols.insert(c.name, c.name.to_string());
            if let Some(n) = c.nav_name() {
                navs.insert(n, n.to_string());
            }
        }
        OrgTable {
            reference: t,
            logical: t.logical.to_string(),
            schema_name: t.logical.to_string(),
            set: t.set.to_string(),
            display_name: t.logical.to_string(),
            cols,
            cols_back: HashMap::new(),
            navs,
            navs_back: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn index(&mut self) {
        self.cols_back = self.cols.iter().map(|(r, o)| (o.clone(), *r)).collect();
        self.navs_back = self.navs.iter().map(|(r, o)| (o.clone(), *r)).collect();
    }

    /// The org's read name of a reference column.
    pub fn col(&self, reference: &str) -> String {
        self.cols
            .get(reference)
            .cloned()
            .unwrap_or_else(|| reference.to_string())
    }

    /// The org's navigation property of a reference one.
    pub fn nav(&self, reference: &str) -> String {
        self.navs
            .get(reference)
            .cloned()
            .unwrap_or_else(|| reference.to_string())
    }

    /// The org's value of a reference choice value.
    pub fn value_to_org(&self, col: &str, v: i64) -> i64 {
        match self.values.get(col) {
            Some(map) => map.iter().find(|(r, _)| *r == v).map_or(v, |(_, o)| *o),
            None => v,
        }
    }

    fn value_to_ref(&self, col: &str, v: i64) -> i64 {
        match self.values.get(col) {
            Some(map) => map
                .iter()
                .find(|(_, o)| *o == v)
                .map_or(POISON_VALUE, |(r, _)| *r),
            None => v,
        }
    }

    /// A name (column, key or navigation property) translated.
    pub fn name(&self, name: &str, dir: Dir) -> String {
        match dir {
            Dir::ToOrg => {
                if let Some(o) = self.cols.get(name) {
                    return o.clone();
                }
                if let Some(o) = self.navs.get(name) {
                    return o.clone();
                }
                name.to_string()
            }
            Dir::ToRef => {
                if let Some(r) = self.cols_back.get(name) {
                    return (*r).to_string();
                }
                if let Some(r) = self.navs_back.get(name) {
                    return (*r).to_string();
                }
                let is_reference = self.cols.contains_key(name) || self.navs.contains_key(name);
                if is_reference {
                    // A reference name the org renamed.
                    return format!("{name}{POISON}");
                }
                name.to_string()
            }
        }
    }

    /// The reference table a navigation property (reference name) leads to,
    /// when it leads to one table only.
    fn target(&self, ref_nav: &str) -> Option<&'static Table> {
        let col = self.reference.lookup_by_nav(ref_nav)?;
        match col.ty {
            ColType::Lookup([one]) => schema().by_logical(one),
            _ => None,
        }
    }

    fn value(&self, ref_col: &str, v: i64, dir: Dir) -> i64 {
        match dir {
            Dir::ToOrg => self.value_to_org(ref_col, v),
            Dir::ToRef => self.value_to_ref(ref_col, v),
        }
    }
}

/// An org's names for everything in the reference schema.
#[derive(Debug, Clone)]
pub struct OrgProfile {
    tables: Vec<OrgTable>,
    reference: bool,
}

impl Default for OrgProfile {
    fn default() -> Self {
        OrgProfile::reference()
    }
}

impl OrgProfile {
    /// The reference org: every name and value as in [`crate::schema`].
    pub fn reference() -> OrgProfile {
        let mut tables: Vec<OrgTable> = schema().tables().iter().map(OrgTable::identity).collect();
        for t in &mut tables {
            t.index();
        }
        OrgProfile {
            tables,
            reference: true,
        }
    }

    /// Whether every name and value is the reference's.
    pub fn is_reference(&self) -> bool {
        self.reference
    }

    fn compute_reference(&self) -> bool {
        self.tables.iter().all(|t| {
            t.logical == t.reference.logical
                && t.set == t.reference.set
                && t.cols.iter().all(|(r, o)| r == o)
                && t.navs.iter().all(|(r, o)| r == o)
                && t.values.is_empty()
        })
    }

    /// Reads a profile file.
    pub fn load(path: &std::path::Path) -> Result<OrgProfile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        OrgProfile::parse(&text).map_err(|e| ProfileError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Parses a profile's TOML text.
    pub fn parse(text: &str) -> Result<OrgProfile, ProfileError> {
        let file: BTreeMap<String, FileTable> =
            toml::from_str(text).map_err(|e| ProfileError::Invalid(e.to_string()))?;
        let mut profile = OrgProfile::reference();
        for (ref_name, ft) in file {
            let t = profile
                .tables
                .iter_mut()
                .find(|t| t.reference.logical == ref_name)
                .ok_or_else(|| ProfileError::Invalid(format!("no reference table {ref_name:?}")))?;
            let r = t.reference;
            if let Some(name) = ft.name {
                check_name(&name)?;
                t.cols.insert(r.key, format!("{name}id"));
                t.set = format!("{name}s");
                t.schema_name = name.clone();
                t.display_name = name.clone();
                t.logical = name;
            }
            if let Some(s) = ft.schema_name {
                check_name(&s)?;
                t.display_name = s.clone();
                t.schema_name = s;
            }
            if let Some(s) = ft.set {
                check_name(&s)?;
                t.set = s;
            }
            if let Some(d) = ft.display_name {
                t.display_name = d;
            }
            for (col, to) in ft.columns {
                let (name, nav) = match to {
                    FileColumn::Name(n) => (n, None),
                    FileColumn::Lookup { name, nav } => (name, nav),
                };
                check_name(&name)?;
                let lookup_read = format!("_{col}_value");
                if let Some(c) = r.column(&lookup_read) {
                    t.cols.insert(c.name, format!("_{name}_value"));
                    if let Some(n) = c.nav_name() {
                        let nav = nav.unwrap_or_else(|| name.clone());
                        check_name(&nav)?;
                        t.navs.insert(n, nav);
                    }
                } else if let Some(c) = r.column(&col) {
                    if nav.is_some() {
                        return Err(ProfileError::Invalid(format!(
                            "{ref_name}.{col} is not a lookup: it has no navigation property"
                        )));
                    }
                    t.cols.insert(c.name, name);
                } else {
                    return Err(ProfileError::Invalid(format!(
                        "{ref_name} has no column {col:?}"
                    )));
                }
            }
            for (col, values) in ft.choices {
                let c = r.column(&col).ok_or_else(|| {
                    ProfileError::Invalid(format!("{ref_name} has no column {col:?}"))
                })?;
                let ColType::Int(Some(known)) = c.ty else {
                    return Err(ProfileError::Invalid(format!(
                        "{ref_name}.{col} is not a choice"
                    )));
                };
                let mut map = Vec::new();
                for (from, to) in values {
                    let from: i64 = from.parse().map_err(|_| {
                        ProfileError::Invalid(format!("{ref_name}.{col}: {from:?} is not a value"))
                    })?;
                    if !known.iter().any(|(v, _)| *v == from) {
                        return Err(ProfileError::Invalid(format!(
                            "{ref_name}.{col} has no value {from}"
                        )));
                    }
                    map.push((from, to));
                }
                for (v, _) in known {
                    if !map.iter().any(|(r, _)| r == v) {
                        map.push((*v, *v));
                    }
                }
                let mut org: Vec<i64> = map.iter().map(|(_, o)| *o).collect();
                org.sort_unstable();
                org.dedup();
                if org.len() != map.len() {
                    return Err(ProfileError::Invalid(format!(
                        "{ref_name}.{col}: two values map to one"
                    )));
                }
                t.values.insert(c.name, map);
            }
            t.index();
        }
        let mut sets: Vec<&str> = profile.tables.iter().map(|t| t.set.as_str()).collect();
        sets.sort_unstable();
        sets.dedup();
        if sets.len() != profile.tables.len() {
            return Err(ProfileError::Invalid(
                "two tables share an entity set".into(),
            ));
        }
        profile.reference = profile.compute_reference();
        Ok(profile)
    }

    /// Every table.
    pub fn tables(&self) -> &[OrgTable] {
        &self.tables
    }

    /// The org's table of a reference table.
    pub fn of(&self, reference: &Table) -> &OrgTable {
        self.tables
            .iter()
            .find(|t| {
                std::ptr::eq(t.reference, reference) || t.reference.logical == reference.logical
            })
            .unwrap_or(&self.tables[0])
    }

    /// The org's table with this logical name.
    pub fn by_logical(&self, logical: &str) -> Option<&OrgTable> {
        self.tables.iter().find(|t| t.logical == logical)
    }

    fn by_set(&self, set: &str, dir: Dir) -> Option<&OrgTable> {
        self.tables.iter().find(|t| match dir {
            Dir::ToRef => t.set == set,
            Dir::ToOrg => t.reference.set == set,
        })
    }

    /// An entity set name translated (unknown names stay, a reference name
    /// the org renamed is poisoned).
    pub fn set_name(&self, set: &str, dir: Dir) -> String {
        match (self.by_set(set, dir), dir) {
            (Some(t), Dir::ToRef) => t.reference.set.to_string(),
            (Some(t), Dir::ToOrg) => t.set.clone(),
            (None, Dir::ToRef) if self.by_set(set, Dir::ToOrg).is_some() => {
                format!("{set}{POISON}")
            }
            (None, _) => set.to_string(),
        }
    }

    fn logical_name(&self, logical: &str, dir: Dir) -> String {
        let found = self.tables.iter().find(|t| match dir {
            Dir::ToRef => t.logical == logical,
            Dir::ToOrg => t.reference.logical == logical,
        });
        match (found, dir) {
            (Some(t), Dir::ToRef) => t.reference.logical.to_string(),
            (Some(t), Dir::ToOrg) => t.logical.clone(),
            (None, _) => logical.to_string(),
        }
    }

    /// The path after `/api/data/v9.2/`, with its entity set translated.
    pub fn path(&self, rest: &str, dir: Dir) -> String {
        let mut segs: Vec<String> = rest.split('/').map(str::to_string).collect();
        if let Some(first) = segs.first_mut() {
            let (name, tail) = match first.find('(') {
                Some(i) => (first[..i].to_string(), first[i..].to_string()),
                None => (first.clone(), String::new()),
            };
            if name == "EntityDefinitions" {
                return rest.to_string();
            }
            let table = self.by_set(&name, dir);
            let mut tail = tail;
            if let Some(t) = table {
                // A key given as `key=id`.
                let key = match dir {
                    Dir::ToRef => t.col(t.reference.key),
                    Dir::ToOrg => t.reference.key.to_string(),
                };
                let to = match dir {
                    Dir::ToRef => t.reference.key.to_string(),
                    Dir::ToOrg => t.col(t.reference.key),
                };
                if let Some(after) = tail.strip_prefix(&format!("({key}=")) {
                    tail = format!("({to}={after}");
                }
            }
            *first = format!("{}{tail}", self.set_name(&name, dir));
        }
        segs.join("/")
    }

    /// The query string, translated for the table at `set` (reference name).
    pub fn query(&self, raw: &str, table: &Table, dir: Dir) -> String {
        if raw.is_empty() {
            return String::new();
        }
        let t = self.of(table);
        let pairs: Vec<(String, String)> = crate::odata::query_pairs(raw)
            .into_iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "$select" => list(&v, |n| t.name(n, dir)),
                    "$orderby" => v
                        .split(',')
                        .map(|item| {
                            let item = item.trim();
                            let (name, rest) = item.split_once(' ').unwrap_or((item, ""));
                            if rest.is_empty() {
                                t.name(name, dir)
                            } else {
                                format!("{} {rest}", t.name(name, dir))
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    "$filter" => self.filter(&v, t, dir),
                    "$expand" => self.expand(&v, t, dir),
                    a if a.starts_with('@') && is_identifier(&v) => t.name(&v, dir),
                    _ => v,
                };
                (k, v)
            })
            .collect();
        crate::odata::build_query(&pairs)
            .trim_start_matches('?')
            .to_string()
    }

    fn expand(&self, v: &str, t: &OrgTable, dir: Dir) -> String {
        split_top(v, ',')
            .into_iter()
            .map(|item| {
                let (nav, inner) = match item.find('(') {
                    Some(i) => (&item[..i], Some(item[i + 1..].trim_end_matches(')'))),
                    None => (item.as_str(), None),
                };
                let nav_t = t.name(nav.trim(), dir);
                let ref_nav = match dir {
                    Dir::ToRef => nav_t.clone(),
                    Dir::ToOrg => nav.trim().to_string(),
                };
                let target = t.target(&ref_nav).map(|r| self.of(r));
                match inner {
                    None => nav_t,
                    Some(inner) => {
                        let opts = split_top(inner, ';')
                            .into_iter()
                            .map(|o| match (o.split_once('='), target) {
                                (Some(("$select", cols)), Some(target)) => {
                                    format!("$select={}", list(cols, |n| target.name(n, dir)))
                                }
                                _ => o,
                            })
                            .collect::<Vec<_>>()
                            .join(";");
                        format!("{nav_t}({opts})")
                    }
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A `$filter` translated: names, and numbers compared with a choice column.
    fn filter(&self, src: &str, t: &OrgTable, dir: Dir) -> String {
        let mut toks = tokens(src);
        // Names first, remembering the reference column of each.
        let mut ref_col: Vec<Option<(String, &OrgTable)>> = vec![None; toks.len()];
        for (i, tok) in toks.iter_mut().enumerate() {
            if tok.kind != Kind::Ident || is_keyword(&tok.text) {
                continue;
            }
            let parts: Vec<&str> = tok.text.split('/').collect();
            let mut cur = t;
            let mut out = Vec::new();
            let mut last_ref = String::new();
            for (j, p) in parts.iter().enumerate() {
                let translated = cur.name(p, dir);
                let reference = match dir {
                    Dir::ToRef => translated.clone(),
                    Dir::ToOrg => (*p).to_string(),
                };
                out.push(translated);
                if j + 1 < parts.len() {
                    match cur.target(&reference) {
                        Some(next) => cur = self.of(next),
                        None => break,
                    }
                }
                last_ref = reference;
            }
            if out.len() == parts.len() {
                tok.text = out.join("/");
                ref_col[i] = Some((last_ref, cur));
            }
        }
        // Then numbers next to a comparison with a choice column.
        let significant: Vec<usize> = (0..toks.len())
            .filter(|i| toks[*i].kind != Kind::Space)
            .collect();
        for (pos, &i) in significant.iter().enumerate() {
            if toks[i].kind != Kind::Number {
                continue;
            }
            let op_at = |p: Option<usize>| {
                p.and_then(|p| significant.get(p))
                    .is_some_and(|&k| toks[k].kind == Kind::Ident && is_comparison(&toks[k].text))
            };
            let column = if pos >= 2 && op_at(Some(pos - 1)) {
                ref_col[significant[pos - 2]].clone()
            } else if op_at(Some(pos + 1)) {
                significant.get(pos + 2).and_then(|&k| ref_col[k].clone())
            } else {
                None
            };
            if let (Some((col, table)), Ok(n)) = (column, toks[i].text.parse::<i64>()) {
                toks[i].text = table.value(&col, n, dir).to_string();
            }
        }
        toks.into_iter().map(|t| t.text).collect()
    }

    /// A JSON body or answer for `table` (reference), translated.
    pub fn body(&self, v: Value, table: &Table, dir: Dir) -> Value {
        match v {
            Value::Object(map) => {
                if map.contains_key("value") && map.get("value").is_some_and(Value::is_array) {
                    let mut out = Map::new();
                    for (k, v) in map {
                        let v = match (k.as_str(), v) {
                            ("value", Value::Array(rows)) => Value::Array(
                                rows.into_iter().map(|r| self.body(r, table, dir)).collect(),
                            ),
                            ("@odata.context", Value::String(s)) => {
                                Value::String(self.context(&s, dir))
                            }
                            ("@odata.nextLink" | "@odata.deltaLink", Value::String(s)) => {
                                Value::String(self.url(&s, dir))
                            }
                            (_, v) => v,
                        };
                        out.insert(k, v);
                    }
                    Value::Object(out)
                } else if let Some(Value::Object(e)) = map.get("error") {
                    let mut e = e.clone();
                    if let Some(Value::String(m)) = e.get("message") {
                        let m = self.message(m, table);
                        e.insert("message".into(), Value::String(m));
                    }
                    let mut out = map;
                    out.insert("error".into(), Value::Object(e));
                    Value::Object(out)
                } else {
                    Value::Object(self.row(map, self.of(table), dir))
                }
            }
            other => other,
        }
    }

    fn row(&self, map: Map<String, Value>, t: &OrgTable, dir: Dir) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in map {
            let (name, annotation) = match k.find('@') {
                Some(i) => (&k[..i], Some(&k[i + 1..])),
                None => (k.as_str(), None),
            };
            let new_name = if name.is_empty() {
                String::new()
            } else {
                t.name(name, dir)
            };
            let ref_name = match dir {
                Dir::ToRef => new_name.clone(),
                Dir::ToOrg => name.to_string(),
            };
            let v = match (annotation, v) {
                (Some("odata.context"), Value::String(s)) => Value::String(self.context(&s, dir)),
                (Some("odata.id" | "odata.editLink"), Value::String(s)) => {
                    Value::String(self.url(&s, dir))
                }
                (Some("odata.bind"), Value::String(s)) => Value::String(self.url(&s, dir)),
                (Some("odata.type"), Value::String(s)) => {
                    Value::String(match s.strip_prefix("#Microsoft.Dynamics.CRM.") {
                        Some(l) => format!("#Microsoft.Dynamics.CRM.{}", self.logical_name(l, dir)),
                        None => s,
                    })
                }
                (Some("Microsoft.Dynamics.CRM.lookuplogicalname"), Value::String(s)) => {
                    Value::String(self.logical_name(&s, dir))
                }
                (Some("Microsoft.Dynamics.CRM.associatednavigationproperty"), Value::String(s)) => {
                    Value::String(t.name(&s, dir))
                }
                (None, Value::Number(n)) => match n.as_i64() {
                    Some(i) if t.values.contains_key(ref_name.as_str()) => {
                        Value::from(t.value(&ref_name, i, dir))
                    }
                    _ => Value::Number(n),
                },
                (None, Value::Object(inner)) => {
                    // An expanded navigation property: its row is of the target
                    // table (`@odata.type` names it where the lookup can point
                    // to more than one).
                    let typed = inner
                        .get("@odata.type")
                        .and_then(Value::as_str)
                        .and_then(|s| s.strip_prefix("#Microsoft.Dynamics.CRM."))
                        .map(|l| self.logical_name(l, Dir::ToRef))
                        .and_then(|l| schema().by_logical(&l));
                    match typed.or_else(|| t.target(&ref_name)) {
                        Some(target) => Value::Object(self.row(inner, self.of(target), dir)),
                        None => Value::Object(inner),
                    }
                }
                (_, v) => v,
            };
            let key = match annotation {
                Some(a) => format!("{new_name}@{a}"),
                None => new_name,
            };
            out.insert(key, v);
        }
        out
    }

    /// A URL or `set(id)` reference: its entity set and query translated.
    pub fn url(&self, s: &str, dir: Dir) -> String {
        let (before, path_and_query) = match s.find(crate::odata::API_PREFIX) {
            Some(i) => {
                let at = i + crate::odata::API_PREFIX.len();
                (&s[..at], &s[at..])
            }
            None => ("", s),
        };
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let lead = if path.starts_with('/') { "/" } else { "" };
        let new_path = self.path(path.trim_start_matches('/'), dir);
        let set = new_path.split(['(', '/']).next().unwrap_or("");
        let ref_set = match dir {
            Dir::ToRef => set.to_string(),
            Dir::ToOrg => path
                .trim_start_matches('/')
                .split(['(', '/'])
                .next()
                .unwrap_or("")
                .to_string(),
        };
        let query = match (query, schema().by_set(&ref_set)) {
            (Some(q), Some(table)) => format!("?{}", self.query(q, table, dir)),
            (Some(q), None) => format!("?{q}"),
            (None, _) => String::new(),
        };
        format!("{before}{lead}{new_path}{query}")
    }

    /// An `@odata.context`: `…$metadata#set(a,b,nav(c))/$entity`.
    fn context(&self, s: &str, dir: Dir) -> String {
        let Some((base, frag)) = s.split_once('#') else {
            return s.to_string();
        };
        let set_end = frag.find(['(', '/']).unwrap_or(frag.len());
        let set = &frag[..set_end];
        let Some(t) = self.by_set(set, dir) else {
            return s.to_string();
        };
        let rest = &frag[set_end..];
        let (list_part, suffix) = if rest.starts_with('(') {
            match matching_paren(rest) {
                Some(end) => (Some(&rest[1..end]), &rest[end + 1..]),
                None => (None, rest),
            }
        } else {
            (None, rest)
        };
        let new_set = self.set_name(set, dir);
        let list = list_part.map(|l| {
            split_top(l, ',')
                .into_iter()
                .map(|item| match item.find('(') {
                    Some(i) => {
                        let nav = &item[..i];
                        let ref_nav = match dir {
                            Dir::ToRef => t.name(nav, dir),
                            Dir::ToOrg => nav.to_string(),
                        };
                        let inner = item[i + 1..].trim_end_matches(')');
                        let cols = match t.target(&ref_nav) {
                            Some(target) => list(inner, |n| self.of(target).name(n, dir)),
                            None => inner.to_string(),
                        };
                        format!("{}({cols})", t.name(nav, dir))
                    }
                    None => t.name(&item, dir),
                })
                .collect::<Vec<_>>()
                .join(",")
        });
        match list {
            Some(l) => format!("{base}#{new_set}({l}){suffix}"),
            None => format!("{base}#{new_set}{suffix}"),
        }
    }

    /// An error message in the org's names: the reference names of the
    /// request's table (and every table's names) replaced, poison removed.
    fn message(&self, m: &str, table: &Table) -> String {
        let t = self.of(table);
        let mut out = String::with_capacity(m.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if word.is_empty() {
                return;
            }
            let w = if let Some(original) = word.strip_suffix(POISON) {
                original.to_string()
            } else if let Some(o) = t
                .cols
                .get(word.as_str())
                .or_else(|| t.navs.get(word.as_str()))
            {
                o.clone()
            } else if let Some(x) = self
                .tables
                .iter()
                .find(|x| x.reference.logical == word.as_str())
            {
                x.logical.clone()
            } else if let Some(x) = self
                .tables
                .iter()
                .find(|x| x.reference.set == word.as_str())
            {
                x.set.clone()
            } else {
                word.clone()
            };
            out.push_str(&w);
            word.clear();
        };
        for c in m.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }
}

fn check_name(name: &str) -> Result<(), ProfileError> {
    if is_identifier(name) && !name.contains('/') && !name.contains('.') {
        Ok(())
    } else {
        Err(ProfileError::Invalid(format!(
            "{name:?} is not a valid name"
        )))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '.')
}

fn list(v: &str, f: impl Fn(&str) -> String) -> String {
    v.split(',')
        .map(|n| f(n.trim()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits at `sep` outside parentheses and quotes.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Number,
    Str,
    Space,
    Other,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    text: String,
}

/// A `$filter`'s tokens, every character kept (joining them gives the source).
fn tokens(src: &str) -> Vec<Tok> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            Kind::Str
        } else if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            Kind::Space
        } else if c.is_ascii_alphabetic() || c == '_' || c == '@' || c == '$' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || matches!(chars[i], '_' | '/' | '.' | '@' | '$'))
            {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
            // Numbers, and the dates, times and GUIDs that start like them.
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | ':' | '-' | '+'))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if text.parse::<i64>().is_ok() {
                Kind::Number
            } else {
                Kind::Other
            }
        } else {
            i += 1;
            Kind::Other
        };
        out.push(Tok {
            kind,
            text: chars[start..i].iter().collect(),
        });
    }
    out
}

fn is_comparison(s: &str) -> bool {
    matches!(s, "eq" | "ne" | "gt" | "ge" | "lt" | "le")
}

fn is_keyword(s: &str) -> bool {
    is_comparison(s)
        || matches!(
            s,
            "and"
                | "or"
                | "not"
                | "null"
                | "true"
                | "false"
                | "in"
                | "has"
                | "add"
                | "sub"
                | "mul"
                | "div"
                | "mod"
        )
        || s.starts_with('@')
        || s.starts_with('$')
        || s.starts_with("Microsoft.Dynamics.CRM.")
        || matches!(
            s,
            "contains" | "startswith" | "endswith" | "tolower" | "toupper" | "length" | "trim"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = r#"
[cb_chatsession]
name = "cts_conversation"
schema_name = "cts_Conversation"
[cb_chatsession.columns]
cb_name = "cts_title"
cb_configuration = { name = "cts_channelsetup", nav = "cts_ChannelSetup" }
[cb_chatsession.choices.statuscode]
1 = 100000000
2 = 100000001
3 = 100000002
[cb_configuration]
name = "cts_channelconfig"
[cb_configuration.columns]
cb_name = "cts_label"
"#;

    fn org() -> OrgProfile {
        OrgProfile::parse(ORG).expect("profile parses")
    }

    fn session() -> &'static Table {
        schema().by_set("cb_chatsessions").expect("reference table")
    }

    #[test]
    fn a_filter_is_translated_names_and_choice_values() {
        let p = org();
        let t = p.of(session());
        assert_eq!(
            p.filter(
                "statuscode eq 100000002 and cts_title eq 'statuscode eq 1'",
                t,
                Dir::ToRef
            ),
            "statuscode eq 3 and cb_name eq 'statuscode eq 1'"
        );
        assert_eq!(
            p.filter("cts_ChannelSetup/cts_label ne null", t, Dir::ToRef),
            "cb_configuration/cb_name ne null"
        );
        // A reference name or value the org does not have is refused downstream.
        assert_eq!(
            p.filter("cb_name eq 'x' or 1 eq statuscode", t, Dir::ToRef),
            format!("cb_name{POISON} eq 'x' or {POISON_VALUE} eq statuscode")
        );
        assert_eq!(
            p.filter("modifiedon ge 2026-11-21T09:00:00Z", t, Dir::ToRef),
            "modifiedon ge 2026-11-21T09:00:00Z"
        );
    }

    #[test]
    fn rows_links_and_contexts_come_back_in_the_orgs_names() {
        let p = org();
        let body = serde_json::json!({
            "@odata.context": "http://h/api/data/v9.2/$metadata#cb_chatsessions(cb_name,statuscode,cb_configuration(cb_name))",
            "@odata.nextLink": "http://h/api/data/v9.2/cb_chatsessions?$select=cb_name&$skiptoken=abc",
            "value": [{
                "@odata.etag": "W/\"1\"",
                "cb_chatsessionid": "x",
                "cb_name": "Hi",
                "statuscode": 3,
                "statuscode@OData.Community.Display.V1.FormattedValue": "Blocked",
                "_cb_configuration_value": "c",
                "_cb_configuration_value@Microsoft.Dynamics.CRM.lookuplogicalname": "cb_configuration",
                "_cb_configuration_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "cb_configuration",
                "cb_configuration": {"cb_name": "WA", "cb_configurationid": "c"}
            }]
        });
        let out = p.body(body, session(), Dir::ToOrg);
        assert_eq!(
            out["@odata.context"],
            "http://h/api/data/v9.2/$metadata#cts_conversations(cts_title,statuscode,cts_ChannelSetup(cts_label))"
        );
        assert_eq!(
            out["@odata.nextLink"],
            "http://h/api/data/v9.2/cts_conversations?$select=cts_title&$skiptoken=abc"
        );
        let row = &out["value"][0];
        assert_eq!(row["cts_conversationid"], "x");
        assert_eq!(row["cts_title"], "Hi");
        assert_eq!(row["statuscode"], 100000002);
        assert_eq!(
            row["_cts_channelsetup_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
            "cts_channelconfig"
        );
        assert_eq!(
            row["_cts_channelsetup_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
            "cts_ChannelSetup"
        );
        assert_eq!(row["cts_ChannelSetup"]["cts_label"], "WA");
        assert_eq!(row["cts_ChannelSetup"]["cts_channelconfigid"], "c");
    }

    #[test]
    fn a_body_and_its_binds_go_in_as_reference_names() {
        let p = org();
        let body = serde_json::json!({
            "cts_title": "x",
            "statuscode": 100000001,
            "cts_ChannelSetup@odata.bind": "/cts_channelconfigs(1d1b7c9e-0000-0000-0000-000000000001)"
        });
        let out = p.body(body, session(), Dir::ToRef);
        assert_eq!(out["cb_name"], "x");
        assert_eq!(out["statuscode"], 2);
        assert_eq!(
            out["cb_configuration@odata.bind"],
            "/cb_configurations(1d1b7c9e-0000-0000-0000-000000000001)"
        );
        assert_eq!(
            p.path("cb_chatsessions(1)", Dir::ToRef),
            format!("cb_chatsessions{POISON}(1)")
        );
        assert_eq!(
            p.path("cts_conversations(cts_conversationid=1)", Dir::ToRef),
            "cb_chatsessions(cb_chatsessionid=1)"
        );
    }

    #[test]
    fn errors_speak_the_orgs_names() {
        let p = org();
        let e = serde_json::json!({"error": {"code": "0x0", "message": format!("Could not find a property named 'cb_name{POISON}' on type 'Microsoft.Dynamics.CRM.cb_chatsession'.")}});
        let out = p.body(e, session(), Dir::ToOrg);
        assert_eq!(
            out["error"]["message"],
            "Could not find a property named 'cb_name' on type 'Microsoft.Dynamics.CRM.cts_conversation'."
        );
    }

    #[test]
    fn a_profile_that_names_what_the_reference_lacks_is_refused() {
        assert!(OrgProfile::parse("[cb_nosuch]\nname = \"x\"\n").is_err());
        assert!(OrgProfile::parse("[cb_chatsession.columns]\ncb_nosuch = \"x\"\n").is_err());
        assert!(OrgProfile::parse("[cb_chatsession.choices.statuscode]\n9 = 1\n").is_err());
        assert!(OrgProfile::parse("[cb_chatsession.choices.statuscode]\n1 = 2\n").is_err());
        assert!(OrgProfile::parse("[cb_chatsession]\nname = \"a b\"\n").is_err());
        assert!(OrgProfile::reference().is_reference());
        assert!(!org().is_reference());
    }
}
