//! Plain W3C WebDriver over HTTP, enough to drive the panel through
//! WebKitWebDriver: a session that starts ChatBell, find, click, type, read text
//! and attributes, run a script, take a screenshot.

use base64::Engine as _;
use serde_json::{json, Value};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session.
pub struct Session {
    http: reqwest::Client,
    url: String,
}

/// An element of the page.
#[derive(Clone, Debug)]
pub struct Element(pub String);

fn unwrap_value(v: Value) -> Result<Value, String> {
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        let msg = value.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("webdriver: {err}: {msg}"));
    }
    Ok(value)
}

async fn send(req: reqwest::RequestBuilder) -> Result<Value, String> {
    let resp = req.send().await.map_err(|e| format!("webdriver: {e}"))?;
    let v: Value = resp
        .json()
        .await
        .map_err(|e| format!("webdriver answer: {e}"))?;
    unwrap_value(v)
}

impl Session {
    /// Starts a session on the driver at `driver` (`http://127.0.0.1:PORT`) that
    /// launches `binary` (the app whose webview is driven).
    pub async fn start(driver: &str, binary: &str, timeout: Duration) -> Result<Session, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "webkitgtk:browserOptions": {"binary": binary, "args": []}
                }
            }
        });
        let v = send(http.post(format!("{driver}/session")).json(&caps)).await?;
        let id = v
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("webdriver: no sessionId in {v}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Session {
            http,
            url: format!("{driver}/session/{id}"),
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        send(self.http.post(format!("{}{path}", self.url)).json(&body)).await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        send(self.http.get(format!("{}{path}", self.url))).await
    }

    /// Ends the session (the driver closes the app).
    pub async fn end(&self) -> Result<(), String> {
        send(self.http.delete(self.url.clone())).await.map(|_| ())
    }

    /// Closes the current window, as the agent's close button does.
    pub async fn close_window(&self) -> Result<(), String> {
        send(self.http.delete(format!("{}/window", self.url)))
            .await
            .map(|_| ())
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        let v = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.get(ELEMENT).and_then(Value::as_str))
                    .map(|s| Element(s.to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first element matching a CSS selector, if any.
    pub async fn find(&self, css: &str) -> Result<Option<Element>, String> {
        Ok(self.find_all(css).await?.into_iter().next())
    }

    pub async fn click(&self, e: &Element) -> Result<(), String> {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await
            .map(|_| ())
    }

    pub async fn clear(&self, e: &Element) -> Result<(), String> {
        self.post(&format!("/element/{}/clear", e.0), json!({}))
            .await
            .map(|_| ())
    }

    /// Types `text` into an element.
    pub async fn type_text(&self, e: &Element, text: &str) -> Result<(), String> {
        self.post(&format!("/element/{}/value", e.0), json!({"text": text}))
            .await
            .map(|_| ())
    }

    /// The rendered text of an element.
    pub async fn text(&self, e: &Element) -> Result<String, String> {
        let v = self.get(&format!("/element/{}/text", e.0)).await?;
        Ok(v.as_str().unwrap_or("").to_string())
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, body: &str, args: Value) -> Result<Value, String> {
        self.post("/execute/sync", json!({"script": body, "args": args}))
            .await
    }

    /// Runs a script that returns a DOM element (or null).
    pub async fn script_element(&self, body: &str) -> Result<Option<Element>, String> {
        let v = self.script(body, json!([])).await?;
        Ok(v.get(ELEMENT)
            .and_then(Value::as_str)
            .map(|s| Element(s.to_string())))
    }

    /// A screenshot of the page, as PNG bytes.
    pub async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self.get("/screenshot").await?;
        let b64 = v.as_str().ok_or("webdriver: screenshot is not text")?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("screenshot: {e}"))
    }
}
