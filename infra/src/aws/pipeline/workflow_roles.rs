//! The roles GitHub's workflows assume: the deploy role, made of exactly the calls
//! `infra deploy` makes ([`DEPLOY_CALLS`]), and the read-only status role.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use topology::Topology;

use super::MANIFEST_KEY;
use super::scope::Scope;
use crate::aws::plan::{PhaseKind, Plan, StackKind};
use crate::aws::template::{get_att, sub};

/// One AWS call `infra deploy` makes, and the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeployCall {
    /// The file that makes it, from the workspace root.
    pub source: &'static str,
    /// The SDK method (`create_change_set`).
    pub method: &'static str,
    /// The IAM action (`cloudformation:CreateChangeSet`).
    pub action: &'static str,
    /// The deploy role's statement that grants it.
    pub grant: DeployGrant,
}

/// The deploy role's statements, one per kind of resource it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeployGrant {
    /// This deployment's stacks and their change sets.
    Stacks,
    /// The Lambda packages, the templates over the inline limit and the manifest in the
    /// artifacts buckets.
    Artifacts,
    /// The hosted zone, by its id.
    HostedZone,
    /// Finding the zone by name: Route 53 scopes that to no resource.
    HostedZoneLookup,
    /// The ARC cluster's endpoints (control plane).
    ClusterEndpoints,
    /// The routing controls' initial states (data plane).
    RoutingControls,
    /// Listing routing controls: ARC scopes that to no resource.
    RoutingControlListing,
    /// Counting the account's ARC clusters against the quota: no resource scope.
    ClusterCount,
    /// Reading API Gateway's account settings (its CloudWatch Logs role) in each Region.
    ApiGatewayAccount,
    /// Listing, and generating when there is none, the gateway's client certificates; reading
    /// the services' domains for truststore warnings.
    ClientCertificates,
    /// Finding tables of this deployment's names that an earlier destroy kept.
    KeptTables,
}

/// Every AWS call `infra deploy` makes (a test reads these files and fails on a call missing
/// here), and the upload of the manifest by the deploy workflow.
pub const DEPLOY_CALLS: &[DeployCall] = &[
    call(
        CFN,
        "create_change_set",
        "cloudformation:CreateChangeSet",
        DeployGrant::Stacks,
    ),
    call(
        CFN,
        "describe_change_set",
        "cloudformation:DescribeChangeSet",
        DeployGrant::Stacks,
    ),
    call(
        CFN,
        "execute_change_set",
        "cloudformation:ExecuteChangeSet",
        DeployGrant::Stacks,
    ),
    call(
        CFN,
        "delete_change_set",
        "cloudformation:DeleteChangeSet",
        DeployGrant::Stacks,
    ),
    call(
        CFN,
        "describe_stacks",
        "cloudformation:DescribeStacks",
        DeployGrant::Stacks,
    ),
    call(
        CFN,
        "describe_stack_events",
        "cloudformation:DescribeStackEvents",
        DeployGrant::Stacks,
    ),
    // HeadObject needs s3:GetObject.
    call(
        PACKAGE,
        "head_object",
        "s3:GetObject",
        DeployGrant::Artifacts,
    ),
    call(
        PACKAGE,
        "put_object",
        "s3:PutObject",
        DeployGrant::Artifacts,
    ),
    call(
        DEPLOY,
        "get_hosted_zone",
        "route53:GetHostedZone",
        DeployGrant::HostedZone,
    ),
    call(
        DEPLOY,
        "list_hosted_zones_by_name",
        "route53:ListHostedZonesByName",
        DeployGrant::HostedZoneLookup,
    ),
    call(
        DEPLOY,
        "describe_cluster",
        "route53-recovery-control-config:DescribeCluster",
        DeployGrant::ClusterEndpoints,
    ),
    call(
        GUARDRAILS,
        "list_clusters",
        "route53-recovery-control-config:ListClusters",
        DeployGrant::ClusterCount,
    ),
    call(
        GUARDRAILS,
        "get_account",
        "apigateway:GET",
        DeployGrant::ApiGatewayAccount,
    ),
    call(
        GUARDRAILS,
        "describe_table",
        "dynamodb:DescribeTable",
        DeployGrant::KeptTables,
    ),
    call(
        TRUSTSTORE,
        "get_client_certificates",
        "apigateway:GET",
        DeployGrant::ClientCertificates,
    ),
    call(
        TRUSTSTORE,
        "generate_client_certificate",
        "apigateway:POST",
        DeployGrant::ClientCertificates,
    ),
    call(
        TRUSTSTORE,
        "get_domain_name",
        "apigateway:GET",
        DeployGrant::ClientCertificates,
    ),
    call(
        TRUSTSTORE,
        "get_object",
        "s3:GetObject",
        DeployGrant::Artifacts,
    ),
    call(
        TRUSTSTORE,
        "head_object",
        "s3:GetObject",
        DeployGrant::Artifacts,
    ),
    call(
        TRUSTSTORE,
        "put_object",
        "s3:PutObject",
        DeployGrant::Artifacts,
    ),
    call(
        FAILOVER_CLIENT,
        "get_routing_control_state",
        "route53-recovery-cluster:GetRoutingControlState",
        DeployGrant::RoutingControls,
    ),
    call(
        FAILOVER_CLIENT,
        "update_routing_control_states",
        "route53-recovery-cluster:UpdateRoutingControlStates",
        DeployGrant::RoutingControls,
    ),
    call(
        FAILOVER_CLIENT,
        "list_routing_controls",
        "route53-recovery-cluster:ListRoutingControls",
        DeployGrant::RoutingControlListing,
    ),
];

