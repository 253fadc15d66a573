//! Each service's Lambda package: its zipped size and its init time, the part of a failover
//! that a cold function in the standby Region adds.
//!
//! The binary is built as `cargo xtask build-lambdas` builds it (the `lambda-release` profile, the
//! features the topology asks for) but for the host, so that it runs here; the arm64 package
//! differs by the instruction set only. Init is measured as Lambda sees it: from spawning the
//! process to its first request for an event (`GET /2018-06-01/runtime/invocation/next`) on a
//! Lambda Runtime API served on loopback, then one API Gateway event (`GET /health`) is
//! delivered and its `200` checked, so a binary that polls but cannot serve does not count.
//! Each row ends with the package's targets: a zip of at most 2 MB and an init median of at most
//! 30 ms, `met` or by how much each is over.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Starts per service: the median and the worst are reported.
const STARTS: usize = 20;

/// The targets of a package: its zip (bytes) and its init median.
const ZIP_TARGET: usize = 2_000_000;
const INIT_TARGET: Duration = Duration::from_millis(30);

/// The profile `cargo xtask build-lambdas` builds with.
const PROFILE: &str = "lambda-release";

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let topology = topology::Topology::load(root.join("topology.toml")).expect("topology.toml");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "Lambda packages: profile `{PROFILE}`, host target ({}), zipped as build-lambdas zips; \
         init = spawn to first `invocation/next`, median and worst of {STARTS}",
        std::env::consts::ARCH
    );
    println!(
        "{:<10} {:<12} {:>12} {:>12} {:>12} {:>12}  targets (zip <= {}, init p50 <= {} ms)",
        "service",
        "features",
        "bootstrap",
        "zip",
        "init p50",
        "init worst",
        mb(ZIP_TARGET),
        INIT_TARGET.as_millis()
    );
    for service in topology.services() {
        let name = service.name().as_str();
        let features = service.build_features().join(",");
        let binary = build(&root, name, &features);
        let bytes = std::fs::read(&binary).unwrap();
        let zipped = zip_len(&bytes);
        let mut inits: Vec<Duration> = (0..STARTS).map(|_| rt.block_on(init(&binary))).collect();
        inits.sort();
        let median = inits[STARTS / 2];
        println!(
            "{name:<10} {:<12} {:>12} {:>12} {:>9.1} ms {:>9.1} ms  {}",
            if features.is_empty() { "-" } else { &features },
            mb(bytes.len()),
            mb(zipped),
            ms(median),
            ms(inits[STARTS - 1]),
            verdict(zipped, median),
        );
    }
}

/// `met`, or what is over its target and by how much.
fn verdict(zipped: usize, init: Duration) -> String {
    let mut over = Vec::new();
    if zipped > ZIP_TARGET {
        over.push(format!("zip over by {}", mb(zipped - ZIP_TARGET)));
    }
    if init > INIT_TARGET {
        over.push(format!("init over by {:.1} ms", ms(init - INIT_TARGET)));
    }
    if over.is_empty() {
        "met".into()
    } else {
        over.join(", ")
    }
}

fn mb(bytes: usize) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `cargo build --profile lambda -p <name> --no-default-features --features <features>`, as
/// `cargo xtask build-lambdas` builds (without `local`): one invocation per service,
/// so that one service's features do not leak into another's build.
fn build(root: &Path, name: &str, features: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "building {name} (cargo build --profile {PROFILE} -p {name} --no-default-features \
         --features [{features}]) …"
    );
    // A target directory of its own: this nested build never contends with the outer cargo.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("lambda-host");
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--profile",
            PROFILE,
            "-p",
            name,
            "--bin",
            name,
            "--no-default-features",
        ])
        .args(["--features", features])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(root)
        .status()
        .unwrap();
    assert!(status.success(), "the build of {name} failed");
    target.join(PROFILE).join(name)
}

/// The size of the zip `cargo xtask build-lambdas` writes: `bootstrap`, deflate level 9.
fn zip_len(binary: &[u8]) -> usize {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options).unwrap();
    zip.write_all(binary).unwrap();
    zip.finish().unwrap().into_inner().len()
}

/// What the Runtime API saw: when the first event was asked for, and the function's answer.
#[derive(Clone)]
struct RuntimeApi {
    event_sent: Arc<Mutex<bool>>,
    polled: mpsc::UnboundedSender<Instant>,
    answered: mpsc::UnboundedSender<serde_json::Value>,
}

async fn next_invocation(State(api): State<RuntimeApi>) -> axum::response::Response {
    let _ = api.polled.send(Instant::now());
    if std::mem::replace(&mut *api.event_sent.lock().unwrap(), true) {
        // One event per start; a real Runtime API long-polls until the next one.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static("bench-1"),
    );
    let deadline = (now_ms() + 30_000).to_string();
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    (headers, health_event().to_string()).into_response()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

async fn invocation_response(State(api): State<RuntimeApi>, body: String) -> &'static str {
    let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    let _ = api.answered.send(value);
    ""
}

/// `GET /health` as a REST API (v1) proxy event, as API Gateway delivers it.
fn health_event() -> serde_json::Value {
    serde_json::json!({
        "resource": "/{proxy+}", "path": "/health", "httpMethod": "GET",
        "headers": {"host": "bench.example.test"}, "multiValueHeaders": {"host": ["bench.example.test"]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": {"proxy": "health"}, "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "x", "stage": "prod", "requestId": "r",
            "resourcePath": "/{proxy+}", "httpMethod": "GET", "apiId": "a", "path": "/health",
            "identity": {"sourceIp": "127.0.0.1"}
        },
        "body": null, "isBase64Encoded": false
    })
}

/// Spawns `binary` under a fresh Runtime API; the time to its first poll, after checking that
/// it answers the event with `200`.
async fn init(binary: &Path) -> Duration {
    let (polled, mut first_poll) = mpsc::unbounded_channel();
    let (answered, mut answer) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        event_sent: Arc::default(),
        polled,
        answered,
    };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(invocation_response),
        )
        .with_state(api);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("STORE", "memory")
        // As the app stack sets it: the custom domain's paths carry no stage.
        .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = tokio::time::timeout(Duration::from_secs(10), first_poll.recv())
        .await
        .expect("the function did not ask for an event within 10 s")
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), answer.recv())
        .await
        .expect("the function did not answer the event within 10 s")
        .unwrap();
    assert_eq!(
        response["statusCode"], 200,
        "GET /health under Lambda: {response}"
    );
    child.kill().ok();
    child.wait().ok();
    server.abort();
    ready - started
}
