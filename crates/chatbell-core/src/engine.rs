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

/// How old the answer to a request of mine, first seen already answered, may be
/// and still be news (R8).
const FRESH_ANSWER: Span = Span::hours(1);

/// How recently a chat first seen already mine must have been accepted for R7 to
/// tell me it was assigned to me.
const FRESH_ASSIGNMENT: Span = Span::minutes(10);

/// Longest preview kept in a notification, in characters.
pub const PREVIEW_CHARS: usize = 160;
/// Longest customer name kept in a notification title, in characters.
pub const NAME_CHARS: usize = 64;
/// A catch-up with this many chats or more becomes one summary (R17).
pub const SUMMARY_THRESHOLD: usize = 2;
/// How long before the WhatsApp reply window closes its owner is warned (R20).
pub const REPLY_WARNING: Span = Span::hours(1);

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

#[derive(Clone, Debug)]
struct SessionEntry {
    /// The row, inline: one pointer fewer to chase per event.
    row: Session,
    /// The message stats, but for one of the newest customer message ids, kept
    /// in `newest_first` instead: the usual single id then needs no write to the
    /// vector's heap buffer (cold memory with many sessions) per message.
    stats: MessageStats,
    newest_first: Option<MessageId>,
    /// Which of the session's notification keys exist (see [`note_bit`]), and in
    /// the high nibble which of those are live, so that the common questions (is
    /// there one? is it live?) cost no look-up in the notifications map.
    notes: Bits,
    /// Whether it is in the tray's count (R3).
    counted: bool,
    /// Its idle deadline as armed (R6), mirroring the timers map.
    idle_at: Option<Ts>,
    /// Its reply-window deadline as armed (R20), mirroring the timers map.
    reply_at: Option<Ts>,
}

/// A session's notification bits: which of its notifications exist (low byte)
/// and which of those are live (high byte).
type Bits = u16;

/// The bit of a per-session notification key in [`SessionEntry::notes`]; the
/// same bit shifted left by [`LIVE_SHIFT`] says the notification is live.
const LIVE_SHIFT: u32 = 8;
const CHAT_BIT: Bits = 1;
const CALL_BIT: Bits = 2;
const OFFER_BIT: Bits = 4;
const ASSIGNED_BIT: Bits = 8;
const REPLY_BIT: Bits = 16;

/// Every notification key that belongs to one session.
fn session_keys(id: SessionId) -> [NotificationKey; 5] {
    [
        NotificationKey::Chat(id),
        NotificationKey::Call(id),
        NotificationKey::Offer(id),
        NotificationKey::Assigned(id),
        NotificationKey::ReplyWindow(id),
    ]
}

/// The existence and liveness bits of a notification under `bit`.
fn note_bits(bit: Bits, n: &Notification) -> Bits {
    bit | if n.is_live() { bit << LIVE_SHIFT } else { 0 }
}

fn note_bit(key: &NotificationKey) -> Option<(SessionId, Bits)> {
    match key {
        NotificationKey::Chat(s) => Some((*s, CHAT_BIT)),
        NotificationKey::Call(s) => Some((*s, CALL_BIT)),
        NotificationKey::Offer(s) => Some((*s, OFFER_BIT)),
        NotificationKey::Assigned(s) => Some((*s, ASSIGNED_BIT)),
        NotificationKey::ReplyWindow(s) => Some((*s, REPLY_BIT)),
        _ => None,
    }
}

impl SessionEntry {
    /// The mirror of the session's deadline under `key` (a per-session timer).
    fn deadline_mut(&mut self, key: TimerKey) -> &mut Option<Ts> {
        match key {
            TimerKey::ReplyWindow(_) => &mut self.reply_at,
            _ => &mut self.idle_at,
        }
    }

    fn new(row: Session) -> Self {
        let mut e = SessionEntry {
            row,
            stats: MessageStats::default(),
            newest_first: None,
            notes: 0,
            counted: false,
            idle_at: None,
            reply_at: None,
        };
        e.absorb_row();
        e
    }

    /// The newest customer activity known, from the row or the messages.
    fn last_customer(&self) -> Option<Ts> {
        self.stats
            .last_customer
            .max(self.row.last_customer_message_on)
    }

    /// Whether a customer message is news to the engine (not seen before).
    fn is_new_customer_message(&self, m: &Message) -> bool {
        match self.stats.last_customer {
            None => true,
            Some(t) if m.created_on > t => true,
            Some(t) => m.created_on == t && !self.is_newest_customer_id(&m.id),
        }
    }

    /// Whether `id` is one of the customer messages at `stats.last_customer`.
    fn is_newest_customer_id(&self, id: &MessageId) -> bool {
        self.newest_first.as_ref() == Some(id) || self.stats.newest_customer_ids.contains(id)
    }

    fn last_agent(&self) -> Option<Ts> {
        self.stats.last_agent.max(self.row.last_agent_message_on)
    }

    fn absorb_row(&mut self) {
        self.stats.last_agent = self.last_agent();
        self.forget_answered();
    }

    fn absorb_message(&mut self, m: &Message) {
        match m.direction {
            Direction::FromCustomer => {
                match self.stats.last_customer {
                    Some(t) if t > m.created_on => {}
                    Some(t) if t == m.created_on => {
                        if !self.is_newest_customer_id(&m.id) {
                            if self.newest_first.is_none() {
                                self.newest_first = Some(m.id);
                            } else {
                                self.stats.newest_customer_ids.push(m.id);
                            }
                        }
                    }
                    _ => {
                        self.stats.last_customer = Some(m.created_on);
                        self.newest_first = Some(m.id);
                        self.stats.newest_customer_ids.clear();
                    }
                }
                if self.stats.last_agent.is_none_or(|a| m.created_on > a) {
                    self.stats.first_unreplied = Some(
                        self.stats
                            .first_unreplied
                            .map_or(m.created_on, |f| f.min(m.created_on)),
                    );
                }
            }
            Direction::FromAgent => {
                self.stats.last_agent = self.stats.last_agent.max(Some(m.created_on));
                self.forget_answered();
            }
        }
    }

    fn forget_answered(&mut self) {
        if let (Some(f), Some(a)) = (self.stats.first_unreplied, self.stats.last_agent) {
            if f <= a {
                self.stats.first_unreplied = None;
            }
        }
    }

    /// Since when the owner has left the customer waiting (R6): since the oldest
    /// unanswered customer message, or since the owner took the chat, whichever
    /// is later (a new owner gets the whole idle timeout).
    fn idle_since(&self) -> Option<Ts> {
        let waiting = self.unreplied_since()?;
        Some(self.row.accepted_on.map_or(waiting, |t| t.max(waiting)))
    }

    /// Since when the customer has been waiting for a reply (R6), if they are.
    fn unreplied_since(&self) -> Option<Ts> {
        let customer = self.last_customer()?;
        if self.last_agent().is_some_and(|a| a >= customer) {
            return None;
        }
        Some(
            self.stats
                .first_unreplied
                .map_or(customer, |f| f.min(customer)),
        )
    }
}

/// How a session stood before a batch touched it.
#[derive(Clone, Debug)]
struct Touch {
    id: SessionId,
    known: bool,
    owner: Option<Owner>,
    /// Open (active, neither closed nor blocked) before the batch.
    was_open: bool,
    /// The row's newest customer message time and unread count before the batch.
    row_last_customer: Option<Ts>,
    row_unread: u32,
    /// New customer messages the row does not reflect yet.
    beyond_row: u32,
    /// The newest new customer message: its time and its index in the batch.
    newest_body: Option<(Ts, usize)>,
}

/// The sessions a batch touched, in order, each with how it stood before.
#[derive(Default, Debug)]
struct Touched {
    list: Vec<Touch>,
    index: Map<SessionId, usize>,
}

impl Touched {
    fn clear(&mut self) {
        self.list.clear();
        self.index.clear();
    }

    fn add(&mut self, engine: &Engine, id: SessionId) -> usize {
        // Most batches touch a handful of sessions: a scan beats hashing them.
        let found = if self.list.len() <= 16 {
            self.list.iter().position(|t| t.id == id)
        } else {
            if self.index.len() != self.list.len() {
                self.index = self
                    .list
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.id, i))
                    .collect();
            }
            self.index.get(&id).copied()
        };
        if let Some(i) = found {
            return i;
        }
        self.list.push(engine.touch_of(id));
        let i = self.list.len() - 1;
        if !self.index.is_empty() {
            self.index.insert(id, i);
        }
        i
    }
}

/// Per-event bookkeeping: sounds are played once per event at most.
#[derive(Default)]
struct Ctx {
    message_sound: bool,
    request_sound: bool,
    quiet_chats: Vec<NotificationKey>,
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
    scratch_body: String,
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
            scratch_body: String::new(),
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

    // ----- reading the state -------------------------------------------------------

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

