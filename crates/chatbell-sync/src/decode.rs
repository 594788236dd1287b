//! Dataverse rows (JSON objects, in the org's names) to the core's typed rows.
//!
//! Rows come from a server ChatBell does not control: anything may be missing, of
//! the wrong type or out of range. A row that cannot be read is refused with a
//! [`DecodeError`] that names the table, the row and the column; the caller skips
//! it (and logs why) and the rest of the batch goes on.

use crate::datetime;
use crate::schema::{Schema, Table};
use chatbell_core::{
    Agent, BlockedNumber, CallState, Change, Channel, ChatRequest, Configuration, Direction,
    Message, Owner, RequestKind, RequestStatus, Session, SessionStatus, Span, Team, Ts,
};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The annotation that says which table a lookup points to.
pub const LOOKUP_TABLE: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";
/// The annotation with a lookup's display name.
pub const FORMATTED: &str = "@OData.Community.Display.V1.FormattedValue";

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} row {row}: {column}: {problem}")]
pub struct DecodeError {
    pub table: &'static str,
    /// The row's id, when it could be read.
    pub row: String,
    pub column: String,
    pub problem: String,
}

/// One JSON row of one table, read through the schema.
pub struct Row<'a> {
    schema: &'a Schema,
    table: Table,
    v: &'a Map<String, Value>,
    id: String,
}

