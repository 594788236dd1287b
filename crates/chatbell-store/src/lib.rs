//! ChatBell's local cache: one SQLite file, through sqlx.
//!
//! The store keeps what [`chatbell_core::Engine::restore`] needs to pick up where it
//! left off after a restart or a crash, and nothing it would have to decide: it
//! records what the engine decided, it applies no rule of its own.
//!
//! # The one-transaction rule (R14)
//!
//! [`Store::commit`] applies a sync batch (the rows) *and* records the engine's
//! effects for it, the new sync watermarks and the answered write-backs, in one
//! `BEGIN IMMEDIATE` transaction. A crash before the commit loses the whole batch:
//! the watermark did not move, so the next sync fetches the same rows again and the
//! restored engine decides again, as if for the first time. A crash after it loses
//! nothing. Either way nothing is done twice: rows are de-duplicated by id and etag,
//! and the engine, restored from a snapshot that already holds a batch's rows and
//! notifications, raises nothing new for them. The caller must commit *before* it
//! performs the effects (shows the toast, sends the write-back).
//!
//! # Tables (schema 1, `migrations/0001_initial.sql`)
//!
//! | table | holds | written by |
//! |---|---|---|
//! | `rows` | every synced row but messages: agents (`systemuser`), teams (`team`), configurations, sessions, requests, blocked numbers, and my teams (`teammembership`/`me`), as serde_json of the core type, keyed by `(entity, id)` with `etag` and `modified_on` where the type has them | [`Change`]s; removals delete |
//! | `messages` | one row per message: `id, session, direction, created_on, body, created_by`, indexed on `(session, created_on)` | [`Change::Message`] |
//! | `notifications` | every notification with its lifecycle, as JSON plus `key, kind, session, state, live, created_at, updated_at` | [`Effect::Show`], [`Effect::Update`], [`Effect::Close`], [`Effect::HideToast`] |
//! | `dismissed` | sessions I dismissed on this desktop (R9) | [`Effect::Dismiss`], [`Effect::Undismiss`] |
//! | `watermarks` | per entity set: a `modifiedon` and an opaque token (a delta link) | [`Commit::watermarks`] |
//! | `outbox` | write-back commands, pending until their outcome is recorded | [`Effect::WriteBack`], [`Commit::completed`] |
//! | `timers` | armed deadlines by [`TimerKey`] (R6, R8) | [`Effect::ArmTimer`], [`Effect::DisarmTimer`] |
//! | `meta` | `me`, `muted`, `unread` | [`Commit::me`], [`Commit::muted`], [`Effect::SetUnread`] |
//!
//! Sounds, ringing and opening things ([`Effect::PlaySound`],
//! [`Effect::StartRinging`], [`Effect::StopRinging`], [`Effect::OpenChat`],
//! [`Effect::OpenPanel`]) are not kept: they happen once, now.
//!
//! # The file
//!
//! Opened with: created if missing (with its directory), WAL journal,
//! `synchronous=NORMAL` (a process crash loses no committed transaction; a power
//! cut may lose the last few, never corrupts), foreign keys on, a 5 s busy timeout.
//! Migrations are embedded in the binary. A file written by a newer ChatBell is
//! refused with [`StoreError::TooNew`] and left untouched: see [`Store::open`].

mod codec;
mod error;
mod probe;
mod write;

pub use error::StoreError;

use chatbell_core::{
    Agent, BlockedNumber, Change, ChatRequest, Command, CommandId, Configuration, Effect, Message,
    MessageId, MessageStats, Notification, Session, SessionId, Snapshot, Span, Team, TeamId,
    TimerKey, Ts, UserId, WriteBackOutcome,
};
use codec::{from_json, parse, to_json};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// The migrations of `migrations/`, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!();

/// The schema version this build writes and knows: the newest embedded migration.
/// Every migration sets `PRAGMA user_version` to its own version.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a non-live notification stays in the [`Snapshot`]: the engine needs
/// the recent ones (an old Offer, Call, Request or Outcome) so as not to raise them
/// again.
pub const CLOSED_NOTIFICATIONS_KEPT: Span = Span::hours(7 * 24);

