//! The 100-app fixture against the local cluster at ARC's own request rate (3 updates per
//! second per endpoint): an evacuation moves every app in batches of at most 10 controls,
//! spread over the endpoints without ever being throttled. Times are `cargo bench`'s business.

use std::collections::BTreeSet;
use std::time::Duration;

use failover::{Client, ClientConfig, ShiftOptions};
use local_arc::{Fault, LocalCluster, LocalClusterConfig, UpdateCall, UpdateOutcome};
use topology::Topology;
use topology::manifest::Manifest;

async fn hundred_apps() -> (LocalCluster, Manifest) {
    let topology = Topology::parse(testkit::SCALE_FIXTURE_TOPOLOGY).unwrap();
    assert_eq!(topology.apps.len(), 100);
    let config = LocalClusterConfig {
        safety_rule_wait_period: Duration::ZERO,
        ..LocalClusterConfig::ephemeral(&topology)
    };
    assert_eq!(config.mutations_per_second, 3.0, "ARC's rate, not a test's");
    let cluster = LocalCluster::start(&topology, config).await.unwrap();
    let manifest = cluster.manifest(&topology);
    (cluster, manifest)
}

/// ARC's pace (the default), with hedges late enough that a loaded test machine does not send
/// a batch twice and blur the count.
fn paced() -> ClientConfig {
    ClientConfig {
        hedge_after: Duration::from_secs(1),
        ..ClientConfig::default()
    }
}

/// Every app's target Region ON and the other OFF, read in process.
fn assert_all_moved(cluster: &LocalCluster, manifest: &Manifest, from: &topology::Region) {
    let to = manifest.regions.other(from).unwrap();
    for app in &manifest.apps {
        let on = |r| {
            cluster
                .routing_control_state(app.routing_control(r).unwrap())
                .unwrap()
        };
        assert!(on(to) && !on(from), "{} did not move to {to}", app.name);
    }
}

fn applied(calls: &[UpdateCall]) -> Vec<&UpdateCall> {
    calls
        .iter()
        .filter(|c| c.outcome == UpdateOutcome::Applied)
        .collect()
}

#[tokio::test]
async fn evacuating_100_apps_sends_at_most_10_controls_per_call_spread_over_every_endpoint() {
    let (cluster, manifest) = hundred_apps().await;
    // One client for both operations, as one process would: its pacing knows what it sent.
    let client = Client::from_manifest(&manifest, paced()).unwrap();
    client.initialize().await.unwrap();
    cluster.clear_update_calls();

    let primary = manifest.regions.primary.clone();
    let out = client
        .evacuate(&primary, ShiftOptions::default())
        .await
        .unwrap();
    assert_all_moved(&cluster, &manifest, &primary);
    assert_eq!(out.apps.len(), 100);

    let calls = cluster.update_calls();
    assert!(
        calls.iter().all(|c| c.outcome != UpdateOutcome::Throttled),
        "the client's pacing kept every endpoint within its rate: {calls:?}"
    );
    let applied = applied(&calls);
    assert!(applied.iter().all(|c| c.controls <= 10), "{applied:?}");
    assert_eq!(applied.iter().map(|c| c.controls).sum::<usize>(), 200);
    assert_eq!(applied.len(), 20, "100 apps, 5 per batch");
    assert_eq!(out.batches.len(), 20);
    let used: BTreeSet<usize> = applied.iter().map(|c| c.endpoint).collect();
    assert_eq!(used.len(), 5, "spread over every endpoint: {used:?}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn with_two_endpoints_down_an_evacuation_spreads_over_the_three_left() {
    let (cluster, manifest) = hundred_apps().await;
    let client = Client::from_manifest(&manifest, paced()).unwrap();
    client.initialize().await.unwrap();
    for i in [1, 3] {
        cluster.set_fault(i, Fault::Down).await.unwrap();
    }
    cluster.clear_update_calls();

    let primary = manifest.regions.primary.clone();
    client
        .evacuate(&primary, ShiftOptions::default())
        .await
        .unwrap();
    assert_all_moved(&cluster, &manifest, &primary);
    let calls = cluster.update_calls();
    let applied = applied(&calls);
    assert_eq!(applied.len(), 20);
    assert!(applied.iter().all(|c| c.controls <= 10));
    let used: BTreeSet<usize> = applied.iter().map(|c| c.endpoint).collect();
    assert_eq!(used, BTreeSet::from([0, 2, 4]));
    assert!(
        calls.iter().all(|c| c.outcome != UpdateOutcome::Throttled),
        "{calls:?}"
    );
    cluster.shutdown().await;
}
