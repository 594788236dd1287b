//! Polling Dynamics for what changed, within the request budget.
//!
//! Agents rarely hold the organisation-level read that change tracking needs, so
//! ChatBell polls by `modifiedon` watermark:
//!
//! - every cycle: sessions (`cb_chatsessions`) and the requests that concern me
//!   (`cb_chatrequests`), each with `modifiedon ge <watermark - overlap>`;
//! - messages (`cb_chatmessages`) only in a cycle where a session says a message
//!   came after the messages' watermark (the add-on stamps every new message on its
//!   session), so a quiet cycle costs two requests;
//! - every [`PollConfig::slow_every`]: the configurations, the blocked numbers and
//!   my team memberships, read whole (they are small), so that removals show too.
//!
//! `modifiedon` has a one-second grain and rows may commit out of order, hence the
//! overlap: a row is read again for a while after it changed, and de-duplicated by
//! id and etag (messages by id) before it reaches the engine. Agents' names come
//! from the lookups' formatted values, at no extra request.

use crate::client::{Dataverse, DataverseError, CODE_DELTA_TOKEN_EXPIRED};
use crate::datetime;
use crate::decode::{self, DecodeError};
use crate::schema::{Schema, Table};
use chatbell_core::{BlockedId, Change, ConfigId, Span, TeamId, Ts, UserId};
use chatbell_store::Watermark;
use std::collections::HashMap;
use uuid::Uuid;

/// How the poller reads.
#[derive(Clone, Debug)]
pub struct PollConfig {
    /// How far back each query reaches before its watermark.
    pub overlap: Span,
    /// How often the slow tables (configurations, blocked numbers, my teams) are read.
    pub slow_every: Span,
    /// `odata.maxpagesize`.
    pub page_size: u32,
    /// How far back the first sync reads messages.
    pub history: Span,
    /// Try change tracking for the sessions (it needs organisation-level read;
    /// when Dynamics refuses it, the poller falls back to watermarks for good).
    pub change_tracking: bool,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            overlap: Span::seconds(30),
            slow_every: Span::minutes(5),
            page_size: 500,
            history: Span::hours(24),
            change_tracking: true,
        }
    }
}

/// What one poll brought.
#[derive(Debug, Default)]
pub struct Batch {
    /// New or changed rows, de-duplicated, in an order the engine can take
    /// (slow tables first, then sessions, their messages, requests).
    pub changes: Vec<Change>,
    /// The watermarks to record with the batch (entity set name → where it is).
    pub watermarks: Vec<(String, Watermark)>,
    /// Rows that could not be read, skipped.
    pub skipped: Vec<DecodeError>,
    /// What the poller learns once the batch is committed.
    advance: Advance,
}

impl Batch {
    /// Whether this poll read the slow tables.
    pub fn read_slow_tables(&self) -> bool {
        self.advance.slow_at.is_some()
    }
}

/// The poller's state that moves only when a batch is committed.
#[derive(Debug, Default)]
struct Advance {
    marks: Vec<(Table, Ts)>,
    seen: Vec<((Table, Uuid), (String, Ts))>,
    slow_at: Option<Ts>,
    configs: Option<HashMap<Uuid, String>>,
    blocked: Option<HashMap<Uuid, String>>,
    teams: Option<Vec<TeamId>>,
    /// The sessions' new delta link; `Some(None)` drops it.
    delta: Option<Option<String>>,
    /// Dynamics refused change tracking.
    tracking_refused: bool,
}

/// Sessions fetched by id per query (the `$filter` stays short).
const FETCH_CHUNK: usize = 20;

/// Which of the busy tables a poll reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    /// Sessions, and the messages they say are new.
    pub sessions: bool,
    /// Requests made by me or to me.
    pub requests: bool,
}

impl Tables {
    pub const ALL: Tables = Tables {
        sessions: true,
        requests: true,
    };
}

/// Reads what changed since the last poll.
pub struct Poller {
    dv: Dataverse,
    schema: Schema,
    me: UserId,
    cfg: PollConfig,
    /// Per table: the newest `modifiedon` seen, as committed.
    marks: HashMap<Table, Ts>,
    /// Rows seen within the overlap: id → (etag, modifiedon).
    seen: HashMap<(Table, Uuid), (String, Ts)>,
    last_slow: Option<Ts>,
    known_configs: HashMap<Uuid, String>,
    known_blocked: HashMap<Uuid, String>,
    my_teams: Option<Vec<TeamId>>,
    /// The sessions' `@odata.deltaLink`, while change tracking is in use.
    delta: Option<String>,
    /// Change tracking was refused (or is off): watermarks only.
    no_tracking: bool,
}

