//! The Dataverse Web API under `/api/data/v9.2/`.
//!
//! Supported: the service document, `WhoAmI`/`WhoAmI()`, collection `GET` with
//! `$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand` and paging
//! (`Prefer: odata.maxpagesize`, opaque `$skiptoken` next links), parameter
//! aliases in `$filter` and `$orderby`, `<set>/$count`, change tracking
//! (`Prefer: odata.track-changes`, `$deltatoken`), single-row `GET` (with
//! `$select` and `$expand`; `If-None-Match` answers 304 unless annotations or
//! `$expand` are asked for), `POST`, `PATCH` (upsert, `If-Match`,
//! `If-None-Match`), `DELETE`, lookups with `@odata.bind`, and the
//! `teammembership_association` N:N relationship.
//!
//! As Dataverse documents it: an unknown column in `$select` is refused with
//! code `0x0`, in `$filter` or `$orderby` with `0x80060888`; `$top` with
//! `Prefer: odata.maxpagesize` is ignored (pages of `maxpagesize` with next
//! links); `$filter`, `$orderby`, `$expand` and `$top` are refused with change
//! tracking.
//!
//! Deviations from Dataverse (on purpose, to keep the emulator small): no
//! `$apply`, `$batch`, `$metadata` document, property paths
//! (`/set(id)/column`) or alternate keys; `$expand` serves single-valued
//! navigation properties (the lookups) with `$select` only: collection-valued
//! ones (`teammembership_association`), nested `$expand`, other options inside
//! it and `/$ref` are refused with a 400, and `ownerid` (a `principal`) takes no
//! `$select`; a parameter alias stands for one literal or column, not an
//! expression; `<set>/$count` takes `$filter` only (no `$deltatoken` count of
//! changes); security roles are modelled as privileges per user and table
//! (every privilege at Global depth unless a test takes one away:
//! [`crate::RunningEmulator::set_privilege`]): `GET` needs Read, `POST` Create,
//! `PATCH` Write (and Assign when it sets `ownerid`), `DELETE` Delete, refused
//! with 403 `0x80040220` naming the missing `prv…` privilege; no business
//! units, depths other than Global, record sharing or Append/AppendTo checks;
//! change tracking also needs the organisation-level read flag; delta results
//! list new and updated rows and then deletions strictly in version order.
//!
//! Also served: table definitions under `EntityDefinitions` ([`crate::metadata`],
//! with its own deviations) and `systemusers(id)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()`.
//! With an org profile ([`crate::profile`]) every name and choice value above
//! is the org's own.
//!
//! Other choices where the documentation leaves room: `@odata.count` and
//! `<set>/$count` are capped at 5000 as `@odata.count` is in Dataverse; a
//! `maxpagesize` above 5000 (or 0) is ignored and not echoed in
//! `Preference-Applied`, and does not make `$top` ignored; an expanded row has
//! no `@odata.etag` (as in Microsoft's examples), `ownerid` when it is a user or
//! team, and `@odata.type` when its lookup can point to more than one table; an
//! unknown navigation property in `$expand` gets `0x0` like one in `$select`;
//! a lookup bound to a missing row gives 400 with `0x80040217`; a duplicate
//! primary key on create gives 412 `0x80040237`; the body limit is 1 MiB (413);
//! a missing or bad token gets Dataverse's empty-bodied 401 with its
//! `WWW-Authenticate` challenge; navigation properties in `@odata.bind` and
//! `$expand` are the lower-case lookup names of ChatBell's reference schema
//! (real custom lookups use their case-sensitive schema name: the
//! configuration's mapping has to carry that).

use crate::auth;
use crate::error::{codes, ApiError};
use crate::faults::FaultAction;
use crate::metadata::{self, Verb};
use crate::odata::{
    add_expanded, build_query, cmp_keys, context, context_expanded, key_from_json, key_to_json,
    make_cookie, percent_decode, read_cookie, render, sort_key, Prefer, QueryOptions, API_PREFIX,
    MAX_PAGE,
};
use crate::profile::Dir;
use crate::schema::{schema, Table};
use crate::server::ConnInfo;
use crate::state::{lock, Shared};
use crate::store::{parse_entity_ref, Conditions, Delta, Row, Upserted, WriteCtx};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::sync::Arc;
use uuid::Uuid;

/// The largest request body accepted (Dataverse accepts more; ChatBell never
/// sends more than a few kilobytes).
pub const MAX_BODY: usize = 1024 * 1024;

