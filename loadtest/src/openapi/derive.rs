//! From a service's OpenAPI document to the operations traffic can use: per collection
//! (`/orders`) a create (`POST`), a listing (`GET`), a read by id (`GET /orders/{id}`) and an
//! update (`PATCH`/`PUT` on the item, else a `POST` action under it such as `/cancel`). Pure:
//! no I/O, so it is tested on documents alone.

use http::{HeaderName, Method};
use serde_json::Value;

use super::document::{Document, Operation, Parameter};
use super::template::{Template, Unbuildable};

/// The traffic one service's document allows.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ServiceApi {
    pub collections: Vec<Collection>,
}

/// A collection and the operations on it and its items.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Collection {
    /// `/orders`.
    pub path: String,
    pub create: Option<Create>,
    pub list: Option<List>,
    /// `GET /orders/{id}`.
    pub read: Option<ItemPath>,
    pub update: Option<Update>,
}

/// `POST` on the collection.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Create {
    pub body: Option<Template>,
    pub headers: Vec<HeaderFill>,
}

/// `GET` on the collection, with the query parameters to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct List {
    pub query: Vec<(String, QueryFill)>,
}

/// A query parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QueryFill {
    /// The value a created item was given for this body field: a listing filtered by a field
    /// of its items (`GET /orders?user_id=…`) lists what was written.
    Field(String),
    Value(Template),
}

/// A path with one item id in it: `/orders/{id}`, `/orders/{id}/cancel`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ItemPath {
    pub template: String,
    /// The parameter's name, `id` in `{id}`.
    pub param: String,
}

/// How an item is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKind {
    /// `PATCH` or `PUT` on the item: it can be repeated.
    Replace,
    /// A `POST` action on the item (`/cancel`): often valid once only.
    Action,
}

/// An operation that changes an item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Update {
    pub method: Method,
    pub path: ItemPath,
    pub kind: UpdateKind,
    pub body: Option<Template>,
    pub headers: Vec<HeaderFill>,
}

/// A required request header's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HeaderFill {
    /// A fresh UUID per operation (`Idempotency-Key`).
    Fresh(HeaderName),
    /// The version of the item last read (`If-Match`).
    Version(HeaderName),
    Value(HeaderName, Template),
}

/// What a document gave: the usable operations, and each one left out with the reason.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Derivation {
    pub api: ServiceApi,
    pub skipped: Vec<String>,
}

impl ServiceApi {
    /// Whether any operation is usable.
    pub(crate) fn is_empty(&self) -> bool {
        self.collections.is_empty()
    }

    /// The collections under `prefix` (`/orders` keeps `/orders` and `/orders/…`): what a
    /// gateway route to this service reaches, since the gateway forwards paths unchanged.
    pub(crate) fn under(&self, prefix: &str) -> ServiceApi {
        let prefix = prefix.trim_end_matches('/');
        ServiceApi {
            collections: self
                .collections
                .iter()
                .filter(|c| {
                    c.path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                })
                .cloned()
                .collect(),
        }
    }

    /// The operations, as `METHOD path`, for reports.
    pub(crate) fn operations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.collections {
            if c.create.is_some() {
                out.push(format!("POST {}", c.path));
            }
            if c.list.is_some() {
                out.push(format!("GET {}", c.path));
            }
            if let Some(read) = &c.read {
                out.push(format!("GET {}", read.template));
            }
            if let Some(u) = &c.update {
                out.push(format!("{} {}", u.method, u.path.template));
            }
        }
        out
    }
}

impl ItemPath {
    /// The path of item `id`.
    pub(crate) fn of(&self, id: &str) -> String {
        self.template
            .replace(&format!("{{{}}}", self.param), &percent_encode(id))
    }
}

