//! Bookkeeping every family shares: which notifications a session has (its bits),
//! showing and closing notifications, timers, the tray count, and the engine's
//! own consistency check.

use super::*;

/// A session's notification bits: which of its notifications exist (low byte)
/// and which of those are live (high byte).
pub(super) type Bits = u16;

/// The bit of a per-session notification key in [`SessionEntry::notes`]; the
/// same bit shifted left by [`LIVE_SHIFT`] says the notification is live.
pub(super) const LIVE_SHIFT: u32 = 8;

pub(super) const CHAT_BIT: Bits = 1;

pub(super) const CALL_BIT: Bits = 2;

pub(super) const OFFER_BIT: Bits = 4;

pub(super) const ASSIGNED_BIT: Bits = 8;

pub(super) const REPLY_BIT: Bits = 16;

/// Every notification key that belongs to one session.
pub(super) fn session_keys(id: SessionId) -> [NotificationKey; 5] {
    [
        NotificationKey::Chat(id),
        NotificationKey::Call(id),
        NotificationKey::Offer(id),
        NotificationKey::Assigned(id),
        NotificationKey::ReplyWindow(id),
    ]
}

/// The existence and liveness bits of a notification under `bit`.
pub(super) fn note_bits(bit: Bits, n: &Notification) -> Bits {
    bit | if n.is_live() { bit << LIVE_SHIFT } else { 0 }
}

pub(super) fn note_bit(key: &NotificationKey) -> Option<(SessionId, Bits)> {
    match key {
        NotificationKey::Chat(s) => Some((*s, CHAT_BIT)),
        NotificationKey::Call(s) => Some((*s, CALL_BIT)),
        NotificationKey::Offer(s) => Some((*s, OFFER_BIT)),
        NotificationKey::Assigned(s) => Some((*s, ASSIGNED_BIT)),
        NotificationKey::ReplyWindow(s) => Some((*s, REPLY_BIT)),
        _ => None,
    }
}

impl Engine {
    pub(super) fn set_timer(&mut self, key: TimerKey, at: Option<Ts>, out: &mut Vec<Effect>) {
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

    pub(super) fn name_of(&self, id: UserId) -> String {
        self.agents
            .get(&id)
            .map(|a| clip(&a.full_name, NAME_CHARS))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Another agent".to_string())
    }

    /// The best name known for `u`: the engine's, else the one Dynamics gave
    /// with a row (the engine may not have met that agent yet).
    pub(super) fn best_name(&self, u: UserId, given: Option<&str>) -> String {
        match (self.agent_name(&u), given) {
            (Some(known), _) if !known.trim().is_empty() => known.to_string(),
            (_, Some(given)) if !given.trim().is_empty() => clip(given, NAME_CHARS),
            _ => self.name_of(u),
        }
    }

    pub(super) fn show(&mut self, n: Notification, out: &mut Vec<Effect>) {
        let n = Arc::new(n);
        out.push(Effect::Show(n.clone()));
        self.insert_note(n);
    }

    pub(super) fn close(&mut self, key: NotificationKey, state: Lifecycle, out: &mut Vec<Effect>) {
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

    pub(super) fn close_if_live(
        &mut self,
        key: NotificationKey,
        state: Lifecycle,
        out: &mut Vec<Effect>,
    ) {
        if self.note_live(&key) {
            self.close(key, state, out);
        }
    }

    pub(super) fn close_session_notifications(
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

    /// A notification, skipping the look-up when its session says it has none.
    pub(super) fn note(&self, key: &NotificationKey) -> Option<&Arc<Notification>> {
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
    pub(super) fn note_live(&self, key: &NotificationKey) -> bool {
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
    pub(super) fn sync_note_bits(&mut self, key: &NotificationKey) {
        if let Some((sid, bit)) = note_bit(key) {
            let bits = self.notifications.get(key).map_or(0, |n| note_bits(bit, n));
            if let Some(e) = self.sessions.get_mut(&sid) {
                e.notes = (e.notes & !(bit | bit << LIVE_SHIFT)) | bits;
            }
        }
    }

    pub(super) fn insert_note(&mut self, n: Arc<Notification>) {
        if let Some((sid, bit)) = note_bit(&n.key) {
            if let Some(e) = self.sessions.get_mut(&sid) {
                e.notes = (e.notes & !(bit << LIVE_SHIFT)) | note_bits(bit, &n);
            }
        }
        self.notifications.insert(n.key, n);
    }

    /// Which per-session notifications exist for a session seen for the first time.
    pub(super) fn probe_notes(&self, sid: SessionId) -> Bits {
        session_keys(sid)
            .iter()
            .filter_map(|k| Some(note_bits(note_bit(k)?.1, self.notifications.get(k)?)))
            .fold(0, |acc, bits| acc | bits)
    }

    pub(super) fn report_unread(&mut self, out: &mut Vec<Effect>) {
        let n = self.unread();
        if self.reported_unread != Some(n) {
            self.reported_unread = Some(n);
            out.push(Effect::SetUnread(n));
        }
    }
}