/// Counts a request in [`Shared::in_flight`] while it is served (also when the
/// connection is dropped and the handler with it).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn start(sh: &Arc<Shared>) -> InFlight {
        sh.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(sh.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The Web API entry point.
pub async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let _serving = InFlight::start(&sh);
    let conn = req.extensions().get::<ConnInfo>().cloned();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let rest = path
        .strip_prefix(API_PREFIX)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let first = rest.split('/').next().unwrap_or("");
    let set_name = first.split('(').next().unwrap_or("").to_string();
    lock(&sh.stats).count(
        parts.method.as_str(),
        if set_name.is_empty() {
            "(service)"
        } else {
            &set_name
        },
    );

    let (latency, action) = sh.faults.next();
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    // An outage (a dropped connection, a 5xx) hits every request, signed in
    // or not; throttling (429) is per user, after the sign-in is known.
    let outage = match &action {
        FaultAction::Drop => true,
        FaultAction::Fail(e) => e.status != StatusCode::TOO_MANY_REQUESTS,
        FaultAction::Serve => false,
    };
    let resp = match auth::authenticate(&sh, &parts.headers) {
        Err(problem) if outage => faulted(action, conn)
            .await
            .unwrap_or_else(|()| auth::unauthorized(&sh, problem)),
        Err(problem) => auth::unauthorized(&sh, problem),
        Ok(user) => {
            let who = user.to_string();
            lock(&sh.stats).count_user(&who);
            // Service protection: a throttled user waits its Retry-After out.
            let (now, rate) = (sh.clock.now(), sh.clock.rate());
            let action = match sh.faults.throttled_for(&who, now, rate) {
                Some(left) => {
                    lock(&sh.stats).count_early_retry(&who);
                    FaultAction::Fail(sh.faults.still_throttled(left))
                }
                None => {
                    if let FaultAction::Fail(e) = &action {
                        if e.status == StatusCode::TOO_MANY_REQUESTS {
                            lock(&sh.stats).throttled += 1;
                            let wait = sh.faults.get().retry_after_seconds;
                            sh.faults.throttle(&who, wait, now, rate);
                        }
                    }
                    action
                }
            };
            match faulted(action, conn.clone()).await {
                Ok(resp) => resp,
                Err(()) => match axum::body::to_bytes(body, MAX_BODY).await {
                    Err(_) => ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        codes::PAYLOAD,
                        format!("The request body is larger than {MAX_BODY} bytes."),
                    )
                    .into_response(),
                    Ok(bytes) => {
                        let reference_names = parts
                            .headers
                            .contains_key(crate::profile::REFERENCE_NAMES_HEADER)
                            && conn.as_ref().is_some_and(|c| c.peer.ip().is_loopback());
                        serve_in_orgs_names(&sh, user, &parts, &rest, &bytes, reference_names).await
                    }
                },
            }
        }
    };
    finish(&sh, resp)
}

/// Serves one request in the org's names: translated to the reference schema
/// on its way in and back on its way out ([`crate::profile`]), after the
/// caller's privileges were checked.
async fn serve_in_orgs_names(
    sh: &Arc<Shared>,
    user: Uuid,
    parts: &axum::http::request::Parts,
    rest: &str,
    bytes: &[u8],
    reference_names: bool,
) -> Response {
    let profile = &sh.profile;
    let raw_query = parts.uri.query().unwrap_or("");
    let plain = profile.is_reference() || reference_names;
    let ref_rest = if plain {
        rest.to_string()
    } else {
        profile.path(rest, Dir::ToRef)
    };
    let set = ref_rest
        .split(['/', '('])
        .next()
        .and_then(percent_decode)
        .unwrap_or_default();
    let table = schema().by_set(&set);
    let (query, body) = match table {
        Some(t) if !plain => {
            let body = if bytes.is_empty() {
                bytes.to_vec()
            } else {
                match serde_json::from_slice::<Value>(bytes) {
                    Ok(v) => profile.body(v, t, Dir::ToRef).to_string().into_bytes(),
                    Err(_) => bytes.to_vec(),
                }
            };
            (profile.query(raw_query, t, Dir::ToRef), body)
        }
        _ => (raw_query.to_string(), bytes.to_vec()),
    };
    if let Some(t) = table {
        if let Err(e) = check_privileges(sh, user, &parts.method, t, &body) {
            let resp = e.into_response();
            return if plain {
                resp
            } else {
                translate_out(sh, resp, t).await
            };
        }
    }
    let req = Req {
        sh,
        user,
        method: &parts.method,
        headers: &parts.headers,
        query: &query,
        rest: &ref_rest,
        body: &body,
    };
    let resp = match route(&req, &ref_rest) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    match table {
        Some(t) if !plain => translate_out(sh, resp, t).await,
        _ => resp,
    }
}