/// Derives the usable operations of `doc`.
pub(crate) fn derive(doc: &Document) -> Derivation {
    let mut out = Derivation::default();
    for (path, ops) in &doc.paths {
        if path.contains('{') {
            continue;
        }
        let mut skip = |method: &str, p: &str, why: String| {
            out.skipped.push(format!("{method} {p}: {why}"));
        };
        let create = ops.get("post").and_then(|op| {
            create(doc, op)
                .map_err(|Unbuildable(why)| skip("POST", path, why))
                .ok()
        });
        let list = ops.get("get").and_then(|op| {
            list(doc, op, create.as_ref())
                .map_err(|Unbuildable(why)| skip("GET", path, why))
                .ok()
        });
        let mut collection = Collection {
            path: path.clone(),
            create,
            list,
            read: None,
            update: None,
        };
        if let Some(item) = item_path(doc, path) {
            let (read, update) = item_operations(doc, &item, collection.create.as_ref(), &mut skip);
            collection.read = read;
            collection.update = update;
        }
        if collection.create.is_none() && (collection.read.is_some() || collection.update.is_some())
        {
            // Item operations need ids, and only this collection's creates give them.
            skip("GET", path, "no usable create gives item ids".into());
            collection.read = None;
            collection.update = None;
        }
        if collection.create.is_some() || collection.list.is_some() {
            out.api.collections.push(collection);
        }
    }
    out
}

/// The item path of collection `path`: `path/{name}`.
fn item_path(doc: &Document, path: &str) -> Option<ItemPath> {
    doc.paths.keys().find_map(|p| {
        let rest = p.strip_prefix(path)?.strip_prefix("/{")?;
        let param = rest.strip_suffix('}')?;
        (!param.contains(['/', '{', '}'])).then(|| ItemPath {
            template: p.clone(),
            param: param.to_owned(),
        })
    })
}

type Skip<'a> = dyn FnMut(&str, &str, String) + 'a;

fn item_operations(
    doc: &Document,
    item: &ItemPath,
    create: Option<&Create>,
    skip: &mut Skip<'_>,
) -> (Option<ItemPath>, Option<Update>) {
    let ops = &doc.paths[&item.template];
    let read = ops.get("get").and_then(|op| {
        check_params(doc, op, Some(&item.param), false)
            .map(|_| item.clone())
            .map_err(|Unbuildable(why)| skip("GET", &item.template, why))
            .ok()
    });
    let mut candidates: Vec<(Method, ItemPath, UpdateKind, &Operation)> = Vec::new();
    for (method, name) in [(Method::PATCH, "patch"), (Method::PUT, "put")] {
        if let Some(op) = ops.get(name) {
            candidates.push((method, item.clone(), UpdateKind::Replace, op));
        }
    }
    // Actions: `POST /orders/{id}/cancel`, in the document's (alphabetical) order.
    for (p, ops) in &doc.paths {
        let Some(verb) = p
            .strip_prefix(&item.template)
            .and_then(|r| r.strip_prefix('/'))
        else {
            continue;
        };
        if let (false, Some(op)) = (verb.contains(['/', '{']), ops.get("post")) {
            let path = ItemPath {
                template: p.clone(),
                param: item.param.clone(),
            };
            candidates.push((Method::POST, path, UpdateKind::Action, op));
        }
    }
    let update = candidates.into_iter().find_map(|(method, path, kind, op)| {
        update(doc, op, &item.param, create)
            .map(|(body, headers)| Update {
                method: method.clone(),
                path: path.clone(),
                kind,
                body,
                headers,
            })
            .map_err(|Unbuildable(why)| skip(method.as_str(), &path.template, why))
            .ok()
    });
    (read, update)
}

fn create(doc: &Document, op: &Operation) -> Result<Create, Unbuildable> {
    let headers = check_params(doc, op, None, false)?;
    let body = body(doc, op)?;
    Ok(Create { body, headers })
}

fn update(
    doc: &Document,
    op: &Operation,
    param: &str,
    create: Option<&Create>,
) -> Result<(Option<Template>, Vec<HeaderFill>), Unbuildable> {
    let headers = check_params(doc, op, Some(param), true)?;
    let body = body(doc, op)?;
    let body = match (body, create.and_then(|c| c.body.as_ref())) {
        (Some(b), Some(richer)) => Some(b.informed_by(richer)),
        (b, _) => b,
    };
    Ok((body, headers))
}

