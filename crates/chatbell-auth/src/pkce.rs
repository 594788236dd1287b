//! PKCE (RFC 7636) and the random `state` of the authorization code flow.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::OsRng;
use sha2::{Digest, Sha256};

/// Random bytes from the OS generator.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A PKCE code verifier and its S256 challenge.
///
/// The verifier stays in this process and is sent only to the token endpoint;
/// the challenge goes in the authorize URL.
#[derive(Clone)]
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[redacted]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// A fresh verifier: 32 random bytes, base64url (43 characters, within RFC 7636's 43–128).
    pub fn generate() -> Self {
        Self::from_verifier(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    /// Builds the pair from a given verifier (for tests and the RFC's vector).
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = s256_challenge(&verifier);
        Pkce {
            verifier,
            challenge,
        }
    }

    /// The verifier, sent as `code_verifier` to the token endpoint.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// The challenge, sent as `code_challenge` with `code_challenge_method=S256`.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

/// `BASE64URL(SHA256(ASCII(verifier)))` without padding (RFC 7636 section 4.2).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A random `state` value (128 bits, base64url) binding a redirect to its request.
pub fn random_state() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned());
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn generated_verifiers_are_long_enough_unreserved_and_distinct() {
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_ne!(a.verifier(), b.verifier());
        assert!((43..=128).contains(&a.verifier().len()));
        assert!(a
            .verifier()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
        assert_eq!(a.challenge(), s256_challenge(a.verifier()));
        assert_ne!(random_state(), random_state());
    }

    #[test]
    fn pkce_debug_redacts_the_verifier() {
        let p = Pkce::from_verifier("the-secret-verifier-value-0123456789abcdefgh".to_owned());
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("the-secret-verifier"));
        assert!(dbg.contains("redacted"));
    }
}
