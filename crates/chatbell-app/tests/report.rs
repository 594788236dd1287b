//! `chatbell report`: the support bundle, through its public surface.
#![allow(clippy::unwrap_used)]

use chatbell_app::report::{self, Destination, Finding, Options, Report, REMOVED};
use chatbell_app::Paths;
use std::path::{Path, PathBuf};

// Made-up secrets and customer text, shaped like the real ones.
const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ik1uQ19WWmNBVGZNNXBPWWlKSE1iYTlnb0VLWSJ9.eyJhdWQiOiJodHRwczovL2NvbnRvc28uY3JtLmR5bmFtaWNzLmNvbSIsIm9pZCI6IjQyIn0.U2lnbmF0dXJlT2ZUaGVUb2tlbl9mb3JfdGVzdHNfb25seQ";
const REFRESH: &str =
    "0.AXEAq1bN7-rT5kKzx9y_RefreshTokenOfTheAgent.AgABAAEAAAD--DLA3VO7QrddgJg7WevrAgDs";
const HEADER_TOKEN: &str = "mF_9.B5f-4.1JqM";
const DEVICE_CODE: &str = "GMMhmHCXhWEzkobqIHGG_EnNYYsAkukHspeYUk9E8";
const USER_CODE: &str = "WDJB-MJHT";
const AUTH_CODE: &str = "M0ab12cd-ef34.Xyz";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CLIENT_SECRET: &str = "s3cr3t~Value.Q8x";
const SESSION: &str = "6a4c1f0e-1111-2222-3333-444455556666";
const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";

/// What must never be in a report.
const NEVER: &[&str] = &[
    "eyJ0eXAi",
    "eyJhdWQi",
    "U2lnbmF0dXJl",
    "RefreshTokenOfTheAgent",
    "AgABAAEAAAD",
    HEADER_TOKEN,
    DEVICE_CODE,
    USER_CODE,
    AUTH_CODE,
    VERIFIER,
    CLIENT_SECRET,
    "hunter2",
    "Maria",
    "Okafor",
    "parcel",
    "Bestellung",
    "Jonas",
    "Weber",
    "4915112345678",
    "151 1234 5678",
    "015112345678",
    "0171 9876543",
    "1234 5678",
];