fn list(doc: &Document, op: &Operation, create: Option<&Create>) -> Result<List, Unbuildable> {
    check_params(doc, op, None, false)?;
    let fields: Vec<&str> = create
        .and_then(|c| c.body.as_ref())
        .map(|b| b.properties().iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    let mut query = Vec::new();
    for p in doc
        .parameters(op)
        .into_iter()
        .filter(|p| p.location == "query")
    {
        if fields.contains(&p.name.as_str()) {
            query.push((p.name.clone(), QueryFill::Field(p.name.clone())));
        } else if p.required {
            query.push((p.name.clone(), QueryFill::Value(param_template(doc, &p)?)));
        }
    }
    Ok(List { query })
}

/// The JSON body to send, if the operation takes one.
fn body(doc: &Document, op: &Operation) -> Result<Option<Template>, Unbuildable> {
    if op.request_body.is_none() {
        return Ok(None);
    }
    let Some(json) = doc.json_body(op) else {
        return Err(Unbuildable("its request body is not JSON".into()));
    };
    match json.schema {
        Some(schema) => Template::of(doc, schema, json.example).map(Some),
        None if json.example.is_some() => Template::of(doc, &Value::Null, json.example).map(Some),
        None if json.required => Err(Unbuildable("its request body has no schema".into())),
        None => Ok(None),
    }
}

/// Checks that every required parameter can be filled, and returns the headers to send.
/// `item` names the one path parameter allowed; `versioned` allows `If-Match`.
fn check_params(
    doc: &Document,
    op: &Operation,
    item: Option<&str>,
    versioned: bool,
) -> Result<Vec<HeaderFill>, Unbuildable> {
    let mut headers = Vec::new();
    for p in doc.parameters(op) {
        match p.location.as_str() {
            "path" if Some(p.name.as_str()) == item => {}
            "path" => {
                return Err(Unbuildable(format!(
                    "path parameter `{}` is not an item id",
                    p.name
                )));
            }
            "header" if p.required => headers.push(header(doc, &p, versioned)?),
            "query" if p.required => {
                param_template(doc, &p)?;
            }
            "cookie" if p.required => {
                return Err(Unbuildable(format!("cookie `{}` is required", p.name)));
            }
            _ => {}
        }
    }
    Ok(headers)
}

fn header(doc: &Document, p: &Parameter, versioned: bool) -> Result<HeaderFill, Unbuildable> {
    let name = HeaderName::from_bytes(p.name.to_ascii_lowercase().as_bytes())
        .map_err(|_| Unbuildable(format!("`{}` is not a header name", p.name)))?;
    match name.as_str() {
        "idempotency-key" => Ok(HeaderFill::Fresh(name)),
        "if-match" if versioned => Ok(HeaderFill::Version(name)),
        "if-match" => Err(Unbuildable(
            "`If-Match` is required where no item is read".into(),
        )),
        _ => Ok(HeaderFill::Value(name, param_template(doc, p)?)),
    }
}

fn param_template(doc: &Document, p: &Parameter) -> Result<Template, Unbuildable> {
    let schema = p.schema.clone().unwrap_or(Value::Null);
    Template::of(doc, &schema, p.example.as_ref())
        .map_err(|Unbuildable(why)| Unbuildable(format!("parameter `{}`: {why}", p.name)))
}

/// `text` with RFC 3986's unreserved characters as they are and the rest percent-encoded: safe
/// as one path segment or one query component.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = include_str!("../../tests/fixtures/openapi/users.json");
    const ORDERS: &str = include_str!("../../tests/fixtures/openapi/orders.json");
    const PAYMENTS: &str = include_str!("../../tests/fixtures/openapi/payments.json");

    fn fixture(text: &str) -> Derivation {
        derive(&Document::parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn a_collection_with_create_list_read_and_a_versioned_patch() {
        let d = fixture(USERS);
        assert_eq!(
            d.api.operations(),
            [
                "POST /users",
                "GET /users",
                "GET /users/{id}",
                "PATCH /users/{id}"
            ]
        );
        let users = &d.api.collections[0];
        let body = users
            .create
            .as_ref()
            .unwrap()
            .body
            .as_ref()
            .unwrap()
            .instantiate();
        assert_eq!(body["name"], "Ada Lovelace");
        assert!(body["email"].as_str().unwrap().ends_with("@example.com"));
        // Optional query parameters that are no field of the items are left out.
        assert!(users.list.as_ref().unwrap().query.is_empty());
        let update = users.update.as_ref().unwrap();
        assert_eq!(update.kind, UpdateKind::Replace);
        assert_eq!(
            update.headers,
            [HeaderFill::Version(HeaderName::from_static("if-match"))]
        );
        // The patch repeats the create's fields without examples: the create's are used.
        let patch = update.body.as_ref().unwrap().instantiate();
        assert!(patch["email"].as_str().unwrap().contains('@'), "{patch}");
        assert_eq!(patch["name"], "Ada Lovelace");
        assert_eq!(users.read.as_ref().unwrap().of("a b"), "/users/a%20b");
    }

    #[test]
    fn nested_bodies_and_a_listing_filtered_by_a_field_of_the_items() {
        let d = fixture(ORDERS);
        let orders = &d.api.collections[0];
        let body = orders
            .create
            .as_ref()
            .unwrap()
            .body
            .as_ref()
            .unwrap()
            .instantiate();
        assert_eq!(body["currency"], "EUR");
        assert_eq!(body["items"][0]["sku"], "SKU-1");
        assert_eq!(body["items"][0]["quantity"], 2);
        let user = body["user_id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(user).is_ok());
        assert_ne!(
            user, "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e",
            "references stay fresh"
        );
        assert_eq!(
            orders.list.as_ref().unwrap().query,
            [("user_id".to_owned(), QueryFill::Field("user_id".into()))]
        );
        // No PATCH or PUT: the item's action is its update, sent once.
        let update = orders.update.as_ref().unwrap();
        assert_eq!(
            (
                update.method.clone(),
                update.path.template.as_str(),
                update.kind
            ),
            (Method::POST, "/orders/{id}/cancel", UpdateKind::Action)
        );
        assert!(update.body.is_none() && update.headers.is_empty());
    }

    #[test]
    fn required_headers_get_fresh_keys() {
        let d = fixture(PAYMENTS);
        assert_eq!(
            d.api.operations(),
            [
                "POST /payments",
                "GET /payments/{id}",
                "POST /payments/{id}/refund"
            ]
        );
        let payments = &d.api.collections[0];
        let key = HeaderFill::Fresh(HeaderName::from_static("idempotency-key"));
        assert_eq!(
            payments.create.as_ref().unwrap().headers,
            std::slice::from_ref(&key)
        );
        assert_eq!(payments.update.as_ref().unwrap().headers, [key]);
        assert!(payments.list.is_none());
    }

    #[test]
    fn a_gateway_route_keeps_the_collections_under_its_prefix() {
        let d = fixture(ORDERS);
        assert_eq!(d.api.under("/orders").collections.len(), 1);
        assert!(d.api.under("/order").is_empty());
        assert!(d.api.under("/payments").is_empty());
    }

    #[test]
    fn unusable_operations_are_left_out_with_the_reason() {
        let doc = Document::parse(
            serde_json::json!({"openapi": "3.1.0", "paths": {
                "/blobs": {"post": {"requestBody": {"required": true,
                    "content": {"application/octet-stream": {}}}}},
                "/things": {"post": {"parameters": [
                    {"name": "If-Match", "in": "header", "required": true}]}},
                "/docs": {"get": {}},
                "/docs/{id}": {"get": {}},
            }})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let d = derive(&doc);
        assert_eq!(d.api.operations(), ["GET /docs"]);
        let skipped = d.skipped.join("\n");
        assert!(
            skipped.contains("POST /blobs: its request body is not JSON"),
            "{skipped}"
        );
        assert!(skipped.contains("POST /things: `If-Match`"), "{skipped}");
        assert!(
            skipped.contains("no usable create gives item ids"),
            "{skipped}"
        );
        let empty = Document::parse(br#"{"openapi": "3.1.0", "paths": {}}"#).unwrap();
        assert!(derive(&empty).api.is_empty());
    }
}