/// How long a writer waits for another one before giving up with "database is
/// locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The `entity` of "my teams" in the `rows` table (see [`Change::row_key`]).
const MY_TEAMS: &str = "teammembership";

/// Where a sync left off for one entity set.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Watermark {
    /// The newest `modifiedon` seen.
    pub modified_on: Ts,
    /// An opaque token to resume from, e.g. an `@odata.deltaLink`.
    pub token: Option<String>,
}

/// One atomic step: a sync batch, what the engine made of it, and the sync and
/// outbox bookkeeping that goes with it. See the crate documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Commit<'a> {
    /// Rows to upsert or delete, in order. A row whose id and etag (or, for the
    /// types without an etag, whose content) is already stored is skipped and
    /// counted as a duplicate.
    pub changes: &'a [Change],
    /// The engine's output to record, in order.
    pub effects: &'a [Effect],
    /// New watermarks, per entity set.
    pub watermarks: &'a [(String, Watermark)],
    /// Outbox entries Dynamics answered.
    pub completed: &'a [(CommandId, WriteBackOutcome)],
    /// Who is signed in, when it is known or changed.
    pub me: Option<UserId>,
    /// Sounds muted on this desktop, when changed (`Event::SetMuted` has no effect
    /// the store could record).
    pub muted: Option<bool>,
}

/// What a [`Store::commit`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Rows inserted or changed.
    pub written: usize,
    /// Rows deleted.
    pub removed: usize,
    /// Changes already stored (same id and etag or content), and removals of rows
    /// that were not there: nothing to do.
    pub duplicates: usize,
    /// Effects recorded (the kinds the store keeps, that changed something).
    pub effects: usize,
    /// Outbox entries marked answered.
    pub completed: usize,
}

