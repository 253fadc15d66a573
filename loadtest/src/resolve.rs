//! Name resolution as a real client does it: through the manifest's DNS server in the local
//! world, the system's resolvers on AWS, each answer cached for its TTL (hickory's cache), so a
//! failover reaches this client when its cached answer expires, not before.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::config::ConfigError;

/// A caching resolver shared by every request of a run.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl Resolver {
    /// Resolves through `dns_server` when given (the local world's Route 53), else through the
    /// system's configuration (`/etc/resolv.conf`).
    pub fn new(dns_server: Option<SocketAddr>) -> Result<Self, ConfigError> {
        let mut options = ResolverOpts::default();
        // A stuck lookup would stall every new connection: fail fast, count it as a DNS error.
        options.timeout = Duration::from_secs(1);
        options.attempts = 2;
        let builder = match dns_server {
            Some(server) => {
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut ns.connections {
                    connection.port = server.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, vec![], vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => {
                TokioResolver::builder_tokio().map_err(|e| ConfigError::Resolver(e.to_string()))?
            }
        };
        let inner = builder
            .with_options(options)
            .build()
            .map_err(|e| ConfigError::Resolver(e.to_string()))?;
        Ok(Self { inner })
    }

    /// The address `host` resolves to now: from the cache while the answer's TTL lasts.
    pub async fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        // A trailing dot makes the name absolute: no search domain is tried first.
        let fqdn = if host.ends_with('.') {
            host.to_owned()
        } else {
            format!("{host}.")
        };
        let lookup = self
            .inner
            .lookup_ip(fqdn)
            .await
            .map_err(|e| e.to_string())?;
        lookup
            .iter()
            .next()
            .ok_or_else(|| format!("`{host}` has no address"))
    }
}
