//! The quotas of ARC and Route 53 a topology must fit, checked when it is loaded: a deploy over
//! one would fail in CloudFormation after creating part of the stacks.
//!
//! Per app: one routing control per Region and one safety rule ("at least one ON") in its
//! control panel, and one Route 53 health check per failover record (`RECOVERY_CONTROL` on a
//! routing control, or `CLOUDWATCH_METRIC` on a flag's alarm).

use crate::{Mechanism, Topology};

/// ARC: control panels per cluster.
pub const ARC_CONTROL_PANELS_PER_CLUSTER: usize = 50;
/// ARC: routing controls per control panel.
pub const ARC_ROUTING_CONTROLS_PER_PANEL: usize = 100;
/// ARC: routing controls per cluster.
pub const ARC_ROUTING_CONTROLS_PER_CLUSTER: usize = 300;
/// ARC: safety rules per control panel.
pub const ARC_SAFETY_RULES_PER_PANEL: usize = 20;
/// Route 53: health checks per account, unless AWS raised it on request.
pub const ROUTE53_HEALTH_CHECKS_DEFAULT: u32 = 200;

/// Routing controls per app: one per Region.
pub const ROUTING_CONTROLS_PER_APP: usize = 2;
/// Safety rules per app: "at least one of its two routing controls ON".
pub const SAFETY_RULES_PER_APP: usize = 1;
/// Route 53 health checks per app: one per failover record.
pub const HEALTH_CHECKS_PER_APP: usize = 2;

/// Refuses a topology over a quota, naming every quota it is over and what to do.
pub(crate) fn check(topology: &Topology) -> Result<(), String> {
    let mut over = Vec::new();
    if topology.failover.mechanism == Mechanism::Arc {
        over.extend(arc_quotas(topology));
    }
    let checks = HEALTH_CHECKS_PER_APP * topology.apps.len();
    let quota = topology.aws.route53_health_check_quota;
    if checks > quota as usize {
        over.push(format!(
            "{checks} Route 53 health checks ({HEALTH_CHECKS_PER_APP} per app), over the \
             account's quota of {quota} health checks (aws.route53_health_check_quota, \
             {ROUTE53_HEALTH_CHECKS_DEFAULT} unless AWS raised it): ask AWS to raise the quota \
             and set the new value, or deploy fewer apps"
        ));
    }
    if over.is_empty() {
        Ok(())
    } else {
        Err(format!("the topology is over a quota: {}", over.join("; ")))
    }
}

