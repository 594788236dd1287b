//! Rows from Dynamics: applying a batch, and the walk over every session it
//! touched, family by family (see [`SESSION_FAMILIES`]).

use super::*;

/// What every family needs to know of an open session that a batch touched,
/// worked out once before the families' parts run.
pub(super) struct SessionFacts {
    /// I may receive its chat notifications (R1).
    pub(super) eligible: bool,
    /// I own it.
    pub(super) mine: bool,
    /// What a new customer message in it is on my desk (R2, R4), if anything.
    pub(super) chat_kind: Option<NotificationKind>,
    /// Its configuration's "Enable System Notification" (R11).
    pub(super) system_notification: bool,
    pub(super) idle_timeout: Option<Span>,
    /// Since when its owner has left the customer waiting, where R6 could offer
    /// it to me ([`Engine::idle_start`]).
    pub(super) idle_start: Option<Ts>,
    /// The newest customer activity known.
    pub(super) last_customer: Option<Ts>,
    /// Which notifications it had, as it stood before the parts ran. Each part
    /// changes only its own notification's bits.
    pub(super) bits: Bits,
}

/// One session's reconciliation: its facts, its row as it is now, how it stood
/// before the batch, and the batch.
pub(super) struct Pass<'a> {
    pub(super) facts: SessionFacts,
    pub(super) row: Session,
    pub(super) touch: &'a Touch,
    pub(super) batch: &'a [Message],
    pub(super) mode: SyncMode,
    pub(super) now: Ts,
}

