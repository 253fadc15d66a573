//! Shared set-up: a local ARC cluster on free loopback ports and a manifest pointing at it.
#![allow(dead_code)]

pub mod hc;
pub mod net;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use failover::{Client, ClientConfig};
use local_arc::{LocalCluster, LocalClusterConfig};
use topology::manifest::Manifest;
use topology::{AppName, Region, Topology};

pub struct World {
    pub topology: Topology,
    pub cluster: LocalCluster,
    pub manifest: Manifest,
}

/// A cluster with a generous request rate and a short wait period, so tests do not trip them
/// unless they mean to.
pub async fn world() -> World {
    world_with(|c| {
        c.mutations_per_second = 1000.0;
        c.safety_rule_wait_period = Duration::ZERO;
    })
    .await
}

pub async fn world_with(tune: impl FnOnce(&mut LocalClusterConfig)) -> World {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let mut config = LocalClusterConfig::ephemeral(&topology);
    tune(&mut config);
    let cluster = LocalCluster::start(&topology, config).await.unwrap();
    let manifest = cluster.manifest(&topology);
    World {
        topology,
        cluster,
        manifest,
    }
}

/// Short timeouts: tests stay well under their time budget.
pub fn quick() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_secs(1),
        hedge_after: Duration::from_millis(200),
        deadline: Duration::from_secs(4),
        mutations_per_second: 100.0,
    }
}

impl World {
    pub fn client(&self) -> Client {
        Client::from_manifest(&self.manifest, quick()).unwrap()
    }

    pub fn app(name: &str) -> AppName {
        name.parse().unwrap()
    }

    pub fn primary(&self) -> Region {
        self.manifest.regions.primary.clone()
    }

    pub fn secondary(&self) -> Region {
        self.manifest.regions.secondary.clone()
    }

    /// The batch that turns both of `app`'s routing controls OFF: what its safety rule blocks.
    pub fn both_off(&self, app: &str) -> Vec<(topology::RoutingControlArn, bool)> {
        let entry = self.manifest.app(&Self::app(app)).unwrap();
        [self.primary(), self.secondary()]
            .iter()
            .map(|r| (entry.routing_control(r).unwrap().clone(), false))
            .collect()
    }

    /// (primary ON?, secondary ON?) of `app`, read in process.
    pub fn states(&self, app: &str) -> (bool, bool) {
        let entry = self.manifest.app(&Self::app(app)).unwrap();
        let read = |r: &Region| {
            self.cluster
                .routing_control_state(entry.routing_control(r).unwrap())
                .unwrap()
        };
        (read(&self.primary()), read(&self.secondary()))
    }
}

/// What one run of the `failover` binary printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `failover` binary in `dir` with `args` and extra environment `env`, as a user would
/// (no terminal on stdin, no FAILOVER_MANIFEST from the caller's environment).
pub async fn failover(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_failover"))
        .args(args)
        .current_dir(dir)
        .env_remove("FAILOVER_MANIFEST")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
