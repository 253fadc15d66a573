//! The deployment plan: every stack, in which Region, in which phase, and how each stack's
//! parameters are wired from literal values, from outputs of stacks of earlier phases, or
//! from what the deploy reads once an earlier phase is done (the ARC cluster's endpoints).

use std::collections::BTreeMap;
use std::fmt;

use topology::manifest::ClusterEndpoint;
use topology::{AppName, Mechanism, Region, Topology};

pub use super::layout::{Group, Layout};
pub use super::names::{RegionRole, StackPrefix};
use super::template::Template;
use super::{app, arc, bootstrap, data, flags, monitoring};

/// A stack: its name in its Region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackId {
    pub region: Region,
    pub name: String,
}

impl fmt::Display for StackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.region)
    }
}

/// What a stack is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackKind {
    Bootstrap,
    /// The ARC resources of one group of apps (the first group's stack also has the cluster).
    Arc(Group),
    /// The `health-check` mechanism's alarms and health checks of one group of apps in one
    /// Region.
    Flags(RegionRole, Group),
    /// The dashboard, and the health checks' alarms (us-east-1), of one group of apps in one
    /// Region.
    Monitoring(Region, Group),
    Data,
    App(AppName, RegionRole),
}

/// Where a stack parameter's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Literal(String),
    /// An output of a stack deployed in an earlier phase.
    Output {
        stack: StackId,
        key: String,
    },
    /// The value the existing stack already has (CloudFormation's `UsePreviousValue`): what a
    /// Region-scoped deploy passes instead of an output of another Region's stack, or of a
    /// value it would have to look up outside its Region.
    Previous,
    /// The ARC cluster's endpoints ([`app::fence_endpoints`]): a new cluster has them only once
    /// the ARC stack is deployed, and only ARC's control plane (DescribeCluster) lists them, so
    /// the deploy reads them after the ARC phase and fills them in
    /// ([`Plan::resolve_cluster_endpoints`]).
    ClusterEndpoints,
    /// With `aws.gateway_only`, the client certificate this Region's gateway presents and the
    /// truststore version this Region's services verify it with: the deploy chooses and writes
    /// them after the bootstrap phase ([`Plan::resolve_gateway_identity`],
    /// [`super::truststore`]).
    GatewayClientCertificate,
    TruststoreVersion,
}

/// One stack to deploy.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub id: StackId,
    pub kind: StackKind,
    pub template: Template,
    pub parameters: Vec<(String, ParamValue)>,
}

impl StackSpec {
    /// The file `infra synth` writes this stack's template to.
    pub fn file_name(&self) -> String {
        format!("{}.{}.template.json", self.id.name, self.id.region)
    }
}

/// The phases of a deploy, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// The artifacts buckets (then the packages are uploaded).
    Bootstrap,
    /// One ARC stack: ARC's control plane takes one change at a time per cluster, so each ARC
    /// stack has a phase of its own (after the last one, the routing controls get their
    /// initial states).
    Arc,
    /// The flags stacks of the `health-check` mechanism, per Region and group of apps.
    Flags,
    /// The global tables.
    Data,
    /// Every app in both Regions.
    Apps,
    /// The dashboards and the health checks' alarms (in two phases when a monitoring stack
    /// takes another's output).
    Monitoring,
}

impl PhaseKind {
    /// The phase's name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Bootstrap => "bootstrap",
            PhaseKind::Arc => "arc",
            PhaseKind::Flags => "flags",
            PhaseKind::Data => "data",
            PhaseKind::Apps => "apps",
            PhaseKind::Monitoring => "monitoring",
        }
    }
}

impl fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Stacks deployed together (concurrently, after one confirmation).
#[derive(Debug, Clone)]
pub struct Phase {
    pub kind: PhaseKind,
    pub stacks: Vec<StackSpec>,
}

