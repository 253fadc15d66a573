//! The deploy's initial routing-control states, against the failover crate's local ARC
//! cluster (the real data-plane protocol, five endpoints, safety rules): primary ON and
//! secondary OFF when both are OFF as created; an operator's failover left alone on a re-run;
//! endpoints that are down skipped.

use std::time::Duration;

use failover::{Client, ClientConfig};
use local_arc::{Fault, LocalCluster, LocalClusterConfig};
use topology::{AppName, Topology};

async fn cluster(topology: &Topology) -> LocalCluster {
    LocalCluster::start(topology, LocalClusterConfig::ephemeral(topology))
        .await
        .expect("the local cluster starts")
}

fn state(cluster: &LocalCluster, topology: &Topology, app: &str, primary: bool) -> Option<bool> {
    let app: AppName = app.parse().unwrap();
    let manifest = cluster.manifest(topology);
    let region = if primary {
        &manifest.regions.primary
    } else {
        &manifest.regions.secondary
    };
    let arn = manifest.app(&app)?.routing_control(region)?.clone();
    cluster.routing_control_state(&arn)
}

#[tokio::test]
async fn primaries_go_on_and_a_rerun_leaves_an_operators_failover_alone() {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let cluster = cluster(&topology).await;
    let manifest = cluster.manifest(&topology);
    for app in &topology.apps {
        assert_eq!(
            state(&cluster, &topology, app.name().as_str(), true),
            Some(false),
            "created OFF"
        );
    }

    infra::aws::deploy::initialize_routing_controls(&manifest, &deploy_credentials())
        .await
        .unwrap();
    for app in &topology.apps {
        let name = app.name().as_str();
        assert_eq!(
            state(&cluster, &topology, name, true),
            Some(true),
            "{name} primary"
        );
        assert_eq!(
            state(&cluster, &topology, name, false),
            Some(false),
            "{name} secondary"
        );
    }

    // An operator moves orders to the secondary; the next deploy must not move it back.
    let client = Client::from_manifest(&manifest, ClientConfig::default()).unwrap();
    let orders: AppName = "orders".parse().unwrap();
    client
        .shift(
            std::slice::from_ref(&orders),
            &manifest.regions.secondary,
            Default::default(),
        )
        .await
        .unwrap();
    // The first endpoint is down during the re-run: the others answer.
    cluster.set_fault(0, Fault::Down).await.unwrap();
    infra::aws::deploy::initialize_routing_controls(&manifest, &deploy_credentials())
        .await
        .unwrap();
    assert_eq!(state(&cluster, &topology, "orders", true), Some(false));
    assert_eq!(state(&cluster, &topology, "orders", false), Some(true));
    assert_eq!(state(&cluster, &topology, "users", true), Some(true));
    cluster.shutdown().await;
}

#[tokio::test]
async fn no_reachable_endpoint_is_an_error_that_says_what_to_do() {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let cluster = cluster(&topology).await;
    let manifest = cluster.manifest(&topology);
    for i in 0..manifest.cluster().unwrap().endpoints.len() {
        cluster.set_fault(i, Fault::Down).await.unwrap();
    }
    // A short deadline keeps the test fast; the deploy uses the failover defaults.
    let config = ClientConfig {
        deadline: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    let err = infra::aws::routing::initialize(&manifest, config, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("infra deploy"), "{err}");
    cluster.shutdown().await;
}

/// The deploy's configuration, as `--profile` would give it.
fn deploy_credentials() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIDDEPLOY", "secret", None, None, "test"),
            ),
        )
        .build()
}
