//! The `users` binary as a user runs it: flags, store wiring, start-up time, clean shutdown.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, killed when the test ends however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `users` with `args` and waits for its first 200 from `/health`; returns how long
/// that took.
async fn start(args: &[&str]) -> (Running, String, Duration) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_users"))
        .args(["--listen", &listen, "--region", "us-west-2"])
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status() == 200
        {
            return (running, base, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("users {args:?} did not answer /health within 10 s");
}

#[tokio::test]
async fn starts_on_memory_in_well_under_a_second() {
    let (_running, base, took) = start(&["--store", "memory"]).await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let root = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(root.headers()["x-region"], "us-west-2");
    let root: serde_json::Value = root.json().await.unwrap();
    assert_eq!(root["service"], "users");
}

#[tokio::test]
async fn runs_on_dynamodb_creating_its_table() {
    let endpoint = tokio::task::spawn_blocking(testkit::moto).await.unwrap();
    let table = testkit::unique_name("users-bin");
    let args = [
        "--store",
        "dynamodb",
        "--dynamodb-endpoint",
        endpoint,
        "--table",
        &table,
        "--create-table",
    ];
    let (_running, base, _) = start(&args).await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/users"))
        .json(&serde_json::json!({"email": "bin@example.com", "name": "Bin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["region"], "us-west-2");
}

#[test]
fn bad_flags_are_usage_errors() {
    let output = Command::new(env!("CARGO_BIN_EXE_users"))
        .args(["--store", "sqlite"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("memory"));
}
