//! The write side of [`Store::commit`](crate::Store::commit): rows, messages and
//! effects, inside the caller's transaction.
//!
//! Each statement is a round trip to sqlx's SQLite worker thread, which costs more
//! than SQLite's own work for a small row; so consecutive writes to one table go
//! out as multi-row upserts (`INSERT … VALUES (…), (…) … ON CONFLICT …`), in chunks.
//! Each table still sees its writes in the order they were given: a batch of
//! upserts is flushed before anything else touches that table (a removal, a
//! read-modify-write). Writes to different tables are independent, so their
//! relative order does not matter, and the transaction makes them land together.

use crate::codec::{self, from_json, to_json};
use crate::error::StoreError;
use crate::CommitReport;
use chatbell_core::{Change, Effect, Message, Notification, NotificationKey, Ts};
use sqlx::sqlite::SqliteConnection;

/// Rows per multi-row statement. Remainders go out in powers of two, so that only
/// a few distinct statements per table are ever prepared (and cached).
const CHUNK: usize = 64;

/// The statement sizes for `n` rows: full chunks, then powers of two.
fn pieces(mut n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n / CHUNK + 7);
    while n >= CHUNK {
        out.push(CHUNK);
        n -= CHUNK;
    }
    let mut p = CHUNK / 2;
    while n > 0 {
        if n >= p {
            out.push(p);
            n -= p;
        }
        p /= 2;
    }
    out
}

/// `head VALUES (?, …), (?, …) tail` for `rows` rows of `width` parameters.
fn multi_row_sql(head: &str, width: usize, rows: usize, tail: &str) -> String {
    let one = format!("({})", vec!["?"; width].join(", "));
    let mut sql = String::with_capacity(head.len() + tail.len() + 9 + rows * (one.len() + 2));
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&one);
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

// ----- synced rows ---------------------------------------------------------------

/// A row of the `rows` table, ready to bind.
struct RowRec {
    entity: &'static str,
    id: String,
    etag: Option<String>,
    modified_on: Option<i64>,
    body: String,
}

const ROWS_HEAD: &str = "INSERT INTO rows (entity, id, etag, modified_on, body)";
/// Skip the same version: same etag where the type has one, same content where it
/// has not.
const ROWS_TAIL: &str = "ON CONFLICT (entity, id) DO UPDATE
     SET etag = excluded.etag, modified_on = excluded.modified_on, body = excluded.body
     WHERE rows.etag IS NOT excluded.etag
        OR (excluded.etag IS NULL AND rows.body IS NOT excluded.body)";

const MESSAGES_HEAD: &str =
    "INSERT INTO messages (id, session, direction, created_on, body, created_by)";
/// Skip a message stored exactly as it is.
const MESSAGES_TAIL: &str = "ON CONFLICT (id) DO UPDATE
     SET session = excluded.session, direction = excluded.direction,
         created_on = excluded.created_on, body = excluded.body,
         created_by = excluded.created_by
     WHERE messages.session IS NOT excluded.session
        OR messages.direction IS NOT excluded.direction
        OR messages.created_on IS NOT excluded.created_on
        OR messages.body IS NOT excluded.body
        OR messages.created_by IS NOT excluded.created_by";

/// Upserts and deletes the synced rows, in order, counting into `report`.
pub(crate) async fn apply_changes(
    conn: &mut SqliteConnection,
    changes: &[Change],
    report: &mut CommitReport,
) -> Result<(), StoreError> {
    let mut rows: Vec<RowRec> = Vec::new();
    let mut messages: Vec<&Message> = Vec::new();
    for change in changes {
        let (entity, id) = change.row_key();
        let mut row = |etag: Option<&str>, modified_on: Option<Ts>, body: String| {
            rows.push(RowRec {
                entity,
                id: id.clone(),
                etag: etag.map(str::to_string),
                modified_on: modified_on.map(|t| t.0),
                body,
            })
        };
        match change {
            Change::Message(m) => messages.push(m),
            Change::Agent(a) => row(None, None, to_json("agent", a)?),
            Change::Team(t) => row(None, None, to_json("team", t)?),
            Change::Configuration(c) => row(None, None, to_json("configuration", c)?),
            Change::Session(s) => row(Some(&s.etag), Some(s.modified_on), to_json("session", s)?),
            Change::Request(r) => row(Some(&r.etag), Some(r.modified_on), to_json("request", r)?),
            Change::Blocked(b) => row(None, None, to_json("blocked number", b)?),
            Change::MyTeams(teams) => row(None, None, to_json("my teams", teams)?),
            Change::SessionRemoved(_)
            | Change::RequestRemoved(_)
            | Change::ConfigurationRemoved(_)
            | Change::BlockedRemoved(_) => {
                flush_rows(conn, &mut rows, report).await?;
                flush_messages(conn, &mut messages, report).await?;
                let mut gone = sqlx::query("DELETE FROM rows WHERE entity = ?1 AND id = ?2")
                    .bind(entity)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                if let Change::SessionRemoved(_) = change {
                    gone += sqlx::query("DELETE FROM messages WHERE session = ?1")
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                }
                if gone > 0 {
                    report.removed += 1;
                } else {
                    report.duplicates += 1;
                }
            }
        }
    }
    flush_rows(conn, &mut rows, report).await?;
    flush_messages(conn, &mut messages, report).await
}

