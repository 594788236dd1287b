//! Demo mode: the demo org (the Dataverse emulator with the demo seed and
//! simulated traffic) as a process of its own, `chatbell-emulator`, started
//! with the demo and gone with it; signed in as the demo agent through the
//! real device code flow. The resident ChatBell a real agent runs does not
//! contain the emulator.

use chatbell_auth::{AuthConfig, AuthError, DeviceCodePrompt, OAuthClient, SignIn, TokenStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The demo org's agent (the emulator's demo seed signs in as this user).
pub const DEMO_AGENT_EMAIL: &str = "demo.agent@chatbell.example";

/// The client id ChatBell signs in with on the emulator.
pub const DEMO_CLIENT_ID: &str = "chatbell-desktop";
/// Simulated events per hour: busy enough to see something within a minute.
pub const DEMO_RATE: f64 = 120.0;
/// The emulator's program, beside ChatBell's own (or `$CHATBELL_EMULATOR`).
pub const EMULATOR_PROGRAM: &str = "chatbell-emulator";
/// How long the demo org may take to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo org could not start: {0}")]
    Emulator(String),
    #[error("demo sign-in failed: {0}")]
    Auth(#[from] AuthError),
    #[error("demo sign-in could not be approved: {0}")]
    Approve(String),
}

/// A running demo org: the emulator's process, ended when this is dropped.
pub struct DemoOrg {
    base_url: String,
    tenant: String,
    /// Its standard input: closing it (dropping this) tells it to stop, and so
    /// does ChatBell's end however it comes (the pipe closes with it).
    child: tokio::process::Child,
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

/// Where the emulator's program is: `$CHATBELL_EMULATOR`, else beside this
/// program (the packages install both in one folder), else on the `PATH`.
pub fn emulator_program() -> PathBuf {
    if let Some(p) = std::env::var_os("CHATBELL_EMULATOR").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let name = format!("{EMULATOR_PROGRAM}{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

impl DemoOrg {
    /// Starts the emulator: the demo seed, simulated traffic at [`DEMO_RATE`] an
    /// hour, in real time, on a free local port.
    pub async fn start() -> Result<DemoOrg, DemoError> {
        let program = emulator_program();
        let mut child = tokio::process::Command::new(&program)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--seed",
                "demo",
                "--simulate",
                "--simulate-speed",
                "1",
                "--simulate-rate",
                &DEMO_RATE.to_string(),
                "--random-seed",
                &fastseed().to_string(),
                "--device-code-interval",
                "1",
                "--exit-with-stdin",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| DemoError::Emulator(format!("{}: {e}", program.display())))?;
        // What it says went wrong (it writes nothing else there) goes to
        // ChatBell's log.
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::warn!("demo org: {line}");
                }
            });
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DemoError::Emulator("no output from the demo org".into()))?;
        let said = tokio::time::timeout(START_LIMIT, async {
            let mut lines = BufReader::new(stdout).lines();
            let base = lines.next_line().await.ok().flatten();
            let tenant = lines.next_line().await.ok().flatten();
            (base, tenant, lines)
        })
        .await;
        let (base, tenant, lines) = said.map_err(|_| {
            DemoError::Emulator(format!(
                "{} said nothing within {} s",
                program.display(),
                START_LIMIT.as_secs()
            ))
        })?;
        let base_url = base
            .filter(|b| b.starts_with("http://127.0.0.1:"))
            .ok_or_else(|| DemoError::Emulator(format!("{} did not start", program.display())))?;
        let tenant = tenant
            .and_then(|t| t.strip_prefix("tenant: ").map(str::to_string))
            .filter(|t| uuid::Uuid::parse_str(t).is_ok())
            .ok_or_else(|| DemoError::Emulator("the demo org named no tenant".into()))?;
        // The rest of what it prints is informational: read and let go, so that
        // it never blocks on a full pipe.
        tokio::spawn(async move {
            let mut lines = lines;
            while let Ok(Some(_)) = lines.next_line().await {}
        });
        Ok(DemoOrg {
            base_url,
            tenant,
            child,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A session for the demo org (tokens in memory only: the org is new each run).
    pub fn new_session(&self) -> Result<Arc<SignIn>, DemoError> {
        let config = AuthConfig::new(
            self.base_url(),
            &self.tenant,
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

    /// Stops the demo org: its input closed, it stops by itself; after two
    /// seconds it is killed.
    pub async fn shutdown(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
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