/// The privileges a request on `table` needs: read for `GET`, create for
/// `POST`, write for `PATCH` (and assign when it sets the owner), delete for
/// `DELETE`.
fn check_privileges(
    sh: &Shared,
    user: Uuid,
    method: &Method,
    table: &'static Table,
    body: &[u8],
) -> Result<(), ApiError> {
    let denied = lock(&sh.denied);
    let Some(denied) = denied.get(&user) else {
        return Ok(());
    };
    let mut needed = match *method {
        Method::GET => vec![Verb::Read],
        Method::POST => vec![Verb::Create],
        Method::PATCH => vec![Verb::Write],
        Method::DELETE => vec![Verb::Delete],
        _ => vec![],
    };
    if *method == Method::PATCH {
        let sets_owner = serde_json::from_slice::<Value>(body)
            .ok()
            .is_some_and(|v| v.get("ownerid@odata.bind").is_some());
        if sets_owner {
            needed.push(Verb::Assign);
        }
    }
    for v in needed {
        if denied.contains(&(v, table.logical)) {
            return Err(metadata::missing_privilege(
                &sh.profile,
                user,
                sh.profile.of(table),
                v,
            ));
        }
    }
    Ok(())
}

/// An answer for `table` in the org's names.
async fn translate_out(sh: &Shared, resp: Response, table: &'static Table) -> Response {
    let profile = &sh.profile;
    if profile.is_reference() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    for h in ["odata-entityid", "location"] {
        let v = parts
            .headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(|v| profile.url(v, Dir::ToOrg));
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
            parts.headers.insert(h, v);
        }
    }
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return Response::from_parts(parts, axum::body::Body::empty()),
    };
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(v) => axum::body::Body::from(profile.body(v, table, Dir::ToOrg).to_string()),
        Err(_) => axum::body::Body::from(bytes),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// The answer to a request an injected fault hits: none at all for a dropped
/// connection (the handler waits until the connection is gone), the error for a
/// failure; `Err` when the request is to be served.
async fn faulted(action: FaultAction, conn: Option<ConnInfo>) -> Result<Response, ()> {
    match action {
        FaultAction::Drop => {
            if let Some(c) = conn {
                c.drop_connection();
                std::future::pending::<()>().await;
            }
            Ok(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UNEXPECTED,
                "Connection dropped.",
            )
            .into_response())
        }
        FaultAction::Fail(e) => Ok(e.into_response()),
        FaultAction::Serve => Err(()),
    }
}

fn finish(sh: &Shared, mut resp: Response) -> Response {
    lock(&sh.stats).count_status(resp.status().as_u16());
    let h = resp.headers_mut();
    h.insert("odata-version", HeaderValue::from_static("4.0"));
    if let Ok(v) = HeaderValue::from_str(&Uuid::new_v4().to_string()) {
        h.insert("x-ms-service-request-id", v);
    }
    let date = sh
        .clock
        .now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        h.insert(header::DATE, v);
    }
    resp
}

struct Req<'a> {
    sh: &'a Shared,
    user: Uuid,
    method: &'a Method,
    headers: &'a HeaderMap,
    query: &'a str,
    rest: &'a str,
    body: &'a [u8],
}

/// One path segment: `name` or `name(key)`.
fn segment(s: &str) -> Result<(String, Option<String>), ApiError> {
    let s =
        percent_decode(s).ok_or_else(|| ApiError::query("Bad Request - Error in query syntax."))?;
    match s.find('(') {
        None => Ok((s, None)),
        Some(i) => {
            let inner = s[i + 1..]
                .strip_suffix(')')
                .ok_or_else(|| ApiError::query("Bad Request - Error in query syntax."))?;
            Ok((s[..i].to_string(), Some(inner.to_string())))
        }
    }
}

fn parse_key(table: &Table, k: &str) -> Result<Uuid, ApiError> {
    let k = k.strip_prefix(&format!("{}=", table.key)).unwrap_or(k);
    Uuid::parse_str(k.trim()).map_err(|_| {
        ApiError::query(format!(
            "Bad Request - Error in query syntax: '{k}' is not a valid key for '{}'.",
            table.set
        ))
    })
}

fn method_not_allowed(m: &Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::QUERY,
        format!("The requested resource does not support http method '{m}'."),
    )
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; odata.metadata=minimal"),
    );
    r
}

