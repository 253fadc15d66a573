//! What the cluster benches share: the local ARC cluster for a topology, its controls
//! initialized, and its manifest in a file for the CLI.

use std::path::PathBuf;
use std::time::Duration;

use failover::{Client, ClientConfig};
use local_arc::{LocalCluster, LocalClusterConfig};
use topology::Topology;
use topology::manifest::Manifest;

/// A running cluster for `topology` (no safety-rule wait: runs follow each other at once),
/// with its manifest saved under a temporary directory.
pub struct Bench {
    pub cluster: LocalCluster,
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// Holds `manifest_path`: the file goes when this is dropped.
    pub dir: tempfile::TempDir,
}

impl Bench {
    pub async fn start(topology: &Topology) -> Self {
        let config = LocalClusterConfig {
            safety_rule_wait_period: Duration::ZERO,
            ..LocalClusterConfig::ephemeral(topology)
        };
        let cluster = LocalCluster::start(topology, config)
            .await
            .expect("the local cluster starts");
        let manifest = cluster.manifest(topology);
        Client::from_manifest(&manifest, ClientConfig::default())
            .unwrap()
            .initialize()
            .await
            .expect("initialize");
        let dir = tempfile::tempdir().unwrap();
        let manifest_path = dir.path().join("deployment.json");
        manifest.save(&manifest_path).unwrap();
        Self {
            cluster,
            manifest,
            manifest_path,
            dir,
        }
    }
}
