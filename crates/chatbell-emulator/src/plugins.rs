//! The add-on's server-side behaviour, run inside the write path as a Dataverse
//! plug-in would run inside the create transaction.
//!
//! - A new `cb_chatmessage` updates its session: `cb_lastcustomermessageon` or
//!   `cb_lastagentmessageon`, `cb_lastmessagepreview`, and `cb_unreadcount` (+1 for
//!   a customer message, reset to 0 by an agent message); the session therefore
//!   gets a new `modifiedon` and etag.
//! - A customer message on a session whose number is blocked is dropped: the
//!   create fails (in the Web API: 400 `0x80040265`, "ISV code aborted the
//!   operation", which is how a plug-in refusal surfaces in Dataverse).
//! - A new `cb_blockednumber` closes every active session of that number (on that
//!   channel, or on every channel when the row has none) as blocked: `statecode` 1,
//!   `statuscode` 3.
//! - A new `cb_chatsession` whose number (on that channel) was never accepted gets
//!   `cb_firstcontact` true, unless the writer set it; missing counters start at 0
//!   and a missing channel is taken from the configuration.
//! - A new `cb_chatrequest` without `cb_expireson` gets one from its session's
//!   configuration's `cb_requesttimeoutminutes`.

use crate::error::{codes, ApiError};
use crate::schema::{schema, Table};
use crate::store::{Change, OrgData, WriteCtx, LOOKUP_LOGICAL};
use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The longest `cb_lastmessagepreview` the add-on writes.
pub const PREVIEW_CHARS: usize = 100;

fn given(changes: &[Change], col: &str) -> bool {
    changes.iter().any(|c| c.col == col)
}

fn get_i64(f: &Map<String, Value>, col: &str) -> Option<i64> {
    f.get(col).and_then(Value::as_i64)
}

fn get_guid(f: &Map<String, Value>, col: &str) -> Option<Uuid> {
    f.get(col)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

fn plugin_error(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::PLUGIN, message)
}

/// Whether `number` is blocked on `channel`.
pub fn is_blocked(store: &OrgData, number: &str, channel: Option<i64>) -> bool {
    store.rows("cb_blockednumbers").any(|(_, r)| {
        r.int("statecode").unwrap_or(0) == 0
            && r.str("cb_number")
                .is_some_and(|n| n.eq_ignore_ascii_case(number))
            && match (r.int("cb_channel"), channel) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    })
}

