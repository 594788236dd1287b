//! The Web API protocol points of the Dataverse contract, over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use chatbell_emulator::SeedIds;
use common::{read, start};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

fn session_path(n: u32) -> String {
    format!("cb_chatsessions({})", SeedIds::session(n))
}

// ---- headers, WhoAmI, 401 ----

#[tokio::test]
async fn whoami_returns_user_business_unit_and_organization() {
    let t = start().await;
    for path in ["WhoAmI", "WhoAmI()"] {
        let r = t.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json["UserId"], SeedIds::demo_agent().to_string());
        assert!(r.json["BusinessUnitId"].is_string());
        assert!(r.json["OrganizationId"].is_string());
        assert_eq!(r.header("odata-version").as_deref(), Some("4.0"));
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
    }
}

#[tokio::test]
async fn missing_token_gives_401_with_bearer_challenge() {
    let t = start().await;
    let r = read(
        t.http
            .get(format!("{}/WhoAmI", t.api()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    let expected = format!(
        "authorization_uri={}/{}/oauth2/authorize",
        t.emu.base_url(),
        t.emu.tenant_id()
    );
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&expected), "{challenge}");
}

#[tokio::test]
async fn expired_token_gives_401_invalid_token() {
    let t = start().await;
    assert_eq!(t.get("WhoAmI").await.status, 200);
    t.emu.advance_clock(3601);
    let r = t.get("WhoAmI").await;
    assert_eq!(r.status, 401);
    let c = r.header("www-authenticate").unwrap();
    assert!(
        c.contains("error=invalid_token") && c.contains("authorization_uri="),
        "{c}"
    );
}

#[tokio::test]
async fn unknown_token_gives_401() {
    let t = start().await;
    let r = read(
        t.req_as("not-a-token", Method::GET, "WhoAmI")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("authorization_uri="));
}

// ---- queries ----

#[tokio::test]
async fn select_returns_only_selected_columns_plus_key_and_etag() {
    let t = start().await;
    let r = t
        .get("cb_chatsessions?$select=cb_name,cb_unreadcount")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#cb_chatsessions(cb_name,cb_unreadcount)"));
    let row = r.value()[0].as_object().unwrap();
    let keys: HashSet<&str> = row.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "@odata.etag",
            "cb_chatsessionid",
            "cb_name",
            "cb_unreadcount"
        ])
    );
    assert!(row["@odata.etag"].as_str().unwrap().starts_with("W/\""));
}

