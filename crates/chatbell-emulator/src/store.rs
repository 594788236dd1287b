//! The emulator's data: rows, versions, deletions, team membership, per-user
//! privileges, and the one write path that every change goes through.
//!
//! Both the Web API and the simulation write through [`OrgData::create`],
//! [`OrgData::update`] and [`OrgData::delete`], so the add-on's server-side behaviour
//! (see [`crate::plugins`]) and the etags are the same whoever writes.
//!
//! Rows are JSON objects keyed by column name. A lookup is stored as `_x_value`
//! plus `_x_value@Microsoft.Dynamics.CRM.lookuplogicalname` (the target table);
//! the renderer decides which annotations a client sees. Every write takes the next
//! value of one global version counter, which is the row's `versionnumber` and
//! etag (`W/"<version>"`), and is also what change tracking counts in.

use crate::clock::{format_ts, parse_ts};
use crate::error::{codes, ApiError};
use crate::persist::{PersistOp, Sink};
use crate::schema::{schema, ColType, Column, Table};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// The annotation suffix under which a lookup's target table is stored.
pub const LOOKUP_LOGICAL: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";

/// A stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Column values (and stored lookup annotations).
    pub fields: Map<String, Value>,
    /// The row's version number.
    pub version: u64,
}

impl Row {
    /// The row's etag, `W/"<version>"`.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
    /// A column as a string.
    pub fn str(&self, col: &str) -> Option<&str> {
        self.fields.get(col).and_then(Value::as_str)
    }
    /// A column as an integer.
    pub fn int(&self, col: &str) -> Option<i64> {
        self.fields.get(col).and_then(Value::as_i64)
    }
    /// A column as a GUID.
    pub fn guid(&self, col: &str) -> Option<Uuid> {
        self.str(col).and_then(|s| Uuid::parse_str(s).ok())
    }
    /// A column as a time.
    pub fn time(&self, col: &str) -> Option<DateTime<Utc>> {
        self.str(col).and_then(parse_ts)
    }
}

/// A deleted row, remembered for change tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    /// The deleted row's id.
    pub id: Uuid,
    /// The version at which it was deleted.
    pub version: u64,
}

/// Per-user settings that are not Dataverse columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserFlags {
    /// Organisation-level read on the ChatBell tables: needed for change tracking.
    pub org_level_read: bool,
}

/// Who writes, and when.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx {
    /// The calling user (`_createdby_value`, `_modifiedby_value`, default owner).
    pub actor: Uuid,
    /// The write's time (stored to the second).
    pub now: DateTime<Utc>,
}

/// `If-Match` / `If-None-Match` conditions of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `If-Match`: `Some(None)` for `*`, `Some(Some(version))` for an etag.
    pub if_match: Option<Option<u64>>,
    /// `If-None-Match: *` (create only).
    pub if_none_match_any: bool,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new row.
    Created,
    /// An existing row changed.
    Updated,
}

/// One validated column change.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub col: &'static str,
    pub value: Value,
    /// For a lookup: the target's logical name and id.
    pub target: Option<(&'static str, Uuid)>,
}

/// One change-tracking entry.
#[derive(Debug, Clone)]
pub enum Delta {
    /// A new or updated row (current values).
    Row(Uuid, u64),
    /// A deleted row.
    Deleted(Uuid, u64),
}

impl Delta {
    /// The version of the change.
    pub fn version(&self) -> u64 {
        match self {
            Delta::Row(_, v) | Delta::Deleted(_, v) => *v,
        }
    }
}

/// The emulator's data.
#[derive(Debug, Default)]
pub struct OrgData {
    tables: HashMap<&'static str, BTreeMap<Uuid, Row>>,
    tombstones: HashMap<&'static str, Vec<Tombstone>>,
    memberships: BTreeSet<(Uuid, Uuid)>,
    flags: HashMap<Uuid, UserFlags>,
    version: u64,
    /// Incremented by the test endpoint that expires every delta token.
    pub delta_epoch: u64,
    sink: Option<Sink>,
}