impl<'a> Row<'a> {
    pub fn new(schema: &'a Schema, table: Table, v: &'a Value) -> Result<Row<'a>, DecodeError> {
        let Some(v) = v.as_object() else {
            return Err(DecodeError {
                table: table.reference_name(),
                row: "?".into(),
                column: "(row)".into(),
                problem: "not a JSON object".into(),
            });
        };
        let mut row = Row {
            schema,
            table,
            v,
            id: "?".into(),
        };
        let key = schema.key(table).to_string();
        let id = row.guid_at(&key)?;
        row.id = id.to_string();
        Ok(row)
    }

    fn err(&self, column: &str, problem: impl Into<String>) -> DecodeError {
        DecodeError {
            table: self.table.reference_name(),
            row: self.id.clone(),
            column: column.chars().take(100).collect(),
            problem: problem.into(),
        }
    }

    fn raw(&self, column: &str) -> Option<&'a Value> {
        self.v.get(column).filter(|v| !v.is_null())
    }

    fn guid_at(&self, column: &str) -> Result<Uuid, DecodeError> {
        match self.raw(column) {
            Some(Value::String(s)) => {
                Uuid::parse_str(s).map_err(|_| self.err(column, "not a GUID"))
            }
            Some(_) => Err(self.err(column, "not a string")),
            None => Err(self.err(column, "missing")),
        }
    }

    /// The row's primary key.
    pub fn id(&self) -> Result<Uuid, DecodeError> {
        self.guid_at(self.schema.key(self.table))
    }

    fn col(&self, reference: &'static str) -> &'a str {
        // The schema outlives the row.
        let name: &'a str = self.schema.col(self.table, reference);
        name
    }

    pub fn string(&self, reference: &'static str) -> Result<String, DecodeError> {
        Ok(self.opt_string(reference)?.unwrap_or_default())
    }

    pub fn opt_string(&self, reference: &'static str) -> Result<Option<String>, DecodeError> {
        let c = self.col(reference);
        match self.raw(c) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(c, "not a string")),
            None => Ok(None),
        }
    }

    pub fn int(&self, reference: &'static str) -> Result<i64, DecodeError> {
        self.opt_int(reference)?
            .ok_or_else(|| self.err(self.col(reference), "missing"))
    }

    pub fn opt_int(&self, reference: &'static str) -> Result<Option<i64>, DecodeError> {
        let c = self.col(reference);
        match self.raw(c) {
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(c, "not a whole number")),
            Some(_) => Err(self.err(c, "not a number")),
            None => Ok(None),
        }
    }

    pub fn bool(&self, reference: &'static str) -> Result<bool, DecodeError> {
        let c = self.col(reference);
        match self.raw(c) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.err(c, "not a boolean")),
            None => Ok(false),
        }
    }

    fn ts_at(&self, column: &str) -> Result<Option<Ts>, DecodeError> {
        match self.raw(column) {
            Some(Value::String(s)) => datetime::parse(s)
                .map(Some)
                .ok_or_else(|| self.err(column, "not a date-time")),
            Some(_) => Err(self.err(column, "not a string")),
            None => Ok(None),
        }
    }

    pub fn opt_ts(&self, reference: &'static str) -> Result<Option<Ts>, DecodeError> {
        self.ts_at(self.col(reference))
    }

    /// `createdon` (standard column, never mapped).
    pub fn created_on(&self) -> Result<Ts, DecodeError> {
        self.ts_at("createdon")?
            .ok_or_else(|| self.err("createdon", "missing"))
    }

    /// `modifiedon` (standard column, never mapped).
    pub fn modified_on(&self) -> Result<Ts, DecodeError> {
        self.ts_at("modifiedon")?
            .ok_or_else(|| self.err("modifiedon", "missing"))
    }

    /// `@odata.etag`.
    pub fn etag(&self) -> Result<String, DecodeError> {
        match self.raw("@odata.etag") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(self.err("@odata.etag", "not a string")),
            None => Err(self.err("@odata.etag", "missing")),
        }
    }

    /// A lookup's target id (`_x_value`), if set.
    pub fn lookup(&self, reference: &'static str) -> Result<Option<Uuid>, DecodeError> {
        let c = self.schema.lookup_value(self.table, reference);
        match self.raw(&c) {
            Some(Value::String(s)) => Uuid::parse_str(s)
                .map(Some)
                .map_err(|_| self.err(&c, "not a GUID")),
            Some(_) => Err(self.err(&c, "not a string")),
            None => Ok(None),
        }
    }

    pub fn required_lookup(&self, reference: &'static str) -> Result<Uuid, DecodeError> {
        self.lookup(reference)?
            .ok_or_else(|| self.err(&self.schema.lookup_value(self.table, reference), "missing"))
    }

    /// A lookup's annotation (`_x_value@...`), when the server sent it.
    pub fn lookup_annotation(&self, reference: &'static str, annotation: &str) -> Option<&'a str> {
        let c = format!(
            "{}{annotation}",
            self.schema.lookup_value(self.table, reference)
        );
        self.v.get(&c).and_then(Value::as_str)
    }

    /// The meaning (from [`crate::schema::CHOICES`]) of a choice column's value,
    /// `default` when the column is absent or null.
    fn choice(
        &self,
        reference: &'static str,
        what: &str,
        default: Option<&'static str>,
    ) -> Result<&'static str, DecodeError> {
        let c = self.col(reference);
        let v = self.opt_int(reference)?;
        match (v, default) {
            (None, Some(d)) => Ok(d),
            (None, None) => Err(self.err(c, "missing")),
            (Some(n), _) => self
                .schema
                .meaning(self.table, reference, n)
                .ok_or_else(|| self.err(c, format!("unknown {what} {n}"))),
        }
    }

    fn channel(&self) -> Result<Channel, DecodeError> {
        match self.choice("cb_channel", "channel", None)? {
            "whatsapp" => Ok(Channel::WhatsApp),
            _ => Ok(Channel::Sms),
        }
    }

    fn minutes(&self, reference: &'static str) -> Result<Span, DecodeError> {
        let m = self.int(reference)?;
        if !(0..=10_080).contains(&m) {
            return Err(self.err(self.col(reference), format!("{m} minutes is out of range")));
        }
        Ok(Span::minutes(m))
    }
}

/// An agent row.
pub fn agent(schema: &Schema, v: &Value) -> Result<Agent, DecodeError> {
    let r = Row::new(schema, Table::SystemUser, v)?;
    Ok(Agent {
        id: chatbell_core::UserId(r.id()?),
        full_name: r.string("fullname")?,
        email: r.string("internalemailaddress")?,
    })
}

/// A team row.
pub fn team(schema: &Schema, v: &Value) -> Result<Team, DecodeError> {
    let r = Row::new(schema, Table::Team, v)?;
    Ok(Team {
        id: chatbell_core::TeamId(r.id()?),
        name: r.string("name")?,
    })
}