#[tokio::test]
async fn filter_on_lookup_value_and_case_insensitive_strings() {
    let t = start().await;
    let demo = SeedIds::demo_agent();
    let r = t
        .get(&format!(
            "cb_chatsessions?$select=cb_name&$filter=_ownerid_value eq {demo}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r
        .value()
        .iter()
        .map(|v| v["cb_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Tom Becker"]);
    let r = t.get("cb_chatsessions?$select=cb_name&$filter=cb_name eq 'TOM BECKER' or contains(cb_name,'GARC')").await;
    assert_eq!(r.value().len(), 2, "{}", r.text);
    let r = t.get("cb_chatsessions?$select=cb_name&$filter=startswith(cb_customernumber,'%2B44') and not endswith(cb_name,'x')").await;
    assert_eq!(r.value().len(), 1, "{}", r.text);
    assert_eq!(r.value()[0]["cb_name"], "Priya Nair");
}

#[tokio::test]
async fn filter_with_datetime_boolean_and_null_literals() {
    let t = start().await;
    let r = t
        .get("cb_chatsessions?$select=cb_name&$filter=cb_acceptedon eq null and statecode eq 0")
        .await;
    assert_eq!(r.value().len(), 2, "{}", r.text);
    let r = t
        .get("cb_chatsessions?$select=cb_name&$filter=cb_firstcontact eq true")
        .await;
    assert_eq!(r.value().len(), 2, "{}", r.text);
    // Seeded now is 2026-11-21T09:00:00Z; Tom Becker's last customer message was 6 minutes before.
    let r = t.get("cb_chatsessions?$select=cb_name&$filter=cb_lastcustomermessageon ge 2026-11-21T08:54:00Z and cb_lastcustomermessageon lt 2026-11-21T08:55:00Z").await;
    assert_eq!(r.value().len(), 1, "{}", r.text);
    assert_eq!(r.value()[0]["cb_name"], "Tom Becker");
    let r = t.get("cb_chatsessions?$select=cb_name&$filter=(cb_unreadcount gt 0 and cb_channel eq 2) or cb_unreadcount ge 1.5").await;
    let names: HashSet<String> = r
        .value()
        .iter()
        .map(|v| v["cb_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        HashSet::from(["Priya Nair".to_string(), "Maria Garcia".to_string()]),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn orderby_multiple_keys() {
    let t = start().await;
    let r = t
        .get("cb_chatsessions?$select=cb_name,cb_channel&$orderby=cb_channel desc,cb_name asc")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r
        .value()
        .iter()
        .map(|v| v["cb_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "Lena Fischer",
            "Priya Nair",
            "Chen Wei",
            "Maria Garcia",
            "Tom Becker"
        ]
    );
}

#[tokio::test]
async fn top_limits_rows_and_count_adds_odata_count() {
    let t = start().await;
    let r = t
        .get("cb_chatsessions?$select=cb_name&$top=2&$count=true")
        .await;
    assert_eq!(r.value().len(), 2);
    assert_eq!(r.json["@odata.count"], 5);
    assert!(r.json.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn top_is_ignored_when_maxpagesize_is_sent_too() {
    // learn.microsoft.com, query/page-results: "If you include both, $top is ignored."
    let t = start().await;
    let mut url = format!(
        "{}/cb_chatsessions?$select=cb_name&$orderby=cb_name&$top=2&$count=true",
        t.api()
    );
    let mut sizes = Vec::new();
    loop {
        let r = read(
            t.http
                .get(&url)
                .bearer_auth(&t.token)
                .header("Prefer", "odata.maxpagesize=3")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.header("preference-applied").as_deref(),
            Some("odata.maxpagesize=3")
        );
        assert_eq!(r.json["@odata.count"], 5, "{}", r.text);
        sizes.push(r.value().len());
        match r.json.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(!next.contains("$top"), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 2]);

    // A maxpagesize the service ignores (above 5000) leaves $top in force.
    let r = read(
        t.req(Method::GET, "cb_chatsessions?$select=cb_name&$top=2")
            .header("Prefer", "odata.maxpagesize=9000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.value().len(), 2, "{}", r.text);
    assert!(r.json.get("@odata.nextLink").is_none());
    assert!(r.header("preference-applied").is_none());
}

// learn.microsoft.com, query/count-rows: "append /$count" for just the number.
#[tokio::test]
async fn count_path_answers_a_plain_number() {
    let t = start().await;
    let r = t.get("cb_chatsessions/$count").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, "5");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.header("odata-version").as_deref(), Some("4.0"));
    let r = t
        .get("cb_chatsessions/$count?$filter=cb_channel eq @c&@c=2")
        .await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, "2"));
    assert_eq!(t.get("cb_blockednumbers/$count").await.text, "0");

    for (path, code) in [
        ("cb_chatsessions/$count?$top=1", "0x80060888"),
        ("cb_chatsessions/$count?$filter=cb_nope eq 1", "0x80060888"),
        ("nosuchset/$count", "0x8006088a"),
    ] {
        let r = t.get(path).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.text);
        assert_eq!(r.error_code(), code, "{path}: {}", r.text);
    }
    let r = t
        .send(Method::POST, "cb_chatsessions/$count", json!({}))
        .await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert!(r.error_code().starts_with("0x"));
}

#[tokio::test]
async fn count_true_counts_every_matching_row_whatever_the_page_size() {
    let t = start().await;
    let r = read(
        t.req(
            Method::GET,
            "cb_chatsessions?$select=cb_name&$filter=statecode eq 0&$count=true",
        )
        .header("Prefer", "odata.maxpagesize=2")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.value().len(), 2);
    let active = t.get("cb_chatsessions/$count?$filter=statecode eq 0").await;
    assert_eq!(active.text, "4");
    assert_eq!(r.json["@odata.count"], 4);
    let next = r.json["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$count=true"), "{next}");
}

// learn.microsoft.com, query/overview, "Use parameter aliases with query options".
#[tokio::test]
async fn parameter_aliases_in_filter_and_orderby() {
    let t = start().await;
    let names = |r: &common::Resp| -> Vec<String> {
        r.value()
            .iter()
            .map(|v| v["cb_name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = t
        .get("cb_chatsessions?$select=cb_name&$filter=cb_name eq @p1&@p1='Tom Becker'")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r), vec!["Tom Becker"]);

    // Aliases for columns and literals, in $filter and $orderby, given after
    // or before the options that use them; @p3 has no value, so it is null.
    let r = t
        .get("cb_chatsessions?@p1=cb_channel&$select=cb_name&$orderby=@p1 asc,@p2 desc&$filter=@p1 ne @p3 and contains(@p2,@p4)&@p2=cb_name&@p4='e'")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(names(&r), vec!["Tom Becker", "Chen Wei", "Lena Fischer"]);
    let r = t
        .get("cb_chatsessions?$select=cb_name&$filter=cb_acceptedon eq @none")
        .await;
    assert_eq!(r.value().len(), 2, "{}", r.text);

    // Next links carry the aliases.
    let mut url = format!(
        "{}/cb_chatsessions?$select=cb_name&$filter=cb_channel eq @c&$orderby=@o&@c=1&@o=cb_name",
        t.api()
    );
    let mut seen = Vec::new();
    loop {
        let r = read(
            t.http
                .get(&url)
                .bearer_auth(&t.token)
                .header("Prefer", "odata.maxpagesize=1")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.extend(names(&r));
        match r.json.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, vec!["Chen Wei", "Maria Garcia", "Tom Becker"]);

    for q in [
        "$filter=cb_channel eq @p1&@p1='one'",
        "$filter=cb_channel eq @p1&@p1=1 or true",
        "$filter=@p1 eq 1&@p1=cb_nope",
        "$filter=cb_channel eq @p1&@p1=1&@p1=2",
        "$orderby=@p1",
        "$orderby=@p1&@p1=cb_nope",
    ] {
        let r = t.get(&format!("cb_chatsessions?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.error_code().starts_with("0x"), "{q}");
        assert!(!r.json["error"]["message"].as_str().unwrap().is_empty());
    }
}

// learn.microsoft.com, query/join-tables, "Expand single-valued navigation properties".
#[tokio::test]
async fn expand_single_valued_navigation_properties_of_a_row() {
    let t = start().await;
    let path = format!(
        "{}?$select=cb_name,_createdby_value&$expand=cb_configuration($select=cb_name,cb_channel),ownerid,createdby($select=fullname)",
        session_path(2)
    );
    let r = t.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["@odata.context"].as_str().unwrap().ends_with(
            "$metadata#cb_chatsessions(cb_name,_createdby_value,cb_configuration(cb_name,cb_channel),ownerid(),createdby(fullname))/$entity"
        ),
        "{}",
        r.text
    );
    assert_eq!(
        r.json["cb_configuration"],
        json!({
            "cb_configurationid": chatbell_emulator::SeedIds::whatsapp_config().to_string(),
            "cb_name": "WhatsApp",
            "cb_channel": 1,
        })
    );
    let demo = SeedIds::demo_agent().to_string();
    let owner = &r.json["ownerid"];
    assert_eq!(owner["@odata.type"], "#Microsoft.Dynamics.CRM.systemuser");
    assert_eq!(owner["systemuserid"], demo);
    assert_eq!(owner["ownerid"], demo);
    assert_eq!(owner["fullname"], "Dana Demo");
    assert!(owner.get("@odata.etag").is_none());
    let creator = r.json["createdby"].as_object().unwrap();
    let keys: HashSet<&str> = creator.keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["fullname", "systemuserid", "ownerid"]));
    assert_eq!(creator["systemuserid"], r.json["_createdby_value"]);

    // A team owns session 1; annotations reach into the expanded row.
    let r = read(
        t.req(
            Method::GET,
            &format!("{}?$select=cb_name&$expand=ownerid", session_path(1)),
        )
        .header("Prefer", "odata.include-annotations=\"*\"")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["ownerid"]["@odata.type"],
        "#Microsoft.Dynamics.CRM.team"
    );
    assert_eq!(
        r.json["ownerid"]["teamid"],
        SeedIds::default_team().to_string()
    );
    assert_eq!(r.json["ownerid"]["name"], "Chat Agents");
    assert_eq!(
        r.json["ownerid"]["teamtype@OData.Community.Display.V1.FormattedValue"],
        "Owner"
    );

    // With $expand a conditional GET is never answered 304.
    let etag = t.get(&session_path(1)).await.header("etag").unwrap();
    let r = read(
        t.req(
            Method::GET,
            &format!(
                "{}?$expand=cb_configuration($select=cb_name)",
                session_path(1)
            ),
        )
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["cb_configuration"]["cb_name"], "WhatsApp");
}

#[tokio::test]
async fn expand_in_collections_pages_and_null_lookups() {
    let t = start().await;
    // The SMS configuration has no assigned team.
    let r = t
        .get("cb_configurations?$select=cb_name&$orderby=cb_name&$expand=cb_assignedteam($select=name),cb_defaultteam($select=name)")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rows = r.value();
    assert_eq!(rows[0]["cb_name"], "SMS");
    assert_eq!(rows[0]["cb_assignedteam"], Value::Null);
    assert_eq!(rows[0]["cb_defaultteam"]["name"], "Chat Agents");
    assert_eq!(rows[1]["cb_assignedteam"]["name"], "Chat Escalations");
    assert_eq!(
        rows[1]["cb_assignedteam"]["ownerid"],
        SeedIds::assigned_team().to_string()
    );

    // A request's users and chat; next links keep the $expand.
    for n in [3, 4] {
        t.create(
            "cb_chatrequests",
            json!({
                "cb_kind": 1,
                "cb_chatsession@odata.bind": format!("/{}", session_path(n)),
                "cb_requestedto@odata.bind": format!("/systemusers({})", SeedIds::alex()),
            }),
        )
        .await;
    }
    let mut url = format!(
        "{}/cb_chatrequests?$select=cb_kind&$filter=_cb_requestedto_value eq {}&$expand=cb_requestedby($select=fullname),cb_requestedto($select=fullname),cb_chatsession($select=cb_name)",
        t.api(),
        SeedIds::alex()
    );
    let mut chats = Vec::new();
    loop {
        let r = read(
            t.http
                .get(&url)
                .bearer_auth(&t.token)
                .header("Prefer", "odata.maxpagesize=1")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        for v in r.value() {
            assert_eq!(v["cb_requestedby"]["fullname"], "Dana Demo", "{v}");
            assert_eq!(v["cb_requestedto"]["fullname"], "Alex Rivera", "{v}");
            chats.push(v["cb_chatsession"]["cb_name"].as_str().unwrap().to_string());
        }
        match r.json.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(next.contains("$expand="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    chats.sort();
    assert_eq!(chats, vec!["Chen Wei", "Priya Nair"]);
}

#[tokio::test]
async fn expand_refuses_what_it_does_not_serve_with_dataverse_errors() {
    let t = start().await;
    for (path, code, says) in [
        (
            "cb_chatsessions?$expand=cb_nope",
            "0x0",
            "Could not find a property named 'cb_nope' on type 'Microsoft.Dynamics.CRM.cb_chatsession'.",
        ),
        (
            "cb_chatsessions?$expand=cb_configuration($select=nope)",
            "0x0",
            "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.cb_configuration'.",
        ),
        (
            "cb_chatsessions?$expand=ownerid($select=fullname)",
            "0x0",
            "on type 'Microsoft.Dynamics.CRM.principal'",
        ),
        (
            "teams?$expand=teammembership_association",
            "0x80060888",
            "collection-valued",
        ),
        (
            "cb_chatsessions?$expand=cb_configuration($expand=ownerid)",
            "0x80060888",
            "$expand",
        ),
        (
            "cb_chatsessions?$expand=cb_configuration($filter=cb_channel eq 1)",
            "0x80060888",
            "$filter",
        ),
        (
            "cb_chatsessions?$expand=cb_configuration/$ref",
            "0x80060888",
            "/$ref",
        ),
        (
            "cb_chatsessions?$expand=cb_configuration(",
            "0x80060888",
            "Syntax error",
        ),
        (
            "cb_chatsessions?$expand=ownerid,ownerid",
            "0x80060888",
            "more than once",
        ),
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.error_code(), code, "{path}: {}", r.text);
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
    }
}

#[tokio::test]
async fn skip_is_refused_with_dataverse_error() {
    let t = start().await;
    let r = t.get("cb_chatsessions?$skip=2").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "0x80060888");
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("$skip"));
}

#[tokio::test]
async fn unknown_column_in_select_filter_or_orderby_gives_400() {
    let t = start().await;
    for (q, code) in [
        ("$select=cb_nope", "0x0"),
        ("$select=cb_name,cb_nope", "0x0"),
        ("$filter=cb_nope eq 1", "0x80060888"),
        ("$orderby=cb_nope", "0x80060888"),
        ("$filter=cb_channel eq 'x'", "0x80060888"),
        ("$filter=cb_channel eq", "0x80060888"),
    ] {
        let r = t.get(&format!("cb_chatsessions?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert_eq!(r.error_code(), code, "{q}: {}", r.text);
        assert!(!r.json["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn unknown_column_in_select_is_refused_with_dataverse_code_0x0() {
    // Dataverse's own answer to an unknown $select column, word for word.
    let t = start().await;
    for path in [
        "cb_chatsessions?$select=x".to_string(),
        format!("{}?$select=x", session_path(1)),
    ] {
        let r = t.get(&path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(
            r.json,
            json!({"error": {"code": "0x0", "message": "Could not find a property named 'x' on type 'Microsoft.Dynamics.CRM.cb_chatsession'."}}),
            "{path}"
        );
    }
}

#[tokio::test]
async fn annotations_only_with_include_annotations_prefer() {
    let t = start().await;
    let path = format!(
        "{}?$select=cb_name,_ownerid_value,cb_channel",
        session_path(2)
    );
    let plain = t.get(&path).await;
    assert!(
        plain
            .json
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("@Microsoft") && !k.contains("@OData")),
        "{}",
        plain.text
    );

    let all = read(
        t.req(Method::GET, &path)
            .header("Prefer", "odata.include-annotations=\"*\"")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        all.json["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "systemuser"
    );
    assert_eq!(
        all.json["_ownerid_value@OData.Community.Display.V1.FormattedValue"],
        "Dana Demo"
    );
    assert_eq!(
        all.json["cb_channel@OData.Community.Display.V1.FormattedValue"],
        "WhatsApp"
    );
    assert!(all
        .header("preference-applied")
        .unwrap()
        .contains("odata.include-annotations"));

    let fv = read(
        t.req(Method::GET, &path)
            .header(
                "Prefer",
                "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        fv.json["_ownerid_value@OData.Community.Display.V1.FormattedValue"],
        "Dana Demo"
    );
    assert!(fv
        .json
        .get("_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname")
        .is_none());
}

// ---- paging ----

#[tokio::test]
async fn paging_follows_opaque_next_link() {
    let t = start().await;
    let mut seen = Vec::new();
    let mut url = format!(
        "{}/cb_chatsessions?$select=cb_name&$orderby=cb_name",
        t.api()
    );
    let mut pages = 0;
    loop {
        let r = read(
            t.http
                .get(&url)
                .bearer_auth(&t.token)
                .header("Prefer", "odata.maxpagesize=2")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.header("preference-applied").as_deref(),
            Some("odata.maxpagesize=2")
        );
        pages += 1;
        assert!(r.value().len() <= 2);
        seen.extend(
            r.value()
                .iter()
                .map(|v| v["cb_name"].as_str().unwrap().to_string()),
        );
        match r.json.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(next.contains("$skiptoken="), "{next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        vec![
            "Chen Wei",
            "Lena Fischer",
            "Maria Garcia",
            "Priya Nair",
            "Tom Becker"
        ]
    );
}

#[tokio::test]
async fn maxpagesize_above_5000_is_ignored() {
    let t = start().await;
    let r = read(
        t.req(Method::GET, "cb_chatsessions?$select=cb_name")
            .header("Prefer", "odata.maxpagesize=9000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.value().len(), 5);
    assert!(r.header("preference-applied").is_none());
}

#[tokio::test]
async fn tampered_skiptoken_gives_400() {
    let t = start().await;
    let r = t.get("cb_chatsessions?$skiptoken=%3Ccookie%20pagenumber%3D%222%22%20pagingcookie%3D%22garbage%22%20%2F%3E").await;
    assert_eq!(r.status, 400, "{}", r.text);
}

// ---- single rows ----

#[tokio::test]
async fn single_row_get_has_etag_header_and_honours_if_none_match() {
    let t = start().await;
    let r = t.get(&session_path(1)).await;
    assert_eq!(r.status, 200);
    let etag = r.header("etag").unwrap();
    assert_eq!(etag, r.json["@odata.etag"].as_str().unwrap());
    assert!(r.json["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("#cb_chatsessions/$entity"));
    let r = read(
        t.req(Method::GET, &session_path(1))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 304);
    let r = read(
        t.req(Method::GET, &session_path(1))
            .header("If-None-Match", "null")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn if_none_match_never_gives_304_when_annotations_are_requested() {
    let t = start().await;
    let path = format!("{}?$select=cb_name,_ownerid_value", session_path(1));
    let etag = t.get(&path).await.header("etag").unwrap();
    for prefer in [
        "odata.include-annotations=\"*\"",
        "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
        "return=representation,odata.include-annotations=\"-*\"",
    ] {
        let r = read(
            t.req(Method::GET, &path)
                .header("If-None-Match", &etag)
                .header("Prefer", prefer)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{prefer}: {}", r.text);
        assert_eq!(r.json["cb_name"], "Maria Garcia", "{prefer}");
        assert_eq!(r.header("etag").as_deref(), Some(etag.as_str()));
    }
    // Without annotations the same condition still answers 304.
    let r = read(
        t.req(Method::GET, &path)
            .header("If-None-Match", &etag)
            .header("Prefer", "odata.maxpagesize=10")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 304);
}

#[tokio::test]
async fn missing_row_gives_404_with_0x80040217() {
    let t = start().await;
    let r = t
        .get("cb_chatsessions(00000000-0000-0000-0000-000000000001)")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "0x80040217");
}

// ---- create ----

#[tokio::test]
async fn post_creates_with_204_and_odata_entityid() {
    let t = start().await;
    let r = t
        .send(
            Method::POST,
            "cb_blockednumbers",
            json!({"cb_number": "+15550000001", "cb_channel": 2}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let eid = r.header("odata-entityid").unwrap();
    assert!(
        eid.starts_with(&format!("{}/cb_blockednumbers(", t.api())),
        "{eid}"
    );
    let id = eid.rsplit_once('(').unwrap().1.trim_end_matches(')');
    let row = t.get(&format!("cb_blockednumbers({id})")).await;
    assert_eq!(row.json["cb_number"], "+15550000001");
    assert_eq!(
        row.json["_createdby_value"],
        SeedIds::demo_agent().to_string()
    );
    assert_eq!(
        row.json["_ownerid_value"],
        SeedIds::demo_agent().to_string()
    );
}

#[tokio::test]
async fn post_with_return_representation_gives_201_and_body() {
    let t = start().await;
    let r = read(
        t.req(Method::POST, "cb_chatmessages?$select=cb_body,cb_direction")
            .header("Prefer", "return=representation")
            .json(&json!({"cb_chatsession@odata.bind": format!("/{}", session_path(2)), "cb_direction": 2, "cb_body": "On it!"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["cb_body"], "On it!");
    assert!(r.json["cb_chatmessageid"].is_string());
    assert!(r
        .header("preference-applied")
        .unwrap()
        .contains("return=representation"));
    assert!(r.header("odata-entityid").is_some());
}

#[tokio::test]
async fn timestamps_are_to_the_second_and_etags_increase() {
    let t = start().await;
    let a = t
        .create("cb_blockednumbers", json!({"cb_number": "+15550000002"}))
        .await;
    t.emu.advance_clock(1);
    let b = t
        .create("cb_blockednumbers", json!({"cb_number": "+15550000003"}))
        .await;
    let ra = t.get(&format!("cb_blockednumbers({a})")).await;
    let rb = t.get(&format!("cb_blockednumbers({b})")).await;
    let ts = ra.json["createdon"].as_str().unwrap();
    assert_eq!(ts.len(), 20, "{ts}");
    assert!(ts.ends_with('Z') && !ts.contains('.'), "{ts}");
    let v = |r: &common::Resp| r.json["versionnumber"].as_u64().unwrap();
    assert!(v(&rb) > v(&ra));
    assert_eq!(ra.json["@odata.etag"], format!("W/\"{}\"", v(&ra)));
}

// ---- update, upsert, concurrency, delete ----

#[tokio::test]
async fn patch_to_missing_id_creates_it() {
    let t = start().await;
    let id = "11111111-2222-4333-8444-555555555555";
    let r = t
        .send(
            Method::PATCH,
            &format!("cb_blockednumbers({id})"),
            json!({"cb_number": "+15550000004"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let row = t.get(&format!("cb_blockednumbers({id})")).await;
    assert_eq!(row.status, 200);
    assert_eq!(row.json["cb_blockednumberid"], id);
}

#[tokio::test]
async fn patch_with_if_match_star_on_missing_row_gives_404() {
    let t = start().await;
    let r = read(
        t.req(
            Method::PATCH,
            "cb_chatsessions(11111111-2222-4333-8444-555555555556)",
        )
        .header("If-Match", "*")
        .json(&json!({"cb_name": "x"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "0x80040217");
}

#[tokio::test]
async fn if_match_mismatch_gives_412_with_0x80060882() {
    let t = start().await;
    let etag = t.get(&session_path(1)).await.header("etag").unwrap();
    // Someone else changes the row.
    let r = t
        .send(
            Method::PATCH,
            &session_path(1),
            json!({"cb_unreadcount": 0}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = read(
        t.req(Method::PATCH, &session_path(1))
            .header("If-Match", &etag)
            .json(
                &json!({"ownerid@odata.bind": format!("/systemusers({})", SeedIds::demo_agent())}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 412, "{}", r.text);
    assert_eq!(r.error_code(), "0x80060882");
}

#[tokio::test]
async fn if_match_with_current_etag_updates_and_returns_representation() {
    let t = start().await;
    let etag = t.get(&session_path(1)).await.header("etag").unwrap();
    let r = read(
        t.req(
            Method::PATCH,
            &format!("{}?$select=_ownerid_value,cb_acceptedon", session_path(1)),
        )
        .header("If-Match", &etag)
        .header("Prefer", "return=representation")
        .json(&json!({
            "ownerid@odata.bind": format!("/systemusers({})", SeedIds::demo_agent()),
            "cb_acceptedon": "2026-11-21T09:00:00Z"
        }))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["_ownerid_value"], SeedIds::demo_agent().to_string());
    assert_ne!(r.header("etag").unwrap(), etag);
}

#[tokio::test]
async fn if_none_match_star_prevents_update() {
    let t = start().await;
    let r = read(
        t.req(Method::PATCH, &session_path(1))
            .header("If-None-Match", "*")
            .json(&json!({"cb_name": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 412);
}

#[tokio::test]
async fn delete_honours_if_match() {
    let t = start().await;
    let id = t
        .create("cb_blockednumbers", json!({"cb_number": "+15550000005"}))
        .await;
    let path = format!("cb_blockednumbers({id})");
    let r = read(
        t.req(Method::DELETE, &path)
            .header("If-Match", "W/\"1\"")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 412);
    assert_eq!(r.error_code(), "0x80060882");
    let etag = t.get(&path).await.header("etag").unwrap();
    let r = read(
        t.req(Method::DELETE, &path)
            .header("If-Match", &etag)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(t.get(&path).await.status, 404);
    let r = read(t.req(Method::DELETE, &path).send().await.unwrap()).await;
    assert_eq!(r.status, 404);
}

// ---- lookups and ownership ----

#[tokio::test]
async fn odata_bind_sets_lookup_and_is_validated() {
    let t = start().await;
    let id = t
        .create("cb_chatmessages", json!({"cb_chatsession@odata.bind": format!("/{}", session_path(3)), "cb_direction": 2, "cb_body": "Yes, 10-4."}))
        .await;
    let r = t
        .get(&format!(
            "cb_chatmessages({id})?$select=_cb_chatsession_value"
        ))
        .await;
    assert_eq!(
        r.json["_cb_chatsession_value"],
        SeedIds::session(3).to_string()
    );

    for (bind, why) in [
        (json!("/cb_chatsessions(not-a-guid)"), "bad guid"),
        (
            json!("/cb_chatsessions(00000000-0000-0000-0000-000000000009)"),
            "missing target",
        ),
        (
            json!(format!("/systemusers({})", SeedIds::demo_agent())),
            "wrong table",
        ),
        (json!(42), "not a string"),
        (json!("nonsense"), "not a reference"),
    ] {
        let r = t
            .send(
                Method::POST,
                "cb_chatmessages",
                json!({"cb_chatsession@odata.bind": bind, "cb_direction": 2, "cb_body": "x"}),
            )
            .await;
        assert_eq!(r.status, 400, "{why}: {}", r.text);
        assert!(r.error_code().starts_with("0x"), "{why}");
    }
    let r = t
        .send(
            Method::POST,
            "cb_chatmessages",
            json!({"cb_nosuch@odata.bind": format!("/{}", session_path(3))}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn ownerid_bind_assigns_to_user_or_team() {
    let t = start().await;
    let ann = "odata.include-annotations=\"*\"";
    let r = t
        .send(
            Method::PATCH,
            &session_path(1),
            json!({"ownerid@odata.bind": format!("/systemusers({})", SeedIds::alex())}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = read(
        t.req(
            Method::GET,
            &format!("{}?$select=_ownerid_value", session_path(1)),
        )
        .header("Prefer", ann)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.json["_ownerid_value"], SeedIds::alex().to_string());
    assert_eq!(
        r.json["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "systemuser"
    );
    let r = t
        .send(
            Method::PATCH,
            &session_path(1),
            json!({"ownerid@odata.bind": format!("/teams({})", SeedIds::assigned_team())}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = read(
        t.req(
            Method::GET,
            &format!("{}?$select=_ownerid_value", session_path(1)),
        )
        .header("Prefer", ann)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        r.json["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "team"
    );
    assert_eq!(
        r.json["_ownerid_value@OData.Community.Display.V1.FormattedValue"],
        "Chat Escalations"
    );
    let r = t
        .send(
            Method::PATCH,
            &session_path(1),
            json!({"ownerid@odata.bind": format!("/cb_chatsessions({})", SeedIds::session(2))}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn writing_a_lookup_value_directly_is_refused() {
    let t = start().await;
    let r = t
        .send(
            Method::PATCH,
            &session_path(1),
            json!({"_ownerid_value": SeedIds::alex().to_string()}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "0x80048d19");
}

// ---- team membership ----

#[tokio::test]
async fn team_membership_list_add_and_remove() {
    let t = start().await;
    let r = t
        .get(&format!(
            "systemusers({})/teammembership_association?$select=name",
            SeedIds::demo_agent()
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: HashSet<&str> = r
        .value()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["Chat Agents", "Chat Escalations"]));

    let riley = SeedIds::riley();
    let teams_of_riley = |r: &common::Resp| {
        r.value()
            .iter()
            .map(|v| v["teamid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before = t
        .get(&format!("systemusers({riley})/teammembership_association"))
        .await;
    assert_eq!(
        teams_of_riley(&before),
        vec![SeedIds::default_team().to_string()]
    );

    let add = t
        .send(
            Method::POST,
            &format!(
                "teams({})/teammembership_association/$ref",
                SeedIds::assigned_team()
            ),
            json!({"@odata.id": format!("{}/systemusers({riley})", t.api())}),
        )
        .await;
    assert_eq!(add.status, 204, "{}", add.text);
    let after = t
        .get(&format!("systemusers({riley})/teammembership_association"))
        .await;
    assert_eq!(teams_of_riley(&after).len(), 2);
    let members = t
        .get(&format!(
            "teams({})/teammembership_association?$select=fullname",
            SeedIds::assigned_team()
        ))
        .await;
    assert!(members
        .value()
        .iter()
        .any(|v| v["fullname"] == "Riley Chen"));

    let del = read(
        t.req(
            Method::DELETE,
            &format!(
                "teams({})/teammembership_association({riley})/$ref",
                SeedIds::assigned_team()
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(del.status, 204, "{}", del.text);
    let gone = t
        .get(&format!("systemusers({riley})/teammembership_association"))
        .await;
    assert_eq!(teams_of_riley(&gone).len(), 1);

    let bad = t
        .send(
            Method::POST,
            &format!(
                "teams({})/teammembership_association/$ref",
                SeedIds::assigned_team()
            ),
            json!({"@odata.id": format!("{}/teams({})", t.api(), SeedIds::default_team())}),
        )
        .await;
    assert_eq!(bad.status, 400);
}

// ---- garbage ----

#[tokio::test]
async fn garbage_requests_get_4xx_with_error_json() {
    let t = start().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let cases: Vec<(Method, String, Option<String>)> = vec![
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some("{not json".into()),
        ),
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some("[1,2,3]".into()),
        ),
        (Method::POST, "cb_chatsessions".into(), Some("".into())),
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some(r#"{"cb_unreadcount": "three"}"#.into()),
        ),
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some(r#"{"cb_channel": 7}"#.into()),
        ),
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some(r#"{"cb_unknown": 1}"#.into()),
        ),
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some(r#"{"cb_acceptedon": "yesterday"}"#.into()),
        ),
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some(format!(r#"{{"cb_name": "{}"}}"#, "n".repeat(500))),
        ),
        (
            Method::POST,
            "cb_chatsessions".into(),
            Some(format!(r#"{{"cb_name": "{huge}"}}"#)),
        ),
        (
            Method::PATCH,
            "cb_chatsessions(not-a-guid)".into(),
            Some("{}".into()),
        ),
        (Method::GET, "cb_chatsessions(123".into(), None),
        (Method::GET, "nosuchset".into(), None),
        (Method::GET, "cb_chatsessions?$filter=((((".into(), None),
        (
            Method::GET,
            "cb_chatsessions?$filter=cb_name eq 'unterminated".into(),
            None,
        ),
        (Method::GET, "cb_chatsessions?$top=-1".into(), None),
        (
            Method::GET,
            "cb_chatsessions?$expand=cb_nosuchlookup".into(),
            None,
        ),
        (
            Method::GET,
            "cb_chatsessions?$expand=cb_configuration($expand=ownerid".into(),
            None,
        ),
        (Method::GET, "cb_chatsessions/$count?$top=1".into(), None),
        (Method::DELETE, "cb_chatsessions/$count".into(), None),
        (Method::GET, "cb_chatsessions?$count=maybe".into(), None),
        (
            Method::GET,
            "cb_chatsessions?$filter=a eq 1&$filter=b eq 2".into(),
            None,
        ),
        (Method::PUT, "cb_chatsessions".into(), Some("{}".into())),
        (
            Method::GET,
            "teams(00000000-0000-0000-0000-000000000000)/nosuchnav".into(),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let mut req = t.req(method.clone(), &path);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        let r = read(req.send().await.unwrap()).await;
        assert!(
            r.status.is_client_error(),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        assert!(
            r.error_code().starts_with("0x"),
            "{method} {path}: {}",
            r.text
        );
        assert!(r.json["error"]["message"].is_string(), "{method} {path}");
    }
    // Still alive.
    assert_eq!(t.get("WhoAmI").await.status, 200);
}

// ---- the add-on's server-side behaviour ----

async fn session(t: &common::T, id: &str) -> Value {
    t.get(&format!("cb_chatsessions({id})")).await.json
}

#[tokio::test]
async fn customer_message_updates_session_counters_and_etag() {
    let t = start().await;
    let id = SeedIds::session(2).to_string();
    let before = session(&t, &id).await;
    t.emu.advance_clock(30);
    t.create("cb_chatmessages", json!({"cb_chatsession@odata.bind": format!("/cb_chatsessions({id})"), "cb_direction": 1, "cb_body": "Any news?"}))
        .await;
    let after = session(&t, &id).await;
    assert_eq!(
        after["cb_unreadcount"],
        before["cb_unreadcount"].as_i64().unwrap() + 1
    );
    assert_eq!(after["cb_lastmessagepreview"], "Any news?");
    assert_eq!(after["cb_lastcustomermessageon"], "2026-11-21T09:00:30Z");
    assert_eq!(after["modifiedon"], "2026-11-21T09:00:30Z");
    assert_ne!(after["@odata.etag"], before["@odata.etag"]);
}

#[tokio::test]
async fn agent_message_resets_unread_count() {
    let t = start().await;
    let id = SeedIds::session(2).to_string();
    assert!(session(&t, &id).await["cb_unreadcount"].as_i64().unwrap() > 0);
    t.create("cb_chatmessages", json!({"cb_chatsession@odata.bind": format!("/cb_chatsessions({id})"), "cb_direction": 2, "cb_body": "Replacement is on its way."}))
        .await;
    let s = session(&t, &id).await;
    assert_eq!(s["cb_unreadcount"], 0);
    assert_eq!(s["cb_lastagentmessageon"], "2026-11-21T09:00:00Z");
    assert_eq!(s["cb_lastmessagepreview"], "Replacement is on its way.");
}

#[tokio::test]
async fn blocking_a_number_closes_its_active_sessions_and_drops_its_messages() {
    let t = start().await;
    let id = SeedIds::session(1).to_string();
    t.create(
        "cb_blockednumbers",
        json!({"cb_number": "+14155550101", "cb_channel": 1}),
    )
    .await;
    let s = session(&t, &id).await;
    assert_eq!(s["statecode"], 1);
    assert_eq!(s["statuscode"], 3);
    let unread = s["cb_unreadcount"].clone();
    let r = t
        .send(Method::POST, "cb_chatmessages", json!({"cb_chatsession@odata.bind": format!("/cb_chatsessions({id})"), "cb_direction": 1, "cb_body": "spam"}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), "0x80040265");
    assert_eq!(session(&t, &id).await["cb_unreadcount"], unread);
    // Other sessions are untouched.
    assert_eq!(
        session(&t, &SeedIds::session(3).to_string()).await["statecode"],
        0
    );
}

#[tokio::test]
async fn new_session_for_a_never_accepted_number_is_first_contact() {
    let t = start().await;
    let cfg = format!("/cb_configurations({})", SeedIds::whatsapp_config());
    let new = t
        .create("cb_chatsessions", json!({"cb_name": "New Person", "cb_customernumber": "+15559990001", "cb_configuration@odata.bind": cfg}))
        .await;
    let s = session(&t, &new).await;
    assert_eq!(s["cb_firstcontact"], true);
    assert_eq!(s["cb_channel"], 1, "channel comes from the configuration");
    assert_eq!(s["cb_unreadcount"], 0);
    // Tom Becker's number was accepted before.
    let again = t
        .create("cb_chatsessions", json!({"cb_name": "Tom Becker", "cb_customernumber": "+4915155500102", "cb_channel": 1, "cb_configuration@odata.bind": cfg}))
        .await;
    assert_eq!(session(&t, &again).await["cb_firstcontact"], false);
}

#[tokio::test]
async fn chat_request_gets_expiry_from_its_configuration() {
    let t = start().await;
    let id = t
        .create(
            "cb_chatrequests",
            json!({
                "cb_kind": 1,
                "cb_chatsession@odata.bind": format!("/cb_chatsessions({})", SeedIds::session(4)),
                "cb_requestedto@odata.bind": format!("/systemusers({})", SeedIds::alex()),
            }),
        )
        .await;
    let r = t.get(&format!("cb_chatrequests({id})")).await;
    // WhatsApp's request timeout is 10 minutes; the clock is at 09:00:00.
    assert_eq!(r.json["cb_expireson"], "2026-11-21T09:10:00Z");
    assert_eq!(r.json["statuscode"], 1);
    assert_eq!(
        r.json["_cb_requestedby_value"],
        SeedIds::demo_agent().to_string()
    );
}

// ---- change tracking ----

const MORGAN: &str = "morgan.lee@chatbell.example";

#[tokio::test]
async fn change_tracking_needs_org_level_read() {
    let t = start().await;
    let r = read(
        t.req(Method::GET, "cb_chatsessions?$select=cb_name")
            .header("Prefer", "odata.track-changes")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.error_code(), "0x80040220");
    t.emu
        .set_org_level_read(chatbell_emulator::DEMO_AGENT_EMAIL, true)
        .unwrap();
    let r = read(
        t.req(Method::GET, "cb_chatsessions?$select=cb_name")
            .header("Prefer", "odata.track-changes")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn track_changes_returns_delta_link_then_changes_and_deletions() {
    let t = start().await;
    let tok = t.token_for(MORGAN);
    let r = read(
        t.req_as(
            &tok,
            Method::GET,
            "cb_chatsessions?$select=cb_name,cb_unreadcount",
        )
        .header("Prefer", "odata.track-changes")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.value().len(), 5);
    assert!(r
        .header("preference-applied")
        .unwrap()
        .contains("odata.track-changes"));
    let delta = r.json["@odata.deltaLink"].as_str().unwrap().to_string();
    assert!(delta.contains("$deltatoken="), "{delta}");

    // Nothing changed yet.
    let r = read(t.http.get(&delta).bearer_auth(&tok).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.value().is_empty());

    // A new session, a message on session 2 (which updates it), a deleted session.
    let new = t.create("cb_chatsessions", json!({"cb_name": "Delta Person", "cb_customernumber": "+15559990002", "cb_channel": 2})).await;
    t.create("cb_chatmessages", json!({"cb_chatsession@odata.bind": format!("/{}", session_path(2)), "cb_direction": 1, "cb_body": "hi"})).await;
    let gone = SeedIds::session(5);
    // Session 5 has messages: their lookups are cleared, then it is deleted.
    let del = read(
        t.req(Method::DELETE, &session_path(5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(del.status, 204, "{}", del.text);

    let r = read(t.http.get(&delta).bearer_auth(&tok).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/$delta"));
    let ids: Vec<String> = r
        .value()
        .iter()
        .filter_map(|v| v["cb_chatsessionid"].as_str().map(str::to_string))
        .collect();
    assert!(
        ids.contains(&new) && ids.contains(&SeedIds::session(2).to_string()),
        "{}",
        r.text
    );
    let deleted: Vec<&Value> = r
        .value()
        .iter()
        .filter(|v| v["reason"] == "deleted")
        .collect();
    assert_eq!(deleted.len(), 1, "{}", r.text);
    assert_eq!(deleted[0]["id"], gone.to_string());
    assert_eq!(
        deleted[0]["@odata.context"],
        format!("{}/$metadata#cb_chatsessions/$deletedEntity", t.api())
    );
    // The new delta link sees nothing more.
    let next = r.json["@odata.deltaLink"].as_str().unwrap();
    let r = read(t.http.get(next).bearer_auth(&tok).send().await.unwrap()).await;
    assert!(r.value().is_empty(), "{}", r.text);
}

#[tokio::test]
async fn track_changes_rejects_filter_orderby_and_top() {
    let t = start().await;
    let tok = t.token_for(MORGAN);
    for q in [
        "$filter=statecode eq 0",
        "$orderby=cb_name",
        "$top=1",
        "$expand=cb_configuration",
    ] {
        let r = read(
            t.req_as(&tok, Method::GET, &format!("cb_chatsessions?{q}"))
                .header("Prefer", "odata.track-changes")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 400, "{q}");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("isn't supported when Change Tracking is enabled"),
            "{}",
            r.text
        );
    }
}

#[tokio::test]
async fn track_changes_pages_with_next_links() {
    let t = start().await;
    let tok = t.token_for(MORGAN);
    let mut url = format!("{}/cb_chatsessions?$select=cb_name", t.api());
    let mut rows = 0;
    let delta = loop {
        let r = read(
            t.http
                .get(&url)
                .bearer_auth(&tok)
                .header("Prefer", "odata.track-changes,odata.maxpagesize=2")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        rows += r.value().len();
        if let Some(n) = r.json.get("@odata.nextLink").and_then(Value::as_str) {
            url = n.to_string();
            continue;
        }
        break r.json["@odata.deltaLink"].as_str().unwrap().to_string();
    };
    assert_eq!(rows, 5);
    assert!(delta.contains("$deltatoken="));
}

#[tokio::test]
async fn expired_delta_token_fails_with_0x80044352() {
    let t = start().await;
    let tok = t.token_for(MORGAN);
    let initial = |t: &common::T| {
        t.req_as(&tok, Method::GET, "cb_chatsessions?$select=cb_name")
            .header("Prefer", "odata.track-changes")
    };
    let r = read(initial(&t).send().await.unwrap()).await;
    let delta = r.json["@odata.deltaLink"].as_str().unwrap().to_string();
    // Expired through the test endpoint.
    let e = t.admin(Method::POST, "changetracking/expire", None).await;
    assert_eq!(e.status, 200);
    let r = read(t.http.get(&delta).bearer_auth(&tok).send().await.unwrap()).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), "0x80044352");

    // Expired by age (7 days by default).
    let r = read(initial(&t).send().await.unwrap()).await;
    let delta = r.json["@odata.deltaLink"].as_str().unwrap().to_string();
    t.emu.advance_clock(8 * 86400);
    let tok = t.token_for(MORGAN);
    let r = read(t.http.get(&delta).bearer_auth(&tok).send().await.unwrap()).await;
    assert_eq!(r.error_code(), "0x80044352", "{}", r.text);
}
