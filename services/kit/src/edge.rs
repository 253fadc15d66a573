//! What every request to a service goes through around its routes, as one tower layer:
//! the `x-request-id` (kept from the request, else a new UUIDv7, and echoed), the `x-region`
//! header on every response, the request's tracing span, a `413` for a declared body over
//! the limit, problem+json for axum's bare `405`s, and a `500` problem for a handler that
//! panics.
//!
//! One hand-written layer rather than tower-http's six (set-header, set and propagate
//! request id, trace, catch-panic) and one of our own: each of those moved the request and
//! its future once more and wrapped the response body, which together cost more than the
//! route's own work (`cargo bench -p service-bench`). The behaviour is theirs: the same
//! headers, the span's fields, and the log events under tower-http's targets, so filters
//! such as `tower_http=off` keep working.

use std::any::Any;
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::{Instrument, Level, Span};

use crate::extract::BODY_LIMIT;
use crate::http::{X_REGION, X_REQUEST_ID};
use crate::problem::Problem;

/// The layer: wraps a service's routes with [`Edge`].
#[derive(Debug, Clone)]
pub struct EdgeLayer {
    region: HeaderValue,
}

impl EdgeLayer {
    /// Answers as `region` (the `x-region` value).
    pub fn new(region: HeaderValue) -> Self {
        Self { region }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            region: self.region.clone(),
        }
    }
}

/// The service [`EdgeLayer`] makes.
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    region: HeaderValue,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Answer {
        let id = request_id(&mut request);
        let span = span_for(&request, &id);
        let region = self.region.clone();
        // Only the log events need the time.
        let started =
            tracing::enabled!(target: "tower_http::trace", Level::ERROR).then(Instant::now);
        let answer = match too_large(&request) {
            Some(refusal) => Err(refusal),
            None => {
                let _entered = span.enter();
                tracing::debug!(target: "tower_http::trace::on_request", "started processing request");
                catch_unwind(AssertUnwindSafe(|| self.inner.call(request))).map_err(panic_response)
            }
        };
        Box::pin(async move {
            let response = match answer {
                Ok(future) => unwind_safe(future).instrument(span.clone()).await,
                Err(refusal) => refusal,
            };
            let response = finish(response, id, region);
            if let Some(started) = started {
                span.in_scope(|| log_response(&response, started));
            }
            Ok(response)
        })
    }
}

/// The request's id: its `x-request-id` if it has one, else a new UUIDv7, set on the request
/// so that the handler and the span see it too.
fn request_id(request: &mut Request) -> HeaderValue {
    if let Some(id) = request.headers().get(X_REQUEST_ID) {
        return id.clone();
    }
    // Unique by its random bits; without `now_v7`'s shared, locked counter, which only
    // orders ids made in the same millisecond, and no one sorts request ids.
    let id = uuid::Uuid::new_v7(uuid::Timestamp::now(uuid::NoContext));
    // Encoded on the stack: the header value is the only allocation.
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buffer);
    let id = HeaderValue::from_str(id).expect("a UUID is a valid header value");
    request.headers_mut().insert(X_REQUEST_ID, id.clone());
    id
}

/// The request's span, when a subscriber wants it: `Span::none()` costs nothing to enter.
/// The path only: query strings may carry cursors or tokens, which stay out of logs.
fn span_for(request: &Request, id: &HeaderValue) -> Span {
    if !tracing::enabled!(Level::INFO) {
        return Span::none();
    }
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        request_id = id.to_str().unwrap_or(""),
    )
}

/// A `413` when the request declares a body over [`BODY_LIMIT`] (bodies without a length are
/// cut by axum's `DefaultBodyLimit` when an extractor reads them).
fn too_large(request: &Request) -> Option<Response> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())?;
    (declared > BODY_LIMIT as u64).then(|| {
        Problem::payload_too_large(format!(
            "the request body ({declared} bytes) is over the limit of {BODY_LIMIT} bytes"
        ))
        .into_response()
    })
}

/// `future`, with a panic while it is polled turned into a `500` problem.
async fn unwind_safe<F>(future: F) -> Response
where
    F: Future<Output = Result<Response, Infallible>>,
{
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(Ok(response))) => Poll::Ready(response),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(panic_response(panic)),
        },
    )
    .await
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    Problem::internal("a handler panicked").into_response()
}

/// The headers every response carries, and problems for axum's bare `405`s.
fn finish(response: Response, id: HeaderValue, region: HeaderValue) -> Response {
    let mut response = method_not_allowed(response);
    let headers = response.headers_mut();
    headers.insert(X_REGION, region);
    // A handler that set its own id (a proxied response) keeps it.
    headers.entry(X_REQUEST_ID).or_insert(id);
    response
}

/// axum answers a wrong method with an empty 405 and an `Allow` header; keep the header,
/// make the body a problem.
fn method_not_allowed(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let detail = match allow.as_ref().and_then(|v| v.to_str().ok()) {
        Some(methods) => format!("this resource accepts {methods}"),
        None => "this resource does not accept this method".to_owned(),
    };
    let mut problem = Problem::method_not_allowed(detail).into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}

/// What tower-http's `TraceLayer` logged for HTTP: a `5xx` is an error, anything else a
/// debug event, each with the status and the latency.
fn log_response(response: &Response, started: Instant) {
    let status = response.status();
    let latency = format_args!("{} ms", started.elapsed().as_millis());
    if status.is_server_error() {
        tracing::error!(
            target: "tower_http::trace::on_failure",
            classification = %format_args!("Status code: {status}"),
            %latency,
            "response failed"
        );
    } else {
        tracing::debug!(
            target: "tower_http::trace::on_response",
            %latency,
            status = status.as_u16(),
            "finished processing request"
        );
    }
}