/// Calls in the files of [`DEPLOY_CALLS`] that `infra deploy` does not make, and why.
pub const NOT_DEPLOY_CALLS: &[(&str, &str)] = &[
    (
        "delete_stack",
        "infra destroy only: the pipeline never destroys",
    ),
    (
        "list_object_versions",
        "infra destroy only (emptying the buckets)",
    ),
    (
        "delete_objects",
        "infra destroy only (emptying the buckets)",
    ),
    (
        "delete_client_certificate",
        "infra destroy only (the gateway's client certificates)",
    ),
    (
        "update_routing_control_state",
        "failover's single-control update; the deploy sets states in one batch",
    ),
];

const CFN: &str = "infra/src/aws/cfn/mod.rs";
const DEPLOY: &str = "infra/src/aws/deploy.rs";
const PACKAGE: &str = "infra/src/aws/package.rs";
const FAILOVER_CLIENT: &str = "failover/src/client/mod.rs";
const GUARDRAILS: &str = "infra/src/aws/guardrails.rs";
const TRUSTSTORE: &str = "infra/src/aws/truststore.rs";

const fn call(
    source: &'static str,
    method: &'static str,
    action: &'static str,
    grant: DeployGrant,
) -> DeployCall {
    DeployCall {
        source,
        method,
        action,
        grant,
    }
}

/// The deploy role's statements: [`DEPLOY_CALLS`] grouped by [`DeployGrant`], each on its
/// resources; the ARC calls only when the plan has an ARC stack.
pub(super) fn deploy_statements(plan: &Plan, scope: &Scope) -> Vec<Value> {
    let uses_arc = plan.phase(PhaseKind::Arc).is_some();
    let groups: BTreeSet<DeployGrant> = DEPLOY_CALLS.iter().map(|c| c.grant).collect();
    let mut statements: Vec<Value> = groups
        .into_iter()
        .filter(|g| uses_arc || !g.is_arc())
        .map(|group| {
            let mut actions: Vec<&str> = DEPLOY_CALLS
                .iter()
                .filter(|c| c.grant == group)
                .map(|c| c.action)
                .collect();
            if group == DeployGrant::HostedZoneLookup {
                // CloudFormation checks an `AWS::Route53::HostedZone::Id` parameter with the
                // caller's rights.
                actions.push("route53:ListHostedZones");
            }
            actions.sort_unstable();
            actions.dedup();
            json!({
                "Sid": group.sid(),
                "Effect": "Allow",
                "Action": actions,
                "Resource": group.resources(plan, scope),
            })
        })
        .collect();
    statements.push(json!({
        "Sid": "PassOnlyTheExecutionRoleToCloudFormation",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": get_att("ExecutionRole", "Arn"),
        "Condition": { "StringEquals": { "iam:PassedToService": "cloudformation.amazonaws.com" } }
    }));
    statements
}

impl DeployGrant {
    fn is_arc(self) -> bool {
        matches!(
            self,
            DeployGrant::ClusterEndpoints
                | DeployGrant::RoutingControls
                | DeployGrant::RoutingControlListing
                | DeployGrant::ClusterCount
        )
    }

