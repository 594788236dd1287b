//! The token source the rest of ChatBell uses: one valid access token per request,
//! refreshed before expiry, the newest refresh token always kept and persisted.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::client::OAuthClient;
use crate::device::DeviceCodePrompt;
use crate::error::AuthError;
use crate::loopback::{BrowserOpener, BrowserSignIn};
use crate::store::{StorageMode, StoredSignIn, TokenStore};
use crate::tokens::{AccessToken, Account, RefreshToken, Tokens};

/// Access tokens are refreshed when they have less than this left.
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(5 * 60);

/// The signed-in state and its refresh logic.
///
/// All token work happens under one async mutex, so concurrent callers that find
/// the token stale wait for a single refresh and then share its result.
pub struct SignIn {
    client: OAuthClient,
    store: TokenStore,
    skew: Duration,
    state: Mutex<State>,
    /// Whether there is a refresh token, for [`SignIn::signed_out`].
    signed_in: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    access: Option<AccessToken>,
    refresh: Option<RefreshToken>,
    account: Option<Account>,
    /// The token a forced refresh (after a 401) produced: if that one is refused
    /// too, refreshing again will not help.
    forced: Option<AccessToken>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("client", &self.client)
            .field("store", &self.store)
            .field("skew", &self.skew)
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// A session that signs in with `client` and keeps its sign-in in `store`.
    /// Call [`SignIn::restore`] to pick up a stored sign-in.
    pub fn new(client: OAuthClient, store: TokenStore) -> Self {
        SignIn {
            client,
            store,
            skew: DEFAULT_REFRESH_SKEW,
            state: Mutex::new(State::default()),
            signed_in: tokio::sync::watch::channel(false).0,
        }
    }

    /// Changes how long before expiry a token is refreshed.
    pub fn with_refresh_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// The OAuth client (config, raw flows).
    pub fn client(&self) -> &OAuthClient {
        &self.client
    }

    /// Whether the sign-in is remembered across restarts.
    pub fn storage_mode(&self) -> &StorageMode {
        self.store.mode()
    }

    /// Loads the stored sign-in. `Ok(Some(account))`: signed in (the first
    /// [`SignIn::access_token`] redeems the refresh token); `Ok(None)`: sign in.
    /// An unreadable store is an error, the file is gone, and the user signs in afresh.
    pub async fn restore(&self) -> Result<Option<Account>, AuthError> {
        let stored = self.store.load().await?;
        let mut st = self.state.lock().await;
        let account = stored.map(|s| {
            let account = s.account.unwrap_or_default();
            *st = State {
                refresh: Some(s.refresh_token),
                account: Some(account.clone()),
                ..State::default()
            };
            account
        });
        self.publish(&st);
        Ok(account)
    }

    /// Whether there is a refresh token (the user does not need to sign in).
    pub async fn is_signed_in(&self) -> bool {
        self.state.lock().await.refresh.is_some()
    }

    /// Resolves once there is no refresh token any more (signed out, or the
    /// service refused it): heard when it happens, not polled.
    pub async fn signed_out(&self) {
        let mut signed_in = self.signed_in.subscribe();
        // The sender lives as long as `self`: an error cannot happen here.
        let _ = signed_in.wait_for(|s| !*s).await;
    }

    /// Tells [`SignIn::signed_out`] whether there is a refresh token now.
    fn publish(&self, st: &State) {
        self.signed_in.send_if_modified(|s| {
            let now = st.refresh.is_some();
            let changed = *s != now;
            *s = now;
            changed
        });
    }

    /// The signed-in account, if known.
    pub async fn account(&self) -> Option<Account> {
        self.state.lock().await.account.clone()
    }

    /// Step one of the device code flow: the code and URL to show.
    pub async fn start_device_code(&self) -> Result<DeviceCodePrompt, AuthError> {
        self.client.start_device_code().await
    }

    /// Step two: waits for the user (see [`OAuthClient::complete_device_code`]),
    /// then keeps and persists the tokens.
    pub async fn complete_device_code(
        &self,
        prompt: &DeviceCodePrompt,
        cancel: impl Future<Output = ()>,
    ) -> Result<Account, AuthError> {
        let tokens = self.client.complete_device_code(prompt, cancel).await?;
        self.install(tokens).await
    }

    /// Browser sign-in (auth code + PKCE on a loopback redirect); keeps and persists the tokens.
    pub async fn sign_in_with_browser(
        &self,
        opener: &dyn BrowserOpener,
        options: &BrowserSignIn,
    ) -> Result<Account, AuthError> {
        let tokens = self.client.sign_in_with_browser(opener, options).await?;
        self.install(tokens).await
    }

