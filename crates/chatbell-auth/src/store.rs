//! Where the sign-in survives a restart: an encrypted file plus a key in the OS keychain.
//!
//! The refresh token and account are sealed with XChaCha20-Poly1305 (random
//! 192-bit nonce per write) into `<data dir>/signin.bin`, written atomically
//! (temp file, fsync, rename; mode 0600 on Unix). The 256-bit key lives in the OS
//! keychain (macOS Keychain, Windows Credential Manager, Secret Service on Linux)
//! behind the [`KeyProvider`] trait. The key, not the token, goes to the keychain
//! because Windows credentials hold only about 1,280 characters and Microsoft
//! refresh tokens can be longer.
//!
//! Without a keychain, nothing is written: tokens stay in memory and
//! [`StorageMode::MemoryOnly`] says why.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::TokenStoreError;
use crate::pkce::random_bytes;
use crate::tokens::{Account, RefreshToken};

/// A 256-bit file key.
pub type FileKey = Zeroizing<[u8; 32]>;

/// Why a key provider failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// There is no usable keychain here (no Secret Service on the bus, access denied, ...).
    #[error("no OS keychain available: {0}")]
    Unavailable(String),
    /// The keychain answered but the operation failed.
    #[error("OS keychain failed: {0}")]
    Failed(String),
}

/// Holds the file key. Methods block (keychains are synchronous APIs); the store
/// calls them on tokio's blocking pool.
pub trait KeyProvider: Send + Sync + 'static {
    /// The key, or `Ok(None)` when none was stored yet.
    fn load_key(&self) -> Result<Option<FileKey>, KeyError>;
    /// Stores (or replaces) the key.
    fn save_key(&self, key: &[u8; 32]) -> Result<(), KeyError>;
    /// Removes the key; removing a missing key is not an error.
    fn delete_key(&self) -> Result<(), KeyError>;
}

/// The OS keychain through the `keyring` crate (one entry: service + user name).
#[derive(Debug, Clone)]
pub struct KeyringKeyProvider {
    service: String,
    user: String,
}

impl KeyringKeyProvider {
    /// An entry named by `service` (e.g. `"ChatBell"`) and `user`
    /// (e.g. `"sign-in key"`, or one per configured org).
    pub fn new(service: &str, user: &str) -> Self {
        KeyringKeyProvider {
            service: service.to_owned(),
            user: user.to_owned(),
        }
    }

    fn entry(&self) -> Result<keyring::Entry, KeyError> {
        keyring::Entry::new(&self.service, &self.user).map_err(map_keyring)
    }
}

fn map_keyring(e: keyring::Error) -> KeyError {
    match e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            KeyError::Unavailable(e.to_string())
        }
        // Never echo the stored bytes of BadEncoding.
        keyring::Error::BadEncoding(_) => KeyError::Failed("stored key is not text".into()),
        other => KeyError::Failed(other.to_string()),
    }
}

impl KeyProvider for KeyringKeyProvider {
    fn load_key(&self) -> Result<Option<FileKey>, KeyError> {
        match self.entry()?.get_password() {
            Ok(text) => {
                let text = Zeroizing::new(text);
                let bytes = Zeroizing::new(
                    STANDARD
                        .decode(text.trim())
                        .map_err(|_| KeyError::Failed("stored key is not base64".into()))?,
                );
                let key: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyError::Failed("stored key has the wrong length".into()))?;
                Ok(Some(Zeroizing::new(key)))
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn save_key(&self, key: &[u8; 32]) -> Result<(), KeyError> {
        let text = Zeroizing::new(STANDARD.encode(key));
        self.entry()?.set_password(&text).map_err(map_keyring)
    }

    fn delete_key(&self) -> Result<(), KeyError> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring(e)),
        }
    }
}

/// A key provider inside this process: for tests, and to exercise the file path
/// where no keychain is wanted. `unavailable()` behaves like a machine without one.
#[derive(Debug, Default)]
pub struct InMemoryKeyProvider {
    key: Mutex<Option<[u8; 32]>>,
    unavailable: bool,
}

impl InMemoryKeyProvider {
    /// An empty, working provider.
    pub fn new() -> Self {
        Self::default()
    }

    /// A provider that reports no keychain.
    pub fn unavailable() -> Self {
        InMemoryKeyProvider {
            key: Mutex::new(None),
            unavailable: true,
        }
    }

