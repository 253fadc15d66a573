//! After a shift: has traffic really moved? Four stages, each timed from the call, each
//! started once the one before it passed (so each stage's time is at most the next's):
//!
//! 1. **quorum**: the new states read back from at least [`QUORUM`] cluster endpoints, each
//!    asked on its own (what ARC has committed, not what one endpoint says);
//! 2. **authoritative**: the app's hostname, asked of the zone's own servers (the manifest's
//!    `dns_server` locally, its `name_servers` on AWS), answers with the target Region's address;
//! 3. **recursive**: a caching resolver, warmed before the shift, answers so too (what clients
//!    see: it waits out the TTL of the old answer). The system resolver on AWS, locally the
//!    same local server through a caching resolver; `--resolver` names another one;
//! 4. **http**: `GET /` to the address that resolver gave answers with the target Region's
//!    `x-region` (else the body's `region`).
//!
//! A stage that does not pass before the time is up fails, naming what it saw last (a wrong
//! answer, or a resolver that did not answer); the later stages are not reached.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use serde::Serialize;
use tokio::time::Instant;
use topology::manifest::{AppEntry, Manifest};
use topology::{AppName, Region};

use crate::client::Client;

/// How many cluster endpoints must read back the new states (ARC's quorum of its five).
pub const QUORUM: usize = 3;

/// The header that names the Region that answered.
const X_REGION: &str = "x-region";

/// How long and how often to look.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Give up after this long, counted from the call.
    pub timeout: Duration,
    /// Pause between two looks.
    pub interval: Duration,
    /// Timeout of one DNS query, ARC read or HTTP request.
    pub request_timeout: Duration,
    /// The recursive resolver of stage 3, instead of the default (the system resolver on
    /// AWS, the manifest's DNS server through a cache locally).
    pub resolver: Option<SocketAddr>,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            interval: Duration::from_millis(250),
            request_timeout: Duration::from_secs(2),
            resolver: None,
        }
    }
}

/// The four stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    Quorum,
    Authoritative,
    Recursive,
    Http,
}

impl StageName {
    /// The stage's number (1 to 4) and its label, as the table shows them.
    pub fn label(self) -> &'static str {
        match self {
            Self::Quorum => "1 quorum",
            Self::Authoritative => "2 authoritative DNS",
            Self::Recursive => "3 recursive DNS",
            Self::Http => "4 GET /",
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Nothing to ask (e.g. no authoritative server in the manifest, or the URL names an address).
    Skipped,
}

/// One stage's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub stage: StageName,
    pub outcome: Outcome,
    /// From the call to the look that passed (or to giving up), in milliseconds.
    pub elapsed_ms: Option<u64>,
    /// What the stage saw: the passing answer, or the last wrong one.
    pub detail: String,
}

/// Where traffic for one app stood at each stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub app: AppName,
    pub region: Region,
    /// Every stage reached, in order.
    pub stages: Vec<Stage>,
    /// From the call to the last stage's end, in milliseconds.
    pub elapsed_ms: u64,
    /// Looks made, over all stages.
    pub polls: u32,
}

impl Verified {
    /// Whether every stage reached passed or was skipped (and all four were reached).
    pub fn passed(&self) -> bool {
        self.stages.len() == 4 && self.stages.iter().all(|s| s.outcome != Outcome::Failed)
    }
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "verification failed at stage {} for {app}: after {:.1} s, {last} (the routing controls are changed)",
        stage.label(),
        waited.as_secs_f64()
    )]
    Stage {
        app: AppName,
        region: Region,
        stage: StageName,
        waited: Duration,
        /// What the last look saw.
        last: String,
        /// The stages reached, the failed one last.
        report: Box<Verified>,
    },
    #[error("cannot verify {app}: {message}")]
    Setup { app: AppName, message: String },
}

impl VerifyError {
    /// Whether a stage failed (exit code 5) rather than the set-up.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Stage { .. })
    }

    /// The stages reached, when a stage failed.
    pub fn report(&self) -> Option<&Verified> {
        match self {
            Self::Stage { report, .. } => Some(report),
            Self::Setup { .. } => None,
        }
    }
}

