//! `failover plan check`: can this plan run now? It changes nothing. It checks that every app
//! and Region the plan names is in the manifest; that each target Region answers on its
//! Region-specific hostname; the replication lag into each target; that the routing mechanism
//! is reachable (ARC: a quorum of cluster endpoints answers; health-check: each target Region's
//! CloudWatch answers); and the credentials, as far as that can be known without making the
//! calls that change routing.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use topology::manifest::{Environment, Manifest};
use topology::{AppName, Mechanism, Region};

use super::file::Loaded;
use super::regional::Regional;
use super::step::StepKind;
use crate::alarms::describe;
use crate::cloudwatch::CloudWatch;
use crate::error::exit;
use crate::flags::timeouts;
use crate::gate::GateConfig;
use crate::plane::{DataPlane, Routing};
use crate::verify::QUORUM;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    Passed,
    Failed,
    /// Could not be checked fully; says how far it went.
    Partial,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub outcome: CheckOutcome,
    pub detail: String,
    /// The exit code it sets when it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

/// Every check of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub plan: String,
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// The exit code of the first failed check, or 0.
    pub fn exit_code(&self) -> u8 {
        self.checks
            .iter()
            .find_map(|c| (c.outcome == CheckOutcome::Failed).then_some(c.exit_code))
            .flatten()
            .unwrap_or(exit::OK)
    }

    /// The check named `name`.
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

fn passed(name: &'static str, detail: String) -> Check {
    Check {
        name,
        outcome: CheckOutcome::Passed,
        detail,
        exit_code: None,
    }
}

fn failed(name: &'static str, detail: String, code: u8) -> Check {
    Check {
        name,
        outcome: CheckOutcome::Failed,
        detail,
        exit_code: Some(code),
    }
}

