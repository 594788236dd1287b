//! ChatBell's sign-in to Microsoft Dynamics 365 (Dataverse) as a public desktop client.
//!
//! - [`OAuthClient`] runs the Microsoft identity platform v2.0 flows: device code
//!   ([`OAuthClient::start_device_code`], [`OAuthClient::complete_device_code`]),
//!   authorization code with PKCE on a loopback redirect
//!   ([`OAuthClient::sign_in_with_browser`]) and refresh.
//! - [`SignIn`] is the token source for every Dataverse request: it hands out a
//!   valid access token, refreshes it five minutes before expiry (one refresh for
//!   all concurrent callers), keeps and persists the newest refresh token, and
//!   turns a refused refresh into [`AuthError::SignInRequired`].
//! - [`TokenStore`] keeps the refresh token in an encrypted file whose key sits in
//!   the OS keychain, or nothing at all where there is no keychain
//!   ([`StorageMode::MemoryOnly`]).
//!
//! No token appears in `Debug` output or error messages.
//!
//! # Use in the app
//!
//! ```no_run
//! use chatbell_auth::{AuthConfig, AuthError, OAuthClient, SignIn, StorageMode, TokenStore};
//!
//! # async fn app(data_dir: std::path::PathBuf) -> Result<(), AuthError> {
//! let config = AuthConfig::new(
//!     "https://login.microsoftonline.com",
//!     "contoso.onmicrosoft.com",
//!     "00000000-0000-0000-0000-000000000000", // ChatBell's app registration
//!     "https://contoso.crm.dynamics.com",
//! )?;
//! let (store, mode) = TokenStore::open_with_os_keychain(&data_dir, "sign-in key").await;
//! if let StorageMode::MemoryOnly { why } = &mode {
//!     eprintln!("sign-in will not be remembered: {why}");
//! }
//! let session = SignIn::new(OAuthClient::new(config)?, store);
//!
//! // At start: a stored sign-in, or ask the user to sign in.
//! let signed_in = match session.restore().await {
//!     Ok(account) => account.is_some(),
//!     Err(e) => { eprintln!("{e}"); false } // unreadable store: it was discarded
//! };
//! if !signed_in {
//!     let prompt = session.start_device_code().await?;
//!     println!("Open {} and enter {}", prompt.verification_uri, prompt.user_code);
//!     let (_cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
//!     let account = session
//!         .complete_device_code(&prompt, async { let _ = cancel_rx.await; })
//!         .await?;
//!     println!("signed in as {:?}", account.display());
//! }
//!
//! // Each Dataverse request:
//! let http = reqwest::Client::new();
//! let whoami = "https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI";
//! let token = session.access_token().await?;
//! let mut resp = http.get(whoami).header("Authorization", token.bearer()).send().await;
//! if matches!(&resp, Ok(r) if r.status() == 401) {
//!     match session.on_unauthorized(&token).await {
//!         Ok(t) => resp = http.get(whoami).header("Authorization", t.bearer()).send().await,
//!         Err(e) if e.is_sign_in_required() => { /* show "Sign in again" */ }
//!         Err(e) => return Err(e),
//!     }
//! }
//! # let _ = resp;
//!
//! // Sign out: forget tokens, delete the file and the keychain key.
//! session.sign_out().await?;
//! # Ok(()) }
//! ```

mod client;
mod config;
mod device;
mod error;
mod loopback;
mod pkce;
mod signin;
mod store;
mod tokens;

pub use client::{error_response, token_response, OAuthClient};
pub use config::AuthConfig;
pub use device::DeviceCodePrompt;
pub use error::{AuthError, DeviceCodeFailure, OAuthError, TokenStoreError};
pub use loopback::{redirect_request, BrowserOpener, BrowserSignIn};
pub use pkce::{random_state, s256_challenge, Pkce};
pub use signin::{SignIn, DEFAULT_REFRESH_SKEW};
pub use store::{
    FileKey, InMemoryKeyProvider, KeyError, KeyProvider, KeyringKeyProvider, StorageMode,
    StoredSignIn, TokenStore, FILE_NAME, KEYCHAIN_TIMEOUT,
};
pub use tokens::{AccessToken, Account, RefreshToken, Secret, Tokens};
