//! OData pieces of the Web API: query options, the `Prefer` header, row rendering
//! with instance annotations, paging cookies and URL encoding.

use crate::error::{codes, ApiError};
use crate::filter::{Filter, Val};
use crate::schema::{choice_label, schema, ColType, Table};
use crate::store::{OrgData, Row, LOOKUP_LOGICAL};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use uuid::Uuid;

/// The Web API's path prefix.
pub const API_PREFIX: &str = "/api/data/v9.2";
/// Default and maximum page size.
pub const MAX_PAGE: usize = 5000;

/// The annotation term of a formatted value.
pub const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
/// The annotation term of a lookup's target table.
pub const LOGICALNAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
/// The annotation term of a lookup's navigation property.
pub const NAVPROP: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";

/// Parsed `Prefer` header(s).
#[derive(Debug, Clone, Default)]
pub struct Prefer {
    /// `odata.maxpagesize=N`.
    pub maxpagesize: Option<usize>,
    /// `odata.include-annotations="..."` (the quoted value).
    pub annotations: Option<String>,
    /// `return=representation`.
    pub representation: bool,
    /// `odata.track-changes`.
    pub track_changes: bool,
}

impl Prefer {
    /// Reads every `Prefer` header.
    pub fn from_headers(h: &HeaderMap) -> Self {
        let mut p = Prefer::default();
        for v in h.get_all("prefer") {
            let Ok(v) = v.to_str() else { continue };
            for item in split_top(v) {
                let item = item.trim();
                let (k, val) = match item.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                    None => (item, None),
                };
                match (k.to_ascii_lowercase().as_str(), val) {
                    ("odata.maxpagesize", Some(n)) => p.maxpagesize = n.parse().ok(),
                    ("odata.include-annotations", Some(a)) => p.annotations = Some(a.to_string()),
                    ("return", Some(r)) => {
                        p.representation = r.eq_ignore_ascii_case("representation")
                    }
                    ("odata.track-changes", _) => p.track_changes = true,
                    _ => {}
                }
            }
        }
        p
    }

    /// Which annotations to include.
    pub fn annotation_filter(&self) -> Annotations {
        Annotations::parse(self.annotations.as_deref())
    }
}

/// Splits on commas outside double quotes.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// An `odata.include-annotations` filter: `*`, `Namespace.*`, exact terms, and
/// `-pattern` exclusions, comma-separated.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    include: Vec<String>,
    exclude: Vec<String>,
}

fn pattern_matches(p: &str, term: &str) -> bool {
    if p == "*" {
        return true;
    }
    match p.strip_suffix(".*") {
        Some(ns) => term.starts_with(ns) && term[ns.len()..].starts_with('.'),
        None => p == term,
    }
}

impl Annotations {
    /// Parses the preference's value.
    pub fn parse(v: Option<&str>) -> Self {
        let mut a = Annotations::default();
        for p in v
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match p.strip_prefix('-') {
                Some(x) => a.exclude.push(x.to_string()),
                None => a.include.push(p.to_string()),
            }
        }
        a
    }
    /// Whether `term` is to be included.
    pub fn allows(&self, term: &str) -> bool {
        self.include.iter().any(|p| pattern_matches(p, term))
            && !self.exclude.iter().any(|p| pattern_matches(p, term))
    }
    /// Whether any annotation is requested.
    pub fn any(&self) -> bool {
        !self.include.is_empty()
    }
}

