//! Checks made before the first change, so that a deploy does not fail half-way on an account
//! limit or overwrite a setting it shares with other teams.
//!
//! - **ARC clusters**: an account may have 2 by default (a quota). A deploy that would create
//!   another one (no `arc.existing_cluster_arn`, no ARC stack yet) counts the account's
//!   clusters first and refuses at the quota, before any stack exists, recommending
//!   `existing_cluster_arn`; `--allow-another-cluster` is for an account whose quota was raised.
//! - **API Gateway's CloudWatch Logs role**: one setting per account and Region, shared by
//!   every API there. When it is already set to a role that is not this deployment's, the
//!   bootstrap stack reuses it instead of overwriting it.
//! - **Tables kept by an earlier destroy** (`protect_data`): a deploy that would create the
//!   data stack while tables of its names exist would fail in its data phase, after the
//!   bootstrap stacks; it refuses before any change, naming the tables.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_smithy_types::error::display::DisplayErrorContext;
use topology::{Region, Topology};

use super::cfn::Orchestrator;
use super::names::StackPrefix;
use super::plan::StackNames;
use super::{arc, data};

/// ARC's default quota of clusters per account.
pub const ARC_CLUSTER_QUOTA: usize = 2;

/// Whether creating one more cluster fits: `existing` clusters are in the account already.
pub fn cluster_quota_verdict(existing: &[String], allow_another: bool) -> Result<(), String> {
    if existing.len() < ARC_CLUSTER_QUOTA || allow_another {
        return Ok(());
    }
    Err(format!(
        "this deploy would create an ARC cluster, but the account already has {} ({}), and \
         ARC allows {ARC_CLUSTER_QUOTA} per account by default: the deploy would fail in its \
         ARC phase after creating the bootstrap stacks. Reuse one of them (a cluster serves \
         many control panels): set arc.existing_cluster_arn in topology.toml; or, if your \
         account's quota was raised, pass --allow-another-cluster",
        existing.len(),
        existing.join(", ")
    ))
}

