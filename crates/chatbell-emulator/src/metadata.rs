//! Table definitions under `EntityDefinitions`, and the caller's privileges
//! (`systemusers(id)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()`), both in
//! the org's names ([`crate::profile`]).
//!
//! As Dataverse serves them (learn.microsoft.com, power-apps/developer/
//! data-platform/webapi/query-metadata-web-api and retrieve-metadata-name-
//! metadataid): `EntityDefinitions` and `EntityDefinitions(LogicalName='x')` or
//! `EntityDefinitions(<MetadataId>)`, with `$select` and `$expand=Attributes`;
//! `…/Attributes`, `…/Attributes(LogicalName='x')` and the attributes of one
//! type cast (`…/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`,
//! `StatusAttributeMetadata`, `StateAttributeMetadata`, `LookupAttributeMetadata`)
//! with `$expand=OptionSet`; `…/ManyToOneRelationships`. Labels are English
//! only (`LanguageCode` 1033).
//!
//! Deviations kept on purpose: `$filter` on definitions takes comparisons of a
//! string or boolean property with `eq`/`ne`, joined by `and`/`or` (no
//! functions, no parentheses); no `$orderby`, paging or `RetrieveMetadataChanges`;
//! the org holds ChatBell's tables and two of Dataverse's own (`account`,
//! `contact`, a few columns each) for discovery to tell apart.

use crate::error::{codes, ApiError};
use crate::profile::{OrgProfile, OrgTable};
use crate::schema::{ColType, Column};
use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// A privilege's verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Create,
    Read,
    Write,
    Delete,
    Append,
    AppendTo,
    Assign,
    Share,
}

impl Verb {
    /// Every verb, in Dataverse's order.
    pub const ALL: [Verb; 8] = [
        Verb::Create,
        Verb::Read,
        Verb::Write,
        Verb::Delete,
        Verb::Append,
        Verb::AppendTo,
        Verb::Assign,
        Verb::Share,
    ];

    /// As in a privilege's name (`prvRead…`).
    pub fn word(self) -> &'static str {
        match self {
            Verb::Create => "Create",
            Verb::Read => "Read",
            Verb::Write => "Write",
            Verb::Delete => "Delete",
            Verb::Append => "Append",
            Verb::AppendTo => "AppendTo",
            Verb::Assign => "Assign",
            Verb::Share => "Share",
        }
    }

    /// Parses `read`, `Read`, `appendto`, ...
    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL
            .into_iter()
            .find(|v| v.word().eq_ignore_ascii_case(s))
    }
}

/// The privilege's name in the org: `prv` + verb + the table's schema name.
pub fn privilege_name(t: &OrgTable, verb: Verb) -> String {
    format!("prv{}{}", verb.word(), t.schema_name)
}

/// A stable id for a definition.
fn id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, parts.join("/").as_bytes())
}

fn label(text: &str) -> Value {
    let l = json!({"Label": text, "LanguageCode": 1033});
    json!({"LocalizedLabels": [l.clone()], "UserLocalizedLabel": l})
}

/// One attribute as the org defines it.
#[derive(Debug, Clone)]
struct Attr {
    logical: String,
    schema: String,
    kind: &'static str,
    max_length: Option<usize>,
    targets: Vec<String>,
    options: Option<Vec<(i64, String)>>,
    custom: bool,
}

