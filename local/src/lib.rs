//! The local world: the whole architecture on loopback (`local-world run`) and its demo
//! (`local-world demo`), with no AWS account, no Docker and no Python.
//!
//! - [`services`]: the services it runs, each described by its crate's descriptor;
//! - [`dns`]: the local Route 53 (failover record pairs, health checks on routing controls or
//!   on the flags' alarms);
//! - [`monitoring`]: the local CloudWatch: every app's alarms, fed by what the world measures,
//!   and in the `health-check` mechanism the flags, their alarms and health checks;
//! - [`moves`]: a move of apps between Regions by the deployment's mechanism (the ARC client,
//!   or the flags published with the AWS SDK);
//! - [`issuer`]: the OIDC issuer of the `api` app's tokens (its key generated per run);
//! - [`instance`]: one app in one Region on its loopback address, with faults on demand;
//! - [`door`] and [`pki`]: gateway-only access, the services' mutual TLS with the run's own CA;
//! - [`replication`]: global tables between the Regions' stores;
//! - [`world`]: all of it assembled, with the deployment manifest;
//! - [`control`]: the control API (state and faults) of a running world, answering only
//!   requests addressed to it;
//! - [`faults`]: the faults it injects, spelled the same in its requests and its state;
//! - [`dashboard`]: the page at the control API's `/` that shows the world live and drives it;
//! - [`demo`](mod@demo): the scripted failover drill with traffic and a report;
//! - [`probe`]: the drill's reads of every service route, direct and through the gateway;
//! - [`stages`]: each of the drill's moves verified stage by stage, as `failover --verify` does;
//! - [`measure`] and [`verdict`]: what the drill measures and what it expects of it;
//! - [`telemetry`]: the log output (warnings on stderr, `RUST_LOG` overrides).

pub mod control;
pub mod dashboard;
pub mod demo;
pub mod dns;
pub mod door;
pub mod faults;
pub mod instance;
pub mod issuer;
pub mod measure;
pub mod monitoring;
pub mod moves;
pub mod pki;
pub mod probe;
pub mod replication;
pub mod services;
pub mod stages;
pub mod telemetry;
pub mod verdict;
pub mod world;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use local_arc::{LocalCluster, LocalClusterConfig};
use topology::Topology;
use topology::manifest::LOCAL_MANIFEST_PATH;

pub use demo::demo;
pub use world::World;

/// Options of `local-world run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The topology file to run.
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}

/// Options of `local-world demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The topology file to run.
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
    /// A short drill (about 25 s) for CI: shorter steps, TTL 2 s, health checks every 0.5 s and
    /// (with the health-check mechanism) alarm periods of at most 1 s.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the traffic report (report.json, timeline.svg); default: a new folder
    /// under `.local/demo-<time>`.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// After the drill, shift the first service N more times, each at a random phase of the
    /// clients' TTL cycle, and judge the move times' median and worst against their bound.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub shifts: u32,
    /// Keep the world running after the drill (the control API, DNS and every app) until
    /// Ctrl-C, to look around.
    #[arg(long)]
    pub keep_running: bool,
    /// Print every expectation in full as it is judged, and at the end the traffic report,
    /// each move's time and each stage of its verification (all of it is in demo.json anyway).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the local world until Ctrl-C or SIGTERM: writes `.local/deployment.json`, prints what runs
