//! `--state FILE`: the store's data kept in SQLite so that a restarted emulator
//! keeps its rows, versions, deletions (for change tracking), team membership and
//! user flags.
//!
//! The store stays in memory and is the source of truth while running; every
//! change is also sent, in order, to one writer task that applies it to SQLite in
//! small transactions. [`crate::RunningEmulator::shutdown`] waits for the writer to
//! drain. Tokens, device codes and fault settings are not persisted: a restarted
//! emulator asks clients to sign in again, as a real tenant would after its
//! sessions were revoked.

use crate::error::EmulatorError;
use crate::store::{OrgData, UserFlags};
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row as _, SqlitePool};
use std::path::Path;
use tokio::sync::mpsc;
use uuid::Uuid;

/// One change to persist.
#[derive(Debug)]
pub enum PersistOp {
    /// A row was created or updated.
    PutRow {
        /// Entity set.
        set: &'static str,
        /// Row id.
        id: Uuid,
        /// Its version.
        version: u64,
        /// Its fields as JSON.
        data: String,
    },
    /// A row was deleted.
    DeleteRow {
        /// Entity set.
        set: &'static str,
        /// Row id.
        id: Uuid,
        /// The deletion's version.
        version: u64,
    },
    /// A team membership was added or removed.
    Member {
        /// Team id.
        team: Uuid,
        /// User id.
        user: Uuid,
        /// Added (true) or removed.
        add: bool,
    },
    /// A user's flags changed.
    Flags {
        /// User id.
        user: Uuid,
        /// The new flags.
        flags: UserFlags,
    },
}

/// Where the store sends its changes.
#[derive(Debug, Clone)]
pub struct Sink(mpsc::UnboundedSender<PersistOp>);

impl Sink {
    /// Queues a change (dropped silently if the writer has stopped).
    pub fn send(&self, op: PersistOp) {
        let _ = self.0.send(op);
    }
}

const DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS rows (entityset TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (entityset, id))",
    "CREATE TABLE IF NOT EXISTS tombstones (entityset TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS memberships (teamid TEXT NOT NULL, systemuserid TEXT NOT NULL, PRIMARY KEY (teamid, systemuserid))",
    "CREATE TABLE IF NOT EXISTS userflags (systemuserid TEXT PRIMARY KEY, data TEXT NOT NULL)",
];

fn uuid(s: &str) -> Result<Uuid, EmulatorError> {
    Uuid::parse_str(s).map_err(|e| EmulatorError::CorruptState(format!("bad id {s:?}: {e}")))
}

/// Opens (creating if needed) the state file and loads it into `store`.
pub async fn open(path: &Path, store: &mut OrgData) -> Result<SqlitePool, EmulatorError> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    for ddl in DDL {
        sqlx::query(ddl).execute(&pool).await?;
    }
    let mut rows = Vec::new();
    for r in sqlx::query("SELECT entityset, id, version, data FROM rows")
        .fetch_all(&pool)
        .await?
    {
        let set: String = r.try_get(0)?;
        let id: String = r.try_get(1)?;
        let version: i64 = r.try_get(2)?;
        let data: String = r.try_get(3)?;
        let fields: Map<String, Value> = serde_json::from_str(&data)
            .map_err(|e| EmulatorError::CorruptState(format!("row {id}: {e}")))?;
        rows.push((set, uuid(&id)?, version.max(0) as u64, fields));
    }
    let mut tombs = Vec::new();
    for r in sqlx::query("SELECT entityset, id, version FROM tombstones")
        .fetch_all(&pool)
        .await?
    {
        let set: String = r.try_get(0)?;
        let id: String = r.try_get(1)?;
        let version: i64 = r.try_get(2)?;
        tombs.push((set, uuid(&id)?, version.max(0) as u64));
    }
    let mut members = Vec::new();
    for r in sqlx::query("SELECT teamid, systemuserid FROM memberships")
        .fetch_all(&pool)
        .await?
    {
        let t: String = r.try_get(0)?;
        let u: String = r.try_get(1)?;
        members.push((uuid(&t)?, uuid(&u)?));
    }
    let mut flags = Vec::new();
    for r in sqlx::query("SELECT systemuserid, data FROM userflags")
        .fetch_all(&pool)
        .await?
    {
        let u: String = r.try_get(0)?;
        let d: String = r.try_get(1)?;
        let f: UserFlags = serde_json::from_str(&d)
            .map_err(|e| EmulatorError::CorruptState(format!("flags of {u}: {e}")))?;
        flags.push((uuid(&u)?, f));
    }
    store.load(rows, tombs, members, flags);
    Ok(pool)
}

/// Starts the writer; returns the sink to give the store and the writer's task.
pub fn spawn_writer(pool: SqlitePool) -> (Sink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<PersistOp>();
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 1000 {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            if let Err(e) = write_batch(&pool, batch).await {
                tracing::error!("state file write failed: {e}");
            }
        }
        pool.close().await;
    });
    (Sink(tx), task)
}

async fn write_batch(pool: &SqlitePool, batch: Vec<PersistOp>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for op in batch {
        match op {
            PersistOp::PutRow {
                set,
                id,
                version,
                data,
            } => {
                sqlx::query("INSERT INTO rows (entityset, id, version, data) VALUES (?, ?, ?, ?) ON CONFLICT (entityset, id) DO UPDATE SET version = excluded.version, data = excluded.data")
                    .bind(set)
                    .bind(id.to_string())
                    .bind(version as i64)
                    .bind(data)
                    .execute(&mut *tx)
                    .await?;
            }
            PersistOp::DeleteRow { set, id, version } => {
                sqlx::query("DELETE FROM rows WHERE entityset = ? AND id = ?")
                    .bind(set)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO tombstones (entityset, id, version) VALUES (?, ?, ?)")
                    .bind(set)
                    .bind(id.to_string())
                    .bind(version as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            PersistOp::Member { team, user, add } => {
                let q = if add {
                    "INSERT OR IGNORE INTO memberships (teamid, systemuserid) VALUES (?, ?)"
                } else {
                    "DELETE FROM memberships WHERE teamid = ? AND systemuserid = ?"
                };
                sqlx::query(q)
                    .bind(team.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            PersistOp::Flags { user, flags } => {
                let data = serde_json::to_string(&flags).unwrap_or_else(|_| "{}".into());
                sqlx::query("INSERT INTO userflags (systemuserid, data) VALUES (?, ?) ON CONFLICT (systemuserid) DO UPDATE SET data = excluded.data")
                    .bind(user.to_string())
                    .bind(data)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    tx.commit().await
}
