//! The control socket over a real Unix socket.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use chatbell_app::control::{
    self, BoxFuture, ControlError, ControlServer, Handler, Patience, Request,
};
use chatbell_app::view::Status;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Answers like the app, and remembers what it was asked.
#[derive(Default)]
struct Fake {
    asked: Mutex<Vec<Request>>,
}

impl Handler for Fake {
    fn handle(&self, request: Request) -> BoxFuture<'_, Value> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(request.clone());
            match request {
                Request::Status => serde_json::to_value(Status::default()).unwrap(),
                Request::Act { action, .. } if action == "reject" => {
                    control::error("a reason is required")
                }
                _ => control::ok(),
            }
        })
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn control_status_answers_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("control.sock");
    let fake = Arc::new(Fake::default());
    let server = ControlServer::bind(&path, fake.clone()).await.unwrap();
    let answer = control::request(&path, &Request::Status).await.unwrap();
    let status: Status = serde_json::from_value(answer).unwrap();
    assert_eq!(status, Status::default());
    let act = Request::Act {
        id: "chat:00000000-0000-0000-0000-000000000001".into(),
        action: "reject".into(),
        reason: Some("busy".into()),
    };
    assert_eq!(
        control::request(&path, &act).await.unwrap(),
        json!({"ok": false, "error": "a reason is required"})
    );
    assert_eq!(
        control::request(&path, &Request::Ping).await.unwrap(),
        json!({"ok": true})
    );
    assert_eq!(fake.asked.lock().unwrap()[1], act);
    server.shutdown().await;
    assert!(!path.exists(), "the socket file is removed at shutdown");
}

#[tokio::test]
async fn control_socket_refuses_other_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&path, Arc::new(Fake::default()))
        .await
        .unwrap();
    // Only this user can even reach it...
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&path), 0o600);
    server.shutdown().await;

    // ...and a peer whose credentials are another user's is refused, whatever it asks.
    let other = control::my_uid().wrapping_add(1);
    let fake = Arc::new(Fake::default());
    let server = ControlServer::bind_for_uid(&path, fake.clone(), other)
        .await
        .unwrap();
    let answer = control::request(&path, &Request::Status).await.unwrap();
    assert_eq!(answer["ok"], false);
    assert!(
        answer["error"].as_str().unwrap().contains("refused"),
        "{answer}"
    );
    assert!(
        fake.asked.lock().unwrap().is_empty(),
        "nothing reached the handler"
    );
    assert!(control::peer_allowed(1000, 1000));
    assert!(!control::peer_allowed(1001, 1000));
    server.shutdown().await;
}

async fn exchange(stream: &mut BufReader<UnixStream>, line: &[u8]) -> Option<Value> {
    stream.get_mut().write_all(line).await.ok()?;
    let mut answer = String::new();
    let n = stream.read_line(&mut answer).await.ok()?;
    (n > 0).then(|| serde_json::from_str(&answer).unwrap())
}

#[tokio::test]
async fn control_malformed_input_gets_an_error_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let server = ControlServer::bind(&path, Arc::new(Fake::default()))
        .await
        .unwrap();
    let mut s = BufReader::new(UnixStream::connect(&path).await.unwrap());
    for bad in [
        &b"not json\n"[..],
        b"{\"cmd\":\"format_disk\"}\n",
        b"{\"cmd\":\"act\"}\n",
        b"[1,2,3]\n",
        b"\xff\xfe\n",
        b"{\"cmd\":\"act\",\"id\":1,\"action\":[]}\n",
    ] {
        let a = exchange(&mut s, bad).await.unwrap();
        assert_eq!(a["ok"], false, "{bad:?}: {a}");
    }
    // The same connection still serves a good request.
    assert_eq!(
        exchange(&mut s, b"{\"cmd\":\"ping\"}\n").await.unwrap()["ok"],
        true
    );

    // A line over the cap: an error answer, then the connection is closed.
    let mut long = vec![b'x'; control::MAX_LINE + 10];
    long.push(b'\n');
    let a = exchange(&mut s, &long).await.unwrap();
    assert!(a["error"].as_str().unwrap().contains("longer"), "{a}");
    // The server still serves others.
    assert_eq!(
        control::request(&path, &Request::Ping).await.unwrap()["ok"],
        true
    );
    server.shutdown().await;
}

