//! The orders HTTP API: request and response bodies, their parsing into domain types, and
//! the handlers, each annotated for the OpenAPI document.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kit::extract::{Json, Path, Query};
use kit::problem::ProblemDetails;
use kit::validate::Fields;
use kit::{ApiResult, Problem, Region};

use crate::domain::{
    Currency, DomainError, LineItem, Lines, Money, NewOrder, Order, OrderId, OrderStatus, Quantity,
    Sku, UserId,
};
use crate::store::{CancelOutcome, OrderStore};

/// What the handlers share.
struct AppState {
    store: Arc<dyn OrderStore>,
    region: Region,
}

type AppStateRef = State<Arc<AppState>>;

/// The orders routes, with their OpenAPI description, ready for `kit::http::service_router`.
pub fn routes(store: Arc<dyn OrderStore>, region: Region) -> OpenApiRouter {
    let state = Arc::new(AppState { store, region });
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .with_state(state)
}

/// `POST /orders`: a new order. Unknown fields are refused, so a misspelt field is a 422
/// rather than silently ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// The user placing the order (a UUID).
    #[schema(format = Uuid, example = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e")]
    pub user_id: String,
    /// ISO 4217 code, three uppercase letters.
    #[schema(example = "EUR")]
    pub currency: String,
    /// 1 to 100 lines.
    pub items: Vec<CreateLineItem>,
}

/// One line of a new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLineItem {
    /// Letters, digits, `-`, `_`, `.`; at most 64 characters.
    #[schema(example = "SKU-1")]
    pub sku: String,
    /// 1 to 10000.
    #[schema(example = 2)]
    pub quantity: i64,
    /// The price of one unit in minor units (cents), 0 to 2^53 − 1.
    #[schema(example = 1250)]
    pub unit_price_cents: i64,
}

impl CreateOrder {
    /// The domain's view of the request, or one 422 naming every invalid field.
    pub fn parse(&self) -> ApiResult<NewOrder> {
        let mut fields = Fields::new();
        let user_id = fields.check("user_id", self.user_id.parse::<UserId>());
        let currency = fields.check("currency", self.currency.parse::<Currency>());
        let lines = self.parse_lines(&mut fields);
        let ((user_id, currency), lines) = fields.finish(user_id.zip(currency).zip(lines))?;
        Ok(NewOrder {
            user_id,
            currency,
            lines,
        })
    }

    fn parse_lines(&self, fields: &mut Fields) -> Option<Lines> {
        if self.items.is_empty() || self.items.len() > Order::MAX_ITEMS {
            return fields.check("items", Err::<Lines, _>(DomainError::ItemCount));
        }
        let mut lines = Vec::with_capacity(self.items.len());
        for (i, item) in self.items.iter().enumerate() {
            let at = |name: &str| format!("items[{i}].{name}");
            let sku = fields.check(&at("sku"), item.sku.parse::<Sku>());
            let quantity = fields.check(&at("quantity"), Quantity::new(item.quantity.into()));
            let price = fields.check(
                &at("unit_price_cents"),
                Money::from_minor(item.unit_price_cents.into()),
            );
            if let (Some(sku), Some(quantity), Some(unit_price)) = (sku, quantity, price) {
                lines.push(LineItem {
                    sku,
                    quantity,
                    unit_price,
                });
            }
        }
        if lines.len() < self.items.len() {
            // Some line was invalid and already reported: no total to check.
            return None;
        }
        fields.check("items", Lines::new(lines))
    }
}

/// An order as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderBody {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub user_id: String,
    #[schema(example = "EUR")]
    pub currency: String,
    pub items: Vec<LineItemBody>,
    /// The sum of the lines' totals, in minor units.
    pub total_cents: u64,
    pub status: OrderStatus,
    /// Starts at 1; every write adds one.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The Region that last wrote the order.
    #[schema(example = "us-east-1")]
    pub region: String,
}

/// One line of an order as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineItemBody {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: u64,
    /// `quantity × unit_price_cents`.
    pub line_total_cents: u64,
}

impl From<&Order> for OrderBody {
    fn from(order: &Order) -> Self {
        let items = order
            .lines
            .items()
            .iter()
            .map(|l| LineItemBody {
                sku: l.sku.as_str().to_owned(),
                quantity: l.quantity.get(),
                unit_price_cents: l.unit_price.minor(),
                // Lines are valid by construction, so every line total fits.
                line_total_cents: l.total().map_or(0, Money::minor),
            })
            .collect();
        Self {
            id: order.id.to_string(),
            user_id: order.user_id.to_string(),
            currency: order.currency.to_string(),
            items,
            total_cents: order.total().minor(),
            status: order.status,
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
            region: order.region.to_string(),
        }
    }
}