/// Values only the deploy knows: the hosted zone and the content-addressed Lambda packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployInputs {
    /// `None`: keep the value the app stacks already have (a Region-scoped deploy does not
    /// look the zone up in Route 53's API).
    pub hosted_zone_id: Option<String>,
    /// Per Region, the account's API Gateway CloudWatch Logs role to reuse (set by someone
    /// else before this deployment); absent: the bootstrap stack creates one.
    pub existing_logging_roles: BTreeMap<Region, String>,
    /// Per service, its package's key in the artifacts buckets.
    pub code_keys: BTreeMap<AppName, String>,
}

impl DeployInputs {
    /// Stand-ins for `infra synth`, which deploys nothing.
    pub fn placeholders(topology: &Topology) -> Self {
        Self {
            hosted_zone_id: Some(
                topology
                    .hosted_zone_id
                    .clone()
                    .unwrap_or_else(|| "<looked up at deploy>".into()),
            ),
            existing_logging_roles: BTreeMap::new(),
            code_keys: topology
                .services()
                .map(|a| {
                    (
                        a.name().clone(),
                        format!("<{}-package, hashed at deploy>", a.name()),
                    )
                })
                .collect(),
        }
    }
}

/// Every stack of the architecture, in deploy order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub phases: Vec<Phase>,
}

impl Plan {
    /// The plan for `topology`.
    pub fn new(topology: &Topology, prefix: &StackPrefix, inputs: &DeployInputs) -> Self {
        let names = StackNames::new(topology, prefix);
        let bootstrap = topology
            .regions
            .both()
            .into_iter()
            .map(|region| StackSpec {
                id: names.bootstrap(region),
                kind: StackKind::Bootstrap,
                template: bootstrap::template(topology, prefix),
                parameters: vec![(
                    bootstrap::PARAM_EXISTING_LOGGING_ROLE.to_owned(),
                    ParamValue::Literal(
                        inputs
                            .existing_logging_roles
                            .get(region)
                            .cloned()
                            .unwrap_or_default(),
                    ),
                )],
            })
            .collect();
        let routing = match topology.failover.mechanism {
            Mechanism::Arc => names
                .layout()
                .groups()
                .map(|group| Phase {
                    kind: PhaseKind::Arc,
                    stacks: vec![arc_stack(topology, prefix, &names, group)],
                })
                .collect(),
            Mechanism::HealthCheck => vec![Phase {
                kind: PhaseKind::Flags,
                stacks: names
                    .layout()
                    .groups()
                    .flat_map(|group| RegionRole::BOTH.into_iter().map(move |role| (group, role)))
                    .map(|(group, role)| {
                        let apps = names.layout().apps(topology, group);
                        StackSpec {
                            id: names.flags(role.of(&topology.regions), group),
                            kind: StackKind::Flags(role, group),
                            template: flags::template(topology, prefix, role, &apps, group),
                            parameters: vec![],
                        }
                    })
                    .collect(),
            }],
        };
        let data = StackSpec {
            id: names.data(),
            kind: StackKind::Data,
            template: data::template(topology, prefix),
            parameters: vec![],
        };
        let mut apps = Vec::new();
        for app_def in &topology.apps {
            for role in RegionRole::BOTH {
                apps.push(app_stack(topology, prefix, &names, inputs, app_def, role));
            }
        }
        let phase = |kind, stacks| Phase { kind, stacks };
        let mut phases = vec![phase(PhaseKind::Bootstrap, bootstrap)];
        phases.extend(routing);
        phases.push(phase(PhaseKind::Data, vec![data]));
        phases.push(phase(PhaseKind::Apps, apps));
        phases.extend(monitoring_phases(topology, prefix, &names));
        Self { phases }
    }