const WATERMARKED: [Table; 3] = [Table::Session, Table::Message, Table::Request];

impl Poller {
    /// A poller for the agent `me`, resuming from `watermarks` (as the store kept
    /// them, by entity set name).
    pub fn new(
        dv: Dataverse,
        schema: Schema,
        me: UserId,
        cfg: PollConfig,
        watermarks: &[(String, Watermark)],
    ) -> Poller {
        let mut marks = HashMap::new();
        let mut delta = None;
        for t in WATERMARKED {
            if let Some((_, w)) = watermarks.iter().find(|(set, _)| set == schema.set(t)) {
                marks.insert(t, w.modified_on);
                if t == Table::Session {
                    delta.clone_from(&w.token);
                }
            }
        }
        let no_tracking = !cfg.change_tracking;
        Poller {
            dv,
            schema,
            me,
            cfg,
            marks,
            seen: HashMap::new(),
            last_slow: None,
            known_configs: HashMap::new(),
            known_blocked: HashMap::new(),
            my_teams: None,
            delta,
            no_tracking,
        }
    }

    /// The entity sets whose watermark the store keeps for this poller.
    pub fn watermark_sets(schema: &Schema) -> Vec<String> {
        WATERMARKED
            .iter()
            .map(|t| schema.set(*t).to_string())
            .collect()
    }

    /// Whether the sessions were ever read (this is not a first sync).
    pub fn has_synced(&self) -> bool {
        self.marks.contains_key(&Table::Session)
    }

    /// A poller for the same agent that starts over: no watermarks, nothing
    /// seen (a cache rebuilt from Dynamics).
    pub fn start_over(&self) -> Poller {
        let mut p = Poller::new(
            self.dv.clone(),
            self.schema.clone(),
            self.me,
            self.cfg.clone(),
            &[],
        );
        p.no_tracking = self.no_tracking;
        p
    }

    /// The client this poller reads through.
    pub fn client(&self) -> &Dataverse {
        &self.dv
    }

    fn prefer(&self) -> Vec<String> {
        vec![
            format!("odata.maxpagesize={}", self.cfg.page_size),
            "odata.include-annotations=\"*\"".to_string(),
        ]
    }

    /// One poll at `now`. The poller remembers nothing of it until
    /// [`Poller::committed`] is called with the batch: a batch that was not
    /// committed is read again next time.
    pub async fn poll(&mut self, now: Ts) -> Result<Batch, DataverseError> {
        self.poll_tables(now, Tables::ALL).await
    }

    /// One poll of some of the tables that change all day (the slow tables come
    /// along when they are due).
    pub async fn poll_tables(&mut self, now: Ts, tables: Tables) -> Result<Batch, DataverseError> {
        let mut batch = Batch::default();
        if self
            .last_slow
            .is_none_or(|t| now - t >= self.cfg.slow_every)
        {
            self.poll_slow(&mut batch).await?;
            batch.advance.slow_at = Some(now);
        }

        let (sessions, messages) = if tables.sessions {
            self.poll_sessions(now, &mut batch).await?
        } else {
            (Vec::new(), Vec::new())
        };
        let requests = if tables.requests {
            self.poll_requests(&mut batch).await?
        } else {
            Vec::new()
        };
        batch.changes.extend(sessions);
        batch.changes.extend(messages);
        batch.changes.extend(requests);
        batch.watermarks = self.watermarks_after(&batch.advance);
        Ok(batch)
    }

