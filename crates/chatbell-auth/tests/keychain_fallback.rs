//! With no Secret Service reachable (the session bus address points nowhere),
//! the real OS keychain provider reports no keychain and the store keeps tokens
//! in memory only. Its own test binary: it changes the process environment.
#![allow(clippy::unwrap_used)]

#[cfg(target_os = "linux")]
#[tokio::test]
async fn memory_only_fallback_when_there_is_no_secret_service() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}/no-bus-here", dir.path().display()),
    );
    let (store, mode) =
        chatbell_auth::TokenStore::open_with_os_keychain(dir.path(), "test sign-in key").await;
    match &mode {
        chatbell_auth::StorageMode::MemoryOnly { why } => assert!(!why.is_empty()),
        other => panic!("expected memory-only, got {other:?}"),
    }
    assert!(store.file_path().is_none());
    let s = chatbell_auth::StoredSignIn {
        refresh_token: chatbell_auth::RefreshToken::new("rt".into()),
        account: None,
    };
    store.save(&s).await.unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
