//! What ChatBell writes to its logs: never customer text.
#![allow(clippy::unwrap_used)]

use chatbell_app::{LogShell, Shell, Status};
use chatbell_core::present::Output;
use chatbell_core::{Action, Notification, NotificationKey, NotificationKind, SessionId, Ts};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A log writer into memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn log_shell_logs_a_toast_without_its_customer_text() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let session = SessionId::from_u128(0x6a4c1f0e_1111_2222_3333_444455556666);
    let toast = Notification::new(
        NotificationKey::Chat(session),
        NotificationKind::NewConversation,
        Some(session),
        (
            "Maria Jimenez-Okafor (+4915112345678)".into(),
            "my parcel 4711 never arrived".into(),
        ),
        vec![Action::Open],
        Ts(1_767_225_600_000),
    );
    tracing::subscriber::with_default(subscriber, || {
        LogShell.outputs(&[Output::Toast(Arc::new(toast))], &Status::default());
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("toast"), "{log}");
    assert!(
        log.contains("6a4c1f0e-1111-2222-3333-444455556666"),
        "the key stays: {log}"
    );
    for text in ["Maria", "Okafor", "4915112345678", "parcel"] {
        assert!(!log.contains(text), "{text:?} in the log: {log}");
    }
}
