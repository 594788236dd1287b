//! ChatBell's sign-in to Microsoft Dynamics 365 (Dataverse) as a public desktop client.
//!
//! - [`OAuthClient`] runs the Microsoft identity platform v2.0 flows: device code
//!   ([`OAuthClient::start_device_code`], [`OAuthClient::complete_device_code`]),
//!   authorization code with PKCE on a loopback redirect
//!   ([`OAuthClient::sign_in_with_browser`]) and refresh.
//! - [`Session`] is the token source for every Dataverse request: it hands out a
//!   valid access token, refreshes it five minutes before expiry (one refresh for
//!   all concurrent callers), keeps and persists the newest refresh token, and
//!   turns a refused refresh into [`AuthError::SignInRequired`].
//! - [`TokenStore`] keeps the refresh token in an encrypted file whose key sits in
//!   the OS keychain, or nothing at all where there is no keychain
//!   ([`StorageMode::MemoryOnly`]).
//!
//! No token appears in `Debug` output or error messages.

mod client;
mod config;
mod device;
mod error;
mod loopback;
mod pkce;
mod session;
mod store;
mod tokens;

pub use client::OAuthClient;
pub use config::AuthConfig;
pub use device::DeviceCodePrompt;
pub use error::{AuthError, DeviceCodeFailure, OAuthError, StoreError};
pub use loopback::{BrowserOpener, BrowserSignIn};
pub use pkce::{random_state, s256_challenge, Pkce};
pub use session::{Session, DEFAULT_REFRESH_SKEW};
pub use store::{
    FileKey, InMemoryKeyProvider, KeyError, KeyProvider, KeyringKeyProvider, StorageMode,
    StoredSignIn, TokenStore, FILE_NAME,
};
pub use tokens::{
    AccessToken, Account, Clock, ManualClock, RefreshToken, Secret, SystemClock, Tokens,
};
