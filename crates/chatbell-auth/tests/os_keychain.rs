//! The real OS keychain path. Ignored by default: it needs a Secret Service on the
//! session bus (on Linux), e.g.
//! `dbus-run-session -- sh -c 'echo pw | gnome-keyring-daemon --unlock --components=secrets;
//!  cargo test -p chatbell-auth --test os_keychain -- --ignored'`.
#![allow(clippy::unwrap_used)]

use chatbell_auth::{RefreshToken, StorageMode, StoredSignIn, TokenStore, FILE_NAME};

#[tokio::test]
#[ignore = "needs an OS keychain (a Secret Service on the session bus on Linux)"]
async fn os_keychain_holds_the_key_and_the_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let user = format!("test key {}", std::process::id());
    let (store, mode) = TokenStore::open_with_os_keychain(dir.path(), &user).await;
    assert_eq!(mode, StorageMode::Keychain);
    let s = StoredSignIn {
        refresh_token: RefreshToken::new("0.keychain-test-refresh-token".into()),
        account: None,
    };
    store.save(&s).await.unwrap();
    assert!(dir.path().join(FILE_NAME).exists());
    drop(store);
    // A new start reads the key back from the keychain.
    let (store, mode) = TokenStore::open_with_os_keychain(dir.path(), &user).await;
    assert_eq!(mode, StorageMode::Keychain);
    assert_eq!(store.load().await.unwrap(), Some(s));
    // Sign-out removes both.
    store.clear().await.unwrap();
    assert!(!dir.path().join(FILE_NAME).exists());
    let (store, _) = TokenStore::open_with_os_keychain(dir.path(), &user).await;
    assert_eq!(store.load().await.unwrap(), None);
}
