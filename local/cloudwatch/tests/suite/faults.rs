//! Faults per endpoint, as the SDK meets them: a Down endpoint refuses connections, a hanging
//! one never answers and the SDK's own timeout ends the call; the other Region is untouched.

use std::time::{Duration, Instant};

use aws_sdk_cloudwatch as cw;
use cw::error::SdkError;
use local_cloudwatch::Fault;

use crate::common::{self, client_with};

#[tokio::test]
async fn a_down_endpoint_refuses_connections_and_comes_back_on_the_same_address() {
    let w = common::world(1.0).await;
    let west = w.client(&w.west);
    common::publish_flag(&west, "orders", &w.east, 1.0).await;
    let url = w.cloudwatch.url(&w.west).unwrap();

    w.cloudwatch.set_fault(&w.west, Fault::Down).await.unwrap();
    assert_eq!(w.cloudwatch.fault(&w.west), Some(Fault::Down));
    let started = Instant::now();
    let err = west.list_metrics().send().await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not timed out: {:?}",
        started.elapsed()
    );
    // The other Region answers: moving traffic away from us-west-2 needs no call into it.
    common::publish_flag(&w.client(&w.east), "orders", &w.west, 1.0).await;

    w.cloudwatch.set_fault(&w.west, Fault::None).await.unwrap();
    assert_eq!(w.cloudwatch.url(&w.west).unwrap(), url);
    let listed = west.list_metrics().send().await.unwrap();
    assert_eq!(listed.metrics().len(), 1, "the Region kept its data");
}

#[tokio::test]
async fn a_hanging_endpoint_is_ended_by_the_sdk_timeout() {
    let w = common::world(1.0).await;
    let url = w.cloudwatch.url(&w.west).unwrap();
    let impatient = client_with(&url, &w.west, Duration::from_millis(300));

    w.cloudwatch.set_fault(&w.west, Fault::Hang).await.unwrap();
    let started = Instant::now();
    let err = impatient.list_metrics().send().await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    // A call made during the hang is held, then answered once the fault is lifted.
    let patient = w.client(&w.west);
    let held = tokio::spawn(async move { patient.list_metrics().send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.is_finished(), "the call hangs");
    w.cloudwatch.set_fault(&w.west, Fault::None).await.unwrap();
    held.await.unwrap().unwrap();
    impatient.list_metrics().send().await.unwrap();
}

#[tokio::test]
async fn faults_are_per_region_and_named_regions_must_exist() {
    let w = common::world(1.0).await;
    w.cloudwatch.set_fault(&w.east, Fault::Down).await.unwrap();
    common::publish_flag(&w.client(&w.west), "orders", &w.east, 1.0).await;
    let snapshot = serde_json::to_value(w.cloudwatch.snapshot()).unwrap();
    assert_eq!(snapshot["regions"][0]["region"], "us-east-1");
    assert_eq!(snapshot["regions"][0]["fault"], "down");
    assert_eq!(snapshot["regions"][1]["fault"], "none");
    assert_eq!(snapshot["regions"][1]["requests"], 1);
    let missing = w
        .cloudwatch
        .set_fault(&"eu-west-1".parse().unwrap(), Fault::Down)
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("eu-west-1"), "{missing}");
}
