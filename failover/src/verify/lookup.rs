//! How the DNS stages resolve a name: through the workspace's one resolver (the `resolver`
//! crate), caching for the recursive stage (what clients see) and uncached for the zone's
//! own servers (what the zone says now), each lookup naming who was asked.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use resolver::{ResolveError, Resolver, Upstream};
use topology::manifest::Manifest;

/// A resolver and the words that name it in what a stage reports.
pub(super) struct Lookup {
    resolver: Resolver,
    described: String,
}

impl Lookup {
    /// Stage 3's resolver: a caching one at `--resolver`, else at the manifest's DNS server
    /// (locally), else at the system's name servers (on AWS).
    pub(super) fn recursive(flag: Option<SocketAddr>, manifest: &Manifest) -> Result<Self, String> {
        let upstream = Upstream::from(flag.or(manifest.dns_server));
        let described = format!("a caching resolver at {upstream}");
        let resolver = Resolver::caching(upstream).map_err(|e| e.to_string())?;
        Ok(Self {
            resolver,
            described,
        })
    }

    /// Stage 2's resolver, uncached: the local DNS server, else the hosted zone's name
    /// servers (their addresses looked up now). `None` when the manifest names neither.
    pub(super) async fn authoritative(
        manifest: &Manifest,
        timeout: Duration,
    ) -> Result<Option<Self>, String> {
        if let Some(server) = manifest.dns_server {
            return Self::uncached(Upstream::Servers(vec![server])).map(Some);
        }
        let system = Resolver::caching(Upstream::System).map_err(|e| e.to_string())?;
        let mut servers = Vec::new();
        for ns in &manifest.name_servers {
            let found = tokio::time::timeout(timeout, system.resolve_all(ns))
                .await
                .map_err(|_| format!("looking up name server {ns} timed out"))?
                .map_err(|e| format!("cannot look up name server {ns}: {e}"))?;
            servers.extend(found.into_iter().map(|ip| SocketAddr::new(ip, 53)));
        }
        if servers.is_empty() {
            return Ok(None);
        }
        Self::uncached(Upstream::Servers(servers)).map(Some)
    }

    /// What the manifest's DNS server (else the system's name servers) answers now, to tell
    /// which Region an address belongs to.
    pub(super) fn regional(manifest: &Manifest) -> Result<Self, String> {
        Self::uncached(Upstream::from(manifest.dns_server))
    }

    fn uncached(upstream: Upstream) -> Result<Self, String> {
        let described = upstream.to_string();
        let resolver = Resolver::uncached(upstream).map_err(|e| e.to_string())?;
        Ok(Self {
            resolver,
            described,
        })
    }

    /// Who this lookup asks, as a stage reports it.
    pub(super) fn describe(&self) -> &str {
        &self.described
    }

    /// Every address `host` resolves to, or what went wrong, naming who was asked.
    pub(super) async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        self.resolver.resolve_all(host).await.map_err(|e| match e {
            ResolveError::Lookup { reason, .. } => {
                format!("{} answers no address for {host}: {reason}", self.described)
            }
            ResolveError::NoAddress { .. } => {
                format!("{} answers no address for {host}", self.described)
            }
            ResolveError::Setup(reason) => format!("{}: {reason}", self.described),
        })
    }
}
