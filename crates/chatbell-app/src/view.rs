//! The state of the panel and of `chatbell status --json`, in the JSON shape the
//! panel is written against (see `Status`).

use chatbell_core::{
    Action, Engine, Notification, NotificationKey, NotificationKind, RequestKind, Session, Ts,
};
use serde::{Deserialize, Serialize};

/// One notification as the panel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationView {
    /// The notification key's text form (`chat:<uuid>`), for `act`.
    pub id: String,
    pub kind: String,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub title: String,
    pub body: String,
    pub actions: Vec<Action>,
    pub count: u32,
    pub created_at: String,
    pub updated_at: String,
    pub live: bool,
    pub state: String,
    /// WhatsApp sessions: the last customer message + 24 h (R20).
    pub reply_window_ends_at: Option<String>,
}

/// The device code to show while signing in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInPrompt {
    pub user_code: String,
    pub verification_uri: String,
    pub expires_at: String,
}

/// Where ChatBell stands with Dynamics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    Online,
    Offline,
    Connecting,
    SignedOut,
    NotConfigured,
}

/// Whether the sign-in survives a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Keychain,
    MemoryOnly,
}

/// Who is signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub name: String,
    pub username: String,
}

/// An Assign or Discuss request of mine still waiting for an answer (R8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequestView {
    pub request_id: String,
    pub session_name: String,
    /// The agent asked.
    pub to: String,
    /// "assign" or "discuss".
    pub kind: String,
}

/// Everything the panel and the tray show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub unread: u32,
    pub connection: Connection,
    pub signin: Option<SignInPrompt>,
    /// A browser sign-in is waiting for the browser to come back.
    pub browser_signin: bool,
    pub account: Option<AccountView>,
    pub demo: bool,
    pub dnd_active: bool,
    pub muted: bool,
    pub storage: Storage,
    pub storage_note: Option<String>,
    /// First run, in the demo: the panel asks for the agent's Dynamics org, or to
    /// keep the demo ([`crate::App::use_demo`] or [`crate::App::set_dynamics`]
    /// answer it).
    #[serde(default)]
    pub welcome: bool,
    pub my_pending_requests: Vec<PendingRequestView>,
    /// Live notifications, newest first.
    pub notifications: Vec<NotificationView>,
    /// What the org check found wrong with the org (a table, column, choice
    /// value or privilege the mapping needs; the clock), each with what to do.
    #[serde(default)]
    pub org_problems: Vec<String>,
    /// What the agent should know of the local cache: it cannot be written (a
    /// full disk; ChatBell keeps notifying) or it was rebuilt from Dynamics
    /// (damaged or deleted; what only it knew is lost). `None` when all is well.
    #[serde(default)]
    pub cache_note: Option<String>,
    /// This desktop's clock is far off Dynamics' (more than a minute): what
    /// to do about it. ChatBell keeps Dynamics' time meanwhile.
    #[serde(default)]
    pub clock_note: Option<String>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            unread: 0,
            connection: Connection::Connecting,
            signin: None,
            browser_signin: false,
            account: None,
            demo: false,
            dnd_active: false,
            muted: false,
            storage: Storage::MemoryOnly,
            storage_note: None,
            welcome: false,
            my_pending_requests: Vec::new(),
            notifications: Vec::new(),
            org_problems: Vec::new(),
            cache_note: None,
            clock_note: None,
        }
    }
}

