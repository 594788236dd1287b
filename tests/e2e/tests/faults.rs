//! ChatBell under faults and races, end to end (issue: hostile input, faults and
//! races). Six tests, each on a virtual desktop of its own:
//!
//! - `soak_r14_r16_kills_outage_and_throttling_lose_and_duplicate_nothing`: the
//!   emulator's traffic simulation runs (`--simulate`: customers write, agents
//!   take chats, calls ring, requests come to Dana) while Dana's ChatBell is
//!   killed with SIGKILL at random moments (one in two while one of its
//!   requests is in flight) and restarted, then cut off from
//!   Dynamics for a while, then throttled with 429s. The simulation then stops
//!   and what the org says Dana should have (every new conversation in her
//!   queue, every request to her still pending) is compared with what the
//!   notification server shows: nothing lost, no toast shown twice (R14, R16),
//!   no toast left up for what is gone, every `Retry-After` waited out. One kill
//!   in four comes just after Dana accepted a chat: each such Accept took
//!   effect in Dynamics, or another agent had the chat first (R15). Between
//!   the outage and the throttling, her data folder's disk (a tmpfs of its
//!   own) is full for a while, then her desktop's clock is two hours ahead
//!   for a while and set back (libfaketime): each chat made meanwhile must
//!   show once, and each stretch's cost is printed. Last, no token issued to
//!   Dana is in her data dir or in a log.
//! - `race_r15_two_agents_answer_the_same_chat_exactly_one_wins`: Dana's and
//!   Sam's ChatBells (separate data dirs, separate D-Bus sessions with their own
//!   notification servers) answer the same new conversation (Accept), the same
//!   idle chat (Assign to me: Yes) and the same chat's Assign request (one to
//!   each, Accept) at the same moment: each time exactly one owns the chat in
//!   Dynamics and the other is told who (R15).
//! - `race_r15_an_action_moments_after_a_change_to_the_same_chat`: Dana acts
//!   half a second after a change to the same chat that her ChatBell has not
//!   read yet (just after one of its polls), for every ownership action (Accept,
//!   Assign to me: Yes, accept and reject of an Assign request, Block) and every
//!   change that can come first (the customer writes, the owner replies, the
//!   requester writes or withdraws, another agent takes the chat). Each goes
//!   through when what it needs is still true; otherwise nothing in Dynamics is
//!   overwritten and Dana is told what is true now, in the panel and a toast.
//!   A Block refused because Sam accepted the chat first offers Block anyway:
//!   the number is then blocked, the chat stays Sam's, and Sam is told.
//! - `sturdy_a_full_disk_and_a_damaged_cache_lose_nothing`: Dana's data folder
//!   is an 8 MiB tmpfs the test mounts (root only) and fills: new chats still
//!   reach her as toasts, `status` and `doctor` say the cache cannot be saved;
//!   emptied, the note goes and what waited is saved, and a restart shows none
//!   of those chats again; then her cache is overwritten with garbage between
//!   two runs: it is moved aside (kept), rebuilt from Dynamics, and said; then
//!   it is deleted while ChatBell runs: made again at the next write, said, and
//!   the chat that came meanwhile is there.
//! - `sturdy_r6_r17_the_clock_jumps_and_a_resume_after_days_brings_one_catch_up`:
//!   Dana's ChatBell runs on a desktop clock the test moves (libfaketime; the
//!   monotonic clock left alone, as NTP and a resume leave it). Four minutes
//!   ahead: `status` and doctor say so, and an idle chat is offered (R6) when
//!   the org's minute is over, not at once; an hour back: new chats still
//!   come at once; then the machine sleeps (ChatBell frozen, logind's
//!   `PrepareForSleep`) for three days of the org's and the desktop's time:
//!   on waking it polls at once and shows one catch-up (R17) for what came
//!   meanwhile, an offer only for the idle chats still waiting (none for those
//!   answered during the sleep), and nothing is lost.
//! - `light_r14_a_killed_panel_or_chatbell_loses_nothing`: the panel is a
//!   process of its own. Killed (SIGKILL) with a chat on it, ChatBell goes on:
//!   the next chat still comes as a toast and both chats are in its status,
//!   `chatbell open` starts a new panel (its window comes up), and a second
//!   panel refuses to open beside it; ChatBell killed while that panel is
//!   open: the panel closes by itself, and ChatBell started again shows both
//!   chats in its panel (R14) and accepts one in Dynamics; last, the panel's
//!   window closed ends the panel's process and leaves ChatBell running.
//!
//! Sizes (the short form is what `./dev test` runs; `./dev soak` runs the long
//! one): `CHATBELL_SOAK_KILLS` (10; long 100), `CHATBELL_SOAK_OUTAGE_SECONDS`
//! (60), `CHATBELL_SOAK_THROTTLE_SECONDS` (30), `CHATBELL_SOAK_DISK_FULL_SECONDS`
//! and `CHATBELL_SOAK_CLOCK_JUMP_SECONDS` (20; long 60), `CHATBELL_RACE_ROUNDS` rounds of
//! each kind (5; long 100), `CHATBELL_LATE_ROUNDS` times every late-action
//! case (1; long 10), `CHATBELL_SOAK_SEED` (the random kill moments and
//! the simulation; printed). Figures are printed at the end of each test.
//! CHATBELL_BIN and CHATBELL_E2E_SKIP as for the rule scenarios.
#![allow(clippy::unwrap_used)]

use chatbell_e2e::app::{self, ChatBell, FakeClock};
use chatbell_e2e::bus::{Event, Toasts};
use chatbell_e2e::desktop::{Artefacts, Desktop};
use chatbell_e2e::org::{self, Channel, Org, ALEX, ASSIGN, DANA, SAM};
use chatbell_e2e::runner;
use chatbell_e2e::wait::{wait_until, Limit};
use chatbell_emulator::{FaultSettings, Options, Seed};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use uuid::Uuid;

const TESTS: &[&str] = &[
    "soak_r14_r16_kills_outage_and_throttling_lose_and_duplicate_nothing",
    "race_r15_two_agents_answer_the_same_chat_exactly_one_wins",
    "race_r15_an_action_moments_after_a_change_to_the_same_chat",
    "sturdy_a_full_disk_and_a_damaged_cache_lose_nothing",
    "sturdy_r6_r17_the_clock_jumps_and_a_resume_after_days_brings_one_catch_up",
    "light_r14_a_killed_panel_or_chatbell_loses_nothing",
];

/// The whole run may take this long before the watchdog ends it.
const RUN_LIMIT: Duration = Duration::from_secs(40 * 60);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Some(plan) = runner::plan(TESTS) else {
        return;
    };
    runner::watchdog(RUN_LIMIT);
    let rt = runner::runtime();
    let mut results = Vec::new();
    for name in &plan.chosen {
        let t = Instant::now();
        let result = rt.block_on(run(name));
        runner::report_one(name, &result, t.elapsed());
        results.push((name.to_string(), result));
    }
    let ok = runner::report(&plan, &results);
    drop(rt);
    if !ok {
        std::process::exit(101);
    }
}

async fn run(name: &str) -> Result<(), String> {
    let bin = app::binary()?;
    // tests/artifacts/faults/<test>, emptied first (the rule scenarios keep
    // tests/artifacts/e2e).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../artifacts/faults")
        .join(name);
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    }
    std::fs::create_dir_all(root.join("logs")).map_err(|e| format!("{}: {e}", root.display()))?;
    let artefacts = Artefacts {
        root: root.canonicalize().unwrap_or(root),
    };
    eprintln!("artefacts: {}", artefacts.root.display());
    if name.starts_with("soak") {
        soak(artefacts, &bin).await
    } else if name.contains("the_clock_jumps") {
        clock_jumps(artefacts, &bin).await
    } else if name.starts_with("sturdy") {
        sturdy(artefacts, &bin).await
    } else if name.starts_with("light") {
        light(artefacts, &bin).await
    } else if name.contains("moments_after") {
        late(artefacts, &bin).await
    } else {
        race(artefacts, &bin).await
    }
}

/// A small deterministic generator (xorshift64*), for kill moments.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

fn connection(status: &Value) -> &str {
    status["connection"].as_str().unwrap_or("")
}

/// Waits until `who`'s ChatBell says it is `state` (`online`, `offline`).
async fn wait_connection(
    desk: &Desktop,
    who: &ChatBell,
    state: &str,
    limit: Limit,
) -> Result<(), String> {
    wait_until(limit, &format!("ChatBell says {state}"), || async {
        let s = who.status(desk).ok()?;
        (connection(&s) == state).then_some(())
    })
    .await
}