    /// Sessions, through change tracking where it is granted, and the messages
    /// they say are new.
    async fn poll_sessions(
        &mut self,
        now: Ts,
        batch: &mut Batch,
    ) -> Result<(Vec<Change>, Vec<Change>), DataverseError> {
        let mut sessions = None;
        if !self.no_tracking {
            match self.track_sessions(batch).await {
                Ok(rows) => sessions = Some(rows),
                Err(TrackError::Refused(why)) => {
                    tracing::info!(%why, "change tracking refused: polling by modifiedon");
                    batch.advance.tracking_refused = true;
                    batch.advance.delta = Some(None);
                }
                Err(TrackError::Dataverse(e)) => return Err(e),
            }
        }
        let sessions = match sessions {
            Some(rows) => rows,
            None => {
                let filter = match self.since(Table::Session) {
                    Some(t) => format!("modifiedon ge {}", datetime::format(t)),
                    None => "statecode eq 0".to_string(),
                };
                self.query(Table::Session, &filter, batch).await?
            }
        };

        // Messages: when a session says one came after the messages' watermark.
        let message_mark = self.marks.get(&Table::Message).copied();
        let new_messages = match message_mark {
            None => true,
            Some(mark) => sessions.iter().any(|c| match c {
                Change::Session(s) => s
                    .last_customer_message_on
                    .max(s.last_agent_message_on)
                    .is_some_and(|t| t >= mark),
                _ => false,
            }),
        };
        let messages = if new_messages {
            let from = self.since(Table::Message).unwrap_or(now - self.cfg.history);
            let filter = format!("modifiedon ge {}", datetime::format(from));
            let rows = self.query(Table::Message, &filter, batch).await?;
            // Even an empty answer sets the mark: the next query starts there.
            if message_mark.is_none() {
                batch.advance.marks.push((Table::Message, from));
            }
            rows
        } else {
            Vec::new()
        };

        Ok((sessions, messages))
    }

    /// Requests made by me or to me.
    async fn poll_requests(&mut self, batch: &mut Batch) -> Result<Vec<Change>, DataverseError> {
        let mine = format!(
            "({to} eq {me} or {by} eq {me})",
            to = self.schema.lookup_value(Table::Request, "cb_requestedto"),
            by = self.schema.lookup_value(Table::Request, "cb_requestedby"),
            me = self.me
        );
        let filter = match self.since(Table::Request) {
            Some(t) => format!("modifiedon ge {} and {mine}", datetime::format(t)),
            None => format!(
                "statuscode eq {} and {mine}",
                self.schema.value(Table::Request, "statuscode", "pending")
            ),
        };
        self.query(Table::Request, &filter, batch).await
    }

    /// The batch was committed with its watermarks: move on from it.
    pub fn committed(&mut self, batch: Batch) {
        let a = batch.advance;
        for (t, mark) in a.marks {
            let m = self.marks.entry(t).or_insert(mark);
            *m = (*m).max(mark);
        }
        self.seen.extend(a.seen);
        // Forget what the overlap no longer reaches.
        let overlap = self.cfg.overlap;
        let marks = &self.marks;
        self.seen.retain(|(t, _), (_, modified)| {
            marks
                .get(t)
                .is_none_or(|m| *modified >= *m - overlap - Span::seconds(1))
        });
        if let Some(at) = a.slow_at {
            self.last_slow = Some(at);
        }
        if let Some(c) = a.configs {
            self.known_configs = c;
        }
        if let Some(b) = a.blocked {
            self.known_blocked = b;
        }
        if let Some(t) = a.teams {
            self.my_teams = Some(t);
        }
        if let Some(d) = a.delta {
            self.delta = d;
        }
        if a.tracking_refused {
            self.no_tracking = true;
        }
    }

    /// Whether the sessions are read through change tracking.
    pub fn uses_change_tracking(&self) -> bool {
        !self.no_tracking && self.delta.is_some()
    }

    /// Reads the sessions through change tracking: the delta link when there is
    /// one, else the whole table with a new one. An expired delta token
    /// (`0x80044352`) means: read the whole table again.
    async fn track_sessions(&mut self, batch: &mut Batch) -> Result<Vec<Change>, TrackError> {
        let mut prefer = self.prefer();
        prefer.push("odata.track-changes".into());
        let initial = format!(
            "{}?$select={}",
            self.schema.set(Table::Session),
            self.schema.select(Table::Session)
        );
        let page = match &self.delta {
            Some(link) => match self.dv.get_all(link, &prefer).await {
                Err(DataverseError::Service { code, .. }) if code == CODE_DELTA_TOKEN_EXPIRED => {
                    tracing::info!("the delta token expired: reading the sessions again");
                    self.dv.get_all(&initial, &prefer).await?
                }
                other => other?,
            },
            None => match self.dv.get_all(&initial, &prefer).await {
                Err(DataverseError::Service {
                    status: 400 | 403,
                    code,
                    message,
                }) => return Err(TrackError::Refused(format!("{message} ({code})"))),
                other => other?,
            },
        };
        let Some(link) = page.delta_link.clone() else {
            return Err(TrackError::Refused(
                "no @odata.deltaLink in the answer".into(),
            ));
        };
        let mut out = Vec::with_capacity(page.value.len());
        let mut rows = Vec::with_capacity(page.value.len());
        for v in &page.value {
            if !is_deleted_entity(v) {
                rows.push(v.clone());
            } else if let Some(id) = v
                .get("id")
                .and_then(|i| i.as_str())
                .and_then(|i| Uuid::parse_str(i).ok())
            {
                out.push(Change::SessionRemoved(chatbell_core::SessionId(id)));
            }
        }
        out.extend(self.absorb(Table::Session, &rows, batch));
        batch.advance.delta = Some(Some(link));
        Ok(out)
    }