/// Set up before the shift: the app's names and a recursive resolver that has already cached
/// the answer clients hold now.
pub struct Prepared {
    app: AppName,
    host: String,
    url: reqwest::Url,
    port: u16,
    recursive: Resolver,
}

/// Prepares verification of `app` (call it before the shift, so the cache holds the old answer).
pub async fn prepare(
    manifest: &Manifest,
    app: &AppName,
    config: &VerifyConfig,
) -> Result<Prepared, VerifyError> {
    let setup = |message: String| VerifyError::Setup {
        app: app.clone(),
        message,
    };
    let entry = manifest
        .app(app)
        .ok_or_else(|| setup(format!("`{app}` is not in the manifest")))?;
    let url = reqwest::Url::parse(&entry.url)
        .map_err(|e| setup(format!("bad URL {}: {e}", entry.url)))?;
    let host = url
        .host_str()
        .ok_or_else(|| setup(format!("URL {} has no host", entry.url)))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let recursive = match (config.resolver, manifest.dns_server) {
        (Some(server), _) | (None, Some(server)) => Resolver::caching(server).map_err(setup)?,
        (None, None) => Resolver::System,
    };
    // Warm the cache; an error here is no reason to stop (stage 3 reports what it sees).
    let _ = tokio::time::timeout(config.request_timeout, recursive.resolve(&host, port)).await;
    Ok(Prepared {
        app: app.clone(),
        host,
        url,
        port,
        recursive,
    })
}

/// Verifies `app` after a shift to `region` made at `since`: all four stages.
pub async fn verify_shift(
    client: &Client,
    prepared: &Prepared,
    region: &Region,
    since: Instant,
    config: &VerifyConfig,
) -> Result<Verified, VerifyError> {
    let mut run = Run::new(prepared, region, since, config);
    run.quorum(client).await?;
    run.traffic(client.manifest()).await
}

/// Verifies traffic for `app` (stages 2 to 4; stage 1 is skipped: no cluster is asked),
/// timed from now.
pub async fn verify(
    manifest: &Manifest,
    app: &AppName,
    region: &Region,
    config: &VerifyConfig,
) -> Result<Verified, VerifyError> {
    let since = Instant::now();
    let prepared = prepare(manifest, app, config).await?;
    let mut run = Run::new(&prepared, region, since, config);
    run.skip(StageName::Quorum, "no cluster asked".into());
    run.traffic(manifest).await
}

/// Verifies several apps at once after one shift; one result per app, in order.
pub async fn verify_all(
    client: &Client,
    prepared: &[Prepared],
    region: &Region,
    since: Instant,
    config: &VerifyConfig,
) -> Vec<Result<Verified, VerifyError>> {
    futures::future::join_all(
        prepared
            .iter()
            .map(|p| verify_shift(client, p, region, since, config)),
    )
    .await
}

/// One app's verification in progress.
struct Run<'a> {
    prepared: &'a Prepared,
    region: &'a Region,
    since: Instant,
    config: &'a VerifyConfig,
    stages: Vec<Stage>,
    polls: u32,
}

impl<'a> Run<'a> {
    fn new(
        prepared: &'a Prepared,
        region: &'a Region,
        since: Instant,
        config: &'a VerifyConfig,
    ) -> Self {
        Self {
            prepared,
            region,
            since,
            config,
            stages: Vec::new(),
            polls: 0,
        }
    }

    fn app(&self) -> &AppName {
        &self.prepared.app
    }

    fn setup(&self, message: String) -> VerifyError {
        VerifyError::Setup {
            app: self.app().clone(),
            message,
        }
    }

    fn skip(&mut self, stage: StageName, detail: String) {
        self.stages.push(Stage {
            stage,
            outcome: Outcome::Skipped,
            elapsed_ms: None,
            detail,
        });
    }

    fn report(&self) -> Verified {
        Verified {
            app: self.app().clone(),
            region: self.region.clone(),
            stages: self.stages.clone(),
            elapsed_ms: millis(self.since.elapsed()),
            polls: self.polls,
        }
    }

