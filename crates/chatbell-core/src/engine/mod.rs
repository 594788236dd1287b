//! The rules engine: (state, event, now) → new state + effects.
//!
//! It sees the world from the signed-in agent's desk ("me"). It does no I/O and
//! reads no clock: every input is an [`Event`], the time comes with it, and every
//! output is an [`Effect`] for the shell, the store, the timers or the outbox.
//! An event that the engine refuses ([`ActionError`]) changes nothing.

use crate::domain::*;
use crate::effect::*;
use crate::fasthash::{Map, Set};
use crate::ids::*;
use crate::notification::*;
use crate::ownership::{Attempt, ChatPrecondition};
use crate::time::{Span, Ts};
use crate::timers::TimerKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

mod actions;
mod assigned;
mod bookkeeping;
mod calls;
mod catch_up;
mod chats;
mod deadlines;
mod idle;
mod reply_window;
mod requests;
mod session;
mod sync;
mod text;

use actions::*;
use bookkeeping::*;
pub use catch_up::SUMMARY_THRESHOLD;
pub use reply_window::REPLY_WARNING;
use session::*;
use sync::*;
use text::*;
pub use text::{clip, clip_into, NAME_CHARS, PREVIEW_CHARS};

/// What the engine knows of a session's messages, beyond its row. The store
/// derives it from the cached messages when ChatBell starts.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct MessageStats {
    /// Newest customer message seen.
    pub last_customer: Option<Ts>,
    /// The ids of the customer messages at `last_customer` (Dataverse times have
    /// one-second precision, so a burst shares a time stamp).
    pub newest_customer_ids: Vec<MessageId>,
    /// Newest agent message seen.
    pub last_agent: Option<Ts>,
    /// Oldest customer message after the newest agent message (R6's start).
    pub first_unreplied: Option<Ts>,
}

/// Everything the engine needs to pick up where it left off.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub me: Option<UserId>,
    /// Every cached row but messages (their gist is in `message_stats`).
    pub rows: Vec<Change>,
    pub message_stats: Vec<(SessionId, MessageStats)>,
    pub notifications: Vec<Notification>,
    pub dismissed: Vec<SessionId>,
    /// Write-backs not yet answered.
    pub pending: Vec<Command>,
    pub timers: Vec<(TimerKey, Ts)>,
    pub muted: bool,
}

/// Per-event bookkeeping: sounds are played once per event at most.
#[derive(Default)]
struct Ctx {
    pub(super) message_sound: bool,
    pub(super) request_sound: bool,
    pub(super) quiet_chats: Vec<NotificationKey>,
}

/// The rules engine. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    me: Option<UserId>,
    my_teams: Set<TeamId>,
    agents: Map<UserId, Agent>,
    teams: Map<TeamId, Team>,
    configs: Map<ConfigId, Configuration>,
    sessions: Map<SessionId, SessionEntry>,
    requests: Map<RequestId, ChatRequest>,
    blocked: Map<BlockedId, BlockedNumber>,
    blocked_numbers: Map<(Channel, String), u32>,
    notifications: Map<NotificationKey, Arc<Notification>>,
    dismissed: Set<SessionId>,
    pending: Map<CommandId, Command>,
    /// Sessions my own pending action is moving to me (so R7 stays quiet).
    claimed: Set<SessionId>,
    timers: Map<TimerKey, Ts>,
    unread: u32,
    reported_unread: Option<u32>,
    online: bool,
    muted: bool,
    seq: u64,
    /// Buffers reused from one sync to the next.
    scratch_touched: Touched,
    scratch_messages: Vec<Message>,
}

impl Engine {
    /// A fresh engine for the agent `me` (None until signed in).
    pub fn new(me: Option<UserId>) -> Self {
        Engine {
            me,
            my_teams: Set::default(),
            agents: Map::default(),
            teams: Map::default(),
            configs: Map::default(),
            sessions: Map::default(),
            requests: Map::default(),
            blocked: Map::default(),
            blocked_numbers: Map::default(),
            notifications: Map::default(),
            dismissed: Set::default(),
            pending: Map::default(),
            claimed: Set::default(),
            timers: Map::default(),
            unread: 0,
            reported_unread: None,
            online: true,
            muted: false,
            seq: 0,
            scratch_touched: Touched::default(),
            scratch_messages: Vec::new(),
        }
    }