    /// The store's watermarks once `advance` is applied.
    fn watermarks_after(&self, advance: &Advance) -> Vec<(String, Watermark)> {
        WATERMARKED
            .iter()
            .filter_map(|t| {
                let committed = self.marks.get(t).copied();
                let new = advance
                    .marks
                    .iter()
                    .filter(|(at, _)| at == t)
                    .map(|(_, m)| *m)
                    .max();
                let mark = committed.max(new)?;
                let token = match (t, &advance.delta) {
                    (Table::Session, Some(d)) => d.clone(),
                    (Table::Session, None) => self.delta.clone(),
                    _ => None,
                };
                let changed = new.is_some() || (*t == Table::Session && advance.delta.is_some());
                changed.then(|| {
                    (
                        self.schema.set(*t).to_string(),
                        Watermark {
                            modified_on: mark,
                            token,
                        },
                    )
                })
            })
            .collect()
    }

    /// Where a query on `table` starts: the watermark less the overlap.
    fn since(&self, table: Table) -> Option<Ts> {
        self.marks.get(&table).map(|t| *t - self.cfg.overlap)
    }

    /// Configurations, blocked numbers and my teams, read whole.
    async fn poll_slow(&mut self, batch: &mut Batch) -> Result<(), DataverseError> {
        let prefer = self.prefer();
        // My teams (R1).
        let path = format!(
            "{}({})/teammembership_association?$select={}",
            self.schema.set(Table::SystemUser),
            self.me,
            self.schema.select(Table::Team)
        );
        let page = self.dv.get_all(&path, &prefer).await?;
        let mut teams = Vec::new();
        let mut rows = Vec::new();
        batch.skipped.extend(decode::changes(
            &self.schema,
            Table::Team,
            &page.value,
            &mut rows,
        ));
        for c in &rows {
            if let Change::Team(t) = c {
                teams.push(t.id);
            }
        }
        teams.sort();
        if self.my_teams.as_ref() != Some(&teams) {
            batch.changes.extend(rows);
            batch.changes.push(Change::MyTeams(teams.clone()));
            batch.advance.teams = Some(teams);
        }

        // Configurations and blocked numbers: whole, so that removals show.
        let (configs, rows) = self.read_whole(Table::Configuration, batch).await?;
        for (id, etag, changes) in rows {
            if self.known_configs.get(&id) != Some(&etag) {
                batch.changes.extend(changes);
            }
        }
        for gone in self
            .known_configs
            .keys()
            .filter(|c| !configs.contains_key(c))
        {
            batch
                .changes
                .push(Change::ConfigurationRemoved(ConfigId(*gone)));
        }
        batch.advance.configs = Some(configs);

        let (blocked, rows) = self.read_whole(Table::Blocked, batch).await?;
        for (id, _, changes) in rows {
            if !self.known_blocked.contains_key(&id) {
                batch.changes.extend(changes);
            }
        }
        for gone in self
            .known_blocked
            .keys()
            .filter(|b| !blocked.contains_key(b))
        {
            batch.changes.push(Change::BlockedRemoved(BlockedId(*gone)));
        }
        batch.advance.blocked = Some(blocked);
        Ok(())
    }

    /// Every row of a small table: by id, its etag; and each row's changes.
    #[allow(clippy::type_complexity)]
    async fn read_whole(
        &self,
        table: Table,
        batch: &mut Batch,
    ) -> Result<(HashMap<Uuid, String>, Vec<(Uuid, String, Vec<Change>)>), DataverseError> {
        let path = format!(
            "{}?$select={}",
            self.schema.set(table),
            self.schema.select(table)
        );
        let page = self.dv.get_all(&path, &self.prefer()).await?;
        let mut known = HashMap::new();
        let mut rows = Vec::new();
        for v in &page.value {
            let mut changes = Vec::new();
            let errors =
                decode::changes(&self.schema, table, std::slice::from_ref(v), &mut changes);
            batch.skipped.extend(errors);
            if let (Some((id, etag, _)), false) =
                (identity(&self.schema, table, v), changes.is_empty())
            {
                known.insert(id, etag.clone());
                rows.push((id, etag, changes));
            }
        }
        Ok((known, rows))
    }

