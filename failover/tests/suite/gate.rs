//! The replication gate: a real HTTP server stands in for the local world's control API (its
//! `GET /state`) and for CloudWatch (`GetMetricData` over awsJson1_0, SigV4-signed); the
//! `failover` binary runs against a local ARC cluster, as a user runs it.

use crate::common;

use crate::common::failover;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use failover::gate::{self, CloudWatch, GateConfig};
use failover::{FailoverError, exit};
use serde_json::json;
use topology::manifest::{Environment, Manifest, tables_of};
use topology::{AppName, Region};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn region(r: &str) -> Region {
    r.parse().unwrap()
}

fn orders() -> AppName {
    "orders".parse().unwrap()
}

/// `w`'s manifest with every service's tables, replication read from `control_api`.
fn gated(w: &common::World, control_api: &str) -> Manifest {
    let mut m = w.manifest.clone();
    for entry in &mut m.apps {
        let app = w
            .topology
            .apps
            .iter()
            .find(|a| *a.name() == entry.name)
            .unwrap();
        entry.tables = tables_of(app, &w.topology.regions);
    }
    m.control_api = Some(control_api.to_owned());
    m
}

/// A control API whose `/state` shows `orders`' link into us-west-2 with this backlog.
async fn control_api(pending: u64, oldest_ms: Option<u64>) -> MockServer {
    let server = MockServer::builder().start().await;
    show(&server, pending, oldest_ms).await;
    server
}

async fn show(server: &MockServer, pending: u64, oldest_ms: Option<u64>) {
    server.reset().await;
    let link = |table: &str, from: &str, to: &str, pending: u64, oldest: Option<u64>| json!({ "table": table, "from": from, "to": to, "pending": pending, "oldest_ms": oldest, "lost": 0 });
    let state = json!({
        "domain": "example.test",
        "replication": {
            "lag_ms": 8000,
            "pending": pending,
            "oldest_ms": oldest_ms,
            "links": [
                link("orders", "us-east-1", "us-west-2", pending, oldest_ms),
                // The other direction is far behind: the gate must read the target's link only.
                link("orders", "us-west-2", "us-east-1", 90, Some(60_000)),
                link("payments", "us-east-1", "us-west-2", 0, None),
            ]
        }
    });
    Mock::given(method("GET"))
        .and(path("/state"))
        .respond_with(ResponseTemplate::new(200).set_body_json(state))
        .mount(server)
        .await;
}

#[tokio::test]
async fn refuses_while_the_target_is_behind_and_allows_once_caught_up() {
    let w = common::world().await;
    let api = control_api(12, Some(7_200)).await;
    let m = gated(&w, &api.uri());
    let config = GateConfig::default();

    let report = gate::read(&m, &[orders()], &region("us-west-2"), &config)
        .await
        .unwrap();
    assert_eq!(report.readings[0].lag_ms, Some(7_200));
    assert_eq!(report.readings[0].pending, Some(12));
    let refusal = report.refusal().expect("7.2 s is more than 5 s");
    assert_eq!(refusal.exit_code(), exit::REPLICATION_BEHIND);
    let text = refusal.to_string();
    assert!(
        text.contains("table `orders`") && text.contains("7.2 s") && text.contains("us-west-2"),
        "names the table, the Region and the lag: {text}"
    );

    // A higher limit lets the same reading through.
    let lenient = GateConfig {
        max_lag: Duration::from_secs(10),
        ..GateConfig::default()
    };
    let report = gate::read(&m, &[orders()], &region("us-west-2"), &lenient)
        .await
        .unwrap();
    assert!(report.refusal().is_none());

    show(&api, 0, None).await;
    let report = gate::read(&m, &[orders()], &region("us-west-2"), &config)
        .await
        .unwrap();
    assert_eq!(report.readings[0].lag_ms, Some(0));
    assert!(report.refusal().is_none(), "caught up: {report:?}");
}