#[tokio::test]
async fn control_stale_socket_is_replaced_and_a_live_one_means_already_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    // A crashed instance leaves its socket file behind: nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = ControlServer::bind(&path, Arc::new(Fake::default()))
        .await
        .unwrap();
    assert_eq!(
        control::request(&path, &Request::Ping).await.unwrap()["ok"],
        true
    );

    // A second instance finds the first one answering.
    match ControlServer::bind(&path, Arc::new(Fake::default())).await {
        Err(ControlError::AlreadyRunning(p)) => assert_eq!(p, path),
        other => panic!("expected already running, got {other:?}"),
    }
    server.shutdown().await;

    // No instance: the client says so.
    assert!(matches!(
        control::request(&path, &Request::Ping).await,
        Err(ControlError::NotRunning { .. })
    ));
    // A regular file is never deleted to make room.
    std::fs::write(&path, b"mine").unwrap();
    assert!(matches!(
        ControlServer::bind(&path, Arc::new(Fake::default())).await,
        Err(ControlError::NotASocket(_))
    ));
}

#[tokio::test]
async fn cli_commands_go_through_the_control_socket() {
    use chatbell_app::cli;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Not running: exit code 2.
    assert_eq!(cli::run(&args(&["ping"]), &path).await.code, 2);
    let server = ControlServer::bind(&path, Arc::new(Fake::default()))
        .await
        .unwrap();
    let out = cli::run(&args(&["status", "--json"]), &path).await;
    assert_eq!(out.code, 0, "{out:?}");
    let s: Status = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(s, Status::default());
    let out = cli::run(&args(&["status"]), &path).await;
    assert!(out.stdout.contains("0 unread"), "{out:?}");
    let out = cli::run(
        &args(&[
            "act",
            "chat:00000000-0000-0000-0000-000000000001",
            "reject",
            "--reason",
            "x",
        ]),
        &path,
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("a reason is required"), "{out:?}");
    assert_eq!(cli::run(&args(&["bogus"]), &path).await.code, 2);
    server.shutdown().await;
}

/// A ChatBell stopped with SIGSTOP, or stuck before its accept loop: it listens,
/// the kernel queues the connections, and nobody takes them. Kept while alive.
fn never_accepts(path: &Path) -> UnixListener {
    UnixListener::bind(path).unwrap()
}

/// A ChatBell stuck while serving: it takes every connection and reads the
/// requests, and never writes an answer.
fn reads_never_writes(path: &Path) -> tokio::task::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(_)) = lines.next_line().await {}
            });
        }
    })
}

/// The message for a ChatBell with this pid (the test's own: it is the server).
fn not_answering() -> String {
    format!(
        "ChatBell is running (pid {}) but not answering",
        std::process::id()
    )
}

/// The longest a client may wait on a stuck ChatBell with `p`: the connection,
/// the answer, and one ping on another connection. Tests allow three times that.
fn bound(p: Patience) -> Duration {
    p.connect * 2 + p.answer * 2
}

/// `f`'s output, which must come within three times `limit`: a client that
/// waits longer (or forever) fails the test.
async fn within<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit * 3, f).await {
        Ok(out) => out,
        Err(_) => panic!("still waiting after 3 x {limit:?}"),
    }
}

const SHORT: Patience = Patience {
    connect: Duration::from_millis(500),
    answer: Duration::from_millis(500),
};

fn act() -> Request {
    Request::Act {
        id: "chat:00000000-0000-0000-0000-000000000001".into(),
        action: "accept".into(),
        reason: None,
    }
}