    /// Reads every page of `table` matching `filter`, decodes it, drops what was
    /// already seen (same id and etag) and notes the table's new watermark.
    async fn query(
        &mut self,
        table: Table,
        filter: &str,
        batch: &mut Batch,
    ) -> Result<Vec<Change>, DataverseError> {
        let path = format!(
            "{}?$select={}&$filter={}&$orderby=modifiedon asc",
            self.schema.set(table),
            self.schema.select(table),
            encode(filter)
        );
        let page = self.dv.get_all(&path, &self.prefer()).await?;
        Ok(self.absorb(table, &page.value, batch))
    }

    /// Reads the named sessions (a request read before its chat: the chat is
    /// fetched in the same batch, so the request can name the customer and be
    /// accepted at once). The watermarks do not move: those rows may be newer
    /// than sessions not read yet.
    pub async fn fetch_sessions(
        &mut self,
        ids: &[chatbell_core::SessionId],
        batch: &mut Batch,
    ) -> Result<Vec<Change>, DataverseError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(FETCH_CHUNK) {
            let key = self.schema.key(Table::Session);
            let filter = chunk
                .iter()
                .map(|id| format!("{key} eq {id}"))
                .collect::<Vec<_>>()
                .join(" or ");
            let path = format!(
                "{}?$select={}&$filter={}",
                self.schema.set(Table::Session),
                self.schema.select(Table::Session),
                encode(&filter)
            );
            let page = self.dv.get_all(&path, &self.prefer()).await?;
            out.extend(self.absorb_rows(Table::Session, &page.value, batch, false));
        }
        Ok(out)
    }

    /// Decodes the rows of `table` a query returned, drops those already seen
    /// (same id and etag), and notes what the batch will remember: the rows seen
    /// and the table's newest `modifiedon`.
    fn absorb(&self, table: Table, rows: &[serde_json::Value], batch: &mut Batch) -> Vec<Change> {
        self.absorb_rows(table, rows, batch, true)
    }

    /// [`Poller::absorb`]; `mark`: whether the rows' newest `modifiedon` moves
    /// the table's watermark.
    fn absorb_rows(
        &self,
        table: Table,
        rows: &[serde_json::Value],
        batch: &mut Batch,
        mark: bool,
    ) -> Vec<Change> {
        let mut out = Vec::with_capacity(rows.len());
        let mut newest: Option<Ts> = None;
        for v in rows {
            let identity = identity(&self.schema, table, v);
            if let Some((id, etag, modified)) = &identity {
                newest = newest.max(Some(*modified));
                if self.seen.get(&(table, *id)).is_some_and(|(e, _)| e == etag) {
                    continue;
                }
            }
            let errors = decode::changes(&self.schema, table, std::slice::from_ref(v), &mut out);
            if errors.is_empty() {
                if let Some((id, etag, modified)) = identity {
                    batch.advance.seen.push(((table, id), (etag, modified)));
                }
            }
            batch.skipped.extend(errors);
        }
        if let (Some(n), true) = (newest, mark) {
            batch.advance.marks.push((table, n));
        }
        out
    }
}

/// Why change tracking could not be used.
enum TrackError {
    /// Dynamics does not grant it to this agent (or this table).
    Refused(String),
    Dataverse(DataverseError),
}

impl From<DataverseError> for TrackError {
    fn from(e: DataverseError) -> Self {
        TrackError::Dataverse(e)
    }
}

/// A change-tracking row that says a row was deleted.
fn is_deleted_entity(v: &serde_json::Value) -> bool {
    v.get("@odata.context")
        .and_then(|c| c.as_str())
        .is_some_and(|c| c.ends_with("$deletedEntity"))
        || v.get("reason").and_then(|r| r.as_str()) == Some("deleted")
}

/// A row's id, etag and modifiedon, without decoding the rest.
fn identity(schema: &Schema, table: Table, v: &serde_json::Value) -> Option<(Uuid, String, Ts)> {
    let id = Uuid::parse_str(v.get(schema.key(table))?.as_str()?).ok()?;
    let modified = datetime::parse(v.get("modifiedon")?.as_str()?)?;
    let etag = v
        .get("@odata.etag")
        .and_then(|e| e.as_str())
        .unwrap_or("")
        .to_string();
    Some((id, etag, modified))
}

/// Percent-encodes a `$filter` value for a query string.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
