//! The agent's desk: the engine, the local cache, the poller, the write-backs and
//! the timers, run as one loop.
//!
//! Every step has the same shape: an event (a poll's rows, the agent's action, a
//! timer, a write-back's answer) goes into the engine; the engine's effects and
//! the rows behind them are committed to the store in one transaction (R14); only
//! then are the effects carried out — on the [`Desktop`] (toasts, sounds, tray),
//! on the timers, and as write-backs to Dynamics.
//!
//! Polling adapts (R13 within the request budget), table by table: see
//! [`Desk::poll_intervals`]. The first poll
//! after a start, an outage or a sleep is a catch-up (R17).

use crate::client::DataverseError;
use crate::poll::{Batch, PollConfig, Poller, Tables};
use crate::schema::Schema;
use crate::writeback::Writer;
use crate::Dataverse;
use chatbell_core::{
    Action, ActionError, Clock, Command, Effect, Engine, Event, NotificationKey, NotificationKind,
    RequestId, Scheduler, Span, SyncMode, Ts, UserId, WriteBackOutcome,
};
use chatbell_store::{Commit, OwnedCommit, Store, StoreError};

/// A desktop clock this far or farther off the org's is corrected for.
pub const SKEW_TOLERANCE: Span = Span(2_000);

/// The longest the desk sleeps before it looks at the clock again: a clock that
/// jumps (NTP, a resumed machine, a clock set by hand) never leaves it waiting
/// for a time that moved away.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// What became of a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Persisted {
    Saved,
    /// Kept in memory until the cache takes writes again.
    Waiting,
    /// The cache was rebuilt instead: the engine started over.
    Rebuilt,
}
use std::sync::Arc;
use std::time::Duration;

/// Where the effects the engine decided are carried out: toasts, sounds, the tray.
pub trait Desktop: Send {
    /// Carries out `effects`, already committed (or, while the cache cannot be
    /// written, kept to be). `engine` is the state after them.
    fn perform(&mut self, effects: &[Effect], engine: &Engine);
    /// Dynamics became reachable or not (shown in the tray and panel).
    fn connection(&mut self, _online: bool) {}
    /// How the local cache is doing (shown in the panel, `status`, doctor).
    fn cache(&mut self, _state: &CacheState) {}
    /// How far the org's clock is ahead of this desktop's, each time that
    /// changes by [`SKEW_TOLERANCE`] or more (0: they agree).
    fn clock(&mut self, _skew: Span) {}
}

/// How the desk's local cache is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheState {
    /// Written as it goes.
    Ok,
    /// Nothing can be written now (a full disk): the desk keeps notifying and
    /// keeps what it could not write in memory, written once it can.
    CannotWrite { why: String, waiting: usize },
    /// The cache was damaged or deleted while running: moved aside (where, if
    /// anything was left) and rebuilt from Dynamics in one catch-up. What only
    /// it knew (chats dismissed on this desktop) is lost.
    Rebuilt {
        moved_to: Option<std::path::PathBuf>,
        why: String,
    },
    /// The cache's file could not be opened at start (a full disk): the desk
    /// runs on a cache in memory, the file left as it was; nothing of this
    /// run is kept after it.
    InMemory { why: String },
}

impl CacheState {
    /// What to tell the agent, if anything.
    pub fn note(&self) -> Option<String> {
        match self {
            CacheState::Ok => None,
            CacheState::CannotWrite { why, waiting } => Some(format!(
                "ChatBell cannot save to its cache on this computer ({why}). It keeps notifying you, and saves what came meanwhile ({waiting} step(s) waiting) once there is room: free some disk space."
            )),
            CacheState::InMemory { why } => Some(format!(
                "ChatBell cannot save to its cache on this computer ({why}). It keeps notifying you, but what it shows is not kept after it stops: free some disk space, then restart ChatBell."
            )),
            CacheState::Rebuilt { moved_to, why } => Some(match moved_to {
                Some(p) => format!(
                    "ChatBell's cache was damaged ({why}) and moved aside to {}; it was rebuilt from Dynamics. Chats you had dismissed on this computer may show again.",
                    p.display()
                ),
                None => format!(
                    "ChatBell's cache was gone ({why}); it was rebuilt from Dynamics. Chats you had dismissed on this computer may show again."
                ),
            }),
        }
    }
}

