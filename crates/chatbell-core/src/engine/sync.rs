//! Rows from Dynamics: applying a batch, and the walk over every session it
//! touched, family by family (see [`SESSION_FAMILIES`]).

use super::*;

impl Engine {
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

    pub(super) fn reconcile_session(
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
}