/// where, and removes the manifest again on a clean shutdown.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.config)?;
    let world = Arc::new(World::start(topology).await?);
    let control = control::serve(world.clone());
    world
        .manifest()
        .save(LOCAL_MANIFEST_PATH)
        .context("cannot write the manifest")?;
    let tls_dir = std::path::Path::new(pki::TRUSTED_CLIENT_DIR);
    if let Some(trusted) = &world.manifest().trusted_client {
        pki::write_trusted_client(trusted, tls_dir)
            .with_context(|| format!("cannot write {}", tls_dir.display()))?;
    }
    print!("{}", describe(&world));
    println!("Manifest: {LOCAL_MANIFEST_PATH}. Press Ctrl-C to stop.");
    kit::serve::shutdown_signal().await;
    println!("\nStopping the local world...");
    if let Some(task) = control {
        task.abort();
    }
    if let Err(error) = std::fs::remove_file(LOCAL_MANIFEST_PATH) {
        tracing::debug!(%error, "the manifest was already gone");
    }
    if let Err(error) = std::fs::remove_dir_all(tls_dir) {
        tracing::debug!(%error, "the trusted client's files were already gone");
    }
    match Arc::try_unwrap(world) {
        Ok(world) => world.shutdown().await,
        Err(_) => tracing::debug!("the world is still shared; its tasks end with the process"),
    }
    println!("Stopped.");
    Ok(())
}

/// Options of `local-world arc-cluster`.
#[derive(Debug, clap::Args)]
pub struct ArcClusterArgs {
    /// The topology file: its apps get a control panel, two routing controls and a safety rule.
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
    /// Write a manifest for the cluster here, to try `failover` against it.
    #[arg(long, value_name = "PATH")]
    pub write_manifest: Option<PathBuf>,
    /// Set every app's primary ON / secondary OFF at start (as a deploy does).
    #[arg(long)]
    pub initialize: bool,
    /// First port of the five endpoints (127.0.0.1:PORT to PORT+4); 0 picks free ports.
    /// Default: the topology's `local.arc_first_port` + 100 (8191 with the shipped
    /// topology.toml), so that the cluster runs beside a running local world.
    #[arg(long, value_name = "PORT")]
    pub first_port: Option<u16>,
}

/// How far above the world's own ARC endpoints `local-world arc-cluster` puts its endpoints by
/// default, so that both run at once.
pub const ARC_CLUSTER_PORT_OFFSET: u16 = 100;

impl ArcClusterArgs {
    /// The first port: `--first-port`, else [`ARC_CLUSTER_PORT_OFFSET`] above the world's
    /// (free ports when the world's are).
    fn first_port(&self, topology: &Topology) -> u16 {
        let world = topology.local.arc_first_port;
        self.first_port.unwrap_or(if world == 0 {
            0
        } else {
            world.saturating_add(ARC_CLUSTER_PORT_OFFSET)
        })
    }
}

/// Runs the local ARC cluster alone until Ctrl-C or SIGTERM.
pub async fn arc_cluster(args: ArcClusterArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.config)?;
    let first_port = args.first_port(&topology);
    let config = LocalClusterConfig::from_topology(&topology)
        .with_first_port(first_port)
        .context("--first-port")?;
    let cluster = LocalCluster::start(&topology, config)
        .await
        .with_context(|| match first_port {
            0 => "cannot start the local ARC cluster on free ports".to_owned(),
            port => format!(
                "cannot start the local ARC cluster on ports {port} to {} (choose others with --first-port, or 0 for free ones)",
                u32::from(port) + 4
            ),
        })?;
    let manifest = cluster.manifest(&topology);
    println!("local ARC cluster {}", cluster.arn());
    for (i, e) in cluster.endpoints().iter().enumerate() {
        println!("  endpoint {i}: {:<15} {}", e.region.as_str(), e.url);
    }
    if let Some(path) = &args.write_manifest {
        manifest.save(path)?;
        println!("manifest written to {}", path.display());
    }
    if args.initialize {
        let outcome =
            failover::Client::from_manifest(&manifest, failover::ClientConfig::default())?
                .initialize()
                .await?;
        let names: Vec<&str> = outcome.initialized.iter().map(|a| a.as_str()).collect();
        println!("initialized (primary ON): {}", names.join(", "));
    } else {
        println!(
            "routing controls start OFF, as on AWS (pass --initialize to set the primaries ON)"
        );
    }
    println!("serving until Ctrl-C");
    kit::serve::shutdown_signal().await;
    cluster.shutdown().await;
    Ok(())
}

