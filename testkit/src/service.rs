//! The one harness every service's tests use (feature `service`): the real app from its
//! descriptor on a random loopback port, on the memory store or on a fresh DynamoDB table in
//! this test binary's moto server ([`spawn_app`]); the service's binary as a user runs it
//! ([`Binary`]); and the checks every service's errors must pass ([`assert_problem`]).
//!
//! ```no_run
//! # async fn demo(service: &kit::Service) {
//! let app = testkit::spawn_app(service, testkit::Store::Memory).await;
//! let root: serde_json::Value = app.get("/").await.json().await.unwrap();
//! assert_eq!(root["service"], service.name);
//! # }
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use kit::dynamo::DynamoTable;
use kit::memory::MemoryTable;
use kit::store::ItemTable;
use kit::{Region, Service};
use serde_json::Value;

/// The Region every test app answers as.
pub const REGION: &str = "us-east-1";

/// [`REGION`], parsed.
pub fn region() -> Region {
    REGION.parse().expect("a Region name")
}

/// Which store a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// A fresh in-memory table.
    Memory,
    /// A fresh DynamoDB table (with the service's indexes) in this test binary's moto server.
    Dynamodb,
}

/// Runs each listed test body (an `async fn(TestApp)`) against both stores, as
/// `memory::<name>` and `dynamodb::<name>`.
///
/// ```text
/// testkit::on_both_stores!(orders::SERVICE; place_read_and_cancel, unknown_ids_are_404);
/// ```
#[macro_export]
macro_rules! on_both_stores {
    ($service:expr; $($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() {
                super::$name($crate::spawn_app(&$service, $crate::Store::Memory).await).await;
            })*
        }
        mod dynamodb {
            $(#[tokio::test] async fn $name() {
                super::$name($crate::spawn_app(&$service, $crate::Store::Dynamodb).await).await;
            })*
        }
    };
}

/// A service serving on a random loopback port until dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub client: reqwest::Client,
    /// The app's table, to check what was (not) written.
    pub table: Arc<dyn ItemTable>,
    memory: Option<Arc<MemoryTable>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `service` built from its descriptor over a fresh table of `store`, serving as [`REGION`].
pub async fn spawn_app(service: &Service, store: Store) -> TestApp {
    let (table, memory): (Arc<dyn ItemTable>, _) = match store {
        Store::Memory => {
            let table = MemoryTable::new(service.name, region());
            (table.clone(), Some(table))
        }
        Store::Dynamodb => {
            let endpoint = tokio::task::spawn_blocking(crate::moto).await.unwrap();
            let client = kit::dynamo::client(&region(), Some(endpoint)).await;
            let name = crate::unique_name(service.name);
            let table = DynamoTable::new(client, name, service.indexes);
            table.create().await.expect("create the table in moto");
            (Arc::new(table), None)
        }
    };
    let router = (service.router)(table.clone(), region());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    TestApp {
        base,
        client: reqwest::Client::new(),
        table,
        memory,
        server,
    }
}

/// `service` on a memory table that is switched off: every store call fails as
/// unavailable (see [`TestApp::set_available`]).
pub async fn spawn_switched_off(service: &Service) -> TestApp {
    let app = spawn_app(service, Store::Memory).await;
    app.set_available(false);
    app
}

impl TestApp {
    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Switches the (memory) store off or on: every store call then fails as unavailable.
    pub fn set_available(&self, available: bool) {
        self.memory
            .as_ref()
            .expect("only the memory store can be switched off")
            .set_available(available);
    }

    /// How many items the table holds.
    pub async fn item_count(&self) -> usize {
        self.count("").await
    }

    /// How many items whose `pk` starts with `prefix` the table holds.
    pub async fn count(&self, prefix: &str) -> usize {
        self.table
            .scan(prefix, 1000, None)
            .await
            .unwrap()
            .items
            .len()
    }

    /// A request to `path`, to add headers or a body to.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_raw(
            reqwest::Method::POST,
            path,
            "application/json",
            body.to_string(),
        )
        .await
    }

    /// Any method, content type and body.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        self.request(method, path)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts a problem+json answer of `status` and slug `kind`, with the headers every
