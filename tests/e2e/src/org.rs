//! The Dynamics org around the agent under test, played through the emulator's
//! Web API (the Dataverse protocol) as the other agents, the customers (written
//! by the integration's SYSTEM user) and the add-on's Chat UI would write it, and
//! the emulator's `/_emulator/*` helpers for what happens outside Dataverse
//! (minting tokens, approving a device code in the browser).

use chatbell_emulator::SeedIds;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

pub const DANA: &str = "demo.agent@chatbell.example";
pub const ALEX: &str = "alex.rivera@chatbell.example";
pub const SAM: &str = "sam.patel@chatbell.example";
pub const RILEY: &str = "riley.chen@chatbell.example";
pub const MORGAN: &str = "morgan.lee@chatbell.example";
pub const SYSTEM: &str = "system@chatbell.example";

/// The two channels of the seeded org.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    WhatsApp,
    Sms,
}

impl Channel {
    pub fn code(self) -> i64 {
        match self {
            Channel::WhatsApp => 1,
            Channel::Sms => 2,
        }
    }
    pub fn config(self) -> Uuid {
        match self {
            Channel::WhatsApp => SeedIds::whatsapp_config(),
            Channel::Sms => SeedIds::sms_config(),
        }
    }
}

/// Request kinds and statuses (`cb_chatrequest`).
pub const ASSIGN: i64 = 1;
pub const DISCUSS: i64 = 2;
pub const PENDING: i64 = 1;
pub const ACCEPTED: i64 = 2;
pub const REJECTED: i64 = 3;
pub const WITHDRAWN: i64 = 4;

/// A client of the emulator's Web API.
pub struct Org {
    http: reqwest::Client,
    pub base: String,
    api: String,
    tokens: Mutex<HashMap<String, String>>,
    ids: Mutex<HashMap<String, Uuid>>,
}

/// A failed Web API call: its status and body.
#[derive(Debug)]
pub struct WebApiError {
    pub status: u16,
    pub body: String,
}

impl std::fmt::Display for WebApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