    /// Replaces the key (to test a file sealed with another key).
    pub fn set(&self, key: Option<[u8; 32]>) {
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = key;
    }

    fn check(&self) -> Result<(), KeyError> {
        if self.unavailable {
            Err(KeyError::Unavailable(
                "in-memory provider set to unavailable".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl KeyProvider for InMemoryKeyProvider {
    fn load_key(&self) -> Result<Option<FileKey>, KeyError> {
        self.check()?;
        Ok(self
            .key
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(Zeroizing::new))
    }
    fn save_key(&self, key: &[u8; 32]) -> Result<(), KeyError> {
        self.check()?;
        self.set(Some(*key));
        Ok(())
    }
    fn delete_key(&self) -> Result<(), KeyError> {
        self.check()?;
        self.set(None);
        Ok(())
    }
}

/// Whether the sign-in survives a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageMode {
    /// Encrypted file, key in the OS keychain.
    Keychain,
    /// Nothing is written; the user signs in again after each start.
    MemoryOnly {
        /// Why there is no keychain, for the status line or log.
        why: String,
    },
}

/// What is stored between runs. Access tokens are short-lived and not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSignIn {
    /// The newest refresh token.
    pub refresh_token: RefreshToken,
    /// Who signed in (for display before the first refresh).
    pub account: Option<Account>,
}

/// File name inside the data directory.
pub const FILE_NAME: &str = "signin.bin";
const MAGIC: &[u8; 4] = b"CBSI";
const VERSION: u8 = 1;
const HEADER_LEN: usize = MAGIC.len() + 1;
const NONCE_LEN: usize = 24;

/// The sign-in store: an encrypted file keyed from the OS keychain, or nothing.
pub struct TokenStore {
    file: Option<FileStore>,
    mode: StorageMode,
}

struct FileStore {
    path: PathBuf,
    keys: Arc<dyn KeyProvider>,
    key: Mutex<Option<FileKey>>,
    /// How long a keychain call may take.
    timeout: Duration,
}

/// How long ChatBell waits for the keychain: a locked keyring may show an unlock
/// (or create-a-keyring) prompt and wait for the agent, or a broken Secret
/// Service may never answer; past this, ChatBell goes on without it.
pub const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a keychain call on the blocking pool, for at most `timeout`. A call that
/// does not come back is left to finish on its own; its result is dropped.
async fn keychain<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
) -> Result<T, KeyError> {
    match tokio::time::timeout(timeout, blocking(f)).await {
        Ok(r) => r,
        Err(_) => Err(KeyError::Unavailable(format!(
            "the keychain did not answer within {} s (locked, with a prompt waiting?)",
            timeout.as_secs_f32()
        ))),
    }
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("path", &self.file.as_ref().map(|s| &s.path))
            .field("mode", &self.mode)
            .finish()
    }
}

impl TokenStore {
    /// Opens the store in `data_dir`, asking `keys` whether a keychain is there
    /// (reading the key, or creating and storing one if there is none yet).
    /// With no usable keychain, the store keeps nothing and the mode says why.
    pub async fn open(
        data_dir: impl Into<PathBuf>,
        keys: Arc<dyn KeyProvider>,
    ) -> (TokenStore, StorageMode) {
        Self::open_with_timeout(data_dir, keys, KEYCHAIN_TIMEOUT).await
    }

    /// [`TokenStore::open`], waiting at most `timeout` for each keychain call: a
    /// keychain that does not answer in time means memory-only, and says so.
    pub async fn open_with_timeout(
        data_dir: impl Into<PathBuf>,
        keys: Arc<dyn KeyProvider>,
        timeout: Duration,
    ) -> (TokenStore, StorageMode) {
        let probe = {
            let keys = keys.clone();
            keychain(timeout, move || keys.load_key()).await
        };
        let key = match probe {
            Ok(Some(key)) => key,
            // No key yet: create it now, so that a keychain that can be read but not
            // written (a locked keyring with no one to unlock it) means memory-only
            // from the start, not a failed save later.
            Ok(None) => {
                let key: FileKey = Zeroizing::new(random_bytes::<32>());
                let k = *key;
                let keys = keys.clone();
                match keychain(timeout, move || keys.save_key(&k)).await {
                    Ok(()) => key,
                    Err(e) => return Self::memory_only_with(format!("cannot store a key: {e}")),
                }
            }
            Err(e) => return Self::memory_only_with(e.to_string()),
        };
        let store = TokenStore {
            file: Some(FileStore {
                path: data_dir.into().join(FILE_NAME),
                keys,
                key: Mutex::new(Some(key)),
                timeout,
            }),
            mode: StorageMode::Keychain,
        };
        (store, StorageMode::Keychain)
    }