/// A day of logs with every kind of secret and customer text in it, in the
/// shapes they would take: the log file's own format, JSON bodies, `Debug`
/// output, headers and query strings.
fn leaky_log() -> String {
    [
        "2026-05-01T08:59:58.000001Z  INFO chatbell: starting ChatBell version=\"0.1.0\"".to_string(),
        format!("2026-05-01T09:00:01.123456Z DEBUG reqwest::connect: sending request with token {JWT}"),
        format!("2026-05-01T09:00:01.223456Z DEBUG hyper: token answer {{\"token_type\":\"Bearer\",\"scope\":\"https://contoso.crm.dynamics.com/.default\",\"expires_in\":3599,\"access_token\":\"{JWT}\",\"refresh_token\":\"{REFRESH}\"}}"),
        format!("2026-05-01T09:00:01.323456Z TRACE hyper::proto: Authorization: Bearer {HEADER_TOKEN}"),
        format!("2026-05-01T09:00:01.423456Z TRACE h2: headers {{\"authorization\": \"Bearer {JWT}\", \"x-ms-client-request-id\": \"{SESSION}\"}}"),
        format!("2026-05-01T09:00:02.000000Z DEBUG chatbell_auth: device code answer {{\"device_code\":\"{DEVICE_CODE}\",\"user_code\":\"{USER_CODE}\",\"verification_uri\":\"https://microsoft.com/devicelogin\",\"expires_in\":900}}"),
        format!("2026-05-01T09:00:03.000000Z DEBUG reqwest: POST https://login.microsoftonline.com/organizations/oauth2/v2.0/token body=grant_type=authorization_code&code={AUTH_CODE}&redirect_uri=http%3A%2F%2F127.0.0.1%3A5544&code_verifier={VERIFIER}"),
        format!("2026-05-01T09:00:03.500000Z  INFO chatbell_auth: redirect GET /?code={AUTH_CODE}&state=af0ifjsldkj HTTP/1.1"),
        format!("2026-05-01T09:00:04.000000Z  WARN some_dependency: config {{\"client_id\":\"{CLIENT_ID}\",\"client_secret\":\"{CLIENT_SECRET}\"}} password=hunter2"),
        "2026-05-01T09:00:05.000000Z  INFO chatbell_app::app: demo org started url=http://127.0.0.1:4242".to_string(),
        // What an older ChatBell logged for each toast: the customer's name and preview.
        format!("2026-05-01T09:01:00.000000Z  INFO chatbell_app::app: toast id=chat:{SESSION} kind=new_conversation title=Maria Jimenez-Okafor (+49 151 1234 5678) body=Hallo, wo bleibt meine Bestellung? Ruf mich an: 015112345678"),
        format!("2026-05-01T09:01:01.000000Z DEBUG chatbell_sync: row {{\"cb_chatsessionid\":\"{SESSION}\",\"cb_name\":\"Jonas Weber\",\"cb_customernumber\":\"+4915112345678\",\"cb_lastmessagepreview\":\"my parcel never came\",\"statuscode\":1}}"),
        "2026-05-01T09:01:02.000000Z DEBUG chatbell_core: Session { name: \"Jonas Weber\", number: Some(\"+4915112345678\"), preview: \"Bestellung 4711?\" }".to_string(),
        "2026-05-01T09:01:03.000000Z  WARN chatbell_sync::desk: a write-back failed message=Dynamics answered 403: Principal user is missing prvWritecb_chatsession privilege (0x80040220)".to_string(),
        "2026-05-01T09:01:04.000000Z  INFO chatbell_sync: blocked number 0171 9876543 for jonas.weber@example.org, reason=\"Maria was rude\"".to_string(),
        "2026-05-01T09:01:05.000000Z  INFO chatbell_sync: row id \"1234 5678\" in a string".to_string(),
        format!("2026-05-01T09:01:06.000000Z DEBUG chatbell_auth: Debug of a JSON in a string: body=\"{{\\\"refresh_token\\\":\\\"{REFRESH}\\\"}}\""),
        "2026-05-01T09:01:07.000000Z  INFO chatbell_sync::desk: online".to_string(),
    ]
    .join("\n")
        + "\n"
}

const SYSTEM_CONFIG: &str = "# provisioned by IT\n[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n\n[admin]\nlocked = [\"dynamics.url\", \"dynamics.client_id\"]\n";
const USER_CONFIG: &str = "[dynamics]\napp_id = \"6a4c1f0e-1111-2222-3333-444455556666\"\n\n[schema.cb_chatsession]\nname = \"new_whatsappsession\"\ncolumns = { cb_name = \"new_name\" }\n";

/// A user's setup in `dir`: configuration files, a data dir with logs.
fn setup(dir: &Path) -> Paths {
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("logs")).unwrap();
    std::fs::write(
        data.join("logs").join("chatbell.log.2026-04-30"),
        "2026-04-30T18:00:00.000000Z  INFO chatbell: yesterday\n",
    )
    .unwrap();
    std::fs::write(
        data.join("logs").join("chatbell.log.2026-05-01"),
        leaky_log(),
    )
    .unwrap();
    // Yesterday's file is the older one.
    let old = std::fs::File::options()
        .write(true)
        .open(data.join("logs").join("chatbell.log.2026-04-30"))
        .unwrap();
    old.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(86_400))
        .unwrap();
    std::fs::write(data.join("chatbell.db"), vec![0u8; 3 * 1024 * 1024]).unwrap();
    std::fs::write(data.join("signin.bin"), b"sealed").unwrap();
    std::fs::write(
        data.join("prefs.json"),
        "{\"presence\":{\"sounds\":{\"muted\":false}},\"start_at_login\":true}",
    )
    .unwrap();
    std::fs::write(dir.join("system.toml"), SYSTEM_CONFIG).unwrap();
    std::fs::write(dir.join("config.toml"), USER_CONFIG).unwrap();
    Paths::new(dir.join("config.toml"), data).with_system_config(dir.join("system.toml"))
}