fn table_of(set: &str) -> Result<&'static Table, ApiError> {
    schema().by_set(set).ok_or_else(|| ApiError::segment(set))
}

/// Parses a bind path: `/cb_chatsessions(<id>)`, `cb_chatsessions(<id>)` or an
/// absolute URL ending in `/api/data/v9.2/cb_chatsessions(<id>)`.
pub fn parse_entity_ref(s: &str) -> Option<(&'static Table, Uuid)> {
    let tail = match s.find("/api/data/v9.2/") {
        Some(i) => &s[i + "/api/data/v9.2/".len()..],
        None => s.strip_prefix('/').unwrap_or(s),
    };
    let open = tail.find('(')?;
    let close = tail.strip_suffix(')')?;
    let set = &tail[..open];
    let id = Uuid::parse_str(close.get(open + 1..)?).ok()?;
    Some((schema().by_set(set)?, id))
}

impl OrgData {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends every later change to a persistence sink.
    pub(crate) fn set_sink(&mut self, sink: Sink) {
        self.sink = Some(sink);
    }

    fn persist(&self, op: PersistOp) {
        if let Some(s) = &self.sink {
            s.send(op);
        }
    }

    /// The last version handed out.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// All rows of a set, by id.
    pub fn rows(&self, set: &str) -> impl Iterator<Item = (&Uuid, &Row)> {
        self.tables.get(set).into_iter().flat_map(|t| t.iter())
    }

    /// One row.
    pub fn get(&self, set: &str, id: Uuid) -> Option<&Row> {
        self.tables.get(set).and_then(|t| t.get(&id))
    }

    /// Whether a row of the table with logical name `logical` exists.
    pub fn exists_logical(&self, logical: &str, id: Uuid) -> bool {
        schema()
            .by_logical(logical)
            .is_some_and(|t| self.get(t.set, id).is_some())
    }

    /// The primary name of a row, for formatted values.
    pub fn primary_name(&self, logical: &str, id: Uuid) -> Option<String> {
        let t = schema().by_logical(logical)?;
        self.get(t.set, id)?.str(t.primary_name).map(str::to_string)
    }

    /// Validates a client's JSON body for `table` into column changes.
    pub(crate) fn prepare(
        &self,
        table: &Table,
        body: &Map<String, Value>,
    ) -> Result<Vec<Change>, ApiError> {
        let mut out = Vec::new();
        for (k, v) in body {
            if let Some(nav) = k.strip_suffix("@odata.bind") {
                let col = table.lookup_by_nav(nav).ok_or_else(|| {
                    ApiError::payload(
                        table.set,
                        format!("An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."),
                    )
                })?;
                out.push(self.bind(table, col, v)?);
                continue;
            }
            if k.contains('@') {
                // Other instance annotations (e.g. `@odata.type`) carry no data.
                continue;
            }
            let col = table.column(k).ok_or_else(|| {
                ApiError::payload(
                    table.set,
                    format!("The property '{k}' does not exist on type 'Microsoft.Dynamics.CRM.{}'. Make sure to only use property names that are defined by the type or mark the type as open type.", table.logical),
                )
            })?;
            if let ColType::Lookup(_) = col.ty {
                return Err(ApiError::payload(
                    table.set,
                    format!("Invalid property '{k}' was found in entity 'Microsoft.Dynamics.CRM.{}'. Set a lookup with '{}@odata.bind'.", table.logical, col.nav_name().unwrap_or(k)),
                ));
            }
            if !col.writable {
                // Dataverse ignores writes to system columns such as createdon;
                // the primary key is handled by the caller.
                if col.ty == ColType::Key {
                    let ok = v.as_str().and_then(|s| Uuid::parse_str(s).ok()).is_some();
                    if !ok {
                        return Err(ApiError::payload(
                            table.set,
                            format!(
                                "Cannot convert the literal '{v}' to the expected type 'Edm.Guid'."
                            ),
                        ));
                    }
                }
                continue;
            }
            out.push(Change {
                col: col.name,
                value: check_value(table, col, v)?,
                target: None,
            });
        }
        Ok(out)
    }