fn set_header(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

fn route(req: &Req<'_>, rest: &str) -> Result<Response, ApiError> {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let Some(first) = segs.first() else {
        return service_document(req);
    };
    let (name, key) = segment(first)?;
    if name == "WhoAmI" {
        if segs.len() > 1 || key.as_deref().is_some_and(|k| !k.is_empty()) {
            return Err(ApiError::segment(rest));
        }
        if req.method != Method::GET {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "",
                format!("No HTTP resource was found that matches the request URI '{}{API_PREFIX}/WhoAmI'.", req.sh.base_url),
            ));
        }
        return who_am_i(req);
    }
    if name == "EntityDefinitions" {
        if req.method != Method::GET {
            return Err(method_not_allowed(req.method));
        }
        let segs: Vec<String> = segs
            .iter()
            .map(|s| percent_decode(s).unwrap_or_default())
            .collect();
        let v = metadata::serve(
            &req.sh.profile,
            &req.sh.base_url,
            &segs,
            &crate::odata::query_pairs(req.query),
        )?;
        return Ok(json_response(StatusCode::OK, &v));
    }
    let table = schema()
        .by_set(&name)
        .ok_or_else(|| ApiError::segment(&name))?;
    match (key, segs.len()) {
        (None, 1) => match *req.method {
            Method::GET => collection(req, table, None),
            Method::POST => create(req, table),
            _ => Err(method_not_allowed(req.method)),
        },
        (None, 2) if percent_decode(segs[1]).as_deref() == Some("$count") => match *req.method {
            Method::GET => count(req, table),
            _ => Err(method_not_allowed(req.method)),
        },
        (Some(k), 1) => {
            let id = parse_key(table, &k)?;
            match *req.method {
                Method::GET => single(req, table, id),
                Method::PATCH => upsert(req, table, id),
                Method::DELETE => delete(req, table, id),
                _ => Err(method_not_allowed(req.method)),
            }
        }
        (Some(k), n) if n <= 3 => {
            let id = parse_key(table, &k)?;
            let (nav, other) = segment(segs[1])?;
            if nav == "Microsoft.Dynamics.CRM.RetrieveUserPrivileges"
                && table.set == "systemusers"
                && n == 2
                && other.as_deref().is_some_and(str::is_empty)
            {
                return user_privileges(req, id);
            }
            if nav != "teammembership_association" || !matches!(table.set, "teams" | "systemusers")
            {
                return Err(ApiError::segment(&nav));
            }
            let reference = match segs.get(2) {
                None => false,
                Some(s) if percent_decode(s).as_deref() == Some("$ref") => true,
                Some(s) => return Err(ApiError::segment(s)),
            };
            membership(req, table, id, other, reference)
        }
        _ => Err(ApiError::segment(rest)),
    }
}

fn user_privileges(req: &Req<'_>, id: Uuid) -> Result<Response, ApiError> {
    if req.method != Method::GET {
        return Err(method_not_allowed(req.method));
    }
    if lock(&req.sh.store).get("systemusers", id).is_none() {
        return Err(ApiError::not_found("systemuser", id));
    }
    let denied = lock(&req.sh.denied).get(&id).cloned().unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &metadata::user_privileges(
            &req.sh.profile,
            &req.sh.base_url,
            req.sh.cfg.business_unit_id,
            &denied,
        ),
    ))
}

fn service_document(req: &Req<'_>) -> Result<Response, ApiError> {
    let mut value: Vec<Value> = req
        .sh
        .profile
        .tables()
        .iter()
        .map(|t| json!({"name": t.set, "kind": "EntitySet", "url": t.set}))
        .collect();
    value.push(
        json!({"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"}),
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}{API_PREFIX}/$metadata", req.sh.base_url), "value": value}),
    ))
}

fn who_am_i(req: &Req<'_>) -> Result<Response, ApiError> {
    let c = &req.sh.cfg;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{}{API_PREFIX}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", req.sh.base_url),
            "BusinessUnitId": c.business_unit_id,
            "UserId": req.user,
            "OrganizationId": c.organization_id,
        }),
    ))
}

fn preference_applied(r: &mut Response, items: &[String]) {
    if !items.is_empty() {
        set_header(r, "preference-applied", &items.join(","));
    }
}

fn annotations_applied(prefer: &Prefer, applied: &mut Vec<String>) {
    if let Some(a) = &prefer.annotations {
        applied.push(format!("odata.include-annotations=\"{a}\""));
    }
}

/// Page size and whether `maxpagesize` was honoured.
fn page_size(prefer: &Prefer) -> (usize, bool) {
    match prefer.maxpagesize {
        Some(n) if n > 0 && n <= MAX_PAGE => (n, true),
        _ => (MAX_PAGE, false),
    }
}