/// response carries, whose `type` URI resolves to a page the same service serves; returns
/// its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let url = response.url().clone();
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["x-region"], REGION, "x-region on errors too");
    assert!(headers.contains_key("x-request-id"));
    assert!(
        !headers.contains_key("idempotent-replayed"),
        "errors are never replays"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("{}{kind}", kit::problem::PROBLEM_TYPE_BASE),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    let page = url.join(body["type"].as_str().unwrap()).unwrap();
    let documented = reqwest::get(page.clone()).await.unwrap();
    assert_eq!(
        documented.status(),
        200,
        "{page} documents the problem type"
    );
    body
}

/// Asserts that `service`'s router (from its descriptor, on the memory store) answers
/// `GET /` with the descriptor's name and version and the Region it was given.
pub async fn assert_serves_its_name(service: &Service) {
    let app = spawn_app(service, Store::Memory).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-region"], REGION);
    let root: Value = response.json().await.unwrap();
    assert_eq!(root["service"], service.name, "{root}");
    assert_eq!(root["version"], service.version, "{root}");
    assert_eq!(root["region"], REGION, "{root}");
}

/// Asserts the surface every service shares: `GET /health` (store reachable, the app's
/// Region), `GET /` naming `service`, `GET /openapi.json` documenting each of
/// `operations` (`(path, method)`), and `GET /docs`. Returns the OpenAPI document.
pub async fn assert_shared_surface(
    app: &TestApp,
    service: &Service,
    operations: &[(&str, &str)],
) -> Value {
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(
        (health["store"].as_str(), health["region"].as_str()),
        (Some("reachable"), Some(REGION))
    );
    let root: Value = app.get("/").await.json().await.unwrap();
    assert_eq!(root["service"], service.name);
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, method) in operations {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    assert_eq!(app.get("/docs").await.status(), 200);
    spec
}

/// `GET url` as JSON.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// The address in the service's `listening address=...` log line, sent once it is read; the
/// rest of the log is read and dropped, so that the service never blocks on a full pipe.
fn listening_address(log: ChildStdout) -> mpsc::Receiver<SocketAddr> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(log).lines().map_while(Result::ok) {
            let address = line
                .split_once(" listening address=")
                .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok());
            if let Some(address) = address {
                let _ = sender.send(address);
            }
        }
    });
    receiver
}

/// The fields a problem names in `errors`.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A service binary running on a loopback port of its own as `us-west-2`, killed when dropped.
pub struct Binary {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// How long it took to answer its first `GET /health` with 200.
    pub started_in: Duration,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Binary {
    /// Starts `exe` (`env!("CARGO_BIN_EXE_<name>")`) with `args` on `--listen 127.0.0.1:0`,
    /// reads where it listens from its log, and waits (up to 10 s in all) for its first 200
    /// from `/health`. A port picked free for it could be taken by another test's service
    /// before it binds, and that service's answers would pass for its own.
    pub async fn start(exe: &str, args: &[&str]) -> Self {
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args(["--listen", "127.0.0.1:0", "--region", "us-west-2"])
            .args(args)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            // The default level logs the `listening` line.
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
        let listening = listening_address(child.stdout.take().expect("piped"));
        let address = tokio::task::spawn_blocking(move || {
            listening.recv_timeout(Duration::from_secs(10)).ok()
        })
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{exe} {args:?} logged no `listening address=` within 10 s"));
        let mut binary = Self {
            child,
            base: format!("http://{address}"),
            started_in: Duration::ZERO,
        };
        let client = reqwest::Client::new();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(r) = client.get(format!("{}/health", binary.base)).send().await
                && r.status() == 200
            {
                binary.started_in = started.elapsed();
                return binary;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{exe} {args:?} did not answer /health within 10 s");
    }

    /// Starts `exe` on a fresh DynamoDB table in moto, created by the binary itself
    /// (`--create-table`).
    pub async fn start_on_dynamodb(exe: &str) -> Self {
        let endpoint = tokio::task::spawn_blocking(crate::moto).await.unwrap();
        let table = crate::unique_name("bin");
        let args = [
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            endpoint,
            "--table",
            &table,
            "--create-table",
        ];
        Self::start(exe, &args).await
    }
}

/// Runs `exe` with `args` and returns its exit code and standard error: for flags that
/// must be refused.
pub fn run_to_exit(exe: &str, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(exe).args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
