//! `infra pipeline-template`: the stack a team deploys once, by hand, so that GitHub Actions can
//! deploy without long-lived keys. It holds GitHub's OIDC identity provider (unless the account
//! has one: a parameter takes its ARN) and three roles:
//!
//! - the **deploy role**, assumed by the repository's chosen environment (or branch) through
//!   OIDC: the calls `infra deploy` makes itself ([`DEPLOY_CALLS`]) on this deployment's
//!   stacks, buckets, zone and routing controls, and passing the execution role, nothing else;
//! - the **execution role**, which CloudFormation acts as (`infra deploy --execution-role-arn`):
//!   per resource type of the synthesized templates, what its handler needs ([`catalog`]), on
//!   this deployment's resources;
//! - the **status role**, for the manual `failover status` workflow: reading the manifest and
//!   the routing-control states.
//!
//! Everything is derived from the plan `infra synth` writes for the same topology and prefix,
//! so the policies follow the templates.

pub mod catalog;
mod github;
mod scope;
mod workflow_roles;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Map, Value, json};
use topology::Topology;

pub use self::github::{
    GithubNameError, GithubRepo, OIDC_AUDIENCE, OIDC_CLAIM_PREFIX, OIDC_URL, RefName, Trusted,
};
use super::plan::{Plan, StackPrefix};
use super::template::{Template, get_att, if_, reference, skip_checks};
use super::{arc, synth};
use catalog::{Grant, Resources};
use scope::{Scope, policy_chars, statement};
pub use workflow_roles::{DEPLOY_CALLS, DeployCall, DeployGrant, NOT_DEPLOY_CALLS};
use workflow_roles::{deploy_statements, status_statements};

/// Output: the deploy role's ARN (the GitHub environment's `DEPLOY_ROLE_ARN`).
pub const OUTPUT_DEPLOY_ROLE: &str = "DeployRoleArn";
/// Output: the execution role's ARN (`EXECUTION_ROLE_ARN`, for `--execution-role-arn`).
pub const OUTPUT_EXECUTION_ROLE: &str = "ExecutionRoleArn";
/// Output: the status role's ARN (`STATUS_ROLE_ARN`).
pub const OUTPUT_STATUS_ROLE: &str = "StatusRoleArn";
/// Parameter: the hosted zone the deploy reads and writes records in.
pub const PARAM_HOSTED_ZONE: &str = "HostedZoneId";
/// Parameter: the ARN of GitHub's OIDC provider when the account has one already (an account
/// may hold only one per URL); empty: this stack creates it.
pub const PARAM_EXISTING_PROVIDER: &str = "ExistingOidcProviderArn";
/// Where the deploy job puts the manifest in the primary's artifacts bucket, and where the
/// status workflow reads it.
pub const MANIFEST_KEY: &str = "manifest/deployment.json";

/// How long the deploy workflow's credentials last (`role-duration-seconds` in
/// `deploy-environment.yml` asks for as much).
pub const DEPLOY_SESSION_HOURS: u32 = 4;
/// IAM's limit on one managed policy, in characters without whitespace.
const MANAGED_POLICY_MAX_CHARS: usize = 6_144;
/// Managed policies attached to one role, by default.
const MAX_ATTACHED_POLICIES: usize = 10;
/// The random suffix CloudFormation appends to a name it generates (`-` and 12 or 13 characters).
const GENERATED_SUFFIX_CHARS: usize = 14;
/// Resources whose names CloudFormation generates from the stack name and that the policies
/// scope by that name: (type, the property that would name it instead, the name's limit).
const GENERATED_NAMES: &[(&str, &str, usize)] = &[
    ("AWS::Lambda::Function", "FunctionName", 64),
    ("AWS::S3::Bucket", "BucketName", 63),
];

/// Whom the roles trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSpec {
    pub repo: GithubRepo,
    pub trusted: Trusted,
}