fn uuid_of(row: &Value, col: &str) -> Option<Uuid> {
    row.get(col)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

// ---------------------------------------------------------------------------
// A desktop's bad days

/// A size-limited tmpfs mounted over a directory, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, kib: u32) -> Result<SmallDisk, String> {
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
            return Err(format!(
                "cannot mount a {kib} KiB tmpfs on {} (the test needs root)",
                dir.display()
            ));
        }
        Ok(SmallDisk(dir.to_path_buf()))
    }

    /// Fills what is left with one file.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.0.join("filler");
        if let Ok(mut f) = std::fs::File::create(&filler) {
            let block = vec![0u8; 16 * 1024];
            while f.write_all(&block).is_ok() {}
            let small = vec![0u8; 512];
            while f.write_all(&small).is_ok() {}
        }
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn cache_note(s: &Value) -> String {
    s.get("cache_note")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The running ChatBell's data folder on a small disk that fills, then
/// empties; then its cache damaged between two runs. Chats reach the agent
/// throughout, `status` says what is wrong, and nothing is shown twice.
async fn sturdy(artefacts: Artefacts, bin: &Path) -> Result<(), String> {
    let mut desk = Desktop::start(artefacts.clone()).await?;
    let org = Org::new(desk.emulator.base_url())?;
    let mut dana = ChatBell::prepare(&desk, "dana", bin)?;
    let disk = SmallDisk::mount(&dana.data_dir, 8 * 1024)?;
    let result = sturdy_steps(&mut desk, &org, &mut dana, &disk).await;
    desk.bus.toasts.dump(&artefacts.root.join("toasts.txt"));
    if let Ok(s) = dana.status(&desk) {
        let _ = std::fs::write(artefacts.root.join("status.json"), s.to_string());
    }
    dana.keep_logs(&desk);
    dana.quit(&desk).await;
    drop(disk);
    result
}

async fn sturdy_steps(
    desk: &mut Desktop,
    org: &Org,
    dana: &mut ChatBell,
    disk: &SmallDisk,
) -> Result<(), String> {
    dana.start_headless(desk)?;
    dana.sign_in_cli(desk, org, DANA).await?;
    wait_connection(desk, dana, "online", Limit::secs(60)).await?;

    // 1. The disk fills: chats still reach Dana, and ChatBell says it cannot save.
    let filler = disk.fill();
    let mark = desk.bus.toasts.mark();
    let mut chats = Vec::new();
    let mut full_said = false;
    for n in 0..12 {
        let name = format!("Fuller Disk {n}");
        let s = org
            .new_session(Channel::WhatsApp, &name, &format!("+1555600{n:04}"))
            .await?;
        org.customer_writes(s, "hello, is anyone there?").await?;
        wait_until(Limit::secs(30), &format!("a toast for {name}"), || async {
            (!desk.bus.toasts.matching(mark, &name).is_empty()).then_some(())
        })
        .await?;
        chats.push(name);
        let status = dana.status(desk)?;
        if cache_note(&status).contains("cannot save") {
            full_said = true;
            break;
        }
    }
    check(full_said, || {
        "ChatBell never said it could not save to its cache on a full disk".into()
    })?;
    let (code, doctor) = dana.cli(desk, &["doctor"])?;
    println!(
        "  disk full: {} chats delivered while the cache could not be written; doctor exit {code}",
        chats.len()
    );
    check(doctor.contains("cannot save"), || {
        format!("doctor did not say so: {doctor}")
    })?;

    // 2. Room again: the note goes, what waited is saved.
    std::fs::remove_file(&filler).map_err(|e| e.to_string())?;
    let name = "Fuller Disk after";
    let s = org
        .new_session(Channel::WhatsApp, name, "+15556009999")
        .await?;
    org.customer_writes(s, "hello again").await?;
    wait_until(Limit::secs(30), "the cache note gone", || async {
        let st = dana.status(desk).ok()?;
        cache_note(&st).is_empty().then_some(())
    })
    .await?;
    chats.push(name.to_string());

    // 3. A restart shows none of them again.
    dana.quit(desk).await;
    let mark = desk.bus.toasts.mark();
    dana.start_headless(desk)?;
    wait_connection(desk, dana, "online", Limit::secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for name in &chats {
        let again = desk.bus.toasts.matching(mark, name);
        let replaced_in_place = again.iter().all(|n| n.replaces != 0);
        check(again.is_empty() || replaced_in_place, || {
            format!("{name} shown again after the restart: {again:?}")
        })?;
    }

    // 4. The cache damaged between two runs: moved aside, rebuilt, said.
    dana.quit(desk).await;
    let db = dana.data_dir.join("chatbell.db");
    std::fs::write(&db, vec![0x5a; 64 * 1024]).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(dana.data_dir.join("chatbell.db-wal"));
    dana.start_headless(desk)?;
    wait_connection(desk, dana, "online", Limit::secs(60)).await?;
    let status = dana.status(desk)?;
    let note = cache_note(&status);
    check(note.contains("moved aside"), || {
        format!("the rebuild was not said: {status}")
    })?;
    let moved = std::fs::read_dir(&dana.data_dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("chatbell.db.damaged-")
        })
        .count();
    check(moved == 1, || format!("{moved} damaged files kept, not 1"))?;
    let mark = desk.bus.toasts.mark();
    let s = org
        .new_session(Channel::WhatsApp, "After The Damage", "+15556008888")
        .await?;
    org.customer_writes(s, "hi").await?;
    wait_until(Limit::secs(30), "a toast after the rebuild", || async {
        (!desk
            .bus
            .toasts
            .matching(mark, "After The Damage")
            .is_empty())
        .then_some(())
    })
    .await?;
    println!("  damaged cache: moved aside and rebuilt; the panel said: {note}");

    // 5. The cache deleted while ChatBell runs: found at the next write,
    // made again from Dynamics, said; chats still come.
    for f in ["chatbell.db", "chatbell.db-wal", "chatbell.db-shm"] {
        let _ = std::fs::remove_file(dana.data_dir.join(f));
    }
    let mark = desk.bus.toasts.mark();
    let s = org
        .new_session(Channel::WhatsApp, "Deleted Cache", "+15556008877")
        .await?;
    org.customer_writes(s, "hello?").await?;
    let key = format!("chat:{s}");
    wait_until(
        Limit::secs(30),
        "a toast after the cache was deleted",
        || async {
            (!desk.bus.toasts.matching(mark, "Deleted Cache").is_empty()
                || toasts_for(&desk.bus.toasts, mark, "catchup") > 0)
                .then_some(())
        },
    )
    .await?;
    let note = wait_until(Limit::secs(30), "the deleted cache said", || async {
        let n = cache_note(&dana.status(desk).ok()?);
        n.contains("was gone").then_some(n)
    })
    .await?;
    check(dana.data_dir.join("chatbell.db").exists(), || {
        "the cache was not made again".into()
    })?;
    let live = dana.status(desk)?;
    check(live.to_string().contains(&key), || {
        format!("the chat is not in the panel after the rebuild: {live}")
    })?;
    println!("  cache deleted while running: made again; the panel said: {note}");
    Ok(())
}

/// Toasts (new ones, not replacements) since `mark` for notification `key`.
fn toasts_for(toasts: &Toasts, mark: usize, key: &str) -> usize {
    toasts
        .notifies_since(mark)
        .iter()
        .filter(|n| n.replaces == 0 && n.key.as_deref() == Some(key))
        .count()
}

/// The desktop's clock moved under a running ChatBell, then a sleep of days.
async fn clock_jumps(artefacts: Artefacts, bin: &Path) -> Result<(), String> {
    let mut desk = Desktop::start(artefacts.clone()).await?;
    let org = Org::new(desk.emulator.base_url())?;
    // SMS chats are offered after one idle minute.
    org.configure(Channel::Sms, json!({"cb_idletimeoutminutes": 1}))
        .await?;
    let mut dana = ChatBell::prepare(&desk, "dana", bin)?;
    let clock = FakeClock::new(&dana.data_dir.join(".."))?;
    dana.extra_env = clock.env();
    let result = clock_steps(&mut desk, &org, &mut dana, &clock).await;
    desk.bus.toasts.dump(&artefacts.root.join("toasts.txt"));
    if let Ok(s) = dana.status(&desk) {
        let _ = std::fs::write(artefacts.root.join("status.json"), s.to_string());
    }
    dana.keep_logs(&desk);
    dana.thaw();
    dana.quit(&desk).await;
    result
}

async fn light(artefacts: Artefacts, bin: &Path) -> Result<(), String> {
    let mut desk = Desktop::start(artefacts.clone()).await?;
    let org = Org::new(desk.emulator.base_url())?;
    let mut dana = ChatBell::prepare(&desk, "dana", bin)?;
    let result = light_steps(&mut desk, &org, &mut dana).await;
    desk.bus.toasts.dump(&artefacts.root.join("toasts.txt"));
    if let Ok(s) = dana.status(&desk) {
        let _ = std::fs::write(artefacts.root.join("status.json"), s.to_string());
    }
    dana.keep_logs(&desk);
    dana.quit(&desk).await;
    result
}

/// The chats (their customers' names) `status` lists now.
fn chats_in(status: &Value, names: &[&str]) -> Vec<String> {
    let text = status["notifications"].to_string();
    names
        .iter()
        .filter(|n| text.contains(*n))
        .map(|n| n.to_string())
        .collect()
}

/// Waits until the panel lists a notification for each of `names`.
async fn panel_shows(who: &ChatBell, names: &[&str]) -> Result<(), String> {
    let panel = who.panel()?;
    wait_until(Limit::secs(30), &format!("the panel shows {names:?}"), || async {
        let text = panel
            .script(
                "return Array.from(document.querySelectorAll('.live-list li.notification')).map(li => li.textContent).join('\\n')",
                json!([]),
            )
            .await
            .ok()?;
        let text = text.as_str()?.to_string();
        names.iter().all(|n| text.contains(n)).then_some(())
    })
    .await
}

/// The panels (`chatbell-panel`) ChatBell started, by pid.
fn panels_of(pid: u32) -> Vec<u32> {
    chatbell_e2e::proc::children_of(pid)
        .into_iter()
        .filter(|(_, comm)| comm == "chatbell-panel")
        .map(|(p, _)| p)
        .collect()
}

async fn light_steps(desk: &mut Desktop, org: &Org, dana: &mut ChatBell) -> Result<(), String> {
    use chatbell_e2e::proc;
    dana.start_with_panel(desk).await?;
    dana.sign_in_through_panel(org, DANA).await?;
    let names = ["Pia Panelkill", "Quentin Quiet"];

    // 1. A chat on the panel, then the panel killed: ChatBell goes on.
    let first = org
        .new_session(Channel::WhatsApp, names[0], "+15557100001")
        .await?;
    org.customer_writes(first, "hello from before the crash")
        .await?;
    panel_shows(dana, &names[..1]).await?;
    let killed = dana.panel_pid;
    check(proc::signal(killed, "KILL"), || {
        format!("could not kill the panel ({killed})")
    })?;
    dana.panel = None;
    wait_until(Limit::secs(10), "the killed panel is gone", || async {
        (!proc::alive(killed)).then_some(())
    })
    .await?;
    let mark = desk.bus.toasts.mark();
    let second = org
        .new_session(Channel::Sms, names[1], "+15557100002")
        .await?;
    org.customer_writes(second, "anyone?").await?;
    wait_until(
        Limit::secs(30),
        "a toast for the chat after the crash",
        || async { (!desk.bus.toasts.matching(mark, names[1]).is_empty()).then_some(()) },
    )
    .await?;
    check(dana.alive(), || "ChatBell died with its panel".into())?;
    let status = dana.status(desk)?;
    check(chats_in(&status, &names).len() == 2, || {
        format!(
            "after the panel's crash, status lists {:?}",
            chats_in(&status, &names)
        )
    })?;

    // 2. `chatbell open`: ChatBell starts a panel of its own, which attaches;
    // a second panel started beside it goes at once.
    let (code, _) = dana.cli(desk, &["open"])?;
    check(code == 0, || format!("`chatbell open` exited with {code}"))?;
    let reopened = wait_until(Limit::secs(30), "ChatBell starts a new panel", || async {
        panels_of(dana.pid).first().copied()
    })
    .await?;
    wait_until(Limit::secs(30), "the new panel's window is up", || async {
        desk.window_viewable("ChatBell", "chatbell-panel")
            .then_some(())
    })
    .await?;
    let t = Instant::now();
    let second_panel = wait_until(Limit::secs(30), "a second panel is refused", || async {
        let out = dana.panel_command(desk).ok()?.output().ok()?;
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success() && said.contains("open already")).then_some(said)
    })
    .await?;
    check(panels_of(dana.pid) == vec![reopened], || {
        format!(
            "after a second panel ({second_panel:?}), ChatBell's panels: {:?}",
            panels_of(dana.pid)
        )
    })?;
    println!(
        "light: a second panel was refused in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 3. ChatBell killed while its panel is open: the panel closes by itself.
    dana.kill_hard();
    wait_until(
        Limit::secs(10),
        "the panel closes when ChatBell dies",
        || async { (!proc::alive(reopened)).then_some(()) },
    )
    .await?;

    // 4. Started again: both chats are there, and one is accepted in Dynamics.
    dana.start_with_panel(desk).await?;
    dana.wait_online().await?;
    panel_shows(dana, &names).await?;
    let status = wait_until(Limit::secs(30), "both chats after the restart", || async {
        let s = dana.status(desk).ok()?;
        (chats_in(&s, &names).len() == 2).then_some(s)
    })
    .await?;
    let id = format!("chat:{first}");
    check(status["notifications"].to_string().contains(&id), || {
        format!("no {id} in {status}")
    })?;
    let (code, out) = dana.cli(desk, &["act", &id, "accept"])?;
    check(code == 0, || {
        format!("accept after the restart: {code} {out}")
    })?;
    let dana_id = org.user_id(DANA).await?;
    wait_until(
        Limit::secs(30),
        "Dana owns the chat in Dynamics",
        || async {
            let row = org.row("cb_chatsessions", first).await.ok()?;
            (org::owner_of(&row).map(|(_, o)| o) == Some(dana_id)).then_some(())
        },
    )
    .await?;

    // 5. The agent closes the panel's window: its process ends, ChatBell stays.
    let panel_pid = dana.panel_pid;
    let _ = dana.panel()?.close_window().await;
    wait_until(
        Limit::secs(10),
        "the closed panel's process ends",
        || async { (!proc::alive(panel_pid)).then_some(()) },
    )
    .await?;
    check(dana.alive(), || {
        "ChatBell ended with its panel's window".into()
    })?;
    dana.panel = None;
    Ok(())
}

/// Waits until `who`'s `status` says of the desktop's clock something with
/// `needle` in it; the note.
async fn wait_clock_note(desk: &Desktop, who: &ChatBell, needle: &str) -> Result<String, String> {
    wait_until(
        Limit::secs(30),
        &format!("status says the clock is {needle}"),
        || async {
            let n = clock_note(&who.status(desk).ok()?);
            n.contains(needle).then_some(n)
        },
    )
    .await
}

fn clock_note(s: &Value) -> String {
    s.get("clock_note")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

async fn clock_steps(
    desk: &mut Desktop,
    org: &Org,
    dana: &mut ChatBell,
    clock: &FakeClock,
) -> Result<(), String> {
    let toasts = desk.bus.toasts.clone();
    // 1. Four minutes ahead of the org's clock.
    clock.set("+4m")?;
    dana.start_headless(desk)?;
    dana.sign_in_cli(desk, org, DANA).await?;
    let me = &*dana;
    let said = wait_clock_note(desk, dana, "4 min ahead").await?;
    let (_, doctor) = dana.cli(desk, &["doctor"])?;
    check(doctor.contains("4 min ahead"), || {
        format!("doctor did not say the clock is ahead: {doctor}")
    })?;
    println!("  desktop 4 min ahead: status says \"{said}\"");
    // Alex's SMS chat: he answered, the customer wrote again. By the
    // desktop's clock the idle minute is long over at once; by the org's it
    // is over in a minute.
    let s = org
        .owned_session(Channel::Sms, "Clocked Customer", "+15556007777", ALEX)
        .await?;
    org.agent_replies(ALEX, s, "One moment please").await?;
    // Dynamics' times are to the second: the customer writes after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mark = toasts.mark();
    org.customer_writes(s, "hello? anyone?").await?;
    let wrote = Instant::now();
    let offer = format!("offer:{s}");
    wait_until(Limit::secs(120), "the idle chat offered", || async {
        (toasts_for(&toasts, mark, &offer) > 0).then_some(())
    })
    .await?;
    let after = wrote.elapsed();
    println!(
        "  R6 with the desktop 4 min ahead: offered {:.1} s after the customer wrote (the org's idle minute)",
        after.as_secs_f64()
    );
    check(after >= Duration::from_secs(50), || {
        format!("offered {after:?} after the customer wrote: by the desktop's clock, not the org's")
    })?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    check(toasts_for(&toasts, mark, &offer) == 1, || {
        "the idle chat offered more than once".into()
    })?;

    // 2. An hour back, as a correction does: chats still come at once.
    clock.set("-1h")?;
    let mark = toasts.mark();
    let s = org
        .new_session(Channel::WhatsApp, "Set Back Customer", "+15556007778")
        .await?;
    org.customer_writes(s, "hello").await?;
    let t = Instant::now();
    wait_until(
        Limit::secs(30),
        "a toast with the clock set back",
        || async { (toasts_for(&toasts, mark, &format!("chat:{s}")) > 0).then_some(()) },
    )
    .await?;
    let toast_after = t.elapsed();
    let said = wait_clock_note(desk, me, "60 min behind").await?;
    println!(
        "  desktop set back an hour: a new chat shown {:.1} s after the customer wrote; status says \"{said}\"",
        toast_after.as_secs_f64()
    );
    check(toast_after <= Duration::from_secs(15), || {
        format!("a new chat waited {toast_after:?} with the clock set back")
    })?;

    // 3. Right again, then three days asleep.
    clock.set("+0")?;
    wait_until(Limit::secs(30), "the clock note gone", || async {
        clock_note(&me.status(desk).ok()?).is_empty().then_some(())
    })
    .await?;
    // Before the sleep: Alex's chats whose customers wait (each is offered to
    // Dana on waking, days idle, unless Alex answered meanwhile).
    let mut sleepy = Vec::new();
    for n in 0..4 {
        let s = org
            .owned_session(
                Channel::Sms,
                &format!("Sleepy {n}"),
                &format!("+155560066{n:02}"),
                ALEX,
            )
            .await?;
        org.agent_replies(ALEX, s, "One moment").await?;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        org.customer_writes(s, "still there?").await?;
        sleepy.push(s);
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    desk.logind_prepare_for_sleep(true).await?;
    dana.freeze();
    // Asleep: Alex answers two of them; new conversations come for the team.
    for s in &sleepy[..2] {
        org.agent_replies(ALEX, *s, "Sorry for the wait").await?;
    }
    let mut meanwhile = Vec::new();
    for n in 0..3 {
        let s = org
            .new_session(
                Channel::WhatsApp,
                &format!("Overnight {n}"),
                &format!("+155560055{n:02}"),
            )
            .await?;
        org.customer_writes(s, "good morning").await?;
        meanwhile.push(format!("chat:{s}"));
    }
    desk.emulator.advance_clock(3 * 86_400);
    clock.set("+3d")?;
    let mark = toasts.mark();
    dana.thaw();
    let woke = Instant::now();
    desk.logind_prepare_for_sleep(false).await?;
    // The catch-up: a summary toast, or the one still up updated in place.
    let summary = wait_until(Limit::secs(30), "the catch-up after the sleep", || async {
        toasts
            .notifies_since(mark)
            .into_iter()
            .rfind(|n| n.key.as_deref() == Some("catchup"))
    })
    .await?;
    let caught_up = woke.elapsed();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let shown: Vec<String> = toasts
        .notifies_since(mark)
        .into_iter()
        .filter(|n| n.replaces == 0)
        .filter_map(|n| n.key)
        .collect();
    let status = dana.status(desk)?;
    let live: BTreeSet<String> = status["notifications"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&String> = meanwhile.iter().filter(|k| !live.contains(*k)).collect();
    println!(
        "  three days asleep: \"{}\" {:.1} s after waking; new toasts on waking: {shown:?}; missing from the panel: {missing:?}",
        summary.summary,
        caught_up.as_secs_f64()
    );
    check(caught_up <= Duration::from_secs(3), || {
        format!("the catch-up came {caught_up:?} after waking, not at once")
    })?;
    for s in &sleepy[..2] {
        let k = format!("offer:{s}");
        check(!shown.contains(&k), || {
            format!("offered a chat Alex answered during the sleep: {shown:?}")
        })?;
    }
    for s in &sleepy[2..] {
        let k = format!("offer:{s}");
        let n = shown.iter().filter(|x| **x == k).count();
        check(n == 1, || {
            format!("a chat still waiting offered {n} times, not once: {shown:?}")
        })?;
    }
    check(
        shown
            .iter()
            .all(|k| k.starts_with("offer:") || k == "catchup"),
        || format!("more than one catch-up and the offers on waking: {shown:?}"),
    )?;
    check(missing.is_empty(), || {
        format!("chats that came during the sleep are not in the panel: {missing:?}")
    })?;
    check(connection(&status) == "online", || {
        format!("not online after waking: {status}")
    })?;
    clock.set("+0")
}

// ---------------------------------------------------------------------------
// Soak

async fn soak(artefacts: Artefacts, bin: &Path) -> Result<(), String> {
    let kills = env_number("CHATBELL_SOAK_KILLS", 10);
    let outage = env_number("CHATBELL_SOAK_OUTAGE_SECONDS", 60);
    let throttling = env_number("CHATBELL_SOAK_THROTTLE_SECONDS", 30);
    let seed = env_number(
        "CHATBELL_SOAK_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
    )
    .max(1);
    eprintln!("soak: {kills} kills, {outage} s outage, {throttling} s throttling, CHATBELL_SOAK_SEED={seed}");
    let mut rng = Rng(seed);
    // One simulated event every 2 s on average, in real time.
    let mut options = Options {
        seed: Seed::Demo,
        device_code_interval: Duration::from_secs(1),
        simulate_rate: 1800.0,
        ..Options::default()
    }
    .simulate(seed);
    options.simulate_speed = 1.0;
    let mut desk = Desktop::start_with(artefacts.clone(), options).await?;
    let org = Org::new(desk.emulator.base_url())?;
    let dana_id = org.user_id(DANA).await?;
    let mut dana = ChatBell::prepare(&desk, "dana", bin)?;
    // Her data folder on a disk of its own, filled for a while (phase 3);
    // her desktop's clock moved for a while (phase 4).
    let disk = SmallDisk::mount(&dana.data_dir, 64 * 1024)?;
    let clock = FakeClock::new(&dana.data_dir.join(".."))?;
    dana.extra_env = clock.env();
    dana.start_headless(&desk)?;
    dana.sign_in_cli(&desk, &org, DANA).await?;
    let bad_days = BadDays {
        disk: &disk,
        clock: &clock,
        full_for: env_number("CHATBELL_SOAK_DISK_FULL_SECONDS", 20),
        jumped_for: env_number("CHATBELL_SOAK_CLOCK_JUMP_SECONDS", 20),
    };
    let result = soak_phases(
        &mut desk, &org, &mut dana, dana_id, &mut rng, kills, outage, throttling, &bad_days,
    )
    .await;
    desk.bus.toasts.dump(&artefacts.root.join("toasts.txt"));
    if let Ok(s) = dana.status(&desk) {
        let _ = std::fs::write(artefacts.root.join("status.json"), s.to_string());
    }
    dana.keep_logs(&desk);
    dana.quit(&desk).await;
    result?;
    // Tokens at rest and in logs: no token issued to Dana during the whole run
    // is in her data dir (cache, logs, sign-in file) or in what ChatBell wrote
    // to its stdout and stderr.
    let tokens = desk.emulator.tokens_of(DANA).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    collect_files(&dana.data_dir, &mut files);
    collect_files(&artefacts.logs(), &mut files);
    let mut hits = Vec::new();
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        for t in &tokens {
            if contains(&bytes, t.as_bytes()) {
                hits.push(f.display().to_string());
            }
        }
    }
    println!(
        "  tokens: {} issued to Dana, searched for in {} files (data dir and logs): {} found",
        tokens.len(),
        files.len(),
        hits.len()
    );
    check(tokens.len() > 1, || "no tokens to look for".into())?;
    // The search covers where a token could be written down.
    let searched = |name: &str| {
        files.iter().any(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(name))
        })
    };
    check(
        searched("signin.bin") && searched("chatbell.log") && searched("dana-chatbell-headless"),
        || format!("the sign-in file or a log is missing from {files:?}"),
    )?;
    check(hits.is_empty(), || {
        format!("a token in plain text in {hits:?}")
    })
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A desktop's bad days in the soak: a disk that fills, a clock that jumps.
struct BadDays<'a> {
    disk: &'a SmallDisk,
    clock: &'a FakeClock,
    /// Seconds the disk stays full.
    full_for: u64,
    /// Seconds the desktop's clock stays two hours ahead.
    jumped_for: u64,
}

/// What a stretch of the soak cost: chats made during it, each of which
/// must show once.
#[derive(Default)]
struct Cost {
    chats: usize,
    /// Taken by a simulated agent before Dana's next poll: never due to her.
    taken_first: usize,
    lost: Vec<String>,
    duplicated: Vec<String>,
    slowest: Duration,
}

impl Cost {
    fn line(&self) -> String {
        format!(
            "{} chats during it ({} more taken by another agent before Dana's next poll): lost {}, duplicated {}, each shown within {:.1} s",
            self.chats,
            self.taken_first,
            self.lost.len(),
            self.duplicated.len(),
            self.slowest.as_secs_f64()
        )
    }
}

/// Chats to Dana's team, one at a time, each waited for as a toast (up to
/// 30 s), until `until`; the cost counted.
async fn marker_chats(
    desk: &Desktop,
    org: &Org,
    tag: &str,
    until: Instant,
    cost: &mut Cost,
    marks: &mut Vec<(usize, String)>,
) -> Result<(), String> {
    let toasts = desk.bus.toasts.clone();
    let mut n = 0;
    while Instant::now() < until || n == 0 {
        let mark = toasts.mark();
        let name = format!("{tag} {n}");
        let s = org
            .new_session(
                Channel::WhatsApp,
                &name,
                &format!("+1555{:03}{n:04}", rand_digits(tag) % 1000),
            )
            .await?;
        org.customer_writes(s, "hello, anyone?").await?;
        let t = Instant::now();
        let key = format!("chat:{s}");
        // Shown, or no longer due: the simulated agents take chats from the
        // queue too, sometimes before Dana's next poll.
        let outcome = wait_until(Limit::secs(30), &format!("a toast for {name}"), || async {
            if toasts_for(&toasts, mark, &key) > 0 {
                return Some(true);
            }
            let row = org.row("cb_chatsessions", s).await.ok()?;
            let waiting = org::int(&row, "statecode") == Some(0)
                && row.get("cb_acceptedon").is_none_or(Value::is_null);
            (!waiting).then_some(false)
        })
        .await;
        match outcome {
            Ok(true) => {
                cost.chats += 1;
                cost.slowest = cost.slowest.max(t.elapsed());
            }
            // Taken before Dana could see it: nothing was due.
            Ok(false) => cost.taken_first += 1,
            Err(_) => {
                cost.chats += 1;
                cost.lost.push(key.clone());
            }
        }
        marks.push((mark, key));
        n += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// After a stretch: each of its chats shown no more than once.
fn count_duplicates(desk: &Desktop, marks: &[(usize, String)], cost: &mut Cost) {
    for (mark, key) in marks {
        if toasts_for(&desk.bus.toasts, *mark, key) > 1 {
            cost.duplicated.push(key.clone());
        }
    }
}

/// The disk fills for `full_for` seconds, then has room again.
async fn disk_full_stretch(
    desk: &Desktop,
    org: &Org,
    dana: &ChatBell,
    bad: &BadDays<'_>,
) -> Result<(Cost, Option<Duration>, Option<Duration>), String> {
    // After a poll of its own: what the outage's catch-up summarised is
    // behind (a chat made during a catch-up is counted in its summary).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let filler = bad.disk.fill();
    let started = Instant::now();
    let mut cost = Cost::default();
    let mut marks = Vec::new();
    // Said once a commit fails (the simulation changes something every few
    // seconds).
    let said = wait_until(Limit::secs(40), "the full disk said", || async {
        let st = dana.status(desk).ok()?;
        cache_note(&st).contains("cannot save").then_some(())
    })
    .await
    .ok()
    .map(|()| started.elapsed());
    marker_chats(
        desk,
        org,
        "Full Disk",
        started + Duration::from_secs(bad.full_for),
        &mut cost,
        &mut marks,
    )
    .await?;
    std::fs::remove_file(&filler).map_err(|e| e.to_string())?;
    let room = Instant::now();
    let saved = wait_until(Limit::secs(60), "the cache saved again", || async {
        let st = dana.status(desk).ok()?;
        cache_note(&st).is_empty().then_some(())
    })
    .await
    .ok()
    .map(|()| room.elapsed());
    tokio::time::sleep(Duration::from_secs(5)).await;
    count_duplicates(desk, &marks, &mut cost);
    Ok((cost, said, saved))
}

/// The desktop's clock two hours ahead for `jumped_for` seconds, then set
/// back to the right time (two hours back).
async fn clock_jump_stretch(
    desk: &Desktop,
    org: &Org,
    dana: &ChatBell,
    bad: &BadDays<'_>,
) -> Result<Cost, String> {
    let mut cost = Cost::default();
    let mut marks = Vec::new();
    bad.clock.set("+2h")?;
    let started = Instant::now();
    // Once a poll has read the org's time, chats come one by one.
    wait_clock_note(desk, dana, "ahead").await?;
    marker_chats(
        desk,
        org,
        "Ahead Clock",
        started + Duration::from_secs(bad.jumped_for),
        &mut cost,
        &mut marks,
    )
    .await?;
    bad.clock.set("+0")?;
    let back = Instant::now();
    marker_chats(
        desk,
        org,
        "Set Back Clock",
        back + Duration::from_secs(bad.jumped_for / 2),
        &mut cost,
        &mut marks,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    count_duplicates(desk, &marks, &mut cost);
    Ok(cost)
}

#[allow(clippy::too_many_arguments)]
async fn soak_phases(
    desk: &mut Desktop,
    org: &Org,
    dana: &mut ChatBell,
    dana_id: Uuid,
    rng: &mut Rng,
    kills: u64,
    outage: u64,
    throttling: u64,
    bad: &BadDays<'_>,
) -> Result<(), String> {
    let toasts = desk.bus.toasts.clone();
    let started = Instant::now();

    // 1. SIGKILL at random moments: while it starts, signs back in, reads the
    // org, writes its cache, shows toasts. Every request takes 200 ms longer, so
    // that a sync lasts a while; one kill in two waits for one of ChatBell's
    // requests to be in flight.
    desk.emulator.set_faults(FaultSettings {
        latency_ms: 200,
        ..FaultSettings::default()
    });
    let mut back_up = Vec::new();
    let mut back_online = 0u64;
    let mut mid_request = 0u64;
    let mut accepted: Vec<Uuid> = Vec::new();
    for i in 0..kills {
        let me = &*dana;
        let t = Instant::now();
        wait_until(
            Limit::secs(30),
            "the restarted ChatBell answers",
            || async { me.status(desk).ok() },
        )
        .await
        .map_err(|e| format!("after kill {i}: {e}"))?;
        back_up.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(rng.below(6000))).await;
        let status = dana.status(desk).ok();
        if status.as_ref().is_some_and(|s| connection(s) == "online") {
            back_online += 1;
        }
        // One time in four, Dana accepts a new chat just before the kill: the
        // command may be anywhere between the panel and Dynamics when it lands.
        if i % 4 == 0 {
            if let Some(id) = status.as_ref().and_then(acceptable_chat) {
                let (code, _) = dana.cli(desk, &["act", &id, "accept"])?;
                if code == 0 {
                    if let Some(s) = id
                        .strip_prefix("chat:")
                        .and_then(|s| Uuid::parse_str(s).ok())
                    {
                        accepted.push(s);
                    }
                }
                tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
            }
        }
        if i % 2 == 1 {
            let emu = &desk.emulator;
            let _ = wait_until(Limit::secs(10), "a request in flight", || async {
                (emu.in_flight() > 0).then_some(())
            })
            .await;
            tokio::time::sleep(Duration::from_millis(rng.below(150))).await;
        }
        if !dana.alive() {
            return Err(format!("ChatBell died by itself before kill {i}"));
        }
        if desk.emulator.in_flight() > 0 {
            mid_request += 1;
        }
        dana.kill_hard();
        tokio::time::sleep(Duration::from_millis(rng.below(2000))).await;
        dana.start_headless(desk)?;
    }
    desk.emulator.set_faults(FaultSettings::default());
    wait_connection(desk, dana, "online", Limit::secs(60)).await?;
    let kill_phase = started.elapsed();

    // 2. Dynamics out of reach: every connection dropped.
    let t = Instant::now();
    desk.emulator.set_faults(FaultSettings {
        drop_every: 1,
        ..FaultSettings::default()
    });
    let said_offline = wait_connection(desk, dana, "offline", Limit::secs(outage.max(1)))
        .await
        .is_ok();
    let left = Duration::from_secs(outage).saturating_sub(t.elapsed());
    tokio::time::sleep(left).await;
    desk.emulator.set_faults(FaultSettings::default());
    let t = Instant::now();
    wait_connection(desk, dana, "online", Limit::secs(120)).await?;
    let back_after_outage = t.elapsed();

    // 3. The disk fills, then has room again.
    let (full_cost, full_said, full_saved) = disk_full_stretch(desk, org, dana, bad).await?;

    // 4. The desktop's clock two hours ahead, then set back.
    let jump_cost = clock_jump_stretch(desk, org, dana, bad).await?;

    // 5. Throttled: every 2nd request a 429 with Retry-After 2 s.
    let before = desk.emulator.stats();
    desk.emulator.set_faults(FaultSettings {
        throttle_every: 2,
        retry_after_seconds: 2,
        ..FaultSettings::default()
    });
    tokio::time::sleep(Duration::from_secs(throttling)).await;
    let during = desk.emulator.stats();
    desk.emulator.set_faults(FaultSettings::default());
    let throttled = during.throttled - before.throttled;
    let early = during
        .early_retries_by_user
        .get(&dana_id.to_string())
        .copied()
        .unwrap_or(0)
        - before
            .early_retries_by_user
            .get(&dana_id.to_string())
            .copied()
            .unwrap_or(0);
    let requests_while_throttled = during.total - before.total;

    // 6. The org settles; ChatBell catches up.
    let sim_events = desk.emulator.simulation_events();
    desk.emulator.stop_simulation();
    wait_connection(desk, dana, "online", Limit::secs(60)).await?;
    let expected = expected_for_dana(org, dana_id).await?;
    let me = &*dana;
    let settled = wait_until(
        Limit::secs(60),
        "ChatBell shows what the org says",
        || async {
            let a = account(&toasts, me, desk, &expected).ok()?;
            (a.lost.is_empty() && a.stale.is_empty()).then_some(a)
        },
    )
    .await;
    let a = match settled {
        Ok(a) => a,
        Err(_) => account(&toasts, dana, desk, &expected)?,
    };

    // Each Accept answered "ok" before a kill took effect in Dynamics, or
    // another agent had the chat first: none is left in the queue.
    let (mut mine, mut others, mut lost_actions) = (0, 0, Vec::new());
    for s in &accepted {
        let row = org.row("cb_chatsessions", *s).await?;
        match org::owner_of(&row) {
            Some((_, o)) if o == dana_id => mine += 1,
            Some((kind, _)) if kind == "systemuser" => others += 1,
            _ if org::int(&row, "statecode") != Some(0) => others += 1,
            _ => lost_actions.push(*s),
        }
    }

    let up_ms: Vec<u128> = back_up.iter().map(Duration::as_millis).collect();
    let median_up = {
        let mut v = up_ms.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    println!("soak figures:");
    println!(
        "  simulated events: {sim_events} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  SIGKILLs: {kills}, each restart answered (median {median_up} ms to the control socket); online at the moment of {back_online} of the kills, a request of ChatBell's in flight at {mid_request}; kill phase {:.0} s",
        kill_phase.as_secs_f64()
    );
    println!(
        "  Accept just before a kill: {} sent; in Dynamics Dana's {mine}, another agent's first {others}, lost {}",
        accepted.len(),
        lost_actions.len()
    );
    println!(
        "  outage: {outage} s of dropped connections; said offline: {said_offline}; online again {:.1} s after Dynamics came back",
        back_after_outage.as_secs_f64()
    );
    println!(
        "  disk full for {} s: {}; the cache's writes failed: {}; its note gone {} after room came back",
        bad.full_for,
        full_cost.line(),
        full_said.map_or("no (they fitted in room its files already had)".into(), |d| {
            format!("yes, said {:.1} s after the disk filled", d.as_secs_f64())
        }),
        full_saved.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
    );
    println!(
        "  desktop clock 2 h ahead for {} s, then set back 2 h: {}",
        bad.jumped_for,
        jump_cost.line()
    );
    println!(
        "  throttling: {requests_while_throttled} Web API requests in {throttling} s, {throttled} answered 429 with Retry-After 2 s, {early} sent before their Retry-After was over"
    );
    println!(
        "  due at the end: {} new conversations and {} requests; toasts shown: {} (of which {} replaced in place)",
        a.expected_chats, a.expected_requests, a.notifies, a.replaced
    );
    println!(
        "  lost: {}, duplicated: {}, left up for what is gone: {}, counted by the catch-up summary: {}",
        a.lost.len(),
        a.duplicated.len(),
        a.stale.len(),
        a.in_summary
    );

    for (stretch, cost) in [("disk full", &full_cost), ("clock jump", &jump_cost)] {
        check(cost.chats > 0, || {
            format!("{stretch}: no chat reached Dana during it: nothing was measured")
        })?;
        check(cost.lost.is_empty() && cost.duplicated.is_empty(), || {
            format!(
                "{stretch}: lost {:?}, duplicated {:?}",
                cost.lost, cost.duplicated
            )
        })?;
    }
    // Whether the cache's writes failed depends on the room its files already
    // had (SQLite reuses its write-ahead log's space): `sturdy_a_full_disk_...`
    // checks what is said then; here, that it went once room came back.
    check(full_saved.is_some(), || {
        "the cache still said it cannot save once there was room".into()
    })?;
    check(back_after_outage <= Duration::from_secs(2), || {
        format!("online again {back_after_outage:?} after Dynamics came back, over 2 s")
    })?;
    check(lost_actions.is_empty(), || {
        format!("accepted just before a kill, still in the queue: {lost_actions:?}")
    })?;
    check(said_offline, || {
        "ChatBell never said it was offline during the outage".into()
    })?;
    check(throttled > 0, || "no request was throttled".into())?;
    check(early == 0, || {
        format!("{early} requests came before their Retry-After was over")
    })?;
    check(a.lost.is_empty(), || format!("lost: {:?}", a.lost))?;
    check(a.duplicated.is_empty(), || {
        format!("shown twice: {:?}", a.duplicated)
    })?;
    check(a.stale.is_empty(), || {
        format!("toasts left up for what is gone: {:?}", a.stale)
    })?;
    check(a.expected_chats + a.expected_requests > 0, || {
        "the simulation left nothing due: nothing was compared".into()
    })?;
    Ok(())
}

/// A live new conversation Dana can accept, from `chatbell status --json`.
fn acceptable_chat(status: &Value) -> Option<String> {
    status["notifications"]
        .as_array()?
        .iter()
        .find(|n| {
            n["id"].as_str().is_some_and(|id| id.starts_with("chat:"))
                && n["actions"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("accept")))
        })
        .and_then(|n| n["id"].as_str().map(str::to_string))
}

/// What the org says Dana should have at the end: the notification keys of
/// every new conversation in her queue and every request to her still pending.
struct Expected {
    chats: BTreeSet<String>,
    requests: BTreeSet<String>,
}

async fn expected_for_dana(org: &Org, dana: Uuid) -> Result<Expected, String> {
    let team = chatbell_emulator::seed::SeedIds::default_team();
    let mut chats = BTreeSet::new();
    let mut open = BTreeSet::new();
    for s in org
        .rows("cb_chatsessions", "statecode eq 0 and statuscode eq 1")
        .await?
    {
        let Some(id) = uuid_of(&s, "cb_chatsessionid") else {
            continue;
        };
        open.insert(id);
        let team_owned =
            org::owner_of(&s).is_some_and(|(kind, owner)| kind == "team" && owner == team);
        let waiting = s.get("cb_acceptedon").is_none_or(Value::is_null)
            && s.get("cb_lastcustomermessageon")
                .is_some_and(|v| !v.is_null());
        if team_owned && waiting {
            chats.insert(format!("chat:{id}"));
        }
    }
    let mut requests = BTreeSet::new();
    for r in org
        .rows(
            "cb_chatrequests",
            &format!("statuscode eq 1 and _cb_requestedto_value eq {dana}"),
        )
        .await?
    {
        let (Some(id), Some(session)) = (
            uuid_of(&r, "cb_chatrequestid"),
            uuid_of(&r, "_cb_chatsession_value"),
        ) else {
            continue;
        };
        if open.contains(&session) {
            requests.insert(format!("request:{id}"));
        }
    }
    Ok(Expected { chats, requests })
}

/// Keys whose toast says a thing once: a chat's news, a request.
fn once_only(key: &str) -> bool {
    key.starts_with("chat:") || key.starts_with("request:")
}

/// What the notification server shows against what is due.
#[derive(Debug)]
struct Account {
    expected_chats: usize,
    expected_requests: usize,
    notifies: usize,
    replaced: usize,
    /// Due, and neither a toast up nor counted by a catch-up summary up.
    lost: Vec<String>,
    /// A new toast for a key whose earlier toast was still up, or one saying
    /// again what its key's last toast said after that was taken down.
    duplicated: Vec<String>,
    /// A chat or request toast up for what is no longer due.
    stale: Vec<String>,
    in_summary: usize,
}

fn account(
    toasts: &Toasts,
    dana: &ChatBell,
    desk: &Desktop,
    expected: &Expected,
) -> Result<Account, String> {
    let status = dana.status(desk)?;
    let live: BTreeSet<String> = status["notifications"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // Replay the server's log: which key each toast id stands for, what is up.
    let mut key_of: HashMap<u32, String> = HashMap::new();
    let mut up: BTreeMap<String, u32> = BTreeMap::new();
    // What each key's last toast said.
    let mut said: HashMap<String, (String, String)> = HashMap::new();
    let mut duplicated = Vec::new();
    let mut notifies = 0;
    let mut replaced = 0;
    let mut summary_count = 0usize;
    for e in toasts.events() {
        match e {
            Event::Notify(n) => {
                notifies += 1;
                let Some(key) = n.key.clone() else { continue };
                let text = (n.summary.clone(), n.body.clone());
                if n.replaces != 0 {
                    replaced += 1;
                } else if up.contains_key(&key)
                    || (once_only(&key) && said.get(&key) == Some(&text))
                {
                    // A second toast beside the first, or the same chat or
                    // request toast again after it was taken down (delivered
                    // twice). A chat toasted anew with news (a message after it
                    // became mine) is not one; calls and offers may ring again.
                    duplicated.push(key.clone());
                }
                said.insert(key.clone(), text);
                if key == "catchup" {
                    summary_count = n
                        .summary
                        .split_whitespace()
                        .next()
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                }
                key_of.insert(n.id, key.clone());
                up.insert(key, n.id);
            }
            Event::Close { id, .. } | Event::ClosedByServer { id, .. } => {
                if let Some(k) = key_of.get(&id) {
                    if up.get(k) == Some(&id) {
                        up.remove(k);
                    }
                }
            }
        }
    }
    let summary_up = up.contains_key("catchup");
    let mut lost = Vec::new();
    let mut quiet = Vec::new();
    for k in expected.chats.iter().chain(&expected.requests) {
        if up.contains_key(k) {
            continue;
        }
        // A chat missed while away may be counted by the summary instead (R17):
        // it must then be in the panel.
        if k.starts_with("chat:") && summary_up && live.contains(k) {
            quiet.push(k.clone());
        } else {
            lost.push(k.clone());
        }
    }
    if quiet.len() > summary_count {
        lost.extend(quiet.iter().skip(summary_count).cloned());
    }
    let stale = up
        .keys()
        .filter(|k| {
            (k.starts_with("chat:") && !expected.chats.contains(*k))
                || (k.starts_with("request:") && !expected.requests.contains(*k))
        })
        .filter(|k| !live.contains(*k))
        .cloned()
        .collect();
    Ok(Account {
        expected_chats: expected.chats.len(),
        expected_requests: expected.requests.len(),
        notifies,
        replaced,
        lost,
        duplicated,
        stale,
        in_summary: quiet.len().min(summary_count),
    })
}

// ---------------------------------------------------------------------------
// Races

/// One race: the notification each ChatBell answers, and with what.
struct Round {
    kind: &'static str,
    session: Uuid,
    /// (Dana's notification id, Sam's), the action.
    ids: (String, String),
    action: &'static str,
    /// What the loser is told after the winner's name (R15's words).
    told: &'static str,
}

/// What a loser's "Too late" says, whatever the race.
const LOST: [&str; 2] = ["already took this chat", "accepted this chat first"];

/// Dana's and Sam's ChatBells on one virtual desktop, each with a notification
/// server of its own (separate D-Bus sessions) and signed in to one emulated org
/// whose SMS chats are offered after one idle minute.
struct TwoAgents {
    desk: Desktop,
    org: Org,
    other: chatbell_e2e::desktop::OtherSession,
    dana: ChatBell,
    sam: ChatBell,
}

impl TwoAgents {
    async fn start(artefacts: &Artefacts, bin: &Path) -> Result<TwoAgents, String> {
        let mut desk = Desktop::start(artefacts.clone()).await?;
        let org = Org::new(desk.emulator.base_url())?;
        org.configure(Channel::Sms, json!({"cb_idletimeoutminutes": 1}))
            .await?;
        let other = desk.other_session("sam").await?;
        let mut dana = ChatBell::prepare(&desk, "dana", bin)?;
        let mut sam = ChatBell::prepare(&desk, "sam", bin)?;
        sam.bus_address = Some(other.address.clone());
        dana.start_headless(&desk)?;
        sam.start_headless(&desk)?;
        dana.sign_in_cli(&desk, &org, DANA).await?;
        sam.sign_in_cli(&desk, &org, SAM).await?;
        Ok(TwoAgents {
            desk,
            org,
            other,
            dana,
            sam,
        })
    }

    /// Keeps both agents' toasts and logs, and stops everything.
    async fn finish(mut self, artefacts: &Artefacts) {
        let toasts = |name: &str| artefacts.root.join(name);
        self.desk.bus.toasts.dump(&toasts("dana-toasts.txt"));
        self.other.bus.toasts.dump(&toasts("sam-toasts.txt"));
        self.dana.keep_logs(&self.desk);
        self.sam.keep_logs(&self.desk);
        self.dana.quit(&self.desk).await;
        self.sam.quit(&self.desk).await;
        drop(self.other);
        self.desk.stop();
    }
}

async fn race(artefacts: Artefacts, bin: &Path) -> Result<(), String> {
    let rounds = env_number("CHATBELL_RACE_ROUNDS", 5) as usize;
    let t = TwoAgents::start(&artefacts, bin).await?;
    let sam_toasts = &t.other.bus.toasts;
    let result = race_rounds(&t.desk, &t.org, &t.dana, &t.sam, sam_toasts, rounds).await;
    t.finish(&artefacts).await;
    result
}

async fn race_rounds(
    desk: &Desktop,
    org: &Org,
    dana: &ChatBell,
    sam: &ChatBell,
    sam_toasts: &Toasts,
    rounds: usize,
) -> Result<(), String> {
    let dana_id = org.user_id(DANA).await?;
    let sam_id = org.user_id(SAM).await?;
    let run = std::process::id() % 10_000;
    let started = Instant::now();
    // The idle chats first: their minute runs while the others race.
    let mut idle = Vec::new();
    for i in 0..rounds {
        let s = org
            .owned_session(
                Channel::Sms,
                &format!("Ida Idle-{i}"),
                &format!("+4477009{run:04}{i:03}"),
                ALEX,
            )
            .await?;
        org.customer_writes(s, "Hello? Anyone there?").await?;
        idle.push(s);
    }
    let mut plan = Vec::new();
    for i in 0..rounds {
        let channel = if i % 2 == 0 {
            Channel::Sms
        } else {
            Channel::WhatsApp
        };
        let s = org
            .new_session(
                channel,
                &format!("Nia New-{i}"),
                &format!("+1555{run:04}{i:03}"),
            )
            .await?;
        org.customer_writes(s, "Hi, I need help").await?;
        plan.push(Round {
            kind: "new conversation (Accept)",
            session: s,
            ids: (format!("chat:{s}"), format!("chat:{s}")),
            action: "accept",
            told: "accepted this chat first",
        });
    }
    for i in 0..rounds {
        let s = org
            .owned_session(
                Channel::Sms,
                &format!("Ravi Request-{i}"),
                &format!("+4477008{run:04}{i:03}"),
                ALEX,
            )
            .await?;
        let to_dana = org
            .request(ASSIGN, s, ALEX, DANA, "Please take this one", None)
            .await?;
        let to_sam = org
            .request(ASSIGN, s, ALEX, SAM, "Please take this one", None)
            .await?;
        plan.push(Round {
            kind: "assign request (Accept)",
            session: s,
            ids: (format!("request:{to_dana}"), format!("request:{to_sam}")),
            action: "accept",
            told: "already took this chat",
        });
    }
    for s in idle {
        plan.push(Round {
            kind: "Assign to me (Yes)",
            session: s,
            ids: (format!("offer:{s}"), format!("offer:{s}")),
            action: "yes",
            told: "already took this chat",
        });
    }

    let mut won = (0u32, 0u32);
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, round) in plan.iter().enumerate() {
        // Both have it, with the action to answer.
        for (who, id) in [(dana, &round.ids.0), (sam, &round.ids.1)] {
            wait_until(
                Limit::secs(100),
                &format!("{}'s ChatBell offers {} on {id}", who.name, round.action),
                || async {
                    let s = who.status(desk).ok()?;
                    s["notifications"].as_array()?.iter().find(|x| {
                        x["id"].as_str() == Some(id.as_str())
                            && x["actions"]
                                .as_array()
                                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(round.action)))
                    })?;
                    Some(())
                },
            )
            .await
            .map_err(|e| format!("round {n} ({}): {e}", round.kind))?;
        }
        // Both answer at once.
        let mut a = dana.command(desk, &["act", &round.ids.0, round.action]);
        let mut b = sam.command(desk, &["act", &round.ids.1, round.action]);
        let (ca, cb) = (
            a.stdout(Stdio::null()).spawn().map_err(|e| e.to_string())?,
            b.stdout(Stdio::null()).spawn().map_err(|e| e.to_string())?,
        );
        let (ra, rb) = (
            ca.wait_with_output().map_err(|e| e.to_string())?,
            cb.wait_with_output().map_err(|e| e.to_string())?,
        );
        check(ra.status.success() && rb.status.success(), || {
            format!(
                "round {n} ({}): an answer was refused: {} / {}",
                round.kind,
                String::from_utf8_lossy(&ra.stderr),
                String::from_utf8_lossy(&rb.stderr)
            )
        })?;
        // Exactly one owns the chat; the other is told who.
        let owner = wait_until(Limit::secs(30), "the chat has an agent owner", || async {
            let row = org.row("cb_chatsessions", round.session).await.ok()?;
            let (_, id) = org::owner_of(&row)?;
            (id == dana_id || id == sam_id).then_some(id)
        })
        .await
        .map_err(|e| format!("round {n} ({}): {e}", round.kind))?;
        let (winner, loser, loser_toasts, winner_name) = if owner == dana_id {
            won.0 += 1;
            (dana, sam, sam_toasts, "Dana Demo")
        } else {
            won.1 += 1;
            (sam, dana, &desk.bus.toasts, "Sam Patel")
        };
        let told = format!("{winner_name} {}", round.told);
        wait_until(
            Limit::secs(30),
            &format!("{} is told \"{told}\"", loser.name),
            || async {
                let s = loser.status(desk).ok()?;
                let in_panel = s["notifications"].as_array()?.iter().any(|x| {
                    let session =
                        x["session_id"].as_str() == Some(round.session.to_string().as_str());
                    session
                        && (x["title"].as_str().unwrap_or("").contains(&told)
                            || x["body"].as_str().unwrap_or("").contains(&told))
                });
                let toasted = !loser_toasts.matching(0, &told).is_empty();
                (in_panel && toasted).then_some(())
            },
        )
        .await
        .map_err(|e| format!("round {n} ({}): {e}", round.kind))?;
        let status = winner.status(desk)?;
        let winner_told_lost = status["notifications"].as_array().is_some_and(|a| {
            a.iter().any(|x| {
                x["session_id"].as_str() == Some(round.session.to_string().as_str())
                    && LOST
                        .iter()
                        .any(|l| x["body"].as_str().unwrap_or("").contains(l))
            })
        });
        check(!winner_told_lost, || {
            format!("round {n} ({}): the winner was told it lost", round.kind)
        })?;
        *by_kind.entry(round.kind).or_default() += 1;
    }
    println!("race figures:");
    for (kind, n) in &by_kind {
        println!("  {kind}: {n} races, each won by exactly one agent, the other told who");
    }
    println!(
        "  won by Dana {}, by Sam {}; {:.0} s",
        won.0,
        won.1,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// An action moments after a change to the same chat

/// Who changed the chat just before Dana's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    /// The customer wrote again.
    Customer,
    /// The chat's owner (Alex) replied.
    Owner,
    /// The requester (Alex) wrote in the chat.
    RequesterWrote,
    /// The requester (Alex) withdrew the request.
    RequesterWithdrew,
    /// Another agent (Sam) took the chat.
    AnotherAgent,
}

/// What Dana does, on what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    /// Accept a new conversation in her team's queue.
    Accept,
    /// Assign to me: Yes, on Alex's idle chat.
    Yes,
    /// Accept Alex's Assign request.
    AcceptRequest,
    /// Reject Alex's Assign request.
    RejectRequest,
    /// Block a first message from a new number.
    Block,
}

/// One case: Dana's action, the change just before it, and what must follow:
/// `None`, it goes through; `Some(words)`, it is refused with these words
/// (after the other agent's name, where the words begin with one).
struct Late {
    act: Act,
    by: By,
    refused: Option<&'static str>,
}

/// Every ownership action against every change that can come just before it.
const LATE: &[Late] = &[
    Late {
        act: Act::Accept,
        by: By::Customer,
        refused: None,
    },
    Late {
        act: Act::Accept,
        by: By::AnotherAgent,
        refused: Some("Sam Patel accepted this chat first."),
    },
    Late {
        act: Act::Yes,
        by: By::Customer,
        refused: None,
    },
    Late {
        act: Act::Yes,
        by: By::Owner,
        refused: Some("Alex Rivera replied meanwhile."),
    },
    Late {
        act: Act::Yes,
        by: By::AnotherAgent,
        refused: Some("Sam Patel already took this chat."),
    },
    Late {
        act: Act::AcceptRequest,
        by: By::Customer,
        refused: None,
    },
    Late {
        act: Act::AcceptRequest,
        by: By::RequesterWrote,
        refused: None,
    },
    Late {
        act: Act::AcceptRequest,
        by: By::RequesterWithdrew,
        refused: Some("Alex Rivera withdrew the request."),
    },
    Late {
        act: Act::AcceptRequest,
        by: By::AnotherAgent,
        refused: Some("Sam Patel already took this chat."),
    },
    Late {
        act: Act::RejectRequest,
        by: By::Customer,
        refused: None,
    },
    Late {
        act: Act::RejectRequest,
        by: By::RequesterWithdrew,
        refused: Some("Alex Rivera withdrew the request."),
    },
    Late {
        act: Act::Block,
        by: By::Customer,
        refused: None,
    },
    Late {
        act: Act::Block,
        by: By::AnotherAgent,
        refused: Some("Sam Patel accepted this chat first."),
    },
];

/// Tries of one case before giving up: a try whose change Dana's ChatBell read
/// before her action (a poll in between) does not show the race, and is made
/// again on a new chat.
const LATE_TRIES: usize = 4;

async fn late(artefacts: Artefacts, bin: &Path) -> Result<(), String> {
    let reps = env_number("CHATBELL_LATE_ROUNDS", 1) as usize;
    let t = TwoAgents::start(&artefacts, bin).await?;
    let sam_toasts = &t.other.bus.toasts;
    let result = late_cases(&t.desk, &t.org, &t.dana, &t.sam, sam_toasts, reps).await;
    t.finish(&artefacts).await;
    result
}

/// The chat (and request) one try acts on, and the notification id Dana acts on.
struct Target {
    session: Uuid,
    request: Option<Uuid>,
    id: String,
}

impl Act {
    /// The action's name on the command line.
    fn action(self) -> &'static str {
        match self {
            Act::Accept | Act::AcceptRequest => "accept",
            Act::Yes => "yes",
            Act::RejectRequest => "reject",
            Act::Block => "block",
        }
    }
}

