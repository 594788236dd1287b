//! Tokens, the signed-in account, and the clock that judges expiry.
//!
//! Token values live in [`Secret`]s: their `Debug` says `[redacted]` and their
//! memory is zeroed on drop, so a stray `{:?}` or log line never leaks one.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

use crate::error::AuthError;

/// A secret string: redacted in `Debug`, zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret value; only for putting it on the wire or into the encrypted store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// A Dataverse access token and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: Secret,
    expires_at: SystemTime,
}

impl AccessToken {
    /// A token that expires at `expires_at`.
    pub fn new(value: String, expires_at: SystemTime) -> Self {
        AccessToken {
            value: Secret::new(value),
            expires_at,
        }
    }

    /// The raw token, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        self.value.expose()
    }

    /// `Bearer <token>`, the `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.value.expose())
    }

    /// When the token stops being accepted.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Whether the token is still good for at least `skew` at `now`.
    /// A token inside the skew window is refreshed before it is handed out, so that
    /// a request never starts with a token that expires in flight.
    pub fn is_fresh(&self, now: SystemTime, skew: Duration) -> bool {
        now.checked_add(skew)
            .is_some_and(|limit| limit < self.expires_at)
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &self.value)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A refresh token. Microsoft rotates them: each refresh may return a new one
/// and the newest must always be kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RefreshToken(Secret);

impl RefreshToken {
    /// Wraps a refresh token value.
    pub fn new(value: String) -> Self {
        RefreshToken(Secret::new(value))
    }

    /// The raw token, for the token endpoint.
    pub fn secret(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

/// Who is signed in, as the `id_token` says. For display only: the token is
/// decoded without checking its signature, so nothing here is trusted for
/// access decisions (Dataverse's `WhoAmI` is the authority on the user id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `preferred_username`, usually the UPN / email.
    pub username: Option<String>,
    /// `name`, the display name.
    pub name: Option<String>,
    /// `oid`, the user's object id in the directory.
    pub object_id: Option<String>,
    /// `tid`, the tenant id.
    pub tenant_id: Option<String>,
}

impl Account {
    /// Reads the display claims from an id token's payload, without verifying it.
    /// `None` if it is not a JWT with a JSON payload.
    pub fn from_id_token(id_token: &str) -> Option<Account> {
        #[derive(Deserialize)]
        struct Claims {
            preferred_username: Option<String>,
            upn: Option<String>,
            email: Option<String>,
            name: Option<String>,
            oid: Option<String>,
            tid: Option<String>,
        }
        let mut parts = id_token.split('.');
        let (_header, payload) = (parts.next()?, parts.next()?);
        parts.next()?; // a signature part (possibly empty) must follow
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .or_else(|_| URL_SAFE.decode(payload))
            .ok()?;
        let c: Claims = serde_json::from_slice(&bytes).ok()?;
        Some(Account {
            username: c.preferred_username.or(c.upn).or(c.email),
            name: c.name,
            object_id: c.oid,
            tenant_id: c.tid,
        })
    }

    /// Something to show: the display name, else the username.
    pub fn display(&self) -> Option<&str> {
        self.name.as_deref().or(self.username.as_deref())
    }
}

/// What a successful token request gives.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The Dataverse access token.
    pub access_token: AccessToken,
    /// The refresh token, when the server sent one (it does for `offline_access`).
    pub refresh_token: Option<RefreshToken>,
    /// The account from the id token, when one came.
    pub account: Option<Account>,
    /// The scopes granted.
    pub scope: Option<String>,
}

/// Upper bound on a believable `expires_in` (Microsoft issues 60–90 minutes).
const MAX_EXPIRES_IN: u64 = 24 * 3600;

impl Tokens {
    /// Parses a successful token endpoint response (RFC 6749 section 5.1).
    pub(crate) fn from_response(body: &[u8], now: SystemTime) -> Result<Tokens, String> {
        #[derive(Deserialize)]
        struct Raw {
            token_type: Option<String>,
            scope: Option<String>,
            expires_in: Option<serde_json::Value>,
            access_token: Option<Secret>,
            refresh_token: Option<Secret>,
            id_token: Option<Secret>,
        }
        let raw: Raw =
            serde_json::from_slice(body).map_err(|e| format!("token response is not JSON: {e}"))?;
        let access = raw
            .access_token
            .filter(|t| !t.expose().is_empty())
            .ok_or("token response has no access_token")?;
        if let Some(tt) = &raw.token_type {
            if !tt.eq_ignore_ascii_case("bearer") {
                return Err(format!("token_type {tt:?} is not Bearer"));
            }
        }
        // Microsoft sends a number; older endpoints sent a string.
        let expires_in = match raw.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse::<u64>().ok(),
            _ => None,
        }
        .ok_or("token response has no valid expires_in")?
        .min(MAX_EXPIRES_IN);
        let expires_at = now
            .checked_add(Duration::from_secs(expires_in))
            .ok_or("expires_in out of range")?;
        Ok(Tokens {
            access_token: AccessToken {
                value: access,
                expires_at,
            },
            refresh_token: raw
                .refresh_token
                .filter(|t| !t.expose().is_empty())
                .map(RefreshToken),
            account: raw
                .id_token
                .as_ref()
                .and_then(|t| Account::from_id_token(t.expose())),
            scope: raw.scope,
        })
    }
}

