//! A small org and a desk to drive the engine from, as Dynamics and an agent would.
#![allow(dead_code, clippy::unwrap_used)]

use chatbell_core::*;

pub const T0: Ts = Ts(1_800_000_000_000);

pub const ME: UserId = UserId::from_u128(1);
pub const ALICE: UserId = UserId::from_u128(2);
pub const BOB: UserId = UserId::from_u128(3);
pub const OUTSIDER: UserId = UserId::from_u128(4);

pub const DEFAULT_TEAM: TeamId = TeamId::from_u128(100);
pub const ASSIGNED_TEAM: TeamId = TeamId::from_u128(101);
pub const OTHER_TEAM: TeamId = TeamId::from_u128(102);

pub const WA: ConfigId = ConfigId::from_u128(200);
pub const SMS: ConfigId = ConfigId::from_u128(201);

pub const IDLE: Span = Span::minutes(5);
pub const REQUEST_TIMEOUT: Span = Span::minutes(10);

pub fn sid(n: u128) -> SessionId {
    SessionId::from_u128(1000 + n)
}

pub fn rid(n: u128) -> RequestId {
    RequestId::from_u128(5000 + n)
}

pub fn agents() -> Vec<Change> {
    [
        (ME, "Me Myself"),
        (ALICE, "Alice Adams"),
        (BOB, "Bob Brown"),
        (OUTSIDER, "Olga Outside"),
    ]
    .into_iter()
    .map(|(id, name)| {
        Change::Agent(Agent {
            id,
            full_name: name.into(),
            email: format!(
                "{}@example.com",
                name.split(' ').next().unwrap().to_lowercase()
            ),
        })
    })
    .collect()
}

pub fn whatsapp_config() -> Configuration {
    Configuration {
        id: WA,
        name: "WhatsApp".into(),
        channel: Channel::WhatsApp,
        default_team: DEFAULT_TEAM,
        assigned_team: Some(ASSIGNED_TEAM),
        idle_timeout: IDLE,
        request_timeout: REQUEST_TIMEOUT,
        system_notification: true,
    }
}

pub fn sms_config() -> Configuration {
    Configuration {
        id: SMS,
        name: "SMS".into(),
        channel: Channel::Sms,
        default_team: DEFAULT_TEAM,
        assigned_team: None,
        idle_timeout: IDLE,
        request_timeout: REQUEST_TIMEOUT,
        system_notification: false,
    }
}

/// A session row as Dynamics would send it.
pub fn session(n: u128, config: ConfigId, owner: Owner) -> Session {
    let channel = if config == SMS {
        Channel::Sms
    } else {
        Channel::WhatsApp
    };
    Session {
        id: sid(n),
        name: format!("Customer {n}"),
        number: format!("+3161234{n:04}"),
        channel,
        config,
        owner,
        // An agent's session was taken well before the test begins.
        accepted_on: match owner {
            Owner::User(_) => Some(T0 - Span::hours(1)),
            Owner::Team(_) => None,
        },
        first_contact: false,
        last_customer_message_on: None,
        last_agent_message_on: None,
        last_message_preview: String::new(),
        unread_count: 0,
        call_state: CallState::None,
        call_started_on: None,
        active: true,
        status: SessionStatus::Open,
        modified_on: T0,
        etag: "W/\"1\"".into(),
    }
}

/// The agent's desk: an engine, a clock, and every effect it produced.
pub struct Desk {
    pub engine: Engine,
    pub now: Ts,
    pub log: Vec<Effect>,
    next_msg: u128,
    etag: u64,
}

impl Desk {
    /// Me, eligible for both channels (a member of the default and the assigned team).
    pub fn new() -> Self {
        Self::with_teams(vec![DEFAULT_TEAM, ASSIGNED_TEAM])
    }

    pub fn with_teams(teams: Vec<TeamId>) -> Self {
        Self::as_agent(ME, teams)
    }

    pub fn as_agent(me: UserId, teams: Vec<TeamId>) -> Self {
        let mut d = Desk {
            engine: Engine::new(Some(me)),
            now: T0,
            log: Vec::new(),
            next_msg: 0,
            etag: 1,
        };
        let mut changes = agents();
        changes.push(Change::Configuration(whatsapp_config()));
        changes.push(Change::Configuration(sms_config()));
        changes.push(Change::MyTeams(teams));
        d.sync(changes);
        d.log.clear();
        d
    }

    pub fn advance(&mut self, by: Span) {
        self.now = self.now + by;
    }

    pub fn handle(&mut self, e: Event) -> Vec<Effect> {
        let out = self.engine.handle(e, self.now).expect("event accepted");
        self.log.extend(out.iter().cloned());
        out
    }

    pub fn try_handle(&mut self, e: Event) -> Result<Vec<Effect>, ActionError> {
        let out = self.engine.handle(e, self.now)?;
        self.log.extend(out.iter().cloned());
        Ok(out)
    }

    pub fn sync(&mut self, changes: Vec<Change>) -> Vec<Effect> {
        self.handle(Event::Sync {
            changes,
            mode: SyncMode::Live,
        })
    }

    pub fn catch_up(&mut self, changes: Vec<Change>) -> Vec<Effect> {
        self.handle(Event::Sync {
            changes,
            mode: SyncMode::CatchUp,
        })
    }

    /// Acts on `key`, and Dynamics answers the one write-back that sends with
    /// `outcome`: what follows.
    pub fn act_answered(
        &mut self,
        key: NotificationKey,
        action: Action,
        outcome: WriteBackOutcome,
    ) -> Vec<Effect> {
        let sent = Desk::write_back(&self.act(key, action).expect("the action is taken"));
        self.handle(Event::WriteBackDone {
            command: sent.id,
            outcome,
        })
    }