/// Query options of a collection request.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// `$select` columns (`None`: all).
    pub select: Option<Vec<String>>,
    /// `$filter` (raw and parsed).
    pub filter: Option<(String, Filter)>,
    /// `$orderby` keys: column and descending.
    pub orderby: Vec<(String, bool)>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$count=true`.
    pub count: bool,
    /// `$skiptoken` (raw cookie).
    pub skiptoken: Option<String>,
    /// `$deltatoken`.
    pub deltatoken: Option<String>,
    /// `$expand` (raw and parsed).
    pub expand: Option<(String, Vec<Expand>)>,
    /// Parameter aliases (`@p1=...`) as the query string gives them, for
    /// `$filter` and `$orderby`.
    pub aliases: Vec<(String, String)>,
}

/// One `$expand` item: a single-valued navigation property (a lookup) and the
/// columns to return of the row it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expand {
    /// The navigation property, e.g. `cb_configuration`.
    pub nav: String,
    /// Its lookup column, e.g. `_cb_configuration_value`.
    pub column: &'static str,
    /// The tables it may point to (logical names; more than one for `ownerid`).
    pub targets: &'static [&'static str],
    /// The `$select` in its parentheses (`None`: every column).
    pub select: Option<Vec<String>>,
}

/// The collection-valued navigation properties the emulator knows of a table
/// (it serves them as paths, not in `$expand`).
fn collection_navs(table: &Table) -> &'static [&'static str] {
    match table.set {
        "teams" | "systemusers" => &["teammembership_association"],
        _ => &[],
    }
}

/// Splits on `sep` outside parentheses and single-quoted strings; `None` when
/// the parentheses do not balance.
fn split_outside(s: &str, sep: char) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.checked_sub(1)?,
            _ if c == sep && !quoted && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    (depth == 0 && !quoted).then(|| {
        out.push(&s[start..]);
        out
    })
}

/// Parses `$expand` against `table`. The emulator serves single-valued
/// navigation properties (its lookups) with an optional `$select`; it refuses
/// what else Dataverse allows there (collection-valued navigation properties,
/// nested `$expand`, `/$ref`) with a 400.
fn parse_expand(table: &Table, v: &str) -> Result<Vec<Expand>, ApiError> {
    let syntax = || ApiError::query(format!("Syntax error in $expand '{v}'."));
    let mut out: Vec<Expand> = Vec::new();
    for item in split_outside(v, ',').ok_or_else(syntax)? {
        let item = item.trim();
        let (nav, options) = match item.find('(') {
            None => (item, None),
            Some(i) => (
                item[..i].trim(),
                Some(item[i + 1..].strip_suffix(')').ok_or_else(syntax)?),
            ),
        };
        if nav.is_empty() {
            return Err(syntax());
        }
        if nav.ends_with("/$ref") {
            return Err(ApiError::query(format!(
                "$expand with /$ref ('{nav}') is not supported by the ChatBell Dataverse emulator."
            )));
        }
        if collection_navs(table).contains(&nav) {
            return Err(ApiError::query(format!(
                "The ChatBell Dataverse emulator expands single-valued navigation properties only; '{nav}' is collection-valued."
            )));
        }
        let col = table
            .lookup_by_nav(nav)
            .ok_or_else(|| unknown_selected(table.logical, nav))?;
        let ColType::Lookup(targets) = col.ty else {
            return Err(unknown_selected(table.logical, nav));
        };
        if out.iter().any(|e| e.nav == nav) {
            return Err(ApiError::query(format!(
                "The navigation property '{nav}' is expanded more than once in $expand '{v}'."
            )));
        }
        let mut select = None;
        for opt in split_outside(options.unwrap_or(""), ';')
            .ok_or_else(syntax)?
            .into_iter()
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            let (k, val) = opt.split_once('=').ok_or_else(syntax)?;
            match k.trim() {
                "$select" if select.is_none() => {
                    let cols: Vec<String> = val
                        .split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect();
                    for c in &cols {
                        // A polymorphic lookup (ownerid) points to the base type
                        // `principal`, which has no columns of the emulator's tables.
                        let known = match targets {
                            [one] => schema()
                                .by_logical(one)
                                .is_some_and(|t| t.column(c).is_some()),
                            _ => false,
                        };
                        if !known {
                            let on = match targets {
                                [one] => one,
                                _ => "principal",
                            };
                            return Err(unknown_selected(on, c));
                        }
                    }
                    select = Some(cols);
                }
                "$select" => {
                    return Err(ApiError::query(format!(
                        "Query option '$select' was specified more than once in $expand of '{nav}'."
                    )))
                }
                other => {
                    return Err(ApiError::query(format!(
                        "The query option '{other}' in $expand of the single-valued navigation property '{nav}' is not supported by the ChatBell Dataverse emulator (only $select is)."
                    )))
                }
            }
        }
        out.push(Expand {
            nav: nav.to_string(),
            column: col.name,
            targets,
            select,
        });
    }
    Ok(out)
}

fn unknown_property(table: &Table, name: &str) -> ApiError {
    ApiError::query(property_not_found(table.logical, name))
}

fn property_not_found(type_name: &str, name: &str) -> String {
    format!(
        "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'."
    )
}

/// An unknown property in `$select` (or `$expand`): Dataverse answers
/// `{"error":{"code":"0x0","message":"Could not find a property named 'x' on type
/// 'Microsoft.Dynamics.CRM.cb_chatsession'."}}`, the OData URI parser's own
/// refusal, where an unknown property in `$filter` or `$orderby` gets
/// `0x80060888`.
fn unknown_selected(type_name: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        codes::URI_PARSER,
        property_not_found(type_name, name),
    )
}

/// Decodes a query string into pairs (`+` and `%20` are spaces).
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl QueryOptions {
    /// Parses and checks the query string against `table`.
    pub fn parse(raw: &str, table: &Table) -> Result<QueryOptions, ApiError> {
        let mut q = QueryOptions::default();
        let pairs = query_pairs(raw);
        // Parameter aliases first: `$filter` and `$orderby` may come before them.
        for (k, v) in &pairs {
            if !k.starts_with('@') {
                continue;
            }
            if q.aliases.iter().any(|(a, _)| a == k) {
                return Err(ApiError::query(format!(
                    "The parameter alias '{k}' was specified more than once."
                )));
            }
            q.aliases.push((k.clone(), v.clone()));
        }
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in pairs {
            if !k.starts_with('$') {
                continue;
            }
            if seen.contains(&k) {
                return Err(ApiError::query(format!(
                    "Query option '{k}' was specified more than once, but it must be specified at most once."
                )));
            }
            seen.push(k.clone());
            match k.as_str() {
                "$select" => {
                    let cols: Vec<String> = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    for c in &cols {
                        if table.column(c).is_none() {
                            return Err(unknown_selected(table.logical, c));
                        }
                    }
                    q.select = Some(cols);
                }
                "$filter" => {
                    let f = Filter::parse_with_aliases(table, &v, &q.aliases)?;
                    q.filter = Some((v, f));
                }
                "$orderby" => {
                    for part in v.split(',').map(str::trim) {
                        let mut it = part.split_whitespace();
                        let col = it
                            .next()
                            .ok_or_else(|| ApiError::query("Syntax error in $orderby."))?;
                        let desc = match it.next() {
                            None => false,
                            Some(d) if d.eq_ignore_ascii_case("asc") => false,
                            Some(d) if d.eq_ignore_ascii_case("desc") => true,
                            Some(d) => {
                                return Err(ApiError::query(format!(
                                "Syntax error at position {} in '{v}': '{d}' is not asc or desc.",
                                col.len() + 1
                            )))
                            }
                        };
                        if it.next().is_some() {
                            return Err(ApiError::query(format!(
                                "Syntax error in $orderby '{v}'."
                            )));
                        }
                        let col = match col.strip_prefix('@') {
                            None => col,
                            Some(_) => q
                                .aliases
                                .iter()
                                .find(|(a, _)| a == col)
                                .map(|(_, value)| value.trim())
                                .filter(|value| !value.is_empty())
                                .ok_or_else(|| {
                                    ApiError::query(format!(
                                        "The parameter alias '{col}' in $orderby has no value: it must name a property."
                                    ))
                                })?,
                        };
                        if table.column(col).is_none() {
                            return Err(unknown_property(table, col));
                        }
                        q.orderby.push((col.to_string(), desc));
                    }
                }
                "$top" => {
                    let n: usize = v.trim().parse().map_err(|_| {
                        ApiError::query(format!(
                            "Invalid value '{v}' for $top query option found. The $top query option requires a non-negative integer value."
                        ))
                    })?;
                    q.top = Some(n);
                }
                "$count" => {
                    q.count = match v.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(ApiError::query(format!(
                                "'{v}' is not a valid count option."
                            )))
                        }
                    }
                }
                "$skiptoken" => q.skiptoken = Some(v),
                "$deltatoken" => q.deltatoken = Some(v),
                "$skip" => {
                    return Err(ApiError::query(
                        "The query parameter $skip is not supported",
                    ))
                }
                "$expand" => {
                    let e = parse_expand(table, &v)?;
                    q.expand = Some((v, e));
                }
                "$apply" | "$search" | "$format" | "$compute" | "$levels" => {
                    // Dataverse supports $apply; the emulator does not, because
                    // ChatBell must not depend on it (see the contract).
                    return Err(ApiError::query(format!(
                        "The query parameter {k} is not supported by the ChatBell Dataverse emulator."
                    )));
                }
                _ => {
                    return Err(ApiError::query(format!(
                        "The query parameter {k} is not supported"
                    )))
                }
            }
        }
        Ok(q)
    }

    /// The query string to repeat in a next or delta link (without paging tokens).
    pub fn link_query(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(s) = &self.select {
            out.push(("$select".into(), s.join(",")));
        }
        if let Some((raw, _)) = &self.filter {
            out.push(("$filter".into(), raw.clone()));
        }
        if !self.orderby.is_empty() {
            let o: Vec<String> = self
                .orderby
                .iter()
                .map(|(c, d)| {
                    if *d {
                        format!("{c} desc")
                    } else {
                        format!("{c} asc")
                    }
                })
                .collect();
            out.push(("$orderby".into(), o.join(",")));
        }
        if let Some((raw, _)) = &self.expand {
            out.push(("$expand".into(), raw.clone()));
        }
        if self.count {
            out.push(("$count".into(), "true".into()));
        }
        out.extend(self.aliases.iter().cloned());
        out
    }

    /// The expanded navigation properties (none without `$expand`).
    pub fn expands(&self) -> &[Expand] {
        self.expand.as_ref().map_or(&[], |(_, e)| e.as_slice())
    }
}

