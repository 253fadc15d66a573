//! The HTTP surface every service shares, wrapped around the service's own routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde_json::json;
use tower::ServiceBuilder;
use utoipa_axum::router::OpenApiRouter;

use crate::ServiceInfo;
use crate::edge::EdgeLayer;
use crate::extract::BODY_LIMIT;
use crate::problem::{COMMON_TYPES, FieldError, Problem, ProblemDetails, ProblemType};
use crate::store::HealthCheck;

/// The header naming the Region that answered, on every response.
pub const X_REGION: HeaderName = HeaderName::from_static(topology::manifest::REGION_HEADER);

/// The request id header: kept from the request, else a new UUIDv7; echoed on the response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long `GET /health` waits for the store before calling it unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// The API reference page: a self-contained page (no CDN) that renders `openapi.json`.
const DOCS_HTML: &str = include_str!("docs.html");

/// What the shared handlers answer from; built once, so they allocate almost nothing.
struct Common {
    info: ServiceInfo,
    health: Arc<dyn HealthCheck>,
    root: Bytes,
    openapi: Bytes,
    /// Every problem type this service answers with: the kit's and the service's own.
    problems: Vec<ProblemType>,
}

/// Wraps a service's routes with the shared surface:
/// `GET /` (`{"service","region","version"}`), `GET /health` (503 when the store is down),
/// `GET /openapi.json` (the service's paths), `GET /docs` (works offline); the `x-region`
/// and `x-request-id` headers on every response; a 64 KiB body limit (413); tracing;
/// problem+json for unknown routes (404), wrong methods (405) and panics (500).
pub fn service_router(
    info: ServiceInfo,
    health: Arc<dyn HealthCheck>,
    api: OpenApiRouter,
) -> Router {
    service_router_with_problems(info, health, api, &[])
}