/// Refuses, before any change, a deploy that would create a cluster over the quota.
pub async fn check_cluster_quota(
    sdk: &SdkConfig,
    topology: &Topology,
    orchestrator: &Orchestrator,
    names: &StackNames,
    allow_another: bool,
) -> anyhow::Result<()> {
    if topology.failover.mechanism != topology::Mechanism::Arc
        || topology.arc.existing_cluster_arn.is_some()
        || orchestrator.describe(&names.arc()).await?.is_some()
    {
        return Ok(());
    }
    let conf = aws_sdk_route53recoverycontrolconfig::config::Builder::from(sdk)
        .region(aws_sdk_route53recoverycontrolconfig::config::Region::new(
            arc::CONTROL_PLANE_REGION,
        ))
        .build();
    let client = aws_sdk_route53recoverycontrolconfig::Client::from_conf(conf);
    let mut clusters = Vec::new();
    let mut token = None;
    loop {
        let page = match client.list_clusters().set_next_token(token).send().await {
            Ok(page) => page,
            // Counting is advice: a deploy that may not list clusters still goes on, and ARC
            // refuses a cluster over the quota in the ARC phase.
            Err(e) => {
                println!(
                    "could not count the account's ARC clusters (ListClusters in {}: {}); \
                     ARC allows {ARC_CLUSTER_QUOTA} per account by default",
                    arc::CONTROL_PLANE_REGION,
                    DisplayErrorContext(&e)
                );
                return Ok(());
            }
        };
        clusters.extend(
            page.clusters()
                .iter()
                .filter_map(|c| c.name().or(c.cluster_arn()).map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    cluster_quota_verdict(&clusters, allow_another).map_err(anyhow::Error::msg)
}

/// Whether the data stack may be created: `kept` are tables of its names that exist already.
pub fn retained_tables_verdict(kept: &[String], region: &Region) -> Result<(), String> {
    if kept.is_empty() {
        return Ok(());
    }
    Err(format!(
        "this deploy would create the data stack, but {region} already has tables of its \
         names ({}), kept by an earlier destroy with protect_data: CloudFormation would fail \
         on those names after creating the bootstrap stacks. Delete them on purpose (turn \
         deletion protection off on each replica, then delete the table; docs/deploy.md, \
         \"Deleting the data on purpose\"), or deploy under another --stack-prefix",
        kept.join(", ")
    ))
}

/// Refuses, before any change, a deploy that would create the data stack over tables an
/// earlier destroy kept.
pub async fn check_retained_tables(
    sdk: &SdkConfig,
    topology: &Topology,
    orchestrator: &Orchestrator,
    names: &StackNames,
    prefix: &StackPrefix,
) -> anyhow::Result<()> {
    if orchestrator.describe(&names.data()).await?.is_some() {
        return Ok(());
    }
    let primary = &topology.regions.primary;
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .region(aws_sdk_dynamodb::config::Region::new(primary.to_string()))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let mut kept = Vec::new();
    for service in topology.services() {
        let name = data::table_name(prefix, service.table());
        match client.describe_table().table_name(&name).send().await {
            Ok(_) => kept.push(name),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            // Checking is advice, as counting clusters is: CloudFormation still refuses the name.
            Err(e) => {
                println!(
                    "could not check for tables kept by an earlier destroy (DescribeTable {name} in \
                     {primary}: {})",
                    DisplayErrorContext(&e)
                );
                return Ok(());
            }
        }
    }
    retained_tables_verdict(&kept, primary).map_err(anyhow::Error::msg)
}

/// The account's API Gateway CloudWatch Logs role in `region` if it is set and is not this
/// deployment's own (whose roles live under the prefix's IAM path): the role to reuse.
pub fn foreign_role(current: Option<&str>, prefix: &StackPrefix) -> Option<String> {
    let arn = current.filter(|a| !a.is_empty())?;
    (!arn.contains(&format!(":role{}", prefix.iam_path()))).then(|| arn.to_owned())
}

/// Per Region of `regions`, the account's API Gateway CloudWatch Logs role to reuse
/// (`GetAccount` in each Region).
pub async fn existing_logging_roles(
    sdk: &SdkConfig,
    regions: &[Region],
    prefix: &StackPrefix,
) -> anyhow::Result<BTreeMap<Region, String>> {
    let mut roles = BTreeMap::new();
    for region in regions {
        let conf = aws_sdk_apigateway::config::Builder::from(sdk)
            .region(aws_sdk_apigateway::config::Region::new(region.to_string()))
            .build();
        let account = aws_sdk_apigateway::Client::from_conf(conf)
            .get_account()
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", DisplayErrorContext(&e)))
            .with_context(|| format!("cannot read API Gateway's account settings in {region}"))?;
        if let Some(role) = foreign_role(account.cloudwatch_role_arn(), prefix) {
            println!(
                "[{region}] API Gateway already writes logs through {role}: reusing it (the \
                 setting is shared by every API in the account and Region)"
            );
            roles.insert(region.clone(), role);
        }
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_tables_are_named_with_the_ways_forward() {
        let region: Region = "us-east-1".parse().unwrap();
        assert_eq!(retained_tables_verdict(&[], &region), Ok(()));
        let err =
            retained_tables_verdict(&["p-orders".into(), "p-users".into()], &region).unwrap_err();
        for expected in [
            "p-orders, p-users",
            "us-east-1",
            "--stack-prefix",
            "deletion protection",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn a_third_cluster_is_refused_unless_the_quota_was_raised() {
        assert_eq!(cluster_quota_verdict(&[], false), Ok(()));
        assert_eq!(cluster_quota_verdict(&["a".into()], false), Ok(()));
        let two = ["team-a".to_owned(), "team-b".to_owned()];
        let err = cluster_quota_verdict(&two, false).unwrap_err();
        assert!(err.contains("existing_cluster_arn"), "{err}");
        assert!(err.contains("team-a, team-b"), "{err}");
        assert!(err.contains("--allow-another-cluster"), "{err}");
        assert_eq!(cluster_quota_verdict(&two, true), Ok(()));
    }

    #[test]
    fn only_another_teams_logging_role_is_reused() {
        let prefix = StackPrefix::default();
        assert_eq!(foreign_role(None, &prefix), None);
        assert_eq!(foreign_role(Some(""), &prefix), None);
        let ours = format!(
            "arn:aws:iam::123456789012:role{}bootstrap-ApiGatewayCloudWatchRole-X",
            prefix.iam_path()
        );
        assert_eq!(foreign_role(Some(&ours), &prefix), None);
        let theirs = "arn:aws:iam::123456789012:role/apigw-logs";
        assert_eq!(foreign_role(Some(theirs), &prefix), Some(theirs.into()));
    }
}
