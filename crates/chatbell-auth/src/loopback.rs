//! Authorization code flow with PKCE on a loopback redirect
//! (`http://127.0.0.1:<port>`, RFC 8252 section 7.3; Microsoft identity platform v2.0).
//!
//! ChatBell binds an ephemeral port on 127.0.0.1, opens the authorize URL in the
//! user's browser, takes exactly one redirect, answers it with a small page,
//! closes the port, checks `state`, and only then redeems the code.

use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::client::OAuthClient;
use crate::error::{AuthError, OAuthError};
use crate::pkce::{random_state, Pkce};
use crate::tokens::Tokens;

/// Opens the authorize URL. The app passes "open in the system browser";
/// tests pass an HTTP client that follows the redirect.
pub trait BrowserOpener: Send + Sync {
    /// Opens `url`; an error aborts the sign-in with [`AuthError::Browser`].
    fn open(&self, url: &str) -> Result<(), String>;
}

impl<F> BrowserOpener for F
where
    F: Fn(&str) -> Result<(), String> + Send + Sync,
{
    fn open(&self, url: &str) -> Result<(), String> {
        self(url)
    }
}

/// Options of a browser sign-in.
#[derive(Debug, Clone)]
pub struct BrowserSignIn {
    /// Pre-fills the account (`login_hint`), e.g. the last user's UPN.
    pub login_hint: Option<String>,
    /// How long to wait for the browser to come back.
    pub timeout: Duration,
}

impl Default for BrowserSignIn {
    fn default() -> Self {
        BrowserSignIn {
            login_hint: None,
            timeout: Duration::from_secs(300),
        }
    }
}

/// The largest redirect request read from the browser.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const CONNECTION_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once (browsers pre-connect; anything beyond is dropped).
const MAX_CONNECTIONS: usize = 16;

const PAGE_OK: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>ChatBell</title></head>\
<body><h1>Signed in to ChatBell</h1><p>You can close this tab and return to ChatBell.</p></body></html>";
const PAGE_FAILED: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>ChatBell</title></head>\
<body><h1>ChatBell sign-in did not complete</h1><p>Close this tab and try again from ChatBell.</p></body></html>";

/// What the redirect said.
#[derive(Debug)]
enum Redirect {
    Code { code: String },
    Error(Box<OAuthError>),
    StateMismatch,
    Bad(String),
}

impl Redirect {
    /// The authorization code, or why there is none.
    fn code(self) -> Result<String, AuthError> {
        match self {
            Redirect::Code { code } => Ok(code),
            Redirect::Error(e) => Err(AuthError::Redirect(e)),
            Redirect::StateMismatch => Err(AuthError::StateMismatch),
            Redirect::Bad(why) => Err(AuthError::BadRedirect(why)),
        }
    }
}

impl OAuthClient {
    /// The authorize URL for a loopback redirect (`response_type=code`, S256 PKCE).
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        pkce: &Pkce,
        login_hint: Option<&str>,
    ) -> Result<Url, AuthError> {
        let mut url = self.config.endpoint("authorize")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", self.config.client_id())
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("response_mode", "query")
                .append_pair("scope", &self.config.scope())
                .append_pair("state", state)
                .append_pair("code_challenge", pkce.challenge())
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = login_hint.filter(|h| !h.is_empty()) {
                q.append_pair("login_hint", hint);
            }
        }
        Ok(url)
    }

    /// Signs in through the browser: authorization code + PKCE on a loopback redirect.
    pub async fn sign_in_with_browser(
        &self,
        opener: &dyn BrowserOpener,
        options: &BrowserSignIn,
    ) -> Result<Tokens, AuthError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| AuthError::Browser(format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| AuthError::Browser(format!("loopback address: {e}")))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}");
        let pkce = Pkce::generate();
        let state = random_state();
        let url =
            self.authorize_url(&redirect_uri, &state, &pkce, options.login_hint.as_deref())?;

        opener.open(url.as_str()).map_err(AuthError::Browser)?;

        let redirect = tokio::time::timeout(options.timeout, accept_one_redirect(listener, &state))
            .await
            .map_err(|_| AuthError::Timeout("the browser did not come back to ChatBell"))??;
        // The listener is closed here: it was moved into accept_one_redirect.
        let code = redirect.code()?;
        let scope = self.config.scope();
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("client_id", self.config.client_id()),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", pkce.verifier()),
            ("scope", &scope),
        ])
        .await
    }
}

/// Serves the listener until one request carries the redirect (`code` or `error`);
/// other requests (favicon, pre-connects) get a 404 or are dropped.
async fn accept_one_redirect(listener: TcpListener, state: &str) -> Result<Redirect, AuthError> {
    let mut conns: JoinSet<Option<Redirect>> = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted
                    .map_err(|e| AuthError::Browser(format!("loopback accept failed: {e}")))?;
                if conns.len() < MAX_CONNECTIONS {
                    let state = state.to_owned();
                    conns.spawn(async move { serve(stream, &state).await });
                }
            }
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if let Ok(Some(redirect)) = done {
                    return Ok(redirect);
                }
            }
        }
    }
}

/// Reads one request; answers it; returns the redirect if that is what it was.
async fn serve(mut stream: TcpStream, state: &str) -> Option<Redirect> {
    let head = tokio::time::timeout(CONNECTION_READ_TIMEOUT, read_head(&mut stream))
        .await
        .ok()??;
    let (status, page, redirect) = answer(&head, state);
    respond(&mut stream, status, page).await;
    redirect
}