    /// Looks until `look` passes (`Ok(detail)`) or the time is up; `Err` is what it saw.
    /// `asked` names who a look asks, for a look that gets no answer.
    async fn stage<F, Fut>(
        &mut self,
        stage: StageName,
        asked: &str,
        look: F,
    ) -> Result<(), VerifyError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<String, String>>,
    {
        let deadline = self.since + self.config.timeout;
        // What the last look that finished said: a look the deadline cuts short says less.
        let mut said: Option<String> = None;
        loop {
            self.polls += 1;
            // No look outlasts the deadline by much: a hung server fails the stage on time.
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = self
                .config
                .request_timeout
                .min(left)
                .max(Duration::from_millis(50));
            let (seen, cut_short) = match tokio::time::timeout(limit, look()).await {
                Ok(seen) => (seen, false),
                Err(_) => (
                    Err(format!(
                        "{asked} gave no answer within {:.1} s",
                        limit.as_secs_f64()
                    )),
                    limit < self.config.request_timeout,
                ),
            };
            let elapsed_ms = Some(millis(self.since.elapsed()));
            match seen {
                Ok(detail) => {
                    self.stages.push(Stage {
                        stage,
                        outcome: Outcome::Passed,
                        elapsed_ms,
                        detail,
                    });
                    return Ok(());
                }
                Err(last) if Instant::now() + self.config.interval >= deadline => {
                    let last = match said {
                        Some(said) if cut_short => said,
                        _ => last,
                    };
                    self.stages.push(Stage {
                        stage,
                        outcome: Outcome::Failed,
                        elapsed_ms,
                        detail: last.clone(),
                    });
                    return Err(VerifyError::Stage {
                        app: self.app().clone(),
                        region: self.region.clone(),
                        stage,
                        waited: self.since.elapsed(),
                        last,
                        report: Box::new(self.report()),
                    });
                }
                Err(last) => {
                    if !cut_short {
                        said = Some(last);
                    }
                    tokio::time::sleep(self.config.interval).await;
                }
            }
        }
    }

    /// Stage 1: a quorum of endpoints, each asked alone, reads the target ON and the other OFF.
    async fn quorum(&mut self, client: &Client) -> Result<(), VerifyError> {
        let manifest = client.manifest();
        let entry = app_entry(manifest, self.app()).map_err(|m| self.setup(m))?;
        let other = manifest
            .regions
            .other(self.region)
            .ok_or_else(|| self.setup(format!("`{}` is not a Region here", self.region)))?;
        let (on, off) = match (
            entry.routing_control(self.region),
            entry.routing_control(other),
        ) {
            (Some(on), Some(off)) => (on, off),
            _ => return Err(self.setup("the manifest lacks a routing control".into())),
        };
        let endpoints = manifest
            .cluster()
            .map(|c| c.endpoints.as_slice())
            .unwrap_or_default();
        let need = QUORUM.min(endpoints.len());
        let (region, other) = (self.region.clone(), other.clone());
        let pair = [on, off];
        let pair = &pair;
        self.stage(StageName::Quorum, "the cluster endpoints", || async {
            let reads =
                futures::future::join_all((0..endpoints.len()).map(|i| client.states_at(i, pair)))
                    .await;
            let agree = reads
                .iter()
                .filter(|r| r.as_deref() == Ok(&[true, false]))
                .count();
            let text = format!(
                "{agree} of {} endpoints read {region} ON, {other} OFF (need {need})",
                endpoints.len()
            );
            if agree >= need {
                Ok(text)
            } else {
                let why: Vec<String> = reads
                    .iter()
                    .zip(endpoints)
                    .filter_map(|(r, e)| match r {
                        Ok(states) if states.as_slice() == [true, false] => None,
                        Ok(states) => Some(format!("{}: reads {states:?}", e.region)),
                        Err(reason) => Some(format!("{}: {reason}", e.region)),
                    })
                    .collect();
                Err(format!("{text}; {}", why.join("; ")))
            }
        })
        .await
    }