/// A configuration row.
pub fn configuration(schema: &Schema, v: &Value) -> Result<Configuration, DecodeError> {
    let r = Row::new(schema, Table::Configuration, v)?;
    Ok(Configuration {
        id: chatbell_core::ConfigId(r.id()?),
        name: r.string("cb_name")?,
        channel: r.channel()?,
        default_team: chatbell_core::TeamId(r.required_lookup("cb_defaultteam")?),
        assigned_team: r.lookup("cb_assignedteam")?.map(chatbell_core::TeamId),
        idle_timeout: r.minutes("cb_idletimeoutminutes")?,
        request_timeout: r.minutes("cb_requesttimeoutminutes")?,
        system_notification: r.bool("cb_enablesystemnotification")?,
    })
}

/// A session row, and its owner's display name when the server annotated it
/// (`Prefer: odata.include-annotations`), so that "taken by <name>" needs no
/// extra request.
pub fn session(schema: &Schema, v: &Value) -> Result<(Session, Option<Agent>), DecodeError> {
    let r = Row::new(schema, Table::Session, v)?;
    let owner_id = r.required_lookup("ownerid")?;
    let owner_table = r
        .lookup_annotation("ownerid", LOOKUP_TABLE)
        .map(str::to_string)
        .or_else(|| {
            // Without annotations, the standard owninguser / owningteam columns tell.
            if v.get("_owninguser_value").is_some_and(|x| !x.is_null()) {
                Some("systemuser".into())
            } else if v.get("_owningteam_value").is_some_and(|x| !x.is_null()) {
                Some("team".into())
            } else {
                None
            }
        });
    let owner = match owner_table.as_deref() {
        Some("systemuser") => Owner::User(chatbell_core::UserId(owner_id)),
        Some("team") => Owner::Team(chatbell_core::TeamId(owner_id)),
        Some(other) => {
            return Err(r.err(
                "_ownerid_value",
                format!("owner is a {other:?}, not a user or a team"),
            ))
        }
        None => {
            return Err(r.err(
                "_ownerid_value",
                "cannot tell a user from a team: no lookuplogicalname annotation",
            ))
        }
    };
    let owner_agent = match (owner, r.lookup_annotation("ownerid", FORMATTED)) {
        (Owner::User(id), Some(name)) => Some(Agent {
            id,
            full_name: name.to_string(),
            email: String::new(),
        }),
        _ => None,
    };
    let call_state = match r.choice("cb_callstate", "call state", Some("none"))? {
        "ringing" => CallState::Ringing,
        "in_call" => CallState::InCall,
        _ => CallState::None,
    };
    let active = match r.opt_int("statecode")?.unwrap_or(0) {
        0 => true,
        1 => false,
        n => return Err(r.err("statecode", format!("unknown state {n}"))),
    };
    let status = match r.choice("statuscode", "status", Some("open"))? {
        "closed" => SessionStatus::Closed,
        "blocked" => SessionStatus::Blocked,
        _ => SessionStatus::Open,
    };
    let unread = r.opt_int("cb_unreadcount")?.unwrap_or(0);
    let session = Session {
        id: chatbell_core::SessionId(r.id()?),
        name: r.string("cb_name")?,
        number: r.string("cb_customernumber")?,
        channel: r.channel()?,
        config: chatbell_core::ConfigId(r.required_lookup("cb_configuration")?),
        owner,
        accepted_on: r.opt_ts("cb_acceptedon")?,
        first_contact: r.bool("cb_firstcontact")?,
        last_customer_message_on: r.opt_ts("cb_lastcustomermessageon")?,
        last_agent_message_on: r.opt_ts("cb_lastagentmessageon")?,
        last_message_preview: r.string("cb_lastmessagepreview")?,
        unread_count: u32::try_from(unread.max(0)).unwrap_or(u32::MAX),
        call_state,
        call_started_on: r.opt_ts("cb_callstartedon")?,
        active,
        status,
        modified_on: r.modified_on()?,
        etag: r.etag()?,
    };
    Ok((session, owner_agent))
}

/// A message row.
pub fn message(schema: &Schema, v: &Value) -> Result<Message, DecodeError> {
    let r = Row::new(schema, Table::Message, v)?;
    let direction = match r.choice("cb_direction", "direction", None)? {
        "from_agent" => Direction::FromAgent,
        _ => Direction::FromCustomer,
    };
    Ok(Message {
        id: chatbell_core::MessageId(r.id()?),
        session: chatbell_core::SessionId(r.required_lookup("cb_chatsession")?),
        direction,
        body: r.string("cb_body")?,
        created_on: r.created_on()?,
        created_by: r.lookup("createdby")?.map(chatbell_core::UserId),
    })
}

