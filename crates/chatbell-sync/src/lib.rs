//! ChatBell's link with Dynamics 365: the Dataverse Web API client, the schema
//! mapping, the decoding of rows, the polling sync and the write-backs.
//!
//! GUI-free: the desktop shell and the tests drive it the same way.

pub mod client;
pub mod datetime;
pub mod decode;
pub mod desk;
pub mod inspect;
pub mod org;
pub mod orgcheck;
pub mod poll;
pub mod schema;
pub mod signin;
pub mod writeback;

pub use client::{AuthFailure, Dataverse, DataverseError, RetryPolicy, StaticToken, TokenSource};
pub use desk::{CacheState, Desk, DeskConfig, DeskError, DeskStats, Desktop, Input, PollReport};
pub use poll::{Batch, PollConfig, Poller, Tables};
pub use schema::{Mapping, Schema, SchemaError, Table};
pub use writeback::Writer;