/// [`service_router`] for a service that answers problem types of its own (with
/// [`Problem::with_kind`]): `GET /problems/<slug>` documents each of `problems` next to the
/// kit's [`COMMON_TYPES`], so every `type` URI the service sends resolves to a page.
pub fn service_router_with_problems(
    info: ServiceInfo,
    health: Arc<dyn HealthCheck>,
    api: OpenApiRouter,
    problems: &[ProblemType],
) -> Router {
    let (routes, spec) = api.split_for_parts();
    let region =
        HeaderValue::from_str(info.region.as_str()).expect("a Region name is a valid header value");
    #[cfg(feature = "fence")]
    let fence = crate::fence::Fence::from_env(&info.region);
    let common = Arc::new(Common {
        root: Bytes::from(
            json!({"service": info.name, "region": info.region, "version": info.version})
                .to_string(),
        ),
        openapi: Bytes::from(openapi_json(spec, &info)),
        problems: COMMON_TYPES.iter().chain(problems).copied().collect(),
        info,
        health,
    });
    let router = Router::new()
        .route("/", get(root))
        .route("/health", get(health_handler))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
        .route("/problems/{slug}", get(problem_page))
        .with_state(common)
        .merge(routes)
        .fallback(not_found);
    #[cfg(feature = "fence")]
    let router = crate::fence::guard(router, fence);
    router.layer(
        ServiceBuilder::new()
            .layer(EdgeLayer::new(region))
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
}

fn openapi_json(mut spec: utoipa::openapi::OpenApi, info: &ServiceInfo) -> String {
    use utoipa::openapi::ComponentsBuilder;
    use utoipa::{PartialSchema, ToSchema};
    // Replace the whole info: utoipa-axum's default carries its own crate's metadata.
    spec.info = utoipa::openapi::InfoBuilder::new()
        .title(info.name.as_ref())
        .version(info.version)
        .description(Some(format!(
            "The {} service in {}. Errors are RFC 9457 problem details (`application/problem+json`).",
            info.name, info.region
        )))
        .build();
    let components = spec.components.take().unwrap_or_default();
    let builder = ComponentsBuilder::from(components)
        .schema(ProblemDetails::name(), ProblemDetails::schema())
        .schema(FieldError::name(), FieldError::schema());
    spec.components = Some(builder.build());
    spec.to_json()
        .unwrap_or_else(|e| format!(r#"{{"error": "cannot render the OpenAPI document: {e}"}}"#))
}

async fn root(State(common): State<Arc<Common>>) -> Response {
    json_bytes(common.root.clone())
}

async fn openapi(State(common): State<Arc<Common>>) -> Response {
    json_bytes(common.openapi.clone())
}

fn json_bytes(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

async fn docs() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DOCS_HTML,
    )
        .into_response()
}

/// The page a problem's `type` URI names: what the problem means and what to do.
async fn problem_page(
    State(common): State<Arc<Common>>,
    axum::extract::Path(slug): axum::extract::Path<String>,
) -> Response {
    let Some(problem) = common.problems.iter().find(|p| p.slug == slug) else {
        return Problem::not_found(format!("no problem type `{slug}`")).into_response();
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1>\n<p><code>type: /problems/{slug}</code></p>\n<p>{description}</p>\n\
         <p>Errors are RFC 9457 problem details (<code>application/problem+json</code>); \
         the <a href=\"/docs\">API reference</a> lists which operations answer with it.</p></body></html>\n",
        title = escape(problem.title),
        slug = escape(problem.slug),
        description = escape(problem.description),
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn health_handler(State(common): State<Arc<Common>>) -> Response {
    let checked = tokio::time::timeout(HEALTH_TIMEOUT, common.health.check()).await;
    let (status, store, error) = match checked {
        Ok(Ok(())) => (StatusCode::OK, "reachable", None),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unreachable",
            Some(e.to_string()),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unreachable",
            Some(format!("no answer within {HEALTH_TIMEOUT:?}")),
        ),
    };
    let info = &common.info;
    let mut body = json!({
        "status": if status.is_success() { "ok" } else { "unavailable" },
        "service": info.name,
        "region": info.region,
        "version": info.version,
        "store": store,
    });
    if let Some(error) = error {
        body["error"] = error.into();
    }
    (status, axum::Json(body)).into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Problem {
    Problem::not_found(format!("no route for {method} {}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryTable;
    use axum::body::Body;
    use axum::extract::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn app() -> (Router, Arc<MemoryTable>) {
        let region: topology::Region = "us-west-2".parse().unwrap();
        let table = MemoryTable::new("t", region.clone());
        let info = ServiceInfo {
            name: "demo".into(),
            version: "1.2.3",
            region,
        };
        let api = OpenApiRouter::new().route(
            "/echo",
            axum::routing::post(
                |crate::extract::Json(v): crate::extract::Json<serde_json::Value>| async move {
                    axum::Json(v)
                },
            ),
        );
        let router = service_router(info, table.clone(), api);
        (router, table)
    }

    async fn call(
        router: &Router,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, headers, body)
    }

    fn get_req(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn root_names_the_service_and_region() {
        let (router, _) = app();
        let (status, headers, body) = call(&router, get_req("/")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"service": "demo", "region": "us-west-2", "version": "1.2.3"})
        );
        assert_eq!(headers[X_REGION], "us-west-2");
        assert!(uuid::Uuid::parse_str(headers[X_REQUEST_ID].to_str().unwrap()).is_ok());
    }

    #[tokio::test]
    async fn request_ids_are_kept() {
        let (router, _) = app();
        let request = Request::get("/")
            .header(X_REQUEST_ID, "abc-123")
            .body(Body::empty())
            .unwrap();
        let (_, headers, _) = call(&router, request).await;
        assert_eq!(headers[X_REQUEST_ID], "abc-123");
    }

    #[tokio::test]
    async fn health_follows_the_store() {
        let (router, table) = app();
        let (status, _, body) = call(&router, get_req("/health")).await;
        assert_eq!(
            (status, body["store"].as_str()),
            (StatusCode::OK, Some("reachable"))
        );
        table.set_available(false);
        let (status, headers, body) = call(&router, get_req("/health")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["store"], "unreachable");
        assert_eq!(headers[X_REGION], "us-west-2");
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_are_problems() {
        let (router, _) = app();
        let (status, headers, body) = call(&router, get_req("/nope")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[X_REGION], "us-west-2");
        assert_eq!(body["status"], 404);
        let (status, headers, body) = call(&router, get_req("/echo")).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::ALLOW], "POST");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(body["status"], 405);
    }

    #[tokio::test]
    async fn panics_are_problems_with_the_region() {
        let region: topology::Region = "us-west-2".parse().unwrap();
        let info = ServiceInfo {
            name: "demo".into(),
            version: "1",
            region: region.clone(),
        };
        let api = OpenApiRouter::new().route(
            "/boom",
            get(|| async {
                let v: Vec<u8> = Vec::new();
                v[1].to_string()
            }),
        );
        let router = service_router(info, MemoryTable::new("t", region), api);
        let (status, headers, body) = call(&router, get_req("/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[X_REGION], "us-west-2");
        assert!(headers.contains_key(X_REQUEST_ID));
        assert_eq!(body["type"], "/problems/internal");
    }

    #[tokio::test]
    async fn large_bodies_are_refused() {
        let (router, _) = app();
        let big = format!("\"{}\"", "a".repeat(BODY_LIMIT + 1));
        let request = Request::post("/echo")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(big.clone()))
            .unwrap();
        let (status, headers, body) = call(&router, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(body["status"], 413);
        // Without a declared length (a stream), the extractor's limit catches it.
        let stream = futures_stream(big);
        let request = Request::post("/echo")
            .header(header::CONTENT_TYPE, "application/json")
            .body(stream)
            .unwrap();
        let (status, _, _) = call(&router, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    fn futures_stream(s: String) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> = s
            .into_bytes()
            .chunks(4096)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    }

    #[tokio::test]
    async fn problem_types_resolve_to_pages() {
        let (router, _) = app();
        let (_, _, problem) = call(&router, get_req("/nope")).await;
        let page_path = problem["type"].as_str().unwrap().to_owned();
        assert_eq!(page_path, "/problems/not-found");
        let response = router.clone().oneshot(get_req(&page_path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[X_REGION], "us-west-2");
        let html = response.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&html).contains("<h1>Not found</h1>"));
        let (status, _, body) = call(&router, get_req("/problems/no-such-type")).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (StatusCode::NOT_FOUND, Some("/problems/not-found"))
        );
        // A service's own kinds are documented when it names them.
        let region: topology::Region = "us-west-2".parse().unwrap();
        let info = ServiceInfo {
            name: "demo".into(),
            version: "1",
            region: region.clone(),
        };
        let own = ProblemType {
            slug: "duplicate-email",
            title: "Duplicate email",
            description: "Taken.",
        };
        let router = service_router_with_problems(
            info,
            MemoryTable::new("t", region),
            OpenApiRouter::new(),
            &[own],
        );
        let response = router
            .oneshot(get_req("/problems/duplicate-email"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn openapi_and_docs_are_served() {
        let (router, _) = app();
        let (status, _, body) = call(&router, get_req("/openapi.json")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["info"]["title"], "demo");
        assert!(body["components"]["schemas"]["ProblemDetails"].is_object());
        let response = router.clone().oneshot(get_req("/docs")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8_lossy(&html);
        assert!(html.contains("openapi.json"));
        assert!(
            !html.contains("https://"),
            "the docs page must not load anything remote"
        );
    }
}