/// Options for a test: no network, no real ChatBell's socket.
fn offline(dir: &Path) -> Options {
    Options {
        findings: vec![
            Finding::new("tray host", true, "StatusNotifierWatcher answers"),
            Finding::new(
                "keychain",
                false,
                "no Secret Service: install gnome-keyring",
            ),
        ],
        check_dynamics: false,
        socket: Some(dir.join("nobody.sock")),
        ..Options::default()
    }
}

fn assert_clean(text: &str) {
    for secret in NEVER {
        assert!(
            !text.contains(secret),
            "{secret:?} is in the report:\n{text}"
        );
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn report_removes_tokens_and_customer_text() {
    let dir = tempfile::tempdir().unwrap();
    let paths = setup(dir.path());
    let file = dir.path().join("out").join("report.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let out = report::run(
        &args(&["--out", file.to_str().unwrap()]),
        &paths,
        &offline(dir.path()),
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, format!("{}\n", file.display()));
    let text = std::fs::read_to_string(&file).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "readable by its owner only");

    assert_clean(&text);
    assert!(text.contains(REMOVED), "{text}");

    // What IT needs is there.
    for wanted in [
        format!("version: {}", env!("CARGO_PKG_VERSION")),
        // Platform.
        format!("system: {}", std::env::consts::OS),
        "XDG_CURRENT_DESKTOP=".to_string(),
        "XDG_SESSION_TYPE=".to_string(),
        // Configuration, each key with its source.
        format!(
            "system file: {} (read,",
            dir.path().join("system.toml").display()
        ),
        format!(
            "user file: {} (read,",
            dir.path().join("config.toml").display()
        ),
        "dynamics.url = https://contoso.crm.dynamics.com  (system file".to_string(),
        format!("dynamics.client_id = {CLIENT_ID}  (system file"),
        "the app registration's id: public, not a secret".to_string(),
        format!("dynamics.app_id = {SESSION}  (user file)"),
        "dynamics.tenant = contoso.onmicrosoft.com".to_string(),
        "dynamics.authority = https://login.microsoftonline.com  (default)".to_string(),
        "schema.cb_chatsession.name: new_whatsappsession".to_string(),
        "schema.cb_chatsession.columns.cb_name: new_name".to_string(),
        "admin.locked: dynamics.client_id, dynamics.url".to_string(),
        // The files' text, line by line.
        "   3 | url = \"https://contoso.crm.dynamics.com\"".to_string(),
        // Doctor: the desktop's findings as given, and the app's own checks.
        "ok   tray host: StatusNotifierWatcher answers".to_string(),
        "FIX  keychain: no Secret Service: install gnome-keyring".to_string(),
        "ok   Dynamics: not checked".to_string(),
        "ok   ChatBell: not running".to_string(),
        // Data directory: sizes, never contents.
        "chatbell.db: 3.0 MiB".to_string(),
        "signin.bin: 6 B".to_string(),
        "\"start_at_login\":true".to_string(),
        // Logs: both files, the older first; what is not secret is kept.
        "--- chatbell.log.2026-04-30 (1 line) ---".to_string(),
        "yesterday".to_string(),
        "demo org started url=http://127.0.0.1:4242".to_string(),
        "(0x80040220)".to_string(),
        format!("toast id=chat:{SESSION} kind=new_conversation title={REMOVED}"),
        format!("\"x-ms-client-request-id\": \"{SESSION}\""),
        "\"expires_in\":3599".to_string(),
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/token".to_string(),
        "[removed]@example.org".to_string(),
        "state=af0ifjsldkj".to_string(),
        "chatbell_sync::desk: online".to_string(),
    ] {
        assert!(text.contains(&wanted), "{wanted:?} is missing:\n{text}");
    }
    assert!(
        text.find("yesterday") < text.find("chatbell_sync::desk: online"),
        "the newest lines last:\n{text}"
    );
}

#[tokio::test]
async fn report_keeps_only_the_last_lines_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let paths = setup(dir.path());
    let options = Options {
        log_lines: 3,
        ..offline(dir.path())
    };
    let text = report::collect(&paths, &options).await.text().to_string();
    assert!(text.contains("== Logs (the last 3 lines) =="), "{text}");
    assert!(
        text.contains("--- chatbell.log.2026-05-01 (its last 3 lines) ---"),
        "{text}"
    );
    assert!(
        text.contains("(1 older log files are not included)"),
        "{text}"
    );
    assert!(text.contains("chatbell_sync::desk: online"), "{text}");
    assert!(!text.contains("yesterday"), "{text}");
    assert!(!text.contains("0x80040220"), "{text}");
}