/// A table of what runs where, for people.
pub fn describe(world: &World) -> String {
    let manifest = world.manifest();
    let topology = world.topology();
    let [primary, secondary] = topology.regions.both();
    let mut out = String::new();
    let _ = writeln!(out, "\nThe local world ({})", manifest.domain);
    let _ = writeln!(
        out,
        "{:<10} {:<36} {:<18} {:<18} DNS answers",
        "app",
        "url",
        primary.as_str(),
        secondary.as_str()
    );
    for app in &manifest.apps {
        let address = |region| {
            world
                .instance(&app.name, region)
                .map_or_else(|| "-".to_owned(), |i| i.addr.to_string())
        };
        let answer = world
            .dns()
            .answer(&app.name)
            .map_or_else(|| "-".to_owned(), |a| a.region.to_string());
        let _ = writeln!(
            out,
            "{:<10} {:<36} {:<18} {:<18} {answer}",
            app.name.as_str(),
            app.url,
            address(primary),
            address(secondary)
        );
    }
    let dns = world.dns().local_addr();
    let _ = writeln!(
        out,
        "\nRoute 53 (DNS)  {dns} UDP+TCP, TTL {} s, health checks every {} ms\n                try: dig @{} -p {} orders.{}",
        topology.local.ttl_seconds,
        topology.local.health_check_interval_ms,
        dns.ip(),
        dns.port(),
        manifest.domain
    );
    if let Some(cluster) = manifest.cluster() {
        let endpoints: Vec<String> = cluster
            .endpoints
            .iter()
            .map(|e| format!("{} {}", e.region, e.url))
            .collect();
        let _ = writeln!(out, "ARC cluster     {}", endpoints.join(", "));
    }
    let cloudwatch: Vec<String> = world
        .monitoring()
        .endpoints()
        .iter()
        .map(|e| format!("{} {}", e.region, e.url))
        .collect();
    let _ = writeln!(out, "CloudWatch      {}", cloudwatch.join(", "));
    let clock = world.monitoring().clock();
    let alarms: usize = manifest.apps.iter().map(|a| a.alarms.len()).sum();
    let _ = writeln!(
        out,
        "                {alarms} alarms, a minute's period lasting {} ms here",
        clock.period(60).as_millis()
    );
    if let Some(flags) = manifest.flag_metric() {
        let _ = writeln!(
            out,
            "Flags           {} {} (1 takes a Region out); their alarms' period lasts {} ms here, health checks read them every {} ms",
            flags.namespace,
            flags.metric_name,
            topology.local.alarm_period_ms,
            topology.local.health_check_interval_ms
        );
    }
    if let Some(control) = &manifest.control_api {
        let _ = writeln!(out, "Dashboard       {control}/  (open it in a browser)");
        let _ = writeln!(
            out,
            "Control API     {control}/state (faults: POST /faults/..., OpenAPI: {control}/openapi.json)"
        );
    }
    let _ = writeln!(
        out,
        "Replication     lag {} ms between the Regions' tables",
        world.replicator().lag().as_millis()
    );
    let first_service = topology
        .services()
        .next()
        .and_then(|s| world.instance(s.name(), primary).map(|i| i.addr));
    if let (Some(_), Some(addr)) = (&manifest.trusted_client, first_service) {
        let dir = pki::TRUSTED_CLIENT_DIR;
        let _ = writeln!(
            out,
            "Gateway-only    services admit only the gateway's client certificate (mutual TLS); plain HTTP gets / and /health\n                a trusted caller: curl --cacert {dir}/ca.pem --cert {dir}/client.pem --key {dir}/client.key https://{addr}/openapi.json"
        );
    }
    if let Some(auth) = &manifest.auth {
        let _ = writeln!(
            out,
            "Token issuer    {} (the api app's routes need a token: TOKEN=$(cargo run -q -p local-world -- token))",
            auth.issuer
        );
    }
    out
}
