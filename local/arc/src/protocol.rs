//! The routing-control data-plane API as ARC's endpoints speak it: awsJson1_0 over HTTP POST,
//! the operation in `X-Amz-Target: ToggleCustomerAPI.<Operation>`, errors as
//! `{"__type": "...", "message": "..."}` with the status the SDK maps to each error.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use serde_json::{Value, json};
use topology::{ControlPanelArn, RoutingControlArn, SafetyRuleArn};

use crate::state::Refusal;
use crate::{Fault, Shared, UpdateCall, UpdateOutcome};

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "ToggleCustomerAPI.";
pub use topology::manifest::ARC_MAX_BATCH as MAX_BATCH;
const MAX_BODY: usize = 64 * 1024;
const DEFAULT_PAGE: usize = 500;
/// The account the local cluster pretends to live in.
pub const ACCOUNT: &str = "123456789012";

/// An error as ARC returns it.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    extra: Value,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            extra: json!({}),
        }
    }

    fn with(mut self, extra: Value) -> Self {
        self.extra = extra;
        self
    }

    fn validation(reason: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
            .with(json!({ "reason": reason }))
    }

    fn not_found(id: &str, kind: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("{kind} {id} does not exist"),
        )
        .with(json!({ "resourceId": id, "resourceType": kind }))
    }

    /// A 500, as a failing endpoint answers.
    pub fn internal(message: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            message,
        )
        .with(json!({ "retryAfterSeconds": 1 }))
    }

    /// A 429, as an endpoint over its request rate answers.
    pub fn throttled(message: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            message,
        )
        .with(json!({ "retryAfterSeconds": 1 }))
    }

    fn unavailable(message: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "EndpointTemporarilyUnavailableException",
            message,
        )
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut body = self.extra;
        body["__type"] = self.kind.into();
        body["message"] = self.message.into();
        respond(self.status, &body)
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static headers are valid")
}

/// How often a hanging endpoint looks whether its fault was lifted.
const HANG_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// Serves one request on endpoint `index`, after applying that endpoint's fault.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    index: usize,
    request: http::Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    loop {
        match shared.fault(index) {
            // Held while the fault lasts, so restoring the endpoint also releases (and closes)
            // the requests it held instead of leaving them open for good.
            Fault::Hang => tokio::time::sleep(HANG_CHECK).await,
            Fault::Slow(delay) => break tokio::time::sleep(delay).await,
            Fault::Error => {
                return ApiError::internal("injected fault: endpoint error").into_response();
            }
            Fault::Throttle => {
                return ApiError::throttled("injected fault: throttled").into_response();
            }
            Fault::None | Fault::Down => break,
        }
    }
    let (parts, body) = request.into_parts();
    let operation = match check_headers(&parts.method, &parts.headers) {
        Ok(op) => op,
        Err(e) => return e.into_response(),
    };
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return ApiError::validation("cannotParse", format!("cannot read the body: {e}"))
                .into_response();
        }
    };
    match dispatch(&shared, index, &operation, &body) {
        Ok(value) => respond(StatusCode::OK, &value),
        Err(e) => e.into_response(),
    }
}

/// The operation named by the request, once the request is shaped as the SDK sends it.
fn check_headers(method: &http::Method, headers: &HeaderMap) -> Result<String, ApiError> {
    if method != http::Method::POST {
        return Err(ApiError::validation(
            "other",
            "the data plane only takes POST",
        ));
    }
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let sigv4 = auth.starts_with("AWS4-HMAC-SHA256 ")
        && ["Credential=", "SignedHeaders=", "Signature="]
            .iter()
            .all(|part| auth.contains(part));
    if !sigv4 {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            "the request is not signed with SigV4 (missing or malformed Authorization header)",
        ));
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with(CONTENT_TYPE) {
        return Err(ApiError::validation(
            "other",
            format!("Content-Type must be {CONTENT_TYPE}, not `{content_type}`"),
        ));
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    target
        .strip_prefix(TARGET_PREFIX)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::validation(
                "unknownOperation",
                format!("X-Amz-Target `{target}` is not a {TARGET_PREFIX}<Operation>"),
            )
        })
}