#[tokio::test]
async fn report_of_a_broken_setup_says_what_is_wrong() {
    // No data dir at all, a configuration that cannot be read (a directory),
    // and a system file that is not text.
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("config.toml");
    std::fs::create_dir_all(&user).unwrap();
    let system = dir.path().join("system.toml");
    std::fs::write(&system, b"[dynamics]\nurl = \"\xff\xfe\"\n").unwrap();
    let paths = Paths::new(&user, dir.path().join("no-data")).with_system_config(&system);
    let options = Options {
        // Safe: a configuration that cannot be read is refused before any request.
        check_dynamics: true,
        ..offline(dir.path())
    };
    let report = report::collect(&paths, &options).await;
    let text = report.text();
    for wanted in [
        "(read, 22 B, not UTF-8 text)",
        "config.toml (cannot be read:",
        "the configuration cannot be used:",
        "FIX  Dynamics: the configuration cannot be used:",
        "no-data",
        "it does not exist (ChatBell has not run for this user)",
        "no log directory: ChatBell has not written logs here",
        "== Removed ==",
    ] {
        assert!(text.contains(wanted), "{wanted:?} is missing:\n{text}");
    }

    // A data dir with an empty log directory, and a file with a mistake: the
    // mistake is named with its key and line, and the file is shown.
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("logs")).unwrap();
    let user = dir.path().join("user.toml");
    std::fs::write(
        &user,
        "[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let paths = Paths::new(&user, &data);
    let text = report::collect(&paths, &offline(dir.path()))
        .await
        .text()
        .to_string();
    for wanted in [
        "system file: none is read",
        "line 3, column 1: dynamics.colour",
        "   3 | colour = \"red\"",
        "no log files",
        "preferences: the defaults (no prefs.json)",
    ] {
        assert!(text.contains(wanted), "{wanted:?} is missing:\n{text}");
    }
}

/// Answers a status like a running ChatBell with customers' chats, a signed-in
/// agent and a sign-in code on screen.
#[cfg(unix)]
struct Busy;

#[cfg(unix)]
impl chatbell_app::control::Handler for Busy {
    fn handle(
        &self,
        request: chatbell_app::control::Request,
    ) -> chatbell_app::control::BoxFuture<'_, serde_json::Value> {
        Box::pin(async move {
            if request == chatbell_app::control::Request::OrgCheck {
                return serde_json::json!({"ok": true, "findings": [
                    {"check": "tables", "ok": true, "detail": "every mapped table is there"},
                    {"check": "privileges", "ok": false, "detail": "prvWritecb_chatsession is missing for jonas.weber@contoso.com: ask an administrator"}
                ]});
            }
            serde_json::json!({
                "unread": 2,
                "connection": "online",
                "signin": {"user_code": USER_CODE, "verification_uri": "https://microsoft.com/devicelogin", "expires_at": "2026-05-01T09:15:00.000Z"},
                "browser_signin": false,
                "account": {"name": "Agent Jonas Weber", "username": "jonas.weber@contoso.com"},
                "demo": false,
                "dnd_active": true,
                "muted": false,
                "storage": "keychain",
                "storage_note": null,
                "welcome": false,
                "my_pending_requests": [{"request_id": "r", "session_name": "Maria Okafor", "to": "Agent Smith", "kind": "assign"}],
                "org_problems": ["cb_chatsession.cb_unreadcount: the column is missing: ask an administrator"],
                "notifications": [
                    {"id": format!("chat:{SESSION}"), "kind": "new_conversation", "title": "Maria Okafor", "body": "my parcel, call +4915112345678"},
                    {"id": "call:x", "kind": "incoming_call", "title": "+4915112345678", "body": "Bestellung"}
                ]
            })
        })
    }
}

