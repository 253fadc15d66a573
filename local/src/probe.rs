//! The drill's route probe: one read per service route, on each service's own subdomain and
//! through every gateway route, sent as a remote client sends it (the hostname resolved
//! through the local Route 53 with TTL caching, a new connection per request).
//!
//! Each request is `GET <prefix>/<new id>`: the service looks the id up in its table and
//! answers 404 for an id it does not hold. That answer proves the request reached the right
//! service's code and store; a stopped instance, a table that is down (503), an upstream that
//! fails (502/504) or a gateway route that leads elsewhere (the other service's "no route"
//! 404) is a failure. Unlike `GET /`, which every app answers itself, this cannot succeed
//! by construction.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::UpstreamResolver;
use serde::Serialize;
use tokio::task::JoinHandle;
use topology::manifest::TrustedClient;
use topology::{AppName, Topology};

/// How long one probe request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How a probe request reaches its service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Via {
    /// The service's own subdomain, e.g. `orders.example.test`.
    Direct,
    /// A gateway's route, e.g. `api.example.test/orders`.
    Gateway(AppName),
}

/// One route the probe reads: `host` + `prefix`, meant for `service`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProbeRoute {
    /// The service whose route this is, by the topology.
    pub service: AppName,
    pub via: Via,
    /// The path prefix, e.g. `/orders`.
    pub prefix: String,
    /// The hostname the request goes to.
    pub host: String,
}

impl fmt::Display for ProbeRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.via {
            Via::Direct => write!(f, "{} {}", self.service, self.prefix),
            Via::Gateway(gateway) => write!(f, "{gateway} {} -> {}", self.prefix, self.service),
        }
    }
}

/// What one route's requests did so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteCounts {
    /// Requests sent.
    pub sent: u64,
    /// Answered by the service's own lookup (404 for the new id).
    pub answered: u64,
    /// Refused, timed out, or answered by something else (5xx, a route miss).
    pub failed: u64,
    /// Sent and not yet answered.
    pub in_flight: u64,
    /// The latest failure, for people.
    pub last_failure: Option<String>,
}

impl RouteCounts {
    /// The counts between an earlier snapshot and this one (`in_flight` is this one's).
    pub fn since(&self, earlier: &RouteCounts) -> RouteCounts {
        RouteCounts {
            sent: self.sent.saturating_sub(earlier.sent),
            answered: self.answered.saturating_sub(earlier.answered),
            failed: self.failed.saturating_sub(earlier.failed),
            in_flight: self.in_flight,
            last_failure: if self.failed > earlier.failed {
                self.last_failure.clone()
            } else {
                None
            },
        }
    }
}

/// Every route's counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProbeSnapshot {
    pub routes: BTreeMap<ProbeRoute, RouteCounts>,
}

impl ProbeSnapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &ProbeSnapshot) -> ProbeSnapshot {
        let routes = self
            .routes
            .iter()
            .map(|(route, now)| {
                let before = earlier.routes.get(route).cloned().unwrap_or_default();
                (route.clone(), now.since(&before))
            })
            .collect();
        ProbeSnapshot { routes }
    }
}

/// The routes of `topology` the probe reads: per service its own subdomain at `/<name>`,
/// and every gateway route.
pub fn routes(topology: &Topology) -> Vec<ProbeRoute> {
    let domain = &topology.local.domain;
    let mut routes: Vec<ProbeRoute> = topology
        .services()
        .map(|s| ProbeRoute {
            service: s.name().clone(),
            via: Via::Direct,
            prefix: format!("/{}", s.name()),
            host: format!("{}.{domain}", s.name()),
        })
        .collect();
    for gateway in topology.gateways() {
        for (prefix, service) in gateway.routes() {
            routes.push(ProbeRoute {
                service: service.clone(),
                via: Via::Gateway(gateway.name().clone()),
                prefix: prefix.clone(),
                host: format!("{}.{domain}", gateway.name()),
            });
        }
    }
    routes
}

/// The running probe.
pub struct RouteProbe {
    counts: Arc<Mutex<ProbeSnapshot>>,
    task: JoinHandle<()>,
}