/// A fresh chat (and request) for `act`, which Dana's ChatBell will offer her
/// (an idle offer after the idle minute).
async fn late_target(org: &Org, act: Act, tag: &str) -> Result<Target, String> {
    let number = format!("+1555{:07}", rand_digits(tag));
    let (session, request, id) = match act {
        Act::Accept | Act::Block => {
            let s = org
                .new_session(Channel::Sms, &format!("Lee Late-{tag}"), &number)
                .await?;
            org.customer_writes(s, "Hi, is anyone there?").await?;
            (s, None, format!("chat:{s}"))
        }
        Act::Yes => {
            let s = org
                .owned_session(Channel::Sms, &format!("Ida Late-{tag}"), &number, ALEX)
                .await?;
            org.customer_writes(s, "Hello? Anyone there?").await?;
            (s, None, format!("offer:{s}"))
        }
        Act::AcceptRequest | Act::RejectRequest => {
            let s = org
                .owned_session(Channel::Sms, &format!("Ravi Late-{tag}"), &number, ALEX)
                .await?;
            let r = org
                .request(ASSIGN, s, ALEX, DANA, "Please take this one", None)
                .await?;
            (s, Some(r), format!("request:{r}"))
        }
    };
    Ok(Target {
        session,
        request,
        id,
    })
}

