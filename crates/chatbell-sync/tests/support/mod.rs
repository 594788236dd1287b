//! An org on the emulator, agents' desks pointed at it, and the other people
//! (customers, other agents) played through the Web API.
#![allow(dead_code, clippy::unwrap_used)]

use chatbell_core::{Clock, Effect, Engine, Notification, NotificationKey, SessionId, Ts};
use chatbell_emulator::{Emulator, Options, RunningEmulator, Seed};
use chatbell_store::Store;
use chatbell_sync::client::{BoxFuture, Pause};
use chatbell_sync::{Dataverse, Desk, DeskConfig, Desktop, RetryPolicy, Schema, StaticToken};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

pub use chatbell_emulator::{SeedIds, DEMO_AGENT_EMAIL};
pub const ALEX: &str = "alex.rivera@chatbell.example";
pub const RILEY: &str = "riley.chen@chatbell.example";
pub const MORGAN: &str = "morgan.lee@chatbell.example";
pub const SYSTEM: &str = "system@chatbell.example";

/// The emulator's clock, as the desk's clock: one time for both sides.
pub struct EmuClock(pub chatbell_emulator::OrgClock);

impl Clock for EmuClock {
    fn now(&self) -> Ts {
        Ts(self.0.now().timestamp_millis())
    }
}

/// Records every effect carried out.
#[derive(Clone, Default)]
pub struct Recorder {
    pub effects: Arc<Mutex<Vec<Effect>>>,
    pub online: Arc<Mutex<Vec<bool>>>,
    /// How many requests of mine were pending each time the desktop was told.
    pub my_pending: Arc<Mutex<Vec<usize>>>,
    /// What the desktop was told of the cache, in order.
    pub cache: Arc<Mutex<Vec<chatbell_sync::CacheState>>>,
    /// What the desktop was told of the org's clock against its own, in order.
    pub skews: Arc<Mutex<Vec<chatbell_core::Span>>>,
}

impl Desktop for Recorder {
    fn perform(&mut self, effects: &[Effect], engine: &Engine) {
        self.effects.lock().unwrap().extend_from_slice(effects);
        self.my_pending
            .lock()
            .unwrap()
            .push(engine.my_pending_requests().len());
    }
    fn connection(&mut self, online: bool) {
        self.online.lock().unwrap().push(online);
    }
    fn cache(&mut self, state: &chatbell_sync::CacheState) {
        self.cache.lock().unwrap().push(state.clone());
    }
    fn clock(&mut self, skew: chatbell_core::Span) {
        self.skews.lock().unwrap().push(skew);
    }
}

impl Recorder {
    pub fn take(&self) -> Vec<Effect> {
        std::mem::take(&mut *self.effects.lock().unwrap())
    }
    /// Notifications shown (not updates) for `key`, in what was recorded so far.
    pub fn shown(&self, key: NotificationKey) -> usize {
        self.effects
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, Effect::Show(n) if n.key == key))
            .count()
    }
}

/// Records the client's waits instead of spending them; the org's clock, when
/// given, moves on by each wait (the org sees the time pass).
#[derive(Default)]
pub struct RecordedPauses(
    pub Mutex<Vec<Duration>>,
    pub Option<chatbell_emulator::OrgClock>,
);

impl Pause for RecordedPauses {
    fn pause(&self, d: Duration) -> BoxFuture<'_, ()> {
        self.0.lock().unwrap().push(d);
        if let Some(clock) = &self.1 {
            clock.advance_by(d);
        }
        Box::pin(async {})
    }
}

/// The org the tests run against: the reference schema, or with
/// `CHATBELL_TEST_ORG=contoso` the org of `tests/orgs/contoso.profile.toml`,
/// whose every name and choice value differs (ChatBell then runs with
/// `tests/orgs/contoso.mapping.toml`).
pub fn test_org() -> Option<&'static str> {
    match std::env::var("CHATBELL_TEST_ORG").ok().as_deref() {
        None | Some("" | "reference") => None,
        Some("contoso") => Some("contoso"),
        Some(other) => panic!("CHATBELL_TEST_ORG={other}: known orgs are reference and contoso"),
    }
}

pub fn orgs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/orgs")
}

/// The schema ChatBell runs with against [`test_org`].
pub fn test_schema() -> Schema {
    match test_org() {
        None => Schema::reference(),
        Some(name) => {
            let text =
                std::fs::read_to_string(orgs_dir().join(format!("{name}.mapping.toml"))).unwrap();
            let v: toml::Value = toml::from_str(&text).unwrap();
            let mapping: chatbell_sync::Mapping =
                v.get("schema").cloned().unwrap().try_into().unwrap();
            Schema::with_mapping(&mapping).unwrap()
        }
    }
}

/// `opts` serving [`test_org`]'s names.
pub fn in_test_org(opts: Options) -> Options {
    match test_org() {
        None => opts,
        Some(name) => opts.org(
            chatbell_emulator::profile::OrgProfile::load(
                &orgs_dir().join(format!("{name}.profile.toml")),
            )
            .unwrap(),
        ),
    }
}

/// The demo org on a manual clock (in [`test_org`]'s names).
pub async fn org() -> RunningEmulator {
    let opts = Options::default()
        .seed(Seed::Demo)
        .clock(chatbell_emulator::OrgClock::manual_default());
    Emulator::start(in_test_org(opts)).await.unwrap()
}

pub struct Agent {
    pub desk: Desk<Recorder>,
    pub recorder: Recorder,
    pub pauses: Arc<RecordedPauses>,
    pub dir: Arc<tempfile::TempDir>,
}

/// A desk for `user`, with its cache in `dir` (a fresh one when `None`).
pub async fn desk(
    emu: &RunningEmulator,
    user: &str,
    dir: Option<Arc<tempfile::TempDir>>,
    cfg: DeskConfig,
) -> Agent {
    desk_with(emu, user, dir, cfg, test_schema()).await
}