    /// Replaces the session with freshly obtained tokens (from any flow).
    pub async fn install(&self, tokens: Tokens) -> Result<Account, AuthError> {
        let mut st = self.state.lock().await;
        *st = State::default();
        self.apply(&mut st, tokens).await;
        self.publish(&st);
        Ok(st.account.clone().unwrap_or_default())
    }

    /// A valid access token: the current one, or a refreshed one when it has less
    /// than the skew left. Concurrent callers share one refresh.
    ///
    /// [`AuthError::SignInRequired`] when there is no refresh token or the server
    /// refused it (the stored sign-in is then deleted).
    pub async fn access_token(&self) -> Result<AccessToken, AuthError> {
        let mut st = self.state.lock().await;
        let now = self.client.now();
        if let Some(at) = st.access.as_ref().filter(|at| at.is_fresh(now, self.skew)) {
            return Ok(at.clone());
        }
        match self.refresh_locked(&mut st).await {
            Ok(at) => Ok(at),
            // A failed early refresh (network) still leaves a usable token.
            Err(e) if !e.is_sign_in_required() => match st.access.as_ref() {
                Some(at) if !at.is_expired(self.client.now()) => {
                    tracing::warn!("early token refresh failed, using the current token: {e}");
                    Ok(at.clone())
                }
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Call when Dataverse answered 401 to a request made with `rejected`.
    ///
    /// If another caller already refreshed, returns that newer token. Otherwise
    /// refreshes once. If the token from such a forced refresh is refused again, or
    /// the server refuses the refresh token: [`AuthError::SignInRequired`].
    /// A network failure stays [`AuthError::Network`] (signing in again would not help).
    pub async fn on_unauthorized(&self, rejected: &AccessToken) -> Result<AccessToken, AuthError> {
        let mut st = self.state.lock().await;
        let now = self.client.now();
        if let Some(cur) = st
            .access
            .as_ref()
            .filter(|cur| *cur != rejected && !cur.is_expired(now))
        {
            return Ok(cur.clone());
        }
        if st.forced.as_ref() == Some(rejected) {
            st.access = None;
            return Err(AuthError::SignInRequired {
                reason: "the service refused a freshly refreshed token".into(),
                cause: None,
            });
        }
        let at = self.refresh_locked(&mut st).await?;
        st.forced = Some(at.clone());
        Ok(at)
    }

    /// Signs out: forgets the tokens, deletes the file and the keychain key.
    /// (Microsoft has no token revocation endpoint for public clients; the refresh
    /// token simply stops existing here.)
    pub async fn sign_out(&self) -> Result<(), AuthError> {
        let mut st = self.state.lock().await;
        *st = State::default();
        self.publish(&st);
        self.store.clear().await?;
        Ok(())
    }

    /// Redeems the refresh token; keeps the result. Caller holds the lock.
    async fn refresh_locked(&self, st: &mut State) -> Result<AccessToken, AuthError> {
        let Some(rt) = st.refresh.clone() else {
            return Err(AuthError::SignInRequired {
                reason: "not signed in".into(),
                cause: None,
            });
        };
        match self.client.refresh(&rt).await {
            Ok(tokens) => {
                self.apply(st, tokens).await;
                st.access
                    .clone()
                    .ok_or_else(|| AuthError::MalformedResponse {
                        status: 200,
                        detail: "refresh gave no access token".into(),
                    })
            }
            Err(AuthError::OAuth(e)) if e.needs_interactive_sign_in() => {
                tracing::info!("refresh token refused ({e}); sign-in required");
                *st = State::default();
                self.publish(st);
                if let Err(se) = self.store.clear().await {
                    tracing::warn!("could not delete the stored sign-in: {se}");
                }
                Err(AuthError::SignInRequired {
                    reason: "the sign-in expired or was revoked".into(),
                    cause: Some(e),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Takes a token response: the newest refresh token wins and is persisted at once.
    async fn apply(&self, st: &mut State, tokens: Tokens) {
        st.access = Some(tokens.access_token);
        if tokens.account.is_some() {
            st.account = tokens.account;
        }
        if let Some(rt) = tokens.refresh_token {
            st.refresh = Some(rt);
            self.persist(st).await;
        }
        self.publish(st);
    }

    async fn persist(&self, st: &State) {
        let Some(rt) = st.refresh.clone() else { return };
        let stored = StoredSignIn {
            refresh_token: rt,
            account: st.account.clone(),
        };
        if let Err(e) = self.store.save(&stored).await {
            // Signed in for this run; the next start will ask again.
            tracing::warn!("could not persist the sign-in: {e}");
        }
    }
}