fn collection(
    req: &Req<'_>,
    table: &'static Table,
    only: Option<Vec<Uuid>>,
) -> Result<Response, ApiError> {
    let q = QueryOptions::parse(req.query, table)?;
    let prefer = Prefer::from_headers(req.headers);
    let tracking_cookie = match &q.skiptoken {
        Some(t) => read_cookie(t)?.2,
        None => false,
    };
    if only.is_none() && (q.deltatoken.is_some() || prefer.track_changes || tracking_cookie) {
        return changes(req, table, &q, &prefer, tracking_cookie);
    }
    let ann = prefer.annotation_filter();
    let store = lock(&req.sh.store);
    let mut rows: Vec<&Row> = store
        .rows(table.set)
        .filter(|(id, _)| only.as_ref().is_none_or(|o| o.contains(id)))
        .map(|(_, r)| r)
        .filter(|r| q.filter.as_ref().is_none_or(|(_, f)| f.matches(&r.fields)))
        .collect();
    let total = rows.len();
    let mut keyed: Vec<(Vec<crate::filter::Val>, &Row)> = rows
        .drain(..)
        .map(|r| (sort_key(table, r, &q.orderby), r))
        .collect();
    keyed.sort_by(|a, b| cmp_keys(&a.0, &b.0, &q.orderby));
    let mut page_no = 1;
    if let Some(tok) = &q.skiptoken {
        let (page, payload, _) = read_cookie(tok)?;
        let cursor = key_from_json(table, &payload, &q.orderby)
            .ok_or_else(|| ApiError::query("The $skiptoken value is not valid for this query."))?;
        let start =
            keyed.partition_point(|(k, _)| cmp_keys(k, &cursor, &q.orderby) != Ordering::Greater);
        keyed.drain(..start);
        page_no = page;
    }
    let mut applied = Vec::new();
    let (page, honoured) = page_size(&prefer);
    let (limit, paged) = match q.top {
        // "Don't use `$top` with the `Prefer: odata.maxpagesize` request header.
        // If you include both, `$top` is ignored" (learn.microsoft.com,
        // query/page-results). A maxpagesize the emulator ignores (0, above 5000)
        // counts as not sent, so `$top` holds then.
        Some(top) if !honoured => (top.min(MAX_PAGE), false),
        _ => {
            if honoured {
                applied.push(format!("odata.maxpagesize={page}"));
            }
            (page, true)
        }
    };
    annotations_applied(&prefer, &mut applied);
    let more = paged && keyed.len() > limit;
    keyed.truncate(limit);
    let select = q.select.as_deref();
    let value: Vec<Value> = keyed
        .iter()
        .map(|(_, r)| {
            let mut m = render(&store, table, r, select, &ann);
            add_expanded(&mut m, &store, r, q.expands(), &ann);
            Value::Object(m)
        })
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context_expanded(
            &req.sh.base_url,
            table.set,
            select,
            q.expands(),
            "",
        )),
    );
    if q.count {
        body.insert("@odata.count".into(), Value::from(total.min(MAX_PAGE)));
    }
    body.insert("value".into(), Value::Array(value));
    if more {
        if let Some((_, last)) = keyed.last() {
            let cookie = make_cookie(page_no + 1, &key_to_json(table, last, &q.orderby), false);
            let mut pairs = q.link_query();
            pairs.push(("$skiptoken".into(), cookie));
            body.insert(
                "@odata.nextLink".into(),
                Value::String(link(req, req.rest, &pairs)),
            );
        }
    }
    let mut r = json_response(StatusCode::OK, &Value::Object(body));
    preference_applied(&mut r, &applied);
    Ok(r)
}

/// `GET <set>/$count`: the number of rows (that match `$filter`) as a plain
/// number, `text/plain` (learn.microsoft.com, query/count-rows). Capped at 5000
/// like `@odata.count`; other query options are refused, and so is a
/// `$deltatoken` (the count of changes Dataverse also answers there).
fn count(req: &Req<'_>, table: &'static Table) -> Result<Response, ApiError> {
    let q = QueryOptions::parse(req.query, table)?;
    let other = if q.select.is_some() {
        Some("$select")
    } else if !q.orderby.is_empty() {
        Some("$orderby")
    } else if q.top.is_some() {
        Some("$top")
    } else if q.count {
        Some("$count")
    } else if q.expand.is_some() {
        Some("$expand")
    } else if q.skiptoken.is_some() {
        Some("$skiptoken")
    } else if q.deltatoken.is_some() {
        Some("$deltatoken")
    } else {
        None
    };
    if let Some(option) = other {
        return Err(ApiError::query(format!(
            "The query option '{option}' is not supported with /$count by the ChatBell Dataverse emulator (only $filter is)."
        )));
    }
    let n = lock(&req.sh.store)
        .rows(table.set)
        .filter(|(_, r)| q.filter.as_ref().is_none_or(|(_, f)| f.matches(&r.fields)))
        .count();
    let mut r = (StatusCode::OK, n.min(MAX_PAGE).to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

fn privilege_error(req: &Req<'_>, table: &Table) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::PRIVILEGE,
        format!(
            "SecLib::CheckPrivilege failed. User: {}, PrivilegeName: {}, PrivilegeId: {}, Required Depth: Global, BusinessUnitId: {}. Change tracking needs organization-level read on '{}'.",
            req.user,
            metadata::privilege_name(req.sh.profile.of(table), Verb::Read),
            Uuid::new_v5(&Uuid::NAMESPACE_OID, table.logical.as_bytes()),
            req.sh.cfg.business_unit_id,
            table.logical
        ),
    )
}

fn expired_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        codes::EXPIRED_VERSION,
        "Version stamp associated with the client has expired. Please perform a full sync.",
    )
}

