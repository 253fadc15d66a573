//! The summary table a person reads at the end of a run.

use std::fmt::Write as _;

use topology::Region;

use crate::config::Scenario;
use crate::report::{AppReport, Report, Switch};

impl Report {
    /// A table a person reads at a glance: per app the counts, errors by kind, latency,
    /// Regions and switches; then the marks and the consistency findings.
    pub fn summary_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} scenario, {:.1} s, {} requests/s per app, {} connections opened",
            self.scenario,
            self.duration_seconds,
            self.settings.rate_per_app,
            self.connections_opened
        );
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>8} {:>8} {:>7}  {:<33} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}  responses by Region",
            "app",
            "sent",
            "done",
            "ok",
            "errors",
            "dns/refused/timeout/5xx/4xx/other",
            "late",
            "unsent",
            "inflight",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
        );
        for app in &self.apps {
            let e = &app.errors;
            let kinds = format!(
                "{}/{}/{}/{}/{}/{}",
                e.dns, e.connect_refused, e.timeout, e.status_5xx, e.status_4xx, e.other
            );
            let regions = app
                .responses_by_region
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let l = &app.latency_ms;
            let _ = writeln!(
                out,
                "{:<10} {:>8} {:>8} {:>8} {:>7}  {:<33} {:>6} {:>6} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {}",
                app.app.as_str(),
                app.sent,
                app.requests,
                app.successes,
                e.total,
                kinds,
                app.late,
                app.not_sent,
                app.in_flight_at_end,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                regions
            );
        }
        let _ = writeln!(
            out,
            "(latency: due time to completion of every completed request, failures at the time they failed; inflight: sent, no outcome when the run reported)"
        );
        self.write_traffic(&mut out);
        self.write_switches(&mut out);
        if !self.marks.is_empty() {
            let _ = writeln!(out, "Marks:");
            for m in &self.marks {
                let _ = writeln!(out, "  {:>7.2} s  {}", m.at_seconds, m.label);
            }
        }
        if self.scenario == Scenario::Consistency {
            self.write_consistency(&mut out);
        }
        out
    }

    /// The consistency scenario's findings: found everywhere, pending, lost, then each
    /// write not found everywhere.
    fn write_consistency(&self, out: &mut String) {
        let c = &self.consistency;
        let _ = writeln!(
            out,
            "Consistency: {} writes acknowledged: {} found in every Region, {} still pending (found in some Region, not yet in every one), {} lost (found in no Region); worst replication delay {}",
            c.acknowledged,
            c.acknowledged.saturating_sub(c.never_found),
            c.pending,
            c.lost,
            c.worst_delay.map_or_else(
                || "not observed".to_owned(),
                |d| format!("{:.3} s", d.as_secs_f64())
            )
        );
        if c.unread > 0 {
            let _ = writeln!(
                out,
                "  {} unread: none of their read targets returned them and some were never read (the read-back fell behind the writes), so whether they were lost is not known; a longer --consistency-grace or a lower --rate reads them all",
                c.unread
            );
        }
        for (label, writes) in [("LOST", &c.lost_writes), ("pending", &c.pending_writes)] {
            for w in writes {
                let _ = writeln!(
                    out,
                    "  {label}: {} {} (acknowledged by {} at {:.2} s; missing from {})",
                    w.app,
                    w.path,
                    w.written_region.as_ref().map_or("?", Region::as_str),
                    w.acknowledged_at_seconds,
                    w.missing_from.join(", ")
                );
            }
        }
    }

    /// What each app was sent, and why any of it fell back to the probe.
    fn write_traffic(&self, out: &mut String) {
        if self.scenario != Scenario::Probe {
            let _ = writeln!(out, "Operations (from each service's OpenAPI document):");
            for app in &self.apps {
                let _ = writeln!(
                    out,
                    "  {:<10} {}",
                    app.app.as_str(),
                    app.operations.join(", ")
                );
            }
        }
        for app in self.apps.iter().filter(|a| !a.warnings.is_empty()) {
            let _ = writeln!(
                out,
                "  warning: {}: {}",
                app.app.as_str(),
                app.warnings.join("; ")
            );
        }
    }

    fn write_switches(&self, out: &mut String) {
        let switches: Vec<(&AppReport, &Switch)> = self
            .apps
            .iter()
            .flat_map(|a| a.switches.iter().map(move |s| (a, s)))
            .collect();
        if switches.is_empty() {
            let _ = writeln!(out, "Region switches: none");
            return;
        }
        let _ = writeln!(out, "Region switches:");
        for (app, s) in switches {
            let _ = writeln!(
                out,
                "  {:<10} {} -> {} at {:.2} s, mixed window {:.2} s",
                app.app.as_str(),
                s.from,
                s.to,
                s.at_seconds,
                s.mixed_window_seconds
            );
        }
        let stale: u64 = self.apps.iter().map(|a| a.stale_connection_responses).sum();
        if stale > 0 {
            let _ = writeln!(
                out,
                "  {stale} responses came over kept-alive connections to an address DNS no longer answered (max connection age {:.1} s)",
                self.settings.max_connection_age_seconds
            );
        }
    }
}