    /// Opens the store with the OS keychain entry `("ChatBell", user)`.
    pub async fn open_with_os_keychain(
        data_dir: impl Into<PathBuf>,
        user: &str,
    ) -> (TokenStore, StorageMode) {
        Self::open(
            data_dir,
            Arc::new(KeyringKeyProvider::new("ChatBell", user)),
        )
        .await
    }

    /// A store that keeps nothing.
    pub fn memory_only(why: impl Into<String>) -> TokenStore {
        Self::memory_only_with(why.into()).0
    }

    fn memory_only_with(why: String) -> (TokenStore, StorageMode) {
        tracing::warn!("sign-in will not be remembered: {why}");
        let mode = StorageMode::MemoryOnly { why };
        (
            TokenStore {
                file: None,
                mode: mode.clone(),
            },
            mode,
        )
    }

    /// Whether tokens are persisted.
    pub fn mode(&self) -> &StorageMode {
        &self.mode
    }

    /// The encrypted file's path, when there is one.
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Reads the stored sign-in. `Ok(None)`: nothing stored (or memory-only).
    /// An unreadable file (corrupt, tampered, wrong or missing key) is deleted and
    /// reported as [`TokenStoreError::Unreadable`]: the user signs in afresh.
    pub async fn load(&self) -> Result<Option<StoredSignIn>, TokenStoreError> {
        let Some(fs) = &self.file else {
            return Ok(None);
        };
        let path = fs.path.clone();
        let sealed = match blocking(move || std::fs::read(&path)).await {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(TokenStoreError::Io { op: "read", source }),
        };
        let outcome = match fs.current_key().await? {
            None => Err(TokenStoreError::Unreadable(
                "its key is missing from the keychain",
            )),
            Some(key) => open_sealed(&key, &sealed),
        };
        if outcome.is_err() {
            let path = fs.path.clone();
            if let Err(e) = blocking(move || remove_if_exists(&path)).await {
                tracing::warn!("could not delete the unreadable sign-in file: {e}");
            }
        }
        outcome.map(Some)
    }

    /// Seals and writes `signin` atomically, creating the keychain key on first use.
    /// Memory-only: does nothing.
    pub async fn save(&self, signin: &StoredSignIn) -> Result<(), TokenStoreError> {
        let Some(fs) = &self.file else {
            return Ok(());
        };
        let key = match fs.current_key().await? {
            Some(k) => k,
            None => {
                let key: FileKey = Zeroizing::new(random_bytes::<32>());
                let keys = fs.keys.clone();
                let k = *key;
                keychain(fs.timeout, move || keys.save_key(&k))
                    .await
                    .map_err(|e| TokenStoreError::Keychain(e.to_string()))?;
                *fs.key.lock().unwrap_or_else(|p| p.into_inner()) = Some(key.clone());
                key
            }
        };
        let sealed = seal(&key, signin)?;
        let path = fs.path.clone();
        blocking(move || write_atomically(&path, &sealed))
            .await
            .map_err(|source| TokenStoreError::Io {
                op: "write",
                source,
            })
    }

    /// Deletes the file and the keychain key (sign-out).
    pub async fn clear(&self) -> Result<(), TokenStoreError> {
        let Some(fs) = &self.file else {
            return Ok(());
        };
        let path = fs.path.clone();
        blocking(move || remove_if_exists(&path))
            .await
            .map_err(|source| TokenStoreError::Io {
                op: "delete",
                source,
            })?;
        *fs.key.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let keys = fs.keys.clone();
        keychain(fs.timeout, move || keys.delete_key())
            .await
            .map_err(|e| TokenStoreError::Keychain(e.to_string()))
    }
}

impl FileStore {
    /// The cached key, else asks the provider (once it has one, it is cached).
    async fn current_key(&self) -> Result<Option<FileKey>, TokenStoreError> {
        if let Some(k) = self.key.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(Some(k.clone()));
        }
        let keys = self.keys.clone();
        let k = keychain(self.timeout, move || keys.load_key())
            .await
            .map_err(|e| TokenStoreError::Keychain(e.to_string()))?;
        if let Some(k) = &k {
            *self.key.lock().unwrap_or_else(|p| p.into_inner()) = Some(k.clone());
        }
        Ok(k)
    }
}