/// Percent-encodes a query value (spaces as `%20`, `+` as `%2B`).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b','
            | b'('
            | b')'
            | b'\''
            | b':' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds `?k=v&k=v` with encoded values.
pub fn build_query(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

/// Decodes `%XX` escapes in a path segment.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Makes a paging cookie in Dataverse's shape (opaque to clients).
pub fn make_cookie(page: u32, payload: &Value, tracking: bool) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    format!(
        "<cookie pagenumber=\"{page}\" pagingcookie=\"{b64}\" istracking=\"{}\" />",
        if tracking { "True" } else { "False" }
    )
}

/// Reads a paging cookie: page number, payload and whether it is a tracking one.
pub fn read_cookie(s: &str) -> Result<(u32, Value, bool), ApiError> {
    let bad = || ApiError::query("The $skiptoken value is not valid.");
    let attr = |name: &str| -> Option<&str> {
        let key = format!("{name}=\"");
        let i = s.find(&key)? + key.len();
        let j = s[i..].find('"')? + i;
        Some(&s[i..j])
    };
    let page = attr("pagenumber")
        .and_then(|p| p.parse().ok())
        .ok_or_else(bad)?;
    let b64 = attr("pagingcookie").ok_or_else(bad)?;
    let tracking = attr("istracking") == Some("True");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| bad())?;
    let payload: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((page, payload, tracking))
}

