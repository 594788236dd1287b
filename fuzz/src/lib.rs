//! What ChatBell's fuzz targets do, one module per input surface; each
//! `fuzz_targets/<name>.rs` calls `<name>::run`. Every target asserts that
//! nothing panics and that every rejection is a typed error with a message,
//! plus what else must hold for its surface (see each module).
//!
//! Inputs are text where the surface is text, with a first line that says what
//! the rest is where a target has several parsers, so that the corpora under
//! `fuzz/corpus/<target>/` stay readable.

pub mod config_toml;
pub mod control_protocol;
pub mod dataverse_errors;
pub mod dataverse_rows;
pub mod emulator_json_bodies;
pub mod ipc_payloads;
pub mod odata_filter;
pub mod token_responses;

mod support;