    fn bind(&self, table: &Table, col: &Column, v: &Value) -> Result<Change, ApiError> {
        let ColType::Lookup(targets) = col.ty else {
            return Err(ApiError::payload(table.set, "not a lookup"));
        };
        if v.is_null() {
            if col.name == "_ownerid_value" {
                return Err(ApiError::payload(
                    table.set,
                    "The owner of a record cannot be cleared.",
                ));
            }
            return Ok(Change {
                col: col.name,
                value: Value::Null,
                target: None,
            });
        }
        let s = v.as_str().ok_or_else(|| {
            ApiError::payload(
                table.set,
                format!(
                    "The value of '{}@odata.bind' must be a string such as '/{}(<id>)'.",
                    col.nav_name().unwrap_or(col.name),
                    targets
                        .first()
                        .map_or("", |t| schema().by_logical(t).map_or("", |t| t.set))
                ),
            )
        })?;
        let (target, id) = parse_entity_ref(s).ok_or_else(|| {
            ApiError::payload(
                table.set,
                format!(
                    "The URI '{s}' in '{}@odata.bind' is not a valid entity reference.",
                    col.nav_name().unwrap_or(col.name)
                ),
            )
        })?;
        if !targets.contains(&target.logical) {
            return Err(ApiError::payload(
                table.set,
                format!(
                    "'{}@odata.bind' cannot refer to a '{}' row.",
                    col.nav_name().unwrap_or(col.name),
                    target.logical
                ),
            ));
        }
        if self.get(target.set, id).is_none() {
            // Dataverse answers a bind to a missing row with "Does Not Exist";
            // the emulator uses 400 so that the client sees a bad request.
            let mut e = ApiError::not_found(target.logical, id);
            e.status = StatusCode::BAD_REQUEST;
            return Err(e);
        }
        Ok(Change {
            col: col.name,
            value: Value::String(id.to_string()),
            target: Some((target.logical, id)),
        })
    }

    fn apply(fields: &mut Map<String, Value>, changes: &[Change]) {
        for c in changes {
            fields.insert(c.col.to_string(), c.value.clone());
            let ann = format!("{}{LOOKUP_LOGICAL}", c.col);
            match c.target {
                Some((logical, _)) => {
                    fields.insert(ann, Value::String(logical.to_string()));
                }
                None if c.value.is_null() => {
                    fields.remove(&ann);
                }
                None => {}
            }
        }
    }

