//! `local-world arc-cluster` as a user runs it: the local ARC cluster alone, with a manifest
//! to try `failover` against, driven here with the failover library.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use failover::{Client, ClientConfig, ShiftOptions};
use tokio::process::Command;
use topology::Region;
use topology::manifest::Manifest;

fn client(manifest: &Manifest) -> Client {
    let config = ClientConfig {
        deadline: Duration::from_secs(3),
        ..ClientConfig::default()
    };
    Client::from_manifest(manifest, config).unwrap()
}

#[tokio::test]
async fn the_local_cluster_runs_alone_and_failover_works_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let topology = common::topology_text().replace("arc_first_port = 8091", "arc_first_port = 0");
    let apps = topology::Topology::parse(&topology).unwrap().apps.len();
    std::fs::write(dir.path().join("topology.toml"), topology).unwrap();
    let mut cluster = Command::new(env!("CARGO_BIN_EXE_local-world"))
        .args(["arc-cluster", "--write-manifest", "m.json", "--initialize"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let path = dir.path().join("m.json");
    let started = Instant::now();
    // The manifest appears before the primaries are ON: wait for both.
    let (manifest, status) = loop {
        if let Ok(manifest) = Manifest::load(&path)
            && let Ok(status) = client(&manifest).status().await
            && status.apps.iter().all(|a| a.warning.is_none())
        {
            break (manifest, status);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the cluster did not come up with its primaries ON"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.apps.len(), apps, "{status:?}");
    let primary: Region = manifest.regions.primary.clone();
    assert!(
        status.apps.iter().all(|a| a.active == primary),
        "{status:?}"
    );

    // Every one of the five endpoints answers on its own.
    assert_eq!(manifest.cluster().unwrap().endpoints.len(), 5);
    for endpoint in &manifest.cluster().unwrap().endpoints {
        let mut alone = manifest.clone();
        alone.cluster_mut().unwrap().endpoints = vec![endpoint.clone()];
        let answered = client(&alone).status().await;
        assert!(
            answered.is_ok(),
            "{} does not answer: {answered:?}",
            endpoint.url
        );
    }

    let secondary = manifest.regions.secondary.clone();
    client(&manifest)
        .evacuate(&primary, ShiftOptions::default())
        .await
        .unwrap();
    let status = client(&manifest).status().await.unwrap();
    assert_eq!(
        status.apps.iter().filter(|a| a.active == secondary).count(),
        apps,
        "{status:?}"
    );

    common::interrupt_and_expect_clean_stop(&mut cluster).await;
}

/// A first port `p` such that `p..p+5` and the same 100 ports higher are free now.
fn free_port_pair() -> u16 {
    let free = |first: u16| {
        (first..first + 5).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
    };
    let start = 20_000 + u16::try_from(std::process::id() % 20_000).unwrap();
    (0..200)
        .map(|i| start + i * 50)
        .find(|&first| free(first) && free(first + 100))
        .expect("five free ports, and five more 100 higher")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cluster_runs_beside_a_running_world_by_default() {
    let first = free_port_pair();
    let dir = tempfile::tempdir().unwrap();
    let text = common::topology_text().replace(
        "arc_first_port = 8091",
        &format!("arc_first_port = {first}"),
    );
    let text = common::on_networks(&text, 87);
    std::fs::write(dir.path().join("topology.toml"), &text).unwrap();
    let world = local_world::World::start(topology::Topology::parse(&text).unwrap())
        .await
        .expect("the world starts on its ARC ports");
    let world_ports: Vec<String> = world
        .manifest()
        .cluster()
        .unwrap()
        .endpoints
        .iter()
        .map(|e| e.url.clone())
        .collect();
    assert_eq!(world_ports[0], format!("http://127.0.0.1:{first}"));

    // The runbook's command, unchanged, beside the running world.
    let mut cluster = Command::new(env!("CARGO_BIN_EXE_local-world"))
        .args(["arc-cluster", "--write-manifest", "m.json", "--initialize"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let path = dir.path().join("m.json");
    let started = Instant::now();
    let (manifest, status) = loop {
        if let Ok(manifest) = Manifest::load(&path)
            && let Ok(status) = client(&manifest).status().await
            && status.apps.iter().all(|a| a.warning.is_none())
        {
            break (manifest, status);
        }
        if let Some(exit) = cluster.try_wait().unwrap() {
            panic!("the cluster exited beside the world: {exit}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the cluster did not come up beside the world"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ports: Vec<String> = manifest
        .cluster()
        .unwrap()
        .endpoints
        .iter()
        .map(|e| e.url.clone())
        .collect();
    let expected: Vec<String> = (first + 100..first + 105)
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
    assert_eq!(ports, expected, "100 above the world's");
    assert!(!status.apps.is_empty());
    // The world's own cluster still answers, apart from the other.
    assert!(client(world.manifest()).status().await.is_ok());

    common::interrupt_and_expect_clean_stop(&mut cluster).await;
    world.shutdown().await;
}