impl Attr {
    fn type_cast(&self) -> &'static str {
        match self.kind {
            "Picklist" => "PicklistAttributeMetadata",
            "Status" => "StatusAttributeMetadata",
            "State" => "StateAttributeMetadata",
            "Lookup" | "Owner" => "LookupAttributeMetadata",
            "String" => "StringAttributeMetadata",
            "Memo" => "MemoAttributeMetadata",
            "Integer" => "IntegerAttributeMetadata",
            "Boolean" => "BooleanAttributeMetadata",
            "DateTime" => "DateTimeAttributeMetadata",
            "BigInt" => "BigIntAttributeMetadata",
            _ => "AttributeMetadata",
        }
    }

    fn json(&self, entity: &str, with_options: bool) -> Value {
        let mut m = Map::new();
        m.insert(
            "@odata.type".into(),
            Value::String(format!("#Microsoft.Dynamics.CRM.{}", self.type_cast())),
        );
        m.insert("MetadataId".into(), json!(id(&[entity, &self.logical])));
        m.insert("LogicalName".into(), json!(self.logical));
        m.insert("SchemaName".into(), json!(self.schema));
        m.insert("EntityLogicalName".into(), json!(entity));
        m.insert("AttributeType".into(), json!(self.kind));
        m.insert(
            "AttributeTypeName".into(),
            json!({"Value": format!("{}Type", self.kind)}),
        );
        m.insert("DisplayName".into(), label(&self.schema));
        m.insert("IsCustomAttribute".into(), json!(self.custom));
        m.insert("IsValidForRead".into(), json!(true));
        if let Some(n) = self.max_length {
            m.insert("MaxLength".into(), json!(n));
        }
        if !self.targets.is_empty() {
            m.insert("Targets".into(), json!(self.targets));
        }
        if with_options {
            if let Some(opts) = &self.options {
                let options: Vec<Value> = opts
                    .iter()
                    .map(|(v, l)| json!({"Value": v, "Label": label(l)}))
                    .collect();
                m.insert(
                    "OptionSet".into(),
                    json!({"MetadataId": id(&[entity, &self.logical, "options"]), "Options": options}),
                );
            }
        }
        Value::Object(m)
    }
}

/// One table as the org defines it.
#[derive(Debug, Clone)]
struct Entity {
    logical: String,
    schema: String,
    set: String,
    display: String,
    key: String,
    primary_name: String,
    custom: bool,
    ownership: &'static str,
    attrs: Vec<Attr>,
    /// (referencing attribute, referenced entity, referenced key, navigation property).
    many_to_one: Vec<(String, String, String, String)>,
}

impl Entity {
    fn json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("MetadataId".into(), json!(id(&[&self.logical])));
        m.insert("LogicalName".into(), json!(self.logical));
        m.insert("SchemaName".into(), json!(self.schema));
        m.insert("EntitySetName".into(), json!(self.set));
        m.insert("DisplayName".into(), label(&self.display));
        m.insert("PrimaryIdAttribute".into(), json!(self.key));
        m.insert("PrimaryNameAttribute".into(), json!(self.primary_name));
        m.insert("IsCustomEntity".into(), json!(self.custom));
        m.insert("OwnershipType".into(), json!(self.ownership));
        m.insert("ChangeTrackingEnabled".into(), json!(true));
        m
    }
}

fn kind_of(c: &Column, t: &OrgTable) -> &'static str {
    match c.ty {
        ColType::Key => "Uniqueidentifier",
        ColType::Str(n) if n > 4000 || n >= 2000 && c.name != t.reference.primary_name => "Memo",
        ColType::Str(_) => "String",
        ColType::Int(Some(_)) if c.name == "statuscode" => "Status",
        ColType::Int(Some(_)) if c.name == "statecode" => "State",
        ColType::Int(Some(_)) => "Picklist",
        ColType::Int(None) => "Integer",
        ColType::Bool => "Boolean",
        ColType::DateTime => "DateTime",
        ColType::Version => "BigInt",
        ColType::Lookup(_) if c.name == "_ownerid_value" => "Owner",
        ColType::Lookup(_) => "Lookup",
    }
}

