//! The sign-in library as the client's token source.

use crate::client::{AuthFailure, BoxFuture, TokenSource};
use chatbell_auth::{AccessToken, AuthError, SignIn};
use std::sync::{Arc, Mutex};

/// Hands out the signed-in agent's access tokens, refreshing as the sign-in
/// library decides; a 401 asks it to refresh once.
pub struct SignedIn {
    session: Arc<SignIn>,
    /// The tokens handed out, newest last, so that a 401 names which one was
    /// refused (the library refreshes only if it is still the current one).
    issued: Mutex<Vec<AccessToken>>,
}

impl SignedIn {
    pub fn new(session: Arc<SignIn>) -> SignedIn {
        SignedIn {
            session,
            issued: Mutex::new(Vec::new()),
        }
    }

    fn remember(&self, token: &AccessToken) {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        if !issued.contains(token) {
            issued.push(token.clone());
            let excess = issued.len().saturating_sub(4);
            issued.drain(..excess);
        }
    }
}

fn failure(e: AuthError) -> AuthFailure {
    AuthFailure {
        sign_in_required: e.is_sign_in_required(),
        message: e.to_string(),
    }
}

impl TokenSource for SignedIn {
    fn token(&self) -> BoxFuture<'_, Result<String, AuthFailure>> {
        Box::pin(async move {
            let token = self.session.access_token().await.map_err(failure)?;
            self.remember(&token);
            Ok(token.secret().to_string())
        })
    }

    fn refresh<'a>(&'a self, rejected: &'a str) -> BoxFuture<'a, Result<String, AuthFailure>> {
        Box::pin(async move {
            let known = {
                let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
                issued.iter().find(|t| t.secret() == rejected).cloned()
            };
            let token = match known {
                Some(t) => self.session.on_unauthorized(&t).await,
                None => self.session.access_token().await,
            }
            .map_err(failure)?;
            self.remember(&token);
            Ok(token.secret().to_string())
        })
    }
}
