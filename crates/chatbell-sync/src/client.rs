//! The Dataverse Web API over HTTP: the documented headers, paging, conditional
//! writes, and what to do when the service pushes back.
//!
//! - 401: the token source refreshes once and the request is sent again; a second
//!   401 (or a failed refresh) is [`DataverseError::SignInRequired`].
//! - 429: wait exactly what `Retry-After` says (service protection), then again;
//!   after [`RetryPolicy::max_throttles`] in a row, [`DataverseError::Throttled`].
//! - 5xx, timeouts, refused or dropped connections: exponential backoff with full
//!   jitter, up to [`RetryPolicy::attempts`] tries, then
//!   [`DataverseError::Unavailable`] (the caller shows "offline" and tries again
//!   on its next cycle).
//! - Any other error: the documented error JSON, as [`DataverseError::Service`].

use chatbell_core::Ts;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The version of the Web API ChatBell speaks.
pub const API_PATH: &str = "api/data/v9.2/";

/// The error code of a failed `If-Match` (412).
pub const CODE_PRECONDITION_FAILED: &str = "0x80060882";
/// The error code of a missing row (404).
pub const CODE_NOT_FOUND: &str = "0x80040217";
/// The error code of an expired change-tracking token: sync again from scratch.
pub const CODE_DELTA_TOKEN_EXPIRED: &str = "0x80044352";

/// Hands out access tokens. The sign-in library implements it; tests use a token
/// minted by the emulator.
pub trait TokenSource: Send + Sync {
    /// A valid access token (refreshed ahead of its expiry).
    fn token(&self) -> BoxFuture<'_, Result<String, AuthFailure>>;
    /// The server refused `rejected` (401): get a new token, once.
    fn refresh<'a>(&'a self, rejected: &'a str) -> BoxFuture<'a, Result<String, AuthFailure>>;
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthFailure {
    /// Nothing will work until the agent signs in again.
    pub sign_in_required: bool,
    pub message: String,
}

/// A fixed token, as the emulator's test endpoint mints it.
pub struct StaticToken(pub String);

impl TokenSource for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<String, AuthFailure>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
    fn refresh<'a>(&'a self, _rejected: &'a str) -> BoxFuture<'a, Result<String, AuthFailure>> {
        Box::pin(async move {
            Err(AuthFailure {
                sign_in_required: true,
                message: "the access token was refused and cannot be refreshed".into(),
            })
        })
    }
}

/// How the client waits between tries. Real time in the app; tests may record the
/// waits instead of spending them.
pub trait Pause: Send + Sync {
    fn pause(&self, d: Duration) -> BoxFuture<'_, ()>;
}

/// Waits on tokio's clock.
pub struct TokioPause;

impl Pause for TokioPause {
    fn pause(&self, d: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// How hard to try.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Tries for one request on 5xx, timeouts and connection failures.
    pub attempts: u32,
    /// First backoff; doubled each try, with full jitter.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// 429s in a row before giving up with [`DataverseError::Throttled`].
    pub max_throttles: u32,
    /// `Retry-After` when a 429 carries none or an unreadable one.
    pub default_retry_after: Duration,
    /// One request's time limit.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            max_throttles: 5,
            default_retry_after: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
        }
    }
}

/// What went wrong with a Web API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataverseError {
    /// Dynamics answered with an error (the documented `{"error": {...}}`).
    #[error("Dynamics answered {status}: {message} ({code})")]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// `If-Match` failed: the row changed since it was read.
    #[error("the row changed meanwhile (412)")]
    PreconditionFailed,
    /// The row does not exist.
    #[error("no such row (404)")]
    NotFound,
    /// The agent must sign in again.
    #[error("sign-in required: {0}")]
    SignInRequired(String),
    /// Still throttled after honouring `Retry-After` several times.
    #[error("Dynamics is throttling ChatBell's requests")]
    Throttled,
    /// Dynamics could not be reached or kept failing.
    #[error("Dynamics is unreachable: {0}")]
    Unavailable(String),
    /// The answer could not be read.
    #[error("unreadable answer from Dynamics: {0}")]
    BadResponse(String),
}

impl DataverseError {
    /// Whether this is an outage (try later) rather than an answer.
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            DataverseError::Unavailable(_) | DataverseError::Throttled
        )
    }
}