    /// Rebuild the engine from what the store kept. The effects returned bring the
    /// outside world in line: the unread count, ringing for calls still ringing,
    /// every timer to arm (one that expired while ChatBell was closed fires at
    /// start), and the withdrawal of anything that lapsed meanwhile.
    pub fn restore(snapshot: Snapshot, now: Ts) -> (Engine, Vec<Effect>) {
        let mut e = Engine::new(snapshot.me);
        e.muted = snapshot.muted;
        let mut stats: HashMap<SessionId, MessageStats> =
            snapshot.message_stats.into_iter().collect();
        for change in snapshot.rows {
            match change {
                Change::Session(row) => {
                    let id = row.id;
                    let mut entry = SessionEntry::new(row);
                    if let Some(mut s) = stats.remove(&id) {
                        entry.newest_first = if s.newest_customer_ids.is_empty() {
                            None
                        } else {
                            Some(s.newest_customer_ids.swap_remove(0))
                        };
                        entry.stats = MessageStats {
                            last_agent: entry.stats.last_agent.max(s.last_agent),
                            ..s
                        };
                        entry.forget_answered();
                    }
                    e.sessions.insert(id, entry);
                }
                other => {
                    e.apply_plain(other);
                }
            }
        }
        for n in snapshot.notifications {
            e.insert_note(Arc::new(n));
        }
        e.dismissed = snapshot.dismissed.into_iter().collect();
        for c in snapshot.pending {
            if let Some(s) = c.op.claims_session() {
                e.claimed.insert(s);
            }
            e.pending.insert(c.id, c);
        }
        e.seq = e.pending.len() as u64;
        let mut out = Vec::new();
        for (k, t) in snapshot.timers {
            if let Some(entry) = k.session().and_then(|sid| e.sessions.get_mut(&sid)) {
                *entry.deadline_mut(k) = Some(t);
            }
            e.timers.insert(k, t);
        }
        let mut ctx = Ctx::default();
        let ids: Vec<SessionId> = e.sessions.keys().copied().collect();
        for id in ids {
            let touch = e.touch_of(id);
            e.reconcile_session(&touch, &[], SyncMode::Live, now, &mut ctx, &mut out);
        }
        let rids: Vec<RequestId> = e.requests.keys().copied().collect();
        for rid in rids {
            let old = e.requests.get(&rid).cloned();
            e.reconcile_request(rid, old.as_ref(), now, &mut ctx, &mut out);
        }
        for (k, t) in &e.timers {
            out.push(Effect::ArmTimer(*k, *t));
        }
        if !e.muted {
            for n in e.notifications.values() {
                if n.kind == NotificationKind::IncomingCall && n.is_live() {
                    if let Some(s) = n.session {
                        out.push(Effect::StartRinging(s));
                    }
                }
            }
        }
        e.reported_unread = None;
        e.report_unread(&mut out);
        (e, out)
    }

    pub fn me(&self) -> Option<UserId> {
        self.me
    }

    /// The tray's count: sessions visible to me with unread messages (R3).
    pub fn unread(&self) -> u32 {
        self.unread
    }

    pub fn notification(&self, key: &NotificationKey) -> Option<&Notification> {
        self.notifications.get(key).map(|n| &**n)
    }

    pub fn notifications(&self) -> impl Iterator<Item = &Notification> {
        self.notifications.values().map(|n| &**n)
    }

    /// Live notifications, oldest first.
    pub fn live_notifications(&self) -> Vec<&Notification> {
        let mut v: Vec<&Notification> = self.notifications().filter(|n| n.is_live()).collect();
        v.sort_by_key(|n| (n.created_at, n.key));
        v
    }

    pub fn session(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.get(id).map(|e| &e.row)
    }

    pub fn request(&self, id: &RequestId) -> Option<&ChatRequest> {
        self.requests.get(id)
    }

    /// The pending requests I made (R8: the ones I may still withdraw), oldest first.
    pub fn my_pending_requests(&self) -> Vec<&ChatRequest> {
        let Some(me) = self.me else {
            return Vec::new();
        };
        let mut v: Vec<&ChatRequest> = self
            .requests
            .values()
            .filter(|r| r.requested_by == me && r.status == RequestStatus::Pending)
            .collect();
        v.sort_by_key(|r| (r.created_on, r.id));
        v
    }

    pub fn agent_name(&self, id: &UserId) -> Option<&str> {
        self.agents.get(id).map(|a| a.full_name.as_str())
    }

    pub fn pending_commands(&self) -> impl Iterator<Item = &Command> {
        self.pending.values()
    }

    pub fn armed_timers(&self) -> impl Iterator<Item = (&TimerKey, &Ts)> {
        self.timers.iter()
    }

    pub fn is_dismissed(&self, id: &SessionId) -> bool {
        self.dismissed.contains(id)
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Whether I may receive chat notifications for this configuration (R1).
    pub fn is_eligible_for(&self, config: &ConfigId) -> bool {
        self.configs.get(config).is_some_and(|c| self.eligible(c))
    }

    /// Apply one event at time `now`.
    pub fn handle(&mut self, event: Event, now: Ts) -> Result<Vec<Effect>, ActionError> {
        let mut out = Vec::new();
        self.handle_into(event, now, &mut out)?;
        Ok(out)
    }

    /// [`Engine::handle`], appending to a caller's buffer. On error nothing is
    /// appended and nothing changes.
    pub fn handle_into(
        &mut self,
        event: Event,
        now: Ts,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let start = out.len();
        let mut ctx = Ctx::default();
        let result = match event {
            Event::Sync { changes, mode } => {
                self.on_sync(changes, mode, now, &mut ctx, out);
                Ok(())
            }
            Event::Act {
                key,
                action,
                reason,
            } => self.on_act(key, action, reason, now, out),
            Event::WithdrawRequest { request, reason } => {
                self.on_withdraw_request(request, reason, now, out)
            }
            Event::TimerFired(key) => {
                self.on_timer(key, now, &mut ctx, out);
                Ok(())
            }
            Event::WriteBackDone { command, outcome } => {
                self.on_write_back_done(command, outcome, now, &mut ctx, out);
                Ok(())
            }
            Event::Connectivity { online } => {
                self.online = online;
                Ok(())
            }
            Event::SetMuted(muted) => {
                self.muted = muted;
                if muted {
                    for n in self.notifications.values() {
                        if n.kind == NotificationKind::IncomingCall && n.is_live() {
                            if let Some(s) = n.session {
                                out.push(Effect::StopRinging(s));
                            }
                        }
                    }
                }
                Ok(())
            }
        };
        if result.is_err() {
            out.truncate(start);
            return result;
        }
        if !self.muted {
            if ctx.message_sound {
                out.push(Effect::PlaySound(SoundKind::Message));
            }
            if ctx.request_sound {
                out.push(Effect::PlaySound(SoundKind::Request));
            }
        }
        self.report_unread(out);
        Ok(())
    }
}