#[tokio::test]
async fn a_gateway_is_not_gated_and_an_unreadable_lag_is_an_error_not_a_pass() {
    let w = common::world().await;
    let api = control_api(0, None).await;
    let m = gated(&w, &api.uri());
    let api_app: AppName = "api".parse().unwrap();
    let report = gate::read(&m, &[api_app], &region("us-west-2"), &GateConfig::default())
        .await
        .unwrap();
    assert_eq!(report.readings[0].table, None);
    assert!(report.refusal().is_none());

    // The world replicates no `users` table into us-west-2 in this state: say so.
    let users: AppName = "users".parse().unwrap();
    let err = gate::read(&m, &[users], &region("us-west-2"), &GateConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FailoverError::Gate(_)), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");

    // A control API that is not there.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let m = gated(&w, &gone);
    let err = gate::read(
        &m,
        &[orders()],
        &region("us-west-2"),
        &GateConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/state"), "{err}");
}

#[tokio::test]
async fn the_cli_exits_6_changes_nothing_and_force_moves_anyway() {
    let w = common::world().await;
    w.client().initialize().await.unwrap();
    let api = control_api(3, Some(9_000)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    gated(&w, &api.uri()).save(&path).unwrap();
    let manifest = path.to_str().unwrap();
    let shift = [
        "shift",
        "orders",
        "--to",
        "us-west-2",
        "--manifest",
        manifest,
    ];

    let dry = [&shift[..], &["--dry-run"]].concat();
    let run = failover(dir.path(), &dry, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("replication gate")
            && run.stdout.contains("BEHIND 9.0 s")
            && run
                .stdout
                .contains("the gate would refuse this move (exit 6)"),
        "the dry run shows the reading:\n{}",
        run.stdout
    );
    assert_eq!(w.states("orders"), (true, false));

    let move_ = [&shift[..], &["--yes"]].concat();
    let run = failover(dir.path(), &move_, &[]).await;
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("refused: replication behind")
            && run.stderr.contains("table `orders`")
            && run.stderr.contains("9.0 s"),
        "{}",
        run.stderr
    );
    assert_eq!(w.states("orders"), (true, false), "nothing changed");

    let run = failover(
        dir.path(),
        &[&move_[..], &["--max-replication-lag", "10s"]].concat(),
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "a higher limit allows it: {}", run.stderr);
    assert_eq!(w.states("orders"), (false, true));

    let back = [
        "shift",
        "orders",
        "--to",
        "us-east-1",
        "--yes",
        "--force",
        "--json",
        "--manifest",
        manifest,
    ];
    // The reading into us-east-1 is 60 s behind; --force moves anyway, and says so.
    let run = failover(dir.path(), &back, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["gate"]["readings"][0]["lag_ms"], 60_000);
    assert_eq!(w.states("orders"), (true, false));
}

fn credentials() -> Credentials {
    Credentials::new("AKIDGATETEST", "gate-test-secret", None, None, "test")
}

/// A CloudWatch stand-in answering GetMetricData for `orders` into us-west-2.
async fn cloudwatch(values: &[f64]) -> MockServer {
    let server = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header(
            "x-amz-target",
            "GraniteServiceVersion20100801.GetMetricData",
        ))
        .and(header("content-type", "application/x-amz-json-1.0"))
        .and(body_partial_json(json!({
            "MetricDataQueries": [{
                "Id": "lag",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/DynamoDB",
                        "MetricName": "ReplicationLatency",
                        "Dimensions": [
                            { "Name": "TableName", "Value": "orders" },
                            { "Name": "ReceivingRegion", "Value": "us-west-2" }
                        ]
                    },
                    "Stat": "Maximum"
                }
            }],
            "ScanBy": "TimestampDescending"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "MetricDataResults": [{
                "Id": "lag",
                "Label": "ReplicationLatency",
                "Timestamps": values.iter().enumerate().map(|(i, _)| 1_700_000_000 - 60 * i as i64).collect::<Vec<_>>(),
                "Values": values,
                "StatusCode": "Complete"
            }],
            "Messages": []
        })))
        .mount(&server)
        .await;
    server
}

/// The Region in the SigV4 credential scope of the one request `server` received.
async fn signing_region(server: &MockServer) -> String {
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let auth = requests[0]
        .headers
        .get("authorization")
        .expect("a signed request")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDGATETEST/"),
        "{auth}"
    );
    assert!(auth.contains("/monitoring/aws4_request"), "{auth}");
    assert!(requests[0].headers.contains_key("x-amz-date"));
    auth.split('/').nth(2).unwrap().to_owned()
}

#[tokio::test]
async fn cloudwatch_is_asked_for_replication_latency_signed_for_its_region() {
    let server = cloudwatch(&[6_400.0, 300.0]).await;
    let cw = CloudWatch {
        http: reqwest::Client::new(),
        credentials: credentials(),
        region: region("us-east-1"),
        endpoint: Some(server.uri()),
    };
    let lag = cw
        .replication_latency("orders", &region("us-west-2"), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(lag, Some(6_400), "the latest datapoint");
    assert_eq!(signing_region(&server).await, "us-east-1");
}

#[tokio::test]
async fn on_aws_the_cli_reads_cloudwatch_in_the_region_being_left() {
    let w = common::world().await;
    let server = cloudwatch(&[6_400.0]).await;
    let mut m = gated(&w, "http://127.0.0.1:9");
    m.environment = Environment::Aws;
    m.control_api = None;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    m.save(&path).unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDGATETEST"),
        ("AWS_SECRET_ACCESS_KEY", "gate-test-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", &server.uri()),
    ];
    let run = failover(
        dir.path(),
        &[
            "shift",
            "orders",
            "--to",
            "us-west-2",
            "--dry-run",
            "--json",
            "--manifest",
            path.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["gate_refuses"], true);
    assert_eq!(out["gate"]["readings"][0]["lag_ms"], 6_400);
    assert_eq!(out["gate"]["readings"][0]["table"], "orders");
    // DynamoDB publishes the lag into us-west-2 in the Region the changes come from.
    assert_eq!(signing_region(&server).await, "us-east-1");
}

#[tokio::test]
async fn help_documents_the_gate_and_exit_6() {
    let dir = tempfile::tempdir().unwrap();
    let run = failover(dir.path(), &["--help"], &[]).await;
    assert!(
        run.stdout.contains("6  refused: replication behind"),
        "{}",
        run.stdout
    );
    let run = failover(dir.path(), &["shift", "--help"], &[]).await;
    for needle in [
        "--max-replication-lag",
        "[default: 5s]",
        "--force",
        "--resolver",
    ] {
        assert!(run.stdout.contains(needle), "shift --help lacks `{needle}`");
    }
}