/// Counts a flushed run: what SQLite wrote, and what it skipped as stored already.
fn count(report: &mut CommitReport, given: usize, written: u64) {
    let written = usize::try_from(written).unwrap_or(given).min(given);
    report.written += written;
    report.duplicates += given - written;
}

async fn flush_rows(
    conn: &mut SqliteConnection,
    rows: &mut Vec<RowRec>,
    report: &mut CommitReport,
) -> Result<(), StoreError> {
    let mut written = 0;
    let mut at = 0;
    for n in pieces(rows.len()) {
        let sql = multi_row_sql(ROWS_HEAD, 5, n, ROWS_TAIL);
        let mut q = sqlx::query(&sql);
        for r in &rows[at..at + n] {
            q = q
                .bind(r.entity)
                .bind(r.id.as_str())
                .bind(r.etag.as_deref())
                .bind(r.modified_on)
                .bind(r.body.as_str());
        }
        written += q.execute(&mut *conn).await?.rows_affected();
        at += n;
    }
    count(report, rows.len(), written);
    rows.clear();
    Ok(())
}

async fn flush_messages(
    conn: &mut SqliteConnection,
    messages: &mut Vec<&Message>,
    report: &mut CommitReport,
) -> Result<(), StoreError> {
    let mut written = 0;
    let mut at = 0;
    for n in pieces(messages.len()) {
        let sql = multi_row_sql(MESSAGES_HEAD, 6, n, MESSAGES_TAIL);
        let mut q = sqlx::query(&sql);
        for m in &messages[at..at + n] {
            q = q
                .bind(m.id.to_string())
                .bind(m.session.to_string())
                .bind(codec::direction_code(m.direction))
                .bind(m.created_on.0)
                .bind(m.body.as_str())
                .bind(m.created_by.map(|u| u.to_string()));
        }
        written += q.execute(&mut *conn).await?.rows_affected();
        at += n;
    }
    count(report, messages.len(), written);
    messages.clear();
    Ok(())
}

// ----- effects -------------------------------------------------------------------

/// A notification, ready to bind.
struct NoteRec {
    key: String,
    kind: String,
    session: Option<String>,
    state: &'static str,
    live: bool,
    created_at: i64,
    updated_at: i64,
    body: String,
}

impl NoteRec {
    fn new(n: &Notification) -> Result<Self, StoreError> {
        Ok(NoteRec {
            key: n.key.to_string(),
            kind: codec::variant_name("notification kind", &n.kind)?,
            session: n.session.map(|s| s.to_string()),
            state: n.state.tag(),
            live: n.is_live(),
            created_at: n.created_at.0,
            updated_at: n.updated_at.0,
            body: to_json("notification", n)?,
        })
    }
}

const NOTES_HEAD: &str = "INSERT INTO notifications
     (key, kind, session, state, live, created_at, updated_at, body)";
const NOTES_TAIL: &str = "ON CONFLICT (key) DO UPDATE
     SET kind = excluded.kind, session = excluded.session, state = excluded.state,
         live = excluded.live, created_at = excluded.created_at,
         updated_at = excluded.updated_at, body = excluded.body
     WHERE notifications.body IS NOT excluded.body";

const TIMERS_HEAD: &str = "INSERT INTO timers (key, at)";
const TIMERS_TAIL: &str =
    "ON CONFLICT (key) DO UPDATE SET at = excluded.at WHERE timers.at IS NOT excluded.at";