/// What the client has sent, for the request budget.
#[derive(Debug, Default)]
pub struct Counters {
    /// Every HTTP request sent to the Web API, retries included.
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub retried: AtomicU64,
    /// The `Retry-After` waits honoured, in milliseconds, summed.
    pub retry_after_ms: AtomicU64,
    /// Unauthenticated reachability probes sent while offline
    /// ([`Dataverse::probe`]); not counted in `requests` (no data is read).
    pub probes: AtomicU64,
}

/// A page of a collection.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub value: Vec<Value>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

/// `GET /WhoAmI`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoAmI {
    pub user_id: uuid::Uuid,
    pub business_unit_id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
}

/// The condition of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// Only if the row is still at this etag.
    Etag(String),
    /// Only if the row exists (no upsert).
    Exists,
    /// Create or update (PATCH's upsert).
    Upsert,
}

/// A Web API client for one org.
#[derive(Clone)]
pub struct Dataverse {
    http: reqwest::Client,
    /// `https://org.crm.dynamics.com/api/data/v9.2/`
    api: String,
    tokens: Arc<dyn TokenSource>,
    pause: Arc<dyn Pause>,
    policy: RetryPolicy,
    counters: Arc<Counters>,
    /// The `Date` of Dynamics' latest answer, and when it arrived.
    org_date: Arc<std::sync::Mutex<Option<(Ts, std::time::Instant)>>>,
}

impl std::fmt::Debug for Dataverse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataverse")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

struct Req<'a> {
    method: reqwest::Method,
    url: String,
    prefer: Vec<String>,
    if_match: Option<&'a str>,
    body: Option<&'a Value>,
}