/// Every app and Region named by `loaded`'s plans is in the manifest.
pub fn names_resolve(loaded: &Loaded, manifest: &Manifest) -> Result<(), String> {
    let mut problems = BTreeSet::new();
    for plan in std::iter::once(&loaded.root).chain(loaded.children.values()) {
        for step in plan.all_steps() {
            let at = |e: String| format!("{}: step `{}`: {e}", plan.path.display(), step.name);
            let (apps, region) = match &step.kind {
                StepKind::Gate { apps, to, .. } | StepKind::Shift { apps, to, .. } => {
                    (Some(apps), Some(to))
                }
                StepKind::Verify { apps, region, .. } | StepKind::WarmUp { apps, region, .. } => {
                    (Some(apps), Some(region))
                }
                StepKind::Wait(super::step::Wait::Answers { app, region, .. }) => {
                    if manifest.app(app).is_none() {
                        problems.insert(at(format!("app `{app}` is not in the manifest")));
                    }
                    (None, Some(region))
                }
                StepKind::Wait(super::step::Wait::Alarm { region, .. }) => (None, Some(region)),
                _ => (None, None),
            };
            if let Some(Err(e)) = apps.map(|a| a.resolve(manifest)) {
                problems.insert(at(e));
            }
            if let Some(Err(e)) = region.map(|r| r.resolve(manifest)) {
                problems.insert(at(e));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.into_iter().collect::<Vec<_>>().join("; "))
    }
}

/// Each (app, Region) whose instance the plan moves traffic to or calls.
fn targets(loaded: &Loaded, manifest: &Manifest) -> Vec<(AppName, Region)> {
    let mut out: Vec<(AppName, Region)> = Vec::new();
    for plan in std::iter::once(&loaded.root).chain(loaded.children.values()) {
        for step in plan.all_steps() {
            let pairs: Vec<(AppName, Region)> = match &step.kind {
                StepKind::Shift {
                    apps, to: region, ..
                }
                | StepKind::Verify { apps, region, .. }
                | StepKind::WarmUp { apps, region, .. } => {
                    match (apps.resolve(manifest), region.resolve(manifest)) {
                        (Ok(apps), Ok(region)) => {
                            apps.into_iter().map(|a| (a, region.clone())).collect()
                        }
                        _ => Vec::new(),
                    }
                }
                _ => Vec::new(),
            };
            for pair in pairs {
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
    }
    out
}

/// Runs every check; changes nothing.
pub async fn check(loaded: &Loaded, plane: &DataPlane) -> CheckReport {
    let manifest = plane.manifest();
    let mut checks = Vec::new();
    let names = match names_resolve(loaded, manifest) {
        Ok(()) => passed(
            "apps and Regions",
            "every app and Region the plan names is in the manifest".into(),
        ),
        Err(e) => failed("apps and Regions", e, exit::USAGE),
    };
    checks.push(names);
    let targets = targets(loaded, manifest);
    let (standby, replication, mechanism) = tokio::join!(
        standby(manifest, &targets),
        replication(manifest, &targets),
        mechanism(plane, &targets)
    );
    checks.extend([standby, replication, mechanism, credentials(manifest)]);
    CheckReport {
        plan: loaded.root.name.clone(),
        checks,
    }
}

/// Each target Region answers `GET /` on the app's Region-specific hostname.
async fn standby(manifest: &Manifest, targets: &[(AppName, Region)]) -> Check {
    const NAME: &str = "target Regions answer";
    let regional = match Regional::new(manifest, Duration::from_secs(3)) {
        Ok(r) => r,
        Err(e) => return failed(NAME, e, exit::STEP_FAILED),
    };
    let looks = targets
        .iter()
        .map(|(app, region)| regional.get(manifest, app, region, "/"));
    let answers = futures::future::join_all(looks).await;
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for ((app, region), answer) in targets.iter().zip(answers) {
        match answer {
            Ok(a) if (200..300).contains(&a.status) => {
                good.push(format!("{app} in {region} ({} ms)", a.elapsed.as_millis()))
            }
            Ok(a) => bad.push(format!("{app} in {region} answered {}", a.status)),
            Err(e) => bad.push(format!("{app} in {region} does not answer: {e}")),
        }
    }
    if bad.is_empty() {
        passed(
            NAME,
            if good.is_empty() {
                "the plan moves no traffic".into()
            } else {
                good.join(", ")
            },
        )
    } else {
        failed(NAME, bad.join("; "), exit::STEP_FAILED)
    }
}

/// The replication lag into each target, against the default limit.
async fn replication(manifest: &Manifest, targets: &[(AppName, Region)]) -> Check {
    const NAME: &str = "replication";
    let regions: BTreeSet<&Region> = targets.iter().map(|(_, r)| r).collect();
    let mut lines = Vec::new();
    for region in regions {
        let apps: Vec<AppName> = targets
            .iter()
            .filter(|(_, r)| r == region)
            .map(|(a, _)| a.clone())
            .collect();
        match crate::gate::read(manifest, &apps, region, &GateConfig::default()).await {
            Ok(report) => {
                if let Some(refusal) = report.refusal() {
                    return failed(NAME, refusal.to_string(), refusal.exit_code());
                }
                lines.extend(
                    report.readings.iter().filter_map(|r| {
                        r.lag_ms.map(|l| format!("{} into {region}: {l} ms", r.app))
                    }),
                );
            }
            Err(e) => return failed(NAME, e.to_string(), e.exit_code()),
        }
    }
    passed(
        NAME,
        if lines.is_empty() {
            "no table to read".into()
        } else {
            lines.join(", ")
        },
    )
}

/// ARC: a quorum of cluster endpoints answers a read; health-check: each target Region's
/// CloudWatch answers.
async fn mechanism(plane: &DataPlane, targets: &[(AppName, Region)]) -> Check {
    const NAME: &str = "routing mechanism";
    let manifest = plane.manifest();
    match plane.routing() {
        Routing::Arc(client) => {
            let Some(arn) = manifest
                .apps
                .iter()
                .find_map(|a| a.routing_control(&manifest.regions.primary))
            else {
                return failed(
                    NAME,
                    "the manifest has no routing control".into(),
                    exit::USAGE,
                );
            };
            let endpoints = manifest.cluster().map_or(0, |c| c.endpoints.len());
            let arns = [arn];
            let reads =
                futures::future::join_all((0..endpoints).map(|i| client.states_at(i, &arns))).await;
            let up = reads.iter().filter(|r| r.is_ok()).count();
            let need = QUORUM.min(endpoints);
            let detail = format!(
                "{up} of {endpoints} ARC cluster endpoints answer (need {need} for a quorum)"
            );
            if up >= need && endpoints > 0 {
                passed(NAME, detail)
            } else {
                failed(
                    NAME,
                    format!("{detail}: the cluster has no quorum, a move would fail"),
                    exit::UNREACHABLE,
                )
            }
        }
        Routing::HealthCheck(flags) => {
            let cloudwatch = CloudWatch::for_manifest(manifest, timeouts(flags.config()));
            let regions: BTreeSet<&Region> = targets.iter().map(|(_, r)| r).collect();
            let wanted: Vec<(Region, String)> = regions
                .iter()
                .filter_map(|r| {
                    manifest
                        .apps
                        .iter()
                        .find_map(|a| a.flags()?.iter().find(|f| &f.published_in == *r))
                        .map(|f| ((*r).clone(), f.alarm_name.clone()))
                })
                .collect();
            let described = describe(&cloudwatch, &wanted).await;
            let silent: Vec<String> = described
                .regions
                .iter()
                .filter(|r| !r.answered)
                .map(|r| r.region.to_string())
                .collect();
            if silent.is_empty() {
                passed(
                    NAME,
                    format!(
                        "CloudWatch answers in {}",
                        regions
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            } else {
                failed(
                    NAME,
                    format!(
                        "CloudWatch does not answer in {}: a move into it cannot publish its flag",
                        silent.join(", ")
                    ),
                    exit::UNREACHABLE,
                )
            }
        }
    }
}

/// What can be known of the credentials without making the calls that change routing.
fn credentials(manifest: &Manifest) -> Check {
    const NAME: &str = "credentials";
    let writes = match manifest.mechanism() {
        Mechanism::Arc => "UpdateRoutingControlStates",
        Mechanism::HealthCheck => "cloudwatch:PutMetricData",
    };
    match manifest.environment {
        Environment::Local => passed(
            NAME,
            "the local world signs with fixed test credentials".into(),
        ),
        Environment::Aws => Check {
            name: NAME,
            outcome: CheckOutcome::Partial,
            detail: format!(
                "the reads above were signed and accepted with these credentials; whether IAM also allows {writes} cannot be known without making it (it has no dry run, and policy simulation is an IAM control-plane call this tool does not make): use the least-privilege role the deploy creates"
            ),
            exit_code: None,
        },
    }
}
