//! The orders HTTP API: request and response bodies, their parsing into domain types, and
//! the handlers, each annotated for the OpenAPI document.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kit::docs::{BadParameters, JsonBody, NotFound, Unavailable};
use kit::extract::{Json, PathId, Query};
use kit::json::{Array, Object, WriteJson};
use kit::money::Money;
use kit::paging::{self, PageQuery};
use kit::problem::{PROBLEM_JSON, ProblemDetails, ProblemType};
use kit::time::Timestamp;
use kit::validate::Fields;
use kit::{ApiResult, Problem, Region};

use crate::domain::{
    DomainError, LineItem, Lines, NewOrder, Order, OrderId, OrderStatus, Quantity, Sku, UserId,
};
use crate::store::{CancelOutcome, Store};

/// A cancellation of an order that is not pending.
const NOT_PENDING: ProblemType = ProblemType {
    slug: "order-not-pending",
    title: "Conflict",
    description: "Only a pending order can be cancelled; this one is not (it was cancelled \
                  already, perhaps by a concurrent request).",
};

/// The problem types the orders service answers with, besides the kit's.
pub const PROBLEMS: &[ProblemType] = &[NOT_PENDING];

/// What the handlers share.
struct AppState {
    store: Store,
    /// New and changed orders are stamped with this Region.
    region: Region,
}

type AppStateRef = State<Arc<AppState>>;

/// The orders routes, with their OpenAPI description, ready for `kit::http::service_router`.
pub fn routes(store: Store, region: Region) -> OpenApiRouter {
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
    /// The user placing the order (a user id: a UUIDv7, lowercase and hyphenated).
    #[schema(schema_with = kit::id::schema)]
    pub user_id: String,
    /// ISO 4217 code, three uppercase letters.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// 1 to 100 lines, whose total is at most 2^53 − 1 minor units (a larger total is a 422
    /// naming `items`).
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<CreateLineItem>,
}

/// One line of a new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLineItem {
    /// Letters, digits, `-`, `_`, `.`, starting with a letter or digit; at most 64 characters.
    #[schema(
        example = "SKU-1",
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    )]
    pub sku: String,
    /// 1 to 10000.
    #[schema(example = 2, minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// The price of one unit in minor units (cents), 0 to 2^53 − 1.
    #[schema(example = 1250, minimum = 0, maximum = 9007199254740991_i64)]
    pub unit_price_cents: i64,
}

impl CreateOrder {
    /// The domain's view of the request, or one 422 naming every invalid field.
    pub fn parse(&self) -> ApiResult<NewOrder> {
        let mut fields = Fields::new();
        let user_id = fields.check("user_id", self.user_id.parse::<UserId>());
        let currency = fields.check("currency", self.currency.parse());
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
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderBody {
    pub id: OrderId,
    pub user_id: UserId,
    #[schema(value_type = String, example = "EUR")]
    pub currency: kit::money::Currency,
    pub items: Vec<LineItemBody>,
    /// The sum of the lines' totals, in minor units.
    pub total_cents: u64,
    pub status: OrderStatus,
    /// Starts at 1; every write adds one.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The Region that last wrote the order.
    #[schema(example = "us-east-1")]
    pub region: String,
}

/// One line of an order as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
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
            id: order.id,
            user_id: order.user_id,
            currency: order.currency,
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

/// An order's body written straight from the order, byte for byte [`OrderBody`]'s serde
/// form (the tests compare them): every response of one order takes this path, without the
/// copy into an `OrderBody` and serde's per-byte escaping.
struct OrderJson<'a>(&'a Order);

impl WriteJson for OrderJson<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let order = self.0;
        Object::new(out)
            .field("id", order.id)
            .field("user_id", order.user_id)
            .field("currency", order.currency)
            .field("items", Array(order.lines.items().iter().map(LineJson)))
            .field("total_cents", order.total())
            .field("status", order.status.as_str())
            .field("version", order.version)
            .field("created_at", order.created_at)
            .field("updated_at", order.updated_at)
            .field("region", order.region.as_str())
            .end();
    }
}

/// One line as [`LineItemBody`]'s serde form.
struct LineJson<'a>(&'a LineItem);

impl WriteJson for LineJson<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let line = self.0;
        Object::new(out)
            .field("sku", line.sku.as_str())
            .field("quantity", line.quantity.get())
            .field("unit_price_cents", line.unit_price)
            // Lines are valid by construction, so every line total fits.
            .field("line_total_cents", line.total().map_or(0, Money::minor))
            .end();
    }
}

/// One page of a user's orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    /// Oldest first.
    pub items: Vec<OrderBody>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of `GET /orders`: whose orders, and the paging parameters of every listing.
/// Values are strings here and parsed by hand, so that a bad one is a 400 naming it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Whose orders (required): a user id.
    #[param(required = true, inline, value_type = UserId)]
    pub user_id: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(pattern = "^[1-9][0-9]?$|^100$", example = "20")]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page; empty or absent for the first page.
    pub cursor: Option<String>,
}

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
        let paging = PageQuery {
            limit: self.limit.clone(),
            cursor: self.cursor.clone(),
        };
        let page = paging.check::<Cursor>(&mut fields);
        let (user, (limit, cursor)) = fields.finish_query(user.zip(page))?;
        if let Some(cursor) = &cursor
            && cursor.user != user
        {
            return Err(Problem::invalid_parameters(vec![kit::FieldError::new(
                "cursor",
                "belongs to another user's listing",
            )]));
        }
        Ok(Listing {
            user,
            limit: limit.get(),
            after: cursor.map(|c| c.after),
        })
    }
}

