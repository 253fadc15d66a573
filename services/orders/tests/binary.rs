//! The `orders` binary itself: its flags wire the store and the Region as documented, on
//! memory and on DynamoDB (moto, with `--create-table`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ALICE, order_body};
use serde_json::Value;

/// A running `orders` process, killed when dropped.
struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 and reads the address it reports from its log.
fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["--listen", "127.0.0.1:0", "--region", "us-west-2"])
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the orders binary");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = listening_address(&line) {
                let _ = tx.send(address);
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the binary reports where it listens");
    Running {
        child,
        base: format!("http://{address}"),
    }
}

/// The `127.0.0.1:PORT` in the "listening" log line, whatever the log format's decoration.
fn listening_address(line: &str) -> Option<String> {
    if !line.contains("listening") {
        return None;
    }
    let start = line.find("127.0.0.1:")?;
    let rest = &line[start + "127.0.0.1:".len()..];
    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!port.is_empty()).then(|| format!("127.0.0.1:{port}"))
}

async fn place_and_read(base: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .post(format!("{base}/orders"))
        .json(&order_body(ALICE))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-region"], "us-west-2");
    let placed: Value = response.json().await.unwrap();
    let read: Value = client
        .get(format!("{base}/orders/{}", placed["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, placed);
    assert_eq!(read["region"], "us-west-2");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn serves_on_the_memory_store() {
    let running = start(&["--store", "memory"]);
    place_and_read(&running.base).await;
}

#[tokio::test]
async fn serves_on_dynamodb_creating_its_table() {
    let endpoint = tokio::task::spawn_blocking(testkit::moto).await.unwrap();
    let table = testkit::unique_name("orders-bin");
    let running = start(&[
        "--store",
        "dynamodb",
        "--dynamodb-endpoint",
        endpoint,
        "--table",
        &table,
        "--create-table",
    ]);
    place_and_read(&running.base).await;
    // The index exists: the listing goes through it.
    let page: Value = reqwest::get(format!("{}/orders?user_id={ALICE}", running.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["--store", "sqlite"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--store"), "{stderr}");
}
