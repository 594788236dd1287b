//! The whole app in demo mode: the real emulator over loopback HTTP, a real SQLite
//! file in a temporary directory, a real Unix socket.
#![allow(clippy::unwrap_used)]

use chatbell_app::control::{self, ControlError, ControlServer, PanelLine, Request};
use chatbell_app::{App, AppOptions, Connection, Paths, Shell, Status};
use chatbell_core::present::Output;
use chatbell_core::NotificationKey;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records what the app asked the shell to do.
#[derive(Default)]
struct Recorder {
    outputs: Mutex<Vec<Output>>,
    statuses: Mutex<usize>,
    quits: Mutex<usize>,
    /// What each desk said was live when it opened.
    kept: Mutex<Vec<Vec<NotificationKey>>>,
    /// The pages opened in "the browser", and what each answered in the end.
    pages: Arc<Mutex<Vec<Page>>>,
}

/// A page the browser opened, and its final status and body once loaded.
type Page = (String, Option<(u16, String)>);

impl Shell for Recorder {
    fn outputs(&self, outputs: &[Output], _status: &Status) {
        self.outputs.lock().unwrap().extend_from_slice(outputs);
    }
    fn status_changed(&self, _status: &Status) {
        *self.statuses.lock().unwrap() += 1;
    }
    fn quit(&self) {
        *self.quits.lock().unwrap() += 1;
    }
    fn keep_only_toasts_of(&self, live: &[NotificationKey]) {
        self.kept.lock().unwrap().push(live.to_vec());
    }
    /// Plays the agent's browser: follows the sign-in page's redirects, back to
    /// ChatBell's loopback port.
    fn open_url(&self, url: &str) -> Result<(), String> {
        let i = {
            let mut pages = self.pages.lock().unwrap();
            pages.push((url.to_string(), None));
            pages.len() - 1
        };
        let (url, pages) = (url.to_string(), self.pages.clone());
        tokio::spawn(async move {
            let r = reqwest::get(url).await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            pages.lock().unwrap()[i].1 = Some((status, body));
        });
        Ok(())
    }
}

/// Polls `f` until it holds, or fails after `secs`.
async fn until<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// No keychain, no start-at-login entry: nothing outside the test's folder.
/// The demo org's program, as `cargo test --workspace` builds it (in the
/// target folder above this test's own); a message when it is missing.
fn use_the_built_emulator() {
    let exe = std::env::current_exe().unwrap();
    let program = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join(chatbell_app::demo::EMULATOR_PROGRAM))
        .unwrap();
    assert!(
        program.is_file(),
        "{} is missing: build it first (cargo build -p chatbell-emulator)",
        program.display()
    );
    // Every test sets the same value.
    std::env::set_var("CHATBELL_EMULATOR", &program);
}

#[test]
fn the_demo_signs_in_as_the_emulators_demo_agent() {
    assert_eq!(
        chatbell_app::demo::DEMO_AGENT_EMAIL,
        chatbell_emulator::DEMO_AGENT_EMAIL
    );
}

fn test_options() -> AppOptions {
    use_the_built_emulator();
    AppOptions {
        keychain: false,
        autostart: false,
        ..AppOptions::default()
    }
}

