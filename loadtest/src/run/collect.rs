//! The report of a run, built from what its apps recorded.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::report::{
    AppReport, ErrorCounts, Latency, REPORT_SCHEMA_VERSION, Report, Second, Settings, Switch, secs,
};
use crate::scenario::AppPlan;
use crate::stats::RegionTable;

use super::{AppState, Run};

impl Run {
    pub(super) fn report(&self, traffic: Duration) -> Report {
        let s = &self.shared;
        let c = &s.config;
        let apps = s
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let plan = s.planner.get().and_then(|p| p.apps.get(i));
                app_report(a, plan, &s.regions)
            })
            .collect();
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            scenario: c.scenario,
            started_at_unix_ms: s.started_unix_ms,
            duration_seconds: secs(traffic),
            settings: Settings {
                rate_per_app: c.rate_per_app,
                max_in_flight: c.max_in_flight,
                request_timeout_seconds: secs(c.request_timeout),
                max_connection_age_seconds: secs(c.max_connection_age),
                connection_reuse: c.connection_reuse,
                live_window_seconds: secs(c.live_window),
                dns_server: s.dns_server.map(|a| a.to_string()),
            },
            regions: s.regions.all(),
            connections_opened: s.client.connections_opened(),
            apps,
            marks: s.marks.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            consistency: s
                .tracker
                .as_ref()
                .map(|t| t.report(&s.regions))
                .unwrap_or_default(),
        }
    }
}

fn app_report(app: &AppState, plan: Option<&AppPlan>, regions: &RegionTable) -> AppReport {
    let s = app.stats();
    // Read after the stats' lock: every request counted complete was counted sent before.
    let sent = app.sent.load(Ordering::Relaxed).max(s.requests);
    let region_name = |i: usize| {
        regions
            .get(i)
            .map_or_else(|| format!("#{i}"), |r| r.to_string())
    };
    let by_region = |counts: &[u64]| -> BTreeMap<String, u64> {
        counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (region_name(i), *n))
            .collect()
    };
    let mut switches = s.switches.clone();
    switches.finish();
    let h = &s.latency_us;
    let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
    let latency = if h.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: (h.mean() / 10.0).round() / 100.0,
        }
    };
    AppReport {
        app: app.target.app.clone(),
        url: app.target.url.clone(),
        operations: plan.map_or_else(Vec::new, |p| p.operations.clone()),
        warnings: plan.map_or_else(Vec::new, |p| p.warnings.clone()),
        sent,
        requests: s.requests,
        answered: s.answered,
        successes: s.successes,
        late: s.late,
        not_sent: s.not_sent,
        in_flight_at_end: sent - s.requests,
        errors: ErrorCounts::from_array(s.errors),
        error_samples: s
            .sample_errors
            .iter()
            .map(|(k, d)| (k.as_str().to_owned(), d.clone()))
            .collect(),
        latency_ms: latency,
        responses_by_region: by_region(&s.by_region),
        unattributed: s.unattributed,
        stale_connection_responses: s.stale_connection,
        switches: switches
            .done
            .iter()
            .filter_map(|w| {
                Some(Switch {
                    at_seconds: secs(w.at),
                    from: regions.get(w.from)?,
                    to: regions.get(w.to)?,
                    mixed_window_seconds: secs(w.mixed_window),
                })
            })
            .collect(),
        flaps: switches.flaps,
        seconds: s
            .seconds
            .iter()
            .enumerate()
            .map(|(i, b)| Second {
                second: i as u64,
                sent: b.sent,
                completed: b.completed,
                by_region: by_region(&b.by_region),
                errors: b.errors,
            })
            .collect(),
    }
}