/// The `@odata.context` of a collection (or, with `entity`, of one row).
pub fn context(base: &str, set: &str, select: Option<&[String]>, suffix: &str) -> String {
    context_expanded(base, set, select, &[], suffix)
}

/// The `@odata.context` of a collection or row with expanded navigation
/// properties: `cb_chatsessions(cb_name,cb_configuration(cb_name))`.
pub fn context_expanded(
    base: &str,
    set: &str,
    select: Option<&[String]>,
    expands: &[Expand],
    suffix: &str,
) -> String {
    let mut parts: Vec<String> = select.unwrap_or_default().to_vec();
    for e in expands {
        let cols = e.select.as_deref().unwrap_or_default().join(",");
        parts.push(format!("{}({cols})", e.nav));
    }
    if parts.is_empty() {
        format!("{base}{API_PREFIX}/$metadata#{set}{suffix}")
    } else {
        format!(
            "{base}{API_PREFIX}/$metadata#{set}({}){suffix}",
            parts.join(",")
        )
    }
}

/// Adds the expanded navigation properties to a rendered row: each is the row
/// its lookup points to (its selected columns, key and requested annotations,
/// no etag, as in Dataverse's examples), or `null`. A user or team also carries
/// `ownerid` (both inherit from `principal`), and the target of a polymorphic
/// lookup says its type with `@odata.type` (learn.microsoft.com,
/// query/join-tables, "Expand single-valued navigation properties").
pub fn add_expanded(
    out: &mut Map<String, Value>,
    store: &OrgData,
    row: &Row,
    expands: &[Expand],
    ann: &Annotations,
) {
    for e in expands {
        let id = row
            .fields
            .get(e.column)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok());
        let logical = row
            .fields
            .get(&format!("{}{LOOKUP_LOGICAL}", e.column))
            .and_then(Value::as_str);
        let target = id.and_then(|id| {
            e.targets
                .iter()
                .filter(|t| logical.is_none_or(|l| l == **t))
                .filter_map(|t| schema().by_logical(t))
                .find_map(|t| store.get(t.set, id).map(|r| (t, r)))
        });
        let value = match target {
            None => Value::Null,
            Some((t, r)) => {
                let mut m = render(store, t, r, e.select.as_deref(), ann);
                m.remove("@odata.etag");
                if matches!(t.logical, "systemuser" | "team") {
                    if let Some(key) = r.fields.get(t.key) {
                        m.insert("ownerid".into(), key.clone());
                    }
                }
                if e.targets.len() > 1 {
                    m.insert(
                        "@odata.type".into(),
                        Value::String(format!("#Microsoft.Dynamics.CRM.{}", t.logical)),
                    );
                }
                Value::Object(m)
            }
        };
        out.insert(e.nav.clone(), value);
    }
}

