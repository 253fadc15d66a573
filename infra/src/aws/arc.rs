//! The ARC stacks, in ARC's control-plane Region (us-west-2), one per group of apps
//! ([`super::layout`]): the first creates the cluster (unless an existing one is reused), the
//! others take it as a parameter; each holds its apps' control panels (an app's own, or one it
//! shares with others) and per app one routing control per Region, the safety rule (at least
//! one of the two ON) and the `RECOVERY_CONTROL` health checks that bind the failover records to
//! the routing controls.
//!
//! ARC's control-plane API answers 409 (ConflictException) to concurrent changes in one
//! cluster, and CloudFormation's ARC resource handlers do not retry it: they fail the resource
//! as if it already existed. So the ARC resources (control panels, routing controls, safety
//! rules) are created one at a time, in one `DependsOn` chain (and deleted in its reverse), and
//! the ARC stacks are deployed one after another (a phase each).

use serde_json::{Map, Value, json};
use topology::{App, ControlPanel, PanelId, Region, Topology};

use super::layout::{Group, Layout};
use super::names::{RegionRole, StackPrefix};
use super::template::{Template, pascal, reference};

/// The Region of ARC's control-plane API, where the ARC stack is deployed.
pub const CONTROL_PLANE_REGION: &str = "us-west-2";

/// Output of the first ARC stack: the cluster's ARN (created there, or the existing one).
pub const OUTPUT_CLUSTER_ARN: &str = "ClusterArn";

/// Parameter of the later ARC stacks of a new cluster: its ARN, from the first ARC stack.
pub const PARAM_CLUSTER_ARN: &str = "ClusterArn";

/// Output key of an app's control panel ARN.
pub fn output_control_panel(app: &App) -> String {
    format!("{}ControlPanelArn", pascal(app.name().as_str()))
}

/// Output key of an app's safety rule ARN.
pub fn output_safety_rule(app: &App) -> String {
    format!("{}SafetyRuleArn", pascal(app.name().as_str()))
}

/// Output key of an app's routing control ARN in one Region.
pub fn output_routing_control(app: &App, role: RegionRole) -> String {
    format!(
        "{}{}RoutingControlArn",
        pascal(app.name().as_str()),
        role.pascal()
    )
}

/// Output key of the health check bound to an app's routing control in one Region.
pub fn output_health_check(app: &App, role: RegionRole) -> String {
    format!(
        "{}{}HealthCheckId",
        pascal(app.name().as_str()),
        role.pascal()
    )
}

/// ARC's limit on the names of clusters, control panels, routing controls and safety rules.
pub const MAX_NAME_LEN: usize = 64;

/// The cluster's name.
fn cluster_name(prefix: &StackPrefix) -> String {
    prefix.to_string()
}

/// The name of a control panel: `<prefix>-<app>` for an app's own, `<prefix>-<panel>` for a
/// shared one.
fn control_panel_name(prefix: &StackPrefix, panel: &PanelId) -> String {
    format!("{prefix}-{panel}")
}

/// The logical id of a control panel: an app's own keeps the id of a deployment before shared
/// panels (`OrdersControlPanel`), so that its panel is not replaced.
fn control_panel_id(panel: &PanelId) -> String {
    match panel {
        PanelId::Own(app) => format!("{}ControlPanel", pascal(app.as_str())),
        PanelId::Shared(name) => format!("SharedPanel{}", pascal(name.as_str())),
    }
}

/// The name of an app's routing control in `region`.
fn routing_control_name(prefix: &StackPrefix, app: &App, region: &Region) -> String {
    format!("{prefix}-{}-{region}", app.name())
}

/// The name of an app's safety rule.
fn safety_rule_name(prefix: &StackPrefix, app: &App) -> String {
    format!("{prefix}-{}-at-least-one-on", app.name())
}

/// Refuses, before any AWS call, a name ARC would refuse (over [`MAX_NAME_LEN`]): CloudFormation
/// would roll the ARC stack back, cluster included, only after creating part of it.
pub fn check_names(topology: &Topology, prefix: &StackPrefix) -> Result<(), String> {
    if topology.failover.mechanism != topology::Mechanism::Arc {
        return Ok(());
    }
    let mut names = Vec::new();
    if topology.arc.existing_cluster_arn.is_none() {
        names.push(("the ARC cluster".to_owned(), cluster_name(prefix)));
    }
    for panel in topology.control_panels() {
        let what = match &panel.id {
            PanelId::Own(app) => format!("the control panel of `{app}`"),
            PanelId::Shared(name) => format!("the shared control panel `{name}`"),
        };
        names.push((what, control_panel_name(prefix, &panel.id)));
    }
    for app in &topology.apps {
        for region in topology.regions.both() {
            names.push((
                format!("the routing control of `{}` in {region}", app.name()),
                routing_control_name(prefix, app, region),
            ));
        }
        names.push((
            format!("the safety rule of `{}`", app.name()),
            safety_rule_name(prefix, app),
        ));
    }
    match names.iter().find(|(_, name)| name.len() > MAX_NAME_LEN) {
        None => Ok(()),
        Some((what, name)) => Err(format!(
            "the name of {what}, `{name}`, is {} characters, over ARC's limit of {MAX_NAME_LEN}; \
             use a shorter --stack-prefix or app name",
            name.len()
        )),
    }
}

