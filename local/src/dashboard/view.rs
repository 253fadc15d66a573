//! What the page shows: one [`View`] of the whole world per sample, flat and ready to draw.

use std::net::{Ipv4Addr, SocketAddr};

use local_arc::Fault;
use serde::Serialize;
use topology::{App, AppName, Region, RoutingControlArn};

use super::event::TimelineEvent;
use super::probe::{AppTraffic, BIN, BINS_KEPT, PROBE_RATE_PER_APP};
use crate::faults::CloudWatchFault;
use crate::instance::InstanceStatus;
use crate::monitoring::{AlarmStatus, CloudWatchState, FlagState};
use crate::replication::ReplicationStatus;
use crate::world::{AppState, World, WorldState};

/// The world as the page draws it.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub domain: String,
    /// The failover mechanism: `arc` or `health-check`.
    pub mechanism: String,
    pub dns_server: SocketAddr,
    /// Primary first.
    pub regions: [Region; 2],
    pub ttl_seconds: u32,
    pub health_check_interval_ms: u64,
    /// How long a flag's alarm period lasts here (`health-check` mechanism).
    pub alarm_period_ms: u64,
    /// The longest a move of traffic may take: TTL + health-check interval + 1 s, plus an
    /// alarm period with the `health-check` mechanism.
    pub bound_ms: u64,
    pub apps: Vec<AppView>,
    /// The ARC cluster (`arc` mechanism).
    pub arc: Option<ArcView>,
    /// The local CloudWatch: its endpoints and every app's alarms.
    pub cloudwatch: CloudWatchView,
    pub replication: ReplicationStatus,
    pub probe: ProbeView,
    /// Newest first.
    pub events: Vec<TimelineEvent>,
    /// The plan run in progress, or the last one.
    pub plan: Option<super::plans::RunView>,
}

/// What an app is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    Gateway,
    Service,
}

/// One app: where DNS sends clients, where the probe's traffic is served, and each Region.
#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub app: AppName,
    pub hostname: String,
    pub kind: AppKind,
    /// The Region the failover record answers with now.
    pub dns_answer: Option<Region>,
    pub dns_address: Option<Ipv4Addr>,
    /// Primary first.
    pub regions: Vec<RegionView>,
    /// The Region serving every response of the probe's last live window; `None` while the
    /// probe is off, or its traffic is mixed or failing.
    pub serving: Option<Region>,
    /// The probe's traffic to this app, while the probe runs.
    pub traffic: Option<AppTraffic>,
}

/// One app in one Region.
#[derive(Debug, Clone, Serialize)]
pub struct RegionView {
    pub region: Region,
    pub address: SocketAddr,
    /// The Region's routing control (`arc` mechanism).
    pub routing_control: Option<RoutingControlArn>,
    /// `true` = ON; `None` when the cluster does not know the control (or there is none).
    pub routing_control_on: Option<bool>,
    /// The flag that takes this Region out, its alarm and health check (`health-check`
    /// mechanism).
    pub flag: Option<FlagState>,
    /// The health check of this Region's record, as Route 53 last evaluated it.
    pub healthy: Option<bool>,
    pub instance: InstanceStatus,
    /// `None` for the gateway, which has no store.
    pub store_available: Option<bool>,
}

/// The ARC cluster: its endpoints and its quorum.
#[derive(Debug, Clone, Serialize)]
pub struct ArcView {
    pub endpoints: Vec<EndpointView>,
    pub quorum: Quorum,
}

/// One cluster endpoint and the fault injected into it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    pub index: usize,
    pub region: Region,
    pub url: String,
    /// `none`, `down`, `hang`, `slow (500 ms)`, `error (500)`, `throttle (429)`.
    pub fault: String,
    /// Whether it counts for the quorum (everything but `down`).
    pub up: bool,
}

/// The local CloudWatch: where each Region's endpoint is and its fault, and every app's alarms.
#[derive(Debug, Clone, Serialize)]
pub struct CloudWatchView {
    pub endpoints: Vec<CloudWatchEndpointView>,
    pub alarms: Vec<AlarmStatus>,
    /// How many alarms are in ALARM.
    pub firing: usize,
}

/// One Region's CloudWatch endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CloudWatchEndpointView {
    pub region: Region,
    pub url: String,
    /// `none`, `down` or `hang`.
    pub fault: String,
}

impl CloudWatchView {
    fn new(state: CloudWatchState) -> Self {
        let endpoints = state
            .endpoints
            .into_iter()
            .map(|e| CloudWatchEndpointView {
                region: e.region,
                url: e.url,
                fault: cloudwatch_fault_label(e.fault).to_owned(),
            })
            .collect();
        let firing = state
            .alarms
            .iter()
            .filter(|a| a.state.as_deref() == Some("ALARM"))
            .count();
        Self {
            endpoints,
            alarms: state.alarms,
            firing,
        }
    }
}

/// A CloudWatch endpoint's fault in words.
pub fn cloudwatch_fault_label(fault: CloudWatchFault) -> &'static str {
    match fault {
        CloudWatchFault::None => "none",
        CloudWatchFault::Down => "down",
        CloudWatchFault::Hang => "hang",
    }
}

/// How the cluster's quorum stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuorumHealth {
    /// Every endpoint is up.
    Healthy,
    /// Some endpoints are down; a majority is still up, so changes still go through.
    Degraded,
    /// No majority: every change is refused.
    Lost,
}

/// The quorum: `up` of `total` endpoints, `needed` for a majority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quorum {
    pub health: QuorumHealth,
    pub up: usize,
    pub total: usize,
    pub needed: usize,
}

