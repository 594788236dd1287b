//! ChatBell's Dataverse emulator: a real HTTP server on loopback that speaks the
//! Dataverse Web API (`/api/data/v9.2/`) for ChatBell's reference schema, plus
//! sign-in endpoints shaped like the Microsoft identity platform, test endpoints
//! (`/_emulator/...`), a controllable clock, fault injection, a seeded demo
//! organisation and a deterministic traffic simulation.
//!
//! It follows Microsoft's documented protocol so that a client which works
//! against it works against a real org; each module says where it deviates, and
//! this is the whole list.
//!
//! # Deviations kept on purpose
//!
//! Web API ([`api`]):
//! - no `$apply`, `$batch`, `$metadata` document, property paths
//!   (`/set(id)/column`) or alternate keys (`$apply` and `$batch` exist in
//!   Dataverse; ChatBell must not depend on them);
//! - `$expand` serves single-valued navigation properties (the lookups) with a
//!   `$select`, nothing else: a collection-valued one
//!   (`teammembership_association`), a nested `$expand`, `$filter`/`$orderby`/
//!   `$top` inside it and `/$ref` are refused with a 400 in Dataverse's error
//!   JSON; `ownerid` points to a `principal` and takes no `$select`;
//! - a parameter alias stands for one literal or column name, not an expression;
//! - `<set>/$count` takes `$filter` only; the count of changes of a delta token
//!   (`/$count?$deltatoken=`) is refused;
//! - security roles are privileges per user and table, all at Global depth
//!   unless a test takes one away ([`RunningEmulator::set_privilege`]): Read,
//!   Create, Write, Delete and Assign are checked, Append/AppendTo, business
//!   units, depths and sharing are not; change tracking also needs the
//!   organisation-level read flag;
//! - delta results list new and updated rows, then deletions, strictly in version
//!   order;
//! - the body limit is 1 MiB; without a profile, navigation property names are
//!   those of ChatBell's reference schema (lower case), where a real org's
//!   custom lookups use their case-sensitive schema names (a profile gives them).
//!
//! Table definitions ([`metadata`]): `EntityDefinitions` with `$select`,
//! `$expand=Attributes`, `$filter` of `eq`/`ne` comparisons only, the attributes
//! of one type cast with their `OptionSet`, and `ManyToOneRelationships`; no
//! `$orderby`, paging or `RetrieveMetadataChanges`; English labels only.
//!
//! An org of its own ([`profile`], `--org PROFILE.toml`): the Web API speaks the
//! org's table, column, navigation property and choice names and values,
//! translated at the edge from the reference schema the emulator keeps inside
//! (the admin endpoints, plugins and simulation stay in reference names, and a
//! request with [`profile::REFERENCE_NAMES_HEADER`] is served in them). Not
//! translated: choice literals given through parameter aliases, lambda
//! operators and choice values inside function calls; option labels stay the
//! reference's.
//!
//! Sign-in ([`auth`]): a refresh token can be redeemed once (Microsoft's stay
//! valid a while after rotation); `authorize` requires PKCE and has no
//! interactive page; tokens are JWT-shaped with random signatures.
//!
//! Where the documentation leaves room, the choices are in [`api`] and [`auth`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), chatbell_emulator::EmulatorError> {
//! use chatbell_emulator::{OrgClock, Emulator, Options, Seed};
//! let emu = Emulator::start(Options::default().seed(Seed::Demo).clock(OrgClock::manual_default())).await?;
//! let token = emu.mint_token(chatbell_emulator::seed::DEMO_AGENT_EMAIL)?;
//! println!("{} {}", emu.api_url(), token);
//! emu.advance_clock(60); // one minute later, without sleeping
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod api;
pub mod auth;
pub mod clock;
pub mod error;
pub mod faults;
pub mod filter;
pub mod metadata;
pub mod odata;
pub mod persist;
pub mod plugins;
pub mod profile;
pub mod schema;
pub mod seed;
pub mod server;
pub mod sim;
pub mod state;
pub mod stats;
pub mod store;

pub use clock::OrgClock;
pub use error::{ApiError, EmulatorError};
pub use faults::{FaultSettings, TokenFault};
pub use seed::{Seed, SeedIds, DEMO_AGENT_EMAIL};