/// A request row, and the requester's and target's names when annotated.
pub fn request(schema: &Schema, v: &Value) -> Result<(ChatRequest, Vec<Agent>), DecodeError> {
    let r = Row::new(schema, Table::Request, v)?;
    let kind = match r.choice("cb_kind", "kind", None)? {
        "discuss" => RequestKind::Discuss,
        _ => RequestKind::Assign,
    };
    let status = match r.choice("statuscode", "status", Some("pending"))? {
        "accepted" => RequestStatus::Accepted,
        "rejected" => RequestStatus::Rejected,
        "withdrawn" => RequestStatus::Withdrawn,
        "expired" => RequestStatus::Expired,
        _ => RequestStatus::Pending,
    };
    let by = chatbell_core::UserId(r.required_lookup("cb_requestedby")?);
    let to = chatbell_core::UserId(r.required_lookup("cb_requestedto")?);
    let mut names = Vec::new();
    for (id, col) in [(by, "cb_requestedby"), (to, "cb_requestedto")] {
        if let Some(name) = r.lookup_annotation(col, FORMATTED) {
            names.push(Agent {
                id,
                full_name: name.to_string(),
                email: String::new(),
            });
        }
    }
    let request = ChatRequest {
        id: chatbell_core::RequestId(r.id()?),
        kind,
        session: chatbell_core::SessionId(r.required_lookup("cb_chatsession")?),
        requested_by: by,
        requested_to: to,
        status,
        reason: r.opt_string("cb_reason")?,
        expires_on: r.opt_ts("cb_expireson")?,
        created_on: r.created_on()?,
        modified_on: r.modified_on()?,
        etag: r.etag()?,
    };
    Ok((request, names))
}

/// A blocked-number row.
pub fn blocked(schema: &Schema, v: &Value) -> Result<BlockedNumber, DecodeError> {
    let r = Row::new(schema, Table::Blocked, v)?;
    Ok(BlockedNumber {
        id: chatbell_core::BlockedId(r.id()?),
        number: r.string("cb_number")?,
        channel: r.channel()?,
    })
}

