//! Resolving upstream hostnames as a remote client would: through DNS, caching each answer
//! for exactly its TTL, so a failover reaches the gateway when the cached answer expires.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// Why a hostname could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot resolve `{host}`: {reason}")]
    Lookup { host: String, reason: String },
    #[error("`{host}` has no address")]
    NoAddress { host: String },
    #[error("cannot set up a resolver: {0}")]
    Setup(String),
}

/// A caching DNS resolver for upstream hostnames.
#[derive(Clone)]
pub struct UpstreamResolver {
    resolver: TokioResolver,
}

impl UpstreamResolver {
    /// Resolves through `dns_server` (the local world's Route 53). On AWS the gateway is
    /// API Gateway itself, so only the local world runs this resolver.
    pub fn new(dns_server: SocketAddr) -> Result<Self, ResolveError> {
        let mut options = ResolverOpts::default();
        // A lost UDP datagram on loopback is rare; a stuck resolver would stall every request.
        options.timeout = Duration::from_secs(1);
        options.attempts = 2;
        let mut ns = NameServerConfig::udp_and_tcp(dns_server.ip());
        for connection in &mut ns.connections {
            connection.port = dns_server.port();
        }
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], vec![ns]),
            TokioRuntimeProvider::default(),
        )
        .with_options(options)
        .build()
        .map_err(|e| ResolveError::Setup(e.to_string()))?;
        Ok(Self { resolver })
    }

    /// The address `host` resolves to now (from the cache while its TTL lasts).
    pub async fn resolve(&self, host: &str) -> Result<IpAddr, ResolveError> {
        // A trailing dot: the name is absolute, no search domain is tried first.
        let fqdn = if host.ends_with('.') {
            host.to_owned()
        } else {
            format!("{host}.")
        };
        let lookup = self
            .resolver
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