    // ----- the one entry point ---------------------------------------------------------

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
            } => self.on_act(key, action, reason, now, &mut ctx, out),
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

    // ----- sync -------------------------------------------------------------------------

    fn touch_of(&self, id: SessionId) -> Touch {
        let entry = self.sessions.get(&id);
        Touch {
            id,
            known: entry.is_some(),
            owner: entry.map(|e| e.row.owner),
            was_open: entry.is_some_and(|e| e.row.is_open()),
            row_last_customer: entry.and_then(|e| e.row.last_customer_message_on),
            row_unread: entry.map_or(0, |e| e.row.unread_count),
            beyond_row: 0,
            newest_body: None,
        }
    }

    fn on_sync(
        &mut self,
        changes: Vec<Change>,
        mode: SyncMode,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let mut touched = std::mem::take(&mut self.scratch_touched);
        touched.clear();
        let mut requests: Vec<(RequestId, Option<ChatRequest>)> = Vec::new();
        let mut everything = false;
        let mut messages = std::mem::take(&mut self.scratch_messages);
        messages.clear();

        for change in changes {
            match change {
                Change::Message(m) => messages.push(m),
                Change::Session(row) => {
                    touched.add(self, row.id);
                    match self.sessions.get_mut(&row.id) {
                        Some(entry) => {
                            // In place: the old row's memory is reused rather than
                            // freed and allocated again (see `assign_row`).
                            assign_row(&mut entry.row, row);
                            entry.absorb_row();
                        }
                        None => {
                            let mut entry = SessionEntry::new(row);
                            entry.notes = self.probe_notes(entry.row.id);
                            self.sessions.insert(entry.row.id, entry);
                        }
                    }
                }
                Change::SessionRemoved(id) => {
                    self.close_session_notifications(id, WithdrawReason::SessionClosed, out);
                    self.set_timer(TimerKey::Idle(id), None, out);
                    self.set_timer(TimerKey::ReplyWindow(id), None, out);
                    if self.sessions.remove(&id).is_some_and(|e| e.counted) {
                        self.unread -= 1;
                    }
                }
                Change::Request(r) => {
                    let id = r.id;
                    let old = self.requests.insert(id, r);
                    requests.push((id, old));
                }
                Change::RequestRemoved(id) => {
                    let old = self.requests.remove(&id);
                    requests.push((id, old));
                }
                Change::Blocked(b) => {
                    // The sessions of the number blocked now, and of the one this
                    // row blocked before, if it held another (it is free again).
                    let old = self
                        .blocked
                        .get(&b.id)
                        .filter(|o| o.channel != b.channel || o.number != b.number)
                        .map(|o| (o.channel, o.number.clone()));
                    let new = (b.channel, b.number.clone());
                    for (id, e) in &self.sessions {
                        let of = |(channel, number): &(Channel, String)| {
                            e.row.channel == *channel && e.row.number == *number
                        };
                        if of(&new) || old.as_ref().is_some_and(of) {
                            touched.add(self, *id);
                        }
                    }
                    self.apply_plain(Change::Blocked(b));
                }
                Change::Configuration(_)
                | Change::ConfigurationRemoved(_)
                | Change::MyTeams(_)
                | Change::BlockedRemoved(_) => {
                    everything = true;
                    self.apply_plain(change);
                }
                other => self.apply_plain(other),
            }
        }

        messages.sort_by_key(|m| (m.created_on, m.id));
        for (index, m) in messages.iter().enumerate() {
            if !self.sessions.contains_key(&m.session) {
                continue;
            }
            let i = touched.add(self, m.session);
            let Some(entry) = self.sessions.get_mut(&m.session) else {
                continue;
            };
            if m.direction == Direction::FromCustomer && entry.is_new_customer_message(m) {
                let t = &mut touched.list[i];
                // Rows are applied before messages, so the row is final here.
                if Some(m.created_on) > entry.row.last_customer_message_on {
                    t.beyond_row += 1;
                }
                if t.newest_body
                    .as_ref()
                    .is_none_or(|(ts, _)| m.created_on >= *ts)
                {
                    t.newest_body = Some((m.created_on, index));
                }
            }
            entry.absorb_message(m);
        }

        if everything {
            let all: Vec<SessionId> = self.sessions.keys().copied().collect();
            for id in all {
                touched.add(self, id);
            }
            for id in self.requests.keys() {
                if !requests.iter().any(|(r, _)| r == id) {
                    requests.push((*id, self.requests.get(id).cloned()));
                }
            }
        }

        for t in &touched.list {
            // (A session no longer there is skipped by `reconcile_session`.)
            self.reconcile_session(t, &messages, mode, now, ctx, out);
        }
        for (rid, old) in requests {
            self.reconcile_request(rid, old.as_ref(), now, ctx, out);
        }

        if mode == SyncMode::CatchUp {
            self.summarise(now, ctx, out);
        }
        messages.clear();
        self.scratch_messages = messages;
        self.scratch_touched = touched;
    }

    /// Store a row that needs no per-session reconciliation.
    fn apply_plain(&mut self, change: Change) {
        match change {
            Change::Agent(a) => {
                self.agents.insert(a.id, a);
            }
            Change::Team(t) => {
                self.teams.insert(t.id, t);
            }
            Change::Configuration(c) => {
                self.configs.insert(c.id, c);
            }
            Change::ConfigurationRemoved(id) => {
                self.configs.remove(&id);
            }
            Change::MyTeams(teams) => {
                self.my_teams = teams.into_iter().collect();
            }
            Change::Blocked(b) => {
                if let Some(old) = self.blocked.insert(b.id, b.clone()) {
                    self.unblock_number(&old);
                }
                *self
                    .blocked_numbers
                    .entry((b.channel, b.number))
                    .or_insert(0) += 1;
            }
            Change::BlockedRemoved(id) => {
                if let Some(old) = self.blocked.remove(&id) {
                    self.unblock_number(&old);
                }
            }
            Change::Session(row) => {
                self.sessions.insert(row.id, SessionEntry::new(row));
            }
            Change::SessionRemoved(id) => {
                self.sessions.remove(&id);
            }
            Change::Request(r) => {
                self.requests.insert(r.id, r);
            }
            Change::RequestRemoved(id) => {
                self.requests.remove(&id);
            }
            Change::Message(m) => {
                if let Some(e) = self.sessions.get_mut(&m.session) {
                    e.absorb_message(&m);
                }
            }
        }
    }

    fn unblock_number(&mut self, b: &BlockedNumber) {
        let key = (b.channel, b.number.clone());
        if let Some(n) = self.blocked_numbers.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.blocked_numbers.remove(&key);
            }
        }
    }

    fn eligible(&self, c: &Configuration) -> bool {
        self.me.is_some()
            && self.my_teams.contains(&c.default_team)
            && c.assigned_team.is_none_or(|t| self.my_teams.contains(&t))
    }

    fn session_eligible(&self, row: &Session) -> bool {
        self.configs
            .get(&row.config)
            .is_some_and(|c| self.eligible(c))
    }

    fn is_blocked(&self, row: &Session) -> bool {
        !self.blocked_numbers.is_empty()
            && self
                .blocked_numbers
                .contains_key(&(row.channel, row.number.clone()))
    }

    fn is_open(&self, row: &Session) -> bool {
        row.is_open() && !self.is_blocked(row)
    }

    /// Who a new customer message reaches on my desk (R2, R4), if it reaches me.
    fn chat_kind(&self, row: &Session) -> Option<NotificationKind> {
        if !self.is_open(row) || !self.session_eligible(row) {
            return None;
        }
        match row.owner {
            Owner::Team(t) if row.accepted_on.is_none() && self.my_teams.contains(&t) => {
                Some(NotificationKind::NewConversation)
            }
            Owner::User(u) if Some(u) == self.me => Some(NotificationKind::NewMessage),
            _ => None,
        }
    }

    /// [`Engine::chat_kind`], given whether the row is open and eligible.
    fn chat_kind_of(&self, row: &Session, open: bool, eligible: bool) -> Option<NotificationKind> {
        if !open || !eligible {
            return None;
        }
        match row.owner {
            Owner::Team(t) if row.accepted_on.is_none() && self.my_teams.contains(&t) => {
                Some(NotificationKind::NewConversation)
            }
            Owner::User(u) if Some(u) == self.me => Some(NotificationKind::NewMessage),
            _ => None,
        }
    }

    /// Whether a call in this session rings on my desk (R5).
    fn call_reaches_me(&self, row: &Session) -> bool {
        self.is_open(row) && self.session_eligible(row) && self.call_owner_is_me(row)
    }

    /// The owner part of [`Engine::call_reaches_me`].
    fn call_owner_is_me(&self, row: &Session) -> bool {
        match row.owner {
            Owner::User(u) => Some(u) == self.me,
            Owner::Team(t) => self.my_teams.contains(&t),
        }
    }

    /// Since when the owner has left the customer waiting, where R6 could offer
    /// the session to me.
    fn idle_start(&self, entry: &SessionEntry) -> Option<Ts> {
        let row = &entry.row;
        let me = self.me?;
        let Owner::User(owner) = row.owner else {
            return None;
        };
        if owner == me || !self.is_open(row) {
            return None;
        }
        let cfg = self.configs.get(&row.config)?;
        if !self.eligible(cfg) {
            return None;
        }
        let offer_team = cfg.assigned_team.unwrap_or(cfg.default_team);
        if !self.my_teams.contains(&offer_team) {
            return None;
        }
        entry.idle_since()
    }

    fn reconcile_session(
        &mut self,
        touch: &Touch,
        batch: &[Message],
        mode: SyncMode,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let id = touch.id;
        let Some(entry) = self.sessions.get(&id) else {
            return;
        };
        let row = &entry.row;
        let unreplied = entry.unreplied_since();
        let last_customer = entry.last_customer();
        let me = self.me;
        // Nothing below changes the configuration, my teams, the row or the
        // message stats: what depends on them alone is worked out once.
        let config = self.configs.get(&row.config);
        let eligible = config.is_some_and(|c| self.eligible(c));
        let (system_notification, idle_timeout) = config
            .map(|c| (c.system_notification, Some(c.idle_timeout)))
            .unwrap_or((false, None));
        let open = self.is_open(row);

        if !open {
            self.close_session_notifications(id, WithdrawReason::SessionClosed, out);
            self.set_timer(TimerKey::Idle(id), None, out);
            self.set_timer(TimerKey::ReplyWindow(id), None, out);
            self.refresh_unread(id);
            self.tell_owner_of_block(touch, now, out);
            return;
        }

        let kind = self.chat_kind_of(row, open, eligible);
        debug_assert_eq!(kind, self.chat_kind(row));
        // `idle_start`, with the configuration in hand (the row is open here).
        let idle_start = match (me, row.owner, config) {
            (Some(m), Owner::User(owner), Some(c))
                if owner != m
                    && eligible
                    && self
                        .my_teams
                        .contains(&c.assigned_team.unwrap_or(c.default_team)) =>
            {
                entry.idle_since()
            }
            _ => None,
        };
        debug_assert_eq!(idle_start, self.idle_start(entry));
        let mine = me.is_some_and(|m| row.owner == Owner::User(m));
        // Which notifications the session has, as it stood on entry. Each part
        // below changes only its own notification's bits, so a part may read its
        // own bits here until it changes them.
        let bits = entry.notes;
        let live = |bit: Bits| bits & (bit << LIVE_SHIFT) != 0;
        // The row is lent out of the entry for the rest, and put back at the end:
        // the parts below change notifications, timers and counts, never the
        // session's row or stats, and read the row from here.
        let row = match self.sessions.get_mut(&id) {
            Some(entry) => std::mem::replace(&mut entry.row, placeholder_row(id)),
            None => return,
        };

        // A live chat notification that no longer fits goes (R2: someone took it).
        let chat_key = NotificationKey::Chat(id);
        let live_chat = if live(CHAT_BIT) {
            self.notifications.get(&chat_key)
        } else {
            None
        };
        if let Some(n) = live_chat {
            let reason = if Some(n.kind) != kind {
                Some(if !eligible {
                    WithdrawReason::NotEligible
                } else if mine {
                    WithdrawReason::Superseded
                } else if matches!(row.owner, Owner::User(_)) {
                    WithdrawReason::TakenByOther
                } else {
                    WithdrawReason::Reassigned
                })
            } else if row.unread_count == 0 {
                Some(WithdrawReason::Answered)
            } else {
                None
            };
            if let Some(reason) = reason {
                self.close(chat_key, Lifecycle::Withdrawn { reason }, out);
            }
        }

        // R7: assigned to me through Dynamics.
        let assigned_key = NotificationKey::Assigned(id);
        let was_mine = me.is_some_and(|m| touch.owner == Some(Owner::User(m)));
        // A chat first seen in a live poll, already mine and accepted moments ago,
        // was assigned to me since the last poll (created, assigned and written
        // to within one poll); one first seen at start or accepted long ago is not
        // news.
        let assigned_unseen = !touch.known
            && mode == SyncMode::Live
            && row
                .accepted_on
                .is_some_and(|t| t <= now && now - t <= FRESH_ASSIGNMENT);
        if mine
            && (touch.known && !was_mine || assigned_unseen)
            && eligible
            && !self.claimed.contains(&id)
        {
            let (title, body) = (
                format!("Chat assigned to you: {}", clip(&row.name, NAME_CHARS)),
                format!(
                    "{} · {}",
                    channel_name(row.channel),
                    clip(&row.last_message_preview, PREVIEW_CHARS)
                ),
            );
            self.show(
                Notification {
                    key: assigned_key,
                    kind: NotificationKind::AssignedToMe,
                    session: Some(id),
                    title,
                    body,
                    actions: vec![Action::Open],
                    count: 0,
                    created_at: now,
                    updated_at: now,
                    state: Lifecycle::Live,
                    toast: mode == SyncMode::Live,
                    anchor: None,
                    peer: None,
                },
                out,
            );
            if mode == SyncMode::CatchUp {
                ctx.quiet_chats.push(assigned_key);
            }
        } else if (!mine || !eligible) && live(ASSIGNED_BIT) {
            debug_assert!(self.note_live(&assigned_key));
            self.close(
                assigned_key,
                Lifecycle::Withdrawn {
                    reason: if eligible {
                        WithdrawReason::Reassigned
                    } else {
                        WithdrawReason::NotEligible
                    },
                },
                out,
            );
        }

        if mine {
            self.claimed.remove(&id);
        }

        // R2, R4, R9, R10, R16: new customer messages. The row's unread count is
        // Dynamics' own tally; messages newer than the row add to it.
        let row_advanced = row.last_customer_message_on > touch.row_last_customer
            || row.unread_count > touch.row_unread;
        let beyond_row = touch.beyond_row;
        let count = row.unread_count + beyond_row;
        if (row_advanced || beyond_row > 0) && count > 0 {
            if let Some(kind) = kind {
                // The newest text: a message newer than the row, else the row's
                // own preview, which the add-on writes with every message and so
                // knows which of several messages of one second came last
                // (`createdon` has a one-second grain).
                let preview = touch
                    .newest_body
                    .filter(|(ts, _)| {
                        Some(*ts) > row.last_customer_message_on
                            || row.last_message_preview.is_empty()
                    })
                    .and_then(|(_, i)| batch.get(i))
                    .map_or(row.last_message_preview.as_str(), |m| m.body.as_str());
                if !self.dismissed.is_empty() && self.dismissed.remove(&id) {
                    out.push(Effect::Undismiss(id));
                }
                // The text is built in a reused buffer: it is only copied out when
                // the notification is new or its text changed.
                let mut body = std::mem::take(&mut self.scratch_body);
                chat_body_into(&mut body, count, preview);
                let existing = if self.note_live(&chat_key) {
                    self.notifications.get_mut(&chat_key)
                } else {
                    None
                };
                match existing {
                    Some(n) if n.count == count && n.body == body && n.kind == kind => {}
                    Some(shared) => {
                        let n = Arc::make_mut(shared);
                        if n.kind != kind {
                            n.kind = kind;
                            n.title = chat_title(kind, &row);
                            n.actions = chat_actions(kind, &row);
                        }
                        n.body.clone_from(&body);
                        n.count = count;
                        n.updated_at = now;
                        n.state = Lifecycle::Updated;
                        if mode == SyncMode::Live {
                            n.toast = true;
                        }
                        out.push(Effect::Update(shared.clone()));
                    }
                    None => {
                        self.show(
                            Notification {
                                key: chat_key,
                                kind,
                                session: Some(id),
                                title: chat_title(kind, &row),
                                // Room for the "N new messages · " the next
                                // message adds, so that the update fits.
                                body: {
                                    let mut b = String::with_capacity(body.len() + 24);
                                    b.push_str(&body);
                                    b
                                },
                                actions: chat_actions(kind, &row),
                                count,
                                created_at: now,
                                updated_at: now,
                                state: Lifecycle::Live,
                                toast: mode == SyncMode::Live,
                                anchor: row.last_customer_message_on,
                                peer: None,
                            },
                            out,
                        );
                    }
                }
                self.scratch_body = body;
                if mode == SyncMode::CatchUp && !ctx.quiet_chats.contains(&chat_key) {
                    ctx.quiet_chats.push(chat_key);
                }
                if system_notification {
                    ctx.message_sound = true;
                }
            }
        }

        let reaches = open && eligible && self.call_owner_is_me(&row);
        debug_assert_eq!(reaches, self.call_reaches_me(&row));
        self.reconcile_call(&row, bits, reaches, eligible, now, out);
        self.reconcile_idle(
            id,
            unreplied,
            &row,
            (idle_start, eligible, idle_timeout, bits),
            now,
            out,
        );
        let reply_ends = if mine && eligible {
            reply_window_ends(row.channel, last_customer)
        } else {
            None
        };
        let gone = if !eligible {
            WithdrawReason::NotEligible
        } else if !mine {
            WithdrawReason::Reassigned
        } else {
            WithdrawReason::CustomerWrote
        };
        self.reconcile_reply_window(id, reply_ends, gone, bits, now, out);
        // R3, as `refresh_unread`, with what is known already.
        let counts = row.unread_count > 0 && kind.is_some() && !self.dismissed.contains(&row.id);
        if let Some(entry) = self.sessions.get_mut(&id) {
            entry.row = row;
            if counts != entry.counted {
                entry.counted = counts;
                if counts {
                    self.unread += 1;
                } else {
                    self.unread -= 1;
                }
            }
        }
    }

    /// R5: a ringing call notifies whoever it reaches, once per call, until it stops.
    /// `bits`: the session's notification bits (only the call's are read).
    fn reconcile_call(
        &mut self,
        row: &Session,
        bits: Bits,
        reaches: bool,
        eligible: bool,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let key = NotificationKey::Call(row.id);
        let ringing = row.call_state == CallState::Ringing;
        if ringing && reaches {
            let existing = if bits & CALL_BIT != 0 {
                self.notifications.get(&key)
            } else {
                None
            };
            debug_assert_eq!(existing, self.note(&key));
            let anchor = row.call_started_on;
            if existing.is_none_or(|n| n.anchor != anchor) {
                if existing.is_some_and(|n| n.is_live()) {
                    out.push(Effect::StopRinging(row.id));
                }
                self.show(
                    Notification {
                        key,
                        kind: NotificationKind::IncomingCall,
                        session: Some(row.id),
                        title: call_title(row),
                        body: call_body(row),
                        actions: vec![Action::Open, Action::Dismiss],
                        count: 0,
                        created_at: now,
                        updated_at: now,
                        state: Lifecycle::Live,
                        toast: true,
                        anchor,
                        peer: None,
                    },
                    out,
                );
                if !self.muted {
                    out.push(Effect::StartRinging(row.id));
                }
            }
        } else if bits & (CALL_BIT << LIVE_SHIFT) != 0 {
            debug_assert!(self.note_live(&key));
            let reason = if ringing {
                if eligible {
                    WithdrawReason::TakenByOther
                } else {
                    WithdrawReason::NotEligible
                }
            } else {
                WithdrawReason::CallEnded
            };
            self.close(key, Lifecycle::Withdrawn { reason }, out);
        }
    }

    /// R6: keep the idle timer armed while the owner leaves the customer waiting,
    /// and take back an offer that no longer applies.
    /// `facts`: the idle start ([`Engine::idle_start`]), whether the session is
    /// eligible, its configuration's idle timeout, and the session's notification
    /// bits (only the offer's are read).
    fn reconcile_idle(
        &mut self,
        id: SessionId,
        unreplied: Option<Ts>,
        row: &Session,
        facts: (Option<Ts>, bool, Option<Span>, Bits),
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let _ = now;
        let (start, eligible, idle_timeout, bits) = facts;
        let idle_owner = match row.owner {
            Owner::User(u) => Some(u),
            Owner::Team(_) => None,
        };
        let offer_key = NotificationKey::Offer(id);
        let live_offer = if bits & (OFFER_BIT << LIVE_SHIFT) != 0 {
            self.notifications.get(&offer_key)
        } else {
            None
        };
        debug_assert_eq!(live_offer.is_some(), self.note_live(&offer_key));
        if let Some(n) = live_offer {
            if start.is_none() || n.anchor != start || n.peer != idle_owner {
                let reason = if !eligible {
                    WithdrawReason::NotEligible
                } else if n.peer != idle_owner {
                    WithdrawReason::TakenByOther
                } else {
                    WithdrawReason::OwnerReplied
                };
                let _ = unreplied;
                self.close(offer_key, Lifecycle::Withdrawn { reason }, out);
            }
        }
        // The offer may have been closed just above, but it still exists.
        let offered = start.is_some()
            && bits & OFFER_BIT != 0
            && self
                .notifications
                .get(&offer_key)
                .is_some_and(|n| n.anchor == start && n.peer == idle_owner);
        let deadline = match (start, offered) {
            (Some(t), false) => idle_timeout.map(|d| t + d),
            _ => None,
        };
        self.set_timer(TimerKey::Idle(id), deadline, out);
    }

    /// When the reply window of a session closes, where its owner (me) is to be
    /// warned (R20): my own open, eligible WhatsApp session the customer wrote in.
    fn reply_window_for_me(&self, entry: &SessionEntry) -> Option<Ts> {
        let row = &entry.row;
        let mine = self.me.is_some_and(|m| row.owner == Owner::User(m));
        if !mine || !self.is_open(row) || !self.session_eligible(row) {
            return None;
        }
        reply_window_ends(row.channel, entry.last_customer())
    }

    /// R20: the warning before the reply window closes. `ends`: when the window
    /// closes, where I am to be warned ([`Engine::reply_window_for_me`]); `gone`:
    /// why a live warning for another window is withdrawn; `bits`: the session's
    /// notification bits (only the warning's are read).
    fn reconcile_reply_window(
        &mut self,
        id: SessionId,
        ends: Option<Ts>,
        gone: WithdrawReason,
        bits: Bits,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let key = NotificationKey::ReplyWindow(id);
        // Whether this window's warning was raised, and whether it is still up.
        let (mut warned, mut live) = (false, false);
        if bits & REPLY_BIT != 0 {
            if let Some(n) = self.notifications.get(&key) {
                if ends.is_some() && n.anchor == ends {
                    warned = true;
                    live = n.is_live();
                } else if n.is_live() {
                    self.close(key, Lifecycle::Withdrawn { reason: gone }, out);
                }
            }
        }
        let at = match ends {
            Some(end) if now >= end => {
                if live {
                    self.close(key, Lifecycle::Expired, out);
                }
                None
            }
            Some(end) if warned => live.then_some(end),
            Some(end) => Some(end - REPLY_WARNING),
            None => None,
        };
        self.set_timer(TimerKey::ReplyWindow(id), at, out);
    }

    fn set_timer(&mut self, key: TimerKey, at: Option<Ts>, out: &mut Vec<Effect>) {
        if let Some(entry) = key.session().and_then(|sid| self.sessions.get_mut(&sid)) {
            let mirror = entry.deadline_mut(key);
            if *mirror == at {
                return;
            }
            *mirror = at;
        }
        match at {
            Some(t) => {
                if self.timers.insert(key, t) != Some(t) {
                    out.push(Effect::ArmTimer(key, t));
                }
            }
            None => {
                if self.timers.remove(&key).is_some() {
                    out.push(Effect::DisarmTimer(key));
                }
            }
        }
    }

    /// R8: requests addressed to me, and the answers to mine.
    fn reconcile_request(
        &mut self,
        rid: RequestId,
        old: Option<&ChatRequest>,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let key = NotificationKey::Request(rid);
        let Some(r) = self.requests.get(&rid).cloned() else {
            self.close_if_live(
                key,
                Lifecycle::Withdrawn {
                    reason: WithdrawReason::WithdrawnByRequester,
                },
                out,
            );
            self.set_timer(TimerKey::RequestExpiry(rid), None, out);
            return;
        };
        let Some(me) = self.me else {
            return;
        };
        let expiry = self.request_expiry(&r);
        let lapsed = expiry.is_some_and(|e| now >= e);
        let pending = r.status == RequestStatus::Pending && !lapsed;
        let session_row = self.sessions.get(&r.session).map(|e| &e.row);
        let allowed = session_row
            .as_ref()
            .is_none_or(|row| self.session_eligible(row) && self.is_open(row));

        if r.requested_to == me {
            let existing = self.notifications.get(&key);
            if pending && allowed {
                if existing.is_none() {
                    let from = self.name_of(r.requested_by);
                    let customer = session_row
                        .as_ref()
                        .map_or("a customer".to_string(), |s| clip(&s.name, NAME_CHARS));
                    let (kind, title) = match r.kind {
                        RequestKind::Assign => (
                            NotificationKind::AssignRequest,
                            format!("{from} asks you to take over the chat with {customer}"),
                        ),
                        RequestKind::Discuss => (
                            NotificationKind::DiscussRequest,
                            format!("{from} asks you to join the chat with {customer}"),
                        ),
                    };
                    let body = r
                        .reason
                        .as_deref()
                        .map(|s| clip(s, PREVIEW_CHARS))
                        .unwrap_or_default();
                    self.show(
                        Notification {
                            key,
                            kind,
                            session: Some(r.session),
                            title,
                            body,
                            actions: vec![Action::Open, Action::Accept, Action::Reject],
                            count: 0,
                            created_at: now,
                            updated_at: now,
                            state: Lifecycle::Live,
                            toast: true,
                            anchor: Some(r.created_on),
                            peer: Some(r.requested_by),
                        },
                        out,
                    );
                    ctx.request_sound = true;
                }
                self.set_timer(TimerKey::RequestExpiry(rid), expiry, out);
            } else {
                if existing.is_some_and(|n| n.is_live()) {
                    let state = match r.status {
                        RequestStatus::Expired => Lifecycle::Expired,
                        RequestStatus::Pending if lapsed => Lifecycle::Expired,
                        RequestStatus::Pending => Lifecycle::Withdrawn {
                            reason: WithdrawReason::NotEligible,
                        },
                        RequestStatus::Withdrawn => Lifecycle::Withdrawn {
                            reason: WithdrawReason::WithdrawnByRequester,
                        },
                        RequestStatus::Accepted | RequestStatus::Rejected => Lifecycle::Withdrawn {
                            reason: WithdrawReason::AnsweredElsewhere,
                        },
                    };
                    self.close(key, state, out);
                }
                self.set_timer(TimerKey::RequestExpiry(rid), None, out);
            }
        }

        if r.requested_by == me {
            if r.status == RequestStatus::Pending {
                self.set_timer(TimerKey::RequestExpiry(rid), expiry, out);
            } else {
                self.set_timer(TimerKey::RequestExpiry(rid), None, out);
            }
            let was_pending = old.is_some_and(|o| o.status == RequestStatus::Pending);
            // A request made and answered between two syncs is first seen
            // answered: still news, if the answer is recent.
            let answered_meanwhile =
                old.is_none() && now - r.modified_on <= FRESH_ANSWER && r.modified_on <= now;
            let answered = matches!(
                r.status,
                RequestStatus::Accepted | RequestStatus::Rejected | RequestStatus::Expired
            );
            if (was_pending || answered_meanwhile) && answered {
                self.show_outcome(&r, now, out);
            }
        }
    }

    fn request_expiry(&self, r: &ChatRequest) -> Option<Ts> {
        r.expires_on.or_else(|| {
            let s = self.sessions.get(&r.session)?;
            let c = self.configs.get(&s.row.config)?;
            Some(r.created_on + c.request_timeout)
        })
    }

    fn show_outcome(&mut self, r: &ChatRequest, now: Ts, out: &mut Vec<Effect>) {
        let key = NotificationKey::Outcome(r.id);
        if self.notifications.contains_key(&key) {
            return;
        }
        let to = self.name_of(r.requested_to);
        let what = match r.kind {
            RequestKind::Assign => "assign",
            RequestKind::Discuss => "discuss",
        };
        let (title, body) = match r.status {
            RequestStatus::Accepted => {
                (format!("{to} accepted your {what} request"), String::new())
            }
            RequestStatus::Rejected => (
                format!("{to} rejected your {what} request"),
                format!(
                    "Reason: {}",
                    clip(r.reason.as_deref().unwrap_or(""), PREVIEW_CHARS)
                ),
            ),
            _ => (
                format!("Your {what} request to {to} expired"),
                "No answer in time.".to_string(),
            ),
        };
        self.show(
            Notification {
                key,
                kind: NotificationKind::RequestOutcome,
                session: Some(r.session),
                title,
                body,
                actions: vec![Action::Open, Action::Dismiss],
                count: 0,
                created_at: now,
                updated_at: now,
                state: Lifecycle::Live,
                toast: true,
                anchor: None,
                peer: None,
            },
            out,
        );
    }

    /// R17: many chats after a gap become one toast; a single one stays itself.
    /// A summary still up also stands for the chats an earlier catch-up put in
    /// it that are still waiting untoasted: it counts them too, rather than
    /// only what this catch-up brought.
    fn summarise(&mut self, now: Ts, ctx: &mut Ctx, out: &mut Vec<Effect>) {
        // A chat whose own toast is up (and was updated in place) is told there:
        // each chat is counted once, in the summary or in its toast.
        let mut quiet: Vec<NotificationKey> = ctx
            .quiet_chats
            .iter()
            .copied()
            .filter(|k| {
                self.notifications
                    .get(k)
                    .is_some_and(|n| n.is_live() && !n.toast)
            })
            .collect();
        let standing = self
            .notifications
            .get(&NotificationKey::CatchUp)
            .filter(|n| n.is_live())
            .map(|n| n.created_at);
        if let (Some(since), false) = (standing, quiet.is_empty()) {
            let mut earlier: Vec<NotificationKey> = self
                .notifications
                .iter()
                .filter(|(k, n)| {
                    matches!(k, NotificationKey::Chat(_) | NotificationKey::Assigned(_))
                        && n.is_live()
                        && !n.toast
                        && n.created_at >= since
                        && !quiet.contains(k)
                })
                .map(|(k, _)| *k)
                .collect();
            earlier.sort_unstable();
            quiet.extend(earlier);
        }
        if quiet.len() >= SUMMARY_THRESHOLD {
            let key = NotificationKey::CatchUp;
            let title = format!("{} chats need you", quiet.len());
            let body = "Missed while ChatBell was away. Open the panel to see them.".to_string();
            if let Some(shared) = self.notifications.get_mut(&key).filter(|n| n.is_live()) {
                let n = Arc::make_mut(shared);
                n.title = title;
                n.body = body;
                n.count = quiet.len() as u32;
                n.updated_at = now;
                n.state = Lifecycle::Updated;
                out.push(Effect::Update(shared.clone()));
            } else {
                self.show(
                    Notification {
                        key,
                        kind: NotificationKind::CatchUpSummary,
                        session: None,
                        title,
                        body,
                        actions: vec![Action::Open, Action::Dismiss],
                        count: quiet.len() as u32,
                        created_at: now,
                        updated_at: now,
                        state: Lifecycle::Live,
                        toast: true,
                        anchor: None,
                        peer: None,
                    },
                    out,
                );
            }
        } else if let Some(key) = quiet.first() {
            if let Some(shared) = self.notifications.get_mut(key) {
                Arc::make_mut(shared).toast = true;
                let n = shared.clone();
                for e in out.iter_mut() {
                    if let Effect::Show(shown) | Effect::Update(shown) = e {
                        if shown.key == *key {
                            *shown = n.clone();
                        }
                    }
                }
            }
        }
    }

    // ----- the agent's actions ---------------------------------------------------------

    fn on_act(
        &mut self,
        key: NotificationKey,
        action: Action,
        reason: Option<String>,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let _ = ctx;
        let n = self
            .notifications
            .get(&key)
            .ok_or(ActionError::UnknownNotification)?;
        if !n.is_live() {
            return Err(ActionError::NotLive);
        }
        if !n.offers(action) {
            return Err(ActionError::NotOffered {
                action: action.as_str(),
            });
        }
        let kind = n.kind;
        let session = n.session;
        let acted = Lifecycle::ActedOn { action };
        match (kind, action) {
            (NotificationKind::CatchUpSummary, Action::Open) => {
                out.push(Effect::OpenPanel);
                self.close(key, acted, out);
            }
            (k, Action::Open) if k.asks_for_decision() => {
                if let Some(s) = session {
                    out.push(Effect::OpenChat(s));
                }
                if let Some(n) = self.notifications.get_mut(&key) {
                    Arc::make_mut(n).toast = false;
                }
                out.push(Effect::HideToast(key));
            }
            (_, Action::Open) => {
                if let Some(s) = session {
                    out.push(Effect::OpenChat(s));
                }
                self.close(key, acted, out);
            }
            (NotificationKind::NewConversation, Action::Accept)
            | (NotificationKind::AssignToMe, Action::Yes) => {
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                let me = self.me.ok_or(ActionError::NotSignedIn)?;
                let entry = self.sessions.get(&sid).ok_or(ActionError::SessionClosed)?;
                let row = &entry.row;
                if !self.is_open(row) {
                    return Err(ActionError::SessionClosed);
                }
                if !self.session_eligible(row) {
                    return Err(ActionError::NotEligible);
                }
                if kind == NotificationKind::NewConversation {
                    if let Owner::User(u) = row.owner {
                        if u != me {
                            return Err(ActionError::AlreadyTaken {
                                by: self.name_of(u),
                            });
                        }
                    }
                }
                if !self.online {
                    return Err(ActionError::Offline);
                }
                // What must still be true if the row changed meanwhile (R15).
                let precondition = match (kind, n.peer, n.anchor) {
                    (NotificationKind::AssignToMe, Some(owner), Some(since)) => {
                        ChatPrecondition::StillIdle { owner, since }
                    }
                    (NotificationKind::AssignToMe, _, _) => {
                        ChatPrecondition::OwnedBy { owner: row.owner }
                    }
                    _ => ChatPrecondition::Queued,
                };
                let op = WriteOp::TakeOwnership {
                    session: sid,
                    etag: row.etag.clone(),
                    me,
                    precondition,
                };
                self.claimed.insert(sid);
                self.issue(op, Some(key), now, out);
                self.close(key, acted, out);
            }
            (NotificationKind::AssignToMe, Action::No) => {
                self.close(key, acted, out);
            }
            (NotificationKind::NewConversation, Action::Dismiss) => {
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                self.close(key, Lifecycle::Dismissed, out);
                if self.dismissed.insert(sid) {
                    out.push(Effect::Dismiss(sid));
                }
                self.refresh_unread(sid);
            }
            (
                NotificationKind::IncomingCall
                | NotificationKind::ReplyWindowClosing
                | NotificationKind::ActionFailed
                | NotificationKind::RequestOutcome
                | NotificationKind::CatchUpSummary
                | NotificationKind::NumberBlocked,
                Action::Dismiss,
            ) => {
                self.close(key, Lifecycle::Dismissed, out);
            }
            (NotificationKind::NewConversation, Action::Block) => {
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                let row = &self
                    .sessions
                    .get(&sid)
                    .ok_or(ActionError::SessionClosed)?
                    .row;
                if !self.online {
                    return Err(ActionError::Offline);
                }
                let op = WriteOp::BlockNumber {
                    session: sid,
                    number: row.number.clone(),
                    channel: row.channel,
                    etag: Some(row.etag.clone()),
                    anyway: false,
                    me: self.me,
                };
                self.issue(op, Some(key), now, out);
                self.close(key, acted, out);
            }
            (NotificationKind::ActionFailed, Action::BlockAnyway) => {
                // The second, explicit choice after "X accepted this chat first"
                // (R15): the number is blocked; the chat stays its owner's, who
                // is told (see `reconcile_blocked_owner`).
                let sid = session.ok_or(ActionError::UnknownNotification)?;
                let row = &self
                    .sessions
                    .get(&sid)
                    .ok_or(ActionError::SessionClosed)?
                    .row;
                if !self.online {
                    return Err(ActionError::Offline);
                }
                let op = WriteOp::BlockNumber {
                    session: sid,
                    number: row.number.clone(),
                    channel: row.channel,
                    etag: None,
                    anyway: true,
                    me: self.me,
                };
                self.issue(op, Some(key), now, out);
                self.close(key, acted, out);
            }
            (
                NotificationKind::AssignRequest | NotificationKind::DiscussRequest,
                Action::Accept | Action::Reject,
            ) => {
                let NotificationKey::Request(rid) = key else {
                    return Err(ActionError::UnknownNotification);
                };
                let me = self.me.ok_or(ActionError::NotSignedIn)?;
                let reason = match action {
                    Action::Reject => Some(non_blank(reason)?),
                    _ => None,
                };
                let r = self.requests.get(&rid).ok_or(ActionError::UnknownRequest)?;
                if r.status != RequestStatus::Pending
                    || self.request_expiry(r).is_some_and(|e| now >= e)
                {
                    return Err(ActionError::NoLongerPending);
                }
                if !self.online {
                    return Err(ActionError::Offline);
                }
                let accept = action == Action::Accept;
                let (take_session, session_owner) = if accept && r.kind == RequestKind::Assign {
                    let row = &self
                        .sessions
                        .get(&r.session)
                        .ok_or(ActionError::SessionClosed)?
                        .row;
                    (Some((row.id, row.etag.clone())), Some(row.owner))
                } else {
                    (None, None)
                };
                if let Some((sid, _)) = &take_session {
                    self.claimed.insert(*sid);
                }
                let op = WriteOp::AnswerRequest {
                    request: rid,
                    etag: r.etag.clone(),
                    accept,
                    reason,
                    take_session,
                    me,
                    session_owner,
                };
                self.issue(op, Some(key), now, out);
                self.set_timer(TimerKey::RequestExpiry(rid), None, out);
                self.close(key, acted, out);
            }
            _ => {
                return Err(ActionError::NotOffered {
                    action: action.as_str(),
                })
            }
        }
        Ok(())
    }

    fn on_withdraw_request(
        &mut self,
        rid: RequestId,
        reason: String,
        now: Ts,
        out: &mut Vec<Effect>,
    ) -> Result<(), ActionError> {
        let me = self.me.ok_or(ActionError::NotSignedIn)?;
        let reason = non_blank(Some(reason))?;
        let r = self
            .requests
            .get(&rid)
            .filter(|r| r.requested_by == me)
            .ok_or(ActionError::UnknownRequest)?;
        if r.status != RequestStatus::Pending {
            return Err(ActionError::NoLongerPending);
        }
        if !self.online {
            return Err(ActionError::Offline);
        }
        let op = WriteOp::WithdrawRequest {
            request: rid,
            etag: r.etag.clone(),
            reason,
        };
        self.issue(op, None, now, out);
        self.set_timer(TimerKey::RequestExpiry(rid), None, out);
        Ok(())
    }

    fn issue(
        &mut self,
        op: WriteOp,
        origin: Option<NotificationKey>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        self.seq += 1;
        let id = CommandId(uuid::Uuid::from_u64_pair(now.0 as u64, self.seq));
        let command = Command {
            id,
            op,
            issued_at: now,
            origin,
        };
        self.pending.insert(id, command.clone());
        out.push(Effect::WriteBack(command));
    }

    // ----- timers and write-back results ----------------------------------------------

    fn on_timer(&mut self, key: TimerKey, now: Ts, ctx: &mut Ctx, out: &mut Vec<Effect>) {
        match self.timers.get(&key) {
            Some(t) if *t <= now => {
                self.timers.remove(&key);
                if let Some(entry) = key.session().and_then(|sid| self.sessions.get_mut(&sid)) {
                    *entry.deadline_mut(key) = None;
                }
            }
            // Stale or early: the engine's own deadline decides.
            Some(t) => {
                out.push(Effect::ArmTimer(key, *t));
                return;
            }
            None => return,
        }
        match key {
            TimerKey::Idle(sid) => {
                let Some(entry) = self.sessions.get(&sid) else {
                    return;
                };
                let Some(start) = self.idle_start(entry) else {
                    return;
                };
                let Some(cfg) = self.configs.get(&entry.row.config) else {
                    return;
                };
                let deadline = start + cfg.idle_timeout;
                if now < deadline {
                    self.set_timer(key, Some(deadline), out);
                    return;
                }
                let row_owner = entry.row.owner;
                let name = clip(&entry.row.name, NAME_CHARS);
                let minutes = (now - start).0 / 60_000;
                let owner = match row_owner {
                    Owner::User(u) => self.name_of(u),
                    Owner::Team(_) => "The owner".to_string(),
                };
                self.show(
                    Notification {
                        key: NotificationKey::Offer(sid),
                        kind: NotificationKind::AssignToMe,
                        session: Some(sid),
                        title: format!("Assign to me? {name}"),
                        body: format!("{owner} has not replied for {minutes} min."),
                        actions: vec![Action::Open, Action::Yes, Action::No],
                        count: 0,
                        created_at: now,
                        updated_at: now,
                        state: Lifecycle::Live,
                        toast: true,
                        anchor: Some(start),
                        peer: match row_owner {
                            Owner::User(u) => Some(u),
                            Owner::Team(_) => None,
                        },
                    },
                    out,
                );
                ctx.request_sound = true;
            }
            TimerKey::ReplyWindow(sid) => {
                let Some(entry) = self.sessions.get(&sid) else {
                    return;
                };
                let ends = self.reply_window_for_me(entry);
                let key = NotificationKey::ReplyWindow(sid);
                if let Some(end) = ends {
                    let warned = self.note(&key).is_some_and(|n| n.anchor == ends);
                    if !warned && now >= end - REPLY_WARNING && now < end {
                        let name = clip(&entry.row.name, NAME_CHARS);
                        let minutes = (end - now).0.div_euclid(60_000).max(1);
                        self.show(
                            Notification {
                                key,
                                kind: NotificationKind::ReplyWindowClosing,
                                session: Some(sid),
                                title: format!("Reply window closing: {name}"),
                                body: format!(
                                    "Free-form WhatsApp replies end in {minutes} min; \
                                     after that, only templates."
                                ),
                                actions: vec![Action::Open, Action::Dismiss],
                                count: 0,
                                created_at: now,
                                updated_at: now,
                                state: Lifecycle::Live,
                                toast: true,
                                anchor: ends,
                                peer: None,
                            },
                            out,
                        );
                        ctx.message_sound = true;
                    }
                }
                let bits = self.sessions.get(&sid).map_or(0, |e| e.notes);
                self.reconcile_reply_window(sid, ends, WithdrawReason::Reassigned, bits, now, out);
            }
            TimerKey::RequestExpiry(rid) => {
                let Some(r) = self.requests.get(&rid).cloned() else {
                    return;
                };
                if r.status != RequestStatus::Pending {
                    return;
                }
                if Some(r.requested_by) == self.me {
                    let mut expired = r.clone();
                    expired.status = RequestStatus::Expired;
                    self.show_outcome(&expired, now, out);
                    let op = WriteOp::ExpireRequest {
                        request: rid,
                        etag: r.etag.clone(),
                    };
                    self.issue(op, None, now, out);
                }
                let old = Some(r);
                self.reconcile_request(rid, old.as_ref(), now, ctx, out);
            }
        }
    }

    fn on_write_back_done(
        &mut self,
        id: CommandId,
        outcome: WriteBackOutcome,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let _ = ctx;
        let Some(command) = self.pending.remove(&id) else {
            return;
        };
        let claimed = command.op.claims_session();
        let opens = match &command.op {
            WriteOp::TakeOwnership { session, .. } => Some(*session),
            WriteOp::AnswerRequest {
                accept: true,
                request,
                ..
            } => self.requests.get(request).map(|r| r.session),
            _ => None,
        };
        match outcome {
            WriteBackOutcome::Done => {
                if let Some(s) = opens {
                    out.push(Effect::OpenChat(s));
                }
            }
            WriteBackOutcome::TooLate(refusal) => {
                if let Some(s) = claimed {
                    self.claimed.remove(&s);
                }
                let attempt = command.op.attempt();
                let request = match &command.op {
                    WriteOp::AnswerRequest { request, .. }
                    | WriteOp::WithdrawRequest { request, .. }
                    | WriteOp::ExpireRequest { request, .. } => self.requests.get(request),
                    _ => None,
                };
                let requester = request.map(|r| self.name_of(r.requested_by));
                let target = request.map(|r| self.name_of(r.requested_to));
                let body = refusal.words(
                    attempt,
                    &|u, given| self.best_name(u, given),
                    requester.as_deref(),
                    target.as_deref(),
                );
                if attempt == Attempt::ExpireRequest {
                    // Nobody acted: the request's real end comes with the next sync.
                    return;
                }
                let mut actions = vec![Action::Open];
                if refusal.offers_block_anyway(attempt) {
                    actions.push(Action::BlockAnyway);
                }
                actions.push(Action::Dismiss);
                self.show_info(&command, "Too late", body, actions, now, out);
                // A request refused for its chat's sake is still pending: it
                // stays in the panel (the refusal's toast says enough).
                if attempt == Attempt::AnswerRequest && refusal.leaves_request_pending() {
                    self.revive(command.origin, false, now, out);
                }
            }
            WriteBackOutcome::Refused { message } | WriteBackOutcome::Failed { message } => {
                if let Some(s) = claimed {
                    self.claimed.remove(&s);
                }
                self.show_info(
                    &command,
                    "Could not do that",
                    clip(&message, PREVIEW_CHARS),
                    vec![Action::Open, Action::Dismiss],
                    now,
                    out,
                );
                // Nothing lost: the item the action came from is live again.
                self.revive(command.origin, true, now, out);
            }
        }
    }

    /// R15: a chat of mine that someone else's Block closed (a colleague chose
    /// "Block anyway", or blocked the number in Dynamics): I am told, rather than
    /// finding it gone.
    fn tell_owner_of_block(&mut self, touch: &Touch, now: Ts, out: &mut Vec<Effect>) {
        let Some(entry) = self.sessions.get(&touch.id) else {
            return;
        };
        let row = &entry.row;
        let mine = self.me.is_some_and(|m| row.owner == Owner::User(m));
        let my_block = self
            .pending
            .values()
            .any(|c| matches!(&c.op, WriteOp::BlockNumber { session, .. } if *session == touch.id));
        if !mine || !touch.was_open || row.status != SessionStatus::Blocked || my_block {
            return;
        }
        let name = clip(&row.name, NAME_CHARS);
        self.show(
            Notification {
                key: NotificationKey::Blocked(touch.id),
                kind: NotificationKind::NumberBlocked,
                session: Some(touch.id),
                title: format!("Number blocked: {name}"),
                body: "The customer's number was blocked, so this chat of yours is closed."
                    .to_string(),
                actions: vec![Action::Open, Action::Dismiss],
                count: 0,
                created_at: now,
                updated_at: now,
                state: Lifecycle::Live,
                toast: true,
                anchor: None,
                peer: None,
            },
            out,
        );
    }

    /// Makes the item an action came from live again, if that action closed it;
    /// with a toast again when `toast`.
    fn revive(
        &mut self,
        origin: Option<NotificationKey>,
        toast: bool,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let Some(origin) = origin else {
            return;
        };
        if let Some(shared) = self.notifications.get_mut(&origin) {
            if matches!(shared.state, Lifecycle::ActedOn { .. }) {
                let n = Arc::make_mut(shared);
                n.state = Lifecycle::Live;
                n.updated_at = now;
                n.toast = toast;
                out.push(Effect::Show(shared.clone()));
                self.sync_note_bits(&origin);
            }
        }
    }

    /// The best name known for `u`: the engine's, else the one Dynamics gave
    /// with a row (the engine may not have met that agent yet).
    fn best_name(&self, u: UserId, given: Option<&str>) -> String {
        match (self.agent_name(&u), given) {
            (Some(known), _) if !known.trim().is_empty() => known.to_string(),
            (_, Some(given)) if !given.trim().is_empty() => clip(given, NAME_CHARS),
            _ => self.name_of(u),
        }
    }

    fn show_info(
        &mut self,
        command: &Command,
        title: &str,
        body: String,
        actions: Vec<Action>,
        now: Ts,
        out: &mut Vec<Effect>,
    ) {
        let session = match &command.op {
            WriteOp::TakeOwnership { session, .. } | WriteOp::BlockNumber { session, .. } => {
                Some(*session)
            }
            WriteOp::AnswerRequest { request, .. }
            | WriteOp::WithdrawRequest { request, .. }
            | WriteOp::ExpireRequest { request, .. } => {
                self.requests.get(request).map(|r| r.session)
            }
        };
        self.show(
            Notification {
                key: NotificationKey::Info(command.id),
                kind: NotificationKind::ActionFailed,
                session,
                title: title.to_string(),
                body,
                actions,
                count: 0,
                created_at: now,
                updated_at: now,
                state: Lifecycle::Live,
                toast: true,
                anchor: None,
                peer: None,
            },
            out,
        );
    }

    // ----- small helpers ---------------------------------------------------------------

    fn name_of(&self, id: UserId) -> String {
        self.agents
            .get(&id)
            .map(|a| clip(&a.full_name, NAME_CHARS))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Another agent".to_string())
    }

    fn show(&mut self, n: Notification, out: &mut Vec<Effect>) {
        let n = Arc::new(n);
        out.push(Effect::Show(n.clone()));
        self.insert_note(n);
    }

    fn close(&mut self, key: NotificationKey, state: Lifecycle, out: &mut Vec<Effect>) {
        if let Some(n) = self.notifications.get_mut(&key) {
            let n = Arc::make_mut(n);
            n.state = state;
            n.toast = false;
            if n.kind == NotificationKind::IncomingCall {
                if let Some(s) = n.session {
                    out.push(Effect::StopRinging(s));
                }
            }
            out.push(Effect::Close { key, state });
            self.sync_note_bits(&key);
        }
    }

    fn close_if_live(&mut self, key: NotificationKey, state: Lifecycle, out: &mut Vec<Effect>) {
        if self.note_live(&key) {
            self.close(key, state, out);
        }
    }

    fn close_session_notifications(
        &mut self,
        id: SessionId,
        reason: WithdrawReason,
        out: &mut Vec<Effect>,
    ) {
        for key in session_keys(id) {
            self.close_if_live(key, Lifecycle::Withdrawn { reason }, out);
        }
    }

    /// Checks the engine's own bookkeeping after an event: the unread count is
    /// the number of sessions that count as unread (R3), as they stand now; each
    /// notification is filed under its own key; the count last reported is the
    /// current one. For property tests and fuzz targets: `Err` says what is off.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let counted = self.sessions.values().filter(|e| e.counted).count();
        if usize::try_from(self.unread).ok() != Some(counted) {
            return Err(format!(
                "unread is {} but {counted} sessions are counted",
                self.unread
            ));
        }
        for (id, entry) in &self.sessions {
            if entry.counted != self.counts_as_unread(entry) {
                return Err(format!(
                    "session {id}: counted {} but counts as unread {}",
                    entry.counted, !entry.counted
                ));
            }
        }
        for (id, entry) in &self.sessions {
            if entry.notes != self.probe_notes(*id) {
                return Err(format!(
                    "session {id}: notification bits {:#06x}, but the notifications say {:#06x}",
                    entry.notes,
                    self.probe_notes(*id)
                ));
            }
            for key in [TimerKey::Idle(*id), TimerKey::ReplyWindow(*id)] {
                let mirror = match key {
                    TimerKey::ReplyWindow(_) => entry.reply_at,
                    _ => entry.idle_at,
                };
                if mirror != self.timers.get(&key).copied() {
                    return Err(format!(
                        "{key:?}: the session says {mirror:?}, the timers {:?}",
                        self.timers.get(&key)
                    ));
                }
            }
        }
        for (key, n) in &self.notifications {
            if n.key != *key {
                return Err(format!("notification {} filed under {key}", n.key));
            }
        }
        if self.reported_unread.is_some_and(|r| r != self.unread) {
            return Err(format!(
                "reported {:?} unread, but it is {}",
                self.reported_unread, self.unread
            ));
        }
        Ok(())
    }

    /// R3: is this session in the tray's count?
    fn counts_as_unread(&self, entry: &SessionEntry) -> bool {
        let row = &entry.row;
        row.unread_count > 0 && !self.dismissed.contains(&row.id) && self.chat_kind(row).is_some()
    }

    fn refresh_unread(&mut self, id: SessionId) {
        let Some(entry) = self.sessions.get(&id) else {
            return;
        };
        let counts = self.counts_as_unread(entry);
        if counts != entry.counted {
            if counts {
                self.unread += 1;
            } else {
                self.unread -= 1;
            }
            if let Some(entry) = self.sessions.get_mut(&id) {
                entry.counted = counts;
            }
        }
    }

    /// A notification, skipping the look-up when its session says it has none.
    fn note(&self, key: &NotificationKey) -> Option<&Arc<Notification>> {
        if let Some((sid, bit)) = note_bit(key) {
            if self.sessions.get(&sid).is_some_and(|e| e.notes & bit == 0) {
                debug_assert!(!self.notifications.contains_key(key));
                return None;
            }
        }
        self.notifications.get(key)
    }

    /// Whether the notification exists and is live, from the session's bits when
    /// it has them.
    fn note_live(&self, key: &NotificationKey) -> bool {
        if let Some((sid, bit)) = note_bit(key) {
            if let Some(e) = self.sessions.get(&sid) {
                let live = e.notes & (bit << LIVE_SHIFT) != 0;
                debug_assert_eq!(
                    live,
                    self.notifications.get(key).is_some_and(|n| n.is_live())
                );
                return live;
            }
        }
        self.notifications.get(key).is_some_and(|n| n.is_live())
    }

    /// Bring the session's bits in line after a notification's state changed.
    fn sync_note_bits(&mut self, key: &NotificationKey) {
        if let Some((sid, bit)) = note_bit(key) {
            let bits = self.notifications.get(key).map_or(0, |n| note_bits(bit, n));
            if let Some(e) = self.sessions.get_mut(&sid) {
                e.notes = (e.notes & !(bit | bit << LIVE_SHIFT)) | bits;
            }
        }
    }

    fn insert_note(&mut self, n: Arc<Notification>) {
        if let Some((sid, bit)) = note_bit(&n.key) {
            if let Some(e) = self.sessions.get_mut(&sid) {
                e.notes = (e.notes & !(bit << LIVE_SHIFT)) | note_bits(bit, &n);
            }
        }
        self.notifications.insert(n.key, n);
    }

    /// Which per-session notifications exist for a session seen for the first time.
    fn probe_notes(&self, sid: SessionId) -> Bits {
        session_keys(sid)
            .iter()
            .filter_map(|k| Some(note_bits(note_bit(k)?.1, self.notifications.get(k)?)))
            .fold(0, |acc, bits| acc | bits)
    }

    fn report_unread(&mut self, out: &mut Vec<Effect>) {
        let n = self.unread();
        if self.reported_unread != Some(n) {
            self.reported_unread = Some(n);
            out.push(Effect::SetUnread(n));
        }
    }
}

