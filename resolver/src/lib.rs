//! Name resolution as a remote client does it: through the local world's Route 53 when given
//! its address, else through the system's configuration (`/etc/resolv.conf`), each answer
//! cached for exactly its TTL (hickory's cache). A failover reaches a client of this resolver
//! when its cached answer expires, not before: the gateway, the load generator and
//! `failover --verify` all resolve this way.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// Why a hostname could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot resolve `{host}`: {reason}")]
    Lookup { host: String, reason: String },
    #[error("`{host}` has no address")]
    NoAddress { host: String },
    #[error("cannot set up a resolver: {0}")]
    Setup(String),
}

/// A caching resolver; clones share one cache.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl Resolver {
    /// Resolves through `dns_server` when given (UDP, then TCP), else through the system's
    /// resolvers.
    pub fn new(dns_server: Option<SocketAddr>) -> Result<Self, ResolveError> {
        let mut options = ResolverOpts::default();
        // A stuck lookup would stall every new connection: fail fast, let the caller count it.
        options.timeout = Duration::from_secs(1);
        options.attempts = 2;
        // A first, AAAA only when there is no A: asking both each time (hickory's default)
        // re-sends the AAAA query on every lookup when the zone has no AAAA record, because an
        // empty answer without an SOA is not cached.
        options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
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
                TokioResolver::builder_tokio().map_err(|e| ResolveError::Setup(e.to_string()))?
            }
        };
        let inner = builder
            .with_options(options)
            .build()
            .map_err(|e| ResolveError::Setup(e.to_string()))?;
        Ok(Self { inner })
    }

    /// The address `host` resolves to now: from the cache while the answer's TTL lasts.
    pub async fn resolve(&self, host: &str) -> Result<IpAddr, ResolveError> {
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
            .map_err(|e| ResolveError::Lookup {
                host: host.to_owned(),
                reason: e.to_string(),
            })?;
        lookup.iter().next().ok_or_else(|| ResolveError::NoAddress {
            host: host.to_owned(),
        })
    }
}