/// Runs blocking work (file or keychain) off the async threads.
async fn blocking<T: Send + 'static, E: From<std::io::Error> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(E::from(std::io::Error::other(format!(
            "blocking task failed: {e}"
        )))),
    }
}

impl From<std::io::Error> for KeyError {
    fn from(e: std::io::Error) -> Self {
        KeyError::Failed(e.to_string())
    }
}

/// `MAGIC | VERSION | nonce (24) | ciphertext+tag`, header as associated data.
pub(crate) fn seal(key: &[u8; 32], signin: &StoredSignIn) -> Result<Vec<u8>, TokenStoreError> {
    let plain = Zeroizing::new(
        serde_json::to_vec(signin).map_err(|_| TokenStoreError::Unreadable("cannot encode"))?,
    );
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let mut header = MAGIC.to_vec();
    header.push(VERSION);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &plain,
                aad: &header,
            },
        )
        .map_err(|_| TokenStoreError::Unreadable("encryption failed"))?;
    let mut out = header;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Inverse of [`seal`]; any damage is [`TokenStoreError::Unreadable`].
pub(crate) fn open_sealed(key: &[u8; 32], sealed: &[u8]) -> Result<StoredSignIn, TokenStoreError> {
    if sealed.len() < HEADER_LEN + NONCE_LEN + 16 || &sealed[..MAGIC.len()] != MAGIC {
        return Err(TokenStoreError::Unreadable("not a ChatBell sign-in file"));
    }
    if sealed[MAGIC.len()] != VERSION {
        return Err(TokenStoreError::Unreadable("unknown file version"));
    }
    let (header, rest) = sealed.split_at(HEADER_LEN);
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: header,
                },
            )
            .map_err(|_| {
                TokenStoreError::Unreadable("it was altered or sealed with another key")
            })?,
    );
    serde_json::from_slice(&plain).map_err(|_| TokenStoreError::Unreadable("unexpected contents"))
}

fn remove_if_exists(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Temp file in the same directory (mode 0600), fsync, rename over the target,
/// fsync the directory: a crash leaves the old file or the new one, never half.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("sign-in file has no parent directory"))?;
    create_private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{FILE_NAME}.{}.tmp",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<6>())
    ));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> StoredSignIn {
        StoredSignIn {
            refresh_token: RefreshToken::new("0.AAAA-refresh-secret".into()),
            account: Some(Account {
                username: Some("ada@contoso.com".into()),
                ..Account::default()
            }),
        }
    }

    #[test]
    fn sealing_round_trips() {
        let key = [7u8; 32];
        let sealed = seal(&key, &sample()).unwrap();
        assert_eq!(open_sealed(&key, &sealed).unwrap(), sample());
    }

    #[test]
    fn each_write_uses_a_fresh_nonce() {
        let key = [7u8; 32];
        let a = seal(&key, &sample()).unwrap();
        let b = seal(&key, &sample()).unwrap();
        assert_ne!(
            a[HEADER_LEN..HEADER_LEN + NONCE_LEN],
            b[HEADER_LEN..HEADER_LEN + NONCE_LEN]
        );
        assert_ne!(a, b);
    }

    #[test]
    fn sealed_bytes_are_not_plain_text() {
        let sealed = seal(&[7u8; 32], &sample()).unwrap();
        let needle = b"refresh-secret";
        assert!(!sealed.windows(needle.len()).any(|w| w == needle));
        assert!(!sealed.windows(5).any(|w| w == b"ada@c"));
    }

    #[test]
    fn tampering_is_detected() {
        let key = [7u8; 32];
        let sealed = seal(&key, &sample()).unwrap();
        for i in [0, 4, HEADER_LEN, HEADER_LEN + NONCE_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(open_sealed(&key, &bad), Err(TokenStoreError::Unreadable(_))),
                "flip at {i}"
            );
        }
        assert!(open_sealed(&key, &sealed[..sealed.len() - 1]).is_err());
        assert!(open_sealed(&key, &[]).is_err());
        assert!(open_sealed(&[8u8; 32], &sealed).is_err(), "another key");
    }
}