impl WriteOp {
    /// The session this command moves to me, if it does.
    pub fn claims_session(&self) -> Option<SessionId> {
        match self {
            WriteOp::TakeOwnership { session, .. } => Some(*session),
            WriteOp::AnswerRequest { take_session, .. } => take_session.as_ref().map(|(s, _)| *s),
            _ => None,
        }
    }
}

fn non_blank(reason: Option<String>) -> Result<String, ActionError> {
    match reason {
        Some(r) if !r.trim().is_empty() => Ok(r.trim().to_string()),
        _ => Err(ActionError::ReasonRequired),
    }
}

/// At most `max` characters of `s`, on one line, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    clip_into(&mut out, s, max);
    out
}

/// Whether every byte is printable ASCII (0x20..0x7f). No early exit, so that the
/// compiler can check many bytes at a time (the texts are short).
fn printable_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(0u8, |bad, &b| bad | u8::from(b.wrapping_sub(0x20) >= 0x5f))
        == 0
}

/// [`clip`], appending to `out`.
pub fn clip_into(out: &mut String, s: &str, max: usize) {
    // Fast path: short, printable ASCII goes in as it is.
    if s.len() <= max && printable_ascii(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    out.reserve(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            return;
        }
        // Control characters and bidirectional overrides would let a stranger's
        // text break lines or reorder what the agent reads.
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        out.push(if c.is_control() || bidi { ' ' } else { c });
    }
}

