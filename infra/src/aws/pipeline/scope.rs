//! Filling the catalog's resource patterns in with one deployment's values, and measuring a
//! statement as IAM counts it.

use serde_json::{Map, Value, json};
use topology::Topology;

use super::PARAM_HOSTED_ZONE;
use super::catalog::{Condition, Grant, Resources};
use crate::aws::app::regional_hostname;
use crate::aws::deploy;
use crate::aws::plan::{Plan, StackPrefix};
use crate::aws::template::sub;

static EMPTY: String = String::new();

/// What the catalog's patterns are filled in with.
pub(super) struct Scope {
    pub(super) prefix: String,
    iam_path: String,
    regions: Vec<String>,
    primary: String,
    hostnames: Vec<String>,
    /// Each app's Region-specific name (`orders.us-west-2.<domain>`), with its Region: its
    /// custom domain exists only there.
    regional: Vec<(String, String)>,
}

impl Scope {
    pub(super) fn new(topology: &Topology, prefix: &StackPrefix, plan: &Plan) -> Self {
        let regions = deploy::regions(plan);
        let regional = topology
            .apps
            .iter()
            .flat_map(|app| {
                regions
                    .iter()
                    .filter(|r| topology.regions.contains(r))
                    .map(move |r| (r.to_string(), regional_hostname(topology, app, r)))
            })
            .collect();
        Self {
            prefix: prefix.to_string(),
            iam_path: prefix.iam_path(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            regional,
            primary: topology.regions.primary.to_string(),
            hostnames: topology
                .apps
                .iter()
                .map(|a| topology.domain.subdomain(a.name().as_str()))
                .collect(),
        }
    }

    /// The patterns with this deployment's values, as `Fn::Sub` strings: one per Region for
    /// `{region}`, one per app for `{hostname}`.
    pub(super) fn expand(&self, patterns: &[&str]) -> Value {
        let mut out: Vec<String> = Vec::new();
        for pattern in patterns {
            let fixed = pattern
                .replace("{prefix}", &self.prefix)
                .replace("{iam_path}", &self.iam_path)
                .replace("{primary}", &self.primary)
                .replace("{zone}", &format!("${{{PARAM_HOSTED_ZONE}}}"));
            let regions: &[String] = if fixed.contains("{region}") {
                &self.regions
            } else {
                &[String::new()]
            };
            for region in regions {
                let hosts: Vec<&String> = if fixed.contains("{hostname}") {
                    self.hosts_in(region)
                } else {
                    vec![&EMPTY]
                };
                for host in hosts {
                    let arn = fixed
                        .replace("{region}", region)
                        .replace("{hostname}", host);
                    if !out.contains(&arn) {
                        out.push(arn);
                    }
                }
            }
        }
        Value::Array(out.iter().map(|arn| sub(arn)).collect())
    }

    /// The names with a custom domain in `region` (every name when the pattern has no Region):
    /// each app's hostname, and its Region-specific name there.
    fn hosts_in(&self, region: &str) -> Vec<&String> {
        let regional = self
            .regional
            .iter()
            .filter(|(r, _)| region.is_empty() || r == region)
            .map(|(_, host)| host);
        self.hostnames.iter().chain(regional).collect()
    }

    /// The record names the execution role may change: each app's names, and the
    /// `_<token>.<name>` validation record of its certificate for each.
    fn record_names(&self) -> Vec<String> {
        self.hosts_in("")
            .into_iter()
            .flat_map(|h| [h.clone(), format!("_*.{h}")])
            .collect()
    }
}

/// One statement of the execution role, from its grant.
pub(super) fn statement(grant: &Grant, scope: &Scope) -> Value {
    let mut statement = json!({
        "Sid": grant.sid,
        "Effect": "Allow",
        "Action": grant.actions,
        "Resource": match grant.resources {
            Resources::Scoped(patterns) => scope.expand(patterns),
            Resources::Unscoped => json!("*"),
        },
    });
    if let Some(condition) = grant.condition {
        statement["Condition"] = match condition {
            Condition::PassedToService(services) => {
                json!({ "StringEquals": { "iam:PassedToService": services } })
            }
            Condition::ServiceLinkedRoleFor(service) => {
                json!({ "StringEquals": { "iam:AWSServiceName": service } })
            }
            Condition::AppRecordNames => json!({ "ForAllValues:StringLike": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": scope.record_names()
            } }),
        };
    }
    statement
}

/// How many characters IAM counts for `statement` once CloudFormation has filled in the
/// partition and account (whitespace is not counted): the longest partition, 12 digits.
pub(super) fn policy_chars(statement: &Value) -> usize {
    fn render(value: &Value) -> Value {
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
                let text = map["Fn::Sub"].as_str().unwrap_or_default();
                Value::String(
                    text.replace("${AWS::Partition}", "aws-us-gov")
                        .replace("${AWS::AccountId}", "123456789012")
                        .replace(&format!("${{{PARAM_HOSTED_ZONE}}}"), &"Z".repeat(32)),
                )
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), render(v)))
                    .collect::<Map<_, _>>(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(render).collect()),
            other => other.clone(),
        }
    }
    render(statement).to_string().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::synth;

    #[test]
    fn patterns_are_filled_in_per_region_and_per_hostname() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let prefix = StackPrefix::default();
        let plan = synth::plan(&topology, &prefix);
        let scope = Scope::new(&topology, &prefix, &plan);
        let arns =
            scope.expand(&["arn:${AWS::Partition}:apigateway:{region}::/domainnames/{hostname}"]);
        let arns = arns.as_array().unwrap();
        // us-east-1, us-west-2 (both the Regions and ARC's): 2 Regions × 4 apps, each with its
        // hostname and its name in that Region.
        assert_eq!(arns.len(), 2 * 4 * 2, "{arns:?}");
        assert!(arns.contains(&sub(
            "arn:${AWS::Partition}:apigateway:us-west-2::/domainnames/orders.example.com"
        )));
        assert!(arns.contains(&sub(
            "arn:${AWS::Partition}:apigateway:us-west-2::/domainnames/orders.us-west-2.example.com"
        )));
        assert!(!arns.contains(&sub(
            "arn:${AWS::Partition}:apigateway:us-east-1::/domainnames/orders.us-west-2.example.com"
        )));
        let names = scope.record_names();
        assert!(
            names.contains(&"_*.orders.us-east-1.example.com".to_owned()),
            "{names:?}"
        );
        assert_eq!(
            scope.expand(&["arn:${AWS::Partition}:iam::${AWS::AccountId}:role{iam_path}*"]),
            json!([sub(
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/multi-region-api/*"
            )])
        );
    }
}
