//! Name resolution as a remote client does it: through the local world's Route 53 when given
//! its address, else through the system's configuration (`/etc/resolv.conf`), each answer
//! cached for exactly its TTL (hickory's cache). A failover reaches a client of this resolver
//! when its cached answer expires, not before: the gateway, the load generator and
//! `failover --verify` all resolve this way.
//!
//! [`Resolver::uncached`] asks its servers on every lookup instead: what the zone says now,
//! which `failover --verify` compares with what the caching clients see.

use std::fmt;
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

/// Where a resolver sends its queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// The system's name servers (`/etc/resolv.conf`).
    System,
    /// These servers, asked in turn (UDP, then TCP).
    Servers(Vec<SocketAddr>),
}

impl From<Option<SocketAddr>> for Upstream {
    /// One server when given, else the system's.
    fn from(server: Option<SocketAddr>) -> Self {
        server.map_or(Self::System, |server| Self::Servers(vec![server]))
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => f.write_str("the system's name servers"),
            Self::Servers(servers) => {
                let listed: Vec<String> = servers.iter().map(SocketAddr::to_string).collect();
                f.write_str(&listed.join(", "))
            }
        }
    }
}

/// A resolver; clones share one cache.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
    upstream: Upstream,
}

impl Resolver {
    /// A caching resolver at `dns_server` when given, else at the system's name servers.
    pub fn new(dns_server: Option<SocketAddr>) -> Result<Self, ResolveError> {
        Self::caching(Upstream::from(dns_server))
    }

    /// Keeps each answer for exactly its TTL, as a client's resolver does.
    pub fn caching(upstream: Upstream) -> Result<Self, ResolveError> {
        Self::build(upstream, options())
    }

    /// Asks `upstream` on every lookup: no answer is reused, however long its TTL.
    pub fn uncached(upstream: Upstream) -> Result<Self, ResolveError> {
        let mut options = options();
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        Self::build(upstream, options)
    }

    /// Where this resolver asks.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The first address `host` resolves to now: from the cache while the answer's TTL lasts.
    pub async fn resolve(&self, host: &str) -> Result<IpAddr, ResolveError> {
        let all = self.resolve_all(host).await?;
        all.first().copied().ok_or_else(|| ResolveError::NoAddress {
            host: host.to_owned(),
        })
    }

    /// Every address `host` resolves to now (an IP literal resolves to itself).
    pub async fn resolve_all(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        // A trailing dot makes the name absolute: no search domain is tried first.
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let lookup = self
            .inner
            .lookup_ip(fqdn)
            .await
            .map_err(|e| ResolveError::Lookup {
                host: host.to_owned(),
                reason: e.to_string(),
            })?;
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err(ResolveError::NoAddress {
                host: host.to_owned(),
            });
        }
        Ok(ips)
    }

    fn build(upstream: Upstream, options: ResolverOpts) -> Result<Self, ResolveError> {
        let builder = match &upstream {
            Upstream::Servers(servers) => TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers.iter().map(name_server).collect()),
                TokioRuntimeProvider::default(),
            ),
            Upstream::System => {
                TokioResolver::builder_tokio().map_err(|e| ResolveError::Setup(e.to_string()))?
            }
        };
        let inner = builder
            .with_options(options)
            .build()
            .map_err(|e| ResolveError::Setup(e.to_string()))?;
        Ok(Self { inner, upstream })
    }
}

fn options() -> ResolverOpts {
    let mut options = ResolverOpts::default();
    // A stuck lookup would stall every new connection: fail fast, let the caller count it.
    options.timeout = Duration::from_secs(1);
    options.attempts = 2;
    // A first, AAAA only when there is no A: asking both each time (hickory's default)
    // re-sends the AAAA query on every lookup when the zone has no AAAA record, because an
    // empty answer without an SOA is not cached.
    options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    options
}

/// `server` over UDP, then TCP, on its own port.
fn name_server(server: &SocketAddr) -> NameServerConfig {
    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
    for connection in &mut ns.connections {
        connection.port = server.port();
    }
    ns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_say_where_they_ask() {
        assert_eq!(Upstream::from(None), Upstream::System);
        let one: SocketAddr = "127.0.0.1:8053".parse().unwrap();
        let two: SocketAddr = "[::1]:53".parse().unwrap();
        assert_eq!(Upstream::from(Some(one)), Upstream::Servers(vec![one]));
        assert_eq!(
            Upstream::Servers(vec![one, two]).to_string(),
            "127.0.0.1:8053, [::1]:53"
        );
        assert_eq!(Upstream::System.to_string(), "the system's name servers");
    }

    #[tokio::test]
    async fn an_ip_literal_resolves_to_itself_without_a_query() {
        // Port 9 (discard): a query there would time out, not answer.
        let resolver =
            Resolver::caching(Upstream::Servers(vec!["127.0.0.1:9".parse().unwrap()])).unwrap();
        assert_eq!(
            resolver.resolve_all("127.0.1.1").await.unwrap(),
            ["127.0.1.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolver.resolve("[::1]").await.unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        );
    }
}
