//! Toasts against a real notification server on a private D-Bus session bus: the
//! server records every Notify and CloseNotification and clicks like a person
//! would (ActionInvoked, then NotificationClosed).
#![allow(clippy::unwrap_used)]

use chatbell_core::*;
use chatbell_desktop::toast::{ToastEvent, Toasts, KEY_HINT};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use zbus::OwnedVariant;

#[derive(Clone, Debug, PartialEq)]
enum Call {
    Notify {
        replaces: u32,
        summary: String,
        body: String,
        actions: Vec<String>,
        timeout: i32,
        /// The notification key hint.
        key: Option<String>,
    },
    Close(u32),
}

struct Server {
    calls: Arc<Mutex<Vec<Call>>>,
    next: u32,
    markup: bool,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    fn get_capabilities(&self) -> Vec<String> {
        let mut caps = vec!["actions".to_string(), "body".to_string()];
        if self.markup {
            caps.push("body-markup".into());
        }
        caps
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        _app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedVariant>,
        expire_timeout: i32,
    ) -> u32 {
        let key = hints
            .get(KEY_HINT)
            .and_then(|v| v.try_clone().ok())
            .and_then(|v| String::try_from(v).ok());
        self.calls.lock().unwrap().push(Call::Notify {
            replaces: replaces_id,
            summary,
            body,
            actions,
            timeout: expire_timeout,
            key,
        });
        if replaces_id != 0 {
            return replaces_id;
        }
        self.next += 1;
        self.next
    }

    fn close_notification(&self, id: u32) {
        self.calls.lock().unwrap().push(Call::Close(id));
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("test".into(), "chatbell".into(), "1".into(), "1.2".into())
    }
}