/// Dataverse's formatted date (en-US user settings, UTC).
fn formatted_time(s: &str) -> Option<String> {
    crate::clock::parse_ts(s).map(|t| t.format("%-m/%-d/%Y %-I:%M %p").to_string())
}

/// Renders a row for a client: etag, selected columns (all when `select` is
/// `None`; the primary key always) and the requested annotations.
pub fn render(
    store: &OrgData,
    table: &Table,
    row: &Row,
    select: Option<&[String]>,
    ann: &Annotations,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.etag".into(), Value::String(row.etag()));
    for c in &table.columns {
        let wanted = c.name == table.key || select.is_none_or(|s| s.iter().any(|x| x == c.name));
        if !wanted {
            continue;
        }
        let v = row.fields.get(c.name).cloned().unwrap_or(Value::Null);
        if ann.any() && !v.is_null() {
            let formatted = match c.ty {
                ColType::Lookup(_) => {
                    let logical = row
                        .fields
                        .get(&format!("{}{LOOKUP_LOGICAL}", c.name))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let id = v.as_str().and_then(|s| Uuid::parse_str(s).ok());
                    if ann.allows(NAVPROP) {
                        let nav = c.nav_name().unwrap_or_default().to_string();
                        out.insert(format!("{}@{NAVPROP}", c.name), Value::String(nav));
                    }
                    if ann.allows(LOGICALNAME) {
                        out.insert(
                            format!("{}@{LOGICALNAME}", c.name),
                            Value::String(logical.clone()),
                        );
                    }
                    id.and_then(|id| store.primary_name(&logical, id))
                }
                ColType::Int(Some(_)) => v
                    .as_i64()
                    .and_then(|n| choice_label(c.ty, n))
                    .map(str::to_string),
                ColType::Int(None) | ColType::Version => v.as_i64().map(|n| n.to_string()),
                ColType::Bool => v
                    .as_bool()
                    .map(|b| if b { "Yes" } else { "No" }.to_string()),
                ColType::DateTime => v.as_str().and_then(formatted_time),
                ColType::Key | ColType::Str(_) => None,
            };
            if let (Some(f), true) = (formatted, ann.allows(FORMATTED)) {
                out.insert(format!("{}@{FORMATTED}", c.name), Value::String(f));
            }
        }
        out.insert(c.name.to_string(), v);
    }
    out
}

/// The sort key of a row under `$orderby`, with the primary key last.
pub fn sort_key(table: &Table, row: &Row, orderby: &[(String, bool)]) -> Vec<Val> {
    let mut k: Vec<Val> = orderby
        .iter()
        .map(|(c, _)| {
            let ty = table.column(c).map_or(ColType::Str(0), |c| c.ty);
            Val::from_column(ty, row.fields.get(c))
        })
        .collect();
    k.push(Val::from_column(ColType::Key, row.fields.get(table.key)));
    k
}

/// Compares two sort keys under `$orderby` directions.
pub fn cmp_keys(a: &[Val], b: &[Val], orderby: &[(String, bool)]) -> Ordering {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let desc = orderby.get(i).is_some_and(|(_, d)| *d);
        let o = x.order(y);
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The JSON form of a sort key, for a paging cookie.
pub fn key_to_json(table: &Table, row: &Row, orderby: &[(String, bool)]) -> Value {
    let mut v: Vec<Value> = orderby
        .iter()
        .map(|(c, _)| row.fields.get(c).cloned().unwrap_or(Value::Null))
        .collect();
    v.push(row.fields.get(table.key).cloned().unwrap_or(Value::Null));
    Value::Array(v)
}

/// Reads a sort key back from a paging cookie.
pub fn key_from_json(table: &Table, v: &Value, orderby: &[(String, bool)]) -> Option<Vec<Val>> {
    let arr = v.as_array()?;
    if arr.len() != orderby.len() + 1 {
        return None;
    }
    let mut out = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let ty = match orderby.get(i) {
            Some((c, _)) => table.column(c)?.ty,
            None => ColType::Key,
        };
        out.push(Val::from_column(ty, Some(item)));
    }
    Some(out)
}