/// A rule family's part in reconciling an open session.
pub(super) type Part = fn(&mut Engine, &Pass<'_>, &mut Ctx, &mut Vec<Effect>);

/// Every family's part, in the order they run on an open session that changed.
pub(super) const SESSION_FAMILIES: &[(&str, Part)] = &[
    (
        "chats: take back what no longer fits (R2, R4)",
        Engine::withdraw_stale_chat,
    ),
    ("assigned to me (R7)", Engine::reconcile_assigned),
    (
        "chats: new customer messages (R2, R4, R9, R10, R16)",
        Engine::reconcile_new_messages,
    ),
    ("calls (R5)", Engine::reconcile_call),
    ("idle offers (R6)", Engine::reconcile_idle),
    ("reply window (R20)", Engine::reconcile_reply_part),
    ("the tray's count (R3)", Engine::reconcile_count),
];

impl Engine {
    /// Rows changed in Dynamics: the batch is applied, rows first and then
    /// messages in time order, and every session and request it touched is
    /// reconciled; a catch-up ends with its summary (R17).
    pub(super) fn on_sync(
        &mut self,
        changes: Vec<Change>,
        mode: SyncMode,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let mut touched = std::mem::take(&mut self.scratch_touched);
        touched.clear();
        let mut messages = std::mem::take(&mut self.scratch_messages);
        messages.clear();
        let (requests, everything) = self.apply_rows(changes, &mut touched, &mut messages, out);
        messages.sort_by_key(|m| (m.created_on, m.id));
        self.absorb_messages(&messages, &mut touched);
        let requests = if everything {
            self.touch_everything(&mut touched, requests)
        } else {
            requests
        };
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

    /// Applies a batch's rows, noting the sessions they touch (as they stood
    /// before), the requests with their old row, and the messages for later.
    /// Returns those requests, and whether a change (a configuration, my teams,
    /// an unblocked number) calls for every session to be looked at again.
    fn apply_rows(
        &mut self,
        changes: Vec<Change>,
        touched: &mut Touched,
        messages: &mut Vec<Message>,
        out: &mut Vec<Effect>,
    ) -> (Vec<(RequestId, Option<ChatRequest>)>, bool) {
        let mut requests = Vec::new();
        let mut everything = false;
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
                Change::Blocked(b) => self.apply_blocked(b, touched),
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
        (requests, everything)
    }

    /// A blocked number: the sessions of the number blocked now, and of the one
    /// this row blocked before, if it held another (it is free again), are
    /// looked at again.
    fn apply_blocked(&mut self, b: BlockedNumber, touched: &mut Touched) {
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

    /// The batch's messages, in time order, into their sessions' stats; a new
    /// customer message is noted on its session's touch (R16's count and text).
    fn absorb_messages(&mut self, messages: &[Message], touched: &mut Touched) {
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
    }

    /// Every session and request is looked at again (a configuration, my teams
    /// or a blocked number changed); returns the requests with the batch's own.
    fn touch_everything(
        &mut self,
        touched: &mut Touched,
        mut requests: Vec<(RequestId, Option<ChatRequest>)>,
    ) -> Vec<(RequestId, Option<ChatRequest>)> {
        let all: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in all {
            touched.add(self, id);
        }
        for id in self.requests.keys() {
            if !requests.iter().any(|(r, _)| r == id) {
                requests.push((*id, self.requests.get(id).cloned()));
            }
        }
        requests
    }

    /// Store a row that needs no per-session reconciliation.
    pub(super) fn apply_plain(&mut self, change: Change) {
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

    pub(super) fn unblock_number(&mut self, b: &BlockedNumber) {
        let key = (b.channel, b.number.clone());
        if let Some(n) = self.blocked_numbers.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.blocked_numbers.remove(&key);
            }
        }
    }

    pub(super) fn eligible(&self, c: &Configuration) -> bool {
        self.me.is_some()
            && self.my_teams.contains(&c.default_team)
            && c.assigned_team.is_none_or(|t| self.my_teams.contains(&t))
    }

    pub(super) fn session_eligible(&self, row: &Session) -> bool {
        self.configs
            .get(&row.config)
            .is_some_and(|c| self.eligible(c))
    }

    pub(super) fn is_blocked(&self, row: &Session) -> bool {
        !self.blocked_numbers.is_empty()
            && self
                .blocked_numbers
                .contains_key(&(row.channel, row.number.clone()))
    }

    pub(super) fn is_open(&self, row: &Session) -> bool {
        row.is_open() && !self.is_blocked(row)
    }

    /// Brings one session's notifications, timers and count in line with what is
    /// known of it now: a closed session loses everything; an open one goes
    /// through each family's part, in [`SESSION_FAMILIES`] order, on facts worked
    /// out once.
    pub(super) fn reconcile_session(
        &mut self,
        touch: &Touch,
        batch: &[Message],
        mode: SyncMode,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let Some(entry) = self.sessions.get(&touch.id) else {
            return;
        };
        if !self.is_open(&entry.row) {
            self.reconcile_closed(touch, now, out);
            return;
        }
        let pass = Pass {
            facts: self.facts(entry),
            row: entry.row.clone(),
            touch,
            batch,
            mode,
            now,
        };
        for (_, part) in SESSION_FAMILIES {
            part(self, &pass, ctx, out);
        }
    }

    /// A closed or blocked session: nothing of it stays up (R9), and its owner
    /// is told when someone else's Block closed it (R15).
    fn reconcile_closed(&mut self, touch: &Touch, now: Ts, out: &mut Vec<Effect>) {
        let id = touch.id;
        self.close_session_notifications(id, WithdrawReason::SessionClosed, out);
        self.set_timer(TimerKey::Idle(id), None, out);
        self.set_timer(TimerKey::ReplyWindow(id), None, out);
        self.refresh_unread(id);
        self.tell_owner_of_block(touch, now, out);
    }

    /// What every family needs to know of an open session.
    fn facts(&self, entry: &SessionEntry) -> SessionFacts {
        let row = &entry.row;
        let config = self.configs.get(&row.config);
        SessionFacts {
            eligible: config.is_some_and(|c| self.eligible(c)),
            mine: self.me.is_some_and(|m| row.owner == Owner::User(m)),
            chat_kind: self.chat_kind(row),
            system_notification: config.is_some_and(|c| c.system_notification),
            idle_timeout: config.map(|c| c.idle_timeout),
            idle_start: self.idle_start(entry),
            last_customer: entry.last_customer(),
            bits: entry.notes,
        }
    }
}
