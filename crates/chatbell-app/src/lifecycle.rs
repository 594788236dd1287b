//! The app's lifecycle as one state machine.
//!
//! [`Lifecycle`] is where the running [`crate::App`] stands with Dynamics:
//! starting what the configuration asks for, not configured, signed out,
//! signing in, opening the desk, running it, halted, stopped. Each state holds
//! what exists in it and nothing more: a desk (its task, its inputs and its
//! local cache, together) only while `Running` or `Halted`; a sign-in's cancel
//! only while `SigningIn`; the demo org only in the states of a demo.
//!
//! [`Lifecycle::transition`] is the one place that moves between states. It
//! does no I/O: given an [`Event`] (something the agent asked for, or what a
//! background job reported), it returns the next state and the [`Effect`]s the
//! app carries out (open or stop a desk, cancel a sign-in, shut the demo org
//! down, forget a session's tokens, clear the chats shown), or refuses the
//! event with a [`LifecycleError`] and leaves the state as it was.
//!
//! What the panel shows of it (the connection, the sign-in prompt, the
//! account, demo, welcome, where the sign-in is kept) is [`Lifecycle::shown`]:
//! derived from the state, never set by hand.
//!
//! | state | connection | left by |
//! | --- | --- | --- |
//! | `Activating` | connecting | `DemoStarted` → `SigningIn` (the demo agent); `Restored` → `Opening` or `SignedOut`; `Unusable` → `NotConfigured` |
//! | `NotConfigured` | not_configured | `Reconfigure`, `Quit` only |
//! | `SignedOut` | signed_out | `SignInStarted` → `SigningIn`; `SignOut` → `SignedOut` |
//! | `SigningIn` | signed_out (connecting for the demo agent) | `SignInFinished` → `Opening` or `SignedOut`; `CancelSignIn`, `SignOut` → `SignedOut`; `SignInStarted` → `SigningIn` (the first cancelled) |
//! | `Opening` | connecting | `DeskOpened` → `Running`; `DeskFailed` → `NotConfigured` |
//! | `Running` | connecting, online, offline | `Desk` reports: online, offline, `SignInLost` → `SignedOut`, `Ended` → `Halted`; `SignOut` → `SignedOut` |
//! | `Halted` | offline | `SignInStarted` → `SigningIn`; `SignOut` → `SignedOut` |
//! | `Stopped` | (nothing shown any more) | never |
//!
//! From every state but `Stopped`, `Reconfigure` → `Activating` and `Quit` →
//! `Stopped`, winding down what runs; `KeepDemo` answers the first run's
//! welcome in any state of a running demo.
//!
//! The states hold the app's real things through a [`Kit`]: the app's holds a
//! demo org, an auth session, a desk handle and a channel's sender; the tests
//! below hold plain values.

use crate::view::{AccountView, Connection, SignInPrompt, Status, Storage};
use std::fmt::Debug;

/// What a demo's sign-in is kept in: memory only.
pub const DEMO_STORAGE_NOTE: &str = "demo mode: nothing is kept after ChatBell stops";

/// The things the states hold.
pub trait Kit: Debug {
    /// A running demo org.
    type Org: Clone + Debug;
    /// A sign-in session (tokens, account).
    type SignIn: Clone + Debug;
    /// A desk opened on its local cache: its task, its input channel and the cache.
    type Desk: Debug;
    /// Cancels a sign-in that waits for the agent.
    type Cancel: Debug;
}

/// Names a background job (a sign-in, a desk), so that what one reports after
/// it was replaced is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// What the configuration asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The demo org; `welcome` on the first run (the panel asks for the
    /// agent's org while the demo runs).
    Demo { welcome: bool },
    /// The agent's Dynamics org (or a configuration that cannot be used).
    Dynamics,
}

impl Wanted {
    pub fn is_demo(self) -> bool {
        matches!(self, Wanted::Demo { .. })
    }
}

/// Whose chats: the demo org's, or the agent's Dynamics org's.
#[derive(Debug)]
pub enum Org<K: Kit> {
    Demo {
        org: K::Org,
        welcome: bool,
    },
    /// Where the sign-in is kept, and why not in the keychain.
    Dynamics {
        storage: Storage,
        storage_note: Option<String>,
    },
}

impl<K: Kit> Org<K> {
    fn is_demo(&self) -> bool {
        matches!(self, Org::Demo { .. })
    }

    fn demo_org(&self) -> Option<K::Org> {
        match self {
            Org::Demo { org, .. } => Some(org.clone()),
            Org::Dynamics { .. } => None,
        }
    }

    /// The demo org stops with its state.
    fn shut_down(self) -> Option<Effect<K>> {
        match self {
            Org::Demo { org, .. } => Some(Effect::ShutDown(org)),
            Org::Dynamics { .. } => None,
        }
    }
}

/// How a sign-in under way goes on.
#[derive(Debug)]
pub enum Way<K: Kit> {
    /// The demo agent, approved by the demo org itself: nothing to cancel.
    Demo,
    /// A device code the agent enters on the sign-in page.
    DeviceCode {
        prompt: SignInPrompt,
        cancel: K::Cancel,
    },
    /// A sign-in page in the agent's browser, coming back on loopback.
    Browser { cancel: K::Cancel },
}

impl<K: Kit> Way<K> {
    fn cancel(self) -> Option<Effect<K>> {
        match self {
            Way::Demo => None,
            Way::DeviceCode { cancel, .. } | Way::Browser { cancel } => {
                Some(Effect::CancelSignIn(cancel))
            }
        }
    }
}

/// Whether a running desk reaches Dynamics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Opened, not yet heard from.
    Connecting,
    Online,
    /// Unreachable: the desk retries.
    Offline,
}

/// What a desk reports about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeskReport {
    Online,
    Offline,
    /// The sign-in expired or was revoked: the desk has stopped.
    SignInLost,
    /// The desk stopped on an error it cannot get over (its cache stays open).
    Ended,
}

/// Where the app stands. See the [module documentation](self).
#[derive(Debug)]
pub enum Lifecycle<K: Kit> {
    /// The configuration was read; what it asks for is being started (the demo
    /// org, or the stored sign-in of the agent's org).
    Activating { wanted: Wanted },
    /// Nothing can run: the configuration, the demo org or the local cache
    /// cannot be used, and `why`.
    NotConfigured { why: String, demo: bool },
    /// Waiting for the agent to sign in. `session` is `None` only in a demo
    /// that was signed out of: its next sign-in makes a new one.
    SignedOut {
        org: Org<K>,
        session: Option<K::SignIn>,
    },
    /// A sign-in under way, in the background.
    SigningIn {
        org: Org<K>,
        session: K::SignIn,
        ticket: Ticket,
        way: Way<K>,
    },
    /// Signed in; the local cache and the desk are being opened.
    Opening { org: Org<K>, session: K::SignIn },
    /// The desk runs.
    Running {
        org: Org<K>,
        session: K::SignIn,
        desk: K::Desk,
        ticket: Ticket,
        account: Option<AccountView>,
        link: Link,
    },
    /// The desk stopped on an error; its cache stays open (history) until the
    /// agent signs in again or out.
    Halted {
        org: Org<K>,
        session: K::SignIn,
        desk: K::Desk,
        account: Option<AccountView>,
    },
    /// ChatBell quit.
    Stopped,
}

