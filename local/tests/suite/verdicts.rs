//! Each of the demo's expectations fails on a world broken the way it is meant to catch: a
//! severed primary → secondary replication, a gateway route to the wrong service, a change
//! lost while a table is down, instant DNS propagation. Each test also shows the healthy
//! world passing the same check, so that neither outcome holds by construction.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use failover::{Client, ClientConfig};
use local_world::World;
use local_world::measure::{self, Writes};
use local_world::probe::RouteProbe;
use local_world::verdict;
use topology::Topology;

/// The fixture topology on loopback networks of its own, free ports, a fast clock, with
/// `edit` applied to its text.
fn topology(network: u8, edit: impl FnOnce(String) -> String) -> Topology {
    let text = common::fast_clock(&common::on_networks(&common::topology_text(), network))
        .replace("replication_lag_ms = 250", "replication_lag_ms = 50");
    Topology::parse(&edit(text)).unwrap()
}

async fn world(topology: Topology) -> Arc<World> {
    Arc::new(
        tokio::time::timeout(Duration::from_secs(10), World::start(topology))
            .await
            .expect("the world starts within 10 s")
            .unwrap(),
    )
}

const WRITES: Writes = Writes {
    rate_per_service: 5,
    duration: Duration::from_secs(1),
    lag: Duration::from_millis(100),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_severed_primary_to_secondary_link_fails_no_write_lost() {
    let world = world(topology(41, |t| t)).await;
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    let healthy = measure::writes(&world, primary.clone(), WRITES)
        .await
        .unwrap();
    let step = verdict::no_write_lost(&healthy);
    assert!(step.held, "{step:#?}");

    world.replicator().sever(&primary, &secondary, true);
    let broken = measure::writes(&world, primary.clone(), WRITES)
        .await
        .unwrap();
    let step = verdict::no_write_lost(&broken);
    println!("{step:#?}");
    assert!(!step.held, "a severed link must fail the check");
    assert!(broken.consistency.never_found > 0, "{broken:#?}");
    assert!(
        broken.drained,
        "the backlog cannot see it: only reading back from the secondary does"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_lost_while_a_table_is_down_fails_no_write_lost() {
    let world = world(topology(43, |t| t)).await;
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    world.replicator().set_retention(Duration::from_millis(200));
    let table = world.table(&common::first(), &secondary).unwrap().clone();
    table.set_available(false);
    let restore = {
        let table = table.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            table.set_available(true);
        })
    };
    let check = measure::writes(&world, primary, WRITES).await.unwrap();
    restore.await.unwrap();
    let step = verdict::no_write_lost(&check);
    println!("{step:#?}");
    assert!(!step.held, "a lost change must fail the check");
    assert!(check.replication.lost > 0, "{check:#?}");
    assert!(!check.drained, "a world that lost a change is not drained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_route_to_the_wrong_service_fails_containment() {
    let (first, second) = (common::first(), common::second());
    let misroute = |text: String| {
        text.replace(
            &format!("\"/{first}\" = \"{first}\""),
            &format!("\"/{first}\" = \"{second}\""),
        )
    };
    for (network, broken) in [(45, false), (47, true)] {
        let topology = if broken {
            topology(network, misroute)
        } else {
            topology(network, |t| t)
        };
        let world = world(topology).await;
        let primary = world.topology().regions.primary.clone();
        let probe = RouteProbe::start(
            world.topology(),
            world.dns().local_addr(),
            Duration::from_millis(100),
            world.manifest().trusted_client.as_ref(),
            world.api_token(Duration::from_secs(600)).as_deref(),
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let steady = verdict::every_route_answers("steady state", &probe.snapshot());
        assert_eq!(steady.held, !broken, "{steady:#?}");

        let before = probe.snapshot();
        world.instance(&second, &primary).unwrap().stop().await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let routes = probe.snapshot().since(&before);
        let step = verdict::contained(&second, &routes, 0);
        println!("{step:#?}");
        assert_eq!(
            step.held, !broken,
            "contained only when the gateway routes /{first} to {first}"
        );
        probe.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_propagation_fails_the_propagation_check() {
    let first = common::first();
    for (network, instant) in [(49, false), (51, true)] {
        let mut topology = topology(network, |t| t);
        if instant {
            // Not valid in topology.toml: a fault only a test can inject.
            topology.local.health_check_interval_ms = 0;
        }
        let world = world(topology).await;
        assert_eq!(world.dns().propagation_is_instant(), instant);
        let secondary = world.topology().regions.secondary.clone();
        let client = Client::from_manifest(world.manifest(), ClientConfig::default()).unwrap();
        let mover = local_world::moves::Mover::Arc(Box::new(client));
        let propagation = measure::shift_propagation(&world, &mover, &first, &secondary)
            .await
            .unwrap();
        let step = verdict::propagates_like_route53(&propagation);
        println!("{step:#?}");
        assert_eq!(step.held, !instant, "{propagation:?}");
    }
}