impl RouteProbe {
    /// Reads every route of `topology` every `period`, resolving through `dns_server`. Direct
    /// reads go over TLS presenting `trusted` (the manifest's certificate, when services admit
    /// only certified callers), as a trusted internal client would; reads through a gateway
    /// carry `token` (a bearer token with the routes' read scopes, when `[auth]` is on), as a
    /// client would.
    pub fn start(
        topology: &Topology,
        dns_server: SocketAddr,
        period: Duration,
        trusted: Option<&TrustedClient>,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        let resolver = Arc::new(Resolver(UpstreamResolver::new(Some(dns_server))?));
        // No idle connection is kept: every request resolves (from the cache while the TTL
        // lasts) and connects anew, so the probe follows DNS exactly as fast as its TTL.
        let builder = match trusted {
            Some(trusted) => crate::pki::trusted_http_client(trusted)?,
            None => reqwest::Client::builder(),
        };
        let client = builder
            .dns_resolver(resolver)
            .pool_max_idle_per_host(0)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let routes = routes(topology);
        let counts = Arc::new(Mutex::new(ProbeSnapshot {
            routes: routes
                .iter()
                .map(|r| (r.clone(), RouteCounts::default()))
                .collect(),
        }));
        let reader = Reader {
            client,
            port: topology.local.app_port,
            direct_scheme: if trusted.is_some() { "https" } else { "http" },
            token: token.map(Arc::from),
        };
        let task = tokio::spawn(send_forever(reader, routes, period, counts.clone()));
        Ok(Self { counts, task })
    }

    /// The counts now.
    pub fn snapshot(&self) -> ProbeSnapshot {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops sending, waits up to the request timeout for what is in flight, and returns the
    /// final counts (anything still in flight stays counted as such).
    pub async fn stop(self) -> ProbeSnapshot {
        self.task.abort();
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT + Duration::from_millis(200);
        while tokio::time::Instant::now() < deadline
            && self.snapshot().routes.values().any(|c| c.in_flight > 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.snapshot()
    }
}

impl Drop for RouteProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every read needs.
#[derive(Clone)]
struct Reader {
    client: reqwest::Client,
    port: u16,
    /// Of direct reads: `https` with the trusted client certificate; the gateway presents
    /// its own on the others.
    direct_scheme: &'static str,
    /// Sent on reads through a gateway.
    token: Option<Arc<str>>,
}

async fn send_forever(
    reader: Reader,
    routes: Vec<ProbeRoute>,
    period: Duration,
    counts: Arc<Mutex<ProbeSnapshot>>,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for route in &routes {
            update(&counts, route, |c| {
                c.sent += 1;
                c.in_flight += 1;
            });
            let (reader, route, counts) = (reader.clone(), route.clone(), counts.clone());
            tokio::spawn(async move {
                let outcome = read_once(&reader, &route).await;
                update(&counts, &route, |c| {
                    c.in_flight -= 1;
                    match outcome {
                        Ok(()) => c.answered += 1,
                        Err(why) => {
                            c.failed += 1;
                            c.last_failure = Some(why);
                        }
                    }
                });
            });
        }
    }
}

fn update(
    counts: &Mutex<ProbeSnapshot>,
    route: &ProbeRoute,
    change: impl FnOnce(&mut RouteCounts),
) {
    let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = counts.routes.get_mut(route) {
        change(c);
    }
}

/// One read of a new id; `Ok` when the service itself answered that it holds no such item.
async fn read_once(reader: &Reader, route: &ProbeRoute) -> Result<(), String> {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let path = format!("{}/{id}", route.prefix);
    let scheme = match route.via {
        Via::Direct => reader.direct_scheme,
        Via::Gateway(_) => "http",
    };
    let url = format!("{scheme}://{}:{}{path}", route.host, reader.port);
    let mut request = reader.client.get(&url);
    if let (Via::Gateway(_), Some(token)) = (&route.via, &reader.token) {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timeout"
        } else {
            "no answer"
        };
        format!("{kind}: {e}")
    })?;
    let status = response.status();
    let problem: serde_json::Value = response.json().await.unwrap_or_default();
    let detail = problem["detail"].as_str().unwrap_or_default();
    // The kit answers a path its router does not know this way: the request reached an app,
    // but not one with this route (a gateway route leading to the wrong service).
    let route_miss = detail == format!("no route for GET {path}");
    if status == reqwest::StatusCode::NOT_FOUND && !route_miss {
        Ok(())
    } else {
        Err(format!("{status}: {detail}"))
    }
}

/// The project's TTL-caching resolver, as reqwest's resolver.
struct Resolver(UpstreamResolver);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ip = resolver.resolve(&host).await?;
            let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
