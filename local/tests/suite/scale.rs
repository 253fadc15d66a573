//! The 100-app fixture (`testkit::SCALE_FIXTURE_TOPOLOGY`: 25 copies of the four apps, the
//! copies running the first copy's services) as a local world: it starts, its Route 53 answers
//! every app's name with the primary's address, and every app's primary instance answers.
//! Start time and memory are `cargo bench -p local-world`'s business.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::ResolverOpts;
use local_world::World;
use topology::Topology;

use crate::common;

fn resolver(server: SocketAddr) -> TokioResolver {
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(5);
    common::resolver(server, true, options)
}

#[tokio::test]
async fn a_world_of_100_apps_starts_and_answers_dns_and_http_for_every_app() {
    let text = common::on_networks(testkit::SCALE_FIXTURE_TOPOLOGY, 131);
    let topology = Topology::parse(&text).unwrap();
    assert_eq!(topology.apps.len(), 100);
    let world = World::start(topology.clone()).await.unwrap();
    let resolver = resolver(world.dns().local_addr());
    let http = reqwest::Client::new();
    let primary = &topology.regions.primary;
    for app in &topology.apps {
        let name = app.name();
        let expected = topology.local_address(name, primary).unwrap();
        let lookup = resolver
            .lookup_ip(format!("{name}.{}.", topology.local.domain))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let answered: Vec<IpAddr> = lookup.iter().collect();
        assert_eq!(answered, [expected], "{name}");
        let url = format!("http://{expected}:{}/health", topology.local.app_port);
        let status = http.get(&url).send().await.unwrap().status();
        assert!(status.is_success(), "{name}: {url} answered {status}");
    }
    world.shutdown().await;
}
