//! The panel, a process of its own, attached to the running ChatBell.
//!
//! The panel (`chatbell-panel`, the webview) holds no state: it follows the
//! status over the control socket ([`crate::control::Request::Panel`]) and sends
//! the agent's actions as requests. ChatBell keeps here whether a panel is
//! attached, so that one panel at most is open: asked to show the panel (tray,
//! toast, `chatbell open`, a rule), ChatBell tells the attached panel to come to
//! the front ([`Panels::show`]); with none attached, the desktop shell starts
//! one. A second panel that attaches while one is attached is refused, and the
//! first is brought to the front instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Whether a panel is attached, and the way to bring it to the front.
#[derive(Clone, Debug)]
pub struct Panels {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    attached: AtomicBool,
    /// Bumped each time the attached panel is asked to come to the front.
    show: watch::Sender<u64>,
}

impl Default for Panels {
    fn default() -> Self {
        Panels {
            inner: Arc::new(Inner {
                attached: AtomicBool::new(false),
                show: watch::channel(0).0,
            }),
        }
    }
}

/// A panel attached: it stays so until this is dropped (its connection ended).
#[derive(Debug)]
pub struct Attached {
    inner: Arc<Inner>,
    /// Changes each time this panel is asked to come to the front.
    pub show: watch::Receiver<u64>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.inner.attached.store(false, Ordering::SeqCst);
    }
}

impl Panels {
    /// A panel attaches. `None`: one is attached already; it is asked to come to
    /// the front, and this one should go.
    pub fn attach(&self) -> Option<Attached> {
        if self
            .inner
            .attached
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.show();
            return None;
        }
        let mut show = self.inner.show.subscribe();
        show.borrow_and_update();
        Some(Attached {
            inner: self.inner.clone(),
            show,
        })
    }

    /// Asks the attached panel to come to the front. `false`: no panel is
    /// attached (the shell starts one).
    pub fn show(&self) -> bool {
        if !self.is_open() {
            return false;
        }
        self.inner.show.send_modify(|n| *n = n.wrapping_add(1));
        true
    }

    /// Whether a panel is attached now.
    pub fn is_open(&self) -> bool {
        self.inner.attached.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_panel_at_most_and_a_second_one_brings_the_first_to_the_front() {
        let panels = Panels::default();
        assert!(!panels.show(), "nothing attached: the shell must start one");
        let mut first = panels.attach().expect("the first panel attaches");
        assert!(panels.is_open());
        assert!(!first.show.has_changed().unwrap_or(true));
        assert!(panels.attach().is_none(), "a second panel is refused");
        assert!(
            first.show.has_changed().unwrap_or(false),
            "and the first shown"
        );
        first.show.borrow_and_update();
        assert!(panels.show());
        assert!(first.show.has_changed().unwrap_or(false));
        drop(first);
        assert!(!panels.is_open());
        assert!(
            panels.attach().is_some(),
            "once it is gone, another attaches"
        );
    }
}
