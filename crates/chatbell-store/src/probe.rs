//! The read-only look at an existing file that comes before any migration: a
//! database written by a newer ChatBell is refused, never altered.
//!
//! The probe opens the file with `SQLITE_OPEN_READONLY` and sets no journal mode
//! (setting `journal_mode=WAL` writes to the file). A read-only connection to a
//! WAL database still creates `-wal` and `-shm` files when they are missing, and
//! leaves them behind; so when there is no `-wal` (nor a rollback `-journal`) the
//! file alone holds the whole database, and it is opened `immutable`, which
//! creates nothing at all. When a `-wal` is there (ChatBell is running, or it
//! crashed), the probe reads through it like any reader.

use crate::error::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its file name (`x.db` → `x.db-wal`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

/// Fails with [`StoreError::TooNew`] when the database at `path` carries a schema
/// version above `supported`, either in `PRAGMA user_version` or in
/// `_sqlx_migrations`. Writes nothing, but for one case: a hot rollback journal
/// (a writer killed in the middle of a transaction before the file was in WAL
/// mode, when it was being created) cannot be read without being rolled back,
/// so it is rolled back first, by a read-write connection that changes nothing
/// else, as any SQLite reader would.
pub(crate) async fn refuse_newer(path: &Path, supported: i64) -> Result<(), StoreError> {
    match refuse_newer_read_only(path, supported).await {
        Err(StoreError::Sqlx(e)) if needs_rollback(&e) => {
            let mut conn = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(false)
                .connect()
                .await
                .map_err(|e| StoreError::classify(e, "recovering the file"))?;
            // Reading is what rolls the hot journal back.
            let _: i64 = sqlx::query_scalar("PRAGMA user_version")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| StoreError::classify(e, "recovering the file"))?;
            let _ = conn.close().await;
            refuse_newer_read_only(path, supported).await
        }
        other => other,
    }
}

/// SQLITE_READONLY_ROLLBACK (776) or SQLITE_READONLY_RECOVERY (264): a
/// read-only connection found a journal that must be rolled back or recovered.
fn needs_rollback(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("776" | "264")),
        _ => false,
    }
}

async fn refuse_newer_read_only(path: &Path, supported: i64) -> Result<(), StoreError> {
    let quiet = !sibling(path, "-wal").exists() && !sibling(path, "-journal").exists();
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .immutable(quiet);
    let mut conn = options
        .connect()
        .await
        .map_err(|e| StoreError::classify(e, "opening the file"))?;
    let verdict = check(&mut conn, supported).await;
    // Closing a read-only connection writes nothing.
    let _ = conn.close().await;
    verdict
}

async fn check(conn: &mut SqliteConnection, supported: i64) -> Result<(), StoreError> {
    let classify = |e| StoreError::classify(e, "reading the schema version");
    let user_version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(classify)?;
    if user_version > supported {
        return Err(StoreError::TooNew {
            found: user_version,
            supported,
        });
    }
    let has_migrations: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(classify)?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(classify)?;
    if user_version == 0 && has_migrations.is_none() && tables > 0 {
        // Another program's SQLite file: never migrated into a cache.
        return Err(StoreError::Corrupt {
            what: "opening the file".into(),
            detail: format!(
                "it is not ChatBell's cache (another program's database, {tables} tables)"
            ),
        });
    }
    if has_migrations.is_some() {
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        if let Some(found) = newest.filter(|v| *v > supported) {
            return Err(StoreError::TooNew { found, supported });
        }
    }
    Ok(())
}
