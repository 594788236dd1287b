//! ChatBell's core: what happens in Dynamics in, what this agent must see and hear out.
//!
//! Plain Rust with no I/O: [`engine::Engine`] turns (state, event, now) into a new
//! state and [`engine::Effect`]s; [`timers::Scheduler`] holds every idle and expiry
//! deadline on an injected clock.

pub mod ids;
pub mod time;
pub mod timers;

pub use ids::*;
pub use time::{Clock, ManualClock, ScaledClock, Span, SystemClock, Ts};
pub use timers::{Scheduler, TimerKey};
pub mod domain;
pub mod effect;
pub mod engine;
pub mod fasthash;
pub mod notification;
pub mod ownership;
pub mod present;

pub use domain::*;
pub use effect::*;
pub use engine::{Engine, MessageStats, Snapshot, REPLY_WARNING};
pub use notification::*;
pub use ownership::{check_request, Attempt, ChatPrecondition, Refusal, Verdict};