const DELTA_TIME: &str = "%m/%d/%Y %H:%M:%S";

/// Change tracking: the initial `Prefer: odata.track-changes` query, a delta
/// link's `$deltatoken`, and the next links of either.
fn changes(
    req: &Req<'_>,
    table: &'static Table,
    q: &QueryOptions,
    prefer: &Prefer,
    tracking_cookie: bool,
) -> Result<Response, ApiError> {
    // "System query options `$filter`, `$orderby`, `$expand` and `$top` aren't
    // supported when using the `Prefer: odata.track-changes` header"
    // (learn.microsoft.com, use-change-tracking-synchronize-data-external-systems).
    let which = if q.filter.is_some() {
        Some("$filter")
    } else if !q.orderby.is_empty() {
        Some("$orderby")
    } else if q.expand.is_some() {
        Some("$expand")
    } else if q.top.is_some() {
        Some("$top")
    } else {
        None
    };
    if let Some(which) = which {
        return Err(ApiError::query(format!(
            "The \"{which}\" query parameter isn't supported when Change Tracking is enabled."
        )));
    }
    if !lock(&req.sh.store).flags(req.user).org_level_read {
        return Err(privilege_error(req, table));
    }
    let now = req.sh.clock.now();
    let store = lock(&req.sh.store);
    // (since, upto, after, include_deleted, page)
    let (since, upto, after, deleted, page) = if tracking_cookie {
        let (page, p, _) = read_cookie(q.skiptoken.as_deref().unwrap_or(""))?;
        let get = |k: &str| p.get(k).and_then(Value::as_u64);
        match (
            get("since"),
            get("upto"),
            get("after"),
            p.get("deleted").and_then(Value::as_bool),
        ) {
            (Some(s), Some(u), Some(a), Some(d)) => (s, u, a, d, page),
            _ => return Err(ApiError::query("The $skiptoken value is not valid.")),
        }
    } else if let Some(tok) = &q.deltatoken {
        let mut parts = tok.splitn(3, '!');
        let version = parts.next().and_then(|v| v.parse::<u64>().ok());
        let epoch = parts.next().and_then(|v| v.parse::<u64>().ok());
        let issued = parts
            .next()
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, DELTA_TIME).ok())
            .map(|t| t.and_utc());
        let (Some(version), Some(epoch), Some(issued)) = (version, epoch, issued) else {
            return Err(ApiError::query("The $deltatoken value is not valid."));
        };
        if epoch != store.delta_epoch
            || (now - issued).num_seconds() > req.sh.cfg.delta_token_max_age
            || version > store.version()
        {
            return Err(expired_token());
        }
        (version, store.version(), version, true, 1)
    } else {
        (0, store.version(), 0, false, 1)
    };
    let all = store.changes(table.set, since.max(after), upto, deleted);
    let (limit, honoured) = page_size(prefer);
    let mut applied = Vec::new();
    if prefer.track_changes {
        applied.push("odata.track-changes".to_string());
    }
    if honoured {
        applied.push(format!("odata.maxpagesize={limit}"));
    }
    annotations_applied(prefer, &mut applied);
    let ann = prefer.annotation_filter();
    let select = q.select.as_deref();
    let more = all.len() > limit;
    let page_items = &all[..all.len().min(limit)];
    let deleted_ctx = format!(
        "{}{API_PREFIX}/$metadata#{}/$deletedEntity",
        req.sh.base_url, table.set
    );
    let mut value = Vec::new();
    for d in page_items {
        match d {
            Delta::Row(id, _) => {
                if let Some(r) = store.get(table.set, *id) {
                    value.push(Value::Object(render(&store, table, r, select, &ann)));
                }
            }
            Delta::Deleted(id, _) => {
                value.push(json!({"@odata.context": deleted_ctx, "id": id, "reason": "deleted"}))
            }
        }
    }
    let is_delta = q.deltatoken.is_some() || (tracking_cookie && deleted);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context(
            &req.sh.base_url,
            table.set,
            select,
            if is_delta { "/$delta" } else { "" },
        )),
    );
    body.insert("value".into(), Value::Array(value));
    let mut pairs = q.link_query();
    if more {
        let last = page_items.last().map_or(after, Delta::version);
        let cookie = make_cookie(
            page + 1,
            &json!({"since": since, "upto": upto, "after": last, "deleted": deleted}),
            true,
        );
        pairs.push(("$skiptoken".into(), cookie));
        body.insert(
            "@odata.nextLink".into(),
            Value::String(link(req, table.set, &pairs)),
        );
    } else {
        let token = format!("{upto}!{}!{}", store.delta_epoch, now.format(DELTA_TIME));
        pairs.push(("$deltatoken".into(), token));
        body.insert(
            "@odata.deltaLink".into(),
            Value::String(link(req, table.set, &pairs)),
        );
    }
    let mut r = json_response(StatusCode::OK, &Value::Object(body));
    preference_applied(&mut r, &applied);
    Ok(r)
}