/// ChatBell's local cache. Cheap to clone: clones share one connection.
///
/// One connection, taken in turn: ChatBell has one writer and small reads, a
/// pool would only add a hand-off per operation, and SQLite folds the WAL back
/// into the file (and deletes it) when the last connection closes alone, which
/// several pooled connections closing at once do not guarantee.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once [`Store::close`] ran, or after a write failed (the next
    /// operation connects again: a failed `COMMIT` may leave SQLite's
    /// transaction open).
    conn: Mutex<Option<SqliteConnection>>,
    path: PathBuf,
    /// [`Store::close`] ran: no connecting again.
    closed: std::sync::atomic::AtomicBool,
    /// Held in memory only ([`Store::open_in_memory`]): `path` is the file it
    /// stands in for, never opened.
    in_memory: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    ///
    /// An existing file is first opened read-only: when its `PRAGMA user_version`
    /// or its `_sqlx_migrations` table names a schema newer than
    /// [`SCHEMA_VERSION`], this fails with [`StoreError::TooNew`] before anything
    /// is written to it.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        if path.exists() {
            probe::refuse_newer(path, newest_migration()).await?;
        }
        let conn = connect(path).await?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(Some(conn)),
                path: path.to_path_buf(),
                closed: std::sync::atomic::AtomicBool::new(false),
                in_memory: false,
            }),
        })
    }

    /// A cache in memory only, standing in for the file at `path` when that
    /// cannot be opened (a full disk at start): ChatBell keeps notifying, the
    /// file is left as it is, and nothing of this run is kept after it.
    pub async fn open_in_memory(path: &Path) -> Result<Store, StoreError> {
        let conn = connect_memory().await?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(Some(conn)),
                path: path.to_path_buf(),
                closed: std::sync::atomic::AtomicBool::new(false),
                in_memory: true,
            }),
        })
    }

    /// Whether this cache is held in memory only ([`Store::open_in_memory`]).
    pub fn in_memory(&self) -> bool {
        self.inner.in_memory
    }

    /// [`Store::open`]; a file that is no usable cache (damaged, truncated,
    /// another program's) is moved aside as `<file>.damaged-<seconds>` and a new
    /// cache made in its place, which the desk fills from Dynamics in one
    /// catch-up. A file written by a newer ChatBell is never moved: that is
    /// [`StoreError::TooNew`].
    pub async fn open_or_rebuild(path: &Path) -> Result<(Store, Option<Rebuilt>), StoreError> {
        match Store::open(path).await {
            Ok(s) => Ok((s, None)),
            Err(e) if e.is_damaged() => {
                let moved_to = move_aside(path)?;
                let store = Store::open(path).await?;
                Ok((
                    store,
                    Some(Rebuilt {
                        moved_to,
                        why: e.to_string(),
                    }),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces a cache found damaged (or deleted) while running: closes it,
    /// moves what is left of it aside, and opens a new, empty one at the same
    /// path, which every clone of this store then uses.
    pub async fn rebuild(&self, why: &str) -> Result<Rebuilt, StoreError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(conn) = slot.take() {
            let _ = conn.close().await;
        }
        let path = &self.inner.path;
        if self.inner.in_memory {
            *slot = Some(connect_memory().await?);
            return Ok(Rebuilt {
                moved_to: None,
                why: why.to_string(),
            });
        }
        let moved_to = move_aside(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        *slot = Some(connect_elsewhere(path).await?);
        Ok(Rebuilt {
            moved_to,
            why: why.to_string(),
        })
    }

    /// Whether the cache's file is still where it was opened (a folder deleted
    /// while ChatBell runs leaves it writing to a file no one can find).
    pub fn file_exists(&self) -> bool {
        self.inner.in_memory || self.inner.path.exists()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The connection, once the operations before this one are done.
    async fn conn(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>, StoreError> {
        let mut slot = self.inner.conn.lock().await;
        if slot.is_none()
            && !self.inner.closed.load(std::sync::atomic::Ordering::SeqCst)
            && !self.inner.in_memory
        {
            *slot = Some(connect_elsewhere(&self.inner.path).await?);
        }
        MutexGuard::try_map(slot, Option::as_mut).map_err(|_| StoreError::Closed)
    }

    /// Reads the file through a connection of its own, not the store's page
    /// cache, and `PRAGMA quick_check`s it: damage done to the file while
    /// ChatBell runs (which the store's own connection may not read again for
    /// a long time) is [`StoreError::Corrupt`]. Writes nothing.
    pub async fn verify(&self) -> Result<(), StoreError> {
        if self.inner.in_memory {
            return Ok(());
        }
        let mut conn = SqliteConnectOptions::new()
            .filename(&self.inner.path)
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(|e| StoreError::classify(e, "opening the file to check it"))?;
        let checked: Result<Vec<String>, StoreError> = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| StoreError::classify(e, "quick check"));
        let _ = conn.close().await;
        match checked? {
            lines if lines.len() == 1 && lines[0] == "ok" => Ok(()),
            lines => Err(StoreError::Corrupt {
                what: "quick check".into(),
                detail: lines.join("; ").chars().take(300).collect(),
            }),
        }
    }

    /// Applies a sync batch and records the engine's effects, watermarks, answered
    /// write-backs and settings, all in one `BEGIN IMMEDIATE` transaction: all of it
    /// lands or none of it does.
    pub async fn commit(&self, c: &Commit<'_>) -> Result<CommitReport, StoreError> {
        self.commit_all(std::slice::from_ref(c)).await
    }

    /// Several commits, in order, in one transaction: what could not be written
    /// while the disk was full, and the one after it. All of it lands or none of
    /// it does. A full disk is [`StoreError::Full`], a damaged file
    /// [`StoreError::Corrupt`].
    pub async fn commit_all(&self, all: &[Commit<'_>]) -> Result<CommitReport, StoreError> {
        let mut conn = self.conn().await?;
        let result: Result<CommitReport, StoreError> = async {
            // Dropped unfinished (an error, or the future dropped), the
            // transaction rolls back.
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let mut report = CommitReport::default();
            for c in all {
                apply_commit(&mut tx, c, &mut report).await?;
            }
            tx.commit().await?;
            Ok(report)
        }
        .await;
        drop(conn);
        if result.is_err() {
            // A COMMIT that failed (a full disk) may leave SQLite's transaction
            // open: this connection goes, the next operation makes a new one,
            // and SQLite rolls back what is left of the failed one.
            if let Some(conn) = self.inner.conn.lock().await.take() {
                let _ = conn.close().await;
            }
        }
        result.map_err(|e| e.reclassify("writing the cache"))
    }

    /// Everything [`chatbell_core::Engine::restore`] needs, as of the wall clock.
    /// See [`Store::snapshot_at`].
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        use chatbell_core::Clock;
        self.snapshot_at(chatbell_core::SystemClock.now()).await
    }

    /// Everything [`chatbell_core::Engine::restore`] needs: who I am, every cached
    /// row but messages, each session's [`MessageStats`] computed from the
    /// messages, the live notifications and those that closed within
    /// [`CLOSED_NOTIFICATIONS_KEPT`] before `now`, my dismissals, the pending
    /// write-backs, the armed timers and the mute setting. Read in one transaction,
    /// so it is consistent.
    pub async fn snapshot_at(&self, now: Ts) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn().await?;
        // A read transaction: every table as of one moment.
        let mut tx = conn.begin().await?;
        let conn: &mut SqliteConnection = &mut tx;

        let me = match get_meta(conn, "me").await? {
            Some(s) => Some(parse::<UserId>("me", &s)?),
            None => None,
        };
        let muted = get_meta(conn, "muted").await?.as_deref() == Some("true");

        let stored: Vec<(String, String, String)> =
            sqlx::query_as("SELECT entity, id, body FROM rows ORDER BY entity, id")
                .fetch_all(&mut *conn)
                .await?;
        let mut rows = Vec::with_capacity(stored.len());
        for (entity, id, body) in stored {
            rows.push(decode_row(&entity, &id, &body)?);
        }

        #[allow(clippy::type_complexity)]
        let stats: Vec<(
            String,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<i64>,
        )> = sqlx::query_as(
            "WITH s AS (
                 SELECT session,
                        MAX(CASE WHEN direction = 1 THEN created_on END) AS last_customer,
                        MAX(CASE WHEN direction = 2 THEN created_on END) AS last_agent
                 FROM messages
                 WHERE session IN (SELECT id FROM rows WHERE entity = 'cb_chatsession')
                 GROUP BY session
             )
             SELECT s.session, s.last_customer,
                    (SELECT group_concat(m.id, ',' ORDER BY m.id) FROM messages AS m
                     WHERE m.session = s.session AND m.direction = 1
                       AND m.created_on = s.last_customer),
                    s.last_agent,
                    (SELECT MIN(m.created_on) FROM messages AS m
                     WHERE m.session = s.session AND m.direction = 1
                       AND (s.last_agent IS NULL OR m.created_on > s.last_agent))
             FROM s ORDER BY s.session",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut message_stats = Vec::with_capacity(stats.len());
        for (session, last_customer, newest, last_agent, first_unreplied) in stats {
            let mut newest_customer_ids = Vec::new();
            for id in newest
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
            {
                newest_customer_ids.push(parse::<MessageId>("message id", id)?);
            }
            message_stats.push((
                parse::<SessionId>("message session", &session)?,
                MessageStats {
                    last_customer: last_customer.map(Ts),
                    newest_customer_ids,
                    last_agent: last_agent.map(Ts),
                    first_unreplied: first_unreplied.map(Ts),
                },
            ));
        }

        let cutoff = now - CLOSED_NOTIFICATIONS_KEPT;
        let stored: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, body FROM notifications WHERE live = 1 OR updated_at >= ?1
             ORDER BY created_at, key",
        )
        .bind(cutoff.0)
        .fetch_all(&mut *conn)
        .await?;
        let mut notifications = Vec::with_capacity(stored.len());
        for (key, body) in stored {
            notifications.push(from_json::<Notification>("notification", &key, &body)?);
        }

        let stored: Vec<String> =
            sqlx::query_scalar("SELECT session FROM dismissed ORDER BY session")
                .fetch_all(&mut *conn)
                .await?;
        let mut dismissed = Vec::with_capacity(stored.len());
        for s in stored {
            dismissed.push(parse::<SessionId>("dismissed session", &s)?);
        }

        let pending = pending_in(conn).await?;

        let stored: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, at FROM timers ORDER BY at, key")
                .fetch_all(&mut *conn)
                .await?;
        let mut timers = Vec::with_capacity(stored.len());
        for (key, at) in stored {
            timers.push((from_json::<TimerKey>("timer", &key, &key)?, Ts(at)));
        }

        tx.commit().await?;
        Ok(Snapshot {
            me,
            rows,
            message_stats,
            notifications,
            dismissed,
            pending,
            timers,
            muted,
        })
    }

    /// Where the sync of `entity` left off, if it ever ran.
    pub async fn watermark(&self, entity: &str) -> Result<Option<Watermark>, StoreError> {
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT modified_on, token FROM watermarks WHERE entity = ?1")
                .bind(entity)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
        Ok(row.map(|(modified_on, token)| Watermark {
            modified_on: Ts(modified_on),
            token,
        }))
    }

    /// Write-backs not yet answered, oldest first.
    pub async fn pending_commands(&self) -> Result<Vec<Command>, StoreError> {
        pending_in(&mut *self.conn().await?).await
    }

    /// The newest `limit` notifications, live or not, newest first.
    pub async fn history(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        let stored: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, body FROM notifications
             ORDER BY created_at DESC, updated_at DESC, key DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        stored
            .iter()
            .map(|(key, body)| from_json("notification", key, body))
            .collect()
    }

    /// The cached messages of one session, oldest first.
    pub async fn messages(&self, session: SessionId) -> Result<Vec<Message>, StoreError> {
        let stored: Vec<(String, i64, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT id, direction, created_on, body, created_by FROM messages
             WHERE session = ?1 ORDER BY created_on, id",
        )
        .bind(session.to_string())
        .fetch_all(&mut *self.conn().await?)
        .await?;
        let mut out = Vec::with_capacity(stored.len());
        for (id, direction, created_on, body, created_by) in stored {
            out.push(Message {
                id: parse("message id", &id)?,
                session,
                direction: codec::direction_from_code(direction, &id)?,
                body,
                created_on: Ts(created_on),
                created_by: match created_by {
                    Some(u) => Some(parse("message author", &u)?),
                    None => None,
                },
            });
        }
        Ok(out)
    }

    /// The tray's unread count as last recorded ([`Effect::SetUnread`]), to show
    /// before the engine is restored.
    pub async fn last_unread(&self) -> Result<Option<u32>, StoreError> {
        match get_meta(&mut *self.conn().await?, "unread").await? {
            Some(s) => Ok(Some(parse("unread count", &s)?)),
            None => Ok(None),
        }
    }

    /// Forgets what no snapshot needs any more: notifications that closed before
    /// `before`, and answered write-backs issued before it. Returns how many
    /// entries went.
    pub async fn prune(&self, before: Ts) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let a = sqlx::query("DELETE FROM notifications WHERE live = 0 AND updated_at < ?1")
            .bind(before.0)
            .execute(&mut *tx)
            .await?;
        let b = sqlx::query("DELETE FROM outbox WHERE outcome IS NOT NULL AND issued_at < ?1")
            .bind(before.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    /// Runs `PRAGMA integrity_check`: `Ok` when SQLite answers "ok", otherwise
    /// [`StoreError::Corrupt`] with what it found.
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| StoreError::classify(e, "integrity check"))?;
        if lines.len() == 1 && lines[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                what: "integrity check".to_string(),
                detail: lines.into_iter().take(10).collect::<Vec<_>>().join("; "),
            })
        }
    }

    /// Waits for the operations in flight, checkpoints the WAL into the file and
    /// closes the connection. Any clone of this store then fails with
    /// [`StoreError::Closed`].
    pub async fn close(self) {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let conn = self.inner.conn.lock().await.take();
        if let Some(mut conn) = conn {
            // Best effort: closing the last connection checkpoints as well.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// Opens (creating it if missing) and migrates the cache at `path`, then
/// `PRAGMA quick_check`s it.
async fn connect(path: &Path) -> Result<SqliteConnection, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = options
        .connect()
        .await
        .map_err(|e| StoreError::classify(e, "opening the file"))?;
    if let Err(e) = migrate(&mut conn).await {
        let _ = conn.close().await;
        return Err(e.reclassify("bringing the schema up to date"));
    }
    let checked: Result<Vec<String>, StoreError> = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| StoreError::classify(e, "quick check"));
    let problem = match checked {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => None,
        Ok(lines) => Some(StoreError::Corrupt {
            what: "quick check".into(),
            detail: lines.join("; ").chars().take(300).collect(),
        }),
        Err(e) => Some(e),
    };
    if let Some(e) = problem {
        let _ = conn.close().await;
        return Err(e);
    }
    Ok(conn)
}

/// A cache in memory, its schema made (on a blocking thread, as
/// [`connect_elsewhere`]).
async fn connect_memory() -> Result<SqliteConnection, StoreError> {
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        rt.block_on(async {
            let mut conn = SqliteConnectOptions::new()
                .in_memory(true)
                .foreign_keys(true)
                .connect()
                .await
                .map_err(|e| StoreError::classify(e, "opening a cache in memory"))?;
            if let Err(e) = migrate(&mut conn).await {
                let _ = conn.close().await;
                return Err(e.reclassify("making the cache in memory"));
            }
            Ok(conn)
        })
    })
    .await
    .map_err(|e| StoreError::Io {
        path: PathBuf::from(":memory:"),
        source: std::io::Error::other(e.to_string()),
    })?
}