    /// Creates a row from a client body. `id` is the id from the URL (upsert) or
    /// `None`, in which case the body's primary key or a new GUID is used.
    pub fn create(
        &mut self,
        set: &str,
        id: Option<Uuid>,
        body: &Map<String, Value>,
        ctx: WriteCtx,
    ) -> Result<Uuid, ApiError> {
        let table = table_of(set)?;
        let changes = self.prepare(table, body)?;
        let id = id
            .or_else(|| {
                body.get(table.key)
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
            })
            .unwrap_or_else(Uuid::new_v4);
        if self.get(table.set, id).is_some() {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                codes::DUPLICATE,
                "A record with matching key values already exists.",
            ));
        }
        let now = format_ts(ctx.now);
        let mut fields = Map::new();
        for c in &table.columns {
            fields.insert(c.name.to_string(), Value::Null);
        }
        fields.insert(table.key.to_string(), Value::String(id.to_string()));
        fields.insert("createdon".into(), Value::String(now.clone()));
        fields.insert("modifiedon".into(), Value::String(now));
        let actor = ctx.actor.to_string();
        let user_ref = |col: &'static str| Change {
            col,
            value: Value::String(actor.clone()),
            target: Some(("systemuser", ctx.actor)),
        };
        let mut defaults = vec![user_ref("_createdby_value"), user_ref("_modifiedby_value")];
        if table.column("_ownerid_value").is_some() {
            defaults.push(user_ref("_ownerid_value"));
            fields.insert("statecode".into(), Value::from(0));
            fields.insert("statuscode".into(), Value::from(1));
        }
        Self::apply(&mut fields, &defaults);
        Self::apply(&mut fields, &changes);
        crate::plugins::pre_create(self, table, &mut fields, &changes, ctx)?;
        let version = self.next_version();
        fields.insert("versionnumber".into(), Value::from(version));
        let row = Row { fields, version };
        self.put(table.set, id, row);
        crate::plugins::post_create(self, table, id, ctx);
        Ok(id)
    }

    fn put(&mut self, set: &'static str, id: Uuid, row: Row) {
        self.persist(PersistOp::PutRow {
            set,
            id,
            version: row.version,
            data: Value::Object(row.fields.clone()).to_string(),
        });
        self.tables.entry(set).or_default().insert(id, row);
    }

    fn check_conditions(existing: Option<&Row>, cond: &Conditions) -> Result<(), ApiError> {
        match (existing, &cond.if_match) {
            (Some(row), Some(Some(v))) if row.version != *v => {
                return Err(ApiError::version_mismatch())
            }
            _ => {}
        }
        if existing.is_some() && cond.if_none_match_any {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                codes::DUPLICATE,
                "A record with matching key values already exists.",
            ));
        }
        Ok(())
    }

    /// Updates a row, or creates it (upsert) when it is missing and no
    /// `If-Match` is given. `If-Match: *` makes it update-only (404 when missing).
    pub fn upsert(
        &mut self,
        set: &str,
        id: Uuid,
        body: &Map<String, Value>,
        ctx: WriteCtx,
        cond: &Conditions,
    ) -> Result<Upserted, ApiError> {
        let table = table_of(set)?;
        let existing = self.get(table.set, id);
        Self::check_conditions(existing, cond)?;
        if existing.is_none() {
            if cond.if_match.is_some() {
                return Err(ApiError::not_found(table.logical, id));
            }
            self.create(set, Some(id), body, ctx)?;
            return Ok(Upserted::Created);
        }
        self.update(set, id, body, ctx)?;
        Ok(Upserted::Updated)
    }

    /// Updates an existing row (404 when missing).
    pub fn update(
        &mut self,
        set: &str,
        id: Uuid,
        body: &Map<String, Value>,
        ctx: WriteCtx,
    ) -> Result<(), ApiError> {
        let table = table_of(set)?;
        let changes = self.prepare(table, body)?;
        self.update_changes(table, id, &changes, ctx)
    }

    pub(crate) fn update_changes(
        &mut self,
        table: &'static Table,
        id: Uuid,
        changes: &[Change],
        ctx: WriteCtx,
    ) -> Result<(), ApiError> {
        let version = self.version + 1;
        let row = self
            .tables
            .get_mut(table.set)
            .and_then(|t| t.get_mut(&id))
            .ok_or_else(|| ApiError::not_found(table.logical, id))?;
        Self::apply(&mut row.fields, changes);
        Self::apply(
            &mut row.fields,
            &[Change {
                col: "_modifiedby_value",
                value: Value::String(ctx.actor.to_string()),
                target: Some(("systemuser", ctx.actor)),
            }],
        );
        row.fields
            .insert("modifiedon".into(), Value::String(format_ts(ctx.now)));
        row.fields
            .insert("versionnumber".into(), Value::from(version));
        row.version = version;
        let row = row.clone();
        self.version = version;
        self.put(table.set, id, row);
        Ok(())
    }

    /// Deletes a row (honouring `If-Match`). Lookups to it are cleared (the
    /// "remove link" behaviour of a referential relationship); a user or team that
    /// still owns rows cannot be deleted, and users cannot be deleted at all.
    pub fn delete(
        &mut self,
        set: &str,
        id: Uuid,
        cond: &Conditions,
        ctx: WriteCtx,
    ) -> Result<(), ApiError> {
        let table = table_of(set)?;
        if table.logical == "systemuser" {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "0x80040800",
                "The 'Delete' method does not support entities of type 'systemuser'.",
            ));
        }
        let existing = self.get(table.set, id);
        if existing.is_none() {
            return Err(ApiError::not_found(table.logical, id));
        }
        Self::check_conditions(existing, cond)?;
        let id_s = id.to_string();
        let mut unlink: Vec<(&'static Table, Uuid, &'static str)> = Vec::new();
        for t in schema().tables() {
            for c in t
                .columns
                .iter()
                .filter(|c| matches!(c.ty, ColType::Lookup(_)) && c.writable)
            {
                for (rid, row) in self.rows(t.set) {
                    if row.str(c.name) == Some(id_s.as_str()) {
                        if c.name == "_ownerid_value" {
                            return Err(ApiError::new(
                                StatusCode::BAD_REQUEST,
                                "0x80040227",
                                format!(
                                    "The {} cannot be deleted because it owns records.",
                                    table.logical
                                ),
                            ));
                        }
                        unlink.push((t, *rid, c.name));
                    }
                }
            }
        }
        for (t, rid, col) in unlink {
            let ch = Change {
                col,
                value: Value::Null,
                target: None,
            };
            self.update_changes(t, rid, &[ch], ctx)?;
        }
        if let Some(t) = self.tables.get_mut(table.set) {
            t.remove(&id);
        }
        if table.logical == "team" || table.logical == "systemuser" {
            let gone: Vec<_> = self
                .memberships
                .iter()
                .filter(|(team, user)| *team == id || *user == id)
                .copied()
                .collect();
            for (team, user) in gone {
                self.remove_member(team, user);
            }
        }
        let version = self.next_version();
        self.tombstones
            .entry(table.set)
            .or_default()
            .push(Tombstone { id, version });
        self.persist(PersistOp::DeleteRow {
            set: table.set,
            id,
            version,
        });
        Ok(())
    }

    /// Changes to `set` with a version in `(since, upto]`, oldest first: new or
    /// updated rows, and (if `include_deleted`) deleted rows.
    pub fn changes(&self, set: &str, since: u64, upto: u64, include_deleted: bool) -> Vec<Delta> {
        let mut out: Vec<Delta> = self
            .rows(set)
            .filter(|(_, r)| r.version > since && r.version <= upto)
            .map(|(id, r)| Delta::Row(*id, r.version))
            .collect();
        if include_deleted {
            for t in self.tombstones.get(set).into_iter().flatten() {
                if t.version > since && t.version <= upto && self.get(set, t.id).is_none() {
                    out.push(Delta::Deleted(t.id, t.version));
                }
            }
        }
        out.sort_by_key(Delta::version);
        out
    }

    /// Adds a user to a team (idempotent).
    pub fn add_member(&mut self, team: Uuid, user: Uuid) {
        if self.memberships.insert((team, user)) {
            self.persist(PersistOp::Member {
                team,
                user,
                add: true,
            });
        }
    }

    /// Removes a user from a team. Returns whether they were a member.
    pub fn remove_member(&mut self, team: Uuid, user: Uuid) -> bool {
        let was = self.memberships.remove(&(team, user));
        if was {
            self.persist(PersistOp::Member {
                team,
                user,
                add: false,
            });
        }
        was
    }

    /// The teams a user belongs to.
    pub fn teams_of(&self, user: Uuid) -> Vec<Uuid> {
        self.memberships
            .iter()
            .filter(|(_, u)| *u == user)
            .map(|(t, _)| *t)
            .collect()
    }

    /// The members of a team.
    pub fn members_of(&self, team: Uuid) -> Vec<Uuid> {
        self.memberships
            .iter()
            .filter(|(t, _)| *t == team)
            .map(|(_, u)| *u)
            .collect()
    }

    /// A user's flags.
    pub fn flags(&self, user: Uuid) -> UserFlags {
        self.flags.get(&user).copied().unwrap_or_default()
    }

    /// Sets a user's flags.
    pub fn set_flags(&mut self, user: Uuid, flags: UserFlags) {
        self.flags.insert(user, flags);
        self.persist(PersistOp::Flags { user, flags });
    }

    /// Finds a user by id or (case-insensitive) e-mail address.
    pub fn find_user(&self, who: &str) -> Option<Uuid> {
        if let Ok(id) = Uuid::parse_str(who) {
            return self.get("systemusers", id).map(|_| id);
        }
        let who = who.to_lowercase();
        self.rows("systemusers")
            .find(|(_, r)| {
                r.str("internalemailaddress").map(str::to_lowercase) == Some(who.clone())
                    || r.str("domainname").map(str::to_lowercase) == Some(who.clone())
            })
            .map(|(id, _)| *id)
    }

    /// Loads persisted data (used at start with `--state`).
    pub(crate) fn load(
        &mut self,
        rows: Vec<(String, Uuid, u64, Map<String, Value>)>,
        tombstones: Vec<(String, Uuid, u64)>,
        members: Vec<(Uuid, Uuid)>,
        flags: Vec<(Uuid, UserFlags)>,
    ) {
        for (set, id, version, fields) in rows {
            if let Some(t) = schema().by_set(&set) {
                self.version = self.version.max(version);
                self.tables
                    .entry(t.set)
                    .or_default()
                    .insert(id, Row { fields, version });
            }
        }
        for (set, id, version) in tombstones {
            if let Some(t) = schema().by_set(&set) {
                self.version = self.version.max(version);
                self.tombstones
                    .entry(t.set)
                    .or_default()
                    .push(Tombstone { id, version });
            }
        }
        self.memberships.extend(members);
        self.flags.extend(flags);
    }

    /// Whether the store holds no rows at all.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }
}

