//! The payments HTTP API: request and response bodies, the `Idempotency-Key` contract, and
//! the handlers, each annotated for the OpenAPI document.
//!
//! The idempotency contract, for `POST /payments` and `POST /payments/{id}/refund`, as the
//! IETF httpapi draft "The Idempotency-Key HTTP Header Field" describes it:
//! - the `Idempotency-Key` header is required: missing, or not 1–255 visible ASCII
//!   characters → 400 `bad-request` naming the header;
//! - the first request with a key is applied, and its response is stored with the key;
//! - a later request with the same key and the same content gets that stored response
//!   (same status, same body) with the header `idempotent-replayed: true`;
//! - a later request with the same key and other content → 422 `idempotency-key-reused`;
//!   a key is one operation: reusing a payment's key for a refund is "other content".
//!   Content is compared after parsing, so JSON whitespace or member order do not matter.
//! - only successes are stored: a request refused (4xx) may be corrected and resent with
//!   the same key.
//! - the draft's 409 for "the first request with this key is still in flight" is never
//!   needed: the key's record and the write it guards are one transaction, so no request
//!   can see a key whose write has not happened; concurrent requests with one key get one
//!   write and its response replayed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kit::docs::{JsonBody, NotFound, Unavailable};
use kit::extract::{Json, PathId, RawJson, parse_json};
use kit::headers::{IDEMPOTENT_REPLAYED, IdempotencyKey};
use kit::money::Money;
use kit::problem::{PROBLEM_JSON, ProblemDetails, ProblemType};
use kit::time::Timestamp;
use kit::validate::Fields;
use kit::{ApiResult, Problem, Region};

use crate::domain::{
    Fingerprint, IdempotencyRecord, MIN_AMOUNT, NewPayment, OrderId, Payment, PaymentId,
    PaymentStatus,
};
use crate::store::{Applied, Store};

/// A key sent again with other content.
const KEY_REUSED: ProblemType = ProblemType {
    slug: "idempotency-key-reused",
    title: "Idempotency key reused",
    description: "This `Idempotency-Key` was already used for a different request (another body, \
                  or another operation). A key names one operation: send a new key for a new one.",
};

/// A refund of a payment that is not captured.
const NOT_CAPTURED: ProblemType = ProblemType {
    slug: "payment-not-captured",
    title: "Conflict",
    description: "Only a captured payment can be refunded; this one is not (it was refunded \
                  already, by a request with another key).",
};

/// The problem types the payments service answers with, besides the kit's.
pub const PROBLEMS: &[ProblemType] = &[KEY_REUSED, NOT_CAPTURED];

/// What the handlers share.
struct AppState {
    store: Store,
    /// New and changed payments are stamped with this Region.
    region: Region,
}

type AppStateRef = State<Arc<AppState>>;

/// The payments routes, with their OpenAPI description, ready for
/// `kit::http::service_router`.
pub fn routes(store: Store, region: Region) -> OpenApiRouter {
    let state = Arc::new(AppState { store, region });
    OpenApiRouter::new()
        .routes(routes!(create_payment))
        .routes(routes!(get_payment))
        .routes(routes!(refund_payment))
        .with_state(state)
}

/// `POST /payments`: take a payment for an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The order paid for (an order id: a UUIDv7, lowercase and hyphenated).
    #[schema(schema_with = kit::id::schema)]
    pub order_id: String,
    /// The amount in minor units (cents), 1 to 2^53 − 1.
    #[schema(example = 2500, minimum = 1, maximum = 9007199254740991_i64)]
    pub amount_cents: i64,
    /// ISO 4217 code, three uppercase letters.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

impl CreatePayment {
    /// The domain's view of the request, or one 422 naming every invalid field.
    pub fn parse(&self) -> ApiResult<NewPayment> {
        let mut fields = Fields::new();
        let order_id = fields.check("order_id", self.order_id.parse::<OrderId>());
        let amount = fields.check(
            "amount_cents",
            Money::at_least(MIN_AMOUNT, self.amount_cents.into()),
        );
        let currency = fields.check("currency", self.currency.parse());
        let ((order_id, amount), currency) = fields.finish(order_id.zip(amount).zip(currency))?;
        Ok(NewPayment {
            order_id,
            amount,
            currency,
        })
    }
}

