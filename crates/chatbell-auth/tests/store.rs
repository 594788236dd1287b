//! The encrypted sign-in file: never plain text, private, atomic, and a damaged
//! file means a fresh sign-in, never a panic.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chatbell_auth::{
    Account, InMemoryKeyProvider, KeyProvider, RefreshToken, StorageMode, StoredSignIn, TokenStore,
    TokenStoreError, FILE_NAME,
};

fn signin(rt: &str) -> StoredSignIn {
    StoredSignIn {
        refresh_token: RefreshToken::new(rt.into()),
        account: Some(Account {
            username: Some("demo.agent@chatbell.example".into()),
            name: Some("Dana Demo".into()),
            ..Account::default()
        }),
    }
}

async fn open(dir: &std::path::Path, keys: &Arc<InMemoryKeyProvider>) -> TokenStore {
    let (store, mode) = TokenStore::open(dir, keys.clone() as Arc<dyn KeyProvider>).await;
    assert_eq!(mode, StorageMode::Keychain);
    store
}

#[tokio::test]
async fn tokens_on_disk_are_not_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(InMemoryKeyProvider::new());
    let store = open(dir.path(), &keys).await;
    store
        .save(&signin("0.ARwA-very-secret-refresh-token"))
        .await
        .unwrap();
    let bytes = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
    for needle in ["very-secret", "ada@contoso", "Dana Demo", "refresh_token"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} on disk"
        );
    }
    // Only the file itself, no temp files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    assert_eq!(
        store.load().await.unwrap(),
        Some(signin("0.ARwA-very-secret-refresh-token"))
    );
}

#[cfg(unix)]
#[tokio::test]
async fn token_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ChatBell");
    let keys = Arc::new(InMemoryKeyProvider::new());
    let store = open(&data, &keys).await;
    store.save(&signin("rt")).await.unwrap();
    store.save(&signin("rt2")).await.unwrap();
    let mode = std::fs::metadata(data.join(FILE_NAME))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dmode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(dmode & 0o777, 0o700);
}

#[tokio::test]
async fn the_newest_save_wins_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(InMemoryKeyProvider::new());
    let store = open(dir.path(), &keys).await;
    store.save(&signin("rt-1")).await.unwrap();
    store.save(&signin("rt-2")).await.unwrap();
    drop(store);
    let reopened = open(dir.path(), &keys).await;
    assert_eq!(reopened.load().await.unwrap(), Some(signin("rt-2")));
}

#[tokio::test]
async fn corrupt_file_means_a_fresh_sign_in_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(InMemoryKeyProvider::new());
    let store = open(dir.path(), &keys).await;
    store.save(&signin("rt")).await.unwrap();
    let path = dir.path().join(FILE_NAME);
    for damage in [
        b"".to_vec(),
        b"CBSI".to_vec(),
        b"garbage that is long enough to have a nonce and a tag in it".to_vec(),
    ] {
        std::fs::write(&path, &damage).unwrap();
        let e = store.load().await.unwrap_err();
        assert!(matches!(e, TokenStoreError::Unreadable(_)), "{e:?}");
        assert!(e.to_string().contains("sign in again"));
        assert!(!path.exists(), "the damaged file is discarded");
        assert_eq!(store.load().await.unwrap(), None);
    }
}

#[tokio::test]
async fn tampered_file_is_detected_and_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(InMemoryKeyProvider::new());
    let store = open(dir.path(), &keys).await;
    store.save(&signin("rt")).await.unwrap();
    let path = dir.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        store.load().await,
        Err(TokenStoreError::Unreadable(_))
    ));
    assert!(!path.exists());
}

#[tokio::test]
async fn file_whose_key_was_replaced_or_lost_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(InMemoryKeyProvider::new());
    open(dir.path(), &keys)
        .await
        .save(&signin("rt"))
        .await
        .unwrap();
    let path = dir.path().join(FILE_NAME);

    keys.set(Some([9u8; 32]));
    let e = open(dir.path(), &keys).await.load().await.unwrap_err();
    assert!(matches!(e, TokenStoreError::Unreadable(_)), "{e:?}");
    assert!(!path.exists());

    open(dir.path(), &keys)
        .await
        .save(&signin("rt"))
        .await
        .unwrap();
    keys.set(None);
    let e = open(dir.path(), &keys).await.load().await.unwrap_err();
    assert!(matches!(e, TokenStoreError::Unreadable(_)), "{e:?}");
    assert!(!path.exists());
}

#[tokio::test]
async fn memory_only_when_the_key_provider_has_no_keychain() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mode) =
        TokenStore::open(dir.path(), Arc::new(InMemoryKeyProvider::unavailable())).await;
    assert!(matches!(mode, StorageMode::MemoryOnly { .. }), "{mode:?}");
    assert_eq!(store.mode(), &mode);
    store.save(&signin("rt")).await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
    assert_eq!(store.load().await.unwrap(), None);
    store.clear().await.unwrap();
}

#[tokio::test]
async fn debug_of_the_stored_sign_in_redacts_the_refresh_token() {
    let dbg = format!("{:?}", signin("0.SECRET-rt"));
    assert!(!dbg.contains("SECRET"), "{dbg}");
}

/// A keychain that waits for an answer that never comes, as a locked keyring
/// does while its unlock prompt waits for someone who is not there.
struct PromptingKeychain {
    released: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl KeyProvider for PromptingKeychain {
    fn load_key(&self) -> Result<Option<chatbell_auth::FileKey>, chatbell_auth::KeyError> {
        let _ = self.released.lock().unwrap().recv();
        Ok(None)
    }
    fn save_key(&self, _key: &[u8; 32]) -> Result<(), chatbell_auth::KeyError> {
        Ok(())
    }
    fn delete_key(&self) -> Result<(), chatbell_auth::KeyError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_keychain_that_never_answers_means_memory_only_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let (release, released) = std::sync::mpsc::channel();
    let keys = Arc::new(PromptingKeychain {
        released: std::sync::Mutex::new(released),
    });
    let opened = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        TokenStore::open_with_timeout(dir.path(), keys, std::time::Duration::from_millis(200)),
    )
    .await
    .expect("open gave up on the keychain by itself");
    let (store, mode) = opened;
    match &mode {
        StorageMode::MemoryOnly { why } => assert!(why.contains("did not answer"), "{why}"),
        other => panic!("{other:?}"),
    }
    store.save(&signin("rt")).await.unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(chatbell_auth::KEYCHAIN_TIMEOUT >= std::time::Duration::from_secs(10));
    let _ = release.send(());
}