/// A stand-in for a row lent out of its entry (see `reconcile_session`); it
/// allocates nothing.
fn placeholder_row(id: SessionId) -> Session {
    Session {
        id,
        name: String::new(),
        number: String::new(),
        channel: Channel::WhatsApp,
        config: ConfigId(uuid::Uuid::nil()),
        owner: Owner::Team(TeamId(uuid::Uuid::nil())),
        accepted_on: None,
        first_contact: false,
        last_customer_message_on: None,
        last_agent_message_on: None,
        last_message_preview: String::new(),
        unread_count: 0,
        call_state: CallState::None,
        call_started_on: None,
        active: false,
        status: SessionStatus::Closed,
        modified_on: Ts(0),
        etag: String::new(),
    }
}

/// `*old = new`, keeping the old row's string buffers: a text that did not change
/// stays as it is and a changed one is copied into the old buffer when it fits, so
/// a sync does not free (and later allocate) each string of the row it replaces.
fn assign_row(old: &mut Session, new: Session) {
    let Session {
        id,
        name,
        number,
        channel,
        config,
        owner,
        accepted_on,
        first_contact,
        last_customer_message_on,
        last_agent_message_on,
        last_message_preview,
        unread_count,
        call_state,
        call_started_on,
        active,
        status,
        modified_on,
        etag,
    } = new;
    old.id = id;
    assign_str(&mut old.name, name);
    assign_str(&mut old.number, number);
    old.channel = channel;
    old.config = config;
    old.owner = owner;
    old.accepted_on = accepted_on;
    old.first_contact = first_contact;
    old.last_customer_message_on = last_customer_message_on;
    old.last_agent_message_on = last_agent_message_on;
    assign_str(&mut old.last_message_preview, last_message_preview);
    old.unread_count = unread_count;
    old.call_state = call_state;
    old.call_started_on = call_started_on;
    old.active = active;
    old.status = status;
    old.modified_on = modified_on;
    assign_str(&mut old.etag, etag);
}