impl Dataverse {
    /// A client for the org at `org_url` (`https://org.crm.dynamics.com`).
    pub fn new(
        org_url: &str,
        tokens: Arc<dyn TokenSource>,
        policy: RetryPolicy,
    ) -> Result<Dataverse, DataverseError> {
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("ChatBell/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DataverseError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Dataverse {
            http,
            api: format!("{}/{API_PATH}", org_url.trim_end_matches('/')),
            tokens,
            pause: Arc::new(TokioPause),
            policy,
            counters: Arc::new(Counters::default()),
            org_date: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// Waits through `pause` instead of tokio's clock.
    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Dataverse {
        self.pause = pause;
        self
    }

    /// The Web API's root (ends with `/`).
    pub fn api_url(&self) -> &str {
        &self.api
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Whether Dynamics answers at all: one unauthenticated `GET` of the
    /// service root, answered at the front door (a 401) without reaching the
    /// org's data, within 2 s, without retries. While ChatBell is offline it
    /// asks this, not a poll, to learn that Dynamics is back.
    pub async fn probe(&self) -> bool {
        self.counters.probes.fetch_add(1, Ordering::Relaxed);
        self.http
            .get(&self.api)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok()
    }

    /// The org's clock as of its latest answer: its `Date` header (whole
    /// seconds) and when that answer arrived.
    pub fn org_date(&self) -> Option<(Ts, std::time::Instant)> {
        *self.org_date.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET /WhoAmI`: who the token belongs to.
    pub async fn who_am_i(&self) -> Result<WhoAmI, DataverseError> {
        let v = self.get_json(&format!("{}WhoAmI", self.api), &[]).await?;
        WhoAmI::from_json(&v)
    }

    /// `GET` of one resource under the API root (a table definition, a
    /// function such as `RetrieveUserPrivileges`): its JSON.
    pub async fn get_value(&self, path: &str) -> Result<Value, DataverseError> {
        self.get_json(&self.url(path), &[]).await
    }

    /// The org's clock: the `Date` header of its answer to `WhoAmI`, and the
    /// answer. `None` when the answer has no readable `Date`.
    pub async fn org_time(&self) -> Result<(Option<Ts>, WhoAmI), DataverseError> {
        let resp = self
            .send(Req {
                method: reqwest::Method::GET,
                url: format!("{}WhoAmI", self.api),
                prefer: Vec::new(),
                if_match: None,
                body: None,
            })
            .await?;
        let date = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::datetime::parse_http_date);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| DataverseError::Unavailable(format!("reading the answer: {e}")))?;
        Ok((date, WhoAmI::from_json(&parse_json(&bytes)?)?))
    }

    /// One page of a query. `path_or_link` is a path under the API root
    /// (`cb_chatsessions?$select=...`) or a `@odata.nextLink` / `@odata.deltaLink`,
    /// used verbatim.
    pub async fn get_page(
        &self,
        path_or_link: &str,
        prefer: &[String],
    ) -> Result<Page, DataverseError> {
        let url = self.url(path_or_link);
        let v = self.get_json(&url, prefer).await?;
        Page::from_json(v)
    }

    /// Every page of a query, following `@odata.nextLink`s; the last page's
    /// delta link, if any.
    pub async fn get_all(
        &self,
        path_or_link: &str,
        prefer: &[String],
    ) -> Result<Page, DataverseError> {
        let mut page = self.get_page(path_or_link, prefer).await?;
        let mut rows = std::mem::take(&mut page.value);
        let mut pages = 1;
        while let Some(next) = page.next_link.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(DataverseError::BadResponse("more than 10,000 pages".into()));
            }
            page = self.get_page(&next, prefer).await?;
            rows.append(&mut page.value);
        }
        page.value = rows;
        Ok(page)
    }

    /// One row by id, with `$select`; `None` when it does not exist.
    pub async fn get_row(
        &self,
        set: &str,
        id: uuid::Uuid,
        select: &str,
        prefer: &[String],
    ) -> Result<Option<Value>, DataverseError> {
        let url = format!("{}{set}({id})?$select={select}", self.api);
        match self.get_json(&url, prefer).await {
            Ok(v) => Ok(Some(v)),
            Err(DataverseError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH set(id)` with a condition.
    pub async fn patch(
        &self,
        set: &str,
        id: uuid::Uuid,
        body: &Value,
        condition: &IfMatch,
    ) -> Result<(), DataverseError> {
        let if_match = match condition {
            IfMatch::Etag(e) => Some(e.as_str()),
            IfMatch::Exists => Some("*"),
            IfMatch::Upsert => None,
        };
        self.send(Req {
            method: reqwest::Method::PATCH,
            url: format!("{}{set}({id})", self.api),
            prefer: Vec::new(),
            if_match,
            body: Some(body),
        })
        .await?;
        Ok(())
    }

    /// `POST set`: creates a row.
    pub async fn post(&self, set: &str, body: &Value) -> Result<(), DataverseError> {
        self.send(Req {
            method: reqwest::Method::POST,
            url: format!("{}{set}", self.api),
            prefer: Vec::new(),
            if_match: None,
            body: Some(body),
        })
        .await?;
        Ok(())
    }

    fn url(&self, path_or_link: &str) -> String {
        if path_or_link.starts_with("http://") || path_or_link.starts_with("https://") {
            path_or_link.to_string()
        } else {
            format!("{}{}", self.api, path_or_link.trim_start_matches('/'))
        }
    }

    async fn get_json(&self, url: &str, prefer: &[String]) -> Result<Value, DataverseError> {
        let resp = self
            .send(Req {
                method: reqwest::Method::GET,
                url: url.to_string(),
                prefer: prefer.to_vec(),
                if_match: None,
                body: None,
            })
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| DataverseError::Unavailable(format!("reading the answer: {e}")))?;
        parse_json(&bytes)
    }

    /// Sends one request with the retry rules of the module documentation.
    async fn send(&self, req: Req<'_>) -> Result<reqwest::Response, DataverseError> {
        let mut token = self.tokens.token().await.map_err(auth_error)?;
        let mut refreshed = false;
        let mut failures = 0u32;
        let mut throttles = 0u32;
        loop {
            let mut b = self
                .http
                .request(req.method.clone(), &req.url)
                .bearer_auth(&token)
                .header("Accept", "application/json")
                .header("OData-MaxVersion", "4.0")
                .header("OData-Version", "4.0");
            if !req.prefer.is_empty() {
                b = b.header("Prefer", req.prefer.join(","));
            }
            if let Some(m) = req.if_match {
                b = b.header("If-Match", m);
            }
            if let Some(body) = req.body {
                b = b.json(body);
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let resp = b.send().await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    failures += 1;
                    if failures >= self.policy.attempts {
                        return Err(DataverseError::Unavailable(describe(e)));
                    }
                    self.backoff(failures).await;
                    continue;
                }
            };
            if let Some(date) = resp
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::datetime::parse_http_date)
            {
                *self.org_date.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((date, std::time::Instant::now()));
            }
            let status = resp.status().as_u16();
            match status {
                200..=299 => return Ok(resp),
                401 if !refreshed => {
                    refreshed = true;
                    token = self.tokens.refresh(&token).await.map_err(auth_error)?;
                }
                401 => {
                    return Err(DataverseError::SignInRequired(
                        "Dynamics refused a freshly refreshed token".into(),
                    ))
                }
                429 => {
                    throttles += 1;
                    self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                    if throttles > self.policy.max_throttles {
                        return Err(DataverseError::Throttled);
                    }
                    let wait = retry_after(&resp).unwrap_or(self.policy.default_retry_after);
                    self.counters
                        .retry_after_ms
                        .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
                    tracing::info!(
                        seconds = wait.as_secs_f64(),
                        "throttled by Dynamics: waiting as told"
                    );
                    self.pause.pause(wait).await;
                }
                500..=599 => {
                    failures += 1;
                    if failures >= self.policy.attempts {
                        let e = error_of(status, resp).await;
                        return Err(DataverseError::Unavailable(e.to_string()));
                    }
                    self.backoff(failures).await;
                }
                _ => return Err(error_of(status, resp).await),
            }
            self.counters.retried.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn backoff(&self, failures: u32) {
        let exp = self
            .policy
            .backoff_base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let cap = exp.min(self.policy.backoff_cap);
        // Full jitter: anywhere in [0, cap].
        let wait = cap.mul_f64(fastrand::f64());
        self.pause.pause(wait).await;
    }
}

fn auth_error(e: AuthFailure) -> DataverseError {
    if e.sign_in_required {
        DataverseError::SignInRequired(e.message)
    } else {
        DataverseError::Unavailable(format!("sign-in service: {}", e.message))
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // No URL in the message: it may carry query text, never a token, but keep
        // the log short.
        e.without_url().to_string()
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    parse_retry_after(resp.headers().get("Retry-After")?.to_str().ok()?)
}

/// `Retry-After: <seconds>` (Dataverse sends seconds; fractional tolerated; at
/// most an hour). `None` when it cannot be read.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// A response body that must be JSON.
pub fn parse_json(body: &[u8]) -> Result<Value, DataverseError> {
    serde_json::from_slice(body).map_err(|e| DataverseError::BadResponse(format!("not JSON: {e}")))
}

impl Page {
    /// Reads a collection's body: `value` (an array of rows) and its links.
    pub fn from_json(v: Value) -> Result<Page, DataverseError> {
        let Value::Object(mut obj) = v else {
            return Err(DataverseError::BadResponse(
                "a collection that is not an object".into(),
            ));
        };
        let value = match obj.remove("value") {
            Some(Value::Array(rows)) => rows,
            _ => {
                return Err(DataverseError::BadResponse(
                    "a collection without \"value\"".into(),
                ))
            }
        };
        let link = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(Page {
            value,
            next_link: link("@odata.nextLink"),
            delta_link: link("@odata.deltaLink"),
        })
    }
}

impl WhoAmI {
    /// Reads `WhoAmI`'s answer: three GUIDs.
    pub fn from_json(v: &Value) -> Result<WhoAmI, DataverseError> {
        let id = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .ok_or_else(|| DataverseError::BadResponse(format!("WhoAmI without a valid {k}")))
        };
        Ok(WhoAmI {
            user_id: id("UserId")?,
            business_unit_id: id("BusinessUnitId")?,
            organization_id: id("OrganizationId")?,
        })
    }
}

/// The documented error JSON, read into a typed error.
async fn error_of(status: u16, resp: reqwest::Response) -> DataverseError {
    let body = resp.bytes().await.unwrap_or_default();
    error_from_body(status, &body)
}

/// An error answer (`status` and its body) as a typed error: the documented
/// `{"error": {"code", "message"}}`, or the start of whatever else came.
pub fn error_from_body(status: u16, body: &[u8]) -> DataverseError {
    let parsed: Option<(String, String)> =
        serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            let e = v.get("error")?;
            Some((
                e.get("code")?.as_str()?.to_string(),
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        });
    let (code, message) = parsed.unwrap_or_else(|| {
        (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        )
    });
    match status {
        412 => DataverseError::PreconditionFailed,
        404 => DataverseError::NotFound,
        _ => DataverseError::Service {
            status,
            code,
            message: message.chars().take(500).collect(),
        },
    }
}