/// What happens to the lifecycle.
#[derive(Debug)]
pub enum Event<K: Kit> {
    /// Activating the demo: its org started, and this session will sign the
    /// demo agent in.
    DemoStarted {
        org: K::Org,
        session: K::SignIn,
        ticket: Ticket,
    },
    /// Activating an org: its session, where the sign-in is kept, and whether
    /// a stored sign-in was restored.
    Restored {
        session: K::SignIn,
        storage: Storage,
        storage_note: Option<String>,
        signed_in: bool,
    },
    /// Activating: what the configuration asks for cannot be used, and why.
    Unusable { why: String },
    /// A sign-in flow began.
    SignInStarted {
        ticket: Ticket,
        session: K::SignIn,
        way: Way<K>,
    },
    /// A sign-in flow ended.
    SignInFinished { ticket: Ticket, signed_in: bool },
    /// The agent stopped waiting for a sign-in.
    CancelSignIn,
    /// The desk was opened on its cache, for this account.
    DeskOpened {
        ticket: Ticket,
        desk: K::Desk,
        account: Option<AccountView>,
    },
    /// The local cache could not be opened.
    DeskFailed { why: String },
    /// A desk reported.
    Desk { ticket: Ticket, report: DeskReport },
    /// The agent signs out.
    SignOut,
    /// The first run's welcome answered "keep using the demo".
    KeepDemo,
    /// A new configuration: wind down, then activate it.
    Reconfigure { wanted: Wanted },
    /// ChatBell quits.
    Quit,
}

/// What the app carries out after a transition, in order.
#[derive(Debug)]
pub enum Effect<K: Kit> {
    /// Sign the demo agent in with `session`, in the background; it reports
    /// [`Event::SignInFinished`] with `ticket`.
    SignInDemo {
        ticket: Ticket,
        org: K::Org,
        session: K::SignIn,
    },
    /// Open the local cache (the demo's, new, when `demo`) and a desk for
    /// `session`; report [`Event::DeskOpened`] or [`Event::DeskFailed`].
    OpenDesk {
        session: K::SignIn,
        demo: Option<K::Org>,
    },
    /// Stop waiting for a sign-in.
    CancelSignIn(K::Cancel),
    /// Stop the desk and close its cache.
    StopDesk(K::Desk),
    /// Stop the demo org.
    ShutDown(K::Org),
    /// Forget the session's tokens and its stored sign-in.
    ForgetSignIn(K::SignIn),
    /// The chats shown belong to nobody signed in: clear the count, the live
    /// notifications and my requests.
    ClearChats,
    /// A new configuration: clear everything the last desk put in the status.
    ClearView,
}

/// Why an event was refused; the state is as it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("ChatBell is stopping")]
    Stopped,
    #[error("ChatBell is not configured: {0}")]
    NotConfigured(String),
    #[error("already signed in")]
    AlreadySignedIn,
    #[error("you are not signed in")]
    NotSignedIn,
    #[error("the connection with Dynamics stopped; sign in again")]
    DeskStopped,
    #[error("no sign-in is waiting")]
    NothingToCancel,
    #[error("the demo is not running")]
    NotInDemo,
    /// A report from a sign-in or a desk that has been replaced or stopped.
    #[error("a sign-in or desk that was replaced reported")]
    Stale,
    #[error("{event} cannot happen while {state}")]
    NotNow {
        state: &'static str,
        event: &'static str,
    },
}

/// A transition: the next state and what to carry out.
pub type Step<K> = (Lifecycle<K>, Vec<Effect<K>>);

/// A transition, or the refusal (boxed: the rarer and the larger).
pub type Outcome<K> = Result<Step<K>, Box<Refused<K>>>;

/// A refused event: the state, unchanged, and why.
#[derive(Debug)]
pub struct Refused<K: Kit> {
    pub state: Lifecycle<K>,
    pub error: LifecycleError,
}

fn refuse<K: Kit>(state: Lifecycle<K>, error: LifecycleError) -> Outcome<K> {
    Err(Box::new(Refused { state, error }))
}

fn not_now<K: Kit>(state: Lifecycle<K>, event: &Event<K>) -> Outcome<K> {
    let error = LifecycleError::NotNow {
        state: state.name(),
        event: event.name(),
    };
    refuse(state, error)
}

/// Where a new sign-in's session comes from.
#[derive(Debug)]
pub enum Signer<K: Kit> {
    /// The session of this state.
    SignIn(K::SignIn),
    /// A new session of the demo org.
    NewDemoSession(K::Org),
}

/// What the panel shows of the lifecycle: the [`Status`] fields it owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    pub connection: Connection,
    pub signin: Option<SignInPrompt>,
    pub browser_signin: bool,
    pub account: Option<AccountView>,
    pub demo: bool,
    pub welcome: bool,
    pub storage: Storage,
    pub storage_note: Option<String>,
}

impl Shown {
    /// Writes itself into `status`; whether anything changed.
    pub fn write(self, status: &mut Status) -> bool {
        if Shown::of(status) == self {
            return false;
        }
        status.connection = self.connection;
        status.signin = self.signin;
        status.browser_signin = self.browser_signin;
        status.account = self.account;
        status.demo = self.demo;
        status.welcome = self.welcome;
        status.storage = self.storage;
        status.storage_note = self.storage_note;
        true
    }

    fn of(s: &Status) -> Shown {
        Shown {
            connection: s.connection,
            signin: s.signin.clone(),
            browser_signin: s.browser_signin,
            account: s.account.clone(),
            demo: s.demo,
            welcome: s.welcome,
            storage: s.storage,
            storage_note: s.storage_note.clone(),
        }
    }
}

impl<K: Kit> Lifecycle<K> {
    /// Applies `event`: the effects to carry out, or why it was refused (the
    /// state unchanged).
    pub fn handle(&mut self, event: Event<K>) -> Result<Vec<Effect<K>>, LifecycleError> {
        let state = std::mem::replace(self, Lifecycle::Stopped);
        match state.transition(event) {
            Ok((next, effects)) => {
                *self = next;
                Ok(effects)
            }
            Err(refused) => {
                let Refused { state, error } = *refused;
                *self = state;
                Err(error)
            }
        }
    }

    /// Every transition: the next state and its effects, or the refusal.
    pub fn transition(self, event: Event<K>) -> Outcome<K> {
        use Lifecycle as L;
        match (self, event) {
            (L::Stopped, Event::Quit) => Ok((L::Stopped, Vec::new())),
            (L::Stopped, _) => refuse(L::Stopped, LifecycleError::Stopped),
            (state, Event::Quit) => Ok((L::Stopped, state.wind_down())),
            (state, Event::Reconfigure { wanted }) => {
                let mut effects = state.wind_down();
                effects.push(Effect::ClearView);
                Ok((L::Activating { wanted }, effects))
            }
            (
                L::Activating { wanted },
                event @ (Event::DemoStarted { .. }
                | Event::Restored { .. }
                | Event::Unusable { .. }),
            ) => Self::activated(wanted, event),
            (
                state,
                Event::SignInStarted {
                    ticket,
                    session,
                    way,
                },
            ) => state.sign_in(ticket, session, way),
            (state, Event::SignInFinished { ticket, signed_in }) => {
                state.sign_in_finished(ticket, signed_in)
            }
            (state, Event::CancelSignIn) => state.cancel_sign_in(),
            (
                L::Opening { org, session },
                Event::DeskOpened {
                    ticket,
                    desk,
                    account,
                },
            ) => {
                let running = L::Running {
                    org,
                    session,
                    desk,
                    ticket,
                    account,
                    link: Link::Connecting,
                };
                Ok((running, Vec::new()))
            }
            (L::Opening { org, .. }, Event::DeskFailed { why }) => {
                let demo = org.is_demo();
                Ok((
                    L::NotConfigured { why, demo },
                    org.shut_down().into_iter().collect(),
                ))
            }
            (state, Event::Desk { ticket, report }) => state.desk_reported(ticket, report),
            (state, Event::SignOut) => state.sign_out(),
            (state, Event::KeepDemo) => state.keep_demo(),
            (state, event) => not_now(state, &event),
        }
    }