impl Quorum {
    /// The quorum of endpoints with these faults: only `Down` counts against it (a hanging
    /// endpoint is a broken path to a live endpoint).
    pub fn of(faults: &[Fault]) -> Self {
        let total = faults.len();
        let up = faults.iter().filter(|f| **f != Fault::Down).count();
        let needed = total / 2 + 1;
        let health = if up < needed {
            QuorumHealth::Lost
        } else if up < total {
            QuorumHealth::Degraded
        } else {
            QuorumHealth::Healthy
        };
        Self {
            health,
            up,
            total,
            needed,
        }
    }
}

/// The probe's settings, and whether it runs.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeView {
    pub running: bool,
    pub rate_per_app: u32,
    pub bin_ms: u64,
    pub bins_kept: usize,
}

impl View {
    /// The view of `world` in `state`, with the probe's `traffic` when it runs, and no
    /// events yet: the timeline adds them once it has compared the view with the last one.
    pub(crate) fn new(world: &World, state: WorldState, traffic: Option<Vec<AppTraffic>>) -> Self {
        let topology = world.topology();
        let local = &topology.local;
        let [primary, secondary] = topology.regions.both();
        let alarm_period = match world.mechanism() {
            topology::Mechanism::Arc => std::time::Duration::ZERO,
            topology::Mechanism::HealthCheck => local.alarm_period(),
        };
        let bound = alarm_period
            + local.ttl()
            + local.health_check_interval()
            + std::time::Duration::from_secs(1);
        let probe = ProbeView {
            running: traffic.is_some(),
            rate_per_app: PROBE_RATE_PER_APP,
            bin_ms: millis(BIN),
            bins_kept: BINS_KEPT,
        };
        let mut traffic = traffic.unwrap_or_default();
        let apps = state
            .apps
            .into_iter()
            .map(|app| {
                let kind = match topology.app(&app.app) {
                    Some(App::Gateway(_)) => AppKind::Gateway,
                    _ => AppKind::Service,
                };
                let position = traffic.iter().position(|t| t.app == app.app);
                app_view(
                    app,
                    kind,
                    [primary, secondary],
                    position.map(|i| traffic.swap_remove(i)),
                )
            })
            .collect();
        let arc = world.cluster().map(|cluster| {
            let faults = cluster.faults();
            let endpoints = state
                .arc_endpoints
                .iter()
                .map(|e| {
                    let fault = faults.get(e.index).copied().unwrap_or_default();
                    EndpointView {
                        index: e.index,
                        region: e.region.clone(),
                        url: e.url.clone(),
                        fault: fault_label(fault),
                        up: fault != Fault::Down,
                    }
                })
                .collect();
            ArcView {
                endpoints,
                quorum: Quorum::of(&faults),
            }
        });
        Self {
            domain: state.domain,
            mechanism: state.mechanism,
            dns_server: state.dns_server,
            regions: [primary.clone(), secondary.clone()],
            ttl_seconds: local.ttl_seconds,
            health_check_interval_ms: local.health_check_interval_ms,
            alarm_period_ms: local.alarm_period_ms,
            bound_ms: millis(bound),
            apps,
            arc,
            cloudwatch: CloudWatchView::new(state.cloudwatch),
            replication: state.replication,
            probe,
            events: Vec::new(),
            plan: None,
        }
    }
}

fn app_view(
    app: AppState,
    kind: AppKind,
    [primary, secondary]: [&Region; 2],
    traffic: Option<AppTraffic>,
) -> AppView {
    let answer = app.dns_answer.as_ref();
    let healthy = |region: &Region| {
        answer.and_then(|a| {
            if region == primary {
                Some(a.primary_healthy)
            } else if region == secondary {
                Some(a.secondary_healthy)
            } else {
                None
            }
        })
    };
    let regions = app
        .regions
        .into_iter()
        .map(|r| {
            let control = app.routing_controls.iter().find(|c| c.region == r.region);
            let flag = app.flags.iter().find(|f| f.region == r.region).cloned();
            RegionView {
                healthy: healthy(&r.region),
                routing_control: control.map(|c| c.arn.clone()),
                routing_control_on: control.and_then(|c| c.on),
                flag,
                address: r.address,
                instance: r.instance,
                store_available: r.store_available,
                region: r.region,
            }
        })
        .collect();
    AppView {
        dns_answer: answer.map(|a| a.region.clone()),
        dns_address: answer.map(|a| a.address),
        serving: traffic.as_ref().and_then(|t| t.serving.clone()),
        app: app.app,
        hostname: app.hostname,
        kind,
        regions,
        traffic,
    }
}

/// A fault in words, as the page and the timeline show it.
pub fn fault_label(fault: Fault) -> String {
    match fault {
        Fault::None => "none".to_owned(),
        Fault::Down => "down".to_owned(),
        Fault::Hang => "hang".to_owned(),
        Fault::Slow(delay) => format!("slow ({} ms)", delay.as_millis()),
        Fault::Error => "error (500)".to_owned(),
        Fault::Throttle => "throttle (429)".to_owned(),
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_of_five_endpoints_down_is_degraded_three_is_lost() {
        let mut faults = vec![Fault::None; 5];
        assert_eq!(Quorum::of(&faults).health, QuorumHealth::Healthy);
        faults[0] = Fault::Hang;
        assert_eq!(
            Quorum::of(&faults).health,
            QuorumHealth::Healthy,
            "a hanging endpoint still counts"
        );
        faults[1] = Fault::Down;
        faults[2] = Fault::Down;
        let two_down = Quorum::of(&faults);
        assert_eq!(two_down.health, QuorumHealth::Degraded);
        assert_eq!((two_down.up, two_down.needed), (3, 3));
        faults[3] = Fault::Down;
        assert_eq!(Quorum::of(&faults).health, QuorumHealth::Lost);
    }
}