/// The ARC template of `group`'s apps.
pub fn template(
    topology: &Topology,
    prefix: &StackPrefix,
    layout: &Layout,
    group: Group,
) -> Template {
    let panels = layout.panels(topology, group);
    let mut t = Template::new(description(group, &panels));
    let cluster = match (&topology.arc.existing_cluster_arn, group.is_first()) {
        (Some(arn), _) => Value::String(arn.clone()),
        (None, true) => {
            t.resource(
                "Cluster",
                "AWS::Route53RecoveryControl::Cluster",
                json!({ "Name": cluster_name(prefix) }),
            );
            reference("Cluster")
        }
        (None, false) => {
            t.parameter(
                PARAM_CLUSTER_ARN,
                "The ARC cluster, created by the first ARC stack",
                None,
            );
            reference(PARAM_CLUSTER_ARN)
        }
    };
    let mut last = None;
    for panel in &panels {
        panel_controls(&mut t, topology, prefix, panel, &cluster, &mut last);
    }
    if group.is_first() {
        t.output(
            OUTPUT_CLUSTER_ARN,
            "The ARC cluster whose endpoints take the routing-control updates",
            cluster,
        );
    }
    t
}

fn description(group: Group, panels: &[ControlPanel<'_>]) -> String {
    let shared = panels.iter().any(|p| matches!(p.id, PanelId::Shared(_)));
    match (group.is_first(), shared) {
        (true, false) => "ARC: the cluster, and per app a control panel, two routing controls, a \
                          safety rule and the RECOVERY_CONTROL health checks"
            .to_owned(),
        (true, true) => "ARC: the cluster, the apps' control panels (shared or their own), and \
                         per app two routing controls, a safety rule and the RECOVERY_CONTROL \
                         health checks"
            .to_owned(),
        (false, _) => format!(
            "ARC, {group} of the apps: their control panels (shared or their own), and per app \
             two routing controls, a safety rule and the RECOVERY_CONTROL health checks, in the \
             first ARC stack's cluster"
        ),
    }
}

/// A control panel, then each of its apps' controls and rule, in the chain.
fn panel_controls(
    t: &mut Template,
    topology: &Topology,
    prefix: &StackPrefix,
    panel: &ControlPanel<'_>,
    cluster: &Value,
    last: &mut Option<String>,
) {
    let panel_id = control_panel_id(&panel.id);
    let resource = t.resource(
        &panel_id,
        "AWS::Route53RecoveryControl::ControlPanel",
        json!({ "Name": control_panel_name(prefix, &panel.id), "ClusterArn": cluster }),
    );
    one_at_a_time(resource, &panel_id, last);
    for app in &panel.apps {
        app_controls(t, topology, prefix, app, &panel_id, cluster, last);
    }
}

fn app_controls(
    t: &mut Template,
    topology: &Topology,
    prefix: &StackPrefix,
    app: &App,
    panel: &str,
    cluster: &Value,
    last: &mut Option<String>,
) {
    let id = pascal(app.name().as_str());
    let mut controls = Vec::new();
    for role in RegionRole::BOTH {
        let region = role.of(&topology.regions);
        let control = format!("{id}{}RoutingControl", role.pascal());
        let resource = t.resource(
            &control,
            "AWS::Route53RecoveryControl::RoutingControl",
            json!({
                "Name": routing_control_name(prefix, app, region),
                "ClusterArn": cluster,
                "ControlPanelArn": reference(panel),
            }),
        );
        one_at_a_time(resource, &control, last);
        health_check(t, prefix, app, role, region, &control);
        t.output(
            &output_routing_control(app, role),
            &format!("Routing control of {} in {region}", app.name()),
            reference(&control),
        );
        controls.push(reference(&control));
    }
    let rule = format!("{id}SafetyRule");
    let resource = t.resource(
        &rule,
        "AWS::Route53RecoveryControl::SafetyRule",
        json!({
            "Name": safety_rule_name(prefix, app),
            "ControlPanelArn": reference(panel),
            "AssertionRule": {
                "AssertedControls": controls,
                "WaitPeriodMs": topology.arc.safety_rule_wait_period_ms,
            },
            // Never both OFF: that would take the app out of DNS in both Regions.
            "RuleConfig": { "Type": "ATLEAST", "Threshold": 1, "Inverted": false },
        }),
    );
    one_at_a_time(resource, &rule, last);
    t.output(
        &output_control_panel(app),
        &format!("Control panel of {}", app.name()),
        reference(panel),
    );
    t.output(
        &output_safety_rule(app),
        &format!("Safety rule of {}: at least one Region ON", app.name()),
        reference(&rule),
    );
}

/// Makes the ARC resource `id` wait for the one created before it (`last`), with `DependsOn`
/// unless it already refers to it, and makes it the last one.
fn one_at_a_time(resource: &mut Map<String, Value>, id: &str, last: &mut Option<String>) {
    if let Some(previous) = last.as_deref() {
        let refers = resource["Properties"]
            .to_string()
            .contains(&reference(previous).to_string());
        if !refers {
            resource.insert("DependsOn".into(), previous.into());
        }
    }
    *last = Some(id.to_owned());
}

fn health_check(
    t: &mut Template,
    prefix: &StackPrefix,
    app: &App,
    role: RegionRole,
    region: &Region,
    control: &str,
) {
    let check = format!(
        "{}{}HealthCheck",
        pascal(app.name().as_str()),
        role.pascal()
    );
    t.resource(
        &check,
        "AWS::Route53::HealthCheck",
        json!({
            "HealthCheckConfig": { "Type": "RECOVERY_CONTROL", "RoutingControlArn": reference(control) },
            "HealthCheckTags": [ { "Key": "Name", "Value": format!("{prefix}-{}-{region}", app.name()) } ],
        }),
    );
    t.output(
        &output_health_check(app, role),
        &format!(
            "Health check of {} in {region}, bound to its routing control",
            app.name()
        ),
        reference(&check),
    );
}
