//! A database written by a newer ChatBell is refused with a clear message, and
//! never altered: not one byte of the file, and no `-wal` appears or goes.
#![allow(clippy::unwrap_used)]

mod common;

use chatbell_core::*;
use chatbell_store::{Store, StoreError, SCHEMA_VERSION};
use common::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;

/// What the test compares before and after: the file's bytes, and which of its
/// `-wal` / `-shm` companions exist (with the `-wal`'s bytes).
#[derive(Debug, PartialEq, Eq)]
struct Files {
    db: Vec<u8>,
    db_hash: u64,
    wal: Option<Vec<u8>>,
    shm: bool,
}

fn files(path: &Path) -> Files {
    use std::hash::{Hash, Hasher};
    let db = std::fs::read(path).unwrap();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut h);
    Files {
        db_hash: h.finish(),
        db,
        wal: std::fs::read(sibling(path, "-wal")).ok(),
        shm: sibling(path, "-shm").exists(),
    }
}

/// A ChatBell database with a little in it, closed.
async fn a_database(path: &Path) {
    let store = open(path).await;
    let s = session(1, Owner::Team(team_id()), "W/\"1\"");
    commit(&store, &[Change::Session(s)], &[Effect::SetUnread(1)]).await;
    store.close().await;
}

async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap()
}

fn assert_too_new(err: StoreError, found: i64) {
    match &err {
        StoreError::TooNew {
            found: f,
            supported,
        } => {
            assert_eq!((*f, *supported), (found, SCHEMA_VERSION));
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "this database was written by a newer ChatBell (schema {found}; this one knows up to \
             {SCHEMA_VERSION}): update ChatBell, or point CHATBELL_DATA_DIR elsewhere"
        )
    );
}

#[tokio::test]
async fn newer_user_version_is_refused_and_the_file_is_untouched() {
    let (_dir, path) = data_dir();
    a_database(&path).await;
    let mut conn = raw(&path).await;
    sqlx::query("PRAGMA user_version = 7")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let before = files(&path);
    assert_eq!(before.wal, None, "closed cleanly: no WAL");
    let err = Store::open(&path).await.unwrap_err();
    assert_too_new(err, 7);
    assert_eq!(files(&path), before);
    // Again: still refused, still untouched.
    assert_too_new(Store::open(&path).await.unwrap_err(), 7);
    assert_eq!(files(&path), before);
}

#[tokio::test]
async fn newer_migration_is_refused_and_the_file_is_untouched() {
    let (_dir, path) = data_dir();
    a_database(&path).await;
    let mut conn = raw(&path).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (20991231000000, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let before = files(&path);
    let err = Store::open(&path).await.unwrap_err();
    assert_too_new(err, 20_991_231_000_000);
    assert_eq!(files(&path), before);
}

#[tokio::test]
async fn newer_database_in_use_is_refused_through_its_wal() {
    // A newer ChatBell is running (or crashed): its last change is still in the
    // WAL, not yet in the file. The probe must see it, and leave both alone.
    let (_dir, path) = data_dir();
    a_database(&path).await;
    let mut conn = raw(&path).await;
    sqlx::query("PRAGMA user_version = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let before = files(&path);
    assert!(before.wal.is_some(), "the change sits in the WAL");

    let err = Store::open(&path).await.unwrap_err();
    assert_too_new(err, 3);
    assert_eq!(files(&path), before);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn same_version_opens_and_keeps_its_data() {
    let (_dir, path) = data_dir();
    a_database(&path).await;
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.last_unread().await.unwrap(), Some(1));
    assert_eq!(store.snapshot_at(T0).await.unwrap().rows.len(), 1);
    store.close().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_untouched() {
    let (dir, _) = data_dir();
    let path = dir.path().join("chatbell.db");
    let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &junk).unwrap();
    let err = Store::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
    assert!(!sibling(&path, "-wal").exists());
}