/// Checks and normalises one written value against its column.
fn check_value(table: &Table, col: &Column, v: &Value) -> Result<Value, ApiError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let bad = || {
        ApiError::payload(
            table.set,
            format!(
                "Cannot convert the literal '{v}' to the expected type '{}'.",
                col.ty.edm()
            ),
        )
    };
    match col.ty {
        ColType::Str(max) => {
            let s = v.as_str().ok_or_else(bad)?;
            if s.chars().count() > max {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "0x80044331",
                    format!(
                        "A validation error occurred. The length of the '{}' attribute of the '{}' entity exceeded the maximum allowed length of '{max}'.",
                        col.name, table.logical
                    ),
                ));
            }
            Ok(Value::String(s.to_string()))
        }
        ColType::Int(choices) => {
            let n = v.as_i64().ok_or_else(bad)?;
            if i32::try_from(n).is_err() {
                return Err(bad());
            }
            if let Some(choices) = choices {
                if !choices.iter().any(|(c, _)| *c == n) {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "0x8004431a",
                        format!(
                            "{n} is not a valid value for the '{}' attribute of the '{}' entity.",
                            col.name, table.logical
                        ),
                    ));
                }
            }
            Ok(Value::from(n))
        }
        ColType::Bool => v.as_bool().map(Value::Bool).ok_or_else(bad),
        ColType::DateTime => {
            let t = v.as_str().and_then(parse_ts).ok_or_else(bad)?;
            Ok(Value::String(format_ts(t)))
        }
        ColType::Key | ColType::Version | ColType::Lookup(_) => Err(bad()),
    }
}

impl OrgData {
    /// Detaches the persistence sink (so the writer can finish).
    pub(crate) fn take_sink(&mut self) -> Option<Sink> {
        self.sink.take()
    }
}