use axum::routing::{get, post};
use axum::Router;
use state::{lock, Config, Shared};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen (default `127.0.0.1:0`: any free port).
    pub listen: SocketAddr,
    /// The data to start with (ignored when the state file already has data).
    pub seed: Seed,
    /// Run the traffic simulation.
    pub simulate: bool,
    /// Time scale of the simulation with a system clock: simulated seconds per
    /// real second (the emulator's clock then runs this much faster).
    pub simulate_speed: f64,
    /// Random simulation events per simulated hour.
    pub simulate_rate: f64,
    /// Seed of the simulation's random generator.
    pub random_seed: u64,
    /// Keep the data in this SQLite file (in memory when `None`).
    pub state_file: Option<PathBuf>,
    /// Lifetime of access tokens.
    pub access_token_lifetime: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_token_lifetime: Duration,
    /// Lifetime of device codes.
    pub device_code_lifetime: Duration,
    /// The polling interval handed out with device codes (RFC 8628 `interval`;
    /// 5 s, like Microsoft, by default). Tests may hand out 1 s (or 0) to poll fast.
    pub device_code_interval: Duration,
    /// Maximum age of change-tracking delta tokens (Dataverse's default is 7 days).
    pub delta_token_max_age: Duration,
    /// The clock; `None` = the system clock (scaled by `simulate_speed` when
    /// simulating).
    pub clock: Option<OrgClock>,
    /// The tenant id.
    pub tenant_id: Uuid,
    /// The org's own names for tables, columns and choice values (the
    /// reference schema's when `None`).
    pub org: Option<profile::OrgProfile>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed::Demo,
            simulate: false,
            simulate_speed: 1.0,
            simulate_rate: 40.0,
            random_seed: 1,
            state_file: None,
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(90 * 86400),
            device_code_lifetime: Duration::from_secs(900),
            device_code_interval: Duration::from_secs(5),
            delta_token_max_age: Duration::from_secs(7 * 86400),
            clock: None,
            tenant_id: seed::seed_id("tenant"),
            org: None,
        }
    }
}

impl Options {
    /// Sets the seed data.
    pub fn seed(mut self, seed: Seed) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the clock.
    pub fn clock(mut self, clock: OrgClock) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Turns the simulation on with a random seed.
    pub fn simulate(mut self, random_seed: u64) -> Self {
        self.simulate = true;
        self.random_seed = random_seed;
        self
    }
    /// Sets the SQLite state file.
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }
    /// Sets the access token lifetime.
    pub fn access_token_lifetime(mut self, d: Duration) -> Self {
        self.access_token_lifetime = d;
        self
    }
    /// Sets the device code lifetime (`expires_in` of `devicecode`).
    pub fn device_code_lifetime(mut self, d: Duration) -> Self {
        self.device_code_lifetime = d;
        self
    }
    /// Sets the device code polling interval (`interval` of `devicecode`).
    pub fn device_code_interval(mut self, d: Duration) -> Self {
        self.device_code_interval = d;
        self
    }
    /// Serves the org's own names ([`profile::OrgProfile`]).
    pub fn org(mut self, org: profile::OrgProfile) -> Self {
        self.org = Some(org);
        self
    }
    /// Sets the maximum age of delta tokens.
    pub fn delta_token_max_age(mut self, d: Duration) -> Self {
        self.delta_token_max_age = d;
        self
    }
}

/// Starts emulators.
#[derive(Debug)]
pub struct Emulator;

/// A running emulator. Dropping it without [`RunningEmulator::shutdown`] stops
/// the server tasks too, but may lose the last writes to the state file.
#[derive(Debug)]
pub struct RunningEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
}

impl Emulator {
    /// Binds, seeds (or loads the state file), and serves in the background.
    pub async fn start(opts: Options) -> Result<RunningEmulator, EmulatorError> {
        let clock = match &opts.clock {
            Some(c) => c.clone(),
            None if opts.simulate => OrgClock::system_scaled(opts.simulate_speed),
            None => OrgClock::system(),
        };
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");

        let mut store = store::OrgData::new();
        let mut writer = None;
        if let Some(path) = &opts.state_file {
            let pool = persist::open(path, &mut store).await?;
            let (sink, task) = persist::spawn_writer(pool);
            store.set_sink(sink);
            writer = Some(task);
        }
        if store.is_empty() {
            seed::apply(&mut store, opts.seed, clock.now())
                .map_err(|e| EmulatorError::InvalidOption(format!("seeding failed: {e}")))?;
        }
        let shared = shared_state(&opts, clock.clone(), store, base_url);
        let router = router(shared.clone());
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(server::serve(
            listener,
            router,
            stop_rx.clone(),
        ))];
        if opts.simulate && !clock.is_manual() {
            let sh = shared.clone();
            let mut rx = stop_rx;
            // Events are written at their scheduled (simulated) time: run them
            // often enough that none is written more than ~0.25 simulated
            // seconds late, whatever the speed (1 ms is tokio's timer grain).
            let rate = clock.rate().max(1.0);
            let period = Duration::from_secs_f64((0.25 / rate).clamp(0.001, 0.1));
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => sh.run_due(),
                        _ = rx.changed() => break,
                    }
                }
            }));
        }
        Ok(RunningEmulator {
            shared,
            addr,
            stop,
            tasks: Mutex::new(tasks),
            writer: Mutex::new(writer),
        })
    }
}

