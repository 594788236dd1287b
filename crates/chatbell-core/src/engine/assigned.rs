//! Assigned to me through Dynamics (R7).

use super::*;

/// How recently a chat first seen already mine must have been accepted for R7 to
/// tell me it was assigned to me.
pub(super) const FRESH_ASSIGNMENT: Span = Span::minutes(10);

impl Engine {
    /// R7: a chat that became mine through Dynamics (not by an action of mine)
    /// is told to me; one that is no longer mine loses the notice.
    pub(super) fn reconcile_assigned(
        &mut self,
        p: &Pass<'_>,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        let (row, touch, f) = (&p.row, p.touch, &p.facts);
        let id = row.id;
        let key = NotificationKey::Assigned(id);
        let was_mine = self.me.is_some_and(|m| touch.owner == Some(Owner::User(m)));
        // A chat first seen in a live poll, already mine and accepted moments ago,
        // was assigned to me since the last poll (created, assigned and written
        // to within one poll); one first seen at start or accepted long ago is not
        // news.
        let assigned_unseen = !touch.known
            && p.mode == SyncMode::Live
            && row
                .accepted_on
                .is_some_and(|t| t <= p.now && p.now - t <= FRESH_ASSIGNMENT);
        if f.mine
            && (touch.known && !was_mine || assigned_unseen)
            && f.eligible
            && !self.claimed.contains(&id)
        {
            self.show(
                Notification {
                    toast: p.mode == SyncMode::Live,
                    ..Notification::new(
                        key,
                        NotificationKind::AssignedToMe,
                        Some(id),
                        (assigned_title(row), assigned_body(row)),
                        vec![Action::Open],
                        p.now,
                    )
                },
                out,
            );
            if p.mode == SyncMode::CatchUp {
                ctx.quiet_chats.push(key);
            }
        } else if (!f.mine || !f.eligible) && self.note_live(&key) {
            let reason = if f.eligible {
                WithdrawReason::Reassigned
            } else {
                WithdrawReason::NotEligible
            };
            self.close(key, Lifecycle::Withdrawn { reason }, out);
        }
        // My own action that moved it to me is over once it is mine.
        if f.mine {
            self.claimed.remove(&id);
        }
    }
}