    /// From `Activating`: what starting the configuration came to.
    fn activated(wanted: Wanted, event: Event<K>) -> Outcome<K> {
        use Lifecycle as L;
        match (wanted, event) {
            (_, Event::Unusable { why }) => Ok((
                L::NotConfigured {
                    why,
                    demo: wanted.is_demo(),
                },
                Vec::new(),
            )),
            (
                Wanted::Demo { welcome },
                Event::DemoStarted {
                    org,
                    session,
                    ticket,
                },
            ) => {
                let effect = Effect::SignInDemo {
                    ticket,
                    org: org.clone(),
                    session: session.clone(),
                };
                let org = Org::Demo { org, welcome };
                let way = Way::Demo;
                Ok((
                    L::SigningIn {
                        org,
                        session,
                        ticket,
                        way,
                    },
                    vec![effect],
                ))
            }
            (
                Wanted::Dynamics,
                Event::Restored {
                    session,
                    storage,
                    storage_note,
                    signed_in,
                },
            ) => {
                let org = Org::Dynamics {
                    storage,
                    storage_note,
                };
                if signed_in {
                    let effect = Effect::OpenDesk {
                        session: session.clone(),
                        demo: None,
                    };
                    Ok((L::Opening { org, session }, vec![effect]))
                } else {
                    let session = Some(session);
                    Ok((L::SignedOut { org, session }, Vec::new()))
                }
            }
            (wanted, event) => not_now(L::Activating { wanted }, &event),
        }
    }

    fn sign_in(self, ticket: Ticket, session: K::SignIn, way: Way<K>) -> Outcome<K> {
        use Lifecycle as L;
        let (org, effects) = match self {
            L::SignedOut { org, .. } => (org, Vec::new()),
            L::SigningIn { org, way: old, .. } => (org, old.cancel().into_iter().collect()),
            L::Halted { org, desk, .. } => (org, vec![Effect::StopDesk(desk)]),
            state => {
                let error = state.sign_in_refusal();
                return refuse(state, error);
            }
        };
        Ok((
            L::SigningIn {
                org,
                session,
                ticket,
                way,
            },
            effects,
        ))
    }

    /// Why a state that takes no sign-in refuses one.
    fn sign_in_refusal(&self) -> LifecycleError {
        match self {
            Lifecycle::NotConfigured { why, .. } => LifecycleError::NotConfigured(why.clone()),
            Lifecycle::Opening { .. } | Lifecycle::Running { .. } => {
                LifecycleError::AlreadySignedIn
            }
            Lifecycle::Stopped => LifecycleError::Stopped,
            other => LifecycleError::NotNow {
                state: other.name(),
                event: "a sign-in",
            },
        }
    }

    fn sign_in_finished(self, ticket: Ticket, signed_in: bool) -> Outcome<K> {
        use Lifecycle as L;
        match self {
            L::SigningIn {
                org,
                session,
                ticket: t,
                ..
            } if t == ticket => {
                if signed_in {
                    let effect = Effect::OpenDesk {
                        session: session.clone(),
                        demo: org.demo_org(),
                    };
                    Ok((L::Opening { org, session }, vec![effect]))
                } else {
                    let session = Some(session);
                    Ok((L::SignedOut { org, session }, Vec::new()))
                }
            }
            state => refuse(state, LifecycleError::Stale),
        }
    }

    fn cancel_sign_in(self) -> Outcome<K> {
        use Lifecycle as L;
        match self {
            L::SigningIn {
                org,
                session,
                way: Way::DeviceCode { cancel, .. } | Way::Browser { cancel },
                ..
            } => {
                let session = Some(session);
                let effects = vec![Effect::CancelSignIn(cancel)];
                Ok((L::SignedOut { org, session }, effects))
            }
            state => refuse(state, LifecycleError::NothingToCancel),
        }
    }

    fn desk_reported(self, ticket: Ticket, report: DeskReport) -> Outcome<K> {
        use Lifecycle as L;
        match self {
            L::Running {
                org,
                session,
                desk,
                ticket: t,
                account,
                ..
            } if t == ticket => {
                let link = match report {
                    DeskReport::Online => Link::Online,
                    DeskReport::Offline => Link::Offline,
                    DeskReport::SignInLost => {
                        let session = Some(session);
                        let effects = vec![Effect::StopDesk(desk)];
                        return Ok((L::SignedOut { org, session }, effects));
                    }
                    DeskReport::Ended => {
                        return Ok((
                            L::Halted {
                                org,
                                session,
                                desk,
                                account,
                            },
                            Vec::new(),
                        ));
                    }
                };
                let running = L::Running {
                    org,
                    session,
                    desk,
                    ticket,
                    account,
                    link,
                };
                Ok((running, Vec::new()))
            }
            state => refuse(state, LifecycleError::Stale),
        }
    }

    fn sign_out(self) -> Outcome<K> {
        use Lifecycle as L;
        let (org, session, mut effects) = match self {
            L::SignedOut { org, session } => (org, session, Vec::new()),
            L::SigningIn {
                org, session, way, ..
            } => (org, Some(session), way.cancel().into_iter().collect()),
            L::Opening { org, session } => (org, Some(session), Vec::new()),
            L::Running {
                org, session, desk, ..
            }
            | L::Halted {
                org, session, desk, ..
            } => (org, Some(session), vec![Effect::StopDesk(desk)]),
            L::NotConfigured { why, demo } => {
                let error = LifecycleError::NotConfigured(why.clone());
                return refuse(L::NotConfigured { why, demo }, error);
            }
            state => return not_now(state, &Event::SignOut),
        };
        effects.extend(session.clone().map(Effect::ForgetSignIn));
        effects.push(Effect::ClearChats);
        // The demo's session is made afresh at the next sign-in.
        let session = if org.is_demo() { None } else { session };
        Ok((L::SignedOut { org, session }, effects))
    }

    fn keep_demo(mut self) -> Outcome<K> {
        if let Some(Org::Demo { welcome, .. }) = self.org_mut() {
            *welcome = false;
            return Ok((self, Vec::new()));
        }
        refuse(self, LifecycleError::NotInDemo)
    }

    /// What stops with this state: a sign-in waiting, the desk, the demo org.
    fn wind_down(self) -> Vec<Effect<K>> {
        use Lifecycle as L;
        let (cancel, desk, org) = match self {
            L::SigningIn { org, way, .. } => (way.cancel(), None, Some(org)),
            L::SignedOut { org, .. } | L::Opening { org, .. } => (None, None, Some(org)),
            L::Running { org, desk, .. } | L::Halted { org, desk, .. } => {
                (None, Some(Effect::StopDesk(desk)), Some(org))
            }
            L::Activating { .. } | L::NotConfigured { .. } | L::Stopped => (None, None, None),
        };
        cancel
            .into_iter()
            .chain(desk)
            .chain(org.and_then(Org::shut_down))
            .collect()
    }

    fn org(&self) -> Option<&Org<K>> {
        match self {
            Lifecycle::SignedOut { org, .. }
            | Lifecycle::SigningIn { org, .. }
            | Lifecycle::Opening { org, .. }
            | Lifecycle::Running { org, .. }
            | Lifecycle::Halted { org, .. } => Some(org),
            Lifecycle::Activating { .. } | Lifecycle::NotConfigured { .. } | Lifecycle::Stopped => {
                None
            }
        }
    }

    fn org_mut(&mut self) -> Option<&mut Org<K>> {
        match self {
            Lifecycle::SignedOut { org, .. }
            | Lifecycle::SigningIn { org, .. }
            | Lifecycle::Opening { org, .. }
            | Lifecycle::Running { org, .. }
            | Lifecycle::Halted { org, .. } => Some(org),
            Lifecycle::Activating { .. } | Lifecycle::NotConfigured { .. } | Lifecycle::Stopped => {
                None
            }
        }
    }