fn arc_quotas(topology: &Topology) -> Vec<String> {
    let mut over = Vec::new();
    let panels = topology.control_panels();
    if panels.len() > ARC_CONTROL_PANELS_PER_CLUSTER {
        over.push(format!(
            "{} ARC control panels (one per app unless apps share one), over ARC's quota of \
             {ARC_CONTROL_PANELS_PER_CLUSTER} control panels per cluster: let apps share \
             panels with `control_panel = \"<name>\"` in their [[apps]] entries",
            panels.len()
        ));
    }
    for panel in &panels {
        let apps = panel.apps.len();
        let controls = ROUTING_CONTROLS_PER_APP * apps;
        if controls > ARC_ROUTING_CONTROLS_PER_PANEL {
            over.push(format!(
                "control panel `{}` has {apps} apps, so {controls} routing controls, over \
                 ARC's quota of {ARC_ROUTING_CONTROLS_PER_PANEL} routing controls per control \
                 panel: split it",
                panel.id
            ));
        }
        let rules = SAFETY_RULES_PER_APP * apps;
        if rules > ARC_SAFETY_RULES_PER_PANEL {
            over.push(format!(
                "control panel `{}` has {apps} apps, so {rules} safety rules, over ARC's quota \
                 of {ARC_SAFETY_RULES_PER_PANEL} safety rules per control panel: split it (at \
                 most {} apps per panel)",
                panel.id,
                ARC_SAFETY_RULES_PER_PANEL / SAFETY_RULES_PER_APP
            ));
        }
    }
    let controls = ROUTING_CONTROLS_PER_APP * topology.apps.len();
    if controls > ARC_ROUTING_CONTROLS_PER_CLUSTER {
        over.push(format!(
            "{controls} routing controls ({ROUTING_CONTROLS_PER_APP} per app), over ARC's quota \
             of {ARC_ROUTING_CONTROLS_PER_CLUSTER} routing controls per cluster: split the \
             apps into topologies of their own, each with its own stack prefix and cluster"
        ));
    }
    over
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `copies` copies of the fixture's apps, every app in control panel `panel` (or each in
    /// its own, with `None`).
    fn apps(copies: usize, panel: Option<&str>) -> String {
        let text: String = testkit::scaled_fixture_topology(copies)
            .lines()
            .filter(|l| !l.starts_with("control_panel = "))
            .map(|l| format!("{l}\n"))
            .collect();
        match panel {
            None => text,
            Some(panel) => {
                let line = format!("control_panel = \"{panel}\"\n");
                text.replace(
                    "kind = \"gateway\"\n",
                    &format!("kind = \"gateway\"\n{line}"),
                )
                .replace(
                    "kind = \"service\"\n",
                    &format!("kind = \"service\"\n{line}"),
                )
            }
        }
    }

    fn health_check_mode(text: &str) -> String {
        text.replace(
            "[arc]\n",
            "[failover]\nmechanism = \"health-check\"\n\n[arc]\n",
        )
    }

    fn with_health_check_quota(text: &str, quota: u32) -> String {
        text.replace(
            "[local]\n",
            &format!("[aws]\nroute53_health_check_quota = {quota}\n\n[local]\n"),
        )
    }

    fn refusal(text: &str) -> String {
        Topology::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_hundred_app_fixture_fits_every_quota_in_both_mechanisms() {
        for text in [
            testkit::SCALE_FIXTURE_TOPOLOGY.to_owned(),
            health_check_mode(testkit::SCALE_FIXTURE_TOPOLOGY),
        ] {
            let topology = Topology::parse(&text).unwrap();
            assert_eq!(topology.apps.len(), 100);
            assert_eq!(
                HEALTH_CHECKS_PER_APP * topology.apps.len(),
                ROUTE53_HEALTH_CHECKS_DEFAULT as usize,
                "exactly at Route 53's default quota"
            );
        }
        let topology = Topology::parse(testkit::SCALE_FIXTURE_TOPOLOGY).unwrap();
        let panels = topology.control_panels();
        assert_eq!(panels.len(), 4 * testkit::COPIES_WITH_OWN_PANELS + 4);
        assert!(
            panels
                .iter()
                .all(|p| p.apps.len() <= ARC_SAFETY_RULES_PER_PANEL)
        );
    }

    #[test]
    fn more_control_panels_than_a_cluster_takes_are_refused_naming_the_quota() {
        // 13 copies: 52 apps, each in its own panel.
        let err = refusal(&apps(13, None));
        assert!(err.contains("52 ARC control panels"), "{err}");
        assert!(err.contains("50 control panels per cluster"), "{err}");
        assert!(err.contains("control_panel = \"<name>\""), "{err}");
        assert!(
            !err.contains("routing controls per"),
            "only that quota: {err}"
        );
        // Sharing panels fixes it (the generator's cells: 22 panels); the other mechanism
        // has no panels at all.
        let shared = Topology::parse(&testkit::scaled_fixture_topology(13)).unwrap();
        assert_eq!(shared.control_panels().len(), 22);
        Topology::parse(&health_check_mode(&apps(13, None))).unwrap();
    }

    #[test]
    fn more_routing_controls_than_a_panel_takes_are_refused_naming_the_quota() {
        let err = refusal(&apps(13, Some("big")));
        assert!(err.contains("control panel `big` has 52 apps"), "{err}");
        assert!(
            err.contains(
                "104 routing controls, over ARC's quota of 100 routing controls per control panel"
            ),
            "{err}"
        );
    }

    #[test]
    fn more_safety_rules_than_a_panel_takes_are_refused_naming_the_quota() {
        // 24 apps in one panel: 48 routing controls fit, 24 safety rules do not.
        let err = refusal(&apps(6, Some("big")));
        assert!(
            err.contains("24 safety rules, over ARC's quota of 20 safety rules per control panel"),
            "{err}"
        );
        assert!(err.contains("at most 20 apps per panel"), "{err}");
        assert!(!err.contains("routing controls per control panel"), "{err}");
        Topology::parse(&apps(5, Some("big"))).unwrap();
    }

    #[test]
    fn more_routing_controls_than_a_cluster_takes_are_refused_naming_the_quota() {
        // 38 copies: 152 apps in 27 panels, 304 routing controls; the health checks' quota
        // raised so that only ARC's is over.
        let text = with_health_check_quota(&testkit::scaled_fixture_topology(38), 1000);
        let err = refusal(&text);
        assert!(
            err.contains("304 routing controls (2 per app), over ARC's quota of 300 routing controls per cluster"),
            "{err}"
        );
        assert!(!err.contains("health checks"), "{err}");
        assert!(!err.contains("control panels per cluster"), "{err}");
    }

    #[test]
    fn more_health_checks_than_the_accounts_quota_are_refused_in_either_mechanism() {
        // A 101st app, in a panel of its own (the cells are full).
        let extra = |panel: &str| {
            format!(
                "{}\n[[apps]]\nname = \"extra\"\nkind = \"service\"\n{panel}[apps.table]\n\
                 name = \"extra\"\n",
                testkit::SCALE_FIXTURE_TOPOLOGY
            )
        };
        let own = extra("");
        for text in [own.clone(), health_check_mode(&own)] {
            let err = refusal(&text);
            assert!(
                err.contains("202 Route 53 health checks (2 per app), over the account's quota of 200 health checks"),
                "{err}"
            );
            assert!(err.contains("aws.route53_health_check_quota"), "{err}");
            assert!(!err.contains("ARC"), "{err}");
            // An account whose quota was raised says so.
            Topology::parse(&with_health_check_quota(&text, 202)).unwrap();
        }
        // In cell-1, it is over that panel's quota too: both are named.
        let err = refusal(&extra("control_panel = \"cell-1\"\n"));
        assert!(err.contains("control panel `cell-1` has 21 apps"), "{err}");
        assert!(
            err.contains("202 Route 53 health checks"),
            "every quota it is over: {err}"
        );
    }
}