fn entities(p: &OrgProfile) -> Vec<Entity> {
    let mut out: Vec<Entity> = p
        .tables()
        .iter()
        .map(|t| {
            let r = t.reference;
            let mut attrs = Vec::new();
            let mut many_to_one = Vec::new();
            for c in &r.columns {
                let read = t.col(c.name);
                let (logical, is_lookup) = match (
                    c.nav_name(),
                    read.strip_prefix('_')
                        .and_then(|s| s.strip_suffix("_value")),
                ) {
                    (Some(_), Some(l)) => (l.to_string(), true),
                    _ => (read.clone(), false),
                };
                let targets: Vec<String> = match c.ty {
                    ColType::Lookup(ts) => ts
                        .iter()
                        .filter_map(|l| p.tables().iter().find(|x| x.reference.logical == *l))
                        .map(|x| x.logical.clone())
                        .collect(),
                    _ => Vec::new(),
                };
                if is_lookup {
                    let nav = c.nav_name().map(|n| t.nav(n)).unwrap_or_default();
                    for target in &targets {
                        let key = p
                            .by_logical(target)
                            .map(|x| x.col(x.reference.key))
                            .unwrap_or_default();
                        many_to_one.push((logical.clone(), target.clone(), key, nav.clone()));
                    }
                }
                let options = match c.ty {
                    ColType::Int(Some(values)) => Some(
                        values
                            .iter()
                            .map(|(v, l)| (t.value_to_org(c.name, *v), (*l).to_string()))
                            .collect(),
                    ),
                    _ => None,
                };
                let custom =
                    logical != "statecode" && logical != "statuscode" && logical.contains('_');
                attrs.push(Attr {
                    schema: logical.clone(),
                    logical,
                    kind: kind_of(c, t),
                    max_length: match c.ty {
                        ColType::Str(n) => Some(n),
                        _ => None,
                    },
                    targets,
                    options,
                    custom,
                });
            }
            let custom = r.logical.starts_with("cb_");
            Entity {
                logical: t.logical.clone(),
                schema: t.schema_name.clone(),
                set: t.set.clone(),
                display: t.display_name.clone(),
                key: t.col(r.key),
                primary_name: t.col(r.primary_name),
                custom,
                ownership: if custom { "UserOwned" } else { "BusinessOwned" },
                attrs,
                many_to_one,
            }
        })
        .collect();
    // Two of Dataverse's own tables, for discovery to tell apart.
    for (logical, schema_name, name, extra) in [
        (
            "account",
            "Account",
            "name",
            &[
                ("telephone1", "String"),
                ("revenue", "Money"),
                ("accountcategorycode", "Picklist"),
            ][..],
        ),
        (
            "contact",
            "Contact",
            "fullname",
            &[
                ("mobilephone", "String"),
                ("birthdate", "DateTime"),
                ("gendercode", "Picklist"),
            ][..],
        ),
    ] {
        let mut attrs = vec![
            Attr {
                logical: format!("{logical}id"),
                schema: format!("{schema_name}Id"),
                kind: "Uniqueidentifier",
                max_length: None,
                targets: vec![],
                options: None,
                custom: false,
            },
            Attr {
                logical: name.into(),
                schema: name.into(),
                kind: "String",
                max_length: Some(160),
                targets: vec![],
                options: None,
                custom: false,
            },
            Attr {
                logical: "createdon".into(),
                schema: "CreatedOn".into(),
                kind: "DateTime",
                max_length: None,
                targets: vec![],
                options: None,
                custom: false,
            },
            Attr {
                logical: "modifiedon".into(),
                schema: "ModifiedOn".into(),
                kind: "DateTime",
                max_length: None,
                targets: vec![],
                options: None,
                custom: false,
            },
            Attr {
                logical: "ownerid".into(),
                schema: "OwnerId".into(),
                kind: "Owner",
                max_length: None,
                targets: vec!["systemuser".into(), "team".into()],
                options: None,
                custom: false,
            },
            Attr {
                logical: "statecode".into(),
                schema: "StateCode".into(),
                kind: "State",
                max_length: None,
                targets: vec![],
                options: Some(vec![(0, "Active".into()), (1, "Inactive".into())]),
                custom: false,
            },
            Attr {
                logical: "statuscode".into(),
                schema: "StatusCode".into(),
                kind: "Status",
                max_length: None,
                targets: vec![],
                options: Some(vec![(1, "Active".into()), (2, "Inactive".into())]),
                custom: false,
            },
        ];
        for (n, k) in extra {
            attrs.push(Attr {
                logical: (*n).into(),
                schema: (*n).into(),
                kind: k,
                max_length: (*k == "String").then_some(50),
                targets: vec![],
                options: (*k == "Picklist").then(|| vec![(1, "One".into()), (2, "Two".into())]),
                custom: false,
            });
        }
        out.push(Entity {
            logical: logical.into(),
            schema: schema_name.into(),
            set: format!("{logical}s"),
            display: schema_name.into(),
            key: format!("{logical}id"),
            primary_name: name.into(),
            custom: false,
            ownership: "UserOwned",
            attrs,
            many_to_one: vec![(
                "ownerid".into(),
                "systemuser".into(),
                "systemuserid".into(),
                "ownerid".into(),
            )],
        });
    }
    out
}

