//! The desk on a real desktop's bad days: the disk with its cache fills up, the
//! cache is damaged or deleted while it runs. It keeps notifying, says what is
//! wrong, corrupts nothing, and catches up once it can: nothing lost, nothing
//! shown twice.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::{NotificationKey, NotificationKind};
use chatbell_sync::CacheState;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use support::*;

/// A size-limited tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    dir: Arc<tempfile::TempDir>,
}

impl SmallDisk {
    /// `None` where this user may not mount (not root): the test says so.
    fn mount(kib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cannot mount a tmpfs here (root is needed): the disk-full case is not run");
            return None;
        }
        Some(SmallDisk { dir: Arc::new(dir) })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with one file; returns it.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 16 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
        let small = vec![0u8; 512];
        while f.write_all(&small).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn cannot_write(r: &Recorder) -> bool {
    matches!(
        r.cache.lock().unwrap().last(),
        Some(CacheState::CannotWrite { .. })
    )
}

#[tokio::test]
async fn a_full_disk_keeps_notifying_then_saves_what_waited_and_nothing_shows_twice() {
    let Some(disk) = SmallDisk::mount(4096) else {
        return;
    };
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, Some(disk.dir.clone()), quick()).await;
    me.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);

    let filler = disk.fill();
    // Chats keep coming; the cache cannot take them, and the agent is told
    // of each all the same.
    let mut chats = Vec::new();
    for n in 0..6 {
        emu.advance_clock(2);
        let s = customer
            .new_conversation(&format!("Full Disk {n}"), &format!("+1555000{n:04}"))
            .await;
        customer.customer_writes(s, "hello?").await;
        emu.advance_clock(2);
        me.desk.poll().await.unwrap();
        assert_eq!(
            me.recorder.shown(NotificationKey::Chat(s)),
            1,
            "chat {n} reached the agent"
        );
        chats.push(s);
        if cannot_write(&me.recorder) {
            break;
        }
    }
    assert!(
        cannot_write(&me.recorder),
        "the cache said it cannot write: {:?}",
        me.recorder.cache.lock().unwrap()
    );
    let note = me.desk.cache_state().note().unwrap();
    assert!(note.contains("disk is full"), "{note}");

    // Room again: the next step saves what waited.
    std::fs::remove_file(&filler).unwrap();
    emu.advance_clock(2);
    me.desk.poll().await.unwrap();
    assert_eq!(me.desk.cache_state(), &CacheState::Ok);

    // A restart from the cache shows none of them again: it had them all.
    let dir = me.dir.clone();
    drop(me);
    let mut again = desk(&emu, DEMO_AGENT_EMAIL, Some(dir), quick()).await;
    emu.advance_clock(2);
    again.desk.poll().await.unwrap();
    for s in &chats {
        assert_eq!(
            again.recorder.shown(NotificationKey::Chat(*s)),
            0,
            "shown twice"
        );
        let n = live(again.desk.engine(), NotificationKey::Chat(*s)).expect("still live");
        assert_eq!(n.kind, NotificationKind::NewConversation);
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_cache_damaged_while_running_is_moved_aside_and_rebuilt_in_one_catch_up() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();
    let path = me.dir.path().join("chatbell.db");

    // Garbage over the file and its write-ahead log, as a disk error or
    // another program would leave them.
    for file in [path.clone(), path.with_file_name("chatbell.db-wal")] {
        let len = std::fs::metadata(&file).map_or(0, |m| m.len()).max(8192);
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.write_all(&vec![0xA5; len as usize]).unwrap();
        f.sync_all().unwrap();
    }
    let customer = act_as(&emu, SYSTEM);
    emu.advance_clock(2);
    let s = customer
        .new_conversation("After Damage", "+15550009999")
        .await;
    customer.customer_writes(s, "anyone?").await;
    // The desk looks at its file every few minutes (DeskConfig::cache_check).
    assert!(me.desk.verify_cache().await.unwrap(), "found damaged");
    let states = me.recorder.cache.lock().unwrap().clone();
    let Some(CacheState::Rebuilt { moved_to, .. }) = states.last().cloned() else {
        panic!("rebuilt: {states:?}");
    };
    let moved_to = moved_to.expect("the damaged file is kept");
    assert!(moved_to.exists() && path.exists(), "{moved_to:?}");
    let note = me.desk.cache_state().note().unwrap();
    assert!(
        note.contains("moved aside") && note.contains("dismissed"),
        "{note}"
    );

    // The next poll is one catch-up from Dynamics: the chat is there, with one
    // summary rather than a toast per chat.
    emu.advance_clock(2);
    let report = me.desk.poll().await.unwrap();
    assert!(report.catch_up, "{report:?}");
    assert!(live(me.desk.engine(), NotificationKey::Chat(s)).is_some());
    // The new cache takes writes; the rebuild stays said.
    assert!(
        matches!(me.desk.cache_state(), CacheState::Rebuilt { .. }),
        "{:?}",
        me.desk.cache_state()
    );
    assert_eq!(
        me.desk
            .store()
            .integrity_check()
            .await
            .map_err(|e| e.to_string()),
        Ok(())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_cache_folder_deleted_while_running_is_made_again() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();
    let path = me.dir.path().join("chatbell.db");
    for entry in std::fs::read_dir(me.dir.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let customer = act_as(&emu, SYSTEM);
    emu.advance_clock(2);
    let s = customer
        .new_conversation("After Delete", "+15550008888")
        .await;
    customer.customer_writes(s, "anyone?").await;
    emu.advance_clock(2);
    me.desk.poll().await.unwrap();
    assert!(matches!(
        me.recorder.cache.lock().unwrap().last(),
        Some(CacheState::Rebuilt { moved_to: None, .. })
    ));
    assert!(path.exists(), "made again");
    emu.advance_clock(2);
    let report = me.desk.poll().await.unwrap();
    assert!(
        live(me.desk.engine(), NotificationKey::Chat(s)).is_some(),
        "{report:?} {:?}",
        me.desk
            .engine()
            .live_notifications()
            .iter()
            .map(|n| (n.key, n.kind))
            .collect::<Vec<_>>()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn r6_an_idle_offer_falls_due_by_the_orgs_clock_when_the_desktops_is_off() {
    use chatbell_core::{SessionId, Span};
    let emu = org().await;
    // This desktop's clock is four minutes ahead of the org's.
    let clock = Arc::new(OffClock(emu.clock().clone(), Span::minutes(4)));
    let mut dana = desk_on(&emu, DEMO_AGENT_EMAIL, None, quick(), test_schema(), clock).await;
    dana.desk.poll().await.unwrap();
    let off = dana.desk.skew();
    assert!(
        (off.0 + 240_000).abs() <= 1_000,
        "the org is four minutes behind: {off:?}"
    );
    // The desktop is told once, and says so in the agent's words.
    let told = dana.recorder.skews.lock().unwrap().clone();
    assert_eq!(told, vec![off], "told once: {told:?}");
    let note = chatbell_sync::orgcheck::clock_note(-off.0).expect("a note");
    assert!(note.contains("4 min ahead of Dynamics'"), "{note}");
    // Session 4 is Alex's (WhatsApp: idle timeout 5 minutes).
    let s = SessionId(SeedIds::session(4));
    let customer = act_as(&emu, SYSTEM);
    // Alex answers, then the customer writes: a new idle stretch starts now.
    act_as(&emu, ALEX)
        .agent_replies(s, "One moment please")
        .await;
    emu.advance_clock(1);
    customer.customer_writes(s, "hello? anyone?").await;
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();

    // By the desktop's own clock the five minutes are over; by the org's not.
    emu.advance_clock(60);
    assert!(!dana.desk.knowledge_stale(), "polled a minute ago");
    dana.desk.fire_due_timers().await.unwrap();
    assert!(
        live(dana.desk.engine(), NotificationKey::Offer(s)).is_none(),
        "not early"
    );
    emu.advance_clock(5 * 60 - 60);
    dana.desk.poll().await.unwrap();
    dana.desk.fire_due_timers().await.unwrap();
    let offer = live(dana.desk.engine(), NotificationKey::Offer(s)).expect("on the org's time");
    assert_eq!(offer.kind, NotificationKind::AssignToMe);
    assert_eq!(dana.recorder.shown(NotificationKey::Offer(s)), 1, "once");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_clock_set_back_does_not_hold_the_next_poll_back() {
    use chatbell_core::Span;
    let emu = org().await;
    let clock = MovedClock::new(&emu);
    let mut me = desk_on(
        &emu,
        DEMO_AGENT_EMAIL,
        None,
        quick(),
        test_schema(),
        clock.clone(),
    )
    .await;
    me.desk.poll().await.unwrap();
    // This desktop's clock set an hour back, as a correction of a clock that
    // ran ahead would do: the last poll is now an hour in the clock's future
    // (until the next poll learns the org's time again).
    clock.set_off(Span::seconds(-3600));
    let s = act_as(&emu, SYSTEM)
        .new_conversation("Set Back", "+15557770001")
        .await;
    act_as(&emu, SYSTEM).customer_writes(s, "hello").await;
    // The desk's loop: a poll when one is due, the clock moving a second at a
    // time. The chat is read within one interval, not an hour.
    let started = me.desk.now();
    let mut read_after = None;
    for second in 0..(quick().normal.0 / 1000 + 3) {
        me.desk.poll_due().await.unwrap();
        if live(me.desk.engine(), NotificationKey::Chat(s)).is_some() {
            read_after = Some(second);
            break;
        }
        emu.advance_clock(1);
    }
    let waited = read_after.map(Span::seconds);
    assert!(
        waited.is_some_and(|w| w <= quick().normal + Span::seconds(1)),
        "read {waited:?} after the clock was set back (from {started:?})"
    );
    assert!(chatbell_sync::desk::MAX_WAIT <= std::time::Duration::from_secs(60));
    emu.shutdown().await;
}

#[tokio::test]
async fn offline_a_cheap_probe_every_second_brings_the_poll_as_soon_as_dynamics_answers() {
    use chatbell_core::Span;
    use chatbell_emulator::faults::FaultSettings;
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();
    // Every connection dropped: the polls fail, the desk is offline and backs off.
    emu.set_faults(FaultSettings {
        drop_every: 1,
        ..FaultSettings::default()
    });
    for _ in 0..3 {
        emu.advance_clock(2);
        assert!(me.desk.poll().await.is_err());
    }
    assert!(!me.desk.is_online());
    let now = me.desk.now();
    assert!(me.desk.next_poll() >= now + Span::seconds(14), "backed off");
    let probe = me.desk.next_probe().expect("probing while offline");
    assert!(probe <= now + Span::seconds(1), "{probe:?} vs {now:?}");
    let requests = me.desk.requests_sent();
    assert!(!me.desk.probe().await.unwrap(), "still down");
    assert_eq!(me.desk.requests_sent(), requests, "a probe reads no data");

    // Dynamics answers again: the next probe brings a poll, and the desk is online.
    emu.set_faults(FaultSettings::default());
    emu.advance_clock(1);
    assert!(me.desk.probe().await.unwrap());
    assert!(me.desk.is_online());
    assert_eq!(me.desk.next_probe(), None, "no probes while online");
    assert_eq!(me.recorder.online.lock().unwrap().last(), Some(&true));
    emu.shutdown().await;
}

#[tokio::test]
async fn r17_a_resume_after_days_brings_one_catch_up_not_a_storm_of_offers() {
    use chatbell_core::{Effect, SessionId};
    // Tokens that outlive the sleep (a real desk refreshes its own).
    let emu = chatbell_emulator::Emulator::start(in_test_org(
        chatbell_emulator::Options::default()
            .seed(chatbell_emulator::Seed::Demo)
            .clock(chatbell_emulator::OrgClock::manual_default())
            .access_token_lifetime(std::time::Duration::from_secs(10 * 86_400)),
    ))
    .await
    .unwrap();
    let mut dana = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    dana.desk.poll().await.unwrap();
    let customer = act_as(&emu, SYSTEM);
    // Alex's chats: answered, then the customers write again; then the
    // machine sleeps for three days.
    let alex = emu.user_id(ALEX).unwrap();
    let mut idle = Vec::new();
    for n in 0..4 {
        let s: SessionId = customer
            .new_conversation(&format!("Idle {n}"), &format!("+1555777{n:04}"))
            .await;
        customer.customer_writes(s, "hello").await;
        customer.take(s, alex).await;
        act_as(&emu, ALEX).agent_replies(s, "One moment").await;
        // Dynamics' times are to the second.
        emu.advance_clock(1);
        customer.customer_writes(s, "still there?").await;
        idle.push(s);
    }
    emu.advance_clock(2);
    dana.desk.poll().await.unwrap();
    dana.recorder.take();
    emu.advance_clock(3 * 24 * 3600);
    // Meanwhile Alex answered two of them; and new chats came for the team.
    for s in &idle[..2] {
        act_as(&emu, ALEX)
            .agent_replies(*s, "Sorry for the wait")
            .await;
    }
    for n in 0..3 {
        let s = customer
            .new_conversation(&format!("Overnight {n}"), &format!("+1555778{n:04}"))
            .await;
        customer.customer_writes(s, "good morning").await;
    }
    emu.advance_clock(60);

    // Awake: the timers that fell due meanwhile, then the first poll.
    dana.desk.fire_due_timers().await.unwrap();
    let report = dana.desk.poll().await.unwrap();
    dana.desk.fire_due_timers().await.unwrap();
    assert!(report.catch_up, "{report:?}");
    let effects = dana.recorder.take();
    let shown: Vec<NotificationKey> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Show(n) if n.toast => Some(n.key),
            _ => None,
        })
        .collect();
    eprintln!("toasts after the resume: {shown:?}");
    // An offer (a decision, R17) for each chat still waiting, once; none for
    // the two Alex answered while the desktop slept.
    for s in &idle[2..] {
        let n = shown
            .iter()
            .filter(|k| **k == NotificationKey::Offer(*s))
            .count();
        assert_eq!(n, 1, "the offer for a chat still waiting, once: {shown:?}");
    }
    for s in &idle[..2] {
        assert!(
            !shown.contains(&NotificationKey::Offer(*s)),
            "an offer for a chat answered during the sleep: {shown:?}"
        );
    }
    assert!(
        shown
            .iter()
            .all(|k| matches!(k, NotificationKey::Offer(_) | NotificationKey::CatchUp)),
        "only offers and one catch-up: {shown:?}"
    );
    // The new chats: one summary (shown, or the one still up updated).
    let summary = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Show(n) | Effect::Update(n) if n.key == NotificationKey::CatchUp => {
                Some(n.count)
            }
            _ => None,
        })
        .next_back();
    assert!(
        summary.is_some_and(|c| c >= 3),
        "one catch-up counting the three new chats: {summary:?}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_poll_that_reads_nothing_new_writes_nothing_to_the_cache() {
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, None, quick()).await;
    me.desk.poll().await.unwrap();
    me.desk.poll().await.unwrap();
    let wal = me.dir.path().join("chatbell.db-wal");
    let written = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let before = written(&wal);
    assert!(before.is_some(), "the cache has a WAL file");
    let commits = me.desk.stats().commits;
    // Polls that find nothing: no transaction, the cache's files untouched.
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        emu.advance_clock(7);
        let report = me.desk.poll().await.unwrap();
        assert_eq!(report.changes, 0, "{report:?}");
    }
    assert_eq!(written(&wal), before, "an idle poll wrote to the cache");
    assert_eq!(
        me.desk.stats().commits,
        commits,
        "an idle poll made a transaction"
    );
    // A change is written.
    let s = act_as(&emu, SYSTEM)
        .new_conversation("Written", "+15557770099")
        .await;
    act_as(&emu, SYSTEM).customer_writes(s, "hello").await;
    emu.advance_clock(2);
    std::thread::sleep(std::time::Duration::from_millis(20));
    me.desk.poll().await.unwrap();
    assert_ne!(written(&wal), before, "a change was not written");
    assert_eq!(
        me.desk.stats().commits,
        commits + 1,
        "one transaction for the change"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_start_on_a_full_disk_moves_no_healthy_cache_aside() {
    let Some(disk) = SmallDisk::mount(4 * 1024) else {
        return;
    };
    let emu = org().await;
    let mut me = desk(&emu, DEMO_AGENT_EMAIL, Some(disk.dir.clone()), quick()).await;
    me.desk.poll().await.unwrap();
    let path = disk.path().join("chatbell.db");
    drop(me);
    // The disk fills while ChatBell is closed (a roaming profile at login).
    let _filler = disk.fill();
    let opened = chatbell_store::Store::open_or_rebuild(&path).await;
    let moved: Vec<_> = std::fs::read_dir(disk.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("damaged"))
        .collect();
    assert!(moved.is_empty(), "a healthy cache moved aside: {moved:?}");
    match opened {
        // Opened after all: what it held is there.
        Ok((store, rebuilt)) => {
            assert!(rebuilt.is_none(), "{rebuilt:?}");
            let snap = store.snapshot_at(chatbell_core::Ts(0)).await.unwrap();
            assert!(!snap.rows.is_empty(), "what it held is there");
        }
        // Or it cannot be written: the app then runs on a cache in memory
        // (`chatbell-app`'s a_start_on_a_full_disk_keeps_notifying_...).
        Err(e) => assert!(e.cannot_write() && !e.is_damaged(), "{e}"),
    }
    let stand_in = chatbell_store::Store::open_in_memory(&path).await.unwrap();
    assert!(stand_in.in_memory() && stand_in.file_exists());
    emu.shutdown().await;
}