/// Why the pipeline template cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(
        "stack {stack} creates a resource of type {resource_type}, for which the execution role \
         has no permissions: add the type to infra/src/aws/pipeline/catalog.rs"
    )]
    UncoveredResourceType {
        stack: String,
        resource_type: String,
    },
    #[error(
        "CloudFormation would name {resource} of stack {stack} `{stack}-{resource}-<random>`, \
         {length} characters, over the {limit} a {resource_type} name may have, and shorten it; \
         the execution role could then not recognise it by the stack prefix. Use a shorter \
         --stack-prefix or app name"
    )]
    GeneratedNameTooLong {
        stack: String,
        resource: String,
        resource_type: String,
        length: usize,
        limit: usize,
    },
    #[error(
        "the execution role's permissions need {0} managed policies, over IAM's default of \
         {MAX_ATTACHED_POLICIES} per role"
    )]
    TooManyPolicies(usize),
    #[error("{0}")]
    Topology(String),
}

/// The file `infra pipeline-template` writes for `prefix`.
pub fn file_name(prefix: &StackPrefix) -> String {
    format!("{prefix}-pipeline.template.json")
}

/// Writes the pipeline template under `out`; returns its path.
pub fn write(
    topology: &Topology,
    prefix: &StackPrefix,
    spec: &PipelineSpec,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let template = template(topology, prefix, spec)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(file_name(prefix));
    std::fs::write(&path, template.to_pretty_string() + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The pipeline template for the deployment of `topology` under `prefix`.
pub fn template(
    topology: &Topology,
    prefix: &StackPrefix,
    spec: &PipelineSpec,
) -> Result<Template, PipelineError> {
    arc::check_names(topology, prefix).map_err(PipelineError::Topology)?;
    let plan = synth::plan(topology, prefix);
    check_generated_names(&plan)?;
    let scope = Scope::new(topology, prefix, &plan);
    let mut t = Template::new(format!(
        "Pipeline for {prefix}: GitHub's OIDC provider, the deploy role {} may assume, the \
         CloudFormation execution role, and the status role",
        spec.trusted.subject(&spec.repo)
    ));
    parameters(&mut t, topology);
    t.resource(
        "GitHubOidcProvider",
        "AWS::IAM::OIDCProvider",
        json!({ "Url": OIDC_URL, "ClientIdList": [OIDC_AUDIENCE] }),
    )
    .insert("Condition".into(), "CreateOidcProvider".into());
    execution_role(&mut t, &plan, &scope)?;
    let trust = github_trust(spec);
    role(
        &mut t,
        "DeployRole",
        trust.clone(),
        deploy_statements(&plan, &scope),
        // A deploy that creates certificates and global tables outlasts the default hour.
        DEPLOY_SESSION_HOURS,
    );
    role(
        &mut t,
        "StatusRole",
        trust,
        status_statements(topology, &scope),
        1,
    );
    t.output(
        OUTPUT_DEPLOY_ROLE,
        "The role the deploy workflow assumes (DEPLOY_ROLE_ARN)",
        get_att("DeployRole", "Arn"),
    );
    t.output(
        OUTPUT_EXECUTION_ROLE,
        "The role CloudFormation acts as (EXECUTION_ROLE_ARN, infra deploy --execution-role-arn)",
        get_att("ExecutionRole", "Arn"),
    );
    t.output(
        OUTPUT_STATUS_ROLE,
        "The role the status workflow assumes (STATUS_ROLE_ARN)",
        get_att("StatusRole", "Arn"),
    );
    Ok(t)
}

fn parameters(t: &mut Template, topology: &Topology) {
    t.typed_parameter(
        PARAM_HOSTED_ZONE,
        "AWS::Route53::HostedZone::Id",
        "The public hosted zone of the topology's domain: the only zone the roles may read or change records in",
        topology.hosted_zone_id.as_deref(),
    );
    t.parameter(
        PARAM_EXISTING_PROVIDER,
        "The ARN of the account's GitHub OIDC provider, if it has one (one per account); empty: this stack creates it",
        Some(""),
    );
    t.condition(
        "CreateOidcProvider",
        json!({ "Fn::Equals": [reference(PARAM_EXISTING_PROVIDER), ""] }),
    );
}

/// The trust policy of the roles GitHub's workflows assume: this repository's environment
/// (or branch) only, with the audience `configure-aws-credentials` asks for.
fn github_trust(spec: &PipelineSpec) -> Value {
    let provider = if_(
        "CreateOidcProvider",
        reference("GitHubOidcProvider"),
        reference(PARAM_EXISTING_PROVIDER),
    );
    json!({ "Version": "2012-10-17", "Statement": [ {
        "Sid": "GitHubActionsOfThisRepository",
        "Effect": "Allow",
        "Principal": { "Federated": provider },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": { "StringEquals": {
            format!("{OIDC_CLAIM_PREFIX}:aud"): OIDC_AUDIENCE,
            format!("{OIDC_CLAIM_PREFIX}:sub"): spec.trusted.subject(&spec.repo),
        } }
    } ] })
}

