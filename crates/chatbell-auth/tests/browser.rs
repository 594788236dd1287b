//! Authorization code + PKCE on a loopback redirect, over real loopback HTTP.
//! The "browser" is an HTTP client driven by the opener.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatbell_auth::{AuthError, BrowserSignIn};
use reqwest::Url;
use support::fake_idp::FakeIdp;

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
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
    let page = Arc::new(Mutex::new(None));
    let tokens = client
        .sign_in_with_browser(
            &following_browser(page.clone()),
            &hint("alex.rivera@chatbell.example"),
        )
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
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
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
        .sign_in_with_browser(&opener, &hint("demo.agent@chatbell.example"))
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
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
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
        .sign_in_with_browser(&opener, &hint("demo.agent@chatbell.example"))
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::StateMismatch), "{e:?}");
    assert_eq!(idp.grants("authorization_code"), 0, "nothing was exchanged");
    let (_, body) = wait_page(&page).await;
    assert!(body.contains("did not complete"));
}

#[tokio::test]
async fn error_in_the_redirect_is_reported() {
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
    // The identity platform sends the user back with an error (e.g. consent refused).
    let opener = |url: &str| {
        let url = Url::parse(url).unwrap();
        let redirect = query(&url, "redirect_uri").unwrap();
        let state = query(&url, "state").unwrap();
        let mut back = Url::parse(&redirect).unwrap();
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            )
            .append_pair("state", &state);
        tokio::spawn(reqwest::get(back));
        Ok(())
    };
    let e = client
        .sign_in_with_browser(&opener, &BrowserSignIn::default())
        .await
        .unwrap_err();
    match e {
        AuthError::Redirect(o) => {
            assert_eq!(o.error, "access_denied");
            assert!(o.error_description.unwrap().starts_with("AADSTS65004"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(idp.grants("authorization_code"), 0);
}

#[tokio::test]
async fn unrelated_requests_do_not_end_the_wait() {
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
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
        .sign_in_with_browser(&opener, &hint("demo.agent@chatbell.example"))
        .await
        .unwrap();
    assert_eq!(idp.whoami(&tokens.access_token.bearer()).await, 200);
}

#[tokio::test(start_paused = true)]
async fn browser_that_never_comes_back_times_out() {
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
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
    let idp = FakeIdp::start().await;
    let client = support::client(&idp.base, None);
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
