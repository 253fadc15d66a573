//! The timeline: what happened, when. Changes are found by comparing each view's facts (a
//! routing control's state, a DNS answer, an instance's status, where traffic goes, ...) with
//! the last value seen, so shifts made by the demo or the `failover` CLI show up as well as the
//! page's own; the page's actions and their outcomes (refusals included) are added as they end.

use std::collections::{BTreeMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use super::event::{EventKind, TimelineEvent};
use super::view::{QuorumHealth, View};
use crate::instance::InstanceStatus;

/// How many events the page gets: the newest.
const KEPT: usize = 200;

/// The events so far, and the last value of every fact.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    facts: BTreeMap<String, (EventKind, String)>,
    events: VecDeque<TimelineEvent>,
}

impl Timeline {
    /// Adds an event now.
    pub(crate) fn push(&mut self, kind: EventKind, text: impl Into<String>) {
        self.events.push_back(TimelineEvent {
            at_ms: now_ms(),
            kind,
            text: text.into(),
        });
        while self.events.len() > KEPT {
            self.events.pop_front();
        }
    }

    /// Records an event for every fact of `view` whose value changed. The first view sets the
    /// facts without events; a fact a view does not state (traffic that is moving, the probe
    /// being off) keeps its last value.
    pub(crate) fn observe(&mut self, view: &View) {
        for (name, (kind, value)) in facts(view) {
            match self.facts.get(&name) {
                Some((_, old)) if *old == value => {}
                Some((_, old)) => {
                    let text = format!("{name}: {old} → {value}");
                    self.push(kind, text);
                    self.facts.insert(name, (kind, value));
                }
                None => {
                    self.facts.insert(name, (kind, value));
                }
            }
        }
    }

    /// The events, newest first.
    pub(crate) fn events(&self) -> Vec<TimelineEvent> {
        self.events.iter().rev().cloned().collect()
    }
}

/// What `view` states, by name: `orders routing control us-west-2` → `ON`, ...
fn facts(view: &View) -> Vec<(String, (EventKind, String))> {
    let mut facts = Vec::new();
    let mut fact = |name: String, kind, value: String| facts.push((name, (kind, value)));
    for app in &view.apps {
        let name = &app.app;
        if let Some(region) = &app.dns_answer {
            fact(
                format!("{name} Route 53 answer"),
                EventKind::Dns,
                region.to_string(),
            );
        }
        for r in &app.regions {
            let region = &r.region;
            if let Some(on) = r.routing_control_on {
                let state = if on { "ON" } else { "OFF" };
                fact(
                    format!("{name} routing control {region}"),
                    EventKind::Control,
                    state.to_owned(),
                );
            }
            if let Some(flag) = &r.flag {
                fact(
                    format!("{name} flag \"{region} is out\" (in {})", flag.published_in),
                    EventKind::Control,
                    flag.value
                        .map_or_else(|| "never published".to_owned(), |v| v.to_string()),
                );
                if let Some(state) = decided(flag.alarm_state.as_ref()) {
                    fact(
                        format!("alarm {}", flag.alarm_name),
                        EventKind::Alarm,
                        state.clone(),
                    );
                }
            }
            if let Some(healthy) = r.healthy {
                let state = if healthy { "healthy" } else { "unhealthy" };
                fact(
                    format!("{name} health check {region}"),
                    EventKind::Dns,
                    state.to_owned(),
                );
            }
            fact(
                format!("{name} in {region}"),
                EventKind::Fault,
                instance_label(&r.instance),
            );
            if let Some(up) = r.store_available {
                let state = if up { "up" } else { "down" };
                fact(
                    format!("{name} store in {region}"),
                    EventKind::Fault,
                    state.to_owned(),
                );
            }
        }
        if let Some(traffic) = &app.traffic {
            let state = match &traffic.serving {
                Some(region) => Some(format!("served by {region}")),
                None if traffic.recent.is_empty() && traffic.requests > 0 => {
                    Some("failing".to_owned())
                }
                None => None,
            };
            if let Some(state) = state {
                fact(format!("{name} traffic"), EventKind::Traffic, state);
            }
        }
    }
    if let Some(arc) = &view.arc {
        for e in &arc.endpoints {
            fact(
                format!("ARC endpoint {} ({})", e.index, e.region),
                EventKind::Fault,
                e.fault.clone(),
            );
        }
        let q = arc.quorum;
        let health = match q.health {
            QuorumHealth::Healthy => "healthy",
            QuorumHealth::Degraded => "degraded",
            QuorumHealth::Lost => "lost",
        };
        fact(
            "ARC quorum".to_owned(),
            EventKind::Quorum,
            format!("{health} ({} of {} up)", q.up, q.total),
        );
    }
    for e in &view.cloudwatch.endpoints {
        fact(
            format!("CloudWatch in {}", e.region),
            EventKind::Fault,
            e.fault.clone(),
        );
    }
    for alarm in &view.cloudwatch.alarms {
        if let Some(state) = decided(alarm.state.as_ref()) {
            fact(
                format!("alarm {}", alarm.name),
                EventKind::Alarm,
                state.clone(),
            );
        }
    }
    fact(
        "replication lag".to_owned(),
        EventKind::Replication,
        format!("{} ms", view.replication.lag_ms),
    );
    facts
}

/// An alarm's state once its data decided it: a new alarm's INSUFFICIENT_DATA, before its
/// first evaluation, is no event worth showing.
fn decided(state: Option<&String>) -> Option<&String> {
    state.filter(|s| *s != "INSUFFICIENT_DATA")
}

/// An instance's status in words.
pub(crate) fn instance_label(status: &InstanceStatus) -> String {
    match status {
        InstanceStatus::Running => "running".to_owned(),
        InstanceStatus::Stopped => "stopped".to_owned(),
        InstanceStatus::Degraded(d) => format!(
            "degraded ({:.0}% errors, +{} ms)",
            d.error_rate * 100.0,
            d.latency_ms
        ),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