fn unsupported(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        codes::QUERY,
        format!("The emulator does not support {what} on table definitions."),
    )
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        format!("Could not find {what}."),
    )
}

/// `LogicalName='x'` or a MetadataId.
fn find<'a, T>(
    items: &'a [T],
    key: &str,
    logical: impl Fn(&T) -> &str,
    metadata_id: impl Fn(&T) -> Uuid,
) -> Result<&'a T, ApiError> {
    let key = key.trim();
    if let Some(name) = key
        .strip_prefix("LogicalName=")
        .map(|s| s.trim_matches('\''))
    {
        return items
            .iter()
            .find(|x| logical(x) == name)
            .ok_or_else(|| not_found(&format!("a definition with LogicalName = '{name}'")));
    }
    let id = Uuid::parse_str(key)
        .map_err(|_| ApiError::query(format!("'{key}' is not a valid key for a definition.")))?;
    items
        .iter()
        .find(|x| metadata_id(x) == id)
        .ok_or_else(|| not_found(&format!("a definition with MetadataId = '{id}'")))
}

/// A `$filter` on definitions: `Prop eq 'v'` / `Prop eq true`, with `and`/`or`.
fn filter_matches(src: &str, item: &Map<String, Value>) -> Result<bool, ApiError> {
    let or_parts: Vec<&str> = src.split(" or ").collect();
    let mut any = false;
    for part in or_parts {
        let mut all = true;
        for cmp in part.split(" and ") {
            let words: Vec<&str> = cmp.trim().splitn(3, ' ').collect();
            let [prop, op, lit] = words.as_slice() else {
                return Err(unsupported(&format!("the filter {cmp:?}")));
            };
            let want = match *lit {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                s if s.starts_with('\'') && s.ends_with('\'') && s.len() >= 2 => {
                    Value::String(s[1..s.len() - 1].replace("''", "'"))
                }
                _ => return Err(unsupported(&format!("the literal {lit}"))),
            };
            let have = item.get(*prop).cloned().unwrap_or(Value::Null);
            let eq = have == want;
            all &= match *op {
                "eq" => eq,
                "ne" => !eq,
                _ => return Err(unsupported(&format!("the operator {op}"))),
            };
        }
        any |= all;
    }
    Ok(any)
}

fn select(mut m: Map<String, Value>, sel: Option<&str>, always: &[&str]) -> Map<String, Value> {
    if let Some(sel) = sel {
        let wanted: Vec<&str> = sel.split(',').map(str::trim).collect();
        m.retain(|k, _| {
            k.starts_with('@') || always.contains(&k.as_str()) || wanted.contains(&k.as_str())
        });
    }
    m
}