fn shared_state(
    opts: &Options,
    clock: OrgClock,
    store: store::OrgData,
    base_url: String,
) -> Arc<Shared> {
    let sim = opts
        .simulate
        .then(|| sim::Simulator::new(opts.random_seed, opts.simulate_rate, clock.now()));
    Arc::new(Shared {
        store: Mutex::new(store),
        auth: Mutex::new(auth::AuthState::default()),
        clock,
        base_url,
        cfg: Config {
            tenant_id: opts.tenant_id,
            organization_id: seed::seed_id("organization"),
            business_unit_id: seed::seed_id("businessunit"),
            access_token_lifetime: secs(opts.access_token_lifetime).max(1),
            refresh_token_lifetime: secs(opts.refresh_token_lifetime).max(1),
            device_code_lifetime: secs(opts.device_code_lifetime).max(1),
            device_code_interval: secs(opts.device_code_interval),
            delta_token_max_age: secs(opts.delta_token_max_age),
        },
        faults: faults::Faults::default(),
        profile: opts.org.clone().unwrap_or_default(),
        denied: Mutex::new(std::collections::HashMap::new()),
        stats: Mutex::new(stats::Stats::default()),
        sim: Mutex::new(sim),
        in_flight: std::sync::atomic::AtomicU64::new(0),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/data/v9.2", axum::routing::any(api::handle))
        .route("/api/data/v9.2/", axum::routing::any(api::handle))
        .route("/api/data/v9.2/{*rest}", axum::routing::any(api::handle))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(auth::devicecode).fallback(auth::post_only),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(auth::token).fallback(auth::post_only),
        )
        .route("/{tenant}/oauth2/v2.0/authorize", get(auth::authorize))
        .route(
            "/devicelogin",
            get(auth::devicelogin_page).post(auth::devicelogin_submit),
        )
        .merge(admin::router())
        .fallback(api::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY))
        .with_state(shared)
}

/// An emulator without a socket or background tasks: requests go straight to its
/// router, as if from a loopback peer. For driving the Web API, the sign-in
/// endpoints and the request bodies in-process (the fuzz targets under `fuzz/`).
/// It has no state file and no simulation; its clock is manual unless
/// `opts.clock` says otherwise, and `opts.listen` only names it in URLs. A fault
/// that drops the connection leaves the request unanswered forever here.
#[doc(hidden)]
pub struct InProcess {
    shared: Arc<Shared>,
    router: Router,
}

/// A user's id, by id or e-mail.
fn user_id(sh: &Shared, user: &str) -> Result<Uuid, EmulatorError> {
    lock(&sh.store)
        .find_user(user)
        .ok_or_else(|| EmulatorError::InvalidOption(format!("no user {user}")))
}