/// [`desk`], with `schema`.
pub async fn desk_with(
    emu: &RunningEmulator,
    user: &str,
    dir: Option<Arc<tempfile::TempDir>>,
    cfg: DeskConfig,
    schema: Schema,
) -> Agent {
    desk_on(
        emu,
        user,
        dir,
        cfg,
        schema,
        Arc::new(EmuClock(emu.clock().clone())),
    )
    .await
}

/// A clock `offset` ahead of the emulator's (a desktop whose clock is off).
pub struct OffClock(pub chatbell_emulator::OrgClock, pub chatbell_core::Span);

impl Clock for OffClock {
    fn now(&self) -> Ts {
        Ts(self.0.now().timestamp_millis()) + self.1
    }
}

/// A desktop's clock that can be moved while the desk runs (by hand, NTP),
/// off the emulator's by what was last set; the org's clock stays.
pub struct MovedClock(
    pub chatbell_emulator::OrgClock,
    pub std::sync::atomic::AtomicI64,
);

impl MovedClock {
    pub fn new(org: &RunningEmulator) -> Arc<MovedClock> {
        Arc::new(MovedClock(
            org.clock().clone(),
            std::sync::atomic::AtomicI64::new(0),
        ))
    }
    /// From now on this desktop's clock is `off` the org's.
    pub fn set_off(&self, off: chatbell_core::Span) {
        self.1.store(off.0, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for MovedClock {
    fn now(&self) -> Ts {
        Ts(self.0.now().timestamp_millis() + self.1.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// [`desk_with`], on `clock`.
pub async fn desk_on(
    emu: &RunningEmulator,
    user: &str,
    dir: Option<Arc<tempfile::TempDir>>,
    cfg: DeskConfig,
    schema: Schema,
    clock: Arc<dyn Clock>,
) -> Agent {
    let dir = dir.unwrap_or_else(|| Arc::new(tempfile::tempdir().unwrap()));
    let token = emu.mint_token(user).unwrap();
    let pauses = Arc::new(RecordedPauses(Mutex::default(), Some(emu.clock().clone())));
    let dv = Dataverse::new(
        emu.base_url(),
        Arc::new(StaticToken(token)),
        RetryPolicy::default(),
    )
    .unwrap()
    .with_pause(pauses.clone());
    let store = Store::open(&dir.path().join("chatbell.db")).await.unwrap();
    let recorder = Recorder::default();
    let desk = Desk::open(store, dv, schema, clock, recorder.clone(), cfg)
        .await
        .unwrap();
    Agent {
        desk,
        recorder,
        pauses,
        dir,
    }
}

/// Somebody writing to the org through the Web API.
pub struct As {
    http: reqwest::Client,
    api: String,
    token: String,
}

pub fn act_as(emu: &RunningEmulator, user: &str) -> As {
    As {
        http: reqwest::Client::new(),
        api: format!("{}/api/data/v9.2/", emu.base_url()),
        token: emu.mint_token(user).unwrap(),
    }
}

impl As {
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .header("OData-Version", "4.0")
            // The org's other users write in the reference names.
            .header(chatbell_emulator::profile::REFERENCE_NAMES_HEADER, "1")
            .header("Prefer", "return=representation");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// A new WhatsApp conversation owned by the default team, from a new number.
    pub async fn new_conversation(&self, name: &str, number: &str) -> SessionId {
        let row = self
            .send(
                reqwest::Method::POST,
                "cb_chatsessions",
                Some(json!({
                    "cb_name": name, "cb_customernumber": number, "cb_channel": 1,
                    "cb_configuration@odata.bind": format!("/cb_configurations({})", SeedIds::whatsapp_config()),
                    "ownerid@odata.bind": format!("/teams({})", SeedIds::default_team()),
                })),
            )
            .await;
        SessionId(Uuid::parse_str(row["cb_chatsessionid"].as_str().unwrap()).unwrap())
    }

    /// A customer message in `session`.
    pub async fn customer_writes(&self, session: SessionId, text: &str) {
        self.message(session, 1, text).await;
    }

    /// An agent's reply in `session`.
    pub async fn agent_replies(&self, session: SessionId, text: &str) {
        self.message(session, 2, text).await;
    }

    async fn message(&self, session: SessionId, direction: i64, text: &str) {
        self.send(
            reqwest::Method::POST,
            "cb_chatmessages",
            Some(json!({
                "cb_chatsession@odata.bind": format!("/cb_chatsessions({session})"),
                "cb_direction": direction, "cb_body": text,
            })),
        )
        .await;
    }

    /// Takes `session` for `user` (as another agent's ChatBell or the Chat UI would).
    pub async fn take(&self, session: SessionId, user: Uuid) {
        self.send(
            reqwest::Method::PATCH,
            &format!("cb_chatsessions({session})"),
            Some(json!({"ownerid@odata.bind": format!("/systemusers({user})")})),
        )
        .await;
    }

    pub async fn session(&self, session: SessionId) -> Value {
        self.get(&format!("cb_chatsessions({session})")).await
    }
}

/// The owner of a session row as Dynamics returned it.
pub fn owner_of(row: &Value) -> Uuid {
    Uuid::parse_str(row["_ownerid_value"].as_str().unwrap()).unwrap()
}

/// The live notification with `key`, if any.
pub fn live(engine: &Engine, key: NotificationKey) -> Option<Notification> {
    engine.notification(&key).filter(|n| n.is_live()).cloned()
}

/// A desk configuration with no slow-table cadence surprises: the slow tables on
/// every poll only when asked.
pub fn quick() -> DeskConfig {
    DeskConfig::default()
}
