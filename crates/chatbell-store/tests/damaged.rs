//! A cache that is damaged, truncated, another program's or gone: detected,
//! moved aside with its name kept, and a new one made in its place; a newer
//! ChatBell's file is never moved.
#![allow(clippy::unwrap_used)]

mod common;

use chatbell_core::*;
use chatbell_store::{Store, StoreError};
use common::*;
use sqlx::{ConnectOptions, Connection};

/// A cache with a few rows, closed.
async fn filled(path: &std::path::Path) {
    let store = open(path).await;
    let mut changes = world();
    for n in 0..200u128 {
        changes.push(Change::Session(session(
            n + 1,
            Owner::User(me()),
            "W/\"1\"",
        )));
    }
    commit(&store, &changes, &[]).await;
    store.close().await;
}

/// A new cache: it takes a commit, and holds none of the old one's chats.
async fn assert_usable(store: &Store) {
    commit(&store.clone(), &world(), &[]).await;
    let snap = store.snapshot_at(T0).await.unwrap();
    let sessions = snap
        .rows
        .iter()
        .filter(|c| matches!(c, Change::Session(_)))
        .count();
    assert_eq!(sessions, 0, "a new cache holds none of the old one's chats");
}

fn write(path: &std::path::Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_garbage_file_is_moved_aside_and_a_new_cache_made() {
    let (_dir, path) = data_dir();
    write(&path, &vec![0x5a; 64 * 1024]);
    let (store, rebuilt) = Store::open_or_rebuild(&path).await.unwrap();
    let rebuilt = rebuilt.expect("rebuilt");
    let moved = rebuilt.moved_to.clone().expect("the damaged file is kept");
    assert!(
        moved.to_string_lossy().contains("chatbell.db.damaged-"),
        "{moved:?}"
    );
    assert_eq!(std::fs::read(&moved).unwrap(), vec![0x5a; 64 * 1024]);
    assert!(rebuilt.why.contains("damaged"), "{}", rebuilt.why);
    assert_usable(&store).await;
    store.close().await;
    // The next start finds a good cache: nothing moved again.
    let (_, again) = Store::open_or_rebuild(&path).await.unwrap();
    assert_eq!(again, None);
}

#[tokio::test]
async fn a_truncated_cache_is_moved_aside() {
    let (_dir, path) = data_dir();
    filled(&path).await;
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let (store, rebuilt) = Store::open_or_rebuild(&path).await.unwrap();
    assert!(rebuilt.is_some(), "a cache cut in half is no cache");
    assert_usable(&store).await;
}

#[tokio::test]
async fn another_programs_database_is_moved_aside_untouched() {
    let (_dir, path) = data_dir();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
    let (store, rebuilt) = Store::open_or_rebuild(&path).await.unwrap();
    let rebuilt = rebuilt.expect("not taken for a cache");
    assert!(
        rebuilt.why.contains("not ChatBell's cache"),
        "{}",
        rebuilt.why
    );
    let moved = rebuilt.moved_to.unwrap();
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&moved)
        .connect()
        .await
        .unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut raw)
            .await
            .unwrap();
    assert_eq!(tables, vec!["invoices".to_string()], "left as it was");
    raw.close().await.unwrap();
    assert_usable(&store).await;
}

#[tokio::test]
async fn a_cache_damaged_or_deleted_while_running_is_rebuilt_for_every_clone() {
    let (dir, path) = data_dir();
    filled(&path).await;
    let store = open(&path).await;
    let clone = store.clone();
    // The folder deleted under a running ChatBell.
    std::fs::remove_dir_all(dir.path()).unwrap();
    assert!(!store.file_exists());
    let rebuilt = store
        .rebuild("the cache's folder was deleted")
        .await
        .unwrap();
    assert_eq!(rebuilt.moved_to, None, "nothing left to move");
    assert!(store.file_exists());
    assert_usable(&clone).await;

    // Damaged: the moved file keeps what was there.
    let rebuilt = clone.rebuild("damaged").await.unwrap();
    assert!(rebuilt.moved_to.unwrap().exists());
    assert_usable(&store).await;
}

#[tokio::test]
async fn a_newer_chatbells_cache_is_never_moved() {
    let (_dir, path) = data_dir();
    filled(&path).await;
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    sqlx::query("PRAGMA user_version = 99")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
    let before = std::fs::read(&path).unwrap();
    let e = Store::open_or_rebuild(&path).await.map(|_| ()).unwrap_err();
    assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
    assert!(!e.is_damaged() && !e.cannot_write());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn a_hot_journal_left_by_a_killed_writer_is_rolled_back_not_refused() {
    let (dir, path) = data_dir();
    filled(&path).await;
    // The file in rollback-journal mode, a transaction half done: what a
    // writer killed while creating the cache (before WAL mode) leaves behind.
    let mut raw = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    sqlx::query("PRAGMA journal_mode=DELETE")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("PRAGMA cache_size=1")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("DELETE FROM rows")
        .execute(&mut raw)
        .await
        .unwrap();
    let crashed = dir.path().join("crashed");
    std::fs::create_dir_all(&crashed).unwrap();
    let copy = crashed.join("chatbell.db");
    std::fs::copy(&path, &copy).unwrap();
    let journal = sibling(&path, "-journal");
    assert!(
        journal.exists(),
        "a rollback journal while the transaction is open"
    );
    std::fs::copy(&journal, sibling(&copy, "-journal")).unwrap();
    sqlx::query("ROLLBACK").execute(&mut raw).await.unwrap();
    raw.close().await.unwrap();

    let store = Store::open(&copy).await.unwrap();
    let snap = store.snapshot_at(T0).await.unwrap();
    let sessions = snap
        .rows
        .iter()
        .filter(|c| matches!(c, Change::Session(_)))
        .count();
    assert_eq!(sessions, 200, "the half-done delete was rolled back");
    store.integrity_check().await.unwrap();
}