/// An access token for a user given by id or e-mail, as the token endpoint would
/// issue it.
fn mint_token(sh: &Shared, user: &str) -> Result<String, EmulatorError> {
    let id = user_id(sh, user)?;
    Ok(lock(&sh.auth).mint_access(
        &sh.base_url,
        sh.cfg.tenant_id,
        id,
        sh.clock.now(),
        sh.cfg.access_token_lifetime,
    ))
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl InProcess {
    /// Seeds an emulator per `opts`.
    pub fn new(opts: Options) -> Result<InProcess, EmulatorError> {
        let clock = opts.clock.clone().unwrap_or_else(OrgClock::manual_default);
        let mut store = store::OrgData::new();
        seed::apply(&mut store, opts.seed, clock.now())
            .map_err(|e| EmulatorError::InvalidOption(format!("seeding failed: {e}")))?;
        let opts = Options {
            simulate: false,
            ..opts
        };
        let base_url = format!("http://{}", opts.listen);
        let shared = shared_state(&opts, clock, store, base_url);
        let router = router(shared.clone());
        Ok(InProcess { shared, router })
    }

    /// Serves one request.
    pub async fn call(&self, mut req: axum::extract::Request) -> axum::response::Response {
        req.extensions_mut().insert(server::ConnInfo::loopback());
        match tower::ServiceExt::oneshot(self.router.clone(), req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }

    /// Mints an access token for a user given by id or e-mail.
    pub fn mint_token(&self, user: &str) -> Result<String, EmulatorError> {
        mint_token(&self.shared, user)
    }

    /// The tenant id (the first segment of the sign-in endpoints' paths).
    pub fn tenant_id(&self) -> Uuid {
        self.shared.cfg.tenant_id
    }
}

impl RunningEmulator {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }
    /// `http://127.0.0.1:<port>/api/data/v9.2`.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.shared.base_url, odata::API_PREFIX)
    }
    /// The sign-in authority: `http://127.0.0.1:<port>/<tenant>`.
    pub fn authority(&self) -> String {
        format!("{}/{}", self.shared.base_url, self.shared.cfg.tenant_id)
    }
    /// The tenant id.
    pub fn tenant_id(&self) -> Uuid {
        self.shared.cfg.tenant_id
    }
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The emulator's clock (shared: moving it moves the emulator's time).
    pub fn clock(&self) -> &OrgClock {
        &self.shared.clock
    }
    /// Moves the clock by `seconds` and runs the simulation's due events.
    pub fn advance_clock(&self, seconds: i64) {
        self.shared.clock.advance(seconds);
        self.shared.run_due();
    }
    /// Sets the clock and runs the simulation's due events.
    pub fn set_clock(&self, to: chrono::DateTime<chrono::Utc>) {
        self.shared.clock.set(to);
        self.shared.run_due();
    }
    /// Mints an access token for a user given by id or e-mail.
    pub fn mint_token(&self, user: &str) -> Result<String, EmulatorError> {
        mint_token(&self.shared, user)
    }
    /// A user's id, by id or e-mail.
    pub fn user_id(&self, user: &str) -> Result<Uuid, EmulatorError> {
        user_id(&self.shared, user)
    }
    /// Grants or removes organisation-level read (change tracking) for a user.
    pub fn set_org_level_read(&self, user: &str, on: bool) -> Result<(), EmulatorError> {
        let id = self.user_id(user)?;
        let mut store = lock(&self.shared.store);
        let mut f = store.flags(id);
        f.org_level_read = on;
        store.set_flags(id, f);
        Ok(())
    }
    /// Takes a privilege away from `user` (or gives it back): `verb` on the
    /// reference table `table` (`cb_chatsession`).
    pub fn set_privilege(
        &self,
        user: &str,
        verb: metadata::Verb,
        table: &str,
        granted: bool,
    ) -> Result<(), EmulatorError> {
        let id = self.user_id(user)?;
        let t = schema::schema()
            .by_logical(table)
            .ok_or_else(|| EmulatorError::InvalidOption(format!("no table {table}")))?;
        let mut denied = lock(&self.shared.denied);
        let set = denied.entry(id).or_default();
        if granted {
            set.remove(&(verb, t.logical));
        } else {
            set.insert((verb, t.logical));
        }
        Ok(())
    }
    /// Every access and refresh token issued to `user` (id or e-mail) still on
    /// record.
    pub fn tokens_of(&self, user: &str) -> Result<Vec<String>, EmulatorError> {
        let id = self.user_id(user)?;
        Ok(lock(&self.shared.auth).tokens_of(id))
    }
    /// Web API requests being served at this moment.
    pub fn in_flight(&self) -> u64 {
        self.shared
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Stops the traffic simulation for good (what it wrote stays): a test can
    /// then compare a settled org with what a client made of it.
    pub fn stop_simulation(&self) {
        *lock(&self.shared.sim) = None;
    }
    /// Simulation events run so far (0 without a simulation).
    pub fn simulation_events(&self) -> u64 {
        lock(&self.shared.sim)
            .as_ref()
            .map_or(0, |s| s.events_run())
    }
    /// Sets fault injection.
    pub fn set_faults(&self, f: FaultSettings) {
        self.shared.faults.set(f);
    }
    /// Queues a one-shot answer for the token endpoint: the next token request
    /// (of the fault's grant type, if it names one) gets this OAuth error.
    pub fn queue_token_fault(&self, f: TokenFault) -> Result<(), EmulatorError> {
        f.validate().map_err(EmulatorError::InvalidOption)?;
        self.shared.faults.push_token(f);
        Ok(())
    }
    /// The token-endpoint faults still queued.
    pub fn token_faults(&self) -> Vec<TokenFault> {
        self.shared.faults.token_queue()
    }
    /// Web API requests (and token-endpoint requests per grant type) counted so far.
    pub fn stats(&self) -> stats::Stats {
        lock(&self.shared.stats).clone()
    }
    /// Runs `f` on the data (for tests that need to look inside).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut store::OrgData) -> T) -> T {
        f(&mut lock(&self.shared.store))
    }
    /// Stops serving, stops the simulation and flushes the state file.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
        drop(lock(&self.shared.store).take_sink());
        let writer = lock(&self.writer).take();
        if let Some(w) = writer {
            let _ = w.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