    // ----- what the app reads -------------------------------------------------

    /// Where a new sign-in's session comes from, or why there is none.
    pub fn signer(&self) -> Result<Signer<K>, LifecycleError> {
        use Lifecycle as L;
        match self {
            L::SignedOut {
                session: Some(s), ..
            }
            | L::SigningIn { session: s, .. }
            | L::Halted { session: s, .. } => Ok(Signer::SignIn(s.clone())),
            L::SignedOut {
                session: None,
                org: Org::Demo { org, .. },
            } => Ok(Signer::NewDemoSession(org.clone())),
            L::SignedOut {
                session: None,
                org: Org::Dynamics { .. },
            } => Err(LifecycleError::NotConfigured(
                "no Dynamics sign-in is configured (dynamics.client_id)".into(),
            )),
            other => Err(other.sign_in_refusal()),
        }
    }

    /// The desk, running or halted (its cache, for the history).
    pub fn desk(&self) -> Option<&K::Desk> {
        match self {
            Lifecycle::Running { desk, .. } | Lifecycle::Halted { desk, .. } => Some(desk),
            _ => None,
        }
    }

    /// The desk to send the agent's commands to, or why there is none.
    pub fn desk_for_input(&self) -> Result<&K::Desk, LifecycleError> {
        match self {
            Lifecycle::Running { desk, .. } => Ok(desk),
            Lifecycle::Halted { .. } => Err(LifecycleError::DeskStopped),
            Lifecycle::Stopped => Err(LifecycleError::Stopped),
            _ => Err(LifecycleError::NotSignedIn),
        }
    }

    /// The running desk's ticket: whose outputs reach the desktop.
    pub fn live_desk(&self) -> Option<Ticket> {
        match self {
            Lifecycle::Running { ticket, .. } => Some(*ticket),
            _ => None,
        }
    }

    /// Why nothing can run, when nothing can.
    pub fn config_error(&self) -> Option<&str> {
        match self {
            Lifecycle::NotConfigured { why, .. } => Some(why),
            _ => None,
        }
    }

    /// The running demo org, in a demo.
    pub fn demo_org(&self) -> Option<&K::Org> {
        match self.org() {
            Some(Org::Demo { org, .. }) => Some(org),
            _ => None,
        }
    }

    /// The connection the panel shows; `None` once stopped (nothing is shown
    /// any more).
    pub fn connection(&self) -> Option<Connection> {
        use Lifecycle as L;
        Some(match self {
            L::Activating { .. } | L::Opening { .. } => Connection::Connecting,
            L::NotConfigured { .. } => Connection::NotConfigured,
            L::SigningIn { way: Way::Demo, .. } => Connection::Connecting,
            L::SignedOut { .. } | L::SigningIn { .. } => Connection::SignedOut,
            L::Running { link, .. } => match link {
                Link::Connecting => Connection::Connecting,
                Link::Online => Connection::Online,
                Link::Offline => Connection::Offline,
            },
            L::Halted { .. } => Connection::Offline,
            L::Stopped => return None,
        })
    }

    /// What the panel shows of this state; `None` once stopped.
    pub fn shown(&self) -> Option<Shown> {
        use Lifecycle as L;
        let connection = self.connection()?;
        let (demo, welcome) = match (self, self.org()) {
            (_, Some(Org::Demo { welcome, .. })) => (true, *welcome),
            (L::Activating { wanted }, _) => match wanted {
                Wanted::Demo { welcome } => (true, *welcome),
                Wanted::Dynamics => (false, false),
            },
            (L::NotConfigured { demo, .. }, _) => (*demo, false),
            _ => (false, false),
        };
        let (storage, storage_note) = match self.org() {
            Some(Org::Dynamics {
                storage,
                storage_note,
            }) => (*storage, storage_note.clone()),
            _ if demo => (Storage::MemoryOnly, Some(DEMO_STORAGE_NOTE.to_string())),
            _ => (Storage::MemoryOnly, None),
        };
        let (signin, browser_signin) = match self {
            L::SigningIn {
                way: Way::DeviceCode { prompt, .. },
                ..
            } => (Some(prompt.clone()), false),
            L::SigningIn {
                way: Way::Browser { .. },
                ..
            } => (None, true),
            _ => (None, false),
        };
        let account = match self {
            L::Running { account, .. } | L::Halted { account, .. } => account.clone(),
            _ => None,
        };
        Some(Shown {
            connection,
            signin,
            browser_signin,
            account,
            demo,
            welcome,
            storage,
            storage_note,
        })
    }

    /// The state's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Lifecycle::Activating { .. } => "activating",
            Lifecycle::NotConfigured { .. } => "not configured",
            Lifecycle::SignedOut { .. } => "signed out",
            Lifecycle::SigningIn { .. } => "signing in",
            Lifecycle::Opening { .. } => "opening",
            Lifecycle::Running { .. } => "running",
            Lifecycle::Halted { .. } => "halted",
            Lifecycle::Stopped => "stopped",
        }
    }
}

impl<K: Kit> Event<K> {
    /// The event's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Event::DemoStarted { .. } => "the demo starting",
            Event::Restored { .. } => "a sign-in restored",
            Event::Unusable { .. } => "an unusable configuration",
            Event::SignInStarted { .. } => "a sign-in",
            Event::SignInFinished { .. } => "a sign-in ending",
            Event::CancelSignIn => "cancelling a sign-in",
            Event::DeskOpened { .. } => "a desk opening",
            Event::DeskFailed { .. } => "a desk failing to open",
            Event::Desk { .. } => "a desk's report",
            Event::SignOut => "signing out",
            Event::KeepDemo => "keeping the demo",
            Event::Reconfigure { .. } => "a new configuration",
            Event::Quit => "quitting",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain values in place of the app's things.
    #[derive(Debug)]
    struct Fake;

    impl Kit for Fake {
        type Org = &'static str;
        type SignIn = &'static str;
        type Desk = &'static str;
        type Cancel = &'static str;
    }

    type L = Lifecycle<Fake>;
    type E = Event<Fake>;

    /// The ticket of the sign-in or desk the state holds; `OLD` was replaced.
    const T: Ticket = Ticket(1);
    const OLD: Ticket = Ticket(99);
    const NEXT: Ticket = Ticket(2);

    fn demo(welcome: bool) -> Org<Fake> {
        Org::Demo {
            org: "demo org",
            welcome,
        }
    }

    fn dynamics() -> Org<Fake> {
        Org::Dynamics {
            storage: Storage::Keychain,
            storage_note: None,
        }
    }

    fn account() -> Option<AccountView> {
        Some(AccountView {
            name: "Dana".into(),
            username: "dana@contoso.com".into(),
        })
    }