    /// Only the stacks of `region`, for a deploy while the other Region is down: a parameter
    /// that came from another Region's stack keeps the value it already has, and so do the
    /// cluster's endpoints (a Region-scoped deploy does not call ARC's control plane). Phases
    /// left without stacks are dropped.
    pub fn for_region(mut self, topology: &Topology, region: &Region) -> Result<Self, String> {
        if !topology.regions.contains(region) {
            return Err(format!(
                "--region {region} is neither of the topology's Regions ({} and {})",
                topology.regions.primary, topology.regions.secondary
            ));
        }
        for phase in &mut self.phases {
            phase.stacks.retain(|spec| spec.id.region == *region);
            for spec in &mut phase.stacks {
                for (_, value) in &mut spec.parameters {
                    let elsewhere = match value {
                        ParamValue::Output { stack, .. } => stack.region != *region,
                        // Both need the other Region's certificates: a Region-scoped deploy
                        // keeps the ones in use.
                        ParamValue::ClusterEndpoints
                        | ParamValue::GatewayClientCertificate
                        | ParamValue::TruststoreVersion => true,
                        ParamValue::Literal(_) | ParamValue::Previous => false,
                    };
                    if elsewhere {
                        *value = ParamValue::Previous;
                    }
                }
            }
        }
        self.phases.retain(|phase| !phase.stacks.is_empty());
        Ok(self)
    }

    /// Fills in the ARC cluster's endpoints wherever a stack takes them, once the deploy has
    /// read them (after the ARC phase).
    pub fn resolve_cluster_endpoints(&mut self, endpoints: &[ClusterEndpoint]) {
        let value = app::fence_endpoints(endpoints);
        for spec in self.phases.iter_mut().flat_map(|p| &mut p.stacks) {
            for (_, param) in &mut spec.parameters {
                if *param == ParamValue::ClusterEndpoints {
                    *param = ParamValue::Literal(value.clone());
                }
            }
        }
    }

