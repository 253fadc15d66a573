//! `infra synth`: one CloudFormation template per stack, and `plan.json` (the deploy order,
//! each stack's Region and how its parameters are wired).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};
use topology::{Region, Topology};

use super::arc;
use super::plan::{DeployInputs, ParamValue, Plan, StackPrefix};

/// The plan `infra synth` renders: the deploy-time values are placeholders.
pub fn plan(topology: &Topology, prefix: &StackPrefix) -> Plan {
    Plan::new(topology, prefix, &DeployInputs::placeholders(topology))
}

/// The plan of `infra synth --region R` (or of the whole deploy, without a Region): what
/// `infra deploy --region R` deploys. It does not look the hosted zone up, so without
/// `hosted_zone_id` in the topology the app stacks keep the zone they have. Refuses names ARC
/// would refuse and stacks over CloudFormation's limits.
pub fn region_plan(
    topology: &Topology,
    prefix: &StackPrefix,
    region: Option<&Region>,
) -> Result<Plan, String> {
    arc::check_names(topology, prefix)?;
    topology.auth.aws_issuers().map_err(|e| e.to_string())?;
    let plan = match region {
        None => plan(topology, prefix),
        Some(region) => {
            let inputs = DeployInputs {
                hosted_zone_id: topology.hosted_zone_id.clone(),
                ..DeployInputs::placeholders(topology)
            };
            Plan::new(topology, prefix, &inputs).for_region(topology, region)?
        }
    };
    plan.check_limits()?;
    Ok(plan)
}

/// Writes the templates of the stacks of `region` (every stack, without one) and `plan.json`
/// under `out`; returns the files written.
pub fn write(
    topology: &Topology,
    prefix: &StackPrefix,
    region: Option<&Region>,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let plan = region_plan(topology, prefix, region).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    remove_stale_templates(out, &plan)?;
    let mut written = Vec::new();
    for spec in plan.stacks() {
        let path = out.join(spec.file_name());
        std::fs::write(&path, spec.template.to_pretty_string() + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    let path = out.join("plan.json");
    let text = serde_json::to_string_pretty(&describe(&plan)).expect("JSON values serialize");
    std::fs::write(&path, text + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    Ok(written)
}

/// Removes templates of stacks the topology no longer has (a renamed or removed app), so that
/// linting or reviewing `out` sees only what a deploy would deploy.
fn remove_stale_templates(out: &Path, plan: &Plan) -> anyhow::Result<()> {
    let current: Vec<String> = plan.stacks().map(|s| s.file_name()).collect();
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".template.json") && !current.iter().any(|c| c == name) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// The plan as JSON: phases in order, each stack with its Region, template file and parameters.
pub fn describe(plan: &Plan) -> Value {
    let phases: Vec<Value> = plan
        .phases
        .iter()
        .map(|phase| {
            let stacks: Vec<Value> = phase
                .stacks
                .iter()
                .map(|spec| {
                    let parameters: serde_json::Map<String, Value> = spec
                        .parameters
                        .iter()
                        .map(|(key, value)| {
                            let v = match value {
                                ParamValue::Literal(v) => json!(v),
                                ParamValue::Output { stack, key } => json!({
                                    "output_of": stack.name, "region": stack.region.as_str(), "key": key
                                }),
                                ParamValue::Previous => json!({ "previous_value": true }),
                                ParamValue::ClusterEndpoints => json!({
                                    "read_at_deploy": "the ARC cluster's endpoints (DescribeCluster), after the arc phase"
                                }),
                                ParamValue::GatewayClientCertificate => json!({
                                    "read_at_deploy": "the gateway's API Gateway client certificate in this Region, after the bootstrap phase"
                                }),
                                ParamValue::TruststoreVersion => json!({
                                    "read_at_deploy": "the S3 version of the truststore written to this Region's artifacts bucket, after the bootstrap phase"
                                }),
                            };
                            (key.clone(), v)
                        })
                        .collect();
                    json!({
                        "stack": spec.id.name,
                        "region": spec.id.region.as_str(),
                        "template": spec.file_name(),
                        "parameters": parameters,
                    })
                })
                .collect();
            json!({ "phase": phase.kind.name(), "stacks": stacks })
        })
        .collect();
    json!({ "phases": phases })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_of_removed_apps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir
            .path()
            .join("multi-region-api-app-old.us-east-1.template.json");
        let other = dir.path().join("notes.json");
        std::fs::write(&stale, "{}").unwrap();
        std::fs::write(&other, "{}").unwrap();
        let written = write(
            &Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(),
            &StackPrefix::default(),
            None,
            dir.path(),
        )
        .unwrap();
        assert_eq!(written.len(), 15);
        assert!(!stale.exists(), "a stale template is left behind");
        assert!(other.exists(), "only templates are removed");
    }
}
