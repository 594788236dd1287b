//! R18 (do not disturb) and R19 (sounds per kind): what this desktop does with the
//! engine's effects.
#![allow(clippy::unwrap_used)]

mod support;

use chatbell_core::present::*;
use chatbell_core::*;
use std::sync::Arc;
use support::*;

const MONDAY_NOON: LocalTime = LocalTime {
    weekday: Weekday::Mon,
    minute: 12 * 60,
};

fn notification(kind: NotificationKind, key: NotificationKey) -> Arc<Notification> {
    Arc::new(Notification {
        key,
        kind,
        session: key.session(),
        title: "t".into(),
        body: "b".into(),
        actions: vec![Action::Open],
        count: 1,
        created_at: T0,
        updated_at: T0,
        state: Lifecycle::Live,
        toast: true,
        anchor: None,
        peer: None,
    })
}

/// A burst of everything: a new chat, a call, a request, their sounds, a count.
fn everything() -> Vec<Effect> {
    vec![
        Effect::Show(notification(
            NotificationKind::NewConversation,
            NotificationKey::Chat(sid(1)),
        )),
        Effect::PlaySound(SoundKind::Message),
        Effect::Show(notification(
            NotificationKind::IncomingCall,
            NotificationKey::Call(sid(2)),
        )),
        Effect::StartRinging(sid(2)),
        Effect::Show(notification(
            NotificationKind::AssignRequest,
            NotificationKey::Request(rid(3)),
        )),
        Effect::PlaySound(SoundKind::Request),
        Effect::SetUnread(4),
    ]
}

fn run(presence: &Presence, at: LocalTime) -> Vec<Output> {
    let mut out = Vec::new();
    present(&everything(), presence, at, &mut out);
    out
}

fn toasts(out: &[Output]) -> Vec<NotificationKind> {
    out.iter()
        .filter_map(|o| match o {
            Output::Toast(n) => Some(n.kind),
            _ => None,
        })
        .collect()
}

fn sounds(out: &[Output]) -> Vec<Sound> {
    out.iter()
        .filter_map(|o| match o {
            Output::Play { sound, .. } => Some(*sound),
            Output::Ring { .. } => Some(Sound::Call),
            _ => None,
        })
        .collect()
}

#[test]
fn r18_without_dnd_everything_is_shown_and_heard() {
    let out = run(&Presence::default(), MONDAY_NOON);
    assert_eq!(toasts(&out).len(), 3);
    assert_eq!(
        sounds(&out),
        vec![Sound::Message, Sound::Call, Sound::Request]
    );
    assert!(out.contains(&Output::Badge(4)));
}

#[test]
fn r18_dnd_silences_chats_but_calls_and_requests_to_me_come_through_and_the_count_updates() {
    let mut p = Presence::default();
    p.dnd.on = true;
    let out = run(&p, MONDAY_NOON);
    assert_eq!(
        toasts(&out),
        vec![
            NotificationKind::IncomingCall,
            NotificationKind::AssignRequest
        ]
    );
    assert_eq!(sounds(&out), vec![Sound::Call, Sound::Request]);
    assert!(
        out.contains(&Output::Badge(4)),
        "the tray count keeps updating"
    );
}

#[test]
fn r18_dnd_can_silence_calls_and_requests_too() {
    let mut p = Presence::default();
    p.dnd.on = true;
    p.dnd.let_calls_and_requests_through = false;
    let out = run(&p, MONDAY_NOON);
    assert!(toasts(&out).is_empty());
    assert!(sounds(&out).is_empty());
    assert_eq!(out, vec![Output::Badge(4)]);
}