pub(crate) fn pre_create(
    store: &mut OrgData,
    table: &Table,
    fields: &mut Map<String, Value>,
    changes: &[Change],
    ctx: WriteCtx,
) -> Result<(), ApiError> {
    match table.logical {
        "cb_chatsession" => {
            if fields.get("cb_channel").is_none_or(Value::is_null) {
                if let Some(cfg) = get_guid(fields, "_cb_configuration_value")
                    .and_then(|c| store.get("cb_configurations", c))
                {
                    if let Some(ch) = cfg.int("cb_channel") {
                        fields.insert("cb_channel".into(), Value::from(ch));
                    }
                }
            }
            for col in ["cb_unreadcount", "cb_callstate"] {
                if fields.get(col).is_none_or(Value::is_null) {
                    fields.insert(col.into(), Value::from(0));
                }
            }
            if !given(changes, "cb_firstcontact") {
                let number = fields
                    .get("cb_customernumber")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let channel = get_i64(fields, "cb_channel");
                let accepted_before = store.rows("cb_chatsessions").any(|(_, r)| {
                    r.str("cb_customernumber")
                        .is_some_and(|n| n.eq_ignore_ascii_case(&number))
                        && r.int("cb_channel") == channel
                        && r.fields.get("cb_acceptedon").is_some_and(|v| !v.is_null())
                });
                fields.insert("cb_firstcontact".into(), Value::Bool(!accepted_before));
            }
        }
        "cb_chatmessage" => {
            let session = get_guid(fields, "_cb_chatsession_value").ok_or_else(|| {
                plugin_error("A chat message needs its session: set cb_chatsession@odata.bind.")
            })?;
            let direction = get_i64(fields, "cb_direction").ok_or_else(|| {
                plugin_error("A chat message needs cb_direction (1 from customer, 2 from agent).")
            })?;
            let s = store
                .get("cb_chatsessions", session)
                .ok_or_else(|| ApiError::not_found("cb_chatsession", session))?;
            if direction == 1 {
                let number = s.str("cb_customernumber").unwrap_or("");
                if is_blocked(store, number, s.int("cb_channel")) {
                    return Err(plugin_error(format!(
                        "The customer number {number} is blocked: the message was dropped."
                    )));
                }
            }
        }
        "cb_chatrequest" => {
            if fields
                .get("_cb_requestedby_value")
                .is_none_or(Value::is_null)
            {
                fields.insert(
                    "_cb_requestedby_value".into(),
                    Value::String(ctx.actor.to_string()),
                );
                fields.insert(
                    format!("_cb_requestedby_value{LOOKUP_LOGICAL}"),
                    Value::String("systemuser".into()),
                );
            }
            if fields.get("cb_expireson").is_none_or(Value::is_null) {
                let minutes = get_guid(fields, "_cb_chatsession_value")
                    .and_then(|s| store.get("cb_chatsessions", s))
                    .and_then(|s| s.guid("_cb_configuration_value"))
                    .and_then(|c| store.get("cb_configurations", c))
                    .and_then(|c| c.int("cb_requesttimeoutminutes"));
                if let Some(m) = minutes {
                    let t = ctx.now + chrono::Duration::minutes(m);
                    fields.insert(
                        "cb_expireson".into(),
                        Value::String(crate::clock::format_ts(t)),
                    );
                }
            }
        }
        "cb_blockednumber"
            if fields
                .get("cb_number")
                .and_then(Value::as_str)
                .is_none_or(|s| s.trim().is_empty()) =>
        {
            return Err(plugin_error("A blocked number needs cb_number."));
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn post_create(store: &mut OrgData, table: &Table, id: Uuid, ctx: WriteCtx) {
    let sessions = match schema().by_set("cb_chatsessions") {
        Some(t) => t,
        None => return,
    };
    match table.logical {
        "cb_chatmessage" => {
            let Some(msg) = store.get("cb_chatmessages", id).cloned() else {
                return;
            };
            let Some(session_id) = msg.guid("_cb_chatsession_value") else {
                return;
            };
            let Some(session) = store.get("cb_chatsessions", session_id) else {
                return;
            };
            let unread = session.int("cb_unreadcount").unwrap_or(0);
            let at = Value::String(crate::clock::format_ts(ctx.now));
            let preview: String = msg
                .str("cb_body")
                .unwrap_or("")
                .chars()
                .take(PREVIEW_CHARS)
                .collect();
            let change = |col: &'static str, value: Value| Change {
                col,
                value,
                target: None,
            };
            let changes = if msg.int("cb_direction") == Some(1) {
                vec![
                    change("cb_lastcustomermessageon", at),
                    change("cb_lastmessagepreview", Value::String(preview)),
                    change("cb_unreadcount", Value::from(unread + 1)),
                ]
            } else {
                vec![
                    change("cb_lastagentmessageon", at),
                    change("cb_lastmessagepreview", Value::String(preview)),
                    change("cb_unreadcount", Value::from(0)),
                ]
            };
            // The session exists (checked just above), so this cannot fail.
            let _ = store.update_changes(sessions, session_id, &changes, ctx);
        }
        "cb_blockednumber" => {
            let Some(row) = store.get("cb_blockednumbers", id).cloned() else {
                return;
            };
            let number = row.str("cb_number").unwrap_or("").to_string();
            let channel = row.int("cb_channel");
            let hits: Vec<Uuid> = store
                .rows("cb_chatsessions")
                .filter(|(_, r)| {
                    r.int("statecode").unwrap_or(0) == 0
                        && r.str("cb_customernumber")
                            .is_some_and(|n| n.eq_ignore_ascii_case(&number))
                        && channel.is_none_or(|c| r.int("cb_channel") == Some(c))
                })
                .map(|(id, _)| *id)
                .collect();
            for sid in hits {
                let changes = [
                    Change {
                        col: "statecode",
                        value: Value::from(1),
                        target: None,
                    },
                    Change {
                        col: "statuscode",
                        value: Value::from(3),
                        target: None,
                    },
                ];
                let _ = store.update_changes(sessions, sid, &changes, ctx);
            }
        }
        _ => {}
    }
}