fn assign_str(old: &mut String, new: String) {
    if *old == new {
        return;
    }
    if old.capacity() >= new.len() {
        old.clear();
        old.push_str(&new);
    } else {
        *old = new;
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::WhatsApp => "WhatsApp",
        Channel::Sms => "SMS",
    }
}

/// `format!("Incoming call: {}", clip(&row.name, NAME_CHARS))`, in one allocation.
fn call_title(row: &Session) -> String {
    let mut title = String::with_capacity(16 + row.name.len().min(NAME_CHARS * 4) + 3);
    title.push_str("Incoming call: ");
    clip_into(&mut title, &row.name, NAME_CHARS);
    title
}

/// `format!("{} call from {}", channel_name(row.channel), clip(&row.number, 32))`,
/// in one allocation.
fn call_body(row: &Session) -> String {
    let channel = channel_name(row.channel);
    let mut body = String::with_capacity(channel.len() + 11 + row.number.len().min(32 * 4) + 3);
    body.push_str(channel);
    body.push_str(" call from ");
    clip_into(&mut body, &row.number, 32);
    body
}

fn chat_title(kind: NotificationKind, row: &Session) -> String {
    let mut title = String::with_capacity(96);
    if kind == NotificationKind::NewConversation {
        title.push_str("New ");
        title.push_str(channel_name(row.channel));
        title.push_str(" chat: ");
        clip_into(&mut title, &row.name, NAME_CHARS);
    } else {
        clip_into(&mut title, &row.name, NAME_CHARS);
        title.push_str(" (");
        title.push_str(channel_name(row.channel));
        title.push(')');
    }
    title
}

/// A chat notification's body, in `body` (cleared first).
fn chat_body_into(body: &mut String, count: u32, preview: &str) {
    body.clear();
    if count > 1 {
        push_u32(body, count);
        body.push_str(" new messages · ");
    }
    clip_into(body, preview, PREVIEW_CHARS);
}

/// `n` in decimal, as `write!(s, "{n}")` writes it, without the formatting machinery.
fn push_u32(s: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        s.push(char::from(d));
    }
}

fn chat_actions(kind: NotificationKind, row: &Session) -> Vec<Action> {
    match kind {
        NotificationKind::NewConversation if row.first_contact => {
            vec![Action::Open, Action::Accept, Action::Dismiss, Action::Block]
        }
        NotificationKind::NewConversation => vec![Action::Open, Action::Accept],
        _ => vec![Action::Open],
    }
}
