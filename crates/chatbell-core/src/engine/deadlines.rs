//! Deadlines that passed: each timer to the family that armed it.

use super::*;

impl Engine {
    /// A timer fired: if it is the engine's own deadline and it has passed, the
    /// family that armed it acts; a stale or early one is armed again as the
    /// engine has it.
    pub(super) fn on_timer(
        &mut self,
        key: TimerKey,
        now: Ts,
        ctx: &mut Ctx,
        out: &mut Vec<Effect>,
    ) {
        match self.timers.get(&key) {
            Some(t) if *t <= now => {
                self.timers.remove(&key);
                if let Some(entry) = key.session().and_then(|sid| self.sessions.get_mut(&sid)) {
                    *entry.deadline_mut(key) = None;
                }
            }
            // Stale or early: the engine's own deadline decides.
            Some(t) => {
                out.push(Effect::ArmTimer(key, *t));
                return;
            }
            None => return,
        }
        match key {
            TimerKey::Idle(sid) => self.offer_after_idle(sid, now, ctx, out),
            TimerKey::ReplyWindow(sid) => self.warn_reply_window(sid, now, ctx, out),
            TimerKey::RequestExpiry(rid) => self.expire_request(rid, now, ctx, out),
        }
    }
}