/// One page of a user's orders.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderList {
    /// Oldest first.
    pub items: Vec<OrderBody>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of `GET /orders`; every value is checked by hand so that a bad one is a 422
/// naming it, like a bad body field.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Whose orders (required).
    pub user_id: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The default and largest page sizes of `GET /orders`.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// A parsed `GET /orders` query.
struct Listing {
    user: UserId,
    limit: usize,
    after: Option<OrderId>,
}

impl ListQuery {
    fn parse(&self) -> ApiResult<Listing> {
        let mut fields = Fields::new();
        let user = match &self.user_id {
            Some(raw) => fields.check("user_id", raw.parse::<UserId>()),
            None => fields.check("user_id", Err::<UserId, _>("is required")),
        };
        let limit = fields.check_optional("limit", self.limit.as_deref().map(parse_limit));
        let cursor = fields.check_optional("cursor", self.cursor.as_deref().map(Cursor::decode));
        let ((user, limit), cursor) = fields.finish(user.zip(limit).zip(cursor))?;
        if let Some(cursor) = &cursor
            && cursor.user != user
        {
            return Err(Problem::validation(vec![kit::FieldError::new(
                "cursor",
                "belongs to another user's listing",
            )]));
        }
        Ok(Listing {
            user,
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            after: cursor.map(|c| c.after),
        })
    }
}

fn parse_limit(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("must be an integer from 1 to {MAX_LIMIT}")),
    }
}

/// Where a listing continues: opaque to clients (base64url), and bound to the user whose
/// listing produced it, so a cursor cannot be replayed against another partition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    user: UserId,
    after: OrderId,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}/{}", self.user, self.after))
    }

    fn decode(raw: &str) -> Result<Self, &'static str> {
        const BAD: &str = "is not a cursor returned by this listing";
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| BAD)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| BAD)?;
        let (user, after) = text.split_once('/').ok_or(BAD)?;
        Ok(Self {
            user: user.parse().map_err(|_| BAD)?,
            after: after.parse().map_err(|_| BAD)?,
        })
    }
}

/// An order id from the path; a malformed one names no order, so it is a 404 like an
/// unknown one.
fn order_id(raw: &str) -> ApiResult<OrderId> {
    raw.parse().map_err(|_| not_found(raw))
}

fn not_found(id: impl std::fmt::Display) -> Problem {
    Problem::not_found(format!("no order with id `{id}`"))
}

fn not_pending(order: &Order) -> Problem {
    Problem::conflict(format!(
        "order {} is {}; only a pending order can be cancelled",
        order.id, order.status
    ))
    .with_kind("order-not-pending")
}

fn order_response(status: StatusCode, order: &Order) -> Response {
    (status, axum::Json(OrderBody::from(order))).into_response()
}

