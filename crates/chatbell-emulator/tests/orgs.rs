//! An org with its own schema (`--org`): the Web API in the org's names and
//! values, its table definitions under `EntityDefinitions`, and security roles
//! (privileges that can be taken away, and `RetrieveUserPrivileges`).
#![allow(clippy::unwrap_used)]

mod common;

use chatbell_emulator::metadata::Verb;
use chatbell_emulator::profile::OrgProfile;
use chatbell_emulator::{Options, OrgClock, Seed, SeedIds, DEMO_AGENT_EMAIL};
use common::{start, start_with, T};
use reqwest::Method;
use serde_json::{json, Value};

async fn contoso() -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/orgs/contoso.profile.toml");
    start_with(
        Options::default()
            .seed(Seed::Demo)
            .clock(OrgClock::manual_default())
            .org(OrgProfile::load(&path).unwrap()),
    )
    .await
}

#[tokio::test]
async fn a_mapped_org_serves_its_own_names_and_values() {
    let t = contoso().await;
    let id = SeedIds::session(1);
    let r = t
        .get(&format!(
            "cts_conversations({id})?$select=cts_title,statuscode,cts_medium,_cts_setup_value&$expand=cts_Setup($select=cts_label)"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["cts_conversationid"], id.to_string());
    assert!(r.json["cts_title"].is_string(), "{}", r.text);
    assert_eq!(r.json["statuscode"], 866310020, "open, in the org's value");
    assert_eq!(
        r.json["cts_medium"], 866310000,
        "WhatsApp, in the org's value"
    );
    assert!(r.json["cts_Setup"]["cts_label"].is_string(), "{}", r.text);
    assert!(r.json["@odata.context"]
        .as_str()
        .unwrap()
        .contains("#cts_conversations("));

    // A filter on a choice value, in the org's values.
    let r = t
        .get("cts_conversations?$select=cts_title&$filter=statuscode eq 866310020 and cts_medium eq 866310000")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.value().is_empty());
    let r = t
        .get("cts_conversations?$select=cts_title&$filter=statuscode eq 1")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.value().is_empty(), "1 is no status of this org");

    // A write with the org's names, values and navigation properties.
    let created = t
        .create(
            "cts_blocklistentries",
            json!({"cts_phone": "+15550001111", "cts_medium": 866310001}),
        )
        .await;
    let r = t.get(&format!("cts_blocklistentries({created})")).await;
    assert_eq!(r.json["cts_medium"], 866310001, "{}", r.text);
    let r = t
        .send(
            Method::POST,
            "cts_conversationmessages",
            json!({
                "cts_Conversation@odata.bind": format!("/cts_conversations({id})"),
                "cts_flow": 866310031, "cts_text": "On my way"
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

#[tokio::test]
async fn a_mapped_org_refuses_the_reference_names() {
    let t = contoso().await;
    let r = t.get("cb_chatsessions?$select=cb_name").await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = t.get("cts_conversations?$select=cb_name").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), "0x0");
    let m = r.json["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("'cb_name'") && m.contains("cts_conversation"),
        "{m}"
    );
    let r = t
        .send(
            Method::POST,
            "cts_blocklistentries",
            json!({"cts_phone": "+15550001112", "cts_medium": 1}),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "a reference value is no value of this org: {}",
        r.text
    );
}

#[tokio::test]
async fn entity_definitions_describe_the_orgs_tables_columns_choices_and_lookups() {
    let t = contoso().await;
    let r = t
        .get("EntityDefinitions?$select=LogicalName,EntitySetName,SchemaName,PrimaryIdAttribute&$filter=IsCustomEntity eq true")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r
        .value()
        .iter()
        .map(|e| e["LogicalName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"cts_conversation"), "{names:?}");
    assert!(!names.contains(&"account"), "not custom: {names:?}");
    let blocked = r
        .value()
        .iter()
        .find(|e| e["LogicalName"] == "cts_blocklistentry")
        .unwrap();
    assert_eq!(blocked["EntitySetName"], "cts_blocklistentries");
    assert_eq!(blocked["PrimaryIdAttribute"], "cts_blocklistentryid");

    let r = t
        .get("EntityDefinitions(LogicalName='cts_conversation')/Attributes?$select=LogicalName,AttributeType")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let kind = |n: &str| {
        r.value()
            .iter()
            .find(|a| a["LogicalName"] == n)
            .map(|a| a["AttributeType"].clone())
    };
    assert_eq!(kind("cts_setup"), Some(json!("Lookup")));
    assert_eq!(kind("cts_lastinboundon"), Some(json!("DateTime")));
    assert_eq!(kind("statuscode"), Some(json!("Status")));
    assert_eq!(kind("ownerid"), Some(json!("Owner")));
    assert_eq!(kind("cb_name"), None);

    let r = t
        .get("EntityDefinitions(LogicalName='cts_conversation')/Attributes/Microsoft.Dynamics.CRM.StatusAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let options: Vec<(i64, String)> = r.value()[0]["OptionSet"]["Options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["Value"].as_i64().unwrap(),
                o["Label"]["UserLocalizedLabel"]["Label"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        options,
        vec![
            (866310020, "Open".to_string()),
            (866310021, "Closed".to_string()),
            (866310022, "Blocked".to_string())
        ]
    );

    let r = t
        .get("EntityDefinitions(LogicalName='cts_handoverrequest')/ManyToOneRelationships?$select=ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let to_agent = r
        .value()
        .iter()
        .find(|m| m["ReferencingAttribute"] == "cts_toagent")
        .unwrap();
    assert_eq!(to_agent["ReferencedEntity"], "systemuser");
    assert_eq!(
        to_agent["ReferencingEntityNavigationPropertyName"],
        "cts_ToAgent"
    );

    let r = t.get("EntityDefinitions?$orderby=LogicalName").await;
    assert_eq!(r.status, 400, "not served, and said so: {}", r.text);
}

#[tokio::test]
async fn a_privilege_taken_away_is_refused_and_missing_from_retrieve_user_privileges() {
    let t = start().await;
    let me = SeedIds::demo_agent();
    let path = format!("systemusers({me})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()");
    let names = |v: &Value| -> Vec<String> {
        v["RolePrivileges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["PrivilegeName"].as_str().unwrap().to_string())
            .collect()
    };
    let r = t.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(names(&r.json).contains(&"prvAssigncb_chatsession".to_string()));
    assert_eq!(r.json["RolePrivileges"][0]["Depth"], "Global");

    t.emu
        .set_privilege(DEMO_AGENT_EMAIL, Verb::Assign, "cb_chatsession", false)
        .unwrap();
    t.emu
        .set_privilege(DEMO_AGENT_EMAIL, Verb::Read, "cb_blockednumber", false)
        .unwrap();
    let r = t.get(&path).await;
    let now = names(&r.json);
    assert!(!now.contains(&"prvAssigncb_chatsession".to_string()));
    assert!(!now.contains(&"prvReadcb_blockednumber".to_string()));
    assert!(now.contains(&"prvWritecb_chatsession".to_string()));

    let r = t.get("cb_blockednumbers?$select=cb_number").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.error_code(), "0x80040220");
    assert!(r.text.contains("prvReadcb_blockednumber"), "{}", r.text);
    let r = t
        .send(
            Method::PATCH,
            &format!("cb_chatsessions({})", SeedIds::session(1)),
            json!({"ownerid@odata.bind": format!("/systemusers({me})")}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("prvAssigncb_chatsession"), "{}", r.text);
}

#[tokio::test]
async fn privileges_are_taken_away_and_given_back_through_the_test_endpoint() {
    let t = contoso().await;
    let user = format!("users/{DEMO_AGENT_EMAIL}");
    let r = t
        .admin(
            Method::PUT,
            &user,
            Some(json!({"deny": ["read:cb_blockednumber"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["denied"], json!(["read:cb_blockednumber"]));
    let r = t.get("cts_blocklistentries?$select=cts_phone").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.text.contains("prvReadcts_BlocklistEntry"),
        "the org's names: {}",
        r.text
    );
    let r = t
        .admin(
            Method::PUT,
            &user,
            Some(json!({"grant": ["read:cb_blockednumber"]})),
        )
        .await;
    assert_eq!(r.json["denied"], json!([]));
    assert_eq!(
        t.get("cts_blocklistentries?$select=cts_phone").await.status,
        200
    );
    let r = t
        .admin(
            Method::PUT,
            &user,
            Some(json!({"deny": ["peek:cb_blockednumber"]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Change tracking refused for want of organisation-level read names the
    // org's privilege too.
    let r = read_tracked(&t).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("prvReadcts_Conversation"), "{}", r.text);
}

async fn read_tracked(t: &T) -> common::Resp {
    common::read(
        t.req(Method::GET, "cts_conversations?$select=cts_title")
            .header("Prefer", "odata.track-changes")
            .send()
            .await
            .unwrap(),
    )
    .await
}
