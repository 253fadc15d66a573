//! Expectations of the route probe: every service route answered by its service, and an
//! outage of one service contained to its own routes.

use std::fmt::Write as _;

use topology::AppName;

use super::Step;
use crate::probe::{ProbeRoute, ProbeSnapshot, Via};

/// How many of `routes` answered with no failure, in words: `6 of 6 routes, 0 failed`.
fn routes_summary(delta: &ProbeSnapshot) -> String {
    let clean = delta
        .routes
        .values()
        .filter(|c| c.failed == 0 && c.answered > 0)
        .count();
    let failed: u64 = delta.routes.values().map(|c| c.failed).sum();
    format!(
        "{clean} of {} routes answered, {failed} requests failed",
        delta.routes.len()
    )
}

/// The routes' counts for people: `orders /orders 20 sent, 20 answered`, failures with their
/// last reason. Over a window, answers can outnumber requests: some were sent before it.
pub fn routes_text(delta: &ProbeSnapshot) -> String {
    let mut out = String::new();
    for (route, c) in &delta.routes {
        if !out.is_empty() {
            out.push_str("; ");
        }
        let _ = write!(out, "{route}: {} sent, {} answered", c.sent, c.answered);
        if c.in_flight > 0 {
            let _ = write!(out, ", {} in flight", c.in_flight);
        }
        if c.failed > 0 {
            let _ = write!(out, ", {} failed", c.failed);
            if let Some(why) = &c.last_failure {
                let _ = write!(out, " ({why})");
            }
        }
    }
    out
}

/// Every route answered by its service, none failed: the steady state and a settled world.
pub fn every_route_answers(name: &str, delta: &ProbeSnapshot) -> Step {
    let held = !delta.routes.is_empty()
        && delta
            .routes
            .values()
            .all(|c| c.failed == 0 && c.answered > 0);
    Step {
        name: name.to_owned(),
        expected: format!(
            "every service route answered by its service ({} routes: direct and through the gateway), 0 failures",
            delta.routes.len()
        ),
        measured: routes_text(delta),
        summary: routes_summary(delta),
        skipped: false,
        held,
    }
}

/// Whether a route serves `app`'s path: the app's own subdomain, or a gateway route whose
/// prefix is `/<app>`, whichever service the gateway sends it to.
fn serves_path_of(route: &ProbeRoute, app: &AppName) -> bool {
    match route.via {
        Via::Direct => route.service == *app,
        Via::Gateway(_) => route.prefix == format!("/{app}"),
    }
}

/// `down` stopped in one Region, nothing shifted: only `/<down>`, direct and through the
/// gateway, fails; every other route still answers, and the apps' own probes (`others`:
/// loadtest errors of every other app) see no error.
pub fn contained(down: &AppName, delta: &ProbeSnapshot, others: u64) -> Step {
    let mut affected_fail = false;
    let mut others_fine = true;
    let mut affected_routes = 0;
    let mut other_routes = 0;
    let mut others_answered = 0;
    for (route, c) in &delta.routes {
        if serves_path_of(route, down) {
            affected_routes += 1;
            affected_fail |= c.failed > 0;
        } else {
            let fine = c.failed == 0 && c.answered > 0;
            other_routes += 1;
            others_answered += usize::from(fine);
            others_fine &= fine;
        }
    }
    Step {
        name: "outage stays contained".into(),
        expected: format!(
            "only /{down} fails (direct and through the gateway, {affected_routes} routes); every other route answers; 0 errors for the other apps"
        ),
        measured: format!("{}; {others} errors for the other apps", routes_text(delta)),
        summary: format!(
            "/{down} {}; {others_answered} of {other_routes} other routes answered",
            if affected_fail {
                "failed"
            } else {
                "never failed"
            }
        ),
        skipped: false,
        held: affected_routes > 0 && affected_fail && others_fine && others == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::RouteCounts;

    fn route(service: &str, via: Via, prefix: &str) -> ProbeRoute {
        ProbeRoute {
            service: service.parse().unwrap(),
            via,
            prefix: prefix.into(),
            host: "h".into(),
        }
    }

    fn counts(answered: u64, failed: u64) -> RouteCounts {
        RouteCounts {
            sent: answered + failed,
            answered,
            failed,
            ..RouteCounts::default()
        }
    }

    fn snapshot(rows: Vec<(ProbeRoute, RouteCounts)>) -> ProbeSnapshot {
        ProbeSnapshot {
            routes: rows.into_iter().collect(),
        }
    }

    fn api() -> Via {
        Via::Gateway("api".parse().unwrap())
    }

    #[test]
    fn containment_holds_only_when_just_the_stopped_apps_paths_fail() {
        let down: AppName = "payments".parse().unwrap();
        let healthy = snapshot(vec![
            (route("orders", Via::Direct, "/orders"), counts(10, 0)),
            (route("orders", api(), "/orders"), counts(10, 0)),
            (route("payments", Via::Direct, "/payments"), counts(0, 10)),
            (route("payments", api(), "/payments"), counts(0, 10)),
        ]);
        assert!(contained(&down, &healthy, 0).held);
        assert!(!contained(&down, &healthy, 1).held, "another app's error");
        // The gateway sends /orders to payments: /orders fails with it.
        let misrouted = snapshot(vec![
            (route("orders", Via::Direct, "/orders"), counts(10, 0)),
            (route("payments", api(), "/orders"), counts(0, 10)),
            (route("payments", Via::Direct, "/payments"), counts(0, 10)),
            (route("payments", api(), "/payments"), counts(0, 10)),
        ]);
        assert!(!contained(&down, &misrouted, 0).held);
        // Nothing failed: the outage was not seen at all.
        let unseen = snapshot(vec![
            (route("orders", Via::Direct, "/orders"), counts(10, 0)),
            (route("payments", Via::Direct, "/payments"), counts(10, 0)),
        ]);
        assert!(!contained(&down, &unseen, 0).held);
    }

    #[test]
    fn every_route_must_answer() {
        let ok = snapshot(vec![(route("orders", api(), "/orders"), counts(3, 0))]);
        assert!(every_route_answers("steady", &ok).held);
        let silent = snapshot(vec![(route("orders", api(), "/orders"), counts(0, 0))]);
        assert!(!every_route_answers("steady", &silent).held);
        assert!(!every_route_answers("steady", &ProbeSnapshot::default()).held);
    }
}