/// A private session bus, ended on drop.
struct Bus(Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn private_bus() -> (Bus, String) {
    let mut child = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon (package dbus) runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Bus(child), line.trim().to_string())
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn notification(
    key: NotificationKey,
    kind: NotificationKind,
    body: &str,
    actions: Vec<Action>,
) -> Notification {
    Notification {
        key,
        kind,
        session: key.session(),
        title: "Ana Souza".into(),
        body: body.into(),
        actions,
        count: 1,
        created_at: Ts(0),
        updated_at: Ts(0),
        state: Lifecycle::Live,
        toast: true,
        anchor: None,
        peer: None,
    }
}

#[test]
fn toasts_show_update_in_place_report_clicks_and_close() {
    let (_bus, address) = private_bus();
    // Only this test runs in this binary: the variable is read by every D-Bus
    // connection made below.
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let server = Server {
        calls: calls.clone(),
        next: 0,
        markup: true,
    };
    let conn = zbus::block_on(async {
        zbus::connection::Builder::address(address.as_str())
            .name("org.freedesktop.Notifications")
            .serve_at("/org/freedesktop/Notifications", server)
            .build()
            .await
    })
    .unwrap();

    let (tx, events) = mpsc::channel();
    let toasts = Toasts::connect("ChatBell", tx);
    assert!(toasts.capabilities().actions);
    assert!(toasts.capabilities().body_markup);

    // R2/R9: a new conversation with its actions; hostile text escaped (markup server).
    let chat = NotificationKey::Chat(SessionId::from_u128(1));
    let mut n = notification(
        chat,
        NotificationKind::NewConversation,
        "<b>hi</b> & bye",
        vec![Action::Open, Action::Accept, Action::Dismiss, Action::Block],
    );
    toasts.show(&n);
    let first = wait_for("Notify", || calls.lock().unwrap().first().cloned());
    assert_eq!(
        first,
        Call::Notify {
            replaces: 0,
            summary: "Ana Souza".into(),
            body: "&lt;b&gt;hi&lt;/b&gt; &amp; bye".into(),
            actions: [
                "default",
                "View chat",
                "accept",
                "Accept",
                "dismiss",
                "Dismiss",
                "block",
                "Block number"
            ]
            .map(String::from)
            .to_vec(),
            timeout: -1,
            key: Some(chat.to_string()),
        }
    );

    // R16: an update replaces the toast in place.
    n.body = "second message".into();
    n.count = 2;
    toasts.show(&n);
    let second = wait_for("the update", || calls.lock().unwrap().get(1).cloned());
    assert!(
        matches!(second, Call::Notify { replaces: 1, ref body, .. } if body == "second message")
    );

    // A click on Accept comes back as the action, once.
    zbus::block_on(conn.emit_signal(
        None::<&str>,
        "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications",
        "ActionInvoked",
        &(1u32, "accept"),
    ))
    .unwrap();
    let event = events.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        event,
        ToastEvent::Invoked {
            key: chat,
            action: Action::Accept
        }
    );
    wait_for("the toast forgotten", || {
        toasts.keys().is_empty().then_some(())
    });

    // R5: a call waits for a decision (no expiry); R12: a plain click opens.
    let call = NotificationKey::Call(SessionId::from_u128(2));
    toasts.show(&notification(
        call,
        NotificationKind::IncomingCall,
        "ringing",
        vec![Action::Open, Action::Dismiss],
    ));
    let third = wait_for("the call", || calls.lock().unwrap().get(2).cloned());
    assert!(
        matches!(
            third,
            Call::Notify {
                timeout: 0,
                replaces: 0,
                ..
            }
        ),
        "{third:?}"
    );
    zbus::block_on(conn.emit_signal(
        None::<&str>,
        "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications",
        "ActionInvoked",
        &(2u32, "default"),
    ))
    .unwrap();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(10)).unwrap(),
        ToastEvent::Invoked {
            key: call,
            action: Action::Open
        }
    );

    // A withdrawn notification closes its toast.
    let offer = NotificationKey::Offer(SessionId::from_u128(3));
    toasts.show(&notification(
        offer,
        NotificationKind::AssignToMe,
        "idle",
        vec![Action::Open, Action::Yes, Action::No],
    ));
    wait_for("the offer", || calls.lock().unwrap().get(3).cloned());
    toasts.close(&offer);
    let closed = wait_for("CloseNotification", || {
        calls.lock().unwrap().get(4).cloned()
    });
    assert_eq!(closed, Call::Close(3));

    // R14/R16: a run that ends without closing its toasts (a crash) leaves them
    // to the next run, which updates and closes them rather than stacking more.
    let dir = std::env::temp_dir().join(format!("chatbell-toast-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let memory = dir.join("toasts-on-screen");
    let request = NotificationKey::Offer(SessionId::from_u128(4));
    let withdrawn = NotificationKey::Chat(SessionId::from_u128(5));
    {
        let (tx, _events) = mpsc::channel();
        let crashed = Toasts::connect_remembering("ChatBell", tx, &memory);
        crashed.show(&notification(
            request,
            NotificationKind::AssignToMe,
            "idle for 5 minutes",
            vec![Action::Open, Action::Yes, Action::No],
        ));
        wait_for("the first run's toast", || {
            calls.lock().unwrap().get(5).cloned()
        });
        crashed.show(&notification(
            withdrawn,
            NotificationKind::NewConversation,
            "taken by a colleague while ChatBell was down",
            vec![Action::Open, Action::Accept],
        ));
        wait_for("the first run's second toast", || {
            calls.lock().unwrap().get(6).cloned()
        });
    }
    let (tx, events) = mpsc::channel();
    let next = Toasts::connect_remembering("ChatBell", tx, &memory);
    let mut kept = next.keys();
    kept.sort();
    let mut both = vec![request, withdrawn];
    both.sort();
    assert_eq!(kept, both, "the toasts left on screen are taken back");
    // The restored cache has only the offer live: the other toast goes.
    next.keep_only(&[request]);
    let closed = wait_for("the stale toast closed", || {
        calls.lock().unwrap().get(7).cloned()
    });
    assert_eq!(closed, Call::Close(5));
    assert_eq!(next.keys(), vec![request]);
    next.show(&notification(
        request,
        NotificationKind::AssignToMe,
        "idle for 6 minutes",
        vec![Action::Open, Action::Yes, Action::No],
    ));
    let update = wait_for("the update", || calls.lock().unwrap().get(8).cloned());
    assert!(
        matches!(update, Call::Notify { replaces: 4, ref body, .. } if body == "idle for 6 minutes"),
        "{update:?}"
    );
    // A click on the toast the last run showed reaches this run.
    zbus::block_on(conn.emit_signal(
        None::<&str>,
        "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications",
        "ActionInvoked",
        &(4u32, "yes"),
    ))
    .unwrap();
    assert_eq!(
        events.recv_timeout(Duration::from_secs(10)).unwrap(),
        ToastEvent::Invoked {
            key: request,
            action: Action::Yes
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(conn);
}
