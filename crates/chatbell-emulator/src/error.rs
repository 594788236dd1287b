//! Error types.
//!
//! [`ApiError`] is what a Web API request fails with: it renders as Dataverse's
//! documented error body `{"error": {"code": "0x...", "message": "..."}}`.
//! [`EmulatorError`] is what starting or stopping the emulator fails with.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Dataverse error codes used by the emulator (from Microsoft's "Web service error
/// codes" reference and observed responses).
pub mod codes {
    /// ObjectDoesNotExist: a row that is not there.
    pub const NOT_FOUND: &str = "0x80040217";
    /// ConcurrencyVersionMismatch: `If-Match` etag differs from the row's.
    pub const VERSION_MISMATCH: &str = "0x80060882";
    /// DuplicateRecord: creating a row whose key already exists.
    pub const DUPLICATE: &str = "0x80040237";
    /// Query syntax and unknown properties in `$filter` and `$orderby`.
    pub const QUERY: &str = "0x80060888";
    /// An unknown property in `$select` (or, in the emulator, an unknown
    /// navigation property in `$expand`): Dataverse passes on the OData URI
    /// parser's refusal without a code of its own, as `0x0`.
    pub const URI_PARSER: &str = "0x0";
    /// Resource not found for the segment (unknown entity set or path).
    pub const SEGMENT: &str = "0x8006088a";
    /// Error identified in payload provided by the user (bad JSON, wrong types).
    pub const PAYLOAD: &str = "0x80048d19";
    /// ExpiredVersionStamp: a change-tracking delta token that is too old.
    pub const EXPIRED_VERSION: &str = "0x80044352";
    /// PrivilegeDenied.
    pub const PRIVILEGE: &str = "0x80040220";
    /// Service protection: number of requests.
    pub const THROTTLE_REQUESTS: &str = "0x80072322";
    /// Service protection: execution time.
    pub const THROTTLE_TIME: &str = "0x80072321";
    /// Service protection: concurrent requests.
    pub const THROTTLE_CONCURRENCY: &str = "0x80072326";
    /// ISV code aborted the operation (a plug-in refused the write).
    pub const PLUGIN: &str = "0x80040265";
    /// Generic unexpected server error.
    pub const UNEXPECTED: &str = "0x80040216";
}

/// A Web API failure: HTTP status, Dataverse error code and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: StatusCode,
    /// Dataverse hexadecimal error code, e.g. `0x80040217`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Extra headers (for example `Retry-After` on 429).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
        }
    }
    /// 400 with a query-syntax code.
    pub fn query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::QUERY, message)
    }
    /// 400 for a payload problem, in Dataverse's wording.
    pub fn payload(entity_set: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            codes::PAYLOAD,
            format!(
                "Error identified in Payload provided by the user for Entity :'{entity_set}', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : {}",
                detail.into()
            ),
        )
    }
    /// 404 for a missing row.
    pub fn not_found(logical_name: &str, id: uuid::Uuid) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("{logical_name} With Id = {id} Does Not Exist"),
        )
    }
    /// 404 for an unknown path segment.
    pub fn segment(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            codes::SEGMENT,
            format!("Resource not found for the segment '{segment}'."),
        )
    }
    /// 412 for an etag mismatch.
    pub fn version_mismatch() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            codes::VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    }
    /// Adds a header to the response.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; odata.metadata=minimal"),
        );
        h.insert("odata-version", HeaderValue::from_static("4.0"));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// Starting, running or stopping the emulator failed.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Binding or serving failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The SQLite state file failed.
    #[error("state file: {0}")]
    State(#[from] sqlx::Error),
    /// The state file holds something the emulator cannot read.
    #[error("state file is corrupt: {0}")]
    CorruptState(String),
    /// An option is invalid.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}