    pub fn act(
        &mut self,
        key: NotificationKey,
        action: Action,
    ) -> Result<Vec<Effect>, ActionError> {
        self.try_handle(Event::Act {
            key,
            action,
            reason: None,
        })
    }

    pub fn act_with_reason(
        &mut self,
        key: NotificationKey,
        action: Action,
        reason: &str,
    ) -> Result<Vec<Effect>, ActionError> {
        self.try_handle(Event::Act {
            key,
            action,
            reason: Some(reason.to_string()),
        })
    }

    /// Fire every timer the engine armed that is due now, as the scheduler would.
    pub fn fire_due_timers(&mut self) -> Vec<Effect> {
        let due: Vec<TimerKey> = {
            let mut v: Vec<(Ts, TimerKey)> = self
                .engine
                .armed_timers()
                .filter(|(_, t)| **t <= self.now)
                .map(|(k, t)| (*t, *k))
                .collect();
            v.sort();
            v.into_iter().map(|(_, k)| k).collect()
        };
        let mut out = Vec::new();
        for k in due {
            out.extend(self.handle(Event::TimerFired(k)));
        }
        out
    }

    /// A customer message in the session: the message row, and the session row as
    /// the add-on's plug-in updates it (preview, unread + 1).
    pub fn customer_writes(&mut self, s: &mut Session, body: &str) -> Vec<Effect> {
        let changes = self.customer_message_changes(s, body);
        self.sync(changes)
    }

    pub fn customer_message_changes(&mut self, s: &mut Session, body: &str) -> Vec<Change> {
        self.next_msg += 1;
        let m = Message {
            id: MessageId::from_u128(900_000 + self.next_msg),
            session: s.id,
            direction: Direction::FromCustomer,
            body: body.to_string(),
            created_on: self.now,
            created_by: None,
        };
        s.last_customer_message_on = Some(self.now);
        s.last_message_preview = body.to_string();
        s.unread_count += 1;
        self.bump(s);
        vec![Change::Session(s.clone()), Change::Message(m)]
    }

    /// The owner (or another agent) replies: unread back to 0.
    pub fn agent_writes(&mut self, s: &mut Session, by: UserId, body: &str) -> Vec<Effect> {
        self.next_msg += 1;
        let m = Message {
            id: MessageId::from_u128(900_000 + self.next_msg),
            session: s.id,
            direction: Direction::FromAgent,
            body: body.to_string(),
            created_on: self.now,
            created_by: Some(by),
        };
        s.last_agent_message_on = Some(self.now);
        s.last_message_preview = body.to_string();
        s.unread_count = 0;
        self.bump(s);
        self.sync(vec![Change::Session(s.clone()), Change::Message(m)])
    }

    /// Dynamics moves the session to a new owner.
    pub fn owner_becomes(&mut self, s: &mut Session, owner: Owner) -> Vec<Effect> {
        s.owner = owner;
        if let Owner::User(_) = owner {
            s.accepted_on.get_or_insert(self.now);
        }
        self.bump(s);
        self.sync(vec![Change::Session(s.clone())])
    }

    pub fn bump(&mut self, s: &mut Session) {
        self.etag += 1;
        s.etag = format!("W/\"{}\"", self.etag);
        s.modified_on = self.now;
    }

    pub fn notification(&self, key: NotificationKey) -> Option<&Notification> {
        self.engine.notification(&key)
    }

    pub fn live(&self, key: NotificationKey) -> bool {
        self.notification(key).is_some_and(|n| n.is_live())
    }

    pub fn state(&self, key: NotificationKey) -> Option<Lifecycle> {
        self.notification(key).map(|n| n.state)
    }

    /// The only write-back in `effects`.
    pub fn write_back(effects: &[Effect]) -> Command {
        let v: Vec<&Command> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::WriteBack(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(
            v.len(),
            1,
            "exactly one write-back expected in {effects:#?}"
        );
        v[0].clone()
    }
}

impl Default for Desk {
    fn default() -> Self {
        Self::new()
    }
}

pub fn shows(effects: &[Effect]) -> Vec<&Notification> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Show(n) => Some(&**n),
            _ => None,
        })
        .collect()
}

pub fn toasts(effects: &[Effect]) -> Vec<&Notification> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Show(n) | Effect::Update(n) if n.toast => Some(&**n),
            _ => None,
        })
        .collect()
}

pub fn updates(effects: &[Effect]) -> Vec<&Notification> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Update(n) => Some(&**n),
            _ => None,
        })
        .collect()
}

pub fn closes(effects: &[Effect]) -> Vec<(NotificationKey, Lifecycle)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Close { key, state } => Some((*key, *state)),
            _ => None,
        })
        .collect()
}

pub fn unread_set(effects: &[Effect]) -> Option<u32> {
    effects.iter().rev().find_map(|e| match e {
        Effect::SetUnread(n) => Some(*n),
        _ => None,
    })
}

pub fn count_sounds(effects: &[Effect], kind: SoundKind) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::PlaySound(k) if *k == kind))
        .count()
}

pub fn withdrawn(reason: WithdrawReason) -> Lifecycle {
    Lifecycle::Withdrawn { reason }
}

pub fn request(
    n: u128,
    kind: RequestKind,
    session: SessionId,
    by: UserId,
    to: UserId,
    created: Ts,
) -> ChatRequest {
    ChatRequest {
        id: rid(n),
        kind,
        session,
        requested_by: by,
        requested_to: to,
        status: RequestStatus::Pending,
        reason: Some("Can you take this one?".into()),
        expires_on: None,
        created_on: created,
        modified_on: created,
        etag: "W/\"1\"".into(),
    }
}