fn dispatch(
    shared: &Shared,
    index: usize,
    operation: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    match operation {
        "GetRoutingControlState" => get_state(shared, parse(body)?),
        "ListRoutingControls" => list(shared, parse(body)?),
        "UpdateRoutingControlState" => {
            let input: UpdateOne = parse(body)?;
            let entry = Entry {
                arn: input.routing_control_arn,
                state: input.routing_control_state,
            };
            update(shared, index, vec![entry], input.safety_rules_to_override)
        }
        "UpdateRoutingControlStates" => {
            let input: UpdateMany = parse(body)?;
            if input.entries.len() > MAX_BATCH {
                shared.record(UpdateCall {
                    endpoint: index,
                    controls: input.entries.len(),
                    outcome: UpdateOutcome::Refused,
                    at: Instant::now(),
                });
                return Err(ApiError::new(
                    StatusCode::PAYMENT_REQUIRED,
                    "ServiceLimitExceededException",
                    format!(
                        "a batch may update at most {MAX_BATCH} routing controls, this one has {}",
                        input.entries.len()
                    ),
                )
                .with(json!({
                    "resourceId": "UpdateRoutingControlStateEntries",
                    "resourceType": "RoutingControl",
                    "limitCode": "MaxEntriesPerBatch",
                    "serviceCode": "route53-recovery-cluster",
                })));
            }
            update(shared, index, input.entries, input.safety_rules_to_override)
        }
        other => Err(ApiError::validation(
            "unknownOperation",
            format!("unknown operation `{other}`"),
        )),
    }
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation("fieldValidationFailed", format!("invalid request: {e}")))
}

/// "On" / "Off", the wire form of a routing control state.
#[derive(Debug, Clone, Copy, Deserialize)]
enum WireState {
    On,
    Off,
}