/// The query options of a request that addresses one row: `$select` and
/// `$expand`.
fn row_options(req: &Req<'_>, table: &Table) -> Result<QueryOptions, ApiError> {
    let q = QueryOptions::parse(req.query, table)?;
    if q.filter.is_some() || !q.orderby.is_empty() || q.top.is_some() || q.skiptoken.is_some() {
        return Err(ApiError::query(
            "Only $select and $expand are supported when addressing a single row.",
        ));
    }
    Ok(q)
}

fn single(req: &Req<'_>, table: &Table, id: Uuid) -> Result<Response, ApiError> {
    let q = row_options(req, table)?;
    let prefer = Prefer::from_headers(req.headers);
    let store = lock(&req.sh.store);
    let row = store
        .get(table.set, id)
        .ok_or_else(|| ApiError::not_found(table.logical, id))?;
    // "When the `Prefer: odata.include-annotations` header is included with a
    // `GET` request, `304 Not Modified` is never returned": annotations may show
    // related rows, whose changes an etag cannot tell (learn.microsoft.com,
    // perform-conditional-operations-using-web-api, "Query must not include
    // annotations").
    // Nor with `$expand`: "If the query includes `$expand`, `304 Not Modified`
    // is never returned" (the same page, "Query must not include $expand").
    let may_be_unmodified = prefer.annotations.is_none() && q.expand.is_none();
    if let Some(inm) = req
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .filter(|_| may_be_unmodified)
    {
        if inm.trim() != "null" && etag_version(inm) == Some(row.version) {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            set_header(&mut r, "etag", &row.etag());
            return Ok(r);
        }
    }
    Ok(row_response(
        req,
        &store,
        table,
        row,
        &q,
        &prefer,
        StatusCode::OK,
    ))
}

fn row_response(
    req: &Req<'_>,
    store: &crate::store::OrgData,
    table: &Table,
    row: &Row,
    q: &QueryOptions,
    prefer: &Prefer,
    status: StatusCode,
) -> Response {
    let ann = prefer.annotation_filter();
    let select = q.select.as_deref();
    let mut body = render(store, table, row, select, &ann);
    add_expanded(&mut body, store, row, q.expands(), &ann);
    body.insert(
        "@odata.context".into(),
        Value::String(context_expanded(
            &req.sh.base_url,
            table.set,
            select,
            q.expands(),
            "/$entity",
        )),
    );
    let mut r = json_response(status, &Value::Object(body));
    set_header(&mut r, "etag", &row.etag());
    let mut applied = Vec::new();
    if status != StatusCode::OK || *req.method != Method::GET {
        applied.push("return=representation".to_string());
    }
    annotations_applied(prefer, &mut applied);
    preference_applied(&mut r, &applied);
    r
}

/// Parses `W/"123"` (or `"123"`) into a version.
fn etag_version(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    s.trim_matches('"').parse().ok()
}

fn conditions(headers: &HeaderMap) -> Conditions {
    let mut c = Conditions::default();
    if let Some(v) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        c.if_match = Some(if v == "*" {
            None
        } else {
            // An unparsable etag can match no row: version 0 is never used.
            Some(etag_version(v).unwrap_or(0))
        });
    }
    if let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        c.if_none_match_any = v.trim() == "*";
    }
    c
}

fn body_object(req: &Req<'_>, table: &Table) -> Result<Map<String, Value>, ApiError> {
    if req.body.is_empty() {
        return Err(ApiError::payload(table.set, "The request body is empty."));
    }
    let v: Value = serde_json::from_slice(req.body)
        .map_err(|e| ApiError::payload(table.set, format!("Invalid JSON. {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::payload(
            table.set,
            "The request body must be a JSON object.",
        )),
    }
}

fn entity_id(req: &Req<'_>, table: &Table, id: Uuid) -> String {
    format!("{}{API_PREFIX}/{}({id})", req.sh.base_url, table.set)
}