/// `2026-11-21T10:15:00Z` for `now + seconds`.
pub fn timestamp_in(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Org {
    pub fn new(base: &str) -> Result<Org, String> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Org {
            http,
            base: base.trim_end_matches('/').to_string(),
            api: format!("{}/api/data/v9.2", base.trim_end_matches('/')),
            tokens: Mutex::new(HashMap::new()),
            ids: Mutex::new(HashMap::new()),
        })
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let resp = self
            .http
            .request(method, format!("{}/_emulator/{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("/_emulator/{path}: {e}"))?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("/_emulator/{path}: {status}: {v}"));
        }
        Ok(v)
    }

    /// An access token for `user` (e-mail), minted by the emulator.
    async fn token(&self, user: &str) -> Result<String, String> {
        if let Some(t) = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
        {
            return Ok(t.clone());
        }
        let v = self
            .admin(reqwest::Method::POST, "token", json!({"user": user}))
            .await?;
        let t = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or("no access_token")?
            .to_string();
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_string(), t.clone());
        Ok(t)
    }

    /// The systemuserid of `user` (e-mail).
    pub async fn user_id(&self, user: &str) -> Result<Uuid, String> {
        if let Some(id) = self.ids.lock().unwrap_or_else(|p| p.into_inner()).get(user) {
            return Ok(*id);
        }
        let users = self.admin(reqwest::Method::GET, "users", json!({})).await?;
        let mut found = None;
        for u in users.as_array().into_iter().flatten() {
            let email = u.get("internalemailaddress").and_then(Value::as_str);
            let id = u
                .get("systemuserid")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            if let (Some(e), Some(id)) = (email, id) {
                self.ids
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(e.to_string(), id);
                if e.eq_ignore_ascii_case(user) {
                    found = Some(id);
                }
            }
        }
        found.ok_or_else(|| format!("no user {user}"))
    }

    /// Approves a device code as `user` would on the sign-in page.
    pub async fn approve(&self, user_code: &str, user: &str) -> Result<(), String> {
        self.admin(
            reqwest::Method::POST,
            "approve",
            json!({"user_code": user_code, "user": user}),
        )
        .await
        .map(|_| ())
    }

    /// The user codes waiting for approval.
    pub async fn pending_codes(&self) -> Result<Vec<String>, String> {
        let v = self
            .admin(reqwest::Method::GET, "devicecodes", json!({}))
            .await?;
        Ok(v.get("pending")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Web API requests so far, per entity set, of one user (by id).
    pub async fn stats(&self) -> Result<Value, String> {
        self.admin(reqwest::Method::GET, "stats", json!({})).await
    }

    /// One Web API call as `user`.
    pub async fn call(
        &self,
        user: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), WebApiError> {
        let token = self
            .token(user)
            .await
            .map_err(|e| WebApiError { status: 0, body: e })?;
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.api))
            .bearer_auth(token)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0")
            // The org's other people write in the reference names, whatever
            // names the org gives ChatBell (crate::test_org).
            .header(chatbell_emulator::profile::REFERENCE_NAMES_HEADER, "1")
            .header(
                "Prefer",
                "return=representation, odata.include-annotations=\"*\"",
            );
        if let Some(m) = if_match {
            req = req.header("If-Match", m);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| WebApiError {
            status: 0,
            body: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(WebApiError { status, body: text });
        }
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Ok((v, etag))
    }

    async fn ok(
        &self,
        user: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        self.call(user, method.clone(), path, body, None)
            .await
            .map(|(v, _)| v)
            .map_err(|e| format!("{method} {path} as {user}: {e}"))
    }

    /// One row.
    pub async fn row(&self, set: &str, id: Uuid) -> Result<Value, String> {
        self.ok(SYSTEM, reqwest::Method::GET, &format!("{set}({id})"), None)
            .await
    }

    /// Rows of a set matching an OData filter.
    pub async fn rows(&self, set: &str, filter: &str) -> Result<Vec<Value>, String> {
        let path = format!("{set}?$filter={}", encode(filter));
        let v = self.ok(SYSTEM, reqwest::Method::GET, &path, None).await?;
        Ok(v.get("value")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// PATCHes a row as `user` (update only).
    pub async fn patch(
        &self,
        user: &str,
        set: &str,
        id: Uuid,
        body: Value,
    ) -> Result<Value, String> {
        self.call(
            user,
            reqwest::Method::PATCH,
            &format!("{set}({id})"),
            Some(body),
            Some("*"),
        )
        .await
        .map(|(v, _)| v)
        .map_err(|e| format!("PATCH {set}({id}) as {user}: {e}"))
    }

    async fn create(&self, user: &str, set: &str, body: Value) -> Result<Uuid, String> {
        let v = self
            .ok(user, reqwest::Method::POST, set, Some(body))
            .await?;
        let key = format!("{}id", set.trim_end_matches('s'));
        v.get(&key)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| format!("POST {set}: no {key} in {v}"))
    }

    /// A customer opens a new conversation: a session owned by the channel's
    /// default team, as the integration creates it. No message yet.
    pub async fn new_session(
        &self,
        channel: Channel,
        name: &str,
        number: &str,
    ) -> Result<Uuid, String> {
        self.create(
            SYSTEM,
            "cb_chatsessions",
            json!({
                "cb_name": name,
                "cb_customernumber": number,
                "cb_channel": channel.code(),
                "cb_configuration@odata.bind": format!("/cb_configurations({})", channel.config()),
                "ownerid@odata.bind": format!("/teams({})", SeedIds::default_team()),
            }),
        )
        .await
    }

    /// A session already owned by `agent` (accepted earlier), number known.
    pub async fn owned_session(
        &self,
        channel: Channel,
        name: &str,
        number: &str,
        agent: &str,
    ) -> Result<Uuid, String> {
        let agent_id = self.user_id(agent).await?;
        self.create(
            SYSTEM,
            "cb_chatsessions",
            json!({
                "cb_name": name,
                "cb_customernumber": number,
                "cb_channel": channel.code(),
                "cb_configuration@odata.bind": format!("/cb_configurations({})", channel.config()),
                "ownerid@odata.bind": format!("/systemusers({agent_id})"),
                "cb_acceptedon": timestamp_in(-600),
                "cb_firstcontact": false,
            }),
        )
        .await
    }

    /// The customer writes (the integration stores it as SYSTEM).
    pub async fn customer_writes(&self, session: Uuid, body: &str) -> Result<Uuid, String> {
        self.create(
            SYSTEM,
            "cb_chatmessages",
            json!({
                "cb_chatsession@odata.bind": format!("/cb_chatsessions({session})"),
                "cb_direction": 1,
                "cb_body": body,
            }),
        )
        .await
    }

    /// The customer writes, as a raw result (a blocked number's message is refused).
    pub async fn try_customer_writes(
        &self,
        session: Uuid,
        body: &str,
    ) -> Result<Uuid, WebApiError> {
        let (v, _) = self
            .call(
                SYSTEM,
                reqwest::Method::POST,
                "cb_chatmessages",
                Some(json!({
                    "cb_chatsession@odata.bind": format!("/cb_chatsessions({session})"),
                    "cb_direction": 1,
                    "cb_body": body,
                })),
                None,
            )
            .await?;
        v.get("cb_chatmessageid")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(WebApiError {
                status: 0,
                body: format!("no id in {v}"),
            })
    }

    /// An agent replies from the Chat UI.
    pub async fn agent_replies(
        &self,
        agent: &str,
        session: Uuid,
        body: &str,
    ) -> Result<Uuid, String> {
        self.create(
            agent,
            "cb_chatmessages",
            json!({
                "cb_chatsession@odata.bind": format!("/cb_chatsessions({session})"),
                "cb_direction": 2,
                "cb_body": body,
            }),
        )
        .await
    }

    /// An agent takes a session in the Chat UI (Accept there).
    pub async fn agent_takes(&self, agent: &str, session: Uuid) -> Result<(), String> {
        let id = self.user_id(agent).await?;
        self.patch(
            agent,
            "cb_chatsessions",
            session,
            json!({
                "ownerid@odata.bind": format!("/systemusers({id})"),
                "cb_acceptedon": timestamp_in(0),
            }),
        )
        .await
        .map(|_| ())
    }

    /// Someone assigns a session to `to` with the standard Dynamics Assign.
    pub async fn assign(&self, by: &str, session: Uuid, to: &str) -> Result<(), String> {
        let id = self.user_id(to).await?;
        self.patch(
            by,
            "cb_chatsessions",
            session,
            json!({"ownerid@odata.bind": format!("/systemusers({id})")}),
        )
        .await
        .map(|_| ())
    }

    /// The call state of a session: 0 none, 1 ringing, 2 in call.
    pub async fn set_call(&self, session: Uuid, state: i64) -> Result<(), String> {
        let mut body = json!({"cb_callstate": state});
        if state == 1 {
            body["cb_callstartedon"] = json!(timestamp_in(0));
        }
        self.patch(SYSTEM, "cb_chatsessions", session, body)
            .await
            .map(|_| ())
    }

    /// `from` asks `to`, in the Chat UI, to take over (ASSIGN) or join (DISCUSS).
    pub async fn request(
        &self,
        kind: i64,
        session: Uuid,
        from: &str,
        to: &str,
        reason: &str,
        expires_in_seconds: Option<i64>,
    ) -> Result<Uuid, String> {
        let from_id = self.user_id(from).await?;
        let to_id = self.user_id(to).await?;
        let mut body = json!({
            "cb_kind": kind,
            "cb_chatsession@odata.bind": format!("/cb_chatsessions({session})"),
            "cb_requestedby@odata.bind": format!("/systemusers({from_id})"),
            "cb_requestedto@odata.bind": format!("/systemusers({to_id})"),
            "cb_reason": reason,
            "ownerid@odata.bind": format!("/systemusers({from_id})"),
        });
        if let Some(s) = expires_in_seconds {
            body["cb_expireson"] = json!(timestamp_in(s));
        }
        self.create(from, "cb_chatrequests", body).await
    }

    /// A request is answered or withdrawn in the Chat UI.
    pub async fn answer_request(
        &self,
        user: &str,
        request: Uuid,
        status: i64,
        reason: Option<&str>,
    ) -> Result<(), String> {
        let mut body = json!({"statuscode": status});
        if status != PENDING {
            body["statecode"] = json!(1);
        }
        if let Some(r) = reason {
            body["cb_reason"] = json!(r);
        }
        self.patch(user, "cb_chatrequests", request, body)
            .await
            .map(|_| ())
    }

    /// Closes every active session and withdraws every pending request, as a
    /// supervisor would at the end of a shift: a clean desk for the next scenario.
    pub async fn close_everything(&self) -> Result<(), String> {
        for s in self.rows("cb_chatsessions", "statecode eq 0").await? {
            if let Some(id) = s
                .get("cb_chatsessionid")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                self.patch(
                    MORGAN,
                    "cb_chatsessions",
                    id,
                    json!({"statecode": 1, "statuscode": 2, "cb_callstate": 0}),
                )
                .await?;
            }
        }
        for r in self.rows("cb_chatrequests", "statuscode eq 1").await? {
            if let Some(id) = r
                .get("cb_chatrequestid")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                self.patch(
                    MORGAN,
                    "cb_chatrequests",
                    id,
                    json!({"statecode": 1, "statuscode": WITHDRAWN, "cb_reason": "end of shift"}),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Changes a configuration row (an administrator in Dynamics).
    pub async fn configure(&self, channel: Channel, body: Value) -> Result<(), String> {
        self.patch(MORGAN, "cb_configurations", channel.config(), body)
            .await
            .map(|_| ())
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The owner of a session row: ("systemuser" | "team", id).
pub fn owner_of(row: &Value) -> Option<(String, Uuid)> {
    let id = row
        .get("_ownerid_value")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())?;
    let kind = row
        .get("_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Some((kind, id))
}

/// An integer column.
pub fn int(row: &Value, col: &str) -> Option<i64> {
    row.get(col).and_then(Value::as_i64)
}

/// A text column.
pub fn text<'a>(row: &'a Value, col: &str) -> Option<&'a str> {
    row.get(col).and_then(Value::as_str)
}
