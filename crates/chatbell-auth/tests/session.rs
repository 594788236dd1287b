//! The SignIn token source against the emulator (in process, real loopback
//! HTTP): refresh before expiry, rotation, one refresh for concurrent callers, 401
//! handling, persistence across restarts, sign-out. ChatBell's clock is a manual
//! one and the emulator's is its own manual clock; `Rig::advance` moves both.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use chatbell_auth::{
    AccessToken, AuthError, InMemoryKeyProvider, KeyProvider, SignIn, StorageMode, TokenStore,
};
use chatbell_core::{Clock, ManualClock};
use chatbell_emulator::TokenFault;
use support::{Idp, ALEX, DANA};

struct Rig {
    idp: Idp,
    clock: Arc<ManualClock>,
    keys: Arc<InMemoryKeyProvider>,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Rig {
        Rig {
            idp: Idp::start().await,
            clock: support::manual_clock(),
            keys: Arc::new(InMemoryKeyProvider::new()),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A session as a fresh start of ChatBell would make it.
    async fn session(&self) -> SignIn {
        let (store, mode) =
            TokenStore::open(self.dir.path(), self.keys.clone() as Arc<dyn KeyProvider>).await;
        assert_eq!(mode, StorageMode::Keychain);
        SignIn::new(self.idp.client(Some(self.clock.clone())), store)
    }

    /// Signs in with the device code flow as `user`.
    async fn signed_in(&self, user: &str) -> SignIn {
        let session = self.session().await;
        let prompt = session.start_device_code().await.unwrap();
        assert!(self.idp.approve(&prompt.user_code, user).await.is_success());
        let account = session
            .complete_device_code(&prompt, std::future::pending())
            .await
            .unwrap();
        assert_eq!(account.username.as_deref(), Some(user));
        session
    }

    /// The access token lifetime the server grants (from the session's current token).
    async fn ttl(&self, s: &SignIn) -> u64 {
        let at = s.access_token().await.unwrap();
        at.expires_at()
            .duration_since(
                std::time::UNIX_EPOCH + Duration::from_millis(self.clock.now().0 as u64),
            )
            .unwrap()
            .as_secs()
    }

    /// Moves both clocks (ChatBell's and the emulator's).
    async fn advance(&self, secs: u64) {
        self.clock
            .advance(chatbell_core::Span::seconds(secs as i64));
        self.idp.advance(secs).await;
    }
}

#[tokio::test]
async fn access_token_is_reused_until_the_refresh_skew() {
    let rig = Rig::new().await;
    let s = rig.signed_in(DANA).await;
    let ttl = rig.ttl(&s).await;
    let first = s.access_token().await.unwrap();
    rig.advance(ttl - 301).await;
    assert_eq!(s.access_token().await.unwrap(), first, "still fresh");
    assert_eq!(rig.idp.grants("refresh_token"), 0);
    rig.advance(2).await; // inside the 5-minute window
    let second = s.access_token().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(rig.idp.grants("refresh_token"), 1);
    assert_eq!(rig.idp.whoami(&second.bearer()).await, 200);
}

#[tokio::test]
async fn refresh_keeps_the_newest_refresh_token() {
    let rig = Rig::new().await;
    let s = rig.signed_in(DANA).await;
    let ttl = rig.ttl(&s).await;
    for _ in 0..3 {
        rig.advance(ttl).await;
        let at = s.access_token().await.unwrap();
        assert_eq!(rig.idp.whoami(&at.bearer()).await, 200);
    }
    // The emulator invalidates each refresh token once used: three refreshes in a
    // row only work if the session always sent the newest one.
    assert_eq!(rig.idp.grants("refresh_token"), 3);
    drop(s);

    // And the newest one was persisted: a restart can still refresh.
    let restarted = rig.session().await;
    let account = restarted.restore().await.unwrap().unwrap();
    assert_eq!(account.name.as_deref(), Some("Dana Demo"));
    let at = restarted.access_token().await.unwrap();
    assert_eq!(rig.idp.whoami(&at.bearer()).await, 200);
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let rig = Rig::new().await;
    let s = Arc::new(rig.signed_in(DANA).await);
    let ttl = rig.ttl(&s).await;
    rig.advance(ttl).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.access_token().await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert!(
        tokens.windows(2).all(|w| w[0] == w[1]),
        "all got the same token"
    );
    assert_eq!(rig.idp.grants("refresh_token"), 1, "no refresh storm");
}

#[tokio::test]
async fn invalid_grant_on_refresh_means_sign_in_required_and_forgets_the_sign_in() {
    let rig = Rig::new().await;
    let s = std::sync::Arc::new(rig.signed_in(DANA).await);
    let ttl = rig.ttl(&s).await;
    let file = rig.dir.path().join(chatbell_auth::FILE_NAME);
    assert!(file.exists());
    // Whoever waits for the sign-in's end hears it when the refresh is refused.
    let heard = tokio::spawn({
        let s = s.clone();
        async move { s.signed_out().await }
    });
    tokio::task::yield_now().await;
    assert!(!heard.is_finished(), "signed in: nothing to hear yet");
    // Unused for longer than the refresh token's lifetime (the emulator's default,
    // 90 days, like Microsoft's): the emulator refuses it as expired.
    rig.advance(90 * 24 * 3600).await;
    assert!(ttl < 90 * 24 * 3600);
    let e = s.access_token().await.unwrap_err();
    match &e {
        AuthError::SignInRequired { cause: Some(c), .. } => {
            assert_eq!(c.error, "invalid_grant");
            assert!(c.has_code(70008), "{c:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!s.is_signed_in().await);
    tokio::time::timeout(std::time::Duration::from_secs(5), heard)
        .await
        .expect("the sign-in's end is heard")
        .unwrap();
    assert!(!file.exists(), "the dead refresh token is not kept");
    assert!(s.access_token().await.unwrap_err().is_sign_in_required());
}

#[tokio::test]
async fn server_failure_during_an_early_refresh_keeps_the_current_token() {
    let rig = Rig::new().await;
    let s = rig.signed_in(DANA).await;
    let ttl = rig.ttl(&s).await;
    let first = s.access_token().await.unwrap();
    rig.advance(ttl - 60).await; // inside the skew, not expired
    rig.idp.fault(
        TokenFault::new("temporarily_unavailable", 50196)
            .status(503)
            .grant_type("refresh_token"),
    );
    assert_eq!(s.access_token().await.unwrap(), first);
    assert_eq!(rig.idp.grants("refresh_token"), 1, "it did try");
    assert!(s.is_signed_in().await);
}

#[tokio::test]
async fn on_unauthorized_refreshes_once_then_requires_sign_in() {
    let rig = Rig::new().await;
    let s = rig.signed_in(DANA).await;
    let ttl = rig.ttl(&s).await;
    let at = s.access_token().await.unwrap();
    // The service's clock is ahead: it refuses a token ChatBell thinks is fresh.
    rig.idp.advance(ttl).await;
    assert_eq!(rig.idp.whoami(&at.bearer()).await, 401);
    let fresh = s.on_unauthorized(&at).await.unwrap();
    assert_ne!(fresh, at);
    assert_eq!(rig.idp.whoami(&fresh.bearer()).await, 200);
    // A second 401 for the same old token (another request in flight) gets the new one.
    assert_eq!(s.on_unauthorized(&at).await.unwrap(), fresh);
    assert_eq!(rig.idp.grants("refresh_token"), 1);
    // If the freshly refreshed token is refused too, refreshing again will not help.
    let e = s.on_unauthorized(&fresh).await.unwrap_err();
    assert!(e.is_sign_in_required(), "{e:?}");
    assert_eq!(rig.idp.grants("refresh_token"), 1);
}

#[tokio::test]
async fn on_unauthorized_with_a_refused_refresh_token_requires_sign_in() {
    let rig = Rig::new().await;
    let s = rig.signed_in(DANA).await;
    let at = s.access_token().await.unwrap();
    // The user's sessions were revoked (e.g. a password reset by an admin).
    rig.idp.fault(
        TokenFault::new("invalid_grant", 50173)
            .description("The provided grant has expired due to it being revoked.")
            .grant_type("refresh_token"),
    );
    let e = s.on_unauthorized(&at).await.unwrap_err();
    assert!(e.is_sign_in_required(), "{e:?}");
}

#[tokio::test]
async fn not_signed_in_means_sign_in_required() {
    let rig = Rig::new().await;
    let s = rig.session().await;
    assert_eq!(s.restore().await.unwrap(), None);
    assert!(s.access_token().await.unwrap_err().is_sign_in_required());
    let stale = AccessToken::new("x".into(), std::time::SystemTime::UNIX_EPOCH);
    assert!(s
        .on_unauthorized(&stale)
        .await
        .unwrap_err()
        .is_sign_in_required());
}

#[tokio::test]
async fn sign_out_deletes_the_file_and_the_keychain_key() {
    let rig = Rig::new().await;
    let s = rig.signed_in(DANA).await;
    let file = rig.dir.path().join(chatbell_auth::FILE_NAME);
    assert!(file.exists());
    assert!(rig.keys.load_key().unwrap().is_some());
    s.sign_out().await.unwrap();
    assert!(!file.exists());
    assert!(rig.keys.load_key().unwrap().is_none());
    assert!(s.access_token().await.unwrap_err().is_sign_in_required());
    assert_eq!(rig.session().await.restore().await.unwrap(), None);

    // Signing in again after a sign-out is remembered again (with a new key).
    let prompt = s.start_device_code().await.unwrap();
    assert!(rig.idp.approve(&prompt.user_code, ALEX).await.is_success());
    s.complete_device_code(&prompt, std::future::pending())
        .await
        .unwrap();
    let restored = rig.session().await.restore().await.unwrap().unwrap();
    assert_eq!(restored.username.as_deref(), Some(ALEX));
}

#[tokio::test]
async fn browser_sign_in_through_the_session_is_persisted() {
    let rig = Rig::new().await;
    let s = rig.session().await;
    let opener = |url: &str| {
        tokio::spawn(reqwest::get(url.to_owned()));
        Ok(())
    };
    let options = chatbell_auth::BrowserSignIn {
        login_hint: Some(ALEX.into()),
        ..Default::default()
    };
    let account = s.sign_in_with_browser(&opener, &options).await.unwrap();
    assert_eq!(account.username.as_deref(), Some(ALEX));
    let restored = rig.session().await.restore().await.unwrap().unwrap();
    assert_eq!(restored, account);
}