#[cfg(unix)]
#[tokio::test]
async fn report_sums_up_a_running_chatbell_without_its_texts() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let paths = setup(dir.path());
    let socket = dir.path().join("run").join("control.sock");
    let server = chatbell_app::control::ControlServer::bind(&socket, Arc::new(Busy))
        .await
        .unwrap();
    // No org configured: Dynamics' own check needs no network, and the org is
    // checked through the running ChatBell.
    let paths = Paths::new(dir.path().join("none.toml"), &paths.data_dir);
    let options = Options {
        socket: Some(socket.clone()),
        check_dynamics: true,
        ..offline(dir.path())
    };
    let text = report::collect(&paths, &options).await.text().to_string();
    server.shutdown().await;
    assert_clean(&text);
    for wanted in [
        format!("control socket: {}", socket.display()),
        "connection: online".to_string(),
        "signed in: yes".to_string(),
        "signing in: yes, with a device code".to_string(),
        "unread: 2".to_string(),
        "live notifications: 2: 1 incoming_call, 1 new_conversation (their texts are not included)"
            .to_string(),
        "my requests waiting: 1".to_string(),
        "do not disturb: yes".to_string(),
        "sign-in kept: keychain".to_string(),
        "org problems found: 1\n  cb_chatsession.cb_unreadcount: the column is missing: ask an administrator".to_string(),
        "ok   ChatBell: running: online, 2 unread".to_string(),
        "ok   Dynamics: org, tables: every mapped table is there".to_string(),
        format!("FIX  Dynamics: org, privileges: prvWritecb_chatsession is missing for {REMOVED}@contoso.com: ask an administrator"),
    ] {
        assert!(text.contains(&wanted), "{wanted:?} is missing:\n{text}");
    }
    assert!(!text.contains("Agent"), "no account:\n{text}");
}

fn a_report() -> Report {
    // Made offline, with nothing to find.
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("none.toml"), dir.path().join("none"));
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(report::collect(&paths, &offline(dir.path())))
}