#[tokio::test]
async fn a_stuck_chatbell_is_not_answering_and_named_by_its_pid() {
    let dir = tempfile::tempdir().unwrap();
    let stopped = dir.path().join("stopped.sock");
    let _stopped = never_accepts(&stopped);
    let stuck = dir.path().join("stuck.sock");
    let _stuck = reads_never_writes(&stuck);
    // A status is answered from memory; an action may take long, but a ChatBell
    // at work still answers a ping, and a stuck one does not.
    for path in [&stopped, &stuck] {
        for req in [Request::Status, act()] {
            let e = within(bound(SHORT), control::request_with(path, &req, SHORT))
                .await
                .unwrap_err();
            match &e {
                ControlError::NotAnswering { pid, .. } => {
                    assert_eq!(*pid, Some(std::process::id()), "{path:?} {req:?}")
                }
                other => panic!("{path:?} {req:?}: expected not answering, got {other:?}"),
            }
            assert_eq!(e.to_string(), not_answering());
        }
    }
}

/// Answers pings at once, and an action once it was pinged meanwhile.
#[derive(Default)]
struct Busy {
    pinged: tokio::sync::Notify,
}

impl Handler for Busy {
    fn handle(&self, request: Request) -> BoxFuture<'_, Value> {
        Box::pin(async move {
            if let Request::Act { .. } = request {
                self.pinged.notified().await;
            } else {
                self.pinged.notify_one();
            }
            control::ok()
        })
    }
}

#[tokio::test]
async fn a_busy_chatbell_that_answers_pings_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let server = ControlServer::bind(&path, Arc::new(Busy::default()))
        .await
        .unwrap();
    // Generous for the ping on a loaded machine.
    let patience = Patience {
        connect: Duration::from_secs(2),
        answer: Duration::from_secs(2),
    };
    assert_eq!(
        within(
            patience.answer + bound(patience),
            control::request_with(&path, &act(), patience)
        )
        .await
        .unwrap(),
        json!({"ok": true})
    );
    server.shutdown().await;
}

// The clock stands still while nothing happens: the command line's own bound
// passes at once.
#[tokio::test(start_paused = true)]
async fn cli_gives_up_on_a_stuck_chatbell_with_its_pid() {
    use chatbell_app::cli;
    let dir = tempfile::tempdir().unwrap();
    let stopped = dir.path().join("stopped.sock");
    let _stopped = never_accepts(&stopped);
    let stuck = dir.path().join("stuck.sock");
    let _stuck = reads_never_writes(&stuck);
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let status = args(&["status"]);
    let ping = args(&["ping"]);
    let accept = args(&["act", "chat:00000000-0000-0000-0000-000000000001", "accept"]);
    // The command line's own patience.
    let (a, b, c) = within(bound(Patience::DEFAULT), async {
        tokio::join!(
            cli::run(&status, &stopped),
            cli::run(&ping, &stuck),
            cli::run(&accept, &stuck)
        )
    })
    .await;
    for out in [a, b, c] {
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(out.stderr, format!("{}\n", not_answering()));
        assert_eq!(out.stdout, "");
    }
}

// The clock stands still while nothing happens: the command line's own bound
// passes at once.
#[tokio::test(start_paused = true)]
async fn doctor_reports_a_stuck_chatbell_as_a_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let _stopped = never_accepts(&path);
    let (ok, detail) = within(
        bound(Patience::DEFAULT),
        chatbell_app::doctor::running_at(&path),
    )
    .await;
    assert!(!ok);
    assert_eq!(detail, not_answering());
    // Not running at all is no failure.
    let (ok, detail) = chatbell_app::doctor::running_at(&dir.path().join("none.sock")).await;
    assert!(ok);
    assert_eq!(detail, "not running");
}

// The clock stands still while nothing happens: the command line's own bound
// passes at once.
#[tokio::test(start_paused = true)]
async fn a_second_start_beside_a_stuck_chatbell_says_so_and_does_not_start() {
    use chatbell_app::{AppError, AppOptions, Paths};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let _stuck = reads_never_writes(&path);
    let paths = Paths::new(dir.path().join("config.toml"), dir.path().join("data"));
    let options = AppOptions {
        keychain: false,
        autostart: false,
        ..AppOptions::default()
    };
    let second = within(
        bound(Patience::DEFAULT),
        chatbell_app::headless::run(
            paths,
            Arc::new(chatbell_app::LogShell),
            options,
            Some(path.clone()),
            async {},
            |_| panic!("a second ChatBell must not start beside a stuck one"),
        ),
    )
    .await;
    match second {
        Err(e @ AppError::Control(ControlError::NotAnswering { .. })) => {
            assert_eq!(e.to_string(), not_answering())
        }
        other => panic!("expected not answering, got {other:?}"),
    }
    assert!(path.exists(), "the stuck one's socket is left alone");
    assert!(
        !dir.path().join("data").exists(),
        "its data dir is not touched"
    );
}

