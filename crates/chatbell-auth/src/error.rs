//! Typed errors of ChatBell's sign-in.
//!
//! No variant ever carries a token: messages are safe to log and to show.

use serde::Deserialize;
use std::fmt;

/// Everything that can go wrong while signing in, refreshing or storing tokens.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The identity platform could not be reached, or the connection failed mid-way.
    #[error("network error talking to the sign-in service: {0}")]
    Network(String),

    /// The identity platform answered with a documented OAuth error
    /// (`{"error": ..., "error_description": ..., "error_codes": [...]}`).
    #[error("sign-in service refused the request: {0}")]
    OAuth(Box<OAuthError>),

    /// The identity platform answered something that is not its documented JSON.
    #[error("unexpected response from the sign-in service (HTTP {status}): {detail}")]
    MalformedResponse {
        /// HTTP status of the response.
        status: u16,
        /// What was wrong with it (never the body itself, which could hold a token).
        detail: String,
    },

    /// The redirect back from the browser carried a `state` other than the one sent:
    /// the response is not ours, so nothing was exchanged.
    #[error(
        "the sign-in redirect did not match this sign-in (state mismatch); nothing was exchanged"
    )]
    StateMismatch,

    /// The browser redirect carried `error=...` (the user cancelled, consent was refused, ...).
    #[error("sign-in in the browser failed: {0}")]
    Redirect(Box<OAuthError>),

    /// The loopback redirect request was not understood.
    #[error("malformed sign-in redirect: {0}")]
    BadRedirect(String),

    /// Nothing happened in time (no browser redirect, or the device code expired).
    #[error("sign-in timed out: {0}")]
    Timeout(&'static str),

    /// The device code flow ended without tokens: declined, expired or rejected code.
    #[error("device code sign-in ended: {0}")]
    DeviceCode(DeviceCodeFailure),

    /// The caller cancelled the sign-in.
    #[error("sign-in was cancelled")]
    Cancelled,

    /// The browser could not be opened.
    #[error("could not open the browser: {0}")]
    Browser(String),

    /// There is no usable refresh token any more (never signed in, signed out,
    /// revoked, expired, or the server refused it): the user has to sign in again.
    #[error("sign-in required: {reason}")]
    SignInRequired {
        /// Why, in words fit for a log or a status line.
        reason: String,
        /// The server's error, when it was a refusal of the refresh token.
        #[source]
        cause: Option<Box<OAuthError>>,
    },

    /// The token store failed.
    #[error(transparent)]
    Storage(#[from] TokenStoreError),

    /// The configuration is not usable (a bad URL, an empty client id, ...).
    #[error("invalid sign-in configuration: {0}")]
    Config(String),
}

impl AuthError {
    /// `true` when the app has to ask the user to sign in again.
    pub fn is_sign_in_required(&self) -> bool {
        matches!(self, AuthError::SignInRequired { .. })
    }

    pub(crate) fn network(err: &reqwest::Error) -> Self {
        // reqwest's message holds the URL (endpoint, no secrets) and the cause.
        let mut msg = err.to_string();
        let mut src = std::error::Error::source(err);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        AuthError::Network(msg)
    }
}

/// How a device code flow ended without tokens (RFC 8628 section 3.5 and
/// the Microsoft identity platform's device code errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCodeFailure {
    /// `authorization_declined`: the user refused on the verification page.
    Declined,
    /// `expired_token`: the code expired before the user finished.
    Expired,
    /// `bad_verification_code`: the server does not know the device code.
    BadVerificationCode,
}

impl fmt::Display for DeviceCodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceCodeFailure::Declined => "the user declined the sign-in",
            DeviceCodeFailure::Expired => "the code expired before sign-in was completed",
            DeviceCodeFailure::BadVerificationCode => {
                "the sign-in service did not recognise the code"
            }
        })
    }
}

/// The Microsoft identity platform's error body
/// (`error`, `error_description`, `error_codes`, `timestamp`, `trace_id`, `correlation_id`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OAuthError {
    /// The OAuth error code, e.g. `invalid_grant`, `authorization_pending`.
    pub error: String,
    /// Human-readable description; Microsoft starts it with `AADSTSnnnnn:`.
    #[serde(default)]
    pub error_description: Option<String>,
    /// Microsoft's numeric AADSTS codes.
    #[serde(default)]
    pub error_codes: Vec<u64>,
    /// Server time of the error.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Server trace id, for support.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Request correlation id, for support.
    #[serde(default)]
    pub correlation_id: Option<String>,
}

impl OAuthError {
    /// Parses Microsoft's error JSON. `None` if the body is not such an object.
    pub fn from_json(body: &[u8]) -> Option<Self> {
        let e: OAuthError = serde_json::from_slice(body).ok()?;
        if e.error.is_empty() {
            return None;
        }
        Some(e)
    }

    /// Whether the server's AADSTS codes include `code`.
    pub fn has_code(&self, code: u64) -> bool {
        self.error_codes.contains(&code)
    }

    /// Errors that mean the refresh token can no longer be used and the user
    /// must sign in interactively (`invalid_grant` covers expired, revoked and
    /// rotated-away refresh tokens; `interaction_required` covers MFA/CA prompts).
    pub fn needs_interactive_sign_in(&self) -> bool {
        matches!(
            self.error.as_str(),
            "invalid_grant" | "interaction_required" | "consent_required" | "login_required"
        )
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error)?;
        if let Some(d) = &self.error_description {
            // Microsoft's descriptions carry "Trace ID: ... Timestamp: ..." on
            // further lines; the first line says what matters.
            let first = d.lines().next().unwrap_or_default();
            write!(f, " ({first})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

/// Failures of the encrypted token file and of the key in the OS keychain.
#[derive(Debug, thiserror::Error)]
pub enum TokenStoreError {
    /// Reading or writing the token file failed.
    #[error("token file {op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The token file is not a ChatBell token file, is truncated, or was tampered with,
    /// or the key in the keychain is not the one it was written with. The file has
    /// been discarded: sign in again.
    #[error("the stored sign-in could not be read ({0}); it was discarded, please sign in again")]
    Unreadable(&'static str),
    /// The OS keychain failed.
    #[error("OS keychain error: {0}")]
    Keychain(String),
}
