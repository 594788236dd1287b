//! Authorization code + PKCE on a loopback redirect, against the emulator over
//! real loopback HTTP. The "browser" is an HTTP client driven by the opener.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatbell_auth::{AuthError, BrowserSignIn};
use reqwest::Url;
use support::{Idp, ALEX, DANA};

/// A browser that follows redirects and keeps the page it ended on.
fn following_browser(
    page: Arc<Mutex<Option<(u16, String)>>>,
) -> impl Fn(&str) -> Result<(), String> + Send + Sync {
    move |url: &str| {
        let url = url.to_owned();
        let page = page.clone();
        tokio::spawn(async move {
            let r = reqwest::get(url).await.unwrap();
            let status = r.status().as_u16();
            *page.lock().unwrap() = Some((status, r.text().await.unwrap()));
        });
        Ok(())
    }
}

/// Waits (briefly, in real time) for the browser task to store the page it got.
async fn wait_page(page: &Arc<Mutex<Option<(u16, String)>>>) -> (u16, String) {
    for _ in 0..500 {
        if let Some(p) = page.lock().unwrap().clone() {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the browser got no page");
}

fn hint(user: &str) -> BrowserSignIn {
    BrowserSignIn {
        login_hint: Some(user.into()),
        ..BrowserSignIn::default()
    }
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn browser_sign_in_with_pkce_gets_tokens_and_shows_a_done_page() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let page = Arc::new(Mutex::new(None));
    let tokens = client
        .sign_in_with_browser(&following_browser(page.clone()), &hint(ALEX))
        .await
        .unwrap();
    assert_eq!(idp.whoami(&tokens.access_token.bearer()).await, 200);
    assert_eq!(tokens.account.unwrap().name.as_deref(), Some("Alex Rivera"));
    assert_eq!(idp.grants("authorization_code"), 1);
    let (status, body) = wait_page(&page).await;
    assert_eq!(status, 200);
    assert!(body.contains("Signed in to ChatBell"));
}

#[tokio::test]
async fn loopback_port_is_closed_after_the_redirect() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let seen = Arc::new(Mutex::new(None::<String>));
    let page = Arc::new(Mutex::new(None));
    let browser = following_browser(page);
    let opener = {
        let seen = seen.clone();
        move |url: &str| {
            *seen.lock().unwrap() = Some(url.to_owned());
            browser(url)
        }
    };
    client
        .sign_in_with_browser(&opener, &hint(DANA))
        .await
        .unwrap();
    let url = Url::parse(seen.lock().unwrap().as_deref().unwrap()).unwrap();
    let redirect = query(&url, "redirect_uri").unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:"));
    let addr = redirect.trim_start_matches("http://");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port still open"
    );
}

#[tokio::test]
async fn state_mismatch_is_refused() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let page = Arc::new(Mutex::new(None::<(u16, String)>));
    let p = page.clone();
    // An attacker's redirect: a genuine code, but the state of another sign-in.
    let opener = move |url: &str| {
        let url = url.to_owned();
        let p = p.clone();
        tokio::spawn(async move {
            let no_redirects = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let r = no_redirects.get(url).send().await.unwrap();
            let mut loc = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
            let code = query(&loc, "code").unwrap();
            loc.query_pairs_mut()
                .clear()
                .append_pair("code", &code)
                .append_pair("state", "forged");
            let r = reqwest::get(loc).await.unwrap();
            *p.lock().unwrap() = Some((r.status().as_u16(), r.text().await.unwrap()));
        });
        Ok(())
    };
    let e = client
        .sign_in_with_browser(&opener, &hint(DANA))
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::StateMismatch), "{e:?}");
    assert_eq!(idp.grants("authorization_code"), 0, "nothing was exchanged");
    let (_, body) = wait_page(&page).await;
    assert!(body.contains("did not complete"));
}

#[tokio::test]
async fn error_in_the_redirect_is_reported() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    // No login_hint and nobody signed in at the emulator (`PUT /_emulator/signin`):
    // the identity platform sends the browser back with an error instead of a code.
    let page = Arc::new(Mutex::new(None));
    let e = client
        .sign_in_with_browser(&following_browser(page.clone()), &BrowserSignIn::default())
        .await
        .unwrap_err();
    match e {
        AuthError::Redirect(o) => {
            assert_eq!(o.error, "login_required");
            assert!(o.error_description.unwrap().starts_with("AADSTS50058"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(idp.grants("authorization_code"), 0);
    let (_, body) = wait_page(&page).await;
    assert!(body.contains("did not complete"), "{body}");
}

#[tokio::test]
async fn unrelated_requests_do_not_end_the_wait() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let page = Arc::new(Mutex::new(None));
    let browser = Arc::new(following_browser(page));
    // The browser first opens an idle pre-connect socket, asks for a favicon, and
    // something asks for `/` without a code; none of them ends the wait.
    let opener = move |url: &str| {
        let u = Url::parse(url).unwrap();
        let redirect = query(&u, "redirect_uri").unwrap();
        let addr = redirect.trim_start_matches("http://").to_owned();
        let url = url.to_owned();
        let browser = browser.clone();
        tokio::spawn(async move {
            let _idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let r = reqwest::get(format!("{redirect}/favicon.ico"))
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 404);
            let r = reqwest::get(format!("{redirect}/?hello=1")).await.unwrap();
            assert_eq!(r.status().as_u16(), 400);
            browser(&url).unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        Ok(())
    };
    let tokens = client
        .sign_in_with_browser(&opener, &hint(DANA))
        .await
        .unwrap();
    assert_eq!(idp.whoami(&tokens.access_token.bearer()).await, 200);
}

#[tokio::test(start_paused = true)]
async fn browser_that_never_comes_back_times_out() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let options = BrowserSignIn {
        login_hint: None,
        timeout: Duration::from_secs(120),
    };
    let start = tokio::time::Instant::now();
    let e = client
        .sign_in_with_browser(&|_: &str| Ok(()), &options)
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::Timeout(_)), "{e:?}");
    assert_eq!(start.elapsed().as_secs(), 120);
}

#[tokio::test]
async fn a_browser_that_cannot_open_fails_the_sign_in() {
    let idp = Idp::start().await;
    let client = idp.client(None);
    let e = client
        .sign_in_with_browser(
            &|_: &str| Err("no browser".to_owned()),
            &BrowserSignIn::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, AuthError::Browser(ref m) if m == "no browser"),
        "{e:?}"
    );
}
