//! The local world's test fixture: a topology built from the services this build has, so that a
//! team that renames, adds or removes services (crate and `topology.toml`) keeps a green suite.
//!
//! Its settings are the suite's fixture topology's (`testkit::FIXTURE_TOPOLOGY`); its apps are
//! the gateway `api`, routing `/<name>` to each service, and one service per entry of
//! `local_world::services::SERVICES`, with the table and indexes its descriptor needs. Tests
//! pick services by position ([`first`], [`second`]), never by name.

#![allow(dead_code)] // Each test binary uses its own part of the fixture.

use std::fmt::Write as _;

use local_world::services::SERVICES;
use topology::AppName;

/// The gateway of the fixture.
pub const GATEWAY: &str = "api";

/// The fixture topology's text: the testkit fixture's settings (loopback networks `127.0.1`
/// and `127.0.2`, ports 8053, 8080, 8091, TTL 5 s, checks every 1000 ms, lag 250 ms), then the
/// apps of this build. Tests edit the settings with `str::replace`, as on a user's file.
pub fn topology_text() -> String {
    let fixture = testkit::FIXTURE_TOPOLOGY;
    let settings = fixture
        .find("\n[[apps]]")
        .map_or(fixture, |end| &fixture[..end]);
    let mut text = format!("{settings}\n\n[[apps]]\nname = \"{GATEWAY}\"\nkind = \"gateway\"\n");
    text.push_str("[apps.routes]\n");
    for service in SERVICES {
        let _ = writeln!(text, "\"/{0}\" = \"{0}\"", service.name);
    }
    for service in SERVICES {
        let _ = write!(
            text,
            "\n[[apps]]\nname = \"{0}\"\nkind = \"service\"\n[apps.table]\nname = \"{0}\"\n",
            service.name
        );
        let indexes: Vec<String> = service
            .indexes
            .iter()
            .map(|i| {
                let sort = i
                    .sort_key
                    .map(|k| format!(", sort_key = \"{k}\""))
                    .unwrap_or_default();
                format!(
                    "{{ name = \"{}\", partition_key = \"{}\"{sort} }}",
                    i.name, i.partition_key
                )
            })
            .collect();
        if !indexes.is_empty() {
            let _ = writeln!(text, "indexes = [{}]", indexes.join(", "));
        }
    }
    text
}

/// `text` (a fixture topology) on the loopback networks `127.0.<network>` and
/// `127.0.<network + 1>`, every listener (DNS, control API, ARC and CloudWatch endpoints) on a
/// port the system picks, so that worlds of several test binaries run at once.
pub fn on_networks(text: &str, network: u8) -> String {
    free_cloudwatch_ports(
        &text
            .replace("\"127.0.1\"", &format!("\"127.0.{network}\""))
            .replace("\"127.0.2\"", &format!("\"127.0.{}\"", network + 1))
            .replace("127.0.0.1:8053", "127.0.0.1:0")
            .replace("127.0.0.1:8080", "127.0.0.1:0")
            .replace("arc_first_port = 8091", "arc_first_port = 0"),
    )
}

/// `text` (a fixture topology, which leaves the CloudWatch ports at their default) with its
/// CloudWatch endpoints on free ports.
pub fn free_cloudwatch_ports(text: &str) -> String {
    assert!(
        text.contains("replication_lag_ms = 250\n"),
        "the fixture's [local] section moved"
    );
    text.replace(
        "replication_lag_ms = 250\n",
        "replication_lag_ms = 250\ncloudwatch_first_port = 0\n",
    )
}

/// `text` (a fixture topology) with the `health-check` failover mechanism: no ARC cluster;
/// flags in the local CloudWatch, their alarms and health checks, with alarm periods of
/// `alarm_period_ms` here.
pub fn health_check(text: &str, alarm_period_ms: u64) -> String {
    let text = text.replace(
        "[arc]\n",
        "[failover]\nmechanism = \"health-check\"\n\n[arc]\n",
    );
    text.replace(
        "replication_lag_ms = 250\n",
        &format!("replication_lag_ms = 250\nalarm_period_ms = {alarm_period_ms}\n"),
    )
}

/// `text` with a fast clock: answers live 1 s, health checks every 200 ms.
pub fn fast_clock(text: &str) -> String {
    text.replace("ttl_seconds = 5", "ttl_seconds = 1").replace(
        "health_check_interval_ms = 1000",
        "health_check_interval_ms = 200",
    )
}

/// `text` (a fixture topology) with write fencing on for `service`.
pub fn with_fencing(text: &str, service: &AppName) -> String {
    let header = format!("name = \"{service}\"\nkind = \"service\"\n");
    assert!(
        text.contains(&header),
        "no service `{service}` in the topology"
    );
    text.replace(&header, &format!("{header}fence_writes = true\n"))
}

/// Every service of this build, in the order of [`SERVICES`] (and of the fixture's apps).
pub fn services() -> Vec<AppName> {
    SERVICES
        .iter()
        .map(|s| s.name.parse().expect("a descriptor names a valid app"))
        .collect()
}

/// The first service (the fixture's second app, after the gateway).
pub fn first() -> AppName {
    services()[0].clone()
}

/// The second service; the suite needs at least two.
pub fn second() -> AppName {
    services()
        .get(1)
        .cloned()
        .expect("the local world's tests need at least two services")
}

/// The last service.
pub fn last() -> AppName {
    services().last().cloned().expect("at least one service")
}

/// The gateway's name.
pub fn gateway() -> AppName {
    GATEWAY.parse().unwrap()
}

/// Sends SIGINT (Ctrl-C) to `child` and asserts it stops cleanly within 10 s.
pub async fn interrupt_and_expect_clean_stop(child: &mut tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("it stops on Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// An HTTP client builder for a service's instance as a trusted internal caller: TLS with the
/// manifest's client certificate (`https://` on the service's port).
pub fn trusted_client(manifest: &topology::Manifest) -> reqwest::ClientBuilder {
    let trusted = manifest
        .trusted_client
        .as_ref()
        .expect("a world whose services admit only the gateway has a trusted client certificate");
    local_world::pki::trusted_http_client(trusted).unwrap()
}

/// A stock resolver (hickory's) that asks only `server`, over TCP or UDP, with `options`: a
/// client's view of the world's DNS.
pub fn resolver(
    server: std::net::SocketAddr,
    tcp: bool,
    options: hickory_resolver::config::ResolverOpts,
) -> hickory_resolver::TokioResolver {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    let mut ns = if tcp {
        NameServerConfig::tcp(server.ip())
    } else {
        NameServerConfig::udp(server.ip())
    };
    for connection in &mut ns.connections {
        connection.port = server.port();
    }
    hickory_resolver::TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], vec![ns]),
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .unwrap()
}

/// Holds replication back (a 60 s lag) and writes the item `key` into `app`'s table in
/// `region`: from then on the other Region's replica falls behind, for the replication gate.
pub fn write_held_back(
    world: &local_world::World,
    app: &AppName,
    region: &topology::Region,
    key: &str,
) {
    world
        .replicator()
        .set_lag(std::time::Duration::from_secs(60));
    let mut item = kit::memory::Item::new();
    item.insert(kit::store::PK.into(), key.into());
    world
        .table(app, region)
        .unwrap()
        .put(item, kit::memory::Condition::NotExists)
        .unwrap();
}
