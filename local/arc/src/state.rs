//! The cluster's shared state: control panels, routing controls and safety rules, and the rules'
//! evaluation as ARC does it (a batch is judged as a whole, after the change; a violating batch
//! changes nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use topology::{ControlPanelArn, RoutingControlArn, SafetyRuleArn};

/// How a safety rule counts the routing controls it looks at (ARC's `RuleConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleConfig {
    pub kind: RuleKind,
    /// `ATLEAST N`: N; ignored by `AND` and `OR`.
    pub threshold: usize,
    /// Logical negation of the rule.
    pub inverted: bool,
}

/// ARC's rule types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    AtLeast,
    And,
    Or,
}

impl RuleConfig {
    /// `ATLEAST threshold`, not inverted.
    pub fn at_least(threshold: usize) -> Self {
        Self {
            kind: RuleKind::AtLeast,
            threshold,
            inverted: false,
        }
    }

    fn holds(&self, on: usize, of: usize) -> bool {
        let plain = match self.kind {
            RuleKind::AtLeast => on >= self.threshold,
            RuleKind::And => on == of,
            RuleKind::Or => on >= 1,
        };
        plain != self.inverted
    }
}

/// A safety rule of a control panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafetyRule {
    /// After the change, `config` must hold over `asserted`.
    Assertion {
        arn: SafetyRuleArn,
        asserted: Vec<RoutingControlArn>,
        config: RuleConfig,
        wait_period: Duration,
    },
    /// `target` may change only while `config` holds over `gating`.
    Gating {
        arn: SafetyRuleArn,
        gating: Vec<RoutingControlArn>,
        target: Vec<RoutingControlArn>,
        config: RuleConfig,
        wait_period: Duration,
    },
}

impl SafetyRule {
    /// The rule's ARN.
    pub fn arn(&self) -> &SafetyRuleArn {
        match self {
            Self::Assertion { arn, .. } | Self::Gating { arn, .. } => arn,
        }
    }

    fn wait_period(&self) -> Duration {
        match self {
            Self::Assertion { wait_period, .. } | Self::Gating { wait_period, .. } => *wait_period,
        }
    }

    fn panel(&self) -> ControlPanelArn {
        let arn = self.arn().as_str();
        let cut = arn.find("/safetyrule/").expect("checked at parse");
        arn[..cut]
            .parse()
            .expect("a safety rule ARN starts with its panel's")
    }

    /// Every routing control the rule looks at or guards.
    fn controls(&self) -> impl Iterator<Item = &RoutingControlArn> {
        let (a, b): (&[RoutingControlArn], &[RoutingControlArn]) = match self {
            Self::Assertion { asserted, .. } => (asserted, &[]),
            Self::Gating { gating, target, .. } => (gating, target),
        };
        a.iter().chain(b)
    }

    /// Whether the rule allows going to `after` (states of every control) with `changed` changed.
    fn allows(
        &self,
        after: &dyn Fn(&RoutingControlArn) -> bool,
        changed: &BTreeSet<&RoutingControlArn>,
    ) -> bool {
        let count = |list: &[RoutingControlArn]| list.iter().filter(|c| after(c)).count();
        match self {
            Self::Assertion {
                asserted, config, ..
            } => config.holds(count(asserted), asserted.len()),
            Self::Gating {
                gating,
                target,
                config,
                ..
            } => {
                !target.iter().any(|t| changed.contains(t))
                    || config.holds(count(gating), gating.len())
            }
        }
    }
}

/// One routing control and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingControl {
    pub arn: RoutingControlArn,
    pub name: String,
    pub panel: ControlPanelArn,
    pub on: bool,
}

/// One control panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPanel {
    pub arn: ControlPanelArn,
    pub name: String,
}

/// Why a batch was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A control in the batch does not exist.
    NotFound(RoutingControlArn),
    /// A safety rule forbids the batch.
    Blocked(SafetyRuleArn),
    /// A safety rule blocked a change less than its wait period ago.
    Waiting(SafetyRuleArn, Duration),
}

/// Everything the cluster knows. Held behind one lock: a batch is evaluated and applied atomically.
#[derive(Debug, Default)]
pub struct ClusterState {
    panels: BTreeMap<ControlPanelArn, ControlPanel>,
    /// Ordered by ARN: ListRoutingControls pages through this order.
    controls: BTreeMap<RoutingControlArn, RoutingControl>,
    rules: Vec<SafetyRule>,
    /// When each rule last blocked a change (its wait period runs from then).
    blocked_at: HashMap<SafetyRuleArn, Instant>,
}

