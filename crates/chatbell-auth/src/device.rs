//! The device code flow (RFC 8628, Microsoft identity platform v2.0).
//!
//! ChatBell shows the user a code and a URL; the user signs in on any browser
//! while ChatBell polls the token endpoint. Waiting uses tokio's clock, so tests
//! run it under paused time.

use std::future::Future;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::time::Instant;

use crate::client::{error_response, OAuthClient};
use crate::error::{AuthError, DeviceCodeFailure};
use crate::tokens::{malformed, Secret, Tokens};

/// RFC 8628's default polling interval when the server gives none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Added to the interval on `slow_down` (RFC 8628 section 3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Polling stops after this many network failures in a row.
const MAX_NETWORK_FAILURES: u32 = 5;

/// What to show the user while the device code flow waits.
#[derive(Clone)]
pub struct DeviceCodePrompt {
    /// The short code the user types on the verification page.
    pub user_code: String,
    /// Where to type it (e.g. `https://microsoft.com/devicelogin`).
    pub verification_uri: String,
    /// The server's ready-made instruction, localised by the server.
    pub message: Option<String>,
    /// When the code stops working (wall clock, for display).
    pub expires_at: SystemTime,
    /// The polling interval the server asked for.
    pub interval: Duration,
    device_code: Secret,
    deadline: Instant,
}

impl std::fmt::Debug for DeviceCodePrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodePrompt")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("message", &self.message)
            .field("expires_at", &self.expires_at)
            .field("interval", &self.interval)
            .field("device_code", &self.device_code)
            .finish()
    }
}

#[derive(Deserialize)]
struct DeviceCodeResponse {
    device_code: Secret,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    expires_in: serde_json::Value,
    interval: Option<serde_json::Value>,
    message: Option<String>,
}

fn as_secs(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl DeviceCodePrompt {
    /// Reads the `devicecode` endpoint's answer (`status` and body); `now` dates
    /// its expiry.
    pub fn from_response(
        status: u16,
        body: &[u8],
        now: SystemTime,
    ) -> Result<DeviceCodePrompt, AuthError> {
        if status != 200 {
            return Err(error_response(status, body));
        }
        let r: DeviceCodeResponse = serde_json::from_slice(body)
            .map_err(|e| malformed(status, format!("device code response: {e}")))?;
        let expires_in = as_secs(&r.expires_in)
            .filter(|s| *s > 0)
            .ok_or_else(|| malformed(status, "device code response: bad expires_in".into()))?;
        let interval = match &r.interval {
            None => DEFAULT_INTERVAL,
            Some(v) => Duration::from_secs(
                as_secs(v)
                    .ok_or_else(|| malformed(status, "device code response: bad interval".into()))?
                    .clamp(1, 60),
            ),
        };
        if r.device_code.expose().is_empty() || r.user_code.is_empty() {
            return Err(malformed(status, "device code response: empty code".into()));
        }
        let lifetime = Duration::from_secs(expires_in.min(24 * 3600));
        Ok(DeviceCodePrompt {
            user_code: r.user_code,
            verification_uri: r.verification_uri,
            message: r.message,
            expires_at: now + lifetime,
            interval,
            device_code: r.device_code,
            deadline: Instant::now() + lifetime,
        })
    }
}

impl OAuthClient {
    /// Asks for a device code (`POST .../devicecode` with `client_id` and `scope`).
    pub async fn start_device_code(&self) -> Result<DeviceCodePrompt, AuthError> {
        let url = self.config.endpoint("devicecode")?;
        let scope = self.config.scope();
        let (status, body) = self
            .post_form(
                url,
                &[("client_id", self.config.client_id()), ("scope", &scope)],
            )
            .await?;
        DeviceCodePrompt::from_response(status, &body, self.now())
    }

    /// Polls the token endpoint until the user has signed in, declined, or the code
    /// expired, or until `cancel` completes (pass e.g. a oneshot receiver or a
    /// cancellation token's `cancelled()`; `std::future::pending()` never cancels).
    ///
    /// `authorization_pending` keeps polling, `slow_down` adds 5 s to the interval,
    /// and a few network failures in a row are tolerated.
    pub async fn complete_device_code(
        &self,
        prompt: &DeviceCodePrompt,
        cancel: impl Future<Output = ()>,
    ) -> Result<Tokens, AuthError> {
        tokio::pin!(cancel);
        let mut interval = prompt.interval;
        let mut network_failures = 0;
        loop {
            let wake = Instant::now() + interval;
            if wake >= prompt.deadline {
                tokio::select! {
                    () = &mut cancel => return Err(AuthError::Cancelled),
                    () = tokio::time::sleep_until(prompt.deadline) => {}
                }
                return Err(AuthError::DeviceCode(DeviceCodeFailure::Expired));
            }
            tokio::select! {
                () = &mut cancel => return Err(AuthError::Cancelled),
                () = tokio::time::sleep_until(wake) => {}
            }
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", self.config.client_id()),
                ("device_code", prompt.device_code.expose()),
            ];
            let poll = self.token_request(&form);
            let result = tokio::select! {
                () = &mut cancel => return Err(AuthError::Cancelled),
                r = poll => r,
            };
            match result {
                Ok(tokens) => return Ok(tokens),
                Err(AuthError::OAuth(e)) => match e.error.as_str() {
                    "authorization_pending" => network_failures = 0,
                    "slow_down" => {
                        network_failures = 0;
                        interval += SLOW_DOWN_STEP;
                    }
                    "authorization_declined" | "access_denied" => {
                        return Err(AuthError::DeviceCode(DeviceCodeFailure::Declined))
                    }
                    "expired_token" | "code_expired" => {
                        return Err(AuthError::DeviceCode(DeviceCodeFailure::Expired))
                    }
                    "bad_verification_code" => {
                        return Err(AuthError::DeviceCode(
                            DeviceCodeFailure::BadVerificationCode,
                        ))
                    }
                    _ => return Err(AuthError::OAuth(e)),
                },
                Err(AuthError::Network(msg)) => {
                    network_failures += 1;
                    tracing::warn!(attempt = network_failures, "device code poll failed: {msg}");
                    if network_failures >= MAX_NETWORK_FAILURES {
                        return Err(AuthError::Network(msg));
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }
}
