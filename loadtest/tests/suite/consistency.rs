//! The consistency check against a small two-Region service on loopback: it serves the users
//! fixture document, stores whole items, answers `If-Match` updates, and replicates each
//! change to the other Region after a lag, last writer (by `updated_at`) winning.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use loadtest::consistency::{CheckConfig, CheckError, LastWriterWins, Step, check};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use topology::manifest::Manifest;

const PRIMARY: &str = "us-east-1";
const SECONDARY: &str = "us-west-2";
const USERS: &str = include_str!("../fixtures/openapi/users.json");

/// What both Regions' instances share.
struct World {
    items: [Mutex<HashMap<String, Value>>; 2],
    lag: Duration,
    /// Whether changes made in Region `i` reach the other one.
    link: [AtomicBool; 2],
    /// A strictly increasing clock, so `updated_at` orders every write.
    clock: AtomicU64,
    doc: Value,
}

struct Node {
    world: Arc<World>,
    index: usize,
    region: &'static str,
}

impl World {
    fn new(lag: Duration, doc: Value) -> Arc<Self> {
        Arc::new(Self {
            items: Default::default(),
            lag,
            link: [AtomicBool::new(true), AtomicBool::new(true)],
            clock: AtomicU64::new(0),
            doc,
        })
    }

    fn now(&self) -> String {
        let n = self.clock.fetch_add(1, Ordering::SeqCst);
        format!("2026-12-01T00:00:00.{n:09}Z")
    }

    /// Stores `item` in Region `from` and, after the lag, in the other if it is newer there.
    fn write(self: &Arc<Self>, from: usize, item: Value) {
        let id = item["id"].as_str().unwrap().to_owned();
        self.items[from]
            .lock()
            .unwrap()
            .insert(id.clone(), item.clone());
        if !self.link[from].load(Ordering::SeqCst) {
            return;
        }
        let world = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(world.lag).await;
            let mut there = world.items[1 - from].lock().unwrap();
            let newer = there
                .get(&id)
                .is_none_or(|old| old["updated_at"].as_str() < item["updated_at"].as_str());
            if newer {
                there.insert(id, item);
            }
        });
    }
}

async fn handle(
    State(node): State<Arc<Node>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let world = &node.world;
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let stored = |id: &str| world.items[node.index].lock().unwrap().get(id).cloned();
    let (status, body) = match (method.as_str(), segments.as_slice()) {
        ("GET", ["openapi.json"]) => (StatusCode::OK, world.doc.clone()),
        ("POST", ["users"]) => {
            let mut item: Value = serde_json::from_slice(&body).unwrap();
            let now = world.now();
            item["id"] = uuid::Uuid::now_v7().to_string().into();
            item["version"] = 1.into();
            item["created_at"] = now.clone().into();
            item["updated_at"] = now.into();
            item["region"] = node.region.into();
            world.write(node.index, item.clone());
            (StatusCode::CREATED, item)
        }
        ("GET", ["users", id]) => match stored(id) {
            Some(item) => (StatusCode::OK, item),
            None => (StatusCode::NOT_FOUND, json!({"title": "no such user"})),
        },
        ("PATCH", ["users", id]) => match stored(id) {
            None => (StatusCode::NOT_FOUND, json!({"title": "no such user"})),
            Some(mut item) => {
                let expected = format!("\"{}\"", item["version"]);
                match headers.get("if-match").map(|v| v.to_str().unwrap()) {
                    None => (StatusCode::PRECONDITION_REQUIRED, json!({})),
                    Some(v) if v != expected => (StatusCode::PRECONDITION_FAILED, json!({})),
                    Some(_) => {
                        let change: Value = serde_json::from_slice(&body).unwrap();
                        for (k, v) in change.as_object().unwrap() {
                            item[k] = v.clone();
                        }
                        item["version"] = (item["version"].as_u64().unwrap() + 1).into();
                        item["updated_at"] = world.now().into();
                        item["region"] = node.region.into();
                        world.write(node.index, item.clone());
                        (StatusCode::OK, item)
                    }
                }
            }
        },
        _ => (StatusCode::NOT_FOUND, json!({"title": "no route"})),
    };
    let etag = body
        .get("version")
        .map(|v| format!("\"{v}\""))
        .unwrap_or_default();
    let mut response = (status, [("x-region", node.region)], axum::Json(body)).into_response();
    if !etag.is_empty() {
        response.headers_mut().insert("etag", etag.parse().unwrap());
    }
    response
}

/// Both Regions' instances on loopback; the manifest lists each as the app's Regional URL.
async fn start(world: Arc<World>) -> Manifest {
    let mut urls = Vec::new();
    for (index, region) in [PRIMARY, SECONDARY].into_iter().enumerate() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        let node = Arc::new(Node {
            world: world.clone(),
            index,
            region,
        });
        let router = Router::new().fallback(handle).with_state(node);
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    manifest(&[("users", Some(&urls)), ("plain", None)])
}