    /// Fills in, for the app stacks of `region`, the gateway's client certificate and the
    /// truststore's version, once the deploy has chosen and written them.
    pub fn resolve_gateway_identity(
        &mut self,
        region: &Region,
        certificate_id: &str,
        truststore_version: &str,
    ) {
        for spec in self
            .phases
            .iter_mut()
            .flat_map(|p| &mut p.stacks)
            .filter(|s| s.id.region == *region)
        {
            for (_, param) in &mut spec.parameters {
                match param {
                    ParamValue::GatewayClientCertificate => {
                        *param = ParamValue::Literal(certificate_id.to_owned());
                    }
                    ParamValue::TruststoreVersion => {
                        *param = ParamValue::Literal(truststore_version.to_owned());
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every stack, in deploy order.
    pub fn stacks(&self) -> impl Iterator<Item = &StackSpec> {
        self.phases.iter().flat_map(|p| &p.stacks)
    }

    /// Refuses, before any AWS call, a stack CloudFormation would refuse: a template over
    /// 1 MB (those over the inline limit go through the artifacts bucket), over 500 resources,
    /// 200 parameters or 200 outputs, or a dashboard over 500 widgets.
    pub fn check_limits(&self) -> Result<(), String> {
        for spec in self.stacks() {
            spec.template
                .check_limits()
                .map_err(|over| format!("stack {}: {over}", spec.id))?;
        }
        Ok(())
    }

    /// The first phase of this kind.
    pub fn phase(&self, kind: PhaseKind) -> Option<&Phase> {
        self.phases.iter().find(|p| p.kind == kind)
    }

    /// Whether phase `index` is the first of a run of phases of its kind (as the ARC stacks'
    /// phases are).
    pub fn opens_kind(&self, index: usize) -> bool {
        index == 0 || self.phases.get(index - 1).map(|p| p.kind) != self.kind_at(index)
    }

    /// Whether phase `index` is the last of a run of phases of its kind.
    pub fn closes_kind(&self, index: usize) -> bool {
        self.phases.get(index + 1).map(|p| p.kind) != self.kind_at(index)
    }

    fn kind_at(&self, index: usize) -> Option<PhaseKind> {
        self.phases.get(index).map(|p| p.kind)
    }
}

fn app_stack(
    topology: &Topology,
    prefix: &StackPrefix,
    names: &StackNames,
    inputs: &DeployInputs,
    app_def: &topology::App,
    role: RegionRole,
) -> StackSpec {
    let region = role.of(&topology.regions);
    let literal = |v: &str| ParamValue::Literal(v.to_owned());
    let output = |stack: StackId, key: String| ParamValue::Output { stack, key };
    let hosted_zone = match &inputs.hosted_zone_id {
        Some(id) => literal(id),
        None => ParamValue::Previous,
    };
    // The health check of this Region's record: in the ARC stack, or in the other Region's
    // flags stack, which holds the flag that takes this Region out.
    let health_check = health_check_output(topology, names, app_def, role);
    let mut parameters = vec![
        (app::PARAM_HOSTED_ZONE.to_owned(), hosted_zone),
        (app::PARAM_HEALTH_CHECK.to_owned(), health_check),
        (
            monitoring::PARAM_ALARM_TOPIC.to_owned(),
            output(
                names.bootstrap(region),
                monitoring::OUTPUT_ALARM_TOPIC.to_owned(),
            ),
        ),
    ];
    if topology.aws.gateway_only {
        parameters.push(match app_def {
            topology::App::Gateway(_) => (
                app::PARAM_CLIENT_CERTIFICATE.to_owned(),
                ParamValue::GatewayClientCertificate,
            ),
            topology::App::Service(_) => (
                app::PARAM_TRUSTSTORE_VERSION.to_owned(),
                ParamValue::TruststoreVersion,
            ),
        });
    }
    if let Some(service) = app_def.as_service() {
        let key = inputs
            .code_keys
            .get(app_def.name())
            .cloned()
            .unwrap_or_default();
        parameters.extend([
            (
                app::PARAM_BUCKET.to_owned(),
                output(
                    names.bootstrap(region),
                    bootstrap::OUTPUT_ARTIFACTS_BUCKET.to_owned(),
                ),
            ),
            (app::PARAM_CODE_KEY.to_owned(), ParamValue::Literal(key)),
        ]);
        // The table's name is deterministic, so neither Region's app stack depends on the
        // data stack's Region being reachable.
        {
            let table = service.table();
            parameters.push((
                app::PARAM_TABLE.to_owned(),
                literal(&data::table_name(prefix, table)),
            ));
        }
        if service.fence_writes() && topology.failover.mechanism == Mechanism::Arc {
            parameters.extend([
                (
                    app::PARAM_ROUTING_CONTROL.to_owned(),
                    output(
                        names.arc_of(app_def.name()),
                        arc::output_routing_control(app_def, role),
                    ),
                ),
                (
                    app::PARAM_CLUSTER_ENDPOINTS.to_owned(),
                    ParamValue::ClusterEndpoints,
                ),
            ]);
        }
    }
    StackSpec {
        id: names.app(app_def.name(), region),
        kind: StackKind::App(app_def.name().clone(), role),
        template: app::template(topology, prefix, app_def, role),
        parameters,
    }
}

/// The output that holds the id of `app`'s health check in `role`: the ARC stack's, or the
/// other Region's flags stack's.
fn health_check_output(
    topology: &Topology,
    names: &StackNames,
    app_def: &topology::App,
    role: RegionRole,
) -> ParamValue {
    let (stack, key) = match topology.failover.mechanism {
        Mechanism::Arc => (
            names.arc_of(app_def.name()),
            arc::output_health_check(app_def, role),
        ),
        Mechanism::HealthCheck => (
            names.flags_of(flags::other(role).of(&topology.regions), app_def.name()),
            flags::output_health_check(app_def, role),
        ),
    };
    ParamValue::Output { stack, key }
}

/// The ARC stack of `group`: the first creates the cluster (unless the topology names one),
/// the others take its ARN from the first one's output.
fn arc_stack(
    topology: &Topology,
    prefix: &StackPrefix,
    names: &StackNames,
    group: Group,
) -> StackSpec {
    let mut parameters = Vec::new();
    if !group.is_first() && topology.arc.existing_cluster_arn.is_none() {
        parameters.push((
            arc::PARAM_CLUSTER_ARN.to_owned(),
            ParamValue::Output {
                stack: names.arc(),
                key: arc::OUTPUT_CLUSTER_ARN.to_owned(),
            },
        ));
    }
    StackSpec {
        id: names.arc_group(group),
        kind: StackKind::Arc(group),
        template: arc::template(topology, prefix, names.layout(), group),
        parameters,
    }
}

/// The monitoring stacks, per Region and group; those that take an output of another
/// monitoring stack (a later group's in us-east-1 when it is neither Region, which notifies
/// the first group's topic) in a second phase.
fn monitoring_phases(topology: &Topology, prefix: &StackPrefix, names: &StackNames) -> Vec<Phase> {
    let stacks: Vec<StackSpec> = monitoring::regions(topology)
        .iter()
        .flat_map(|region| {
            names
                .layout()
                .groups()
                .map(move |group| monitoring_stack(topology, prefix, names, region, group))
        })
        .collect();
    let ids: Vec<StackId> = stacks.iter().map(|s| s.id.clone()).collect();
    let (later, first): (Vec<StackSpec>, Vec<StackSpec>) = stacks.into_iter().partition(|spec| {
        spec.parameters
            .iter()
            .any(|(_, v)| matches!(v, ParamValue::Output { stack, .. } if ids.contains(stack)))
    });
    [first, later]
        .into_iter()
        .filter(|stacks| !stacks.is_empty())
        .map(|stacks| Phase {
            kind: PhaseKind::Monitoring,
            stacks,
        })
        .collect()
}

fn monitoring_stack(
    topology: &Topology,
    prefix: &StackPrefix,
    names: &StackNames,
    region: &Region,
    group: Group,
) -> StackSpec {
    let apps = names.layout().apps(topology, group);
    let mut parameters = Vec::new();
    for app_def in &apps {
        for role in RegionRole::BOTH {
            parameters.push((
                monitoring::param_health_check(app_def, role),
                health_check_output(topology, names, app_def, role),
            ));
        }
    }
    let topic = match monitoring::alarm_topic_of(topology, region, group) {
        monitoring::TopicSource::Bootstrap => Some(names.bootstrap(region)),
        monitoring::TopicSource::FirstMonitoringStack => {
            Some(names.monitoring(region, Group::FIRST))
        }
        monitoring::TopicSource::NoAlarms | monitoring::TopicSource::Own => None,
    };
    if let Some(stack) = topic {
        parameters.push((
            monitoring::PARAM_ALARM_TOPIC.to_owned(),
            ParamValue::Output {
                stack,
                key: monitoring::OUTPUT_ALARM_TOPIC.to_owned(),
            },
        ));
    }
    StackSpec {
        id: names.monitoring(region, group),
        kind: StackKind::Monitoring(region.clone(), group),
        template: monitoring::template(topology, prefix, region, &apps, group),
        parameters,
    }
}

/// The stacks' names and Regions, and which group's stacks hold each app.
#[derive(Debug, Clone)]
pub struct StackNames {
    prefix: StackPrefix,
    primary: Region,
    arc_region: Region,
    layout: Layout,
}

impl StackNames {
    /// The names for `topology` under `prefix`.
    pub fn new(topology: &Topology, prefix: &StackPrefix) -> Self {
        Self {
            prefix: prefix.clone(),
            primary: topology.regions.primary.clone(),
            arc_region: arc::CONTROL_PLANE_REGION
                .parse()
                .expect("a constant Region name is valid"),
            layout: Layout::new(topology),
        }
    }

    /// The stack prefix.
    pub fn prefix(&self) -> &StackPrefix {
        &self.prefix
    }

    /// The groups of apps the ARC, flags and monitoring stacks hold.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The bootstrap stack of `region`.
    pub fn bootstrap(&self, region: &Region) -> StackId {
        self.id(region, "bootstrap")
    }

    /// The first ARC stack (ARC's control-plane Region): the one with the cluster.
    pub fn arc(&self) -> StackId {
        self.arc_group(Group::FIRST)
    }

    /// The ARC stack of `group`.
    pub fn arc_group(&self, group: Group) -> StackId {
        self.id(&self.arc_region.clone(), &format!("arc{}", group.suffix()))
    }

    /// The ARC stack that holds `app`'s resources.
    pub fn arc_of(&self, app: &AppName) -> StackId {
        self.arc_group(self.layout.group_of(app))
    }

    /// The flags stack of `group` in `region` (`health-check` mechanism).
    pub fn flags(&self, region: &Region, group: Group) -> StackId {
        self.id(region, &format!("flags{}", group.suffix()))
    }

    /// The flags stack in `region` that holds `app`'s flag (`health-check` mechanism).
    pub fn flags_of(&self, region: &Region, app: &AppName) -> StackId {
        self.flags(region, self.layout.group_of(app))
    }

    /// The monitoring stack of `group` in `region`.
    pub fn monitoring(&self, region: &Region, group: Group) -> StackId {
        self.id(region, &format!("monitoring{}", group.suffix()))
    }

    /// The data stack (primary Region).
    pub fn data(&self) -> StackId {
        self.id(&self.primary.clone(), "data")
    }

    /// The stack of `app` in `region`.
    pub fn app(&self, app: &AppName, region: &Region) -> StackId {
        self.id(region, &format!("app-{app}"))
    }

    fn id(&self, region: &Region, suffix: &str) -> StackId {
        StackId {
            region: region.clone(),
            name: format!("{}-{suffix}", self.prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_prefixes_are_checked() {
        assert!("multi-region-api".parse::<StackPrefix>().is_ok());
        assert!("shop2".parse::<StackPrefix>().is_ok());
        for bad in ["", "Shop", "2shop", "shop-", "shop_api", &"x".repeat(41)] {
            let err = bad.parse::<StackPrefix>().unwrap_err();
            assert!(err.contains("stack prefix"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_stack_over_a_cloudformation_limit_is_refused_before_deploying() {
        let plan = |text: &str| {
            let topology = Topology::parse(text).unwrap();
            Plan::new(
                &topology,
                &StackPrefix::default(),
                &DeployInputs::placeholders(&topology),
            )
        };
        assert_eq!(plan(testkit::SCALE_FIXTURE_TOPOLOGY).check_limits(), Ok(()));
        // 201 more services, in health-check mode with a raised health-check quota: the data
        // stack's outputs (a table name per service) are over the limit.
        let mut text = testkit::FIXTURE_TOPOLOGY.replace(
            "[arc]\n",
            "[failover]\nmechanism = \"health-check\"\n[aws]\nroute53_health_check_quota = 1000\n[arc]\n",
        );
        for i in 0..201 {
            text.push_str(&format!(
                "\n[[apps]]\nname = \"extra{i}\"\nkind = \"service\"\n[apps.table]\nname = \"extra{i}\"\n"
            ));
        }
        let err = plan(&text).check_limits().unwrap_err();
        assert!(
            err.contains("stack multi-region-api-data (us-east-1): 204 outputs, over CloudFormation's limit of 200"),
            "{err}"
        );
    }

    fn parameter<'p>(
        plan: &'p Plan,
        app: &str,
        region: &Region,
        key: &str,
    ) -> Option<&'p ParamValue> {
        let spec = plan
            .stacks()
            .find(|s| {
                matches!(&s.kind, StackKind::App(a, _) if a.as_str() == app)
                    && s.id.region == *region
            })
            .expect("the app's stack in that Region");
        spec.parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    #[test]
    fn a_fenced_service_takes_its_own_regions_routing_control_and_the_endpoints_read_at_deploy() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let prefix = StackPrefix::default();
        let inputs = DeployInputs::placeholders(&topology);
        let names = StackNames::new(&topology, &prefix);
        let payments = topology.app(&"payments".parse().unwrap()).unwrap();
        let mut plan = Plan::new(&topology, &prefix, &inputs);
        for role in RegionRole::BOTH {
            let region = role.of(&topology.regions);
            assert_eq!(
                parameter(&plan, "payments", region, app::PARAM_ROUTING_CONTROL),
                Some(&ParamValue::Output {
                    stack: names.arc_of(payments.name()),
                    key: arc::output_routing_control(payments, role),
                }),
                "{region}"
            );
            assert_eq!(
                parameter(&plan, "payments", region, app::PARAM_CLUSTER_ENDPOINTS),
                Some(&ParamValue::ClusterEndpoints)
            );
            for unfenced in ["orders", "users", "api"] {
                for key in [app::PARAM_ROUTING_CONTROL, app::PARAM_CLUSTER_ENDPOINTS] {
                    assert_eq!(parameter(&plan, unfenced, region, key), None, "{unfenced}");
                }
            }
        }

        // The deploy fills the endpoints in after the ARC phase, as the instances read them.
        let endpoints: Vec<ClusterEndpoint> = [
            ("us-east-1", "https://h1.example/v1"),
            ("eu-west-1", "https://h2.example/v1"),
        ]
        .iter()
        .map(|(region, url)| ClusterEndpoint {
            region: region.parse().unwrap(),
            url: (*url).into(),
        })
        .collect();
        plan.resolve_cluster_endpoints(&endpoints);
        let east = &topology.regions.primary;
        assert_eq!(
            parameter(&plan, "payments", east, app::PARAM_CLUSTER_ENDPOINTS),
            Some(&ParamValue::Literal(
                "us-east-1=https://h1.example/v1,eu-west-1=https://h2.example/v1".into()
            ))
        );
        assert!(
            plan.stacks()
                .flat_map(|s| &s.parameters)
                .all(|(_, v)| *v != ParamValue::ClusterEndpoints)
        );

        // A Region-scoped deploy calls no control plane: the endpoints keep their value, and
        // so does the control's ARN where the ARC stack is in the other Region.
        for (region, control) in [
            (east, ParamValue::Previous),
            (
                &topology.regions.secondary,
                ParamValue::Output {
                    stack: names.arc_of(payments.name()),
                    key: arc::output_routing_control(payments, RegionRole::Secondary),
                },
            ),
        ] {
            let scoped = Plan::new(&topology, &prefix, &inputs)
                .for_region(&topology, region)
                .unwrap();
            assert_eq!(
                parameter(&scoped, "payments", region, app::PARAM_ROUTING_CONTROL),
                Some(&control),
                "{region}"
            );
            assert_eq!(
                parameter(&scoped, "payments", region, app::PARAM_CLUSTER_ENDPOINTS),
                Some(&ParamValue::Previous),
                "{region}"
            );
        }
    }

    #[test]
    fn the_plan_deploys_in_five_phases_across_three_regions() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let plan = Plan::new(
            &topology,
            &StackPrefix::default(),
            &DeployInputs::placeholders(&topology),
        );
        let phases: Vec<(&str, usize)> = plan
            .phases
            .iter()
            .map(|p| (p.kind.name(), p.stacks.len()))
            .collect();
        assert_eq!(
            phases,
            [
                ("bootstrap", 2),
                ("arc", 1),
                ("data", 1),
                ("apps", 8),
                ("monitoring", 2)
            ]
        );
        let arc = &plan.phase(PhaseKind::Arc).unwrap().stacks[0].id;
        assert_eq!(
            (arc.name.as_str(), arc.region.as_str()),
            ("multi-region-api-arc", "us-west-2")
        );
        let data = &plan.phase(PhaseKind::Data).unwrap().stacks[0].id;
        assert_eq!(data.region, topology.regions.primary);
        // Parameters only ever come from outputs of earlier phases.
        let mut earlier: Vec<&StackId> = Vec::new();
        for phase in &plan.phases {
            for spec in &phase.stacks {
                for (_, value) in &spec.parameters {
                    if let ParamValue::Output { stack, .. } = value {
                        assert!(
                            earlier.contains(&stack),
                            "{} reads {stack} too early",
                            spec.id
                        );
                    }
                }
            }
            earlier.extend(phase.stacks.iter().map(|s| &s.id));
        }
    }
}