fn wire(on: bool) -> &'static str {
    if on { "On" } else { "Off" }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetState {
    routing_control_arn: RoutingControlArn,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct List {
    control_panel_arn: Option<ControlPanelArn>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    #[serde(rename = "RoutingControlArn")]
    arn: RoutingControlArn,
    #[serde(rename = "RoutingControlState")]
    state: WireState,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateOne {
    routing_control_arn: RoutingControlArn,
    routing_control_state: WireState,
    #[serde(default)]
    safety_rules_to_override: Vec<SafetyRuleArn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateMany {
    #[serde(rename = "UpdateRoutingControlStateEntries")]
    entries: Vec<Entry>,
    #[serde(default)]
    safety_rules_to_override: Vec<SafetyRuleArn>,
}

fn get_state(shared: &Shared, input: GetState) -> Result<Value, ApiError> {
    let state = shared.state();
    let control = state
        .control(&input.routing_control_arn)
        .ok_or_else(|| ApiError::not_found(input.routing_control_arn.as_str(), "RoutingControl"))?;
    Ok(json!({
        "RoutingControlArn": control.arn,
        "RoutingControlState": wire(control.on),
        "RoutingControlName": control.name,
    }))
}

fn list(shared: &Shared, input: List) -> Result<Value, ApiError> {
    let page = match input.max_results {
        None => DEFAULT_PAGE,
        Some(n @ 1..=1000) => usize::try_from(n).expect("in range"),
        Some(n) => {
            return Err(ApiError::validation(
                "fieldValidationFailed",
                format!("MaxResults must be between 1 and 1000, not {n}"),
            ));
        }
    };
    let after: Option<RoutingControlArn> = match input.next_token.as_deref() {
        None => None,
        Some(token) => Some(token.parse().map_err(|_| {
            ApiError::validation(
                "fieldValidationFailed",
                format!("NextToken `{token}` is not valid"),
            )
        })?),
    };
    let state = shared.state();
    if let Some(panel) = &input.control_panel_arn
        && state.panel(panel).is_none()
    {
        return Err(ApiError::not_found(panel.as_str(), "ControlPanel"));
    }
    let mut rows = state.controls_after(input.control_panel_arn.as_ref(), after.as_ref());
    let chunk: Vec<_> = rows.by_ref().take(page).collect();
    let more = rows.next().is_some();
    let controls: Vec<Value> = chunk
        .iter()
        .map(|c| {
            json!({
                "ControlPanelArn": c.panel,
                "ControlPanelName": state.panel(&c.panel).map(|p| p.name.as_str()),
                "RoutingControlArn": c.arn,
                "RoutingControlName": c.name,
                "RoutingControlState": wire(c.on),
                "Owner": ACCOUNT,
            })
        })
        .collect();
    let mut out = json!({ "RoutingControls": controls });
    if more && let Some(last) = chunk.last() {
        out["NextToken"] = last.arn.as_str().into();
    }
    Ok(out)
}

/// Applies an update and logs the call (see [`crate::LocalCluster::update_calls`]).
fn update(
    shared: &Shared,
    index: usize,
    entries: Vec<Entry>,
    overrides: Vec<SafetyRuleArn>,
) -> Result<Value, ApiError> {
    let controls = entries.len();
    let result = apply_update(shared, index, entries, overrides);
    let outcome = match &result {
        Ok(_) => UpdateOutcome::Applied,
        Err(e) if e.kind == "ThrottlingException" => UpdateOutcome::Throttled,
        Err(_) => UpdateOutcome::Refused,
    };
    shared.record(UpdateCall {
        endpoint: index,
        controls,
        outcome,
        at: Instant::now(),
    });
    result
}

fn apply_update(
    shared: &Shared,
    index: usize,
    entries: Vec<Entry>,
    overrides: Vec<SafetyRuleArn>,
) -> Result<Value, ApiError> {
    if shared.down_count() >= shared.quorum_loss_at() {
        return Err(ApiError::unavailable(
            "the cluster has lost quorum (too many endpoints are down); updates are not possible, try another cluster endpoint later",
        ));
    }
    if !shared.take_mutation_token(index) {
        return Err(ApiError::throttled(
            "rate exceeded: this endpoint takes about 3 updates per second",
        ));
    }
    if entries.is_empty() {
        return Err(ApiError::validation(
            "fieldValidationFailed",
            "UpdateRoutingControlStateEntries must not be empty",
        ));
    }
    let changes: Vec<(RoutingControlArn, bool)> = entries
        .into_iter()
        .map(|e| (e.arn, matches!(e.state, WireState::On)))
        .collect();
    for (i, (arn, _)) in changes.iter().enumerate() {
        if changes[..i].iter().any(|(a, _)| a == arn) {
            return Err(ApiError::validation(
                "fieldValidationFailed",
                format!("routing control {arn} appears twice in the batch"),
            ));
        }
    }
    let result = shared.state().apply(&changes, &overrides, Instant::now());
    match result {
        Ok(()) => Ok(json!({})),
        Err(Refusal::NotFound(arn)) => Err(ApiError::not_found(arn.as_str(), "RoutingControl")),
        Err(Refusal::Blocked(rule)) => Err(conflict(
            &rule,
            format!(
                "The routing control state change was blocked by safety rule {rule}: the batch would leave the rule unsatisfied. Nothing was changed. To proceed anyway, override the rule by naming it in SafetyRulesToOverride."
            ),
        )),
        Err(Refusal::Waiting(rule, left)) => Err(conflict(
            &rule,
            format!(
                "Safety rule {rule} blocked a change recently and is in its wait period ({} ms left); retry later.",
                left.as_millis()
            ),
        )),
    }
}

fn conflict(rule: &SafetyRuleArn, message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "ConflictException", message)
        .with(json!({ "resourceId": rule, "resourceType": "SafetyRule" }))
}
