//! Between the core's types and the columns they are kept in.

use crate::error::StoreError;
use chatbell_core::Direction;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::str::FromStr;

/// `v` as JSON.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    what: &'static str,
    v: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Encode { what, source })
}

/// A `T` read back from JSON stored under `key`.
pub(crate) fn from_json<T: DeserializeOwned>(
    what: &'static str,
    key: &str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Decode {
        what,
        key: key.to_string(),
        source: Box::new(e),
    })
}

/// An id (or a notification key) read back from its text form.
pub(crate) fn parse<T>(what: &'static str, s: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse().map_err(|e: T::Err| StoreError::Decode {
        what,
        key: s.chars().take(80).collect(),
        source: Box::new(e),
    })
}

/// A unit variant's serde name (`NewConversation`), for a readable column.
pub(crate) fn variant_name<T: Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    match serde_json::to_value(v).map_err(|source| StoreError::Encode { what, source })? {
        serde_json::Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

/// `cb_direction`: 1 from the customer, 2 from an agent.
pub(crate) fn direction_code(d: Direction) -> i64 {
    match d {
        Direction::FromCustomer => 1,
        Direction::FromAgent => 2,
    }
}

pub(crate) fn direction_from_code(code: i64, key: &str) -> Result<Direction, StoreError> {
    match code {
        1 => Ok(Direction::FromCustomer),
        2 => Ok(Direction::FromAgent),
        other => Err(StoreError::Decode {
            what: "message direction",
            key: key.to_string(),
            source: format!("unknown direction code {other}").into(),
        }),
    }
}