/// ISO 8601 UTC with milliseconds (`2026-11-21T23:53:58.000Z`).
pub fn iso(ts: Ts) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ts.0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// ISO 8601 UTC of a wall-clock time.
pub fn iso_system(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The panel's notification kinds and actions as TypeScript (`ui/src/kinds.ts`),
/// rendered from the core's one definition of each ([`NotificationKind::info`],
/// [`Action::label`]). The committed file is checked against it by a test
/// (`tests/kinds.rs`), so a toast and the panel never name one thing two ways.
pub fn panel_kinds_typescript() -> String {
    fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
        names
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn record<'a>(rows: impl Iterator<Item = (&'a str, &'a str)>) -> String {
        rows.map(|(k, v)| format!("  {k}: {},\n", serde_json::json!(v)))
            .collect()
    }
    let kinds = NotificationKind::ALL;
    let actions = Action::ALL;
    let other_actions: Vec<Action> = actions.into_iter().filter(|a| *a != Action::Open).collect();
    let mut out = String::new();
    out.push_str(
        "// Generated from chatbell-core's notification kinds and actions\n\
         // (NotificationKind::info, Action::label): do not edit. After changing them,\n\
         // CHATBELL_BLESS=1 cargo test -p chatbell-app --test kinds writes this file anew.\n\n",
    );
    out.push_str("/** What the agent can do with a notification. */\n");
    out.push_str(&format!(
        "export type Action = {};\n\n",
        actions.map(|a| format!("\"{}\"", a.as_str())).join(" | ")
    ));
    out.push_str(
        "/** Every action, in the order the panel lays buttons out when it has to choose. */\n",
    );
    out.push_str(&format!(
        "export const ACTIONS: readonly Action[] = [{}];\n\n",
        quoted(actions.iter().map(|a| a.as_str()))
    ));
    out.push_str("/** What a notification is about. */\n");
    out.push_str(&format!(
        "export type Kind = {};\n\n",
        kinds.map(|k| format!("\"{}\"", k.wire())).join(" | ")
    ));
    out.push_str("/** Every kind. */\n");
    out.push_str(&format!(
        "export const KINDS: readonly Kind[] = [{}];\n\n",
        quoted(kinds.iter().map(|k| k.wire()))
    ));
    out.push_str("/** The word above an item of each kind. */\n");
    out.push_str("export const KIND_LABELS: Record<Kind, string> = {\n");
    out.push_str(&record(kinds.iter().map(|k| (k.wire(), k.info().label))));
    out.push_str("};\n\n");
    out.push_str("/** The label of each kind's main action, \"open\". */\n");
    out.push_str("export const OPEN_LABELS: Record<Kind, string> = {\n");
    out.push_str(&record(
        kinds.iter().map(|k| (k.wire(), Action::Open.label(*k))),
    ));
    out.push_str("};\n\n");
    out.push_str("/** Every other action's label, the same on every kind. */\n");
    out.push_str("export const ACTION_LABELS: Record<Exclude<Action, \"open\">, string> = {\n");
    out.push_str(&record(other_actions.iter().map(|a| {
        let label = a.label(NotificationKind::NewConversation);
        debug_assert!(kinds.iter().all(|k| a.label(*k) == label), "{a:?}");
        (a.as_str(), label)
    })));
    out.push_str("};\n");
    out
}

impl NotificationView {
    /// The view of `n`; `session` is the session it is about, if known.
    pub fn new(n: &Notification, session: Option<&Session>) -> NotificationView {
        let request_id = match n.key {
            NotificationKey::Request(r) | NotificationKey::Outcome(r) => Some(r.to_string()),
            _ => None,
        };
        NotificationView {
            id: n.key.to_string(),
            kind: n.kind.wire().to_string(),
            session_id: n.session.map(|s| s.to_string()),
            request_id,
            title: n.title.clone(),
            body: n.body.clone(),
            actions: n.actions.clone(),
            count: n.count,
            created_at: iso(n.created_at),
            updated_at: iso(n.updated_at),
            live: n.is_live(),
            state: n.state.tag().to_string(),
            reply_window_ends_at: session.and_then(Session::reply_window_ends_at).map(iso),
        }
    }
}

/// The live notifications, newest first.
pub fn live_notifications(engine: &Engine) -> Vec<NotificationView> {
    let mut live = engine.live_notifications();
    live.reverse();
    live.into_iter()
        .map(|n| NotificationView::new(n, n.session.and_then(|s| engine.session(&s))))
        .collect()
}

/// My requests still waiting for an answer, oldest first.
pub fn my_pending_requests(engine: &Engine) -> Vec<PendingRequestView> {
    engine
        .my_pending_requests()
        .into_iter()
        .map(|r| PendingRequestView {
            request_id: r.id.to_string(),
            session_name: engine
                .session(&r.session)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            to: engine
                .agent_name(&r.requested_to)
                .map(str::to_string)
                .unwrap_or_else(|| r.requested_to.to_string()),
            kind: match r.kind {
                RequestKind::Assign => "assign",
                RequestKind::Discuss => "discuss",
            }
            .to_string(),
        })
        .collect()
}