/// Place an order: its total is computed here, its status is `pending`.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    request_body = CreateOrder,
    responses(
        (status = 201, description = "The order, placed", body = OrderBody,
         headers(("location" = String, description = "The order's URL"))),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn create_order(
    State(app): AppStateRef,
    Json(request): Json<CreateOrder>,
) -> ApiResult<Response> {
    let new = request.parse()?;
    let order = Order::place(new, Utc::now(), app.region.clone());
    app.store.create(&order).await?;
    let mut response = order_response(StatusCode::CREATED, &order);
    if let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", order.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// One order.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderBody),
        (status = 404, description = "No such order", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn get_order(State(app): AppStateRef, Path(id): Path<String>) -> ApiResult<Response> {
    let id = order_id(&id)?;
    let order = app.store.get(&id).await?.ok_or_else(|| not_found(id))?;
    Ok(order_response(StatusCode::OK, &order))
}

/// A user's orders, oldest first, a page at a time (the `by-user` index). DynamoDB updates
/// a global secondary index asynchronously, so on AWS an order placed a moment ago may be
/// missing from the listing for a short while; `GET /orders/{id}` always finds it.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = OrderList),
        (status = 422, description = "Invalid `user_id`, `limit` or `cursor`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn list_orders(
    State(app): AppStateRef,
    Query(query): Query<ListQuery>,
) -> ApiResult<Response> {
    let listing = query.parse()?;
    let page = app
        .store
        .list_by_user(&listing.user, listing.limit, listing.after.as_ref())
        .await?;
    let next_cursor = page.next.map(|after| {
        Cursor {
            user: listing.user,
            after,
        }
        .encode()
    });
    let body = OrderList {
        items: page.orders.iter().map(OrderBody::from).collect(),
        next_cursor,
    };
    Ok(axum::Json(body).into_response())
}

/// Cancel a pending order. The store writes the cancellation only if the order is still
/// pending, so of two racing cancellations exactly one succeeds and the other gets a 409.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders",
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order, cancelled", body = OrderBody),
        (status = 404, description = "No such order", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The order is not pending", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
async fn cancel_order(State(app): AppStateRef, Path(id): Path<String>) -> ApiResult<Response> {
    let id = order_id(&id)?;
    let order = app.store.get(&id).await?.ok_or_else(|| not_found(id))?;
    let cancelled = order
        .cancelled(Utc::now(), app.region.clone())
        .map_err(|_| not_pending(&order))?;
    match app.store.cancel(&cancelled).await? {
        CancelOutcome::Cancelled => Ok(order_response(StatusCode::OK, &cancelled)),
        // Someone else wrote first: answer from what is stored now.
        CancelOutcome::NotPending => match app.store.get(&id).await? {
            Some(now) => Err(not_pending(&now)),
            None => Err(not_found(id)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";

    fn request(value: serde_json::Value) -> CreateOrder {
        serde_json::from_value(value).unwrap()
    }

    fn fields_of(problem: Problem) -> Vec<String> {
        assert_eq!(problem.status, StatusCode::UNPROCESSABLE_ENTITY);
        problem.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_valid_request_parses() {
        let new = request(serde_json::json!({
            "user_id": ALICE, "currency": "EUR",
            "items": [{"sku": "A", "quantity": 2, "unit_price_cents": 1250}, {"sku": "B", "quantity": 1, "unit_price_cents": 1}]
        }))
        .parse()
        .unwrap();
        assert_eq!(new.lines.total().minor(), 2501);
        assert_eq!(new.user_id.to_string(), ALICE);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let problem = request(serde_json::json!({
            "user_id": "nobody", "currency": "eur",
            "items": [{"sku": "", "quantity": 0, "unit_price_cents": -1}, {"sku": "ok", "quantity": 1, "unit_price_cents": 1}]
        }))
        .parse()
        .unwrap_err();
        assert_eq!(
            fields_of(problem),
            [
                "user_id",
                "currency",
                "items[0].sku",
                "items[0].quantity",
                "items[0].unit_price_cents"
            ]
        );
    }

    #[test]
    fn counts_and_totals_are_checked_on_items() {
        let empty = request(serde_json::json!({"user_id": ALICE, "currency": "EUR", "items": []}));
        assert_eq!(fields_of(empty.parse().unwrap_err()), ["items"]);
        let line =
            serde_json::json!({"sku": "A", "quantity": 10000, "unit_price_cents": Money::MAX});
        let huge =
            request(serde_json::json!({"user_id": ALICE, "currency": "EUR", "items": [line]}));
        let problem = huge.parse().unwrap_err();
        assert!(problem.errors[0].message.contains("total"), "{problem:?}");
        assert_eq!(fields_of(problem), ["items"]);
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            user: ALICE.parse().unwrap(),
            after: OrderId::new(),
        };
        let encoded = cursor.encode();
        assert!(!encoded.contains(ALICE), "cursors are opaque");
        assert_eq!(Cursor::decode(&encoded).unwrap(), cursor);
        for bad in [
            "",
            "!!!",
            "bm90IGEgY3Vyc29y",
            &URL_SAFE_NO_PAD.encode(format!("{ALICE}/x")),
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_queries_are_checked() {
        let q = |user: Option<&str>, limit: Option<&str>, cursor: Option<&str>| ListQuery {
            user_id: user.map(Into::into),
            limit: limit.map(Into::into),
            cursor: cursor.map(Into::into),
        };
        let ok = q(Some(ALICE), None, None).parse().unwrap();
        assert_eq!((ok.limit, ok.after), (DEFAULT_LIMIT, None));
        assert_eq!(
            q(Some(ALICE), Some("100"), None).parse().unwrap().limit,
            100
        );
        let problem = q(None, Some("0"), Some("zz")).parse().err().unwrap();
        assert_eq!(fields_of(problem), ["user_id", "limit", "cursor"]);
        let bob = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8f";
        let bobs = Cursor {
            user: bob.parse().unwrap(),
            after: OrderId::new(),
        }
        .encode();
        let problem = q(Some(ALICE), None, Some(&bobs)).parse().err().unwrap();
        assert_eq!(fields_of(problem), ["cursor"]);
    }
}