#[test]
fn report_never_replaces_a_file_it_was_not_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let report = a_report();
    let name = report.file_name();
    assert!(name.starts_with("chatbell-report-"), "{name}");
    assert!(name.ends_with("Z.txt"), "{name}");
    // Someone's file has the name already: it is kept, the report goes beside it.
    let taken = dir.path().join(&name);
    std::fs::write(&taken, "mine").unwrap();
    let dirs = Destination::NewIn(vec![dir.path().to_path_buf()]);
    let first = report::write(&report, &dirs).unwrap();
    let second = report::write(&report, &dirs).unwrap();
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "mine");
    assert_ne!(first, taken);
    assert_ne!(first, second);
    assert_eq!(std::fs::read_to_string(&first).unwrap(), report.text());
    assert_eq!(std::fs::read_to_string(&second).unwrap(), report.text());
    // A directory that cannot be written is passed over for the next.
    let nowhere = dir.path().join("no").join("such").join("dir");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir_all(&fallback).unwrap();
    let written = report::write(
        &report,
        &Destination::NewIn(vec![nowhere.clone(), fallback.clone()]),
    )
    .unwrap();
    assert_eq!(written.parent(), Some(fallback.as_path()));
    let e = report::write(&report, &Destination::NewIn(vec![nowhere])).unwrap_err();
    assert!(e.to_string().contains("nowhere to write the report"), "{e}");
    // Named with --out, an existing file is replaced, and ends up 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&taken, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let replaced = report::write(&report, &Destination::File(taken.clone())).unwrap();
    assert_eq!(replaced, taken);
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), report.text());
    #[cfg(unix)]
    for f in [&taken, &first, &second, &written] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // --out naming a directory: a new file in it.
    let into_dir = report::write(&report, &Destination::File(fallback.clone())).unwrap();
    assert_eq!(into_dir.parent(), Some(fallback.as_path()));
    assert_ne!(into_dir, written);
    // Nothing else was left behind (no temporary files).
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[tokio::test]
async fn report_command_line_is_checked() {
    assert_eq!(report::parse_args(&args(&[])), Ok(None));
    assert_eq!(
        report::parse_args(&args(&["--out", "r.txt"])),
        Ok(Some(PathBuf::from("r.txt")))
    );
    assert_eq!(
        report::parse_args(&args(&["--out=r.txt"])),
        Ok(Some(PathBuf::from("r.txt")))
    );
    for bad in [
        &["--out"][..],
        &["--out", ""],
        &["r.txt"],
        &["--out", "a", "b"],
        &["--json"],
    ] {
        assert!(report::parse_args(&args(bad)).is_err(), "{bad:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("c.toml"), dir.path().join("d"));
    let out = report::run(&args(&["--outt", "x"]), &paths, &offline(dir.path())).await;
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr, format!("{}\n", report::USAGE));
    assert!(!dir.path().join("x").exists());
}

#[test]
fn redaction_removes_each_kind_of_secret_and_customer_text() {
    for (input, gone) in [
        (format!("token {JWT} end"), "eyJ"),
        (
            format!("Authorization: Bearer {HEADER_TOKEN}"),
            HEADER_TOKEN,
        ),
        (
            "authorization: Basic dXNlcjpodW50ZXIy".to_string(),
            "dXNlcjpodW50ZXIy",
        ),
        (
            format!("{{\"refresh_token\": \"{REFRESH}\"}}"),
            "RefreshTokenOfTheAgent",
        ),
        (
            format!("refresh_token={REFRESH} next=1"),
            "RefreshTokenOfTheAgent",
        ),
        (
            format!("RefreshToken {{ refresh_token: \"{REFRESH}\" }}"),
            "RefreshTokenOfTheAgent",
        ),
        (
            format!("{{\\\"access_token\\\":\\\"{REFRESH}\\\"}}"),
            "RefreshTokenOfTheAgent",
        ),
        (
            format!("{{\"device_code\":\"{DEVICE_CODE}\"}}"),
            DEVICE_CODE,
        ),
        (format!("GET /?code={AUTH_CODE}&state=x"), AUTH_CODE),
        (format!("a=1&amp;code={AUTH_CODE}"), AUTH_CODE),
        (format!("client_secret: '{CLIENT_SECRET}'"), CLIENT_SECRET),
        (
            "https://agent:hunter2@proxy.example/".to_string(),
            "hunter2",
        ),
        ("Cookie: session=abcdef123456".to_string(), "abcdef123456"),
        // A token of a form not known: long, mixing cases and digits.
        (
            "x-token-like Zk9vQmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo".to_string(),
            "Zk9vQmFy",
        ),
        ("title=Maria Okafor kind=x".to_string(), "Maria"),
        ("body=\"my parcel\"".to_string(), "parcel"),
        (
            "{\"cb_lastmessagepreview\":\"my parcel\"}".to_string(),
            "parcel",
        ),
        ("Session { name: \"Jonas Weber\" }".to_string(), "Jonas"),
        ("Row { preview: Some(\"my parcel\") }".to_string(), "parcel"),
        ("call +4915112345678 now".to_string(), "4915112345678"),
        ("call +49 (151) 1234-5678 now".to_string(), "1234-5678"),
        ("call +1 202-555-0123".to_string(), "555-0123"),
        ("number 015112345678.".to_string(), "015112345678"),
        ("number (0151) 1234 5678".to_string(), "1234 5678"),
        (
            "\"cb_customernumber\":4915112345678,".to_string(),
            "4915112345678",
        ),
        ("guid-444455556666 015112345678".to_string(), "015112345678"),
        ("+4915112345678 2026-05-01".to_string(), "4915112345678"),
        ("mail jonas.weber@example.org".to_string(), "jonas.weber"),
    ] {
        let out = report::redact(&input);
        assert!(!out.contains(gone), "{input:?} -> {out:?}");
        assert!(out.contains(REMOVED), "{input:?} -> {out:?}");
        assert_eq!(report::redact(&out), out, "redacting twice changes nothing");
        assert_eq!(report::redact_secrets(&out), out);
    }
    let once = report::redact(&leaky_log());
    assert_clean(&once);
    assert_eq!(report::redact(&once), once);
    assert_eq!(report::redact_secrets(&once), once);
}

#[test]
fn redaction_keeps_what_it_for_diagnosis() {
    for kept in [
        "2026-05-01T09:00:01.123456Z  INFO chatbell_app::app: demo org started",
        "chat:6a4c1f0e-1111-2222-3333-444455556666",
        "client id 11111111-2222-3333-4444-555555555555",
        "https://contoso.crm.dynamics.com/api/data/v9.2/WhoAmI",
        "Dynamics answered 403: missing privilege (0x80040220)",
        "ChatBell 0.1.0 on Linux 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
        "chatbell-report-20260501T120000Z.txt",
        "ChatBell is running (pid 4194304) but not answering",
        "chatbell.db: 3.0 MiB, modified 2026-05-01T09:00:00Z",
        "no notification server's name: org.freedesktop.DBus.Error.ServiceUnknown",
        "the delta token expired: reading the sessions again",
        "throttled by Dynamics: waiting as told seconds=1.5",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "listening on 127.0.0.1:5544",
        "/home/agent/.local/share/chatbell/logs/chatbell.log.2026-05-01",
        "$deltatoken=919042%2108%2f22%2f2017",
    ] {
        assert_eq!(report::redact(kept), kept);
    }
    // The configuration's own keys stay in what only has secrets removed.
    let mapping = "[schema.cb_chatsession]\nname = \"new_whatsappsession\"\ncolumns = { cb_name = \"new_name\" }";
    assert_eq!(report::redact_secrets(mapping), mapping);
    assert!(report::redact(mapping).contains(REMOVED));
    // Bad input never panics.
    for odd in [
        "",
        "\"",
        "name=",
        "name=\"",
        "token: ",
        "\\\"",
        "+",
        "eyJ",
        "é name=é \"ü",
        "code=&code=",
    ] {
        let _ = report::redact(odd);
        let _ = report::redact_secrets(odd);
    }
}

/// Lines exactly as the log file's writer (tracing's fmt, no colours) writes
/// them, with customer text and a token in fields of each kind.
#[test]
fn redaction_handles_lines_as_the_log_writer_writes_them() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
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
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let title = "Maria Okafor";
        let body = "my parcel, call 015112345678";
        tracing::info!(id = %format!("chat:{SESSION}"), title = %title, body = %body, kind = "new_conversation", "toast");
        tracing::info!(?title, ?body, "toast");
        tracing::warn!(answer = %format!("{{\"refresh_token\":\"{REFRESH}\"}}"), "odd answer");
        tracing::debug!("sending Authorization: Bearer {JWT}");
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("Maria"), "the test logs customer text: {log}");
    let clean = report::redact(&log);
    assert_clean(&clean);
    for kept in [
        format!("id=chat:{SESSION}"),
        "kind=\"new_conversation\"".to_string(),
        "odd answer".to_string(),
    ] {
        assert!(clean.contains(&kept), "{kept:?} is missing:\n{clean}");
    }
    assert_eq!(clean.lines().count(), log.lines().count());
}

#[tokio::test]
async fn report_includes_the_panels_log_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let paths = setup(dir.path());
    std::fs::write(
        paths.data_dir.join("logs").join("panel.log.2026-05-01"),
        "2026-05-01T09:00:00.000000Z  INFO chatbell_panel: the panel is open already\n\
         2026-05-01T09:00:01.000000Z  WARN chatbell_panel: sign-in page for dana@example.org\n",
    )
    .unwrap();
    let text = report::collect(&paths, &offline(dir.path()))
        .await
        .text()
        .to_string();
    assert!(
        text.contains("--- panel.log.2026-05-01 (2 lines) ---"),
        "{text}"
    );
    assert!(text.contains("the panel is open already"), "{text}");
    assert!(!text.contains("dana@example.org"), "{text}");
}