/// What one request to the redirect port gets (status line and page), and the
/// redirect it carried, if it was one.
fn answer(head: &str, state: &str) -> (&'static str, &'static str, Option<Redirect>) {
    let bad = ("400 Bad Request", PAGE_FAILED, None);
    let Some(target) = request_target(head) else {
        return bad;
    };
    let Ok(url) = Url::parse("http://127.0.0.1").and_then(|b| b.join(target)) else {
        return bad;
    };
    if url.path() != "/" {
        return ("404 Not Found", "", None);
    }
    match parse_redirect(&url, state) {
        None => bad,
        Some(r @ Redirect::Code { .. }) => ("200 OK", PAGE_OK, Some(r)),
        Some(r) => ("200 OK", PAGE_FAILED, Some(r)),
    }
}

/// One request to the redirect port, as the browser sent it (request line and
/// headers): `None` if it is not the redirect (ChatBell keeps waiting), else
/// the authorization code or why there is none. For the fuzz targets.
#[doc(hidden)]
pub fn redirect_request(head: &str, expected_state: &str) -> Option<Result<String, AuthError>> {
    answer(head, expected_state).2.map(Redirect::code)
}

/// Reads the request line and headers (up to the blank line).
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return String::from_utf8(buf).ok();
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
    }
}

/// `GET <target> HTTP/1.x` → `<target>`.
fn request_target(head: &str) -> Option<&str> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    (method == "GET" && target.starts_with('/') && version.starts_with("HTTP/")).then_some(target)
}

/// Classifies the redirect's query. `None`: not a redirect (no `code`, no `error`).
fn parse_redirect(url: &Url, expected_state: &str) -> Option<Redirect> {
    let (mut code, mut got_state, mut error, mut desc) = (None, None, None, None);
    let mut dup = false;
    for (k, v) in url.query_pairs() {
        let slot = match k.as_ref() {
            "code" => &mut code,
            "state" => &mut got_state,
            "error" => &mut error,
            "error_description" => &mut desc,
            _ => continue,
        };
        dup |= slot.is_some();
        *slot = Some(v.into_owned());
    }
    if code.is_none() && error.is_none() {
        return None;
    }
    if dup {
        return Some(Redirect::Bad("a parameter appears twice".into()));
    }
    if got_state.as_deref() != Some(expected_state) {
        return Some(Redirect::StateMismatch);
    }
    if let Some(error) = error {
        return Some(Redirect::Error(Box::new(OAuthError {
            error,
            error_description: desc,
            error_codes: Vec::new(),
            timestamp: None,
            trace_id: None,
            correlation_id: None,
        })));
    }
    match code {
        Some(code) if !code.is_empty() => Some(Redirect::Code { code }),
        _ => Some(Redirect::Bad("empty code".into())),
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser may already be gone; nothing to do about it.
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthConfig;

    fn client() -> Result<OAuthClient, AuthError> {
        OAuthClient::new(AuthConfig::new(
            "https://login.microsoftonline.com",
            "organizations",
            "cid",
            "https://contoso.crm.dynamics.com",
        )?)
    }

    #[test]
    fn authorize_url_has_every_pkce_parameter() -> Result<(), AuthError> {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        let url = client()?.authorize_url(
            "http://127.0.0.1:51234",
            "st4te",
            &pkce,
            Some("ada@contoso.com"),
        )?;
        assert_eq!(
            format!(
                "{}://{}{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.path()
            ),
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
        );
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        let get = |k: &str| q.get(k).map(String::as_str);
        assert_eq!(get("client_id"), Some("cid"));
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:51234"));
        assert_eq!(
            get("scope"),
            Some(
                "https://contoso.crm.dynamics.com/user_impersonation offline_access openid profile"
            )
        );
        assert_eq!(get("state"), Some("st4te"));
        assert_eq!(
            get("code_challenge"),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        );
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("login_hint"), Some("ada@contoso.com"));
        assert!(
            get("code_verifier").is_none(),
            "the verifier never leaves the process"
        );
        Ok(())
    }

    #[test]
    fn authorize_url_without_login_hint_has_none() -> Result<(), AuthError> {
        let url = client()?.authorize_url("http://127.0.0.1:1", "s", &Pkce::generate(), None)?;
        assert!(!url.query_pairs().any(|(k, _)| k == "login_hint"));
        Ok(())
    }

    fn redirect(q: &str) -> Option<Redirect> {
        let url = Url::parse(&format!("http://127.0.0.1:9/{q}")).ok()?;
        parse_redirect(&url, "good")
    }

    #[test]
    fn redirects_are_classified() {
        assert!(
            matches!(redirect("?code=abc&state=good"), Some(Redirect::Code { code }) if code == "abc")
        );
        assert!(matches!(
            redirect("?code=abc&state=evil"),
            Some(Redirect::StateMismatch)
        ));
        assert!(matches!(
            redirect("?code=abc"),
            Some(Redirect::StateMismatch)
        ));
        assert!(matches!(
            redirect("?error=access_denied&error_description=AADSTS65004%3A+declined&state=good"),
            Some(Redirect::Error(e)) if e.error == "access_denied"
        ));
        assert!(matches!(
            redirect("?error=access_denied&state=evil"),
            Some(Redirect::StateMismatch)
        ));
        assert!(matches!(
            redirect("?code=a&code=b&state=good"),
            Some(Redirect::Bad(_))
        ));
        assert!(matches!(
            redirect("?code=&state=good"),
            Some(Redirect::Bad(_))
        ));
        assert!(redirect("").is_none());
        assert!(redirect("?foo=bar").is_none());
    }

    #[test]
    fn request_line_is_parsed_strictly() {
        assert_eq!(
            request_target("GET /?code=1 HTTP/1.1\r\n\r\n"),
            Some("/?code=1")
        );
        assert_eq!(request_target("POST / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_target("GET http://x/ HTTP/1.1\r\n\r\n"), None);
        assert_eq!(request_target("garbage"), None);
    }
}
