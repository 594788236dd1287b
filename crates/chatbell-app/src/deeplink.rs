//! The Dynamics link that opens a chat (R12):
//! `{url}/main.aspx?appid={app_id}&pagetype=entityrecord&etn={session table}&id={session id}`.
//!
//! The host comes from the configuration only: the session id is a GUID (typed),
//! the table name a checked Dataverse identifier, and every query value is
//! percent-encoded, so nothing synced from Dynamics can change where it points.

use crate::config::Config;
use chatbell_core::SessionId;
use chatbell_sync::Table;

/// The deep link to `session`, or `None` in demo mode (the shell opens ChatBell's
/// panel instead).
pub fn session_link(config: &Config, session: SessionId) -> Option<String> {
    let d = config.dynamics.as_ref()?;
    let mut url = url::Url::parse(&format!("{}/main.aspx", d.url)).ok()?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(app) = &d.app_id {
            q.append_pair("appid", app);
        }
        q.append_pair("pagetype", "entityrecord");
        q.append_pair("etn", config.schema.logical(Table::Session));
        q.append_pair("id", &session.0.to_string());
    }
    Some(url.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, "c").unwrap()
    }

    #[test]
    fn deep_link_has_the_documented_shape() {
        let c = config(
            "[dynamics]\nurl = \"https://contoso.crm.dynamics.com/\"\napp_id = \"6a4c1f0e-1111-2222-3333-444455556666\"\n",
        );
        let s = SessionId::from_u128(7);
        assert_eq!(
            session_link(&c, s).unwrap(),
            format!("https://contoso.crm.dynamics.com/main.aspx?appid=6a4c1f0e-1111-2222-3333-444455556666&pagetype=entityrecord&etn=cb_chatsession&id={}", s.0)
        );
    }

    #[test]
    fn deep_link_without_app_id_omits_it_and_follows_the_mapping() {
        let c = config(
            "[dynamics]\nurl = \"https://contoso.crm4.dynamics.com\"\n[schema.cb_chatsession]\nname = \"new_whatsappsession\"\n",
        );
        let link = session_link(&c, SessionId::from_u128(1)).unwrap();
        assert!(!link.contains("appid"), "{link}");
        assert!(link.contains("etn=new_whatsappsession&"), "{link}");
    }

    #[test]
    fn deep_link_in_demo_mode_is_none() {
        assert_eq!(
            session_link(&Config::default(), SessionId::from_u128(1)),
            None
        );
    }

    #[test]
    fn deep_link_uses_only_the_configured_host() {
        let c = config("[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\n");
        // A session id is a GUID: a hostile one cannot even be parsed.
        for hostile in [
            "@evil.example",
            "x&etn=account",
            "../../evil.example/",
            "00000000-0000-0000-0000-000000000001@evil.example",
        ] {
            assert!(hostile.parse::<SessionId>().is_err(), "{hostile}");
        }
        let link = session_link(&c, SessionId::new_random()).unwrap();
        let u = url::Url::parse(&link).unwrap();
        assert_eq!(u.host_str(), Some("contoso.crm.dynamics.com"));
        assert_eq!(u.scheme(), "https");
        assert_eq!(u.path(), "/main.aspx");
        // Nothing synced (customer name, preview, number) is an input: the link is
        // built from the configuration and the typed id only.
        // The table name cannot smuggle query parameters either: a mapping to a
        // non-identifier is refused when the configuration is read.
        assert!(Config::parse(
            "[dynamics]\nurl = \"https://contoso.crm.dynamics.com\"\n[schema.cb_chatsession]\nname = \"x&id=evil\"\n",
            "c"
        )
        .is_err());
    }
}