    fn prompt() -> SignInPrompt {
        SignInPrompt {
            user_code: "ABCD-EFGH".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            expires_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn device_code(cancel: &'static str) -> Way<Fake> {
        Way::DeviceCode {
            prompt: prompt(),
            cancel,
        }
    }

    fn signed_out(org: Org<Fake>) -> L {
        L::SignedOut {
            org,
            session: Some("session"),
        }
    }

    fn signing_in(org: Org<Fake>, way: Way<Fake>) -> L {
        L::SigningIn {
            org,
            session: "session",
            ticket: T,
            way,
        }
    }

    fn opening(org: Org<Fake>) -> L {
        L::Opening {
            org,
            session: "session",
        }
    }

    fn running(org: Org<Fake>, link: Link) -> L {
        L::Running {
            org,
            session: "session",
            desk: "desk",
            ticket: T,
            account: account(),
            link,
        }
    }

    fn halted(org: Org<Fake>) -> L {
        L::Halted {
            org,
            session: "session",
            desk: "desk",
            account: account(),
        }
    }

    fn not_configured() -> L {
        L::NotConfigured {
            why: "dynamics.url: not a URL".into(),
            demo: false,
        }
    }

    fn sign_in_started(way: Way<Fake>) -> E {
        E::SignInStarted {
            ticket: NEXT,
            session: "session",
            way,
        }
    }

    /// The effects, in words.
    fn said(effects: &[Effect<Fake>]) -> Vec<String> {
        effects
            .iter()
            .map(|e| match e {
                Effect::SignInDemo {
                    ticket,
                    org,
                    session,
                } => format!("sign in {session} at {org} #{}", ticket.0),
                Effect::OpenDesk { session, demo } => match demo {
                    Some(org) => format!("open desk for {session} at {org}"),
                    None => format!("open desk for {session}"),
                },
                Effect::CancelSignIn(c) => c.to_string(),
                Effect::StopDesk(d) => format!("stop {d}"),
                Effect::ShutDown(o) => format!("shut down {o}"),
                Effect::ForgetSignIn(s) => format!("forget {s}"),
                Effect::ClearChats => "clear chats".into(),
                Effect::ClearView => "clear view".into(),
            })
            .collect()
    }

    /// `event` in `state`: the next state and the effects in words. Panics on a
    /// refusal.
    fn step(state: L, event: E) -> (L, Vec<String>) {
        match state.transition(event) {
            Ok((next, effects)) => {
                let words = said(&effects);
                (next, words)
            }
            Err(r) => panic!("refused while {}: {}", r.state.name(), r.error),
        }
    }

    /// Why `event` is refused in `state`, checking that the state is as it was.
    fn refused(state: L, event: E) -> LifecycleError {
        let before = format!("{state:?}");
        let mut state = state;
        let error = match state.handle(event) {
            Ok(effects) => panic!("allowed: now {}, {:?}", state.name(), said(&effects)),
            Err(e) => e,
        };
        assert_eq!(format!("{state:?}"), before, "a refusal changes nothing");
        error
    }

    // ----- activating -----------------------------------------------------------

    #[test]
    fn activating_the_demo_signs_the_demo_agent_in_in_the_background() {
        let activating = L::Activating {
            wanted: Wanted::Demo { welcome: true },
        };
        let shown = activating.shown().unwrap_or_else(|| panic!("shown"));
        assert_eq!(shown.connection, Connection::Connecting);
        assert!(shown.demo && shown.welcome, "the welcome shows at once");
        let (next, effects) = step(
            activating,
            E::DemoStarted {
                org: "demo org",
                session: "demo session",
                ticket: T,
            },
        );
        assert_eq!(effects, ["sign in demo session at demo org #1"]);
        assert!(matches!(
            next,
            L::SigningIn {
                org: Org::Demo { welcome: true, .. },
                session: "demo session",
                ticket: T,
                way: Way::Demo,
            }
        ));
        assert_eq!(next.connection(), Some(Connection::Connecting));
        assert_eq!(next.demo_org(), Some(&"demo org"));
    }

    #[test]
    fn activating_an_org_with_a_stored_sign_in_opens_its_desk() {
        let (next, effects) = step(
            L::Activating {
                wanted: Wanted::Dynamics,
            },
            E::Restored {
                session: "session",
                storage: Storage::Keychain,
                storage_note: None,
                signed_in: true,
            },
        );
        assert_eq!(effects, ["open desk for session"]);
        assert!(matches!(
            next,
            L::Opening {
                org: Org::Dynamics { .. },
                ..
            }
        ));
        assert_eq!(next.connection(), Some(Connection::Connecting));
    }

    #[test]
    fn activating_an_org_without_a_stored_sign_in_waits_signed_out() {
        let (next, effects) = step(
            L::Activating {
                wanted: Wanted::Dynamics,
            },
            E::Restored {
                session: "session",
                storage: Storage::MemoryOnly,
                storage_note: Some("no keychain".into()),
                signed_in: false,
            },
        );
        assert!(effects.is_empty());
        assert!(matches!(
            next,
            L::SignedOut {
                session: Some("session"),
                ..
            }
        ));
        let shown = next.shown().unwrap_or_else(|| panic!("shown"));
        assert_eq!(shown.connection, Connection::SignedOut);
        assert_eq!(shown.storage, Storage::MemoryOnly);
        assert_eq!(shown.storage_note.as_deref(), Some("no keychain"));
        assert!(!shown.demo);
    }

    #[test]
    fn an_unusable_configuration_is_not_configured_and_says_why() {
        for (wanted, demo) in [
            (Wanted::Dynamics, false),
            (Wanted::Demo { welcome: true }, true),
        ] {
            let (next, effects) = step(
                L::Activating { wanted },
                E::Unusable {
                    why: "dynamics.client_id is not set".into(),
                },
            );
            assert!(effects.is_empty());
            assert_eq!(next.config_error(), Some("dynamics.client_id is not set"));
            let shown = next.shown().unwrap_or_else(|| panic!("shown"));
            assert_eq!(shown.connection, Connection::NotConfigured);
            assert_eq!(
                shown.demo, demo,
                "a demo that could not start is still the demo"
            );
            assert!(!shown.welcome);
        }
    }

    #[test]
    fn activating_refuses_what_belongs_to_the_other_kind_of_org() {
        let e = refused(
            L::Activating {
                wanted: Wanted::Dynamics,
            },
            E::DemoStarted {
                org: "demo org",
                session: "s",
                ticket: T,
            },
        );
        assert!(matches!(
            e,
            LifecycleError::NotNow {
                state: "activating",
                ..
            }
        ));
        let e = refused(
            L::Activating {
                wanted: Wanted::Demo { welcome: false },
            },
            E::Restored {
                session: "s",
                storage: Storage::Keychain,
                storage_note: None,
                signed_in: true,
            },
        );
        assert!(matches!(e, LifecycleError::NotNow { .. }));
    }

    // ----- signed out and signing in ----------------------------------------------

    #[test]
    fn signing_in_from_signed_out_shows_the_device_code() {
        let (next, effects) = step(
            signed_out(dynamics()),
            sign_in_started(device_code("cancel")),
        );
        assert!(effects.is_empty());
        assert!(matches!(next, L::SigningIn { ticket: NEXT, .. }));
        let shown = next.shown().unwrap_or_else(|| panic!("shown"));
        assert_eq!(shown.connection, Connection::SignedOut);
        assert_eq!(shown.signin, Some(prompt()));
        assert!(!shown.browser_signin);
        assert_eq!(shown.account, None);
    }

    #[test]
    fn a_browser_sign_in_shows_that_it_waits_for_the_browser() {
        let (next, _) = step(
            signed_out(dynamics()),
            sign_in_started(Way::Browser { cancel: "cancel" }),
        );
        let shown = next.shown().unwrap_or_else(|| panic!("shown"));
        assert_eq!(shown.connection, Connection::SignedOut);
        assert!(shown.browser_signin);
        assert_eq!(shown.signin, None);
    }

    #[test]
    fn a_sign_in_goes_into_the_session_of_the_state_or_a_new_demo_session() {
        assert!(matches!(
            signed_out(dynamics()).signer(),
            Ok(Signer::SignIn("session"))
        ));
        let demo_signed_out = L::SignedOut {
            org: demo(false),
            session: None,
        };
        assert!(matches!(
            demo_signed_out.signer(),
            Ok(Signer::NewDemoSession("demo org"))
        ));
        assert!(matches!(
            halted(dynamics()).signer(),
            Ok(Signer::SignIn("session"))
        ));
        assert_eq!(
            running(dynamics(), Link::Online).signer().err(),
            Some(LifecycleError::AlreadySignedIn)
        );
        assert_eq!(
            not_configured().signer().err(),
            Some(LifecycleError::NotConfigured(
                "dynamics.url: not a URL".into()
            ))
        );
        assert_eq!(L::Stopped.signer().err(), Some(LifecycleError::Stopped));
    }

    #[test]
    fn a_second_sign_in_cancels_the_first() {
        let (next, effects) = step(
            signing_in(dynamics(), device_code("cancel the first")),
            sign_in_started(Way::Browser { cancel: "second" }),
        );
        assert_eq!(effects, ["cancel the first"]);
        assert!(matches!(
            next,
            L::SigningIn {
                ticket: NEXT,
                way: Way::Browser { .. },
                ..
            }
        ));
    }

    #[test]
    fn a_sign_in_beside_the_demo_agents_own_replaces_it() {
        let (next, effects) = step(
            signing_in(demo(false), Way::Demo),
            sign_in_started(device_code("cancel")),
        );
        assert!(
            effects.is_empty(),
            "the demo agent's sign-in has nothing to cancel"
        );
        assert!(matches!(next, L::SigningIn { ticket: NEXT, .. }));
    }

    #[test]
    fn cancelling_a_device_code_sign_in_cancels_it_and_is_signed_out() {
        let (next, effects) = step(
            signing_in(dynamics(), device_code("cancel the device code")),
            E::CancelSignIn,
        );
        assert_eq!(effects, ["cancel the device code"]);
        assert!(matches!(
            next,
            L::SignedOut {
                session: Some("session"),
                ..
            }
        ));
        assert_eq!(next.shown().and_then(|s| s.signin), None);
    }

    #[test]
    fn cancelling_a_browser_sign_in_cancels_it_and_is_signed_out() {
        let (next, effects) = step(
            signing_in(
                dynamics(),
                Way::Browser {
                    cancel: "cancel the browser",
                },
            ),
            E::CancelSignIn,
        );
        assert_eq!(effects, ["cancel the browser"]);
        assert!(!next.shown().is_some_and(|s| s.browser_signin));
        assert!(matches!(next, L::SignedOut { .. }));
    }

    #[test]
    fn the_demo_agents_own_sign_in_cannot_be_cancelled() {
        let e = refused(signing_in(demo(true), Way::Demo), E::CancelSignIn);
        assert_eq!(e, LifecycleError::NothingToCancel);
    }

    #[test]
    fn a_finished_sign_in_opens_the_desk() {
        let (next, effects) = step(
            signing_in(dynamics(), device_code("cancel")),
            E::SignInFinished {
                ticket: T,
                signed_in: true,
            },
        );
        assert_eq!(effects, ["open desk for session"]);
        assert!(matches!(next, L::Opening { .. }));
        // The demo's desk opens on the demo org.
        let (next, effects) = step(
            signing_in(demo(true), Way::Demo),
            E::SignInFinished {
                ticket: T,
                signed_in: true,
            },
        );
        assert_eq!(effects, ["open desk for session at demo org"]);
        assert!(matches!(
            next,
            L::Opening {
                org: Org::Demo { welcome: true, .. },
                ..
            }
        ));
    }

    #[test]
    fn a_failed_sign_in_is_signed_out_and_keeps_the_session() {
        let (next, effects) = step(
            signing_in(demo(false), Way::Demo),
            E::SignInFinished {
                ticket: T,
                signed_in: false,
            },
        );
        assert!(effects.is_empty());
        assert!(matches!(
            next,
            L::SignedOut {
                session: Some("session"),
                ..
            }
        ));
        assert_eq!(next.connection(), Some(Connection::SignedOut));
    }

    #[test]
    fn a_sign_in_that_was_replaced_or_cancelled_is_stale_when_it_ends() {
        let e = refused(
            signing_in(dynamics(), device_code("cancel")),
            E::SignInFinished {
                ticket: OLD,
                signed_in: false,
            },
        );
        assert_eq!(e, LifecycleError::Stale);
        // Cancelled: the state is signed out already.
        let e = refused(
            signed_out(dynamics()),
            E::SignInFinished {
                ticket: T,
                signed_in: false,
            },
        );
        assert_eq!(e, LifecycleError::Stale);
    }

    #[test]
    fn signing_out_while_signing_in_cancels_it_and_forgets_the_session() {
        let (next, effects) = step(signing_in(dynamics(), device_code("cancel")), E::SignOut);
        assert_eq!(effects, ["cancel", "forget session", "clear chats"]);
        assert!(matches!(
            next,
            L::SignedOut {
                session: Some("session"),
                ..
            }
        ));
    }

    #[test]
    fn signing_out_when_signed_out_forgets_the_tokens_again() {
        let (next, effects) = step(signed_out(dynamics()), E::SignOut);
        assert_eq!(effects, ["forget session", "clear chats"]);
        assert!(matches!(
            next,
            L::SignedOut {
                session: Some("session"),
                ..
            }
        ));
    }

    // ----- opening and running -----------------------------------------------------

    #[test]
    fn an_opened_desk_runs_connecting_with_its_account() {
        let (next, effects) = step(
            opening(dynamics()),
            E::DeskOpened {
                ticket: T,
                desk: "desk",
                account: account(),
            },
        );
        assert!(effects.is_empty());
        assert!(matches!(
            next,
            L::Running {
                desk: "desk",
                link: Link::Connecting,
                ..
            }
        ));
        assert_eq!(next.live_desk(), Some(T));
        let shown = next.shown().unwrap_or_else(|| panic!("shown"));
        assert_eq!(shown.connection, Connection::Connecting);
        assert_eq!(shown.account, account());
    }

    #[test]
    fn a_cache_that_cannot_open_is_not_configured_and_stops_the_demo_org() {
        let (next, effects) = step(
            opening(demo(false)),
            E::DeskFailed {
                why: "the local cache: disk full".into(),
            },
        );
        assert_eq!(effects, ["shut down demo org"]);
        assert_eq!(next.config_error(), Some("the local cache: disk full"));
        assert!(next.shown().is_some_and(|s| s.demo));
        let (next, effects) = step(
            opening(dynamics()),
            E::DeskFailed {
                why: "the local cache: disk full".into(),
            },
        );
        assert!(effects.is_empty());
        assert!(matches!(next, L::NotConfigured { demo: false, .. }));
    }

    #[test]
    fn the_desk_reports_online_and_offline() {
        let report = |state, report| step(state, E::Desk { ticket: T, report });
        let (online, effects) = report(running(dynamics(), Link::Connecting), DeskReport::Online);
        assert!(effects.is_empty());
        assert_eq!(online.connection(), Some(Connection::Online));
        let (offline, _) = report(online, DeskReport::Offline);
        assert_eq!(offline.connection(), Some(Connection::Offline));
        assert_eq!(offline.live_desk(), Some(T), "offline, the desk still runs");
        let (back, _) = report(offline, DeskReport::Online);
        assert!(matches!(
            back,
            L::Running {
                link: Link::Online,
                ..
            }
        ));
    }

    #[test]
    fn a_lost_sign_in_stops_the_desk_and_is_signed_out() {
        let (next, effects) = step(
            running(demo(false), Link::Online),
            E::Desk {
                ticket: T,
                report: DeskReport::SignInLost,
            },
        );
        assert_eq!(effects, ["stop desk"]);
        assert!(matches!(
            next,
            L::SignedOut {
                session: Some("session"),
                ..
            }
        ));
        let shown = next.shown().unwrap_or_else(|| panic!("shown"));
        assert_eq!(shown.connection, Connection::SignedOut);
        assert_eq!(shown.account, None);
        assert_eq!(next.live_desk(), None);
    }

    #[test]
    fn a_desk_that_ended_is_halted_offline_and_keeps_its_cache_and_account() {
        let (next, effects) = step(
            running(dynamics(), Link::Online),
            E::Desk {
                ticket: T,
                report: DeskReport::Ended,
            },
        );
        assert!(effects.is_empty());
        assert!(matches!(next, L::Halted { desk: "desk", .. }));
        assert_eq!(next.desk(), Some(&"desk"), "its cache keeps the history");
        assert_eq!(
            next.desk_for_input().err(),
            Some(LifecycleError::DeskStopped)
        );
        assert_eq!(next.live_desk(), None);
        let shown = next.shown().unwrap_or_else(|| panic!("shown"));
        assert_eq!(shown.connection, Connection::Offline);
        assert_eq!(shown.account, account());
    }

    #[test]
    fn a_report_from_a_replaced_desk_is_stale() {
        let e = refused(
            running(dynamics(), Link::Online),
            E::Desk {
                ticket: OLD,
                report: DeskReport::SignInLost,
            },
        );
        assert_eq!(e, LifecycleError::Stale);
        let e = refused(
            signed_out(dynamics()),
            E::Desk {
                ticket: T,
                report: DeskReport::Online,
            },
        );
        assert_eq!(e, LifecycleError::Stale);
    }

    #[test]
    fn signing_in_while_running_is_refused_as_already_signed_in() {
        let e = refused(
            running(dynamics(), Link::Offline),
            sign_in_started(device_code("cancel")),
        );
        assert_eq!(e, LifecycleError::AlreadySignedIn);
    }

    #[test]
    fn signing_out_online_stops_the_desk_and_forgets_the_session() {
        let (next, effects) = step(running(dynamics(), Link::Online), E::SignOut);
        assert_eq!(effects, ["stop desk", "forget session", "clear chats"]);
        assert!(matches!(
            next,
            L::SignedOut {
                org: Org::Dynamics { .. },
                session: Some("session"),
            }
        ));
        // The demo's session is made afresh at the next sign-in.
        let (next, effects) = step(running(demo(false), Link::Online), E::SignOut);
        assert_eq!(effects, ["stop desk", "forget session", "clear chats"]);
        assert!(matches!(
            next,
            L::SignedOut {
                org: Org::Demo { .. },
                session: None,
            }
        ));
        assert_eq!(next.demo_org(), Some(&"demo org"), "the demo org goes on");
    }

    #[test]
    fn signing_in_again_after_the_desk_ended_stops_it_first() {
        let (next, effects) = step(halted(dynamics()), sign_in_started(device_code("cancel")));
        assert_eq!(effects, ["stop desk"]);
        assert!(matches!(next, L::SigningIn { ticket: NEXT, .. }));
        assert_eq!(next.desk(), None);
    }

    #[test]
    fn signing_out_halted_stops_the_desk_and_forgets_the_session() {
        let (next, effects) = step(halted(dynamics()), E::SignOut);
        assert_eq!(effects, ["stop desk", "forget session", "clear chats"]);
        assert!(matches!(next, L::SignedOut { .. }));
    }

    #[test]
    fn commands_go_to_the_running_desk_only() {
        assert_eq!(
            running(dynamics(), Link::Offline).desk_for_input().ok(),
            Some(&"desk")
        );
        for (state, why) in [
            (signed_out(dynamics()), LifecycleError::NotSignedIn),
            (
                signing_in(dynamics(), device_code("c")),
                LifecycleError::NotSignedIn,
            ),
            (not_configured(), LifecycleError::NotSignedIn),
            (halted(dynamics()), LifecycleError::DeskStopped),
            (L::Stopped, LifecycleError::Stopped),
        ] {
            assert_eq!(state.desk_for_input().err(), Some(why), "{}", state.name());
        }
    }

    // ----- the welcome, a new configuration, quitting --------------------------------

    #[test]
    fn keeping_the_demo_answers_the_welcome_and_changes_nothing_else() {
        let (next, effects) = step(running(demo(true), Link::Online), E::KeepDemo);
        assert!(effects.is_empty());
        assert!(matches!(
            next,
            L::Running {
                org: Org::Demo { welcome: false, .. },
                link: Link::Online,
                desk: "desk",
                ..
            }
        ));
        let shown = next.shown().unwrap_or_else(|| panic!("shown"));
        assert!(shown.demo && !shown.welcome);
        let (next, _) = step(signing_in(demo(true), Way::Demo), E::KeepDemo);
        assert!(matches!(
            next,
            L::SigningIn {
                org: Org::Demo { welcome: false, .. },
                ..
            }
        ));
    }

    #[test]
    fn keeping_the_demo_is_refused_outside_a_running_demo() {
        for state in [
            running(dynamics(), Link::Online),
            not_configured(),
            L::Activating {
                wanted: Wanted::Demo { welcome: true },
            },
        ] {
            assert_eq!(refused(state, E::KeepDemo), LifecycleError::NotInDemo);
        }
    }

    #[test]
    fn not_configured_refuses_sign_in_and_sign_out_with_why() {
        let why = LifecycleError::NotConfigured("dynamics.url: not a URL".into());
        assert_eq!(
            refused(not_configured(), sign_in_started(device_code("c"))),
            why
        );
        assert_eq!(refused(not_configured(), E::SignOut), why);
    }

    #[test]
    fn reconfiguring_winds_down_what_runs_and_activates_anew() {
        let demo_sign_in = signing_in(demo(true), device_code("cancel"));
        for (state, expected) in [
            (not_configured(), vec!["clear view"]),
            (signed_out(dynamics()), vec!["clear view"]),
            (
                signed_out(demo(false)),
                vec!["shut down demo org", "clear view"],
            ),
            (
                demo_sign_in,
                vec!["cancel", "shut down demo org", "clear view"],
            ),
            (opening(dynamics()), vec!["clear view"]),
            (
                running(demo(false), Link::Online),
                vec!["stop desk", "shut down demo org", "clear view"],
            ),
            (halted(dynamics()), vec!["stop desk", "clear view"]),
        ] {
            let name = state.name();
            let (next, effects) = step(
                state,
                E::Reconfigure {
                    wanted: Wanted::Demo { welcome: false },
                },
            );
            assert_eq!(effects, expected, "{name}");
            assert!(matches!(
                next,
                L::Activating {
                    wanted: Wanted::Demo { welcome: false }
                }
            ));
        }
    }

    #[test]
    fn quitting_winds_down_what_runs_and_shows_nothing_more() {
        let (next, effects) = step(running(demo(false), Link::Online), E::Quit);
        assert_eq!(effects, ["stop desk", "shut down demo org"]);
        assert!(matches!(next, L::Stopped));
        assert_eq!(next.shown(), None);
        let (next, effects) = step(
            signing_in(dynamics(), Way::Browser { cancel: "cancel" }),
            E::Quit,
        );
        assert_eq!(effects, ["cancel"]);
        assert!(matches!(next, L::Stopped));
    }

    #[test]
    fn stopped_refuses_everything_but_quitting_again() {
        let (next, effects) = step(L::Stopped, E::Quit);
        assert!(effects.is_empty());
        assert!(matches!(next, L::Stopped));
        for event in [
            E::SignOut,
            sign_in_started(device_code("c")),
            E::Reconfigure {
                wanted: Wanted::Dynamics,
            },
            E::KeepDemo,
        ] {
            assert_eq!(refused(L::Stopped, event), LifecycleError::Stopped);
        }
    }

    // ----- every pair; what is shown ------------------------------------------------

    /// Every state against every event: the state it leads to, or the refusal
    /// ("!…"), as the module documentation's table says.
    #[test]
    fn every_state_and_event_is_a_transition_or_a_typed_refusal() {
        type Named = (&'static str, fn() -> L);
        let states: [Named; 10] = [
            ("activating demo", || L::Activating {
                wanted: Wanted::Demo { welcome: true },
            }),
            ("activating org", || L::Activating {
                wanted: Wanted::Dynamics,
            }),
            ("not configured", not_configured),
            ("signed out", || signed_out(dynamics())),
            ("signing in", || signing_in(dynamics(), device_code("c"))),
            ("signing in demo", || signing_in(demo(true), Way::Demo)),
            ("opening", || opening(dynamics())),
            ("running", || running(demo(true), Link::Online)),
            ("halted", || halted(dynamics())),
            ("stopped", || L::Stopped),
        ];
        let events: [fn() -> E; 15] = [
            || E::DemoStarted {
                org: "demo org",
                session: "s",
                ticket: T,
            },
            || E::Restored {
                session: "s",
                storage: Storage::Keychain,
                storage_note: None,
                signed_in: true,
            },
            || E::Unusable { why: "bad".into() },
            || sign_in_started(device_code("c")),
            || E::SignInFinished {
                ticket: T,
                signed_in: true,
            },
            || E::SignInFinished {
                ticket: OLD,
                signed_in: true,
            },
            || E::CancelSignIn,
            || E::DeskOpened {
                ticket: T,
                desk: "desk",
                account: None,
            },
            || E::DeskFailed { why: "bad".into() },
            || E::Desk {
                ticket: T,
                report: DeskReport::Online,
            },
            || E::Desk {
                ticket: OLD,
                report: DeskReport::Online,
            },
            || E::SignOut,
            || E::KeepDemo,
            || E::Reconfigure {
                wanted: Wanted::Dynamics,
            },
            || E::Quit,
        ];
        #[rustfmt::skip]
        let expected: [[&str; 15]; 10] = [
            //  demo started      restored      unusable          sign-in         finished       stale      cancel     desk opened  desk failed       report       stale      sign out      keep demo        reconfigure   quit
            ["signing in", "!now",       "not configured", "!now",         "!stale",      "!stale", "!cancel", "!now",      "!now",           "!stale",    "!stale", "!now",       "!demo",         "activating", "stopped"], // activating demo
            ["!now",       "opening",    "not configured", "!now",         "!stale",      "!stale", "!cancel", "!now",      "!now",           "!stale",    "!stale", "!now",       "!demo",         "activating", "stopped"], // activating org
            ["!now",       "!now",       "!now",           "!configured",  "!stale",      "!stale", "!cancel", "!now",      "!now",           "!stale",    "!stale", "!configured","!demo",         "activating", "stopped"], // not configured
            ["!now",       "!now",       "!now",           "signing in",   "!stale",      "!stale", "!cancel", "!now",      "!now",           "!stale",    "!stale", "signed out", "!demo",         "activating", "stopped"], // signed out
            ["!now",       "!now",       "!now",           "signing in",   "opening",     "!stale", "signed out", "!now",   "!now",           "!stale",    "!stale", "signed out", "!demo",         "activating", "stopped"], // signing in
            ["!now",       "!now",       "!now",           "signing in",   "opening",     "!stale", "!cancel", "!now",      "!now",           "!stale",    "!stale", "signed out", "signing in",    "activating", "stopped"], // signing in demo
            ["!now",       "!now",       "!now",           "!signed in",   "!stale",      "!stale", "!cancel", "running",   "not configured", "!stale",    "!stale", "signed out", "!demo",         "activating", "stopped"], // opening
            ["!now",       "!now",       "!now",           "!signed in",   "!stale",      "!stale", "!cancel", "!now",      "!now",           "running",   "!stale", "signed out", "running",       "activating", "stopped"], // running
            ["!now",       "!now",       "!now",           "signing in",   "!stale",      "!stale", "!cancel", "!now",      "!now",           "!stale",    "!stale", "signed out", "!demo",         "activating", "stopped"], // halted
            ["!stopped",   "!stopped",   "!stopped",       "!stopped",     "!stopped",    "!stopped", "!stopped", "!stopped", "!stopped",     "!stopped",  "!stopped", "!stopped", "!stopped",      "!stopped",   "stopped"], // stopped
        ];
        let code = |e: &LifecycleError| match e {
            LifecycleError::Stopped => "!stopped",
            LifecycleError::NotConfigured(_) => "!configured",
            LifecycleError::AlreadySignedIn => "!signed in",
            LifecycleError::NotSignedIn => "!signed out",
            LifecycleError::DeskStopped => "!desk",
            LifecycleError::NothingToCancel => "!cancel",
            LifecycleError::NotInDemo => "!demo",
            LifecycleError::Stale => "!stale",
            LifecycleError::NotNow { .. } => "!now",
        };
        let mut wrong = Vec::new();
        for ((name, state), row) in states.iter().zip(expected) {
            for (event, want) in events.iter().zip(row) {
                let state = state();
                let before = format!("{state:?}");
                let event = event();
                let what = event.name();
                let got = match state.transition(event) {
                    Ok((next, _)) => next.name().to_string(),
                    Err(r) => {
                        assert_eq!(format!("{:?}", r.state), before, "{name}, {what}: changed");
                        code(&r.error).to_string()
                    }
                };
                if got != want {
                    wrong.push(format!("{name}, {what}: {got}, not {want}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn the_connection_shown_is_derived_from_the_state() {
        for (state, connection) in [
            (
                L::Activating {
                    wanted: Wanted::Dynamics,
                },
                Some(Connection::Connecting),
            ),
            (not_configured(), Some(Connection::NotConfigured)),
            (signed_out(dynamics()), Some(Connection::SignedOut)),
            (
                signing_in(dynamics(), device_code("c")),
                Some(Connection::SignedOut),
            ),
            (
                signing_in(demo(false), Way::Demo),
                Some(Connection::Connecting),
            ),
            (opening(dynamics()), Some(Connection::Connecting)),
            (
                running(dynamics(), Link::Connecting),
                Some(Connection::Connecting),
            ),
            (running(dynamics(), Link::Online), Some(Connection::Online)),
            (
                running(dynamics(), Link::Offline),
                Some(Connection::Offline),
            ),
            (halted(dynamics()), Some(Connection::Offline)),
            (L::Stopped, None),
        ] {
            assert_eq!(state.connection(), connection, "{}", state.name());
            assert_eq!(state.shown().map(|s| s.connection), connection);
        }
    }

    #[test]
    fn the_demo_shows_that_nothing_is_kept_and_an_org_where_its_sign_in_is() {
        let demo = running(demo(false), Link::Online).shown();
        let demo = demo.unwrap_or_else(|| panic!("shown"));
        assert_eq!(demo.storage, Storage::MemoryOnly);
        assert_eq!(demo.storage_note.as_deref(), Some(DEMO_STORAGE_NOTE));
        let org = running(dynamics(), Link::Online).shown();
        let org = org.unwrap_or_else(|| panic!("shown"));
        assert_eq!(org.storage, Storage::Keychain);
        assert_eq!(org.storage_note, None);
        assert!(!org.demo && !org.welcome);
    }

    #[test]
    fn showing_the_same_state_again_changes_nothing_in_the_status() {
        let mut status = Status::default();
        let shown = signing_in(dynamics(), device_code("c"))
            .shown()
            .unwrap_or_else(|| panic!("shown"));
        assert!(shown.clone().write(&mut status));
        assert_eq!(status.connection, Connection::SignedOut);
        assert_eq!(status.signin, Some(prompt()));
        assert!(!shown.write(&mut status), "unchanged");
    }
}