impl ClusterState {
    /// Adds a control panel.
    pub fn add_panel(&mut self, panel: ControlPanel) {
        self.panels.insert(panel.arn.clone(), panel);
    }

    /// Adds a routing control (OFF, as ARC creates them).
    pub fn add_control(&mut self, arn: RoutingControlArn, name: String) {
        let panel = arn.control_panel();
        self.controls.insert(
            arn.clone(),
            RoutingControl {
                arn,
                name,
                panel,
                on: false,
            },
        );
    }

    /// Adds a safety rule.
    pub fn add_rule(&mut self, rule: SafetyRule) {
        self.rules.push(rule);
    }

    /// The state of one routing control.
    pub fn control(&self, arn: &RoutingControlArn) -> Option<&RoutingControl> {
        self.controls.get(arn)
    }

    /// A control panel by ARN.
    pub fn panel(&self, arn: &ControlPanelArn) -> Option<&ControlPanel> {
        self.panels.get(arn)
    }

    /// Routing controls in ARN order, optionally of one panel, starting after `after`.
    pub fn controls_after<'a>(
        &'a self,
        panel: Option<&'a ControlPanelArn>,
        after: Option<&'a RoutingControlArn>,
    ) -> impl Iterator<Item = &'a RoutingControl> + 'a {
        self.controls
            .values()
            .filter(move |c| after.is_none_or(|a| c.arn > *a))
            .filter(move |c| panel.is_none_or(|p| c.panel == *p))
    }

    /// Evaluates `changes` as one batch against every safety rule of the panels it touches
    /// (except `overrides`) and applies it only when all of them allow it.
    pub fn apply(
        &mut self,
        changes: &[(RoutingControlArn, bool)],
        overrides: &[SafetyRuleArn],
        now: Instant,
    ) -> Result<(), Refusal> {
        if let Some((missing, _)) = changes.iter().find(|(a, _)| !self.controls.contains_key(a)) {
            return Err(Refusal::NotFound(missing.clone()));
        }
        let wanted: HashMap<&RoutingControlArn, bool> =
            changes.iter().map(|(a, on)| (a, *on)).collect();
        let changed: BTreeSet<&RoutingControlArn> = changes
            .iter()
            .filter(|(a, on)| self.controls[a].on != *on)
            .map(|(a, _)| a)
            .collect();
        let panels: BTreeSet<ControlPanelArn> =
            changes.iter().map(|(a, _)| a.control_panel()).collect();
        let after = |arn: &RoutingControlArn| {
            wanted
                .get(arn)
                .copied()
                .unwrap_or_else(|| self.controls.get(arn).is_some_and(|c| c.on))
        };
        let mut verdict = Ok(());
        for rule in self.rules.iter().filter(|r| panels.contains(&r.panel())) {
            if overrides.contains(rule.arn()) {
                continue;
            }
            let touches = rule.controls().any(|c| changed.contains(c));
            if let Some(left) = self.waiting(rule, now).filter(|_| touches) {
                verdict = Err(Refusal::Waiting(rule.arn().clone(), left));
                break;
            }
            if !rule.allows(&after, &changed) {
                verdict = Err(Refusal::Blocked(rule.arn().clone()));
                break;
            }
        }
        match verdict {
            Err(Refusal::Blocked(rule)) => {
                self.blocked_at.insert(rule.clone(), now);
                Err(Refusal::Blocked(rule))
            }
            Err(other) => Err(other),
            Ok(()) => {
                for (arn, on) in changes {
                    self.controls.get_mut(arn).expect("checked above").on = *on;
                }
                Ok(())
            }
        }
    }

    /// How much of `rule`'s wait period is left after it last blocked a change.
    fn waiting(&self, rule: &SafetyRule, now: Instant) -> Option<Duration> {
        let since = now.checked_duration_since(*self.blocked_at.get(rule.arn())?)?;
        rule.wait_period()
            .checked_sub(since)
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PANEL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/p1";

    fn rc(id: &str) -> RoutingControlArn {
        format!("{PANEL}/routingcontrol/{id}").parse().unwrap()
    }

    fn rule(id: &str) -> SafetyRuleArn {
        format!("{PANEL}/safetyrule/{id}").parse().unwrap()
    }

    fn state(wait: Duration) -> ClusterState {
        let mut s = ClusterState::default();
        s.add_panel(ControlPanel {
            arn: PANEL.parse().unwrap(),
            name: "p1".into(),
        });
        for id in ["east", "west", "gate"] {
            s.add_control(rc(id), id.into());
        }
        s.add_rule(SafetyRule::Assertion {
            arn: rule("one-on"),
            asserted: vec![rc("east"), rc("west")],
            config: RuleConfig::at_least(1),
            wait_period: wait,
        });
        s
    }

    fn on(s: &ClusterState, id: &str) -> bool {
        s.control(&rc(id)).unwrap().on
    }

    #[test]
    fn a_batch_is_judged_after_the_whole_change() {
        let mut s = state(Duration::ZERO);
        let now = Instant::now();
        s.apply(&[(rc("east"), true), (rc("west"), false)], &[], now)
            .unwrap();
        // Turning east OFF alone breaks the rule; together with west ON it does not.
        assert_eq!(
            s.apply(&[(rc("east"), false)], &[], now),
            Err(Refusal::Blocked(rule("one-on")))
        );
        assert!(on(&s, "east"));
        s.apply(&[(rc("east"), false), (rc("west"), true)], &[], now)
            .unwrap();
        assert!(!on(&s, "east") && on(&s, "west"));
    }

    #[test]
    fn a_refused_batch_changes_nothing_and_override_skips_the_rule() {
        let mut s = state(Duration::ZERO);
        let now = Instant::now();
        s.apply(&[(rc("east"), true), (rc("gate"), true)], &[], now)
            .unwrap();
        let both_off = [(rc("east"), false), (rc("gate"), false)];
        assert!(s.apply(&both_off, &[], now).is_err());
        assert!(on(&s, "gate"), "the gate change must not be applied alone");
        s.apply(&both_off, &[rule("one-on")], now).unwrap();
        assert!(!on(&s, "east") && !on(&s, "gate"));
    }

    #[test]
    fn an_unknown_control_is_not_found() {
        let mut s = state(Duration::ZERO);
        assert_eq!(
            s.apply(&[(rc("nope"), true)], &[], Instant::now()),
            Err(Refusal::NotFound(rc("nope")))
        );
    }

    #[test]
    fn gating_rules_guard_their_targets() {
        let mut s = state(Duration::ZERO);
        s.add_rule(SafetyRule::Gating {
            arn: rule("gate"),
            gating: vec![rc("gate")],
            target: vec![rc("east"), rc("west")],
            config: RuleConfig {
                kind: RuleKind::Or,
                threshold: 0,
                inverted: false,
            },
            wait_period: Duration::ZERO,
        });
        let now = Instant::now();
        let shift = [(rc("east"), true), (rc("west"), false)];
        assert_eq!(
            s.apply(&shift, &[], now),
            Err(Refusal::Blocked(rule("gate")))
        );
        // Opening the gate in the same batch counts: the batch is judged after the change.
        let mut with_gate = shift.to_vec();
        with_gate.push((rc("gate"), true));
        s.apply(&with_gate, &[], now).unwrap();
        assert!(on(&s, "east"));
    }

    #[test]
    fn the_wait_period_runs_after_a_blocked_change() {
        let mut s = state(Duration::from_secs(5));
        let t0 = Instant::now();
        s.apply(&[(rc("east"), true)], &[], t0).unwrap();
        assert!(matches!(
            s.apply(&[(rc("east"), false)], &[], t0),
            Err(Refusal::Blocked(_))
        ));
        let fine = [(rc("east"), false), (rc("west"), true)];
        assert!(matches!(
            s.apply(&fine, &[], t0 + Duration::from_secs(1)),
            Err(Refusal::Waiting(_, _))
        ));
        s.apply(&fine, &[], t0 + Duration::from_secs(6)).unwrap();
    }

    #[test]
    fn rule_configs_count_as_arc_does() {
        assert!(RuleConfig::at_least(2).holds(2, 3));
        assert!(!RuleConfig::at_least(2).holds(1, 3));
        let and = RuleConfig {
            kind: RuleKind::And,
            threshold: 0,
            inverted: false,
        };
        assert!(and.holds(3, 3) && !and.holds(2, 3));
        let not_or = RuleConfig {
            kind: RuleKind::Or,
            threshold: 0,
            inverted: true,
        };
        assert!(not_or.holds(0, 2) && !not_or.holds(1, 2));
    }
}