/// A payment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentBody {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub amount_cents: u64,
    #[schema(value_type = String, example = "EUR")]
    pub currency: kit::money::Currency,
    pub status: PaymentStatus,
    /// Starts at 1; every write adds one.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The Region that last wrote the payment.
    #[schema(example = "us-east-1")]
    pub region: String,
}

impl From<&Payment> for PaymentBody {
    fn from(p: &Payment) -> Self {
        Self {
            id: p.id,
            order_id: p.order_id,
            amount_cents: p.amount.minor(),
            currency: p.currency,
            status: p.status,
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
            region: p.region.to_string(),
        }
    }
}

/// The stored response of a key used before, if the request is the same; else a 422.
fn replay(record: &IdempotencyRecord, fingerprint: &Fingerprint) -> ApiResult<Response> {
    if record.fingerprint != *fingerprint {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            KEY_REUSED.slug,
            KEY_REUSED.title,
            format!(
                "the Idempotency-Key `{}` was already used for a different request; \
                 use a new key for a new operation",
                record.key
            ),
        ));
    }
    let status = StatusCode::from_u16(record.status).map_err(Problem::internal)?;
    let mut response = json_response(status, record.body.clone());
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    Ok(response)
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The response to store with the key and send, and the record that stores it.
fn first_response(
    app: &AppState,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    status: StatusCode,
    payment: &Payment,
) -> ApiResult<IdempotencyRecord> {
    let body = serde_json::to_string(&PaymentBody::from(payment)).map_err(Problem::internal)?;
    Ok(IdempotencyRecord {
        key,
        fingerprint,
        status: status.as_u16(),
        body,
        created_at: payment.updated_at,
        region: app.region.clone(),
    })
}

fn not_found(id: PaymentId) -> Problem {
    kit::id::not_found::<Payment>(&id)
}

fn not_captured(payment: &Payment) -> Problem {
    Problem::conflict(format!(
        "payment {} is {}; only a captured payment can be refunded",
        payment.id, payment.status
    ))
    .with_kind(NOT_CAPTURED.slug)
}

/// Take a payment (status `captured`). Idempotent with the required `Idempotency-Key`: 20
/// concurrent identical requests create one payment; the others get its response replayed.
#[utoipa::path(
    post, path = "/payments", tag = "payments",
    request_body = CreatePayment,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "The payment, captured (or this response replayed, with `idempotent-replayed: true`)", body = PaymentBody,
         headers(("location" = String, description = "The payment's URL (not on replays)"),
                 ("idempotent-replayed" = String, description = "`true` when this is the stored response of an earlier request with the same key"))),
        JsonBody, Unavailable,
    )
)]
async fn create_payment(
    State(app): AppStateRef,
    key: IdempotencyKey,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let new = parse_json::<CreatePayment>(&body)?.parse()?;
    let fingerprint = Fingerprint::of_capture(&new);
    let payment = Payment::capture(new, Timestamp::now(), app.region.clone());
    let record = first_response(
        &app,
        key,
        fingerprint.clone(),
        StatusCode::CREATED,
        &payment,
    )?;
    match app.store.capture(&payment, &record).await? {
        Applied::Written => {
            let mut response = json_response(StatusCode::CREATED, record.body);
            if let Ok(location) = HeaderValue::from_str(&format!("/payments/{}", payment.id)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Applied::KeyUsed(existing) => replay(&existing, &fingerprint),
        Applied::StateChanged => Err(Problem::internal("a new payment's id was already taken")),
    }
}

/// One payment.
#[utoipa::path(
    get, path = "/payments/{id}", tag = "payments",
    params(PathId<Payment>),
    responses((status = 200, description = "The payment", body = PaymentBody), NotFound, Unavailable)
)]
async fn get_payment(State(app): AppStateRef, PathId(id): PathId<Payment>) -> ApiResult<Response> {
    let payment = app.store.get(&id).await?.ok_or_else(|| not_found(id))?;
    Ok((StatusCode::OK, Json(PaymentBody::from(&payment))).into_response())
}

