//! An org's table definitions and the caller's privileges, as the Web API
//! serves them (learn.microsoft.com: power-apps/developer/data-platform/webapi/
//! query-metadata-web-api; RetrieveUserPrivileges function).
//!
//! Read by discovery ([`crate::inspect`]) and by the org check
//! ([`crate::orgcheck`]).

use crate::client::{Dataverse, DataverseError};
use serde_json::Value;

/// One table's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityDef {
    pub logical: String,
    pub schema_name: String,
    pub set: String,
    pub key: String,
    pub primary_name: String,
    pub custom: bool,
    pub attrs: Vec<AttrDef>,
    /// Filled by [`read_details`].
    pub lookups: Vec<LookupDef>,
}

/// One column's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDef {
    pub logical: String,
    /// `AttributeType`: `String`, `Memo`, `Picklist`, `Status`, `Lookup`, ...
    pub kind: String,
    /// A choice's values and English labels (filled by [`read_details`]).
    pub options: Vec<(i64, String)>,
}

/// A lookup: its column, the table it points to, its navigation property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupDef {
    pub attr: String,
    pub target: String,
    pub nav: String,
}

impl EntityDef {
    /// The column named `logical`.
    pub fn attr(&self, logical: &str) -> Option<&AttrDef> {
        self.attrs.iter().find(|a| a.logical == logical)
    }

    /// The tables a lookup column points to.
    pub fn targets(&self, attr: &str) -> Vec<&str> {
        self.lookups
            .iter()
            .filter(|l| l.attr == attr)
            .map(|l| l.target.as_str())
            .collect()
    }

    /// A lookup column's navigation property.
    pub fn nav(&self, attr: &str) -> Option<&str> {
        self.lookups
            .iter()
            .find(|l| l.attr == attr)
            .map(|l| l.nav.as_str())
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn bad(what: &str) -> DataverseError {
    DataverseError::BadResponse(format!("table definitions: {what}"))
}

/// The definitions of the tables `filter` selects (a `$filter` on
/// `EntityDefinitions`, e.g. `IsCustomEntity eq true`), with their columns'
/// names and types.
pub async fn read_entities(
    dv: &Dataverse,
    filter: Option<&str>,
) -> Result<Vec<EntityDef>, DataverseError> {
    let mut path = String::from(
        "EntityDefinitions?$select=LogicalName,SchemaName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,IsCustomEntity&$expand=Attributes($select=LogicalName,AttributeType)",
    );
    if let Some(f) = filter {
        path.push_str("&$filter=");
        path.push_str(&crate::poll::encode(f));
    }
    let v = dv.get_value(&path).await?;
    let list = v
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no value list"))?;
    Ok(list.iter().map(entity).collect())
}

/// One table's definition by logical name; `None` when the org has no such table.
pub async fn read_entity(
    dv: &Dataverse,
    logical: &str,
) -> Result<Option<EntityDef>, DataverseError> {
    let path = format!(
        "EntityDefinitions(LogicalName='{}')?$select=LogicalName,SchemaName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,IsCustomEntity&$expand=Attributes($select=LogicalName,AttributeType)",
        crate::poll::encode(logical)
    );
    match dv.get_value(&path).await {
        Ok(v) => Ok(Some(entity(&v))),
        Err(DataverseError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

fn entity(v: &Value) -> EntityDef {
    let attrs = v
        .get("Attributes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|a| AttrDef {
                    logical: text(a, "LogicalName"),
                    kind: text(a, "AttributeType"),
                    options: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    EntityDef {
        logical: text(v, "LogicalName"),
        schema_name: text(v, "SchemaName"),
        set: text(v, "EntitySetName"),
        key: text(v, "PrimaryIdAttribute"),
        primary_name: text(v, "PrimaryNameAttribute"),
        custom: v
            .get("IsCustomEntity")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        attrs,
        lookups: Vec::new(),
    }
}

/// Adds the choice columns' values and the lookups' targets and navigation
/// properties to `e`.
pub async fn read_details(dv: &Dataverse, e: &mut EntityDef) -> Result<(), DataverseError> {
    let base = format!(
        "EntityDefinitions(LogicalName='{}')",
        crate::poll::encode(&e.logical)
    );
    for cast in ["PicklistAttributeMetadata", "StatusAttributeMetadata"] {
        let v = dv
            .get_value(&format!(
                "{base}/Attributes/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand=OptionSet($select=Options)"
            ))
            .await?;
        for a in v
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = text(a, "LogicalName");
            let options: Vec<(i64, String)> = a
                .pointer("/OptionSet/Options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|o| {
                    let value = o.get("Value")?.as_i64()?;
                    let label = o
                        .pointer("/Label/UserLocalizedLabel/Label")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    Some((value, label))
                })
                .collect();
            if let Some(attr) = e.attrs.iter_mut().find(|x| x.logical == name) {
                attr.options = options;
            }
        }
    }
    let v = dv
        .get_value(&format!(
            "{base}/ManyToOneRelationships?$select=ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName"
        ))
        .await?;
    e.lookups = v
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| LookupDef {
            attr: text(r, "ReferencingAttribute"),
            target: text(r, "ReferencedEntity"),
            nav: text(r, "ReferencingEntityNavigationPropertyName"),
        })
        .collect();
    Ok(())
}

/// The caller's privileges (`prvReadcb_chatsession`, ...) through their roles
/// and teams: `RetrieveUserPrivileges` of the signed-in user.
pub async fn read_privileges(
    dv: &Dataverse,
    user: uuid::Uuid,
) -> Result<Vec<String>, DataverseError> {
    let v = dv
        .get_value(&format!(
            "systemusers({user})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()"
        ))
        .await?;
    let list = v
        .get("RolePrivileges")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no RolePrivileges"))?;
    Ok(list.iter().map(|p| text(p, "PrivilegeName")).collect())
}