    /// Stages 2 to 4.
    async fn traffic(mut self, manifest: &Manifest) -> Result<Verified, VerifyError> {
        let entry = app_entry(manifest, self.app()).map_err(|m| self.setup(m))?;
        let prepared = self.prepared;
        let (host, port) = (prepared.host.as_str(), prepared.port);
        if host.parse::<IpAddr>().is_ok() {
            let note = format!("the URL names the address {host}: nothing to resolve");
            self.skip(StageName::Authoritative, note.clone());
            self.skip(StageName::Recursive, note);
        } else {
            let expected = Expected::new(manifest, entry, self.region);
            let region = self.region.clone();
            match Resolver::authoritative(manifest, self.config.request_timeout).await {
                Ok(Some(authoritative)) => {
                    let asked = authoritative.describe();
                    self.stage(StageName::Authoritative, &asked, || async {
                        let ips = authoritative.resolve(host, port).await?;
                        expected.judge(&ips, &region, &authoritative.describe()).await
                    })
                    .await?
                }
                Ok(None) => self.skip(
                    StageName::Authoritative,
                    "the manifest names no authoritative server (name_servers); redeploy to record them".into(),
                ),
                Err(message) => return Err(self.setup(message)),
            }
            let recursive = &prepared.recursive;
            let asked = recursive.describe();
            self.stage(StageName::Recursive, &asked, || async {
                let ips = recursive.resolve(host, port).await?;
                expected.judge(&ips, &region, &recursive.describe()).await
            })
            .await?;
        }
        let region = self.region.clone();
        let asked = format!("GET {}", prepared.url);
        self.stage(StageName::Http, &asked, || async {
            let ips = prepared.recursive.resolve(host, port).await?;
            let ip = *ips.first().ok_or("no address")?;
            let seen = get_region(&prepared.url, host, SocketAddr::new(ip, port)).await?;
            let text = format!("{X_REGION}: {seen} from {ip}:{port}");
            if seen == region { Ok(text) } else { Err(text) }
        })
        .await?;
        Ok(self.report())
    }
}

fn app_entry<'m>(manifest: &'m Manifest, app: &AppName) -> Result<&'m AppEntry, String> {
    manifest
        .app(app)
        .ok_or_else(|| format!("`{app}` is not in the manifest"))
}

/// The addresses each Region's instance of an app answers on, to judge a DNS answer.
struct Expected {
    /// (Region, the name or address that stands for it: DNS target, else the Regional URL's host)
    regions: Vec<(Region, Option<String>)>,
    /// How to resolve those names: the local server, else the system resolver.
    resolver: Resolver,
}

impl Expected {
    fn new(manifest: &Manifest, entry: &AppEntry, target: &Region) -> Self {
        let name = |region: &Region| {
            entry.dns_target(region).map(str::to_owned).or_else(|| {
                let url = reqwest::Url::parse(entry.regional_url(region)?).ok()?;
                Some(url.host_str()?.trim_matches(['[', ']']).to_owned())
            })
        };
        let mut regions = vec![(target.clone(), name(target))];
        if let Some(other) = manifest.regions.other(target) {
            regions.push((other.clone(), name(other)));
        }
        let resolver = manifest
            .dns_server
            .map_or(Resolver::System, |s| Resolver::Fresh(vec![s]));
        Self { regions, resolver }
    }

    /// The addresses of `region`'s instance now (empty when unknown).
    async fn of(&self, region: &Region) -> BTreeSet<IpAddr> {
        let Some((_, Some(name))) = self.regions.iter().find(|(r, _)| r == region) else {
            return BTreeSet::new();
        };
        if let Ok(ip) = name.parse::<IpAddr>() {
            return BTreeSet::from([ip]);
        }
        self.resolver
            .resolve(name, 443)
            .await
            .map(BTreeSet::from_iter)
            .unwrap_or_default()
    }