/// Decodes a page of rows of `table` into changes, in order. Rows that cannot be
/// read are returned apart, with why; the others go on.
pub fn changes(
    schema: &Schema,
    table: Table,
    rows: &[Value],
    out: &mut Vec<Change>,
) -> Vec<DecodeError> {
    let mut errors = Vec::new();
    for v in rows {
        let decoded = match table {
            Table::SystemUser => agent(schema, v).map(|a| out.push(Change::Agent(a))),
            Table::Team => team(schema, v).map(|t| out.push(Change::Team(t))),
            Table::Configuration => {
                configuration(schema, v).map(|c| out.push(Change::Configuration(c)))
            }
            Table::Session => session(schema, v).map(|(s, owner)| {
                if let Some(a) = owner {
                    out.push(Change::Agent(a));
                }
                out.push(Change::Session(s));
            }),
            Table::Message => message(schema, v).map(|m| out.push(Change::Message(m))),
            Table::Request => request(schema, v).map(|(r, names)| {
                out.extend(names.into_iter().map(Change::Agent));
                out.push(Change::Request(r));
            }),
            Table::Blocked => blocked(schema, v).map(|b| out.push(Change::Blocked(b))),
        };
        if let Err(e) = decoded {
            errors.push(e);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session_json() -> Value {
        json!({
            "@odata.etag": "W/\"1234\"",
            "cb_chatsessionid": "4f1c6a52-2b1e-4d57-9f4b-0a3c9b1d2e01",
            "cb_name": "Jane <b>Doe</b>",
            "cb_customernumber": "+31612345678",
            "cb_channel": 1,
            "_cb_configuration_value": "9e0c2e7a-0000-4000-8000-000000000001",
            "_ownerid_value": "1a2b3c4d-0000-4000-8000-000000000002",
            "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "systemuser",
            "_ownerid_value@OData.Community.Display.V1.FormattedValue": "Alice Adams",
            "cb_acceptedon": "2026-11-21T10:00:00Z",
            "cb_firstcontact": false,
            "cb_lastcustomermessageon": "2026-11-21T10:15:00Z",
            "cb_lastagentmessageon": null,
            "cb_lastmessagepreview": "hello",
            "cb_unreadcount": 2,
            "cb_callstate": 1,
            "cb_callstartedon": "2026-11-21T10:16:00Z",
            "statecode": 0,
            "statuscode": 1,
            "createdon": "2026-11-21T09:00:00Z",
            "modifiedon": "2026-11-21T10:16:00Z"
        })
    }

    #[test]
    fn session_rows_decode_with_owner_and_name() {
        let (s, owner) = session(&Schema::reference(), &session_json()).expect("decodes");
        assert_eq!(s.name, "Jane <b>Doe</b>");
        assert_eq!(s.channel, Channel::WhatsApp);
        assert!(matches!(s.owner, Owner::User(_)));
        assert_eq!(s.unread_count, 2);
        assert_eq!(s.call_state, CallState::Ringing);
        assert_eq!(s.etag, "W/\"1234\"");
        assert_eq!(s.last_agent_message_on, None);
        assert_eq!(owner.map(|a| a.full_name).as_deref(), Some("Alice Adams"));
    }

    #[test]
    fn owner_kind_falls_back_to_owning_team_without_annotations() {
        let mut v = session_json();
        let o = v.as_object_mut().expect("object");
        o.retain(|k, _| !k.contains('@') || k == "@odata.etag");
        o.insert(
            "_owningteam_value".into(),
            json!("1a2b3c4d-0000-4000-8000-000000000002"),
        );
        let (s, owner) = session(&Schema::reference(), &v).expect("decodes");
        assert!(matches!(s.owner, Owner::Team(_)));
        assert!(owner.is_none());
    }

    #[test]
    fn bad_rows_are_refused_naming_the_column_and_the_rest_go_on() {
        let schema = Schema::reference();
        let mut bad = session_json();
        bad["cb_channel"] = json!(7);
        let mut worse = session_json();
        worse["modifiedon"] = json!("yesterday");
        let rows = vec![bad, json!("not an object"), worse, session_json()];
        let mut out = Vec::new();
        let errors = changes(&schema, Table::Session, &rows, &mut out);
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].column, "cb_channel");
        assert!(errors[0].problem.contains("unknown channel 7"));
        assert_eq!(errors[2].column, "modifiedon");
        assert_eq!(
            out.iter()
                .filter(|c| matches!(c, Change::Session(_)))
                .count(),
            1
        );
    }

    #[test]
    fn mapped_columns_are_read_by_their_org_names() {
        let mapping: crate::schema::Mapping = serde_json::from_value(json!({
            "cb_chatsession": {"columns": {"cb_name": "new_customername", "cb_configuration": "new_config"}}
        }))
        .expect("mapping");
        let schema = Schema::with_mapping(&mapping).expect("schema");
        let mut v = session_json();
        let o = v.as_object_mut().expect("object");
        let name = o.remove("cb_name").expect("name");
        o.insert("new_customername".into(), name);
        let config = o.remove("_cb_configuration_value").expect("config");
        o.insert("_new_config_value".into(), config);
        let (s, _) = session(&schema, &v).expect("decodes");
        assert_eq!(s.name, "Jane <b>Doe</b>");
    }

    #[test]
    fn requests_carry_both_agents_names() {
        let v = json!({
            "@odata.etag": "W/\"9\"",
            "cb_chatrequestid": "00000000-0000-4000-8000-000000000010",
            "cb_kind": 2,
            "_cb_chatsession_value": "4f1c6a52-2b1e-4d57-9f4b-0a3c9b1d2e01",
            "_cb_requestedby_value": "00000000-0000-4000-8000-000000000011",
            "_cb_requestedby_value@OData.Community.Display.V1.FormattedValue": "Bob Brown",
            "_cb_requestedto_value": "00000000-0000-4000-8000-000000000012",
            "statuscode": 3,
            "cb_reason": "busy",
            "cb_expireson": null,
            "createdon": "2026-11-21T09:00:00Z",
            "modifiedon": "2026-11-21T09:01:00Z"
        });
        let (r, names) = request(&Schema::reference(), &v).expect("decodes");
        assert_eq!(r.kind, RequestKind::Discuss);
        assert_eq!(r.status, RequestStatus::Rejected);
        assert_eq!(r.reason.as_deref(), Some("busy"));
        assert_eq!(names.len(), 1);
        assert_eq!(names[0].full_name, "Bob Brown");
    }
}
