//! The HTTP side of sign-in: one client for the identity platform's endpoints.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Url;

use crate::config::AuthConfig;
use crate::error::{AuthError, OAuthError};
use crate::tokens::{malformed, wall, RefreshToken, Tokens};
use chatbell_core::{Clock, SystemClock};

/// How long one request to the identity platform may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Talks to `{authority}/{tenant}/oauth2/v2.0/*` as ChatBell's public client.
///
/// It runs the flows (device code, browser with PKCE, refresh) and returns
/// [`Tokens`]; keeping and refreshing them is [`crate::SignIn`]'s job.
#[derive(Clone)]
pub struct OAuthClient {
    pub(crate) config: AuthConfig,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// A client with the system clock.
    pub fn new(config: AuthConfig) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("ChatBell/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::network(&e))?;
        Ok(OAuthClient {
            config,
            http,
            clock: Arc::new(SystemClock),
        })
    }

    /// Replaces the clock that dates token expiry (tests inject a manual one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wall-clock time of this client's clock.
    pub(crate) fn now(&self) -> SystemTime {
        wall(self.clock.now())
    }

    /// The configuration this client signs in with.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Redeems a refresh token (`grant_type=refresh_token`). The answer usually holds
    /// a new refresh token that replaces the old one (rotation).
    pub async fn refresh(&self, refresh_token: &RefreshToken) -> Result<Tokens, AuthError> {
        let scope = self.config.scope();
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("client_id", self.config.client_id()),
            ("refresh_token", refresh_token.secret()),
            ("scope", &scope),
        ])
        .await
    }

    /// POSTs a form to the token endpoint and parses tokens or the OAuth error.
    pub(crate) async fn token_request(&self, form: &[(&str, &str)]) -> Result<Tokens, AuthError> {
        let url = self.config.endpoint("token")?;
        let (status, body) = self.post_form(url, form).await?;
        token_response(status, &body, self.now())
    }

    /// POSTs `application/x-www-form-urlencoded` and returns status and body.
    pub(crate) async fn post_form(
        &self,
        url: Url,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), AuthError> {
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| AuthError::network(&e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| AuthError::network(&e))?;
        Ok((status, body.to_vec()))
    }
}

/// The token endpoint's answer: tokens on 200, else the OAuth error it gave.
pub fn token_response(status: u16, body: &[u8], now: SystemTime) -> Result<Tokens, AuthError> {
    if status == 200 {
        Tokens::from_response(body, now).map_err(|d| malformed(status, d))
    } else {
        Err(error_response(status, body))
    }
}

/// A non-200 answer: the documented OAuth error JSON, or a malformed response.
pub fn error_response(status: u16, body: &[u8]) -> AuthError {
    match OAuthError::from_json(body) {
        Some(e) => AuthError::OAuth(Box::new(e)),
        None => malformed(status, "error response without OAuth error JSON".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_error_json_is_parsed() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS70000: Provided grant is invalid or malformed.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-11-21 10:15:00Z","error_codes":[70000],"timestamp":"2026-11-21 10:15:00Z","trace_id":"1","correlation_id":"2","error_uri":"https://login.microsoftonline.com/error?code=70000"}"#;
        let AuthError::OAuth(e) = error_response(400, body) else {
            panic!("not an OAuth error");
        };
        assert_eq!(e.error, "invalid_grant");
        assert!(e.has_code(70000));
        assert!(e.needs_interactive_sign_in());
        assert_eq!(e.trace_id.as_deref(), Some("1"));
        assert_eq!(
            e.to_string(),
            "invalid_grant (AADSTS70000: Provided grant is invalid or malformed.)"
        );
    }

    #[test]
    fn minimal_and_malformed_error_bodies_do_not_panic() {
        assert!(matches!(
            error_response(400, br#"{"error":"authorization_pending"}"#),
            AuthError::OAuth(ref e) if e.error == "authorization_pending"
        ));
        for body in [
            &b""[..],
            b"null",
            b"{}",
            br#"{"error":""}"#,
            br#"{"error":5}"#,
            br#"{"error":"x","error_codes":"bad"}"#,
            b"<html>502</html>",
        ] {
            assert!(
                matches!(
                    error_response(502, body),
                    AuthError::MalformedResponse { status: 502, .. }
                ),
                "{body:?}"
            );
        }
    }
}