fn role(t: &mut Template, id: &str, trust: Value, statements: Vec<Value>, session_hours: u32) {
    t.resource(
        id,
        "AWS::IAM::Role",
        json!({
            "AssumeRolePolicyDocument": trust,
            "MaxSessionDuration": session_hours * 3600,
            "Policies": [ {
                "PolicyName": "least-privilege",
                "PolicyDocument": { "Version": "2012-10-17", "Statement": statements }
            } ]
        }),
    );
}

/// The execution role: the catalog's grants for every resource type of the plan, packed into
/// managed policies (IAM caps each at 6,144 characters); the grants AWS allows no resource
/// for in a policy of their own, which says why.
fn execution_role(t: &mut Template, plan: &Plan, scope: &Scope) -> Result<(), PipelineError> {
    t.resource(
        "ExecutionRole",
        "AWS::IAM::Role",
        json!({
            "Description": "CloudFormation acts as this role for the deployment's stacks",
            "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [ {
                "Effect": "Allow",
                "Principal": { "Service": "cloudformation.amazonaws.com" },
                "Action": "sts:AssumeRole"
            } ] }
        }),
    );
    let grants = execution_grants(plan)?;
    let (unscoped, scoped): (Vec<&Grant>, Vec<&Grant>) = grants
        .into_iter()
        .partition(|g| g.resources == Resources::Unscoped);
    let mut policies: Vec<Vec<Value>> = Vec::new();
    let mut size = 0;
    for grant in scoped {
        let statement = statement(grant, scope);
        let chars = policy_chars(&statement);
        if policies.is_empty() || size + chars > MANAGED_POLICY_MAX_CHARS - 100 {
            policies.push(Vec::new());
            size = 0;
        }
        size += chars;
        policies.last_mut().expect("pushed").push(statement);
    }
    let total = policies.len() + usize::from(!unscoped.is_empty());
    if total > MAX_ATTACHED_POLICIES {
        return Err(PipelineError::TooManyPolicies(total));
    }
    for (index, statements) in policies.into_iter().enumerate() {
        managed_policy(t, &format!("ExecutionPolicy{}", index + 1), statements);
    }
    if !unscoped.is_empty() {
        let statements = unscoped.iter().map(|g| statement(g, scope)).collect();
        let policy = managed_policy(t, "ExecutionPolicyUnscoped", statements);
        let reasons: Vec<String> = unscoped
            .iter()
            .filter_map(|g| catalog::why_unscoped(g).map(|why| format!("{}: {why}", g.sid)))
            .collect();
        let reason = reasons.join("; ");
        skip_checks(policy, &[("CKV_AWS_111", reason.as_str())]);
    }
    Ok(())
}

