//! Demo mode: an in-process Dataverse emulator with the demo org and simulated
//! traffic, signed in as the demo agent through the real device code flow.

use chatbell_auth::{AuthConfig, AuthError, DeviceCodePrompt, OAuthClient, SignIn, TokenStore};
use chatbell_emulator::{Emulator, Options, RunningEmulator, Seed};
use std::sync::Arc;
use std::time::Duration;

pub use chatbell_emulator::DEMO_AGENT_EMAIL;

/// The client id ChatBell signs in with on the emulator.
pub const DEMO_CLIENT_ID: &str = "chatbell-desktop";
/// Simulated events per hour: busy enough to see something within a minute.
pub const DEMO_RATE: f64 = 120.0;

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo org could not start: {0}")]
    Emulator(#[from] chatbell_emulator::EmulatorError),
    #[error("demo sign-in failed: {0}")]
    Auth(#[from] AuthError),
    #[error("demo sign-in could not be approved: {0}")]
    Approve(String),
}

/// A running demo org.
pub struct DemoOrg {
    pub emulator: RunningEmulator,
}

impl std::fmt::Debug for DemoOrg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoOrg")
            .field("base_url", &self.base_url())
            .finish()
    }
}

/// A signed-in demo: what the app needs.
#[derive(Debug)]
pub struct Demo {
    /// The org's (and sign-in authority's) base URL, `http://127.0.0.1:<port>`.
    pub base_url: String,
    pub session: Arc<SignIn>,
    pub org: DemoOrg,
}

impl DemoOrg {
    /// Starts the emulator: the demo seed, simulated traffic at [`DEMO_RATE`] an
    /// hour, in real time.
    pub async fn start() -> Result<DemoOrg, DemoError> {
        let mut opts = Options::default()
            .seed(Seed::Demo)
            .simulate(fastseed())
            .device_code_interval(Duration::from_secs(1));
        opts.simulate_rate = DEMO_RATE;
        opts.simulate_speed = 1.0;
        Ok(DemoOrg {
            emulator: Emulator::start(opts).await?,
        })
    }

    pub fn base_url(&self) -> &str {
        self.emulator.base_url()
    }

    /// A session for the demo org (tokens in memory only: the org is new each run).
    pub fn new_session(&self) -> Result<Arc<SignIn>, DemoError> {
        let config = AuthConfig::new(
            self.base_url(),
            &self.emulator.tenant_id().to_string(),
            DEMO_CLIENT_ID,
            self.base_url(),
        )?;
        Ok(Arc::new(SignIn::new(
            OAuthClient::new(config)?,
            TokenStore::memory_only("demo mode: the demo org is new on every start"),
        )))
    }

    /// Approves `prompt` as the demo agent, as the agent would in a browser.
    pub async fn approve(&self, prompt: &DeviceCodePrompt) -> Result<(), DemoError> {
        let resp = reqwest::Client::new()
            .post(format!("{}/_emulator/approve", self.base_url()))
            .json(&serde_json::json!({"user_code": prompt.user_code, "user": DEMO_AGENT_EMAIL}))
            .send()
            .await
            .map_err(|e| DemoError::Approve(e.to_string()))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return Err(DemoError::Approve(format!("{status}: {text}")));
        }
        Ok(())
    }

    /// Signs `session` in as the demo agent through the device code flow.
    pub async fn sign_in(&self, session: &SignIn) -> Result<(), DemoError> {
        let prompt = session.start_device_code().await?;
        self.approve(&prompt).await?;
        session
            .complete_device_code(&prompt, std::future::pending())
            .await?;
        Ok(())
    }

    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
    }
}

fn fastseed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1)
}

impl Demo {
    /// Starts the demo org and signs in as the demo agent.
    pub async fn start() -> Result<Demo, DemoError> {
        let org = DemoOrg::start().await?;
        let session = org.new_session()?;
        org.sign_in(&session).await?;
        Ok(Demo {
            base_url: org.base_url().to_string(),
            session,
            org,
        })
    }

    pub async fn shutdown(self) {
        self.org.shutdown().await;
    }
}