/// Serves a `GET` under `EntityDefinitions`.
pub fn serve(
    p: &OrgProfile,
    base: &str,
    segs: &[String],
    query: &[(String, String)],
) -> Result<Value, ApiError> {
    let mut sel = None;
    let mut filter = None;
    let mut expand = None;
    for (k, v) in query {
        match k.as_str() {
            "$select" => sel = Some(v.as_str()),
            "$filter" => filter = Some(v.as_str()),
            "$expand" => expand = Some(v.as_str()),
            other => return Err(unsupported(&format!("the query option {other}"))),
        }
    }
    let all = entities(p);
    let ctx = format!(
        "{base}{}/$metadata#EntityDefinitions",
        crate::odata::API_PREFIX
    );
    let first_key = segs.first().and_then(|s| {
        s.strip_prefix("EntityDefinitions(")
            .and_then(|k| k.strip_suffix(')'))
    });
    match (first_key, &segs[1..]) {
        (None, []) => {
            let mut value = Vec::new();
            for e in &all {
                let mut m = e.json();
                if let Some(f) = filter {
                    if !filter_matches(f, &m)? {
                        continue;
                    }
                }
                if let Some(x) = expand {
                    m.insert("Attributes".into(), expand_attributes(e, x)?);
                }
                value.push(Value::Object(select(m, sel, &["MetadataId", "Attributes"])));
            }
            Ok(json!({"@odata.context": ctx, "value": value}))
        }
        (Some(k), []) => {
            let e = find(&all, k, |e| &e.logical, |e| id(&[&e.logical]))?;
            let mut m = e.json();
            if let Some(x) = expand {
                m.insert("Attributes".into(), expand_attributes(e, x)?);
            }
            let mut m = select(m, sel, &["MetadataId", "Attributes"]);
            m.insert("@odata.context".into(), json!(format!("{ctx}/$entity")));
            Ok(Value::Object(m))
        }
        (Some(k), [what, rest @ ..]) => {
            let e = find(&all, k, |e| &e.logical, |e| id(&[&e.logical]))?;
            let (name, key) = match what.split_once('(') {
                Some((n, k)) => (n, Some(k.trim_end_matches(')'))),
                None => (what.as_str(), None),
            };
            match (name, key, rest) {
                ("Attributes", None, cast) => {
                    let cast = match cast {
                        [] => None,
                        [c] => Some(c.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(c)),
                        _ => return Err(unsupported("this path")),
                    };
                    let with_options = options_expanded(expand)?;
                    let mut value = Vec::new();
                    for a in &e.attrs {
                        if cast.is_some_and(|c| c != a.type_cast()) {
                            continue;
                        }
                        let Value::Object(m) = a.json(&e.logical, with_options) else {
                            continue;
                        };
                        if let Some(f) = filter {
                            if !filter_matches(f, &m)? {
                                continue;
                            }
                        }
                        value.push(Value::Object(select(
                            m,
                            sel,
                            &["MetadataId", "OptionSet", "@odata.type"],
                        )));
                    }
                    Ok(
                        json!({"@odata.context": format!("{ctx}('{}')/Attributes", e.logical), "value": value}),
                    )
                }
                ("Attributes", Some(k), []) => {
                    let a = find(
                        &e.attrs,
                        k,
                        |a| &a.logical,
                        |a| id(&[&e.logical, &a.logical]),
                    )?;
                    let Value::Object(m) = a.json(&e.logical, options_expanded(expand)?) else {
                        return Err(not_found("the attribute"));
                    };
                    Ok(Value::Object(select(
                        m,
                        sel,
                        &["MetadataId", "OptionSet", "@odata.type"],
                    )))
                }
                ("ManyToOneRelationships", None, []) => {
                    let value: Vec<Value> = e
                        .many_to_one
                        .iter()
                        .map(|(attr, target, key, nav)| {
                            let m = json!({
                                "MetadataId": id(&[&e.logical, attr, target]),
                                "SchemaName": format!("{}_{}_{}", e.logical, attr, target),
                                "ReferencingEntity": e.logical,
                                "ReferencingAttribute": attr,
                                "ReferencedEntity": target,
                                "ReferencedAttribute": key,
                                "ReferencingEntityNavigationPropertyName": nav,
                                "RelationshipType": "OneToManyRelationship",
                            });
                            match m {
                                Value::Object(m) => Value::Object(select(m, sel, &["MetadataId"])),
                                other => other,
                            }
                        })
                        .collect();
                    Ok(
                        json!({"@odata.context": format!("{ctx}('{}')/ManyToOneRelationships", e.logical), "value": value}),
                    )
                }
                _ => Err(unsupported("this path")),
            }
        }
        _ => Err(unsupported("this path")),
    }
}