/// How the desk paces itself.
#[derive(Clone, Debug)]
pub struct DeskConfig {
    /// Poll interval while something is live for me.
    pub fast: Span,
    /// Poll interval when all is quiet.
    pub normal: Span,
    /// The longest wait between polls while Dynamics is unreachable.
    pub max_backoff: Span,
    /// A gap between two polls longer than this (sleep, suspended process) makes
    /// the next one a catch-up.
    pub gap: Span,
    /// How often the cache's file is checked for damage done to it while
    /// ChatBell runs ([`Desk::verify_cache`]).
    pub cache_check: Span,
    /// While Dynamics is unreachable, how often it is asked whether it answers
    /// at all ([`Dataverse::probe`]: one unauthenticated request, no data),
    /// during the first [`DeskConfig::probe_fast_for`] of an outage; then every
    /// [`DeskConfig::probe_slow`]. A probe answered brings a poll at once.
    pub probe_fast: Span,
    pub probe_fast_for: Span,
    pub probe_slow: Span,
    pub poll: PollConfig,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            fast: Span::seconds(3),
            normal: Span::seconds(7),
            max_backoff: Span::seconds(60),
            gap: Span::seconds(90),
            cache_check: Span::minutes(10),
            probe_fast: Span::seconds(1),
            probe_fast_for: Span::minutes(2),
            probe_slow: Span::seconds(10),
            poll: PollConfig::default(),
        }
    }
}

/// Why the desk could not go on.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Dataverse(#[from] DataverseError),
    #[error("this cache belongs to another agent ({cached}); signed in as {signed_in}")]
    OtherAgent { cached: UserId, signed_in: UserId },
}

/// What a poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// Changes that reached the engine.
    pub changes: usize,
    /// Effects the engine drew from them.
    pub effects: usize,
    /// Rows skipped as unreadable.
    pub skipped: usize,
    pub catch_up: bool,
}

/// What the desk has done since it opened: for the request budget and the
/// delivery delay (R13).
#[derive(Debug, Default, Clone)]
pub struct DeskStats {
    pub polls: u64,
    pub failed_polls: u64,
    /// Transactions on the cache (a poll that read nothing new makes none).
    pub commits: u64,
    /// Rows that reached the engine in live polls.
    pub rows: u64,
    /// For the newest [`LAG_SAMPLES`] rows of live polls: how long after the row
    /// changed in Dynamics (`modifiedon`, to the second) it reached the engine.
    pub lags: std::collections::VecDeque<Span>,
}

/// How many delivery delays [`DeskStats`] keeps.
pub const LAG_SAMPLES: usize = 20_000;

impl DeskStats {
    /// The median delivery delay, if any row was delivered live.
    pub fn median_lag(&self) -> Option<Span> {
        self.lag_quantile(0.5)
    }

    /// A quantile (0.0–1.0) of the delivery delays.
    pub fn lag_quantile(&self, q: f64) -> Option<Span> {
        let mut v: Vec<Span> = self.lags.iter().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        v.get(i).copied()
    }
}

/// The running desk of the signed-in agent.
pub struct Desk<D: Desktop> {
    engine: Engine,
    store: Store,
    poller: Poller,
    writer: Writer,
    timers: Scheduler,
    clock: Arc<dyn Clock>,
    desktop: D,
    cfg: DeskConfig,
    me: UserId,
    online: bool,
    catch_up_next: bool,
    failures: u32,
    /// When the sessions and the requests were last polled.
    last_sessions: Option<Ts>,
    last_requests: Option<Ts>,
    stats: DeskStats,
    /// Commits the cache could not take (a full disk), in order: written with
    /// the next one that it can.
    unsaved: Vec<OwnedCommit>,
    /// The watermarks last written to the cache: a poll that read nothing
    /// new writes nothing (no transaction, no wake-up of the cache's thread).
    saved_marks: Vec<(String, chatbell_store::Watermark)>,
    /// What the desktop was last told of the cache.
    cache_state: CacheState,
    /// When the cache's file was last checked.
    cache_checked: Option<Ts>,
    /// How far the org's clock is from this desk's (its `Date` headers): the
    /// engine's rules run on the org's time.
    skew: Span,
    /// Since when Dynamics has been unreachable, and when it was last probed.
    offline_since: Option<Ts>,
    last_probe: Option<Ts>,
    /// When Dynamics last answered a poll: the timers' premises (R6, R8,
    /// R20) are that fresh.
    last_read: Option<Ts>,
}