/// [`connect`] on a blocking thread: the compiler cannot prove the future of
/// sqlx's migrations `Send` (rust-lang/rust#96865), and the store's other
/// futures must stay `Send` for the desk to run on any runtime thread.
async fn connect_elsewhere(path: &Path) -> Result<SqliteConnection, StoreError> {
    let owned = path.to_path_buf();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || rt.block_on(connect(&owned)))
        .await
        .map_err(|e| StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// One commit's writes, inside the caller's transaction.
async fn apply_commit(
    tx: &mut SqliteConnection,
    c: &Commit<'_>,
    report: &mut CommitReport,
) -> Result<(), StoreError> {
    write::apply_changes(tx, c.changes, report).await?;
    report.effects += write::record_effects(tx, c.effects).await?;
    for (entity, w) in c.watermarks {
        sqlx::query(
            "INSERT INTO watermarks (entity, modified_on, token) VALUES (?1, ?2, ?3)
             ON CONFLICT (entity) DO UPDATE
             SET modified_on = excluded.modified_on, token = excluded.token",
        )
        .bind(entity)
        .bind(w.modified_on.0)
        .bind(w.token.as_deref())
        .execute(&mut *tx)
        .await?;
    }
    for (id, outcome) in c.completed {
        let done = sqlx::query("UPDATE outbox SET outcome = ?2 WHERE id = ?1 AND outcome IS NULL")
            .bind(id.to_string())
            .bind(to_json("write-back outcome", outcome)?)
            .execute(&mut *tx)
            .await?;
        report.completed += done.rows_affected() as usize;
    }
    if let Some(me) = c.me {
        write::set_meta(tx, "me", &me.to_string()).await?;
    }
    if let Some(muted) = c.muted {
        write::set_meta(tx, "muted", if muted { "true" } else { "false" }).await?;
    }
    Ok(())
}

/// A [`Commit`] that owns what it holds: kept in memory while it cannot be
/// written (a full disk), written later with [`Store::commit_all`].
#[derive(Clone, Debug, Default)]
pub struct OwnedCommit {
    pub changes: Vec<Change>,
    pub effects: Vec<Effect>,
    pub watermarks: Vec<(String, Watermark)>,
    pub completed: Vec<(CommandId, WriteBackOutcome)>,
    pub me: Option<UserId>,
    pub muted: Option<bool>,
}

impl OwnedCommit {
    /// A copy of `c`.
    pub fn of(c: &Commit<'_>) -> OwnedCommit {
        OwnedCommit {
            changes: c.changes.to_vec(),
            effects: c.effects.to_vec(),
            watermarks: c.watermarks.to_vec(),
            completed: c.completed.to_vec(),
            me: c.me,
            muted: c.muted,
        }
    }

    /// As a [`Commit`].
    pub fn as_commit(&self) -> Commit<'_> {
        Commit {
            changes: &self.changes,
            effects: &self.effects,
            watermarks: &self.watermarks,
            completed: &self.completed,
            me: self.me,
            muted: self.muted,
        }
    }
}

