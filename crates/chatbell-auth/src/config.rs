//! Where and as whom ChatBell signs in.

use crate::error::AuthError;
use reqwest::Url;

/// The sign-in configuration of one Dynamics 365 organisation.
///
/// ChatBell is a public client (no secret): the client id identifies the app
/// registration, the tenant the directory, and the org URL the Dataverse
/// resource whose `user_impersonation` scope is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    authority: String,
    tenant: String,
    client_id: String,
    org_url: String,
}

impl AuthConfig {
    /// `authority`: e.g. `https://login.microsoftonline.com` (or the emulator's base URL);
    /// `tenant`: a tenant id, domain, or `organizations`; `org_url`: e.g.
    /// `https://contoso.crm.dynamics.com`.
    pub fn new(
        authority: &str,
        tenant: &str,
        client_id: &str,
        org_url: &str,
    ) -> Result<Self, AuthError> {
        let authority = parse_base(authority, "authority")?;
        let org_url = parse_base(org_url, "org URL")?;
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(AuthError::Config(format!(
                "tenant {tenant:?} is not a tenant id or domain"
            )));
        }
        if client_id.trim().is_empty() {
            return Err(AuthError::Config("client id is empty".into()));
        }
        Ok(AuthConfig {
            authority,
            tenant: tenant.to_owned(),
            client_id: client_id.trim().to_owned(),
            org_url,
        })
    }

    /// The authority base URL, without a trailing slash.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The tenant segment of the endpoints.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The app registration's client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The Dynamics org URL, without a trailing slash.
    pub fn org_url(&self) -> &str {
        &self.org_url
    }

    /// `<org>/user_impersonation offline_access openid profile`: Dataverse access,
    /// a refresh token, and an id token with the user's name.
    pub fn scope(&self) -> String {
        format!(
            "{}/user_impersonation offline_access openid profile",
            self.org_url
        )
    }

    /// `{authority}/{tenant}/oauth2/v2.0/{leaf}`.
    pub(crate) fn endpoint(&self, leaf: &str) -> Result<Url, AuthError> {
        let s = format!("{}/{}/oauth2/v2.0/{leaf}", self.authority, self.tenant);
        Url::parse(&s).map_err(|e| AuthError::Config(format!("endpoint {s}: {e}")))
    }
}

fn parse_base(s: &str, what: &str) -> Result<String, AuthError> {
    let url = Url::parse(s.trim()).map_err(|e| AuthError::Config(format!("{what} {s:?}: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(AuthError::Config(format!(
            "{what} {s:?} is not an http(s) URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(AuthError::Config(format!(
            "{what} {s:?} must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_and_endpoints_are_built_from_the_config() -> Result<(), AuthError> {
        let c = AuthConfig::new(
            "https://login.microsoftonline.com/",
            "contoso.onmicrosoft.com",
            "11111111-2222-3333-4444-555555555555",
            "https://contoso.crm.dynamics.com/",
        )?;
        assert_eq!(
            c.scope(),
            "https://contoso.crm.dynamics.com/user_impersonation offline_access openid profile"
        );
        assert_eq!(
            c.endpoint("token")?.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        Ok(())
    }

    #[test]
    fn bad_config_is_refused() {
        assert!(AuthConfig::new("not a url", "t", "c", "https://o").is_err());
        assert!(AuthConfig::new("https://a", "t/x", "c", "https://o").is_err());
        assert!(AuthConfig::new("https://a", "t", " ", "https://o").is_err());
        assert!(AuthConfig::new("ftp://a", "t", "c", "https://o").is_err());
    }
}