#[test]
fn r18_quiet_hours_run_over_midnight_on_the_listed_days() {
    let mut p = Presence::default();
    p.dnd.schedule = Schedule {
        enabled: true,
        from: "18:30".into(),
        to: "08:00".into(),
        days: vec![Weekday::Fri],
    };
    let at = |weekday, h: u16, m: u16| LocalTime {
        weekday,
        minute: h * 60 + m,
    };
    assert!(!p.dnd.active(at(Weekday::Fri, 18, 29)));
    assert!(p.dnd.active(at(Weekday::Fri, 18, 30)));
    assert!(
        p.dnd.active(at(Weekday::Sat, 7, 59)),
        "the night after Friday"
    );
    assert!(!p.dnd.active(at(Weekday::Sat, 8, 0)));
    assert!(
        !p.dnd.active(at(Weekday::Sat, 19, 0)),
        "Saturday is not listed"
    );
    assert!(
        !p.dnd.active(at(Weekday::Fri, 7, 0)),
        "Thursday night is not listed"
    );
    let out = run(&p, at(Weekday::Fri, 22, 0));
    assert_eq!(
        toasts(&out).len(),
        2,
        "quiet: only the call and the request"
    );
    p.dnd.schedule.enabled = false;
    assert!(!p.dnd.active(at(Weekday::Fri, 22, 0)));
}

#[test]
fn r18_a_same_day_schedule_and_an_all_day_one() {
    let mut s = Schedule {
        enabled: true,
        from: "12:00".into(),
        to: "13:00".into(),
        days: vec![Weekday::Mon],
    };
    let mon = |minute| LocalTime {
        weekday: Weekday::Mon,
        minute,
    };
    assert!(s.covers(mon(12 * 60)));
    assert!(!s.covers(mon(13 * 60)));
    s.to = "12:00".into();
    assert!(s.covers(mon(3)), "from = to: the whole day");
}

#[test]
fn r19_each_kind_has_its_own_switch_and_volume() {
    let mut p = Presence::default();
    p.sounds.message.on = false;
    p.sounds.request.volume = 0.25;
    let out = run(&p, MONDAY_NOON);
    assert_eq!(sounds(&out), vec![Sound::Call, Sound::Request]);
    assert!(out.contains(&Output::Play {
        sound: Sound::Request,
        volume: 0.25
    }));
    assert_eq!(toasts(&out).len(), 3, "sounds off, toasts still on");
}

#[test]
fn r19_calls_ring_until_answered_by_default_or_once_when_asked() {
    let out = run(&Presence::default(), MONDAY_NOON);
    assert!(out.contains(&Output::Ring {
        session: sid(2),
        volume: 1.0,
        repeat: true
    }));
    let mut p = Presence::default();
    p.sounds.call.repeat = false;
    let out = run(&p, MONDAY_NOON);
    assert!(out.contains(&Output::Ring {
        session: sid(2),
        volume: 1.0,
        repeat: false
    }));
    let mut stop = Vec::new();
    present(&[Effect::StopRinging(sid(2))], &p, MONDAY_NOON, &mut stop);
    assert_eq!(stop, vec![Output::StopRing(sid(2))]);
}

#[test]
fn r17_quiet_catch_up_items_and_withdrawn_ones_raise_no_toast() {
    let mut quiet = (*notification(
        NotificationKind::NewConversation,
        NotificationKey::Chat(sid(5)),
    ))
    .clone();
    quiet.toast = false;
    let mut out = Vec::new();
    present(
        &[
            Effect::Show(Arc::new(quiet)),
            Effect::Close {
                key: NotificationKey::Chat(sid(6)),
                state: Lifecycle::Dismissed,
            },
        ],
        &Presence::default(),
        MONDAY_NOON,
        &mut out,
    );
    assert_eq!(out, vec![Output::CloseToast(NotificationKey::Chat(sid(6)))]);
}

#[test]
fn preferences_with_bad_volumes_or_times_are_refused() {
    let mut p = Presence::default();
    assert_eq!(p.validate(), Ok(()));
    p.sounds.call.volume = 1.5;
    assert_eq!(p.validate(), Err(BadPresence::Volume { kind: "call" }));
    p.sounds.call.volume = 1.0;
    for bad in ["25:00", "7", "07:5", "ab:cd", "", "-1:00"] {
        p.dnd.schedule.from = bad.into();
        assert!(p.validate().is_err(), "{bad:?}");
    }
    assert_eq!(minute_of_day("7:05"), Ok(425));
}