fn manifest(apps: &[(&str, Option<&Vec<String>>)]) -> Manifest {
    let apps: Vec<Value> = apps
        .iter()
        .enumerate()
        .map(|(i, (name, urls))| {
            let panel = format!("arn:aws:route53-recovery-control::123456789012:controlpanel/p{i}");
            let regional: Vec<Value> = urls.map_or_else(Vec::new, |urls| {
                [PRIMARY, SECONDARY]
                    .iter()
                    .zip(urls.iter())
                    .map(|(r, u)| json!({"region": r, "url": u}))
                    .collect()
            });
            json!({
                "name": name, "hostname": format!("{name}.example.test"),
                "url": format!("http://{name}.example.test:9"),
                "control_panel_arn": panel, "safety_rule_arn": format!("{panel}/safetyrule/s"),
                "routing_controls": [
                    {"region": PRIMARY, "arn": format!("{panel}/routingcontrol/a")},
                    {"region": SECONDARY, "arn": format!("{panel}/routingcontrol/b")}],
                "regional_urls": regional,
            })
        })
        .collect();
    let m = json!({
        "manifest_version": 1, "environment": "local", "domain": "example.test",
        "regions": {"primary": PRIMARY, "secondary": SECONDARY},
        "cluster": {"arn": "arn:aws:route53-recovery-control::123456789012:cluster/c1",
                    "endpoints": [{"region": PRIMARY, "url": "http://127.0.0.1:9"}]},
        "apps": apps,
    });
    Manifest::parse(&m.to_string(), "test manifest").unwrap()
}

fn config(region: &str, writes: usize, deadline: Duration) -> CheckConfig {
    let mut c = CheckConfig::new("users".parse().unwrap(), region.parse().unwrap(), writes);
    c.replication_deadline = deadline;
    c.read_interval = Duration::from_millis(20);
    c
}

fn users_doc() -> Value {
    serde_json::from_str(USERS).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_replicate_intact_and_the_later_of_two_concurrent_updates_wins() {
    let world = World::new(Duration::from_millis(150), users_doc());
    let manifest = start(world.clone()).await;
    let result = check(&manifest, &config(PRIMARY, 10, Duration::from_secs(3)))
        .await
        .unwrap();
    println!("{}", result.summary());
    assert!(result.passed(), "{result:#?}");
    assert_eq!(
        (result.sent, result.acknowledged, result.verified),
        (10, 10, 10)
    );
    assert_eq!(
        (result.create.as_str(), result.read.as_str()),
        ("POST /users", "GET /users/{id}")
    );
    let worst = result.worst_replication_delay_seconds.unwrap();
    assert!((0.14..1.0).contains(&worst), "{worst}");
    let LastWriterWins::Done {
        writes,
        winner,
        later_write_won,
        converged,
        operation,
        final_updated_at,
        ..
    } = &result.last_writer_wins
    else {
        panic!("{:?}", result.last_writer_wins);
    };
    assert_eq!(operation, "PATCH /users/{id}");
    assert!(writes.iter().all(|w| w.acknowledged), "{writes:?}");
    assert_eq!(writes.len(), 2);
    assert!(*converged);
    assert_eq!(*later_write_won, Some(true));
    // The winner is the write with the later updated_at, and both Regions hold it.
    let later = writes.iter().max_by_key(|w| w.updated_at.clone()).unwrap();
    assert_eq!(winner.as_ref(), Some(&later.region));
    assert_eq!(final_updated_at, &later.updated_at);
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["last_writer_wins"]["outcome"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_link_is_reported_item_by_item() {
    let world = World::new(Duration::from_millis(50), users_doc());
    world.link[0].store(false, Ordering::SeqCst);
    let manifest = start(world.clone()).await;
    let result = check(&manifest, &config(PRIMARY, 5, Duration::from_millis(500)))
        .await
        .unwrap();
    println!("{}", result.summary());
    assert!(!result.passed());
    assert_eq!(
        (result.sent, result.acknowledged, result.verified),
        (5, 5, 0)
    );
    assert_eq!(result.failures.len(), 5, "{:?}", result.failures);
    for f in &result.failures {
        assert_eq!(f.step, Step::Read(SECONDARY.parse().unwrap()));
        assert!(f.reason.contains("404"), "{}", f.reason);
        assert!(f.item.as_ref().unwrap().starts_with("/users/"));
    }
    assert!(
        matches!(&result.last_writer_wins, LastWriterWins::Failed { reason } if reason.contains("did not replicate")),
        "{:?}",
        result.last_writer_wins
    );
    assert!(result.summary().contains("failed read in us-west-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_the_secondary_and_a_service_without_an_update() {
    let mut doc = users_doc();
    doc["paths"]["/users/{id}"]
        .as_object_mut()
        .unwrap()
        .remove("patch");
    let world = World::new(Duration::from_millis(20), doc);
    let manifest = start(world.clone()).await;
    let result = check(&manifest, &config(SECONDARY, 3, Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(result.passed(), "{result:#?}");
    assert_eq!(result.write_region.as_str(), SECONDARY);
    assert!(
        world.items[1]
            .lock()
            .unwrap()
            .values()
            .all(|i| i["region"] == SECONDARY),
        "written in the secondary"
    );
    let LastWriterWins::Skipped { reason } = &result.last_writer_wins else {
        panic!("{:?}", result.last_writer_wins);
    };
    assert!(reason.contains("no update of /users"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_checked_is_refused_clearly() {
    let world = World::new(Duration::ZERO, json!({"openapi": "3.1.0", "paths": {}}));
    let manifest = start(world).await;
    let err = check(&manifest, &config(PRIMARY, 1, Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, CheckError::NoOperations { .. }), "{err}");
    let mut c = config(PRIMARY, 1, Duration::from_secs(1));
    c.app = "plain".parse().unwrap();
    let err = check(&manifest, &c).await.unwrap_err();
    assert!(err.to_string().contains("no Regional URL"), "{err}");
    c.app = "nobody".parse().unwrap();
    let err = check(&manifest, &c).await.unwrap_err();
    assert!(matches!(err, CheckError::UnknownApp(_)), "{err}");
}
