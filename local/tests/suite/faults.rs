//! App instances of the local world and their faults, over real HTTP.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use local_world::instance::{Degradation, Instance, InstanceStatus};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
}

#[tokio::test]
async fn stop_degrade_and_restore_an_instance() {
    let router = Router::new().route("/", get(|| async { "ok" }));
    let instance = Instance::start(
        "orders".parse().unwrap(),
        "us-east-1".parse().unwrap(),
        "127.0.7.1:0".parse().unwrap(),
        router,
    )
    .await
    .unwrap();
    let url = format!("http://{}/", instance.addr);
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);

    instance.degrade(Degradation {
        latency_ms: 100,
        error_rate: 0.5,
    });
    assert!(matches!(
        instance.status().await,
        InstanceStatus::Degraded(_)
    ));
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(client().get(&url).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, vec![200, 503, 200, 503]);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "latency is added"
    );

    instance.stop().await;
    assert_eq!(instance.status().await, InstanceStatus::Stopped);
    let err = reqwest::Client::new().get(&url).send().await.unwrap_err();
    assert!(err.is_connect(), "connections are refused: {err}");

    instance.restore().await.unwrap();
    assert_eq!(instance.status().await, InstanceStatus::Running);
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
}