impl<D: Desktop> Desk<D> {
    /// Opens the desk: asks Dynamics who is signed in, restores the engine from
    /// the store (firing what fell due while ChatBell was closed), and records
    /// what the restore decided.
    pub async fn open(
        store: Store,
        dv: Dataverse,
        schema: Schema,
        clock: Arc<dyn Clock>,
        desktop: D,
        cfg: DeskConfig,
    ) -> Result<Desk<D>, DeskError> {
        let now = clock.now();
        let mut snapshot = store.snapshot_at(now).await?;
        // Who is signed in: Dynamics says. Unreachable at start, the cache says,
        // and the desk opens offline.
        let (me, reachable) = match (dv.who_am_i().await, snapshot.me) {
            (Ok(who), Some(cached)) if cached != UserId(who.user_id) => {
                return Err(DeskError::OtherAgent {
                    cached,
                    signed_in: UserId(who.user_id),
                })
            }
            (Ok(who), _) => (UserId(who.user_id), true),
            (Err(e), Some(cached)) if e.is_offline() => (cached, false),
            (Err(e), _) => return Err(e.into()),
        };
        snapshot.me = Some(me);
        // Restoring arms every kept timer (one already due fires at the first
        // `fire_due_timers` after the first poll: the catch-up says whether it
        // still applies) and withdraws what lapsed while ChatBell was closed.
        let (engine, effects) = Engine::restore(snapshot, now);
        let mut marks = Vec::new();
        for set in Poller::watermark_sets(&schema) {
            if let Some(w) = store.watermark(&set).await? {
                marks.push((set, w));
            }
        }
        let poller = Poller::new(dv.clone(), schema.clone(), me, cfg.poll.clone(), &marks);
        let pending: Vec<Command> = engine.pending_commands().cloned().collect();
        let mut desk = Desk {
            engine,
            store,
            poller,
            writer: Writer::new(dv, schema),
            timers: Scheduler::new(),
            clock,
            desktop,
            cfg,
            me,
            online: true,
            catch_up_next: true,
            failures: 0,
            last_sessions: None,
            last_requests: None,
            stats: DeskStats::default(),
            unsaved: Vec::new(),
            saved_marks: Vec::new(),
            cache_state: CacheState::Ok,
            cache_checked: Some(now),
            skew: Span(0),
            offline_since: None,
            last_probe: None,
            last_read: None,
        };
        desk.persist(Commit {
            effects: &effects,
            me: Some(me),
            ..Commit::default()
        })
        .await?;
        desk.carry_out(effects, true).await?;
        if reachable {
            // Write-backs decided before a crash, not yet answered: send them
            // again (each is safe to send twice; see the writeback module).
            for command in pending {
                desk.write_back(command).await?;
            }
        } else {
            desk.set_online(false).await?;
        }
        Ok(desk)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn desktop(&self) -> &D {
        &self.desktop
    }

    pub fn desktop_mut(&mut self) -> &mut D {
        &mut self.desktop
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn me(&self) -> UserId {
        self.me
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Whether the sessions are read through change tracking.
    pub fn uses_change_tracking(&self) -> bool {
        self.poller.uses_change_tracking()
    }

    /// The Web API requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.poller
            .client()
            .counters()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One poll of every table: fetch what changed, run it through the engine,
    /// commit, carry out.
    pub async fn poll(&mut self) -> Result<PollReport, DeskError> {
        self.poll_tables(Tables::ALL).await
    }

    /// A poll of the tables that are due (see [`Desk::next_poll`]).
    pub async fn poll_due(&mut self) -> Result<PollReport, DeskError> {
        self.settle_clock();
        // Tables due within a second are read together: one wake-up, not two.
        let soon = self.now() + Span::seconds(1);
        let (s, r) = self.next_polls();
        self.poll_tables(Tables {
            sessions: s <= soon,
            requests: r <= soon,
        })
        .await
    }

    /// One poll's rows, with the chats its requests are about when this desk
    /// has not read them yet (requests are polled on their own cadence).
    async fn poll_batch(&mut self, now: Ts, tables: Tables) -> Result<Batch, DataverseError> {
        use chatbell_core::Change;
        let mut batch = self.poller.poll_tables(now, tables).await?;
        let mut missing: Vec<chatbell_core::SessionId> = Vec::new();
        for c in &batch.changes {
            if let Change::Request(r) = c {
                let read = self.engine.session(&r.session).is_some()
                    || batch
                        .changes
                        .iter()
                        .any(|c| matches!(c, Change::Session(s) if s.id == r.session));
                if !read && !missing.contains(&r.session) {
                    missing.push(r.session);
                }
            }
        }
        if !missing.is_empty() {
            let sessions = self.poller.fetch_sessions(&missing, &mut batch).await?;
            // Before the requests, as a poll of both tables would have them.
            let at = batch
                .changes
                .iter()
                .position(|c| matches!(c, Change::Request(_)))
                .unwrap_or(batch.changes.len());
            batch.changes.splice(at..at, sessions);
        }
        Ok(batch)
    }

    /// A poll of some of the busy tables (the slow ones come along when due):
    /// rows to the engine, one commit, then the effects carried out.
    pub async fn poll_tables(&mut self, tables: Tables) -> Result<PollReport, DeskError> {
        let now = self.now();
        let last = self.last_sessions.max(self.last_requests);
        if last.is_some_and(|t| now - t > self.cfg.gap) {
            self.catch_up_next = true;
        }
        if tables.sessions {
            self.last_sessions = Some(now);
        }
        if tables.requests {
            self.last_requests = Some(now);
        }
        self.stats.polls += 1;
        if self
            .cache_checked
            .is_none_or(|t| now - t >= self.cfg.cache_check)
        {
            self.verify_cache().await?;
        }
        let batch = match self.poll_batch(now, tables).await {
            Ok(b) => b,
            Err(e) => {
                self.stats.failed_polls += 1;
                self.failures += 1;
                if e.is_offline() {
                    self.catch_up_next = true;
                    self.set_online(false).await?;
                }
                return Err(e.into());
            }
        };
        self.failures = 0;
        self.measure_skew();
        let now = self.now();
        self.last_read = Some(now);
        self.set_online(true).await?;
        for skipped in &batch.skipped {
            tracing::warn!(%skipped, "skipped a row Dynamics sent");
        }
        let mode = if self.catch_up_next {
            SyncMode::CatchUp
        } else {
            SyncMode::Live
        };
        let mut report = PollReport {
            changes: batch.changes.len(),
            skipped: batch.skipped.len(),
            catch_up: mode == SyncMode::CatchUp,
            ..PollReport::default()
        };
        if mode == SyncMode::Live {
            self.note_lags(&batch.changes, now);
        }
        let effects = self
            .engine
            .handle(
                Event::Sync {
                    changes: batch.changes.clone(),
                    mode,
                },
                now,
            )
            .unwrap_or_default();
        if self
            .persist(Commit {
                changes: &batch.changes,
                effects: &effects,
                watermarks: &batch.watermarks,
                ..Commit::default()
            })
            .await?
            == Persisted::Rebuilt
        {
            // The cache was rebuilt: this batch is read again, in a catch-up.
            return Ok(report);
        }
        let batch_was_empty = batch.changes.is_empty();
        self.poller.committed(batch);
        self.catch_up_next = false;
        report.effects = effects.len();
        let rows_changed = !batch_was_empty;
        self.carry_out(effects, rows_changed).await?;
        Ok(report)
    }

    /// What the desk has done since it opened.
    pub fn stats(&self) -> &DeskStats {
        &self.stats
    }

    fn note_lags(&mut self, changes: &[chatbell_core::Change], now: Ts) {
        use chatbell_core::Change;
        for c in changes {
            let changed = match c {
                Change::Session(s) => s.modified_on,
                Change::Message(m) => m.created_on,
                Change::Request(r) => r.modified_on,
                _ => continue,
            };
            self.stats.rows += 1;
            if self.stats.lags.len() == LAG_SAMPLES {
                self.stats.lags.pop_front();
            }
            self.stats.lags.push_back(now - changed);
        }
    }

    /// The agent acts on a notification (toast, panel, tray, command line).
    pub async fn act(
        &mut self,
        key: NotificationKey,
        action: Action,
        reason: Option<String>,
    ) -> Result<Result<(), ActionError>, DeskError> {
        self.handle(Event::Act {
            key,
            action,
            reason,
        })
        .await
    }

    /// The agent withdraws a request they made (R8).
    pub async fn withdraw_request(
        &mut self,
        request: RequestId,
        reason: String,
    ) -> Result<Result<(), ActionError>, DeskError> {
        self.handle(Event::WithdrawRequest { request, reason })
            .await
    }

    /// Sounds muted on this desktop, or not.
    pub async fn set_muted(&mut self, muted: bool) -> Result<(), DeskError> {
        let with = Commit {
            muted: Some(muted),
            ..Commit::default()
        };
        self.step(Event::SetMuted(muted), with).await?.ok();
        Ok(())
    }

    /// Whether what the desk knows of Dynamics is older than
    /// [`DeskConfig::gap`] (a sleep, a clock jumped forward, a start, a long
    /// outage): the timers wait for the catch-up poll rather than fire on it.
    /// An offer for a chat its owner answered while the machine slept, or a
    /// request expiring that was answered meanwhile, is never shown (R17).
    pub fn knowledge_stale(&self) -> bool {
        let now = self.now();
        self.last_read.is_none_or(|t| now - t > self.cfg.gap)
    }

    /// Fires every timer that is due; none while [`Desk::knowledge_stale`].
    pub async fn fire_due_timers(&mut self) -> Result<usize, DeskError> {
        self.settle_clock();
        if self.knowledge_stale() {
            return Ok(0);
        }
        let due = self.timers.pop_due(self.now());
        let n = due.len();
        for (key, _) in due {
            self.handle(Event::TimerFired(key)).await?.ok();
        }
        Ok(n)
    }

    /// When the next timer falls due.
    pub fn next_deadline(&self) -> Option<Ts> {
        self.timers.next_deadline()
    }

    /// The poll intervals of the sessions and of the requests: fast while a
    /// call rings for me (so that it stops ringing as soon as it is answered
    /// elsewhere) or one of my actions is in flight (so that its effect shows),
    /// the normal pace otherwise. A stale offer or request is safe to act on
    /// (R15 refuses it with the reason), so it costs no extra requests. While
    /// Dynamics is unreachable both back off.
    pub fn poll_intervals(&self) -> (Span, Span) {
        if self.failures > 0 {
            let shift = self.failures.min(6);
            let backoff = Span(self.cfg.normal.0.saturating_mul(1 << shift));
            let b = backoff.min(self.cfg.max_backoff);
            return (b, b);
        }
        let in_flight = self.engine.pending_commands().next().is_some();
        let ringing = self
            .engine
            .live_notifications()
            .iter()
            .any(|n| n.kind == NotificationKind::IncomingCall);
        let pace = |fast: bool| if fast { self.cfg.fast } else { self.cfg.normal };
        (pace(ringing || in_flight), pace(in_flight))
    }

    /// A clock set back (a correction, the org's time learnt from its `Date`
    /// headers after the first poll) leaves the last poll, probe and cache
    /// check in its future: they are taken as done now, so that each next one
    /// is one interval away, not as far as the clock jumped.
    fn settle_clock(&mut self) {
        let now = self.now();
        for t in [
            &mut self.last_sessions,
            &mut self.last_requests,
            &mut self.last_probe,
            &mut self.cache_checked,
            &mut self.last_read,
        ]
        .into_iter()
        .flatten()
        {
            if *t > now {
                *t = now;
            }
        }
    }

    /// When the sessions and the requests are next due.
    fn next_polls(&self) -> (Ts, Ts) {
        let now = self.now();
        let (si, ri) = self.poll_intervals();
        // A clock set back (a correction, a resumed machine) leaves the last
        // polls in its future: they count from now, not from then.
        (
            self.last_sessions.map_or(now, |t| t.min(now) + si),
            self.last_requests.map_or(now, |t| t.min(now) + ri),
        )
    }

    /// While Dynamics is unreachable, when to ask next whether it answers.
    pub fn next_probe(&self) -> Option<Ts> {
        let since = self.offline_since?;
        let now = self.now();
        let every = if now - since.min(now) < self.cfg.probe_fast_for {
            self.cfg.probe_fast
        } else {
            self.cfg.probe_slow
        };
        Some(self.last_probe.unwrap_or(since).min(now) + every)
    }

    /// While offline: asks Dynamics whether it answers at all, and polls at
    /// once when it does. `true` when it answered.
    pub async fn probe(&mut self) -> Result<bool, DeskError> {
        self.last_probe = Some(self.now());
        if !self.poller.client().probe().await {
            return Ok(false);
        }
        tracing::info!("Dynamics answers again: polling now");
        match self.poll().await {
            Ok(_) => {}
            Err(DeskError::Dataverse(e)) => tracing::warn!(error = %e, "poll failed"),
            Err(e) => return Err(e),
        }
        Ok(true)
    }

    /// When the next poll is due.
    pub fn next_poll(&self) -> Ts {
        let (s, r) = self.next_polls();
        s.min(r)
    }

    /// Runs the desk until `inputs` closes: polls on time, fires timers, takes
    /// the agent's actions. `speed` divides every wait (1.0 in the app; a
    /// simulated shift runs faster, on a clock that runs as fast).
    pub async fn run(
        mut self,
        mut inputs: tokio::sync::mpsc::Receiver<Input>,
        speed: f64,
    ) -> Result<Desk<D>, DeskError> {
        loop {
            self.settle_clock();
            let now = self.now();
            // Timers held for a catch-up wait for it: no wake-up for them.
            let deadline = self.next_deadline().filter(|_| !self.knowledge_stale());
            let mut next = deadline.map_or(self.next_poll(), |t| t.min(self.next_poll()));
            if let Some(p) = self.next_probe() {
                next = next.min(p);
            }
            // Waits are the runtime's (monotonic); whatever the wall clock does
            // meanwhile, the desk looks again within MAX_WAIT.
            let wait_ms = (next - now).0.max(0) as f64 / speed.max(0.001);
            let wait = Duration::from_secs_f64(wait_ms / 1000.0).min(MAX_WAIT);
            tokio::select! {
                input = inputs.recv() => match input {
                    None => return Ok(self),
                    Some(input) => self.take(input).await?,
                },
                () = tokio::time::sleep(wait) => {
                    self.fire_due_timers().await?;
                    let probe_due = self.next_probe().is_some_and(|p| self.now() >= p);
                    if probe_due && self.now() < self.next_poll() {
                        self.probe().await?;
                    } else if self.now() >= self.next_poll() {
                        match self.poll_due().await {
                            Ok(_) => {}
                            Err(DeskError::Dataverse(e)) => {
                                tracing::warn!(error = %e, "poll failed");
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
    }

    async fn take(&mut self, input: Input) -> Result<(), DeskError> {
        match input {
            Input::Act {
                key,
                action,
                reason,
                reply,
            } => {
                let r = self.act(key, action, reason).await?;
                let _ = reply.send(r);
            }
            Input::WithdrawRequest {
                request,
                reason,
                reply,
            } => {
                let r = self.withdraw_request(request, reason).await?;
                let _ = reply.send(r);
            }
            Input::SetMuted(m) => self.set_muted(m).await?,
            Input::PollNow => {
                if let Err(DeskError::Dataverse(e)) = self.poll().await {
                    tracing::warn!(error = %e, "poll failed");
                }
            }
        }
        Ok(())
    }

    async fn handle(&mut self, event: Event) -> Result<Result<(), ActionError>, DeskError> {
        self.step(event, Commit::default()).await
    }

    /// One event through the engine: its effects committed with `with` (the
    /// bookkeeping that goes with them), then carried out. A refused action
    /// changes nothing.
    async fn step(
        &mut self,
        event: Event,
        with: Commit<'_>,
    ) -> Result<Result<(), ActionError>, DeskError> {
        let now = self.now();
        // Changed rows and answered write-backs: see `carry_out`.
        let rows_changed = match &event {
            Event::Sync { changes, .. } => !changes.is_empty(),
            Event::WriteBackDone { .. } => true,
            _ => false,
        };
        let effects = match self.engine.handle(event, now) {
            Ok(e) => e,
            Err(refused) => return Ok(Err(refused)),
        };
        if self
            .persist(Commit {
                effects: &effects,
                ..with
            })
            .await?
            == Persisted::Rebuilt
        {
            return Ok(Ok(()));
        }
        Box::pin(self.carry_out(effects, rows_changed)).await?;
        Ok(Ok(()))
    }

    /// Commits `c` to the cache, with what waited for it (R14's rule: before
    /// the effects are carried out). A cache that cannot be written (a full
    /// disk) keeps the desk going: `c` waits in memory and the desktop is told.
    /// A cache found damaged or deleted is rebuilt from Dynamics: the engine
    /// starts over, and the next poll is a catch-up.
    async fn persist(&mut self, c: Commit<'_>) -> Result<Persisted, DeskError> {
        if !self.store.file_exists() {
            self.rebuild_cache("its file or folder was deleted").await?;
            return Ok(Persisted::Rebuilt);
        }
        let nothing_new = c.changes.is_empty()
            && c.effects.is_empty()
            && c.completed.is_empty()
            && c.me.is_none()
            && c.muted.is_none()
            && c.watermarks == self.saved_marks.as_slice();
        if nothing_new && self.unsaved.is_empty() {
            return Ok(Persisted::Saved);
        }
        let marks = (!c.watermarks.is_empty()).then(|| c.watermarks.to_vec());
        self.stats.commits += 1;
        let result = {
            let mut all: Vec<Commit<'_>> =
                self.unsaved.iter().map(OwnedCommit::as_commit).collect();
            all.push(c);
            self.store.commit_all(&all).await
        };
        match result {
            Ok(_) => {
                if !self.unsaved.is_empty() {
                    tracing::info!(
                        steps = self.unsaved.len(),
                        "the cache takes writes again: what waited is saved"
                    );
                }
                self.unsaved.clear();
                if let Some(m) = marks {
                    self.saved_marks = m;
                }
                self.tell_cache(CacheState::Ok);
                Ok(Persisted::Saved)
            }
            Err(e) if e.cannot_write() => {
                if self.unsaved.is_empty() {
                    tracing::warn!("the cache cannot be written ({e}): going on, saving later");
                }
                self.unsaved.push(OwnedCommit::of(&c));
                let waiting = self.unsaved.len();
                self.tell_cache(CacheState::CannotWrite {
                    why: e.to_string(),
                    waiting,
                });
                Ok(Persisted::Waiting)
            }
            Err(e) if e.is_damaged() => {
                self.rebuild_cache(&e.to_string()).await?;
                Ok(Persisted::Rebuilt)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn tell_cache(&mut self, state: CacheState) {
        let changed = match (&self.cache_state, &state) {
            (CacheState::CannotWrite { .. }, CacheState::CannotWrite { .. }) => false,
            // A rebuild stays said (what only the cache knew is lost) while the
            // new cache takes writes: it is news for the rest of the run.
            (CacheState::Rebuilt { .. }, CacheState::Ok) => return,
            (a, b) => a != b,
        };
        if changed {
            self.desktop.cache(&state);
        }
        self.cache_state = state;
    }

    /// The cache moved aside and made anew; the engine restarted from nothing
    /// but who I am, and the next poll a catch-up from Dynamics.
    async fn rebuild_cache(&mut self, why: &str) -> Result<(), DeskError> {
        tracing::error!("the local cache is damaged or gone ({why}): rebuilding it from Dynamics");
        let rebuilt = self.store.rebuild(why).await?;
        self.unsaved.clear();
        self.saved_marks.clear();
        let now = self.now();
        let (engine, effects) = Engine::restore(
            chatbell_core::Snapshot {
                me: Some(self.me),
                ..chatbell_core::Snapshot::default()
            },
            now,
        );
        self.engine = engine;
        self.timers = Scheduler::new();
        self.poller = self.poller.start_over();
        self.catch_up_next = true;
        self.store
            .commit(&Commit {
                effects: &effects,
                me: Some(self.me),
                ..Commit::default()
            })
            .await?;
        self.tell_cache(CacheState::Rebuilt {
            moved_to: rebuilt.moved_to,
            why: rebuilt.why,
        });
        Box::pin(self.carry_out(effects, true)).await?;
        Ok(())
    }

    /// The org's time: this desk's clock, corrected by how far the org's
    /// `Date` headers say it is off ([`SKEW_TOLERANCE`] and more). Idle offers,
    /// request expiry and the reply window fall due by it.
    pub fn now(&self) -> Ts {
        self.clock.now() + self.skew
    }

    /// How far the org's clock is ahead of this desk's (0 within
    /// [`SKEW_TOLERANCE`]).
    pub fn skew(&self) -> Span {
        self.skew
    }

    fn measure_skew(&mut self) {
        let Some((date, at)) = self.poller.client().org_date() else {
            return;
        };
        let local = self.clock.now() - Span(at.elapsed().as_millis() as i64);
        // An HTTP date has whole seconds: up to one second under the truth.
        let off = (date - local).0 + 500;
        let skew = if off.abs() >= SKEW_TOLERANCE.0 {
            Span(off)
        } else {
            Span(0)
        };
        if (skew.0 - self.skew.0).abs() >= SKEW_TOLERANCE.0 {
            tracing::warn!(
                seconds = skew.0 / 1000,
                "this desktop's clock is off Dynamics' by this much: ChatBell keeps Dynamics' time"
            );
            self.skew = skew;
            self.desktop.clock(skew);
        }
        self.skew = skew;
    }

    /// How the cache is doing.
    pub fn cache_state(&self) -> &CacheState {
        &self.cache_state
    }

    /// Checks the cache's file through a connection of its own (damage done
    /// to it while ChatBell runs is not seen through the store's page cache);
    /// a damaged one is moved aside and rebuilt from Dynamics. `true` when it
    /// was rebuilt.
    pub async fn verify_cache(&mut self) -> Result<bool, DeskError> {
        self.cache_checked = Some(self.now());
        if !self.store.file_exists() {
            self.rebuild_cache("its file or folder was deleted").await?;
            return Ok(true);
        }
        match self.store.verify().await {
            Ok(()) => Ok(false),
            Err(e) if e.is_damaged() => {
                self.rebuild_cache(&e.to_string()).await?;
                Ok(true)
            }
            // Cannot look (a full disk, a lock): the writes will tell.
            Err(e) => {
                tracing::debug!("the cache could not be checked: {e}");
                Ok(false)
            }
        }
    }

    async fn set_online(&mut self, online: bool) -> Result<(), DeskError> {
        if self.online == online {
            return Ok(());
        }
        self.online = online;
        self.offline_since = if online { None } else { Some(self.now()) };
        self.last_probe = None;
        self.desktop.connection(online);
        self.step(Event::Connectivity { online }, Commit::default())
            .await?
            .ok();
        if online {
            // Write-backs that were never answered (decided before a crash, or
            // while the desk opened offline): send them now.
            let pending: Vec<Command> = self.engine.pending_commands().cloned().collect();
            for command in pending {
                Box::pin(self.write_back(command)).await?;
            }
        }
        Ok(())
    }

    /// Carries out committed effects: the desktop's, the timers, the write-backs.
    /// `state_changed`: the engine's state may have changed even without effects
    /// (rows synced, a write-back answered): the desktop is told all the same, as
    /// what it shows may follow (my own request answered or withdrawn leaves "My
    /// pending requests").
    async fn carry_out(
        &mut self,
        effects: Vec<Effect>,
        state_changed: bool,
    ) -> Result<(), DeskError> {
        if effects.is_empty() {
            if state_changed {
                self.desktop.perform(&[], &self.engine);
            }
            return Ok(());
        }
        self.desktop.perform(&effects, &self.engine);
        let mut commands = Vec::new();
        for e in effects {
            match e {
                Effect::ArmTimer(key, at) => {
                    self.timers.arm(key, at);
                }
                Effect::DisarmTimer(key) => {
                    self.timers.disarm(&key);
                }
                Effect::WriteBack(command) => commands.push(command),
                _ => {}
            }
        }
        for command in commands {
            Box::pin(self.write_back(command)).await?;
        }
        Ok(())
    }

    /// Sends a write-back and runs its answer through the engine.
    async fn write_back(&mut self, command: Command) -> Result<(), DeskError> {
        let outcome = self.writer.send(&command, self.now()).await;
        if let WriteBackOutcome::Failed { message } = &outcome {
            tracing::warn!(%message, "a write-back failed");
        }
        let done = [(command.id, outcome.clone())];
        let event = Event::WriteBackDone {
            command: command.id,
            outcome,
        };
        self.step(
            event,
            Commit {
                completed: &done,
                ..Commit::default()
            },
        )
        .await?
        .ok();
        Ok(())
    }
}

/// What the shell sends the running desk.
#[derive(Debug)]
pub enum Input {
    Act {
        key: NotificationKey,
        action: Action,
        reason: Option<String>,
        reply: tokio::sync::oneshot::Sender<Result<(), ActionError>>,
    },
    WithdrawRequest {
        request: RequestId,
        reason: String,
        reply: tokio::sync::oneshot::Sender<Result<(), ActionError>>,
    },
    SetMuted(bool),
    /// Poll now (the agent asked, or the network came back).
    PollNow,
}