async fn demo_app(dir: &tempfile::TempDir) -> (App, Arc<Recorder>) {
    let paths = Paths::new(dir.path().join("config.toml"), dir.path().join("data"));
    let shell = Arc::new(Recorder::default());
    let app = App::start(paths, shell.clone(), test_options())
        .await
        .unwrap();
    (app, shell)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_signs_in_and_shows_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let (app, shell) = demo_app(&dir).await;
    let status = until(60, "online with notifications", || {
        let s = app.status();
        (s.connection == Connection::Online && !s.notifications.is_empty()).then_some(s)
    })
    .await;
    assert!(status.demo);
    let account = status.account.clone().expect("the demo agent is signed in");
    assert_eq!(account.username, chatbell_app::demo::DEMO_AGENT_EMAIL);
    assert_eq!(status.storage, chatbell_app::view::Storage::MemoryOnly);
    // Newest first.
    let times: Vec<&str> = status
        .notifications
        .iter()
        .map(|n| n.created_at.as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    assert!(status.notifications.iter().all(|n| n.live));
    assert!(shell
        .outputs
        .lock()
        .unwrap()
        .iter()
        .any(|o| matches!(o, Output::Badge(_))));
    assert!(*shell.statuses.lock().unwrap() > 0);
    // The cache is a real SQLite file in the data dir, and keeps the history.
    assert!(dir.path().join("data").join("demo.db").exists());
    assert!(!app.history(50).await.unwrap().is_empty());
    // Demo mode has no Dynamics link: the shell opens the panel.
    let sid = chatbell_core::SessionId::new_random();
    assert_eq!(app.deep_link(sid).await, None);
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panels_requests_go_through_the_control_socket_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = demo_app(&dir).await;
    let sock = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&sock, Arc::new(app.clone()))
        .await
        .unwrap();
    let ask = |r: Request| {
        let sock = sock.clone();
        async move { control::request(&sock, &r).await.unwrap() }
    };
    until(60, "the demo online with notifications", || {
        let s = app.status();
        (s.connection == Connection::Online && !s.notifications.is_empty()).then_some(())
    })
    .await;

    // Preferences: read, changed, read back; a wrong shape or value refused.
    let mut prefs = ask(Request::Preferences).await;
    assert_eq!(prefs["sounds"]["message"]["on"], true, "{prefs}");
    prefs["sounds"]["message"]["on"] = serde_json::json!(false);
    let answer = ask(Request::SetPreferences {
        prefs: prefs.clone(),
    })
    .await;
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(
        ask(Request::Preferences).await["sounds"]["message"]["on"],
        false
    );
    assert!(!app.panel_preferences().await.sounds.message.on);
    let answer = ask(Request::SetPreferences {
        prefs: serde_json::json!({"sounds": "loud"}),
    })
    .await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("preferences"),
        "{answer}"
    );

    // History: what the panel's history tab shows, bounded.
    let history = ask(Request::History { limit: 3 }).await;
    let items = history.as_array().expect("a list");
    assert!(!items.is_empty() && items.len() <= 3, "{history}");
    assert!(items[0]["id"].is_string(), "{history}");

    // A request that is not one is refused with the reason.
    let answer = ask(Request::WithdrawRequest {
        request_id: "not-a-request".into(),
        reason: "covered".into(),
    })
    .await;
    assert_eq!(answer["ok"], false, "{answer}");

    // A Dynamics address that is not one is refused; the demo goes on.
    let answer = ask(Request::SetDynamics {
        url: "not a url".into(),
        app_id: None,
    })
    .await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(app.status().demo);
    assert_eq!(ask(Request::CancelSignin).await["ok"], true);
    server.shutdown().await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn act_over_the_control_socket_reaches_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (app, shell) = demo_app(&dir).await;
    let sock = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&sock, Arc::new(app.clone()))
        .await
        .unwrap();

    let status = until(60, "a chat notification", || {
        let s = app.status();
        s.notifications
            .iter()
            .find(|n| n.session_id.is_some() && n.actions.contains(&chatbell_core::Action::Open))
            .cloned()
    })
    .await;
    // Over the socket: the status, as JSON.
    let answer = control::request(&sock, &Request::Status).await.unwrap();
    let via_socket: Status = serde_json::from_value(answer).unwrap();
    assert_eq!(via_socket.connection, Connection::Online);

    // Bad input is refused with a clear message.
    for (id, action, reason, expect) in [
        ("chat:nope", "open", None, "not a notification id"),
        (status.id.as_str(), "explode", None, "unknown action"),
        (
            status.id.as_str(),
            "reject",
            Some("x".repeat(2001)),
            "too long",
        ),
    ] {
        let a = control::request(
            &sock,
            &Request::Act {
                id: id.into(),
                action: action.into(),
                reason,
            },
        )
        .await
        .unwrap();
        assert_eq!(a["ok"], false, "{a}");
        assert!(a["error"].as_str().unwrap().contains(expect), "{a}");
    }

    // "Open" goes through the engine: it decides to open the chat (R12).
    let a = control::request(
        &sock,
        &Request::Act {
            id: status.id.clone(),
            action: "open".into(),
            reason: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(a, serde_json::json!({"ok": true}));
    let session: chatbell_core::SessionId = status.session_id.clone().unwrap().parse().unwrap();
    until(10, "the chat to open", || {
        shell
            .outputs
            .lock()
            .unwrap()
            .contains(&Output::OpenChat(session))
            .then_some(())
    })
    .await;

    // Sign out and in again over the socket (the demo approves the code itself).
    let a = control::request(&sock, &Request::Signout).await.unwrap();
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(app.status().connection, Connection::SignedOut);
    let a = control::request(&sock, &Request::Status).await.unwrap();
    assert_eq!(a["connection"], "signed_out");
    let prompt = control::request(&sock, &Request::Signin { browser: false })
        .await
        .unwrap();
    assert!(
        prompt["user_code"].as_str().is_some_and(|c| !c.is_empty()),
        "{prompt}"
    );
    until(30, "online again", || {
        (app.status().connection == Connection::Online).then_some(())
    })
    .await;

    server.shutdown().await;
    app.quit().await;
}

async fn app_with_config(dir: &tempfile::TempDir, config: &str) -> (App, Arc<Recorder>) {
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    demo_app(dir).await
}

/// The model-driven app id in the emulated org's configuration.
const APP_ID: &str = "6a4c1f0e-1111-2222-3333-444455556666";

/// The emulator playing the org and the sign-in authority, over loopback
/// HTTP, and a configuration file's text for it.
async fn emulated_org() -> (chatbell_emulator::RunningEmulator, String) {
    use chatbell_emulator::{Emulator, Options, Seed};
    let emu = Emulator::start(
        Options::default()
            .seed(Seed::Demo)
            .device_code_interval(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let base = emu.base_url();
    let config = format!(
        "[dynamics]\nurl = \"{base}\"\napp_id = \"{APP_ID}\"\nauthority = \"{base}\"\ntenant = \"{}\"\nclient_id = \"chatbell-desktop\"\n",
        emu.tenant_id()
    );
    (emu, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamics_sign_in_with_a_device_code_then_sign_out() {
    let (emu, config) = emulated_org().await;
    let base = emu.base_url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = app_with_config(&dir, &config).await;
    let s = app.status();
    assert_eq!(s.connection, Connection::SignedOut);
    assert!(!s.demo);
    assert!(matches!(
        app.act("catchup", "open", None).await,
        Err(chatbell_app::AppError::NotSignedIn)
    ));

    let prompt = app.start_sign_in().await.unwrap();
    assert_eq!(app.status().signin.as_ref(), Some(&prompt));
    let approved = reqwest::Client::new()
        .post(format!("{base}/_emulator/approve"))
        .json(&serde_json::json!({"user_code": prompt.user_code, "user": chatbell_app::demo::DEMO_AGENT_EMAIL}))
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success());
    let s = until(30, "online", || {
        let s = app.status();
        (s.connection == Connection::Online).then_some(s)
    })
    .await;
    assert_eq!(s.signin, None);
    assert!(s.account.is_some());
    assert!(dir.path().join("data").join("chatbell.db").exists());

    // Deep links point at the configured org, with the app id.
    let sid = chatbell_core::SessionId::new_random();
    let link = app.deep_link(sid).await.unwrap();
    assert_eq!(
        link,
        format!(
            "{base}/main.aspx?appid={APP_ID}&pagetype=entityrecord&etn=cb_chatsession&id={sid}"
        )
    );

    app.sign_out().await.unwrap();
    let s = app.status();
    assert_eq!(s.connection, Connection::SignedOut);
    assert_eq!(s.account, None);
    assert!(s.notifications.is_empty());

    // Back to the demo org: the configuration file is rewritten, the rest kept.
    app.use_demo().await.unwrap();
    let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(!text.contains("url ="), "{text}");
    assert!(text.contains("client_id"), "{text}");
    until(60, "the demo online", || {
        let s = app.status();
        (s.demo && s.connection == Connection::Online).then_some(())
    })
    .await;
    app.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_config_file_is_not_configured_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = app_with_config(
        &dir,
        "[dynamics]\nurl = \"http://contoso.crm.dynamics.com\"\n",
    )
    .await;
    let s = app.status();
    assert_eq!(s.connection, Connection::NotConfigured);
    let why = app.config_error().await.unwrap();
    assert!(
        why.contains("dynamics.url") && why.contains("line 2"),
        "{why}"
    );
    let e = app.start_sign_in().await.unwrap_err();
    assert!(e.to_string().contains("not configured"), "{e}");
    // Bad input to set_dynamics is refused, and the file is left as it was.
    assert!(app.set_dynamics(Some("ftp://x"), None).await.is_err());
    // Fixing it from the panel: a valid URL without a client id is still not
    // configured (no sign-in possible), and says why.
    app.set_dynamics(Some("https://contoso.crm.dynamics.com"), None)
        .await
        .unwrap();
    assert_eq!(app.status().connection, Connection::NotConfigured);
    let why = app.config_error().await.unwrap();
    assert!(why.contains("client_id"), "{why}");
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_are_checked_saved_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = demo_app(&dir).await;
    assert!(!app.status().dnd_active);
    let mut prefs = app.preferences();
    prefs.presence.dnd.on = true;
    prefs.start_at_login = true;
    app.set_preferences(prefs.clone()).unwrap();
    assert!(app.status().dnd_active);
    assert_eq!(
        chatbell_app::Prefs::load(&app.paths().prefs_file()),
        prefs,
        "saved in the data dir"
    );
    let mut bad = prefs.clone();
    bad.presence.sounds.message.volume = -1.0;
    let e = app.set_preferences(bad).unwrap_err();
    assert!(e.to_string().contains("volume"), "{e}");
    assert_eq!(app.preferences(), prefs);
    // Reasons and request ids are checked before anything is sent.
    let e = app.withdraw_request("nope", "x").await.unwrap_err();
    assert!(e.to_string().contains("not a request id"), "{e}");
    let e = app
        .withdraw_request(&uuid::Uuid::new_v4().to_string(), &"x".repeat(2001))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("too long"), "{e}");
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_runs_the_demo_behind_the_control_socket_and_one_panel_attaches() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("config.toml"), dir.path().join("data"));
    let sock = dir.path().join("run").join("control.sock");
    // A crashed instance left its socket file: nobody listens, the connection is
    // refused, and this one starts.
    #[cfg(unix)]
    {
        std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shell = Arc::new(Recorder::default());
    let run = tokio::spawn(chatbell_app::headless::run(
        paths.clone(),
        shell.clone(),
        test_options(),
        Some(sock.clone()),
        async {
            let _ = stopped.await;
        },
        |_| {},
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if control::request(&sock, &Request::Ping).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "headless never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Watched from its start, the status comes as it changes, up to online
    // in the demo (a panel in a process of its own follows it so).
    let mut seen = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        control::watch(&sock, |s| {
            seen.push(s["connection"].as_str().unwrap_or_default().to_string());
            !(s["connection"] == "online" && s["demo"] == true)
        }),
    )
    .await
    .expect("headless never came online")
    .unwrap();
    assert_eq!(seen.last().map(String::as_str), Some("online"), "{seen:?}");
    assert!(seen.len() >= 2, "the changes on the way: {seen:?}");
    // A panel attaches and follows the status; a second panel is refused, and
    // the first one is told to come to the front instead.
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let first = tokio::spawn({
        let sock = sock.clone();
        async move { control::attach_panel(&sock, move |line| lines_tx.send(line).is_ok()).await }
    });
    let PanelLine::Status(status) = next_line(&mut lines).await else {
        panic!("a panel hears the status first");
    };
    assert_eq!(status["connection"], "online", "{status}");
    let second = control::attach_panel(&sock, |_| true).await;
    assert!(
        matches!(second, Err(ControlError::PanelOpen)),
        "a second panel: {second:?}"
    );
    assert_eq!(next_line(&mut lines).await, PanelLine::Show);
    // The panel closes: another one may attach.
    first.abort();
    let _ = first.await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = tokio::time::timeout(
            Duration::from_secs(5),
            control::attach_panel(&sock, |_| false),
        )
        .await
        .expect("attach answers");
        if again.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed panel stays attached: {again:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A second instance finds the first one running.
    let second = chatbell_app::headless::run(
        paths,
        Arc::new(Recorder::default()),
        test_options(),
        Some(sock.clone()),
        async {},
        |_| panic!("a second instance must not start"),
    )
    .await;
    assert!(second.unwrap_err().to_string().contains("already running"));
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    assert!(!sock.exists());
}

/// What a panel hears next, within 10 s.
async fn next_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<PanelLine>) -> PanelLine {
    tokio::time::timeout(Duration::from_secs(10), lines.recv())
        .await
        .expect("the panel heard nothing")
        .expect("the panel's stream ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_asks_for_sign_in_again() {
    use chatbell_emulator::faults::TokenFault;
    use chatbell_emulator::{Emulator, Options, Seed};
    // Access tokens shorter than the refresh margin: every request refreshes.
    let emu = Emulator::start(
        Options::default()
            .seed(Seed::Demo)
            .device_code_interval(Duration::from_secs(1))
            .access_token_lifetime(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let base = emu.base_url().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "[dynamics]\nurl = \"{base}\"\nauthority = \"{base}\"\ntenant = \"{}\"\nclient_id = \"chatbell-desktop\"\n",
            emu.tenant_id()
        ),
    )
    .unwrap();
    let desk = chatbell_sync::DeskConfig {
        normal: chatbell_core::Span::seconds(1),
        fast: chatbell_core::Span::seconds(1),
        ..chatbell_sync::DeskConfig::default()
    };
    let app = App::start(
        Paths::new(dir.path().join("config.toml"), dir.path().join("data")),
        Arc::new(Recorder::default()),
        AppOptions {
            keychain: false,
            autostart: false,
            desk,
        },
    )
    .await
    .unwrap();
    sign_in_dana(&app, &base).await;

    emu.queue_token_fault(TokenFault {
        error: "invalid_grant".into(),
        code: 50173,
        status: 400,
        description: None,
        grant_type: Some("refresh_token".into()),
    })
    .unwrap();
    until(30, "signed out", || {
        (app.status().connection == Connection::SignedOut).then_some(())
    })
    .await;
    assert_eq!(app.status().account, None);
    assert!(matches!(
        app.act("catchup", "open", None).await,
        Err(chatbell_app::AppError::NotSignedIn)
    ));
    // Signing in again works.
    sign_in_dana(&app, &base).await;
    app.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r18_quiet_hours_beginning_and_ending_by_the_clock_reach_the_shell() {
    use chatbell_core::present::{LocalTime, Weekday};
    let dir = tempfile::tempdir().unwrap();
    let (app, shell) = demo_app(&dir).await;
    let mut prefs = app.preferences();
    prefs.presence.dnd.schedule.enabled = true;
    prefs.presence.dnd.schedule.from = "09:00".into();
    prefs.presence.dnd.schedule.to = "17:00".into();
    app.set_preferences(prefs).unwrap();
    let at = |minute: u16| LocalTime {
        weekday: Weekday::Mon,
        minute,
    };
    app.refresh_quiet_hours(at(8 * 60 + 59));
    assert!(!app.subscribe().borrow().dnd_active);
    let told = *shell.statuses.lock().unwrap();

    assert!(app.refresh_quiet_hours(at(9 * 60)), "quiet hours began");
    assert!(app.subscribe().borrow().dnd_active);
    assert_eq!(
        *shell.statuses.lock().unwrap(),
        told + 1,
        "the shell was told"
    );
    assert!(
        !app.refresh_quiet_hours(at(9 * 60 + 30)),
        "no change, no news"
    );
    assert!(app.refresh_quiet_hours(at(17 * 60)), "quiet hours ended");
    assert!(!app.subscribe().borrow().dnd_active);
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_shows_the_panel_and_quit_stops_a_headless_chatbell() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("config.toml"), dir.path().join("data"));
    let sock = dir.path().join("run").join("control.sock");
    let shell = Arc::new(Recorder::default());
    let run = tokio::spawn(chatbell_app::headless::run(
        paths,
        shell.clone(),
        test_options(),
        Some(sock.clone()),
        std::future::pending(),
        |_| {},
    ));
    let cli = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let sock = sock.clone();
        async move { chatbell_app::cli::run(&args, &sock).await }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while cli(&["ping"]).await.code != 0 {
        assert!(tokio::time::Instant::now() < deadline, "never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cli(&["open"]).await.code, 0);
    assert!(shell.outputs.lock().unwrap().contains(&Output::OpenPanel));

    let out = cli(&["quit"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    // `quit` returns once ChatBell has stopped.
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("stopped")
        .unwrap()
        .unwrap();
    assert_eq!(*shell.quits.lock().unwrap(), 1);
    assert!(!sock.exists());
    assert_eq!(cli(&["ping"]).await.code, 2, "nothing answers any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sign_in_with_pkce_comes_back_on_loopback_and_goes_online() {
    use chatbell_emulator::{Emulator, Options, Seed};
    let emu = Emulator::start(Options::default().seed(Seed::Demo))
        .await
        .unwrap();
    let base = emu.base_url().to_string();
    // The agent is signed in at the identity provider (the browser's session).
    let signed_in = reqwest::Client::new()
        .put(format!("{base}/_emulator/signin"))
        .json(&serde_json::json!({"user": chatbell_app::demo::DEMO_AGENT_EMAIL}))
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_success());
    let dir = tempfile::tempdir().unwrap();
    let (app, shell) = app_with_config(
        &dir,
        &format!(
            "[dynamics]\nurl = \"{base}\"\nauthority = \"{base}\"\ntenant = \"{}\"\nclient_id = \"chatbell-desktop\"\n",
            emu.tenant_id()
        ),
    )
    .await;
    assert_eq!(app.status().connection, Connection::SignedOut);

    app.start_browser_sign_in().await.unwrap();
    assert!(app.status().browser_signin, "waiting for the browser");
    let s = until(30, "online", || {
        let s = app.status();
        (s.connection == Connection::Online).then_some(s)
    })
    .await;
    assert!(!s.browser_signin);
    assert_eq!(
        s.account.as_ref().map(|a| a.username.as_str()),
        Some(chatbell_app::demo::DEMO_AGENT_EMAIL)
    );
    let pages = shell.pages.lock().unwrap().clone();
    assert_eq!(pages.len(), 1);
    let (url, page) = &pages[0];
    assert!(url.starts_with(&format!("{base}/")), "{url}");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    let (status, body) = page.clone().expect("the browser came back to ChatBell");
    assert_eq!(status, 200);
    assert!(body.contains("Signed in to ChatBell"), "{body}");

    // Signed in already: a second sign-in is refused, and says so.
    let e = app.start_browser_sign_in().await.unwrap_err();
    assert!(e.to_string().contains("already signed in"), "{e}");
    app.quit().await;
    emu.shutdown().await;
}

/// Signs `app` in as the demo agent through the device code, approved at the
/// emulator; waits until online.
async fn sign_in_dana(app: &App, base: &str) {
    let prompt = app.start_sign_in().await.unwrap();
    let approved = reqwest::Client::new()
        .post(format!("{base}/_emulator/approve"))
        .json(&serde_json::json!({"user_code": prompt.user_code, "user": chatbell_app::demo::DEMO_AGENT_EMAIL}))
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success());
    until(30, "online", || {
        (app.status().connection == Connection::Online).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r14_each_desk_tells_the_shell_once_what_is_live_after_the_restore() {
    let (emu, config) = emulated_org().await;
    let base = emu.base_url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (app, shell) = app_with_config(&dir, &config).await;
    sign_in_dana(&app, &base).await;
    until(30, "live notifications", || {
        (!app.status().notifications.is_empty()).then_some(())
    })
    .await;
    assert_eq!(
        *shell.kept.lock().unwrap(),
        vec![Vec::<NotificationKey>::new()],
        "a fresh cache: nothing live, told once"
    );
    // What is live as ChatBell stops (an idle offer may come a moment after
    // the first chats: read it last).
    let live: Vec<String> = app
        .status()
        .notifications
        .iter()
        .map(|n| n.id.clone())
        .collect();
    app.quit().await;

    // The next run restores what was live from the cache and says so before
    // anything else, so that toasts left up for anything else can go.
    let (app, shell) = app_with_config(&dir, &config).await;
    sign_in_dana(&app, &base).await;
    let kept = shell.kept.lock().unwrap().clone();
    assert_eq!(kept.len(), 1, "once per desk: {kept:?}");
    let mut kept: Vec<String> = kept[0].iter().map(|k| k.to_string()).collect();
    kept.sort();
    let mut live = live;
    live.sort();
    assert_eq!(kept, live, "what was live when ChatBell stopped");
    app.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_welcomes_in_the_demo_and_later_runs_start_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = demo_app(&dir).await;
    assert!(app.first_run());
    assert!(app.opens_panel_at_start(), "the first run opens the panel");
    let s = until(60, "the demo online", || {
        let s = app.status();
        (s.demo && s.connection == Connection::Online).then_some(s)
    })
    .await;
    assert!(s.welcome, "the panel asks for an org while the demo runs");
    let agent = s.account.clone().unwrap();
    // "Keep using the demo": the welcome goes, the demo goes on as it was.
    app.use_demo().await.unwrap();
    let s = app.status();
    assert!(!s.welcome);
    assert_eq!(
        s.connection,
        Connection::Online,
        "the demo was not restarted"
    );
    assert_eq!(s.account, Some(agent));
    assert!(
        !dir.path().join("config.toml").exists(),
        "no configuration file is written for the demo"
    );
    app.quit().await;

    // The next start is quiet: no welcome, no panel.
    let (app, _shell) = demo_app(&dir).await;
    assert!(!app.first_run());
    assert!(!app.opens_panel_at_start());
    assert!(!app.status().welcome);
    app.quit().await;

    // An agent who already has a configuration file is not welcomed either.
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = app_with_config(&dir, "# nothing yet\n").await;
    assert!(!app.first_run());
    assert!(!app.status().welcome);
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_the_administrator_locked_cannot_be_changed_from_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("etc-chatbell.toml");
    std::fs::write(
        &system,
        "[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"chatbell-desktop\"\n\n[admin]\nlocked = [\"dynamics.url\", \"dynamics.tenant\", \"dynamics.client_id\"]\n",
    )
    .unwrap();
    // The agent's own file points elsewhere: the locked URL wins.
    std::fs::write(
        dir.path().join("config.toml"),
        "[dynamics]\nurl = \"https://fabrikam.crm.dynamics.com\"\n",
    )
    .unwrap();
    let paths = Paths::new(dir.path().join("config.toml"), dir.path().join("data"))
        .with_system_config(&system);
    let app = App::start(paths, Arc::new(Recorder::default()), test_options())
        .await
        .unwrap();
    assert_eq!(
        app.dynamics().await.0.as_deref(),
        Some("https://contoso.crm.dynamics.com")
    );
    assert_eq!(
        app.locked_keys().await,
        ["dynamics.client_id", "dynamics.tenant", "dynamics.url"]
    );
    let s = app.status();
    assert!(!s.demo);
    assert_eq!(s.connection, Connection::SignedOut, "provisioned: sign in");
    assert!(
        app.opens_panel_at_start(),
        "signed out of a provisioned org: the panel opens for the sign-in"
    );
    for e in [
        app.set_dynamics(Some("https://fabrikam.crm.dynamics.com"), None)
            .await
            .unwrap_err(),
        app.use_demo().await.unwrap_err(),
    ] {
        assert!(
            e.to_string().contains("dynamics.url") && e.to_string().contains("administrator"),
            "{e}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.toml")).unwrap(),
        "[dynamics]\nurl = \"https://fabrikam.crm.dynamics.com\"\n",
        "the agent's file is left as it was"
    );
    assert_eq!(
        app.dynamics().await.0.as_deref(),
        Some("https://contoso.crm.dynamics.com")
    );
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_can_be_cancelled_and_a_second_one_replaces_the_first() {
    let (emu, config) = emulated_org().await;
    let base = emu.base_url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = app_with_config(&dir, &config).await;

    // Cancelled: signed out, no code shown.
    let first = app.start_sign_in().await.unwrap();
    assert_eq!(app.status().signin.as_ref(), Some(&first));
    app.cancel_sign_in().await;
    let s = app.status();
    assert_eq!(s.connection, Connection::SignedOut);
    assert_eq!(s.signin, None);

    // A second sign-in while one waits: the first is cancelled, and its end does
    // not take the second's code off the panel.
    app.start_sign_in().await.unwrap();
    let second = app.start_sign_in().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.status().signin.as_ref(), Some(&second));
    let approved = reqwest::Client::new()
        .post(format!("{base}/_emulator/approve"))
        .json(&serde_json::json!({"user_code": second.user_code, "user": chatbell_app::demo::DEMO_AGENT_EMAIL}))
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success());
    until(30, "online", || {
        (app.status().connection == Connection::Online).then_some(())
    })
    .await;
    assert_eq!(app.status().signin, None);

    // Signing out of an org that is not configured changes nothing.
    app.quit().await;
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = app_with_config(&dir, "[dynamics]\nurl = \"nope\"\n").await;
    assert_eq!(app.status().connection, Connection::NotConfigured);
    app.sign_out().await.unwrap();
    assert_eq!(app.status().connection, Connection::NotConfigured);
    assert!(app.config_error().await.is_some());
    app.quit().await;
    emu.shutdown().await;
}

/// The org of `tests/orgs/contoso.profile.toml` (every name and choice value
/// its own), and a configuration for it with its mapping
/// (`tests/orgs/contoso.mapping.toml`) passed through `edit`.
async fn contoso_org(
    edit: impl FnOnce(String) -> String,
) -> (chatbell_emulator::RunningEmulator, String) {
    use chatbell_emulator::{Emulator, Options, Seed};
    let orgs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/orgs");
    let profile =
        chatbell_emulator::profile::OrgProfile::load(&orgs.join("contoso.profile.toml")).unwrap();
    let emu = Emulator::start(
        Options::default()
            .seed(Seed::Demo)
            .device_code_interval(Duration::from_secs(1))
            .org(profile),
    )
    .await
    .unwrap();
    let base = emu.base_url();
    let mapping = std::fs::read_to_string(orgs.join("contoso.mapping.toml")).unwrap();
    let config = format!(
        "[dynamics]\nurl = \"{base}\"\nauthority = \"{base}\"\ntenant = \"{}\"\nclient_id = \"chatbell-desktop\"\n\n{}",
        emu.tenant_id(),
        edit(mapping)
    );
    (emu, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_org_runs_and_org_inspect_proposes_its_mapping_over_the_cli() {
    let (emu, config) = contoso_org(|m| m).await;
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = app_with_config(&dir, &config).await;
    sign_in_dana(&app, emu.base_url()).await;
    let socket = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&socket, Arc::new(app.clone()))
        .await
        .unwrap();

    let out = chatbell_app::cli::run(&["org".into(), "inspect".into()], &socket).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("# Everything was decided."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("[schema.cb_chatsession]\nname = \"cts_conversation\"\n"),
        "{}",
        out.stdout
    );

    let out = chatbell_app::cli::run(&["org".into(), "check".into()], &socket).await;
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("ok   org, privileges:"),
        "{}",
        out.stdout
    );
    let lines = chatbell_app::doctor::org_at(&socket).await;
    assert!(lines.iter().all(|(ok, _)| *ok), "{lines:?}");
    assert!(app.status().org_problems.is_empty());
    server.shutdown().await;
    app.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_missing_privilege_and_a_missing_column_and_the_panel_shows_them() {
    let (emu, config) = contoso_org(|m| {
        m.replace(
            "cb_acceptedon = \"cts_pickedupon\"",
            "cb_acceptedon = \"cts_acceptedon\"",
        )
    })
    .await;
    emu.set_privilege(
        chatbell_app::demo::DEMO_AGENT_EMAIL,
        chatbell_emulator::metadata::Verb::Create,
        "cb_blockednumber",
        false,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (app, _shell) = app_with_config(&dir, &config).await;
    sign_in_dana(&app, emu.base_url()).await;

    // The panel is told without being asked: the check runs once the desk does.
    let problems = until(30, "the org's problems in the status", || {
        let p = app.status().org_problems;
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(problems.len(), 2, "{problems:?}");

    let socket = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&socket, Arc::new(app.clone()))
        .await
        .unwrap();
    let lines = chatbell_app::doctor::org_at(&socket).await;
    let failed: Vec<&String> = lines.iter().filter(|(ok, _)| !ok).map(|(_, l)| l).collect();
    assert_eq!(failed.len(), 2, "{lines:?}");
    assert!(
        failed
            .iter()
            .any(|l| l.contains("prvCreatects_BlocklistEntry") && l.contains("to block a number")),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|l| l
            .contains("no column cts_acceptedon (schema.cb_chatsession.columns.cb_acceptedon)")),
        "{failed:?}"
    );
    let out = chatbell_app::cli::run(&["org".into(), "check".into()], &socket).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("FIX  org, privileges:"),
        "{}",
        out.stdout
    );
    server.shutdown().await;

    // Not running: doctor says the org was not checked, and how to check it.
    let lines = chatbell_app::doctor::org_at(&socket).await;
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].0 && lines[0].1.contains("org not checked"),
        "{lines:?}"
    );
    // Signed out, the org's problems go with its desk.
    app.sign_out().await.unwrap();
    assert!(
        app.status().org_problems.is_empty(),
        "{:?}",
        app.status().org_problems
    );
    app.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_damaged_between_runs_is_moved_aside_rebuilt_and_said() {
    let (emu, config) = emulated_org().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("chatbell.db"), vec![0x42; 32 * 1024]).unwrap();
    let (app, _shell) = app_with_config(&dir, &config).await;
    sign_in_dana(&app, emu.base_url()).await;
    let note = until(30, "the cache's note", || app.status().cache_note).await;
    assert!(
        note.contains("moved aside to") && note.contains("rebuilt from Dynamics"),
        "{note}"
    );
    let moved: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("chatbell.db.damaged-")
        })
        .collect();
    assert_eq!(moved.len(), 1, "the damaged file is kept, once");
    assert_eq!(
        std::fs::read(moved[0].path()).unwrap(),
        vec![0x42; 32 * 1024]
    );
    // The new cache fills from Dynamics: the demo org's chats are there.
    until(30, "notifications after the rebuild", || {
        (!app.status().notifications.is_empty()).then_some(())
    })
    .await;
    let socket = dir.path().join("run").join("control.sock");
    let server = ControlServer::bind(&socket, Arc::new(app.clone()))
        .await
        .unwrap();
    let answer = control::request(&socket, &Request::Status).await;
    let (ok, line) = chatbell_app::doctor::running_verdict(&answer);
    assert!(ok && line.contains("moved aside"), "{line}");
    server.shutdown().await;
    app.quit().await;
    emu.shutdown().await;
}

/// A size-limited tmpfs at `dir` (root only), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, kib: u32) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot mount a tmpfs here (root is needed): the full-disk start is not run");
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }

    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 16 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = vec![0u8; 256];
        while f.write_all(&small).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_on_a_full_disk_keeps_notifying_from_a_cache_in_memory_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(disk) = SmallDisk::mount(&data, 2 * 1024) else {
        return;
    };
    // The disk is full before ChatBell starts (a roaming profile at login).
    disk.fill();
    let (app, shell) = demo_app(&dir).await;
    until(60, "the demo online with notifications", || {
        let s = app.status();
        (s.connection == Connection::Online && !s.notifications.is_empty()).then_some(())
    })
    .await;
    assert!(
        !shell.outputs.lock().unwrap().is_empty(),
        "toasts still reach the desktop"
    );
    let note = app.status().cache_note.unwrap_or_default();
    assert!(
        note.contains("cannot save") && note.contains("restart"),
        "{note}"
    );
    app.quit().await;
}
