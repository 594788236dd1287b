//! Shared helpers: an in-process emulator with a manual clock and a reqwest client.
#![allow(dead_code, clippy::unwrap_used)]

use chatbell_emulator::{Emulator, Options, OrgClock, RunningEmulator, Seed, DEMO_AGENT_EMAIL};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct T {
    pub emu: RunningEmulator,
    pub http: reqwest::Client,
    pub token: String,
}

pub async fn start_with(opts: Options) -> T {
    let emu = Emulator::start(opts).await.expect("emulator starts");
    let token = emu.mint_token(DEMO_AGENT_EMAIL).expect("demo token");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    T { emu, http, token }
}

pub async fn start() -> T {
    start_with(
        Options::default()
            .seed(Seed::Demo)
            .clock(OrgClock::manual_default()),
    )
    .await
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
    pub fn value(&self) -> &Vec<Value> {
        self.json["value"].as_array().expect("a value array")
    }
    pub fn error_code(&self) -> String {
        self.json["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        json,
        text,
    }
}

impl T {
    pub fn api(&self) -> String {
        self.emu.api_url()
    }
    /// A request to the Web API (`path` relative to /api/data/v9.2/) as the demo agent.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.req_as(&self.token, method, path)
    }
    pub fn req_as(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/{}", self.api(), path))
            .bearer_auth(token)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0")
    }
    pub async fn get(&self, path: &str) -> Resp {
        read(self.req(Method::GET, path).send().await.unwrap()).await
    }
    pub async fn send(&self, method: Method, path: &str, body: Value) -> Resp {
        read(self.req(method, path).json(&body).send().await.unwrap()).await
    }
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut r = self
            .http
            .request(method, format!("{}/_emulator/{path}", self.emu.base_url()));
        if let Some(b) = body {
            r = r.json(&b);
        }
        read(r.send().await.unwrap()).await
    }
    pub fn token_for(&self, user: &str) -> String {
        self.emu.mint_token(user).unwrap()
    }
    /// Creates a row and returns its id (from OData-EntityId).
    pub async fn create(&self, set: &str, body: Value) -> String {
        let r = self.send(Method::POST, set, body).await;
        assert_eq!(r.status, 204, "create {set}: {}", r.text);
        let eid = r.header("odata-entityid").unwrap();
        eid.rsplit_once('(')
            .unwrap()
            .1
            .trim_end_matches(')')
            .to_string()
    }
}