fn managed_policy<'t>(
    t: &'t mut Template,
    id: &str,
    statements: Vec<Value>,
) -> &'t mut Map<String, Value> {
    t.resource(
        id,
        "AWS::IAM::ManagedPolicy",
        json!({
            "Description": "What CloudFormation needs to manage this deployment's resources",
            "Roles": [reference("ExecutionRole")],
            "PolicyDocument": { "Version": "2012-10-17", "Statement": statements }
        }),
    )
}

/// The catalog's grants for every resource type the plan's templates create, each once, by Sid.
pub fn execution_grants(plan: &Plan) -> Result<Vec<&'static Grant>, PipelineError> {
    let mut grants: Vec<&'static Grant> = Vec::new();
    for spec in plan.stacks() {
        let doc = spec.template.to_json();
        for resource in doc["Resources"]
            .as_object()
            .into_iter()
            .flat_map(Map::values)
        {
            let kind = resource["Type"].as_str().unwrap_or_default();
            let found =
                catalog::grants(kind).ok_or_else(|| PipelineError::UncoveredResourceType {
                    stack: spec.id.name.clone(),
                    resource_type: kind.to_owned(),
                })?;
            for grant in found {
                if !grants.iter().any(|g| g.sid == grant.sid) {
                    grants.push(grant);
                }
            }
        }
    }
    grants.sort_by_key(|g| g.sid);
    Ok(grants)
}

/// Refuses a deployment whose generated names CloudFormation would shorten: the policies
/// recognise functions and buckets by their stack's name at the start of theirs.
fn check_generated_names(plan: &Plan) -> Result<(), PipelineError> {
    for spec in plan.stacks() {
        let doc = spec.template.to_json();
        for (id, resource) in doc["Resources"].as_object().into_iter().flatten() {
            let kind = resource["Type"].as_str().unwrap_or_default();
            let Some((_, property, limit)) = GENERATED_NAMES.iter().find(|(k, ..)| *k == kind)
            else {
                continue;
            };
            if resource["Properties"].get(*property).is_some() {
                continue;
            }
            let length = spec.id.name.len() + 1 + id.len() + GENERATED_SUFFIX_CHARS;
            if length > *limit {
                return Err(PipelineError::GeneratedNameTooLong {
                    stack: spec.id.name.clone(),
                    resource: id.clone(),
                    resource_type: kind.to_owned(),
                    length,
                    limit: *limit,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PipelineSpec {
        PipelineSpec {
            repo: "octo-org/shop".parse().unwrap(),
            trusted: Trusted::Environment(RefName::environment("production").unwrap()),
        }
    }

    #[test]
    fn a_resource_type_the_catalog_does_not_know_is_refused_by_name() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let mut plan = synth::plan(&topology, &StackPrefix::default());
        let data = plan
            .phases
            .iter_mut()
            .flat_map(|p| &mut p.stacks)
            .find(|s| s.kind == super::super::plan::StackKind::Data)
            .unwrap();
        data.template
            .resource("Queue", "AWS::SQS::Queue", json!({}));
        let err = execution_grants(&plan).unwrap_err();
        assert!(
            err.to_string().contains("AWS::SQS::Queue")
                && err.to_string().contains("multi-region-api-data"),
            "{err}"
        );
    }

    #[test]
    fn names_cloudformation_would_shorten_are_refused_before_writing_anything() {
        let text = testkit::FIXTURE_TOPOLOGY
            .replace(
                "name = \"payments\"\nkind = \"service\"",
                "name = \"payments-and-refunds-ledger\"\nkind = \"service\"",
            )
            .replace(
                "\"/payments\" = \"payments\"",
                "\"/payments\" = \"payments-and-refunds-ledger\"",
            );
        let topology = Topology::parse(&text).unwrap();
        let err = template(&topology, &StackPrefix::default(), &spec()).unwrap_err();
        assert!(
            matches!(&err, PipelineError::GeneratedNameTooLong { resource, limit: 64, .. } if resource == "Function"),
            "{err}"
        );
        assert!(err.to_string().contains("--stack-prefix"), "{err}");
    }
}
