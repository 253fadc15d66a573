//! `kit::serve::run` under Lambda: the same Router answers API Gateway events delivered
//! through the real Lambda runtime client, talking to a local Runtime API on loopback.
//! (Alone in its test binary because it sets process environment variables.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use kit::ServiceInfo;
use kit::memory::MemoryTable;
use utoipa_axum::router::OpenApiRouter;

/// A minimal Lambda Runtime API: hands out the queued events, collects the responses.
#[derive(Clone)]
struct RuntimeApi {
    events: Arc<Mutex<Vec<Value>>>,
    responses: mpsc::UnboundedSender<(String, Value)>,
}

async fn next_invocation(State(api): State<RuntimeApi>) -> axum::response::Response {
    let event = api.events.lock().unwrap().pop();
    let Some(event) = event else {
        // No more work: a real Runtime API long-polls; hold the request until the test ends.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let id = format!("req-{}", api.events.lock().unwrap().len());
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_str(&id).unwrap(),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.to_string()).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:users"),
    );
    (StatusCode::OK, headers, event.to_string()).into_response()
}

async fn invocation_response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = api.responses.send((id, value));
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: String,
) -> StatusCode {
    let _ = api.responses.send((id, json!({"runtime_error": body})));
    StatusCode::ACCEPTED
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<(String, Value)>) -> (String, Value) {
    let next = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    next.expect("the function answers within 10 s")
        .expect("the runtime API is up")
}

fn http_api_event(path: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "users.example.com", "x-request-id": "from-api-gateway"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "users.example.com",
            "domainPrefix": "users", "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "time": "28/Nov/2026:15:00:00 +0000", "timeEpoch": 0,
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
        },
        "isBase64Encoded": false
    })
}

fn rest_api_event(path: &str) -> Value {
    json!({
        "resource": "/{proxy+}", "path": path, "httpMethod": "GET",
        "headers": {"Host": "users.example.com"}, "multiValueHeaders": {"Host": ["users.example.com"]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": path.trim_start_matches('/')}, "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "res", "stage": "prod", "requestId": "r2",
            "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": "/{proxy+}", "httpMethod": "GET",
            "apiId": "api", "path": path
        },
        "body": null, "isBase64Encoded": false
    })
}

#[tokio::test]
async fn the_router_answers_api_gateway_events_under_lambda() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Popped from the end: an HTTP API event, a REST API event, an HTTP API event.
    let events = vec![
        http_api_event("/bytes"),
        rest_api_event("/nowhere"),
        http_api_event("/"),
    ];
    let api = RuntimeApi {
        events: Arc::new(Mutex::new(events)),
        responses: tx,
    };
    let runtime_api = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(invocation_response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(invocation_error),
        )
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let runtime_server =
        tokio::spawn(async move { axum::serve(listener, runtime_api).await.unwrap() });

    // SAFETY: this test binary has one test, and nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("AWS_LAMBDA_RUNTIME_API", address.to_string());
        std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "users");
        std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
        std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    }
    let region: topology::Region = "us-east-1".parse().unwrap();
    let info = ServiceInfo {
        name: "users".into(),
        version: "9.9.9",
        region: region.clone(),
    };
    // A body that is not UTF-8 goes back base64-encoded.
    let bytes = OpenApiRouter::new().route(
        "/bytes",
        get(|| async {
            (
                [("content-type", "application/octet-stream")],
                vec![0xff_u8, 0x00],
            )
        }),
    );
    let router = kit::http::service_router(info, MemoryTable::new("t", region), bytes);
    // The listen address is ignored under Lambda: nothing binds it. The runtime's future is
    // not `Send` (a binary awaits it on its main task), so it gets a thread of its own, which
    // ends with the test process.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = runtime.block_on(kit::serve::run(router, "127.0.0.1:1".parse().unwrap()));
    });

    let (_, first) = recv(&mut rx).await;
    assert_eq!(first["statusCode"], 200, "{first}");
    assert_eq!(first["isBase64Encoded"], false, "{first}");
    assert_eq!(first["headers"]["x-region"], "us-east-1", "{first}");
    assert_eq!(
        first["headers"]["x-request-id"], "from-api-gateway",
        "{first}"
    );
    let body: Value = serde_json::from_str(first["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"service": "users", "region": "us-east-1", "version": "9.9.9"})
    );

    let (_, second) = recv(&mut rx).await;
    assert_eq!(second["statusCode"], 404, "{second}");
    let body: Value = serde_json::from_str(second["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "/problems/not-found");

    let (_, third) = recv(&mut rx).await;
    assert_eq!(third["statusCode"], 200, "{third}");
    assert_eq!(third["isBase64Encoded"], true, "{third}");
    assert_eq!(third["body"], "/wA=", "{third}");

    runtime_server.abort();
}