/// A damaged cache moved aside, and a new one in its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    /// Where the damaged file went (`None` when there was none: the file or its
    /// folder had been deleted).
    pub moved_to: Option<PathBuf>,
    /// What was wrong with it.
    pub why: String,
}

/// Moves `path` and its `-wal` and `-shm` aside, as `<path>.damaged-<seconds>`.
fn move_aside(path: &Path) -> Result<Option<PathBuf>, StoreError> {
    if !path.exists() {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(probe::sibling(path, suffix));
        }
        return Ok(None);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let to = probe::sibling(path, &format!(".damaged-{stamp}"));
    std::fs::rename(path, &to).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for suffix in ["-wal", "-shm"] {
        let from = probe::sibling(path, suffix);
        if from.exists() {
            let _ = std::fs::rename(&from, probe::sibling(&to, suffix));
        }
    }
    Ok(Some(to))
}

/// The newest migration this build embeds.
fn newest_migration() -> i64 {
    MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(SCHEMA_VERSION)
}

/// Runs the embedded migrations, then checks that they left the schema version
/// they promise.
async fn migrate(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    MIGRATOR.run(&mut *conn).await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    if version != SCHEMA_VERSION || newest_migration() != SCHEMA_VERSION {
        return Err(StoreError::Corrupt {
            what: "schema version".to_string(),
            detail: format!(
                "after migrating, user_version is {version} and the newest migration is {}; \
                 this build expects {SCHEMA_VERSION}",
                newest_migration()
            ),
        });
    }
    Ok(())
}