/// A time of the project's clock ([`chatbell_core::Clock`], wall-clock time: a
/// laptop's monotonic clock stops while it sleeps, while tokens keep expiring)
/// as the `SystemTime` token expiry is kept in.
pub(crate) fn wall(t: chatbell_core::Ts) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(t.0).unwrap_or(0))
}

/// Maps a token-response parse failure to the crate error.
pub(crate) fn malformed(status: u16, detail: String) -> AuthError {
    AuthError::MalformedResponse { status, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn token_response_is_parsed_with_expiry_from_now() -> Result<(), String> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let body = format!(
            r#"{{"token_type":"Bearer","scope":"s","expires_in":3599,"ext_expires_in":3599,
                "access_token":"AT1","refresh_token":"RT1","id_token":"{}"}}"#,
            jwt(
                r#"{"name":"Ada Agent","preferred_username":"ada@contoso.com","oid":"o1","tid":"t1"}"#
            )
        );
        let t = Tokens::from_response(body.as_bytes(), now)?;
        assert_eq!(t.access_token.secret(), "AT1");
        assert_eq!(t.access_token.expires_at(), now + Duration::from_secs(3599));
        assert_eq!(t.refresh_token.as_ref().map(|r| r.secret()), Some("RT1"));
        let acc = t.account.ok_or("no account")?;
        assert_eq!(acc.name.as_deref(), Some("Ada Agent"));
        assert_eq!(acc.username.as_deref(), Some("ada@contoso.com"));
        assert_eq!(acc.display(), Some("Ada Agent"));
        Ok(())
    }

    #[test]
    fn expires_in_as_string_is_accepted() -> Result<(), String> {
        let now = SystemTime::UNIX_EPOCH;
        let t = Tokens::from_response(br#"{"access_token":"a","expires_in":"60"}"#, now)?;
        assert_eq!(t.access_token.expires_at(), now + Duration::from_secs(60));
        assert!(t.refresh_token.is_none() && t.account.is_none());
        Ok(())
    }

    #[test]
    fn malformed_token_responses_are_errors_not_panics() {
        let now = SystemTime::UNIX_EPOCH;
        for body in [
            &b""[..],
            b"<html>",
            b"[]",
            b"{}",
            br#"{"access_token":"","expires_in":1}"#,
            br#"{"access_token":"a"}"#,
            br#"{"access_token":"a","expires_in":-5}"#,
            br#"{"access_token":"a","expires_in":1,"token_type":"mac"}"#,
            br#"{"access_token":7,"expires_in":1}"#,
        ] {
            assert!(Tokens::from_response(body, now).is_err(), "{body:?}");
        }
    }

    #[test]
    fn bad_id_tokens_give_no_account() {
        assert!(Account::from_id_token("").is_none());
        assert!(Account::from_id_token("a.b").is_none());
        assert!(Account::from_id_token("a.!!!.c").is_none());
        assert!(Account::from_id_token(&jwt("not json")).is_none());
    }

    #[test]
    fn freshness_respects_the_skew() {
        use chatbell_core::{Clock, ManualClock, Span, Ts};
        let clock = ManualClock::new(Ts(10_000_000));
        let now = || wall(clock.now());
        let t = AccessToken::new("x".into(), now() + Duration::from_secs(3600));
        let skew = Duration::from_secs(300);
        assert!(t.is_fresh(now(), skew));
        clock.advance(Span::seconds(3600 - 301));
        assert!(t.is_fresh(now(), skew));
        clock.advance(Span::seconds(1));
        assert!(!t.is_fresh(now(), skew), "inside the skew window");
        assert!(!t.is_expired(now()));
        clock.advance(Span::seconds(300));
        assert!(t.is_expired(now()));
    }

    #[test]
    fn debug_of_tokens_redacts_every_secret() -> Result<(), String> {
        let body = br#"{"access_token":"eyJ-ACCESS-SECRET","refresh_token":"0.REFRESH-SECRET","expires_in":60}"#;
        let t = Tokens::from_response(body, SystemTime::UNIX_EPOCH)?;
        let dbg = format!("{t:?} {:?} {:?}", t.access_token, t.refresh_token);
        assert!(!dbg.contains("ACCESS-SECRET"), "{dbg}");
        assert!(!dbg.contains("REFRESH-SECRET"), "{dbg}");
        assert!(dbg.contains("redacted"));
        Ok(())
    }
}