/// Where a listing continues, bound to the user whose listing produced it, so a cursor
/// cannot be replayed against another partition. Opaque to clients ([`paging::encode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    user: UserId,
    after: OrderId,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.user, self.after)
    }
}

impl std::str::FromStr for Cursor {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let (user, after) = text.split_once('/').ok_or(())?;
        Ok(Self {
            user: user.parse().map_err(drop)?,
            after: after.parse().map_err(drop)?,
        })
    }
}

fn not_found(id: OrderId) -> Problem {
    kit::id::not_found::<Order>(&id)
}

fn not_pending(order: &Order) -> Problem {
    Problem::conflict(format!(
        "order {} is {}; only a pending order can be cancelled",
        order.id, order.status
    ))
    .with_kind(NOT_PENDING.slug)
}

fn order_response(status: StatusCode, order: &Order) -> Response {
    (status, kit::json::Body(OrderJson(order))).into_response()
}

/// Place an order: its total is computed here, its status is `pending`.
#[utoipa::path(
    post, path = "/orders", tag = "orders",
    request_body = CreateOrder,
    responses(
        (status = 201, description = "The order, placed", body = OrderBody,
         headers(("location" = String, description = "The order's URL"))),
        JsonBody, Unavailable,
    )
)]
async fn create_order(
    State(app): AppStateRef,
    Json(request): Json<CreateOrder>,
) -> ApiResult<Response> {
    let new = request.parse()?;
    let order = Order::place(new, Timestamp::now(), app.region.clone());
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
    params(PathId<Order>),
    responses((status = 200, description = "The order", body = OrderBody), NotFound, Unavailable)
)]
async fn get_order(State(app): AppStateRef, PathId(id): PathId<Order>) -> ApiResult<Response> {
    let order = app.store.get(&id).await?.ok_or_else(|| not_found(id))?;
    Ok(order_response(StatusCode::OK, &order))
}

/// A user's orders, oldest first, a page at a time (the `by-user` index). DynamoDB updates
/// a global secondary index asynchronously, so on AWS an order placed a moment ago may be
/// missing from the listing for a short while; `GET /orders/{id}` always finds it.
#[utoipa::path(
    get, path = "/orders", tag = "orders",
    params(ListQuery),
    responses((status = 200, description = "One page", body = OrderList), BadParameters, Unavailable)
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
        paging::encode(&Cursor {
            user: listing.user,
            after,
        })
    });
    let body = OrderList {
        items: page.orders.iter().map(OrderBody::from).collect(),
        next_cursor,
    };
    Ok(Json(body).into_response())
}

/// Cancel a pending order. The store writes the cancellation only if the order is still
/// pending, so of two racing cancellations exactly one succeeds and the other gets a 409.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders",
    params(PathId<Order>),
    responses(
        (status = 200, description = "The order, cancelled", body = OrderBody),
        (status = 409, description = "The order is not pending", body = ProblemDetails, content_type = PROBLEM_JSON),
        NotFound, Unavailable,
    )
)]
async fn cancel_order(State(app): AppStateRef, PathId(id): PathId<Order>) -> ApiResult<Response> {
    let order = app.store.get(&id).await?.ok_or_else(|| not_found(id))?;
    let cancelled = order
        .cancelled(Timestamp::now(), app.region.clone())
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

    /// Query parameters that do not parse make the request unreadable: 400, each named.
    fn parameters_of(problem: Problem) -> Vec<String> {
        assert_eq!(problem.status, StatusCode::BAD_REQUEST);
        problem.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn order_bodies_are_written_as_serde_writes_them() {
        let line = |sku: &str, quantity, cents| LineItem {
            sku: sku.parse().unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
            unit_price: Money::from_minor(cents).unwrap(),
        };
        let new = NewOrder {
            user_id: ALICE.parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            lines: Lines::new(vec![line("SKU-1", 2, 1250), line("b.2_x", 10_000, 0)]).unwrap(),
        };
        let placed = Order::place(new, Timestamp::now(), "us-east-1".parse().unwrap());
        let later = placed.created_at + chrono::TimeDelta::microseconds(1_000_001);
        let cancelled = placed
            .cancelled(later, "eu-west-1".parse().unwrap())
            .unwrap();
        for order in [placed, cancelled] {
            let mut written = Vec::new();
            OrderJson(&order).write_json(&mut written);
            let serde = serde_json::to_vec(&OrderBody::from(&order)).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(serde).unwrap()
            );
        }
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
        let encoded = paging::encode(&cursor);
        assert!(!encoded.contains(ALICE), "cursors are opaque");
        assert_eq!(paging::decode::<Cursor>(&encoded).unwrap(), cursor);
        for bad in [
            "",
            "!!!",
            "bm90IGEgY3Vyc29y",
            &paging::encode(&format!("{ALICE}/x")),
        ] {
            assert!(paging::decode::<Cursor>(bad).is_err(), "{bad}");
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
        assert_eq!((ok.limit, ok.after), (paging::DEFAULT_LIMIT, None));
        assert_eq!(
            q(Some(ALICE), Some("100"), None).parse().unwrap().limit,
            100
        );
        let problem = q(None, Some("0"), Some("zz")).parse().err().unwrap();
        assert_eq!(parameters_of(problem), ["user_id", "limit", "cursor"]);
        let bob = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8f";
        let bobs = paging::encode(&Cursor {
            user: bob.parse().unwrap(),
            after: OrderId::new(),
        });
        let problem = q(Some(ALICE), None, Some(&bobs)).parse().err().unwrap();
        assert_eq!(parameters_of(problem), ["cursor"]);
    }
}
