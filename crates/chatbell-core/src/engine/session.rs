//! A session as the engine keeps it: its row, what its messages told, and how it
//! stood before a batch touched it.

use super::*;

#[derive(Clone, Debug)]
pub(super) struct SessionEntry {
    /// The row, inline: one pointer fewer to chase per event.
    pub(super) row: Session,
    /// The message stats, but for one of the newest customer message ids, kept
    /// in `newest_first` instead: the usual single id then needs no write to the
    /// vector's heap buffer (cold memory with many sessions) per message.
    pub(super) stats: MessageStats,
    pub(super) newest_first: Option<MessageId>,
    /// Which of the session's notification keys exist (see [`note_bit`]), and in
    /// the high nibble which of those are live, so that the common questions (is
    /// there one? is it live?) cost no look-up in the notifications map.
    pub(super) notes: Bits,
    /// Whether it is in the tray's count (R3).
    pub(super) counted: bool,
    /// Its idle deadline as armed (R6), mirroring the timers map.
    pub(super) idle_at: Option<Ts>,
    /// Its reply-window deadline as armed (R20), mirroring the timers map.
    pub(super) reply_at: Option<Ts>,
}

impl SessionEntry {
    /// The mirror of the session's deadline under `key` (a per-session timer).
    pub(super) fn deadline_mut(&mut self, key: TimerKey) -> &mut Option<Ts> {
        match key {
            TimerKey::ReplyWindow(_) => &mut self.reply_at,
            _ => &mut self.idle_at,
        }
    }

    pub(super) fn new(row: Session) -> Self {
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
    pub(super) fn last_customer(&self) -> Option<Ts> {
        self.stats
            .last_customer
            .max(self.row.last_customer_message_on)
    }

    /// Whether a customer message is news to the engine (not seen before).
    pub(super) fn is_new_customer_message(&self, m: &Message) -> bool {
        match self.stats.last_customer {
            None => true,
            Some(t) if m.created_on > t => true,
            Some(t) => m.created_on == t && !self.is_newest_customer_id(&m.id),
        }
    }

    /// Whether `id` is one of the customer messages at `stats.last_customer`.
    pub(super) fn is_newest_customer_id(&self, id: &MessageId) -> bool {
        self.newest_first.as_ref() == Some(id) || self.stats.newest_customer_ids.contains(id)
    }

    pub(super) fn last_agent(&self) -> Option<Ts> {
        self.stats.last_agent.max(self.row.last_agent_message_on)
    }

    pub(super) fn absorb_row(&mut self) {
        self.stats.last_agent = self.last_agent();
        self.forget_answered();
    }

    pub(super) fn absorb_message(&mut self, m: &Message) {
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

    pub(super) fn forget_answered(&mut self) {
        if let (Some(f), Some(a)) = (self.stats.first_unreplied, self.stats.last_agent) {
            if f <= a {
                self.stats.first_unreplied = None;
            }
        }
    }

    /// Since when the owner has left the customer waiting (R6): since the oldest
    /// unanswered customer message, or since the owner took the chat, whichever
    /// is later (a new owner gets the whole idle timeout).
    pub(super) fn idle_since(&self) -> Option<Ts> {
        let waiting = self.unreplied_since()?;
        Some(self.row.accepted_on.map_or(waiting, |t| t.max(waiting)))
    }

    /// Since when the customer has been waiting for a reply (R6), if they are.
    pub(super) fn unreplied_since(&self) -> Option<Ts> {
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
pub(super) struct Touch {
    pub(super) id: SessionId,
    pub(super) known: bool,
    pub(super) owner: Option<Owner>,
    /// Open (active, neither closed nor blocked) before the batch.
    pub(super) was_open: bool,
    /// The row's newest customer message time and unread count before the batch.
    pub(super) row_last_customer: Option<Ts>,
    pub(super) row_unread: u32,
    /// New customer messages the row does not reflect yet.
    pub(super) beyond_row: u32,
    /// The newest new customer message: its time and its index in the batch.
    pub(super) newest_body: Option<(Ts, usize)>,
}

/// The sessions a batch touched, in order, each with how it stood before.
#[derive(Default, Debug)]
pub(super) struct Touched {
    pub(super) list: Vec<Touch>,
    pub(super) index: Map<SessionId, usize>,
}

impl Touched {
    pub(super) fn clear(&mut self) {
        self.list.clear();
        self.index.clear();
    }

    pub(super) fn add(&mut self, engine: &Engine, id: SessionId) -> usize {
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

/// `*old = new`, keeping the old row's string buffers: a text that did not change
/// stays as it is and a changed one is copied into the old buffer when it fits, so
/// a sync does not free (and later allocate) each string of the row it replaces.
pub(super) fn assign_row(old: &mut Session, new: Session) {
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

pub(super) fn assign_str(old: &mut String, new: String) {
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

impl Engine {
    pub(super) fn touch_of(&self, id: SessionId) -> Touch {
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
}