/// `$expand=OptionSet` or `OptionSet($select=Options)` (also `GlobalOptionSet`).
fn options_expanded(expand: Option<&str>) -> Result<bool, ApiError> {
    match expand {
        None => Ok(false),
        Some(x) => {
            for item in x.split(',') {
                let nav = item.split('(').next().unwrap_or("").trim();
                if !matches!(nav, "OptionSet" | "GlobalOptionSet") {
                    return Err(unsupported(&format!("$expand={item}")));
                }
            }
            Ok(true)
        }
    }
}

/// `$expand=Attributes` or `Attributes($select=…)` on a table definition.
fn expand_attributes(e: &Entity, x: &str) -> Result<Value, ApiError> {
    let (nav, inner) = match x.split_once('(') {
        Some((n, i)) => (n.trim(), Some(i.trim_end_matches(')'))),
        None => (x.trim(), None),
    };
    if nav != "Attributes" {
        return Err(unsupported(&format!("$expand={x}")));
    }
    let sel = match inner {
        None => None,
        Some(i) => match i.split_once('=') {
            Some(("$select", s)) => Some(s),
            _ => return Err(unsupported(&format!("$expand={x}"))),
        },
    };
    Ok(Value::Array(
        e.attrs
            .iter()
            .filter_map(|a| match a.json(&e.logical, false) {
                Value::Object(m) => Some(Value::Object(select(
                    m,
                    sel,
                    &["MetadataId", "@odata.type"],
                ))),
                _ => None,
            })
            .collect(),
    ))
}

/// `RetrieveUserPrivileges`: every privilege on the org's tables at depth
/// Global, less the ones denied to this user.
pub fn user_privileges(
    p: &OrgProfile,
    base: &str,
    business_unit: Uuid,
    denied: &std::collections::BTreeSet<(Verb, &'static str)>,
) -> Value {
    let mut list = Vec::new();
    for t in p.tables() {
        for v in Verb::ALL {
            if denied.contains(&(v, t.reference.logical)) {
                continue;
            }
            let name = privilege_name(t, v);
            list.push(json!({
                "BusinessUnitId": business_unit,
                "Depth": "Global",
                "PrivilegeId": id(&["privilege", &name]),
                "PrivilegeName": name,
            }));
        }
    }
    json!({
        "@odata.context": format!("{base}{}/$metadata#Microsoft.Dynamics.CRM.RetrieveUserPrivilegesResponse", crate::odata::API_PREFIX),
        "RolePrivileges": list,
    })
}

/// The refusal of a request the user has no privilege for.
pub fn missing_privilege(p: &OrgProfile, user: Uuid, t: &OrgTable, verb: Verb) -> ApiError {
    let name = privilege_name(t, verb);
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::PRIVILEGE,
        format!(
            "Principal user (Id={user}, type=8, roleCount=1, privilegeCount={}, accessMode=0), is missing {name} privilege (Id={}) on OTC={} for entity '{}'.",
            p.tables().len() * Verb::ALL.len() - 1,
            id(&["privilege", &name]),
            10_000 + p.tables().iter().position(|x| x.logical == t.logical).unwrap_or(0),
            t.logical
        ),
    )
}
