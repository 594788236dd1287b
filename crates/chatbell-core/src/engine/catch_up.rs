//! Catch-up, not a flood (R17): one summary after a gap.

use super::*;

/// A catch-up with this many chats or more becomes one summary (R17).
pub const SUMMARY_THRESHOLD: usize = 2;

impl Engine {
    /// R17: many chats after a gap become one toast; a single one stays itself.
    /// A summary still up also stands for the chats an earlier catch-up put in
    /// it that are still waiting untoasted: it counts them too, rather than
    /// only what this catch-up brought.
    pub(super) fn summarise(&mut self, now: Ts, ctx: &mut Ctx, out: &mut Vec<Effect>) {
        // A chat whose own toast is up (and was updated in place) is told there:
        // each chat is counted once, in the summary or in its toast.
        let mut quiet: Vec<NotificationKey> = ctx
            .quiet_chats
            .iter()
            .copied()
            .filter(|k| {
                self.notifications
                    .get(k)
                    .is_some_and(|n| n.is_live() && !n.toast)
            })
            .collect();
        let standing = self
            .notifications
            .get(&NotificationKey::CatchUp)
            .filter(|n| n.is_live())
            .map(|n| n.created_at);
        if let (Some(since), false) = (standing, quiet.is_empty()) {
            let mut earlier: Vec<NotificationKey> = self
                .notifications
                .iter()
                .filter(|(k, n)| {
                    matches!(k, NotificationKey::Chat(_) | NotificationKey::Assigned(_))
                        && n.is_live()
                        && !n.toast
                        && n.created_at >= since
                        && !quiet.contains(k)
                })
                .map(|(k, _)| *k)
                .collect();
            earlier.sort_unstable();
            quiet.extend(earlier);
        }
        if quiet.len() >= SUMMARY_THRESHOLD {
            let key = NotificationKey::CatchUp;
            let (title, body) = summary_text(quiet.len());
            if let Some(shared) = self.notifications.get_mut(&key).filter(|n| n.is_live()) {
                let n = Arc::make_mut(shared);
                n.title = title;
                n.body = body;
                n.count = quiet.len() as u32;
                n.updated_at = now;
                n.state = Lifecycle::Updated;
                out.push(Effect::Update(shared.clone()));
            } else {
                self.show(
                    Notification {
                        count: quiet.len() as u32,
                        ..Notification::new(
                            key,
                            NotificationKind::CatchUpSummary,
                            None,
                            (title, body),
                            vec![Action::Open, Action::Dismiss],
                            now,
                        )
                    },
                    out,
                );
            }
        } else if let Some(key) = quiet.first() {
            if let Some(shared) = self.notifications.get_mut(key) {
                Arc::make_mut(shared).toast = true;
                let n = shared.clone();
                for e in out.iter_mut() {
                    if let Effect::Show(shown) | Effect::Update(shown) = e {
                        if shown.key == *key {
                            *shown = n.clone();
                        }
                    }
                }
            }
        }
    }
}