fn written(
    req: &Req<'_>,
    table: &Table,
    id: Uuid,
    status_with_body: StatusCode,
) -> Result<Response, ApiError> {
    let prefer = Prefer::from_headers(req.headers);
    let mut r = if prefer.representation {
        let q = row_options(req, table)?;
        let store = lock(&req.sh.store);
        let row = store
            .get(table.set, id)
            .ok_or_else(|| ApiError::not_found(table.logical, id))?;
        row_response(req, &store, table, row, &q, &prefer, status_with_body)
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    set_header(&mut r, "odata-entityid", &entity_id(req, table, id));
    Ok(r)
}

fn ctx(req: &Req<'_>) -> WriteCtx {
    WriteCtx {
        actor: req.user,
        now: req.sh.clock.now(),
    }
}

fn create(req: &Req<'_>, table: &Table) -> Result<Response, ApiError> {
    let body = body_object(req, table)?;
    let id = lock(&req.sh.store).create(table.set, None, &body, ctx(req))?;
    written(req, table, id, StatusCode::CREATED)
}

fn upsert(req: &Req<'_>, table: &Table, id: Uuid) -> Result<Response, ApiError> {
    let body = body_object(req, table)?;
    let cond = conditions(req.headers);
    let what = lock(&req.sh.store).upsert(table.set, id, &body, ctx(req), &cond)?;
    let status = match what {
        Upserted::Created => StatusCode::CREATED,
        Upserted::Updated => StatusCode::OK,
    };
    written(req, table, id, status)
}

fn delete(req: &Req<'_>, table: &Table, id: Uuid) -> Result<Response, ApiError> {
    let cond = conditions(req.headers);
    lock(&req.sh.store).delete(table.set, id, &cond, ctx(req))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `teammembership_association` between `teams` and `systemusers`.
fn membership(
    req: &Req<'_>,
    table: &'static Table,
    id: Uuid,
    other: Option<String>,
    reference: bool,
) -> Result<Response, ApiError> {
    let other_table = if table.set == "teams" {
        schema().by_set("systemusers")
    } else {
        schema().by_set("teams")
    }
    .ok_or_else(|| ApiError::segment(table.set))?;
    if lock(&req.sh.store).get(table.set, id).is_none() {
        return Err(ApiError::not_found(table.logical, id));
    }
    let pair = |other_id: Uuid| {
        if table.set == "teams" {
            (id, other_id)
        } else {
            (other_id, id)
        }
    };
    match (req.method.clone(), reference, other) {
        (Method::GET, false, None) => {
            let ids = {
                let store = lock(&req.sh.store);
                if table.set == "teams" {
                    store.members_of(id)
                } else {
                    store.teams_of(id)
                }
            };
            collection(req, other_table, Some(ids))
        }
        (Method::POST, true, None) => {
            let body = body_object(req, table)?;
            let target = body
                .get("@odata.id")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::payload(
                        table.set,
                        "The body must be {\"@odata.id\": \"<url of the related row>\"}.",
                    )
                })?;
            let (t, other_id) = parse_entity_ref(target).ok_or_else(|| {
                ApiError::payload(
                    table.set,
                    format!("'{target}' is not a valid entity reference."),
                )
            })?;
            if t.set != other_table.set {
                return Err(ApiError::payload(
                    table.set,
                    format!(
                        "teammembership_association relates teams and systemusers, not {}.",
                        t.set
                    ),
                ));
            }
            let mut store = lock(&req.sh.store);
            if store.get(other_table.set, other_id).is_none() {
                return Err(ApiError::not_found(other_table.logical, other_id));
            }
            let (team, user) = pair(other_id);
            store.add_member(team, user);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::DELETE, true, key) => {
            let other_id = match key {
                Some(k) => parse_key(other_table, &k)?,
                None => {
                    let q: Vec<(String, String)> = crate::odata::query_pairs(req.query);
                    let target = q
                        .iter()
                        .find(|(k, _)| k == "$id")
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| ApiError::query("Removing a reference needs teammembership_association(<id>)/$ref or $ref?$id=<url>."))?;
                    parse_entity_ref(&target)
                        .filter(|(t, _)| t.set == other_table.set)
                        .map(|(_, id)| id)
                        .ok_or_else(|| {
                            ApiError::query(format!("'{target}' is not a valid reference."))
                        })?
                }
            };
            let (team, user) = pair(other_id);
            lock(&req.sh.store).remove_member(team, user);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (m, _, _) => Err(method_not_allowed(&m)),
    }
}

/// A response body for paths outside the API (404 in Dataverse's format).
pub async fn not_found(uri: axum::http::Uri) -> Response {
    ApiError::segment(uri.path().trim_start_matches('/')).into_response()
}

/// An absolute Web API link to `path` with the query `pairs`: how next and delta
/// links are written.
fn link(req: &Req<'_>, path: &str, pairs: &[(String, String)]) -> String {
    format!(
        "{}{API_PREFIX}/{path}{}",
        req.sh.base_url,
        build_query(pairs)
    )
}