/// Linux queues one connection on a listener with a backlog of 0, and refuses
/// the next with EAGAIN: as a stuck ChatBell's full queue does.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_full_queue_is_not_answering_and_its_socket_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let socket = tokio::net::UnixSocket::new_stream().unwrap();
    socket.bind(&path).unwrap();
    let _listener = socket.listen(0).unwrap();
    let _queued = UnixStream::connect(&path).await.unwrap();
    match within(
        bound(SHORT),
        control::request_with(&path, &Request::Ping, SHORT),
    )
    .await
    {
        Err(e @ ControlError::NotAnswering { pid: None, .. }) => {
            assert_eq!(e.to_string(), "ChatBell is running but not answering")
        }
        other => panic!("expected not answering, got {other:?}"),
    }
    // Not a stale socket to replace.
    assert!(matches!(
        within(
            SHORT.connect,
            ControlServer::bind(&path, Arc::new(Fake::default()))
        )
        .await,
        Err(ControlError::NotAnswering { .. })
    ));
    assert!(path.exists());
}

/// A handler whose status the test sets.
struct Watched {
    status: tokio::sync::watch::Sender<Value>,
}

impl Handler for Watched {
    fn handle(&self, _request: Request) -> BoxFuture<'_, Value> {
        Box::pin(async { control::ok() })
    }
    fn watch(&self) -> Option<tokio::sync::watch::Receiver<Value>> {
        Some(self.status.subscribe())
    }
}

#[tokio::test]
async fn control_watch_streams_the_status_now_and_at_each_change_until_the_client_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("control.sock");
    let (tx, _) = tokio::sync::watch::channel(json!({"unread": 0}));
    let handler = Arc::new(Watched { status: tx });
    let server = ControlServer::bind(&path, handler.clone()).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = {
        let (path, seen) = (path.clone(), seen.clone());
        tokio::spawn(async move {
            control::watch(&path, |s| {
                let unread = s["unread"].as_u64().unwrap();
                seen.lock().unwrap().push(unread);
                unread < 2
            })
            .await
        })
    };
    // The status now, then each change.
    let got = |n: usize| {
        let seen = seen.clone();
        async move {
            within(Duration::from_secs(5), async {
                while seen.lock().unwrap().len() < n {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
        }
    };
    got(1).await;
    handler.status.send_replace(json!({"unread": 1}));
    got(2).await;
    // Nobody else is kept waiting by a watcher.
    assert_eq!(
        control::request(&path, &Request::Ping).await.unwrap(),
        json!({"ok": true})
    );
    handler.status.send_replace(json!({"unread": 2}));
    within(Duration::from_secs(5), watcher)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
    // The client left: the server stops following it.
    within(Duration::from_secs(5), async {
        while handler.status.receiver_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn control_watch_on_a_handler_with_nothing_to_watch_is_an_error_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&path, Arc::new(Fake::default()))
        .await
        .unwrap();
    let answer = control::request(&path, &Request::Watch).await.unwrap();
    assert_eq!(answer["ok"], false, "{answer}");
    server.shutdown().await;
}

#[tokio::test]
async fn control_panel_on_a_handler_without_panels_is_an_error_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&path, Arc::new(Fake::default()))
        .await
        .unwrap();
    let answer = control::request(&path, &Request::Panel).await.unwrap();
    assert_eq!(answer["ok"], false, "{answer}");
    let attached = control::attach_panel(&path, |_| true).await;
    assert!(
        matches!(attached, Err(ControlError::BadAnswer(_))),
        "{attached:?}"
    );
    server.shutdown().await;
}