/// Records the effects the store keeps, each table's in the order given. Returns
/// how many changed something.
pub(crate) async fn record_effects(
    conn: &mut SqliteConnection,
    effects: &[Effect],
) -> Result<usize, StoreError> {
    let mut recorded: u64 = 0;

    // Notifications.
    let mut notes: Vec<NoteRec> = Vec::new();
    for effect in effects {
        match effect {
            Effect::Show(n) | Effect::Update(n) => notes.push(NoteRec::new(n)?),
            Effect::Close { key, state } => {
                recorded += flush_notes(conn, &mut notes).await?;
                let state = *state;
                let edit = move |n: &mut Notification| {
                    n.state = state;
                    n.toast = false;
                };
                recorded += u64::from(edit_notification(conn, *key, edit).await?);
            }
            Effect::HideToast(key) => {
                recorded += flush_notes(conn, &mut notes).await?;
                let edit = |n: &mut Notification| n.toast = false;
                recorded += u64::from(edit_notification(conn, *key, edit).await?);
            }
            _ => {}
        }
    }
    recorded += flush_notes(conn, &mut notes).await?;

    // Timers.
    let mut armed: Vec<(String, i64)> = Vec::new();
    for effect in effects {
        match effect {
            Effect::ArmTimer(key, at) => armed.push((to_json("timer key", key)?, at.0)),
            Effect::DisarmTimer(key) => {
                recorded += flush_timers(conn, &mut armed).await?;
                recorded += sqlx::query("DELETE FROM timers WHERE key = ?1")
                    .bind(to_json("timer key", key)?)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
            }
            _ => {}
        }
    }
    recorded += flush_timers(conn, &mut armed).await?;

    // The rest: few, one by one.
    for effect in effects {
        recorded += match effect {
            Effect::WriteBack(command) => sqlx::query(
                "INSERT INTO outbox (id, issued_at, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(command.id.to_string())
            .bind(command.issued_at.0)
            .bind(to_json("outbox command", command)?)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
            Effect::Dismiss(session) => sqlx::query(
                "INSERT INTO dismissed (session) VALUES (?1) ON CONFLICT (session) DO NOTHING",
            )
            .bind(session.to_string())
            .execute(&mut *conn)
            .await?
            .rows_affected(),
            Effect::Undismiss(session) => sqlx::query("DELETE FROM dismissed WHERE session = ?1")
                .bind(session.to_string())
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            Effect::SetUnread(n) => u64::from(set_meta(conn, "unread", &n.to_string()).await?),
            // Recorded above.
            Effect::Show(_)
            | Effect::Update(_)
            | Effect::Close { .. }
            | Effect::HideToast(_)
            | Effect::ArmTimer(..)
            | Effect::DisarmTimer(_) => 0,
            // Not kept: they happen once, now.
            Effect::PlaySound(_)
            | Effect::StartRinging(_)
            | Effect::StopRinging(_)
            | Effect::OpenChat(_)
            | Effect::OpenPanel => 0,
        };
    }
    Ok(usize::try_from(recorded).unwrap_or(usize::MAX))
}

async fn flush_notes(
    conn: &mut SqliteConnection,
    notes: &mut Vec<NoteRec>,
) -> Result<u64, StoreError> {
    let mut written = 0;
    let mut at = 0;
    for n in pieces(notes.len()) {
        let sql = multi_row_sql(NOTES_HEAD, 8, n, NOTES_TAIL);
        let mut q = sqlx::query(&sql);
        for r in &notes[at..at + n] {
            q = q
                .bind(r.key.as_str())
                .bind(r.kind.as_str())
                .bind(r.session.as_deref())
                .bind(r.state)
                .bind(r.live)
                .bind(r.created_at)
                .bind(r.updated_at)
                .bind(r.body.as_str());
        }
        written += q.execute(&mut *conn).await?.rows_affected();
        at += n;
    }
    notes.clear();
    Ok(written)
}

async fn flush_timers(
    conn: &mut SqliteConnection,
    armed: &mut Vec<(String, i64)>,
) -> Result<u64, StoreError> {
    let mut written = 0;
    let mut at = 0;
    for n in pieces(armed.len()) {
        let sql = multi_row_sql(TIMERS_HEAD, 2, n, TIMERS_TAIL);
        let mut q = sqlx::query(&sql);
        for (key, deadline) in &armed[at..at + n] {
            q = q.bind(key.as_str()).bind(*deadline);
        }
        written += q.execute(&mut *conn).await?.rows_affected();
        at += n;
    }
    armed.clear();
    Ok(written)
}

/// Changes a stored notification in place; one the store never saw is left alone
/// (there is nothing to close). Returns whether it changed anything.
async fn edit_notification(
    conn: &mut SqliteConnection,
    key: NotificationKey,
    edit: impl FnOnce(&mut Notification),
) -> Result<bool, StoreError> {
    let key_text = key.to_string();
    let body: Option<String> = sqlx::query_scalar("SELECT body FROM notifications WHERE key = ?1")
        .bind(&key_text)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(body) = body else {
        return Ok(false);
    };
    let mut n: Notification = from_json("notification", &key_text, &body)?;
    let before = n.clone();
    edit(&mut n);
    if n == before {
        return Ok(false);
    }
    let mut one = vec![NoteRec::new(&n)?];
    Ok(flush_notes(conn, &mut one).await? > 0)
}

/// Sets a `meta` value. Returns whether it changed.
pub(crate) async fn set_meta(
    conn: &mut SqliteConnection,
    key: &str,
    value: &str,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value
         WHERE meta.value IS NOT excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_every_row_with_few_sizes() {
        for n in 0..300 {
            let p = pieces(n);
            assert_eq!(p.iter().sum::<usize>(), n);
            assert!(p.iter().all(|k| *k == CHUNK || k.is_power_of_two()));
        }
        assert_eq!(pieces(0), Vec::<usize>::new());
        assert_eq!(pieces(1), vec![1]);
        assert_eq!(pieces(64), vec![64]);
        assert_eq!(pieces(100), vec![64, 32, 4]);
    }

    #[test]
    fn multi_row_sql_has_one_group_per_row() {
        let sql = multi_row_sql("INSERT INTO t (a, b)", 2, 3, "ON CONFLICT DO NOTHING");
        assert_eq!(
            sql,
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING"
        );
    }
}