    fn sid(self) -> &'static str {
        match self {
            DeployGrant::Stacks => "ChangeSetsOnThisDeploymentsStacks",
            DeployGrant::Artifacts => "PackagesAndManifestInTheArtifactsBuckets",
            DeployGrant::HostedZone => "ReadTheHostedZone",
            DeployGrant::HostedZoneLookup => "FindTheHostedZoneNoResourceScope",
            DeployGrant::ClusterEndpoints => "ReadTheClusterEndpoints",
            DeployGrant::RoutingControls => "InitialRoutingControlStates",
            DeployGrant::RoutingControlListing => "ListRoutingControlsNoResourceScope",
            DeployGrant::ClusterCount => "CountTheClustersNoResourceScope",
            DeployGrant::ApiGatewayAccount => "ReadApiGatewaysAccountSettings",
            DeployGrant::ClientCertificates => "TheGatewaysClientCertificates",
            DeployGrant::KeptTables => "FindTablesKeptByAnEarlierDestroy",
        }
    }

    /// Where the group's actions apply; `*` only for the lookups AWS scopes to no resource
    /// (their Sids end in `NoResourceScope`).
    fn resources(self, plan: &Plan, scope: &Scope) -> Value {
        match self {
            DeployGrant::Stacks => json!(stack_arns(plan, &scope.prefix)),
            DeployGrant::Artifacts => scope.expand(&[
                "arn:${AWS::Partition}:s3:::{prefix}-bootstrap-*/lambda/*",
                // Templates over CloudFormation's inline limit, which it reads from there with
                // the caller's rights.
                "arn:${AWS::Partition}:s3:::{prefix}-bootstrap-*/templates/*",
                &format!("arn:${{AWS::Partition}}:s3:::{{prefix}}-bootstrap-*/{MANIFEST_KEY}"),
                // The services' mutual TLS truststore (the gateway's client certificates).
                "arn:${AWS::Partition}:s3:::{prefix}-bootstrap-*/truststore/*",
            ]),
            DeployGrant::HostedZone => {
                scope.expand(&["arn:${AWS::Partition}:route53:::hostedzone/{zone}"])
            }
            DeployGrant::ClusterEndpoints => scope.expand(&[
                "arn:${AWS::Partition}:route53-recovery-control::${AWS::AccountId}:cluster/*",
            ]),
            DeployGrant::RoutingControls => scope.expand(&[ROUTING_CONTROLS]),
            // Route 53's ListHostedZones(ByName) and ARC's ListRoutingControls take no
            // resource-level permission.
            DeployGrant::ApiGatewayAccount => {
                scope.expand(&["arn:${AWS::Partition}:apigateway:{region}::/account"])
            }
            DeployGrant::ClientCertificates => scope.expand(&[
                "arn:${AWS::Partition}:apigateway:{region}::/clientcertificates",
                "arn:${AWS::Partition}:apigateway:{region}::/clientcertificates/*",
                "arn:${AWS::Partition}:apigateway:{region}::/domainnames/{hostname}",
            ]),
            DeployGrant::KeptTables => scope.expand(&[
                "arn:${AWS::Partition}:dynamodb:{region}:${AWS::AccountId}:table/{prefix}-*",
            ]),
            // ARC's ListClusters takes no resource-level permission either.
            DeployGrant::HostedZoneLookup
            | DeployGrant::RoutingControlListing
            | DeployGrant::ClusterCount => json!("*"),
        }
    }
}

const ROUTING_CONTROLS: &str = "arn:${AWS::Partition}:route53-recovery-control::${AWS::AccountId}:controlpanel/*/routingcontrol/*";

/// Every stack of the plan, as an ARN pattern in its Region: app stacks as
/// `<prefix>-app-*`, so that adding an app needs no new pipeline stack.
fn stack_arns(plan: &Plan, prefix: &str) -> Vec<Value> {
    let mut arns = BTreeSet::new();
    for spec in plan.stacks() {
        let name = match spec.kind {
            StackKind::App(..) => format!("{prefix}-app-*"),
            _ => spec.id.name.clone(),
        };
        arns.insert(format!(
            "arn:${{AWS::Partition}}:cloudformation:{}:${{AWS::AccountId}}:stack/{name}/*",
            spec.id.region
        ));
    }
    arns.into_iter().map(|arn| sub(&arn)).collect()
}

/// The status role: the manifest, the routing-control states (ARC) or the flags' metrics
/// (`health-check`), and the alarms of this deployment.
pub(super) fn status_statements(topology: &Topology, scope: &Scope) -> Vec<Value> {
    let mut statements = vec![
        json!({
            "Sid": "FindTheArtifactsBucket",
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": scope.expand(&[
                "arn:${AWS::Partition}:cloudformation:{primary}:${AWS::AccountId}:stack/{prefix}-bootstrap/*"
            ]),
        }),
        json!({
            "Sid": "ReadTheManifest",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": scope.expand(&[&format!(
                "arn:${{AWS::Partition}}:s3:::{{prefix}}-bootstrap-*/{MANIFEST_KEY}"
            )]),
        }),
        json!({
            "Sid": "AlarmsOfThisDeployment",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",
            "Resource": scope.expand(&[
                "arn:${AWS::Partition}:cloudwatch:{region}:${AWS::AccountId}:alarm:{prefix}-*"
            ]),
        }),
    ];
    match topology.failover.mechanism {
        topology::Mechanism::Arc => statements.extend([
            json!({
                "Sid": "RoutingControlStates",
                "Effect": "Allow",
                "Action": "route53-recovery-cluster:GetRoutingControlState",
                "Resource": scope.expand(&[ROUTING_CONTROLS]),
            }),
            json!({
                // ListRoutingControls takes no resource-level permission.
                "Sid": "ListRoutingControlsNoResourceScope",
                "Effect": "Allow",
                "Action": "route53-recovery-cluster:ListRoutingControls",
                "Resource": "*",
            }),
        ]),
        topology::Mechanism::HealthCheck => statements.push(json!({
            // GetMetricData takes no resource-level permission; it reads the flags.
            "Sid": "ReadTheFlagsNoResourceScope",
            "Effect": "Allow",
            "Action": "cloudwatch:GetMetricData",
            "Resource": "*",
        })),
    }
    statements
}