impl Status {
    /// Takes what the engine says: unread count, live notifications, my requests, muted.
    pub fn update_from_engine(&mut self, engine: &Engine) {
        self.unread = engine.unread();
        self.muted = engine.is_muted();
        self.notifications = live_notifications(engine);
        self.my_pending_requests = my_pending_requests(engine);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chatbell_core::*;

    fn session(channel: Channel, last_customer: Option<Ts>) -> Session {
        Session {
            id: SessionId::from_u128(1),
            name: "Ana".into(),
            number: "+5511999990001".into(),
            channel,
            config: ConfigId::from_u128(1),
            owner: Owner::User(UserId::from_u128(9)),
            accepted_on: None,
            first_contact: false,
            last_customer_message_on: last_customer,
            last_agent_message_on: None,
            last_message_preview: "hi".into(),
            unread_count: 1,
            call_state: CallState::None,
            call_started_on: None,
            active: true,
            status: SessionStatus::Open,
            modified_on: Ts(0),
            etag: "1".into(),
        }
    }

    fn note(key: NotificationKey, kind: NotificationKind) -> Notification {
        Notification {
            key,
            kind,
            session: key.session(),
            title: "Ana".into(),
            body: "hi".into(),
            actions: vec![Action::Open, Action::Accept],
            count: 2,
            created_at: Ts(1_763_769_238_000),
            updated_at: Ts(1_763_769_239_500),
            state: Lifecycle::Updated,
            toast: true,
            anchor: None,
            peer: None,
        }
    }

    #[test]
    fn notification_view_has_the_panel_json_shape() {
        let s = session(Channel::WhatsApp, None);
        let n = note(
            NotificationKey::Chat(s.id),
            NotificationKind::NewConversation,
        );
        let v = serde_json::to_value(NotificationView::new(&n, Some(&s))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": format!("chat:{}", s.id),
                "kind": "new_conversation",
                "session_id": s.id.to_string(),
                "request_id": null,
                "title": "Ana",
                "body": "hi",
                "actions": ["open", "accept"],
                "count": 2,
                "created_at": "2025-11-21T23:53:58.000Z",
                "updated_at": "2025-11-21T23:53:59.500Z",
                "live": true,
                "state": "updated",
                "reply_window_ends_at": null,
            })
        );
        let r = RequestId::from_u128(5);
        let v = NotificationView::new(
            &note(NotificationKey::Request(r), NotificationKind::AssignRequest),
            None,
        );
        assert_eq!(v.request_id, Some(r.to_string()));
        assert_eq!(v.kind, "assign_request");
    }

    #[test]
    fn r20_reply_window_ends_24h_after_the_last_customer_message() {
        let last = Ts(1_763_769_238_000);
        let s = session(Channel::WhatsApp, Some(last));
        let n = note(NotificationKey::Chat(s.id), NotificationKind::NewMessage);
        let v = NotificationView::new(&n, Some(&s));
        assert_eq!(
            v.reply_window_ends_at.as_deref(),
            Some("2025-11-22T23:53:58.000Z")
        );
        // SMS has no such window.
        let sms = session(Channel::Sms, Some(last));
        assert_eq!(
            NotificationView::new(&n, Some(&sms)).reply_window_ends_at,
            None
        );
    }

    #[test]
    fn status_has_the_panel_json_shape() {
        let st = Status {
            connection: Connection::SignedOut,
            storage: Storage::Keychain,
            signin: Some(SignInPrompt {
                user_code: "ABCD".into(),
                verification_uri: "https://microsoft.com/devicelogin".into(),
                expires_at: iso(Ts(0)),
            }),
            my_pending_requests: vec![PendingRequestView {
                request_id: "r".into(),
                session_name: "Ana".into(),
                to: "Riley".into(),
                kind: "assign".into(),
            }],
            ..Status::default()
        };
        let v = serde_json::to_value(&st).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec![
            "unread",
            "connection",
            "signin",
            "browser_signin",
            "account",
            "demo",
            "dnd_active",
            "muted",
            "storage",
            "storage_note",
            "welcome",
            "my_pending_requests",
            "notifications",
            "org_problems",
            "cache_note",
            "clock_note",
        ];
        expected.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(keys, expected);
        assert_eq!(v["connection"], "signed_out");
        assert_eq!(v["storage"], "keychain");
        assert_eq!(v["signin"]["expires_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["my_pending_requests"][0]["kind"], "assign");
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, st);
    }
}