async fn get_meta(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
        .bind(key)
        .fetch_optional(conn)
        .await?)
}

async fn pending_in(conn: &mut SqliteConnection) -> Result<Vec<Command>, StoreError> {
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT id, body FROM outbox WHERE outcome IS NULL ORDER BY seq")
            .fetch_all(conn)
            .await?;
    stored
        .iter()
        .map(|(id, body)| from_json("outbox command", id, body))
        .collect()
}

/// A stored row back as the [`Change`] that brought it.
fn decode_row(entity: &str, id: &str, body: &str) -> Result<Change, StoreError> {
    Ok(match entity {
        "systemuser" => Change::Agent(from_json::<Agent>("agent", id, body)?),
        "team" => Change::Team(from_json::<Team>("team", id, body)?),
        "cb_configuration" => {
            Change::Configuration(from_json::<Configuration>("configuration", id, body)?)
        }
        "cb_chatsession" => Change::Session(from_json::<Session>("session", id, body)?),
        "cb_chatrequest" => Change::Request(from_json::<ChatRequest>("request", id, body)?),
        "cb_blockednumber" => {
            Change::Blocked(from_json::<BlockedNumber>("blocked number", id, body)?)
        }
        MY_TEAMS => Change::MyTeams(from_json::<Vec<TeamId>>("my teams", id, body)?),
        other => {
            return Err(StoreError::Decode {
                what: "row",
                key: format!("{other}/{id}"),
                source: format!("unknown entity {other:?}").into(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_is_the_newest_migration() {
        assert_eq!(newest_migration(), SCHEMA_VERSION);
        assert!(MIGRATOR.iter().all(|m| m
            .sql
            .contains(&format!("PRAGMA user_version = {}", m.version))));
    }
}