/// A number of seven digits from this run and `tag`, for a customer number no
/// other case uses.
fn rand_digits(tag: &str) -> u64 {
    let mut h: u64 = 1469598103934665603 ^ u64::from(std::process::id());
    for b in tag.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    h % 10_000_000
}

/// Whether `who`'s ChatBell offers `action` on the notification `id` now.
fn offers(who: &ChatBell, desk: &Desktop, id: &str, action: &str) -> bool {
    who.status(desk).ok().is_some_and(|s| {
        s["notifications"].as_array().is_some_and(|a| {
            a.iter().any(|x| {
                x["id"].as_str() == Some(id)
                    && x["actions"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(action)))
            })
        })
    })
}

/// Dana's requests to Dynamics so far (the emulator's count).
async fn requests_of(org: &Org, user: Uuid) -> Result<u64, String> {
    let stats = org.stats().await?;
    Ok(stats
        .get("by_user")
        .and_then(|u| u.get(user.to_string()))
        .and_then(Value::as_u64)
        .unwrap_or(0))
}

/// The "Too late" Dana's ChatBell shows about `session`, if any: (id, body).
fn too_late(
    dana: &ChatBell,
    desk: &Desktop,
    session: Uuid,
) -> Option<(String, String, Vec<String>)> {
    let s = dana.status(desk).ok()?;
    s["notifications"].as_array()?.iter().find_map(|x| {
        (x["kind"].as_str() == Some("action_failed")
            && x["session_id"].as_str() == Some(session.to_string().as_str()))
        .then(|| {
            (
                x["id"].as_str().unwrap_or("").to_string(),
                x["body"].as_str().unwrap_or("").to_string(),
                x["actions"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
    })
}

async fn late_cases(
    desk: &Desktop,
    org: &Org,
    dana: &ChatBell,
    sam: &ChatBell,
    sam_toasts: &Toasts,
    reps: usize,
) -> Result<(), String> {
    let dana_id = org.user_id(DANA).await?;
    let sam_id = org.user_id(SAM).await?;
    let alex_id = org.user_id(ALEX).await?;
    let started = Instant::now();
    let (mut raced, mut retried) = (0usize, 0usize);
    for rep in 0..reps {
        // Every case's first chat at once, so that the idle minutes overlap.
        let mut first = Vec::new();
        for (n, case) in LATE.iter().enumerate() {
            first.push(Some(
                late_target(org, case.act, &format!("{rep}-{n}-0")).await?,
            ));
        }
        for (n, case) in LATE.iter().enumerate() {
            let what = format!("{:?} after {:?}", case.act, case.by);
            let action = case.act.action();
            let mut done = false;
            for attempt in 0..LATE_TRIES {
                let t = match first[n].take() {
                    Some(t) => t,
                    None => late_target(org, case.act, &format!("{rep}-{n}-{attempt}")).await?,
                };
                wait_until(
                    Limit::secs(150),
                    &format!("{what}: Dana's ChatBell offers {action} on {}", t.id),
                    || async { offers(dana, desk, &t.id, action).then_some(()) },
                )
                .await?;
                // Just after one of Dana's polls, so that the next is seconds away.
                let before = requests_of(org, dana_id).await?;
                wait_until(Limit::secs(30), "a poll of Dana's ChatBell", || async {
                    (requests_of(org, dana_id).await.ok()? > before).then_some(())
                })
                .await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                match case.by {
                    By::Customer => org
                        .customer_writes(t.session, "Still there?")
                        .await
                        .map(|_| ())?,
                    By::Owner => org
                        .agent_replies(ALEX, t.session, "Sorry, I am here")
                        .await
                        .map(|_| ())?,
                    By::RequesterWrote => org
                        .agent_replies(ALEX, t.session, "Dana will take over")
                        .await
                        .map(|_| ())?,
                    By::RequesterWithdrew => {
                        let r = t.request.ok_or("no request")?;
                        org.answer_request(ALEX, r, org::WITHDRAWN, Some("Solved it myself"))
                            .await?
                    }
                    By::AnotherAgent => org.agent_takes(SAM, t.session).await?,
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                // Dana's ChatBell has not read the change yet: the action goes
                // out at the version she saw.
                if !offers(dana, desk, &t.id, action) {
                    retried += 1;
                    continue;
                }
                let mut args = vec!["act", t.id.as_str(), action];
                if case.act == Act::RejectRequest {
                    args.extend(["--reason", "On a call until 3 pm"]);
                }
                let mark = desk.bus.toasts.mark();
                let (code, out) = dana.cli(desk, &args)?;
                check(code == 0, || {
                    format!(
                        "{what}: `chatbell {}` exited with {code}: {out}",
                        args.join(" ")
                    )
                })?;
                let ids = (dana_id, sam_id, alex_id);
                late_outcome(desk, org, (dana, sam, sam_toasts), mark, case, &t, ids)
                    .await
                    .map_err(|e| format!("{what}: {e}"))?;
                raced += 1;
                done = true;
                break;
            }
            check(done, || {
                format!(
                    "{what}: Dana's ChatBell read the change first in each of {LATE_TRIES} tries"
                )
            })?;
        }
    }
    println!("late-action figures:");
    println!(
        "  {} cases x {reps}: {raced} actions sent half a second after a change to the same chat, \
         before Dana's ChatBell read it ({retried} tries made again: it had read it); {:.0} s",
        LATE.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What Dynamics and Dana's (and Sam's) ChatBell show after a late action.
/// `mark`: Dana's toasts before her action.
async fn late_outcome(
    desk: &Desktop,
    org: &Org,
    (dana, sam, sam_toasts): (&ChatBell, &ChatBell, &Toasts),
    mark: usize,
    case: &Late,
    t: &Target,
    (dana_id, sam_id, alex_id): (Uuid, Uuid, Uuid),
) -> Result<(), String> {
    let row = org.row("cb_chatsessions", t.session).await?;
    let owner = org::owner_of(&row).map(|(_, id)| id);
    let status = org::int(&row, "statuscode");
    let request = match t.request {
        Some(r) => org::int(&org.row("cb_chatrequests", r).await?, "statuscode"),
        None => None,
    };
    let told = too_late(dana, desk, t.session);
    let Some(words) = case.refused else {
        // It went through, silently.
        check(told.is_none(), || format!("Dana was told {told:?}"))?;
        return match case.act {
            Act::Accept | Act::Yes | Act::AcceptRequest => {
                check(owner == Some(dana_id), || {
                    format!("Dana does not own it: {row}")
                })?;
                if case.act == Act::AcceptRequest {
                    check(request == Some(org::ACCEPTED), || {
                        format!("request {request:?}")
                    })?;
                }
                Ok(())
            }
            Act::RejectRequest => {
                check(request == Some(org::REJECTED), || {
                    format!("request {request:?}")
                })?;
                check(owner == Some(alex_id), || {
                    format!("the chat left Alex: {row}")
                })
            }
            Act::Block => check(status == Some(3), || format!("not blocked: {row}")),
        };
    };
    // Refused with the words of what is true now, nothing overwritten.
    let (id, body, actions) = told.ok_or("Dana was not told")?;
    check(body == words, || {
        format!("Dana was told {body:?}, not {words:?}")
    })?;
    check(!desk.bus.toasts.matching(mark, words).is_empty(), || {
        format!("no toast says {words:?}")
    })?;
    match case.by {
        By::AnotherAgent => check(owner == Some(sam_id), || {
            format!("the chat left Sam: {row}")
        })?,
        _ => check(owner == Some(alex_id), || {
            format!("the chat left Alex: {row}")
        })?,
    }
    match (case.act, case.by) {
        (Act::AcceptRequest, By::AnotherAgent) => check(request == Some(org::PENDING), || {
            format!("request {request:?}")
        })?,
        (Act::AcceptRequest | Act::RejectRequest, By::RequesterWithdrew) => {
            check(request == Some(org::WITHDRAWN), || {
                format!("request {request:?}")
            })?
        }
        _ => {}
    }
    if case.act != Act::Block {
        return Ok(());
    }
    // Block: nothing blocked, Sam's chat open; Block anyway is the second choice,
    // after which the number is blocked, the chat still Sam's, and Sam is told.
    check(status == Some(1), || {
        format!("Sam's chat was closed: {row}")
    })?;
    check(actions.iter().any(|a| a == "block_anyway"), || {
        format!("no Block anyway in {actions:?}")
    })?;
    let sam_mark = sam_toasts.mark();
    let (code, out) = dana.cli(desk, &["act", &id, "block_anyway"])?;
    check(code == 0, || {
        format!("block_anyway exited with {code}: {out}")
    })?;
    let row = org.row("cb_chatsessions", t.session).await?;
    check(org::int(&row, "statuscode") == Some(3), || {
        format!("not blocked: {row}")
    })?;
    check(
        org::owner_of(&row).map(|(_, id)| id) == Some(sam_id),
        || format!("no longer Sam's: {row}"),
    )?;
    let sid = t.session.to_string();
    wait_until(
        Limit::secs(30),
        "Sam is told the number was blocked",
        || async {
            let s = sam.status(desk).ok()?;
            let in_panel = s["notifications"].as_array()?.iter().any(|x| {
                x["kind"].as_str() == Some("number_blocked")
                    && x["session_id"].as_str() == Some(&sid)
            });
            (in_panel && !sam_toasts.matching(sam_mark, "Number blocked").is_empty()).then_some(())
        },
    )
    .await?;
    Ok(())
}