    /// `Ok` when `ips` include the target's address; else says whose addresses they are.
    async fn judge(&self, ips: &[IpAddr], target: &Region, from: &str) -> Result<String, String> {
        let shown = ips
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let wanted = self.of(target).await;
        if wanted.is_empty() {
            return Ok(format!(
                "{shown} from {from} (not checked: no Regional address for {target} in the manifest)"
            ));
        }
        if ips.iter().any(|ip| wanted.contains(ip)) {
            return Ok(format!("{shown} ({target}) from {from}"));
        }
        for (region, _) in &self.regions {
            let theirs = self.of(region).await;
            if region != target && ips.iter().any(|ip| theirs.contains(ip)) {
                return Err(format!("{from} still answers {shown} ({region})"));
            }
        }
        Err(format!(
            "{from} answers {shown}, not {target}'s address ({})",
            wanted
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// How one stage resolves a name.
enum Resolver {
    /// A new resolver per look, at these servers: no cache (the authoritative answer).
    Fresh(Vec<SocketAddr>),
    /// One resolver kept across looks: its cache honours the TTL, as a client's resolver does.
    Caching(SocketAddr, Box<TokioResolver>),
    /// The operating system's resolver (getaddrinfo), with whatever caches it has.
    System,
}

impl Resolver {
    fn caching(server: SocketAddr) -> Result<Self, String> {
        Ok(Self::Caching(server, Box::new(hickory(&[server])?)))
    }

    /// The zone's own servers: the local DNS server, else the hosted zone's name servers (their
    /// addresses looked up now). `None` when the manifest names neither.
    async fn authoritative(manifest: &Manifest, timeout: Duration) -> Result<Option<Self>, String> {
        if let Some(server) = manifest.dns_server {
            return Ok(Some(Self::Fresh(vec![server])));
        }
        let mut servers = Vec::new();
        for ns in &manifest.name_servers {
            let found = tokio::time::timeout(timeout, tokio::net::lookup_host((ns.as_str(), 53)))
                .await
                .map_err(|_| format!("looking up name server {ns} timed out"))?
                .map_err(|e| format!("cannot look up name server {ns}: {e}"))?;
            servers.extend(found);
        }
        Ok((!servers.is_empty()).then_some(Self::Fresh(servers)))
    }

    fn describe(&self) -> String {
        match self {
            Self::Fresh(servers) => servers
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            Self::Caching(server, _) => format!("a caching resolver at {server}"),
            Self::System => "the system resolver".into(),
        }
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let ips: Vec<IpAddr> = match self {
            Self::Fresh(servers) => hickory(servers)?
                .lookup_ip(fqdn.as_str())
                .await
                .map_err(|e| format!("{} answers no address for {host}: {e}", self.describe()))?
                .iter()
                .collect(),
            Self::Caching(_, resolver) => resolver
                .lookup_ip(fqdn.as_str())
                .await
                .map_err(|e| format!("{} answers no address for {host}: {e}", self.describe()))?
                .iter()
                .collect(),
            Self::System => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| format!("the system resolver cannot resolve {host}: {e}"))?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(format!("{} answers no address for {host}", self.describe()));
        }
        Ok(ips)
    }
}

/// A hickory resolver at `servers` (UDP, then TCP), without hosts file or search domains.
fn hickory(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    let name_servers = servers
        .iter()
        .map(|server| {
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut ns.connections {
                connection.port = server.port();
            }
            ns
        })
        .collect();
    let mut opts = ResolverOpts::default();
    // One try each: the stage's loop retries, and a hung server must not hide behind retries.
    opts.attempts = 1;
    TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], name_servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| format!("resolver: {e}"))
}

/// `GET url` at `addr`, and the Region that answered.
async fn get_region(url: &reqwest::Url, host: &str, addr: SocketAddr) -> Result<Region, String> {
    // Connect to the address the resolver returned: no other cache may hide the move.
    let client = reqwest::Client::builder()
        .resolve(host, addr)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("GET {url} via {addr}: {e}"))?;
    let header = response
        .headers()
        .get(X_REGION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let region = match header {
        Some(r) => r,
        None => {
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("GET {url}: no {X_REGION} header and no JSON body: {e}"))?;
            body.get("region")
                .and_then(|r| r.as_str())
                .ok_or_else(|| {
                    format!("GET {url}: no {X_REGION} header and no `region` in the body")
                })?
                .to_owned()
        }
    };
    region.parse().map_err(|e| format!("GET {url}: {e}"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