/// Refund a captured payment (status `refunded`). No body. Idempotent with the required
/// `Idempotency-Key`: a retry gets the first refund's response replayed, not a 409.
#[utoipa::path(
    post, path = "/payments/{id}/refund", tag = "payments",
    params(IdempotencyKey, PathId<Payment>),
    responses(
        (status = 200, description = "The payment, refunded (or this response replayed, with `idempotent-replayed: true`)", body = PaymentBody,
         headers(("idempotent-replayed" = String, description = "`true` when this is the stored response of an earlier request with the same key"))),
        (status = 400, description = "A missing or unusable Idempotency-Key", body = ProblemDetails, content_type = PROBLEM_JSON),
        (status = 409, description = "The payment is not captured", body = ProblemDetails, content_type = PROBLEM_JSON),
        (status = 422, description = "The key was used for another request", body = ProblemDetails, content_type = PROBLEM_JSON),
        NotFound, Unavailable,
    )
)]
async fn refund_payment(
    State(app): AppStateRef,
    // Before the id: a request without a key is refused whatever it names.
    key: IdempotencyKey,
    PathId(id): PathId<Payment>,
) -> ApiResult<Response> {
    let fingerprint = Fingerprint::of_refund(&id);
    // A retry of a refund that went through must replay it, not meet the 409 its new
    // state would give; the transaction below still decides races.
    if let Some(existing) = app.store.idempotency_record(&key).await? {
        return replay(&existing, &fingerprint);
    }
    let payment = app.store.get(&id).await?.ok_or_else(|| not_found(id))?;
    let applied = match payment.refunded(Timestamp::now(), app.region.clone()) {
        Ok(refunded) => {
            let record = first_response(
                &app,
                key.clone(),
                fingerprint.clone(),
                StatusCode::OK,
                &refunded,
            )?;
            match app.store.refund(&refunded, &record).await? {
                Applied::Written => return Ok(json_response(StatusCode::OK, record.body)),
                other => other,
            }
        }
        Err(_) => Applied::StateChanged,
    };
    match applied {
        Applied::KeyUsed(existing) => replay(&existing, &fingerprint),
        _ => not_refundable(&app, &key, &fingerprint, &id).await,
    }
}

/// The answer when the payment was not captured when we looked. A concurrent request with
/// the same key may be what refunded it: its key record was written in the same
/// transaction as the refund, so reading it after the payment finds it, and its response
/// is replayed instead of a 409.
async fn not_refundable(
    app: &AppState,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    id: &PaymentId,
) -> ApiResult<Response> {
    if let Some(existing) = app.store.idempotency_record(key).await? {
        return replay(&existing, fingerprint);
    }
    match app.store.get(id).await? {
        Some(now) => Err(not_captured(&now)),
        None => Err(not_found(*id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: serde_json::Value) -> CreatePayment {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn requests_parse_or_name_every_bad_field() {
        let ok = request(serde_json::json!({
            "order_id": "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e", "amount_cents": 2500, "currency": "EUR"
        }));
        assert_eq!(ok.parse().unwrap().amount.minor(), 2500);
        let bad =
            request(serde_json::json!({"order_id": "x", "amount_cents": 0, "currency": "eur"}));
        let problem = bad.parse().unwrap_err();
        assert_eq!(problem.status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["order_id", "amount_cents", "currency"]);
    }

    #[test]
    fn replays_only_the_same_request() {
        let record = IdempotencyRecord {
            key: "k".parse().unwrap(),
            fingerprint: Fingerprint::of("a", &[]),
            status: 201,
            body: r#"{"id":"x"}"#.into(),
            created_at: Timestamp::now(),
            region: "us-east-1".parse().unwrap(),
        };
        let response = replay(&record, &Fingerprint::of("a", &[])).unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[IDEMPOTENT_REPLAYED], "true");
        let problem = replay(&record, &Fingerprint::of("b", &[])).unwrap_err();
        assert_eq!(problem.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.kind, "idempotency-key-reused");
    }
}
