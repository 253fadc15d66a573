//! The operations an on-call engineer runs: status, shift, evacuate; and `initialize`, which a
//! deploy runs once after creating the routing controls.

use std::collections::HashMap;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use serde::Serialize;
use topology::manifest::{AppEntry, Manifest};
use topology::{AppName, Region, RoutingControlArn, SafetyRuleArn};

use crate::client::{Answer, Client};
use crate::error::FailoverError;
use topology::manifest::ARC_MAX_BATCH as MAX_BATCH;

/// The state of one routing control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlStatus {
    pub region: Region,
    pub arn: RoutingControlArn,
    pub on: bool,
}

/// The state of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppStatus {
    pub app: AppName,
    /// One per Region, primary first.
    pub controls: Vec<ControlStatus>,
    /// The Region Route 53 answers with, by its failover rules.
    pub active: Region,
    /// Set when both controls are ON or both OFF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The state of every app in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub apps: Vec<AppStatus>,
    pub answer: Answer,
}

/// Options of a shift or an evacuation.
#[derive(Debug, Clone, Default)]
pub struct ShiftOptions {
    /// Break glass: safety rules to bypass, each named explicitly.
    pub override_safety_rules: Vec<SafetyRuleArn>,
    /// Build the batches, send nothing.
    pub dry_run: bool,
}

/// One routing control change of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub app: AppName,
    pub region: Region,
    pub routing_control: RoutingControlArn,
    pub on: bool,
}

/// One UpdateRoutingControlStates call: every app in it keeps a Region ON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    pub changes: Vec<Change>,
    /// Who applied it; `None` for a dry run.
    pub answer: Option<Answer>,
}

/// What a shift did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShiftOutcome {
    pub to: Region,
    pub apps: Vec<AppName>,
    pub dry_run: bool,
    pub overridden: Vec<SafetyRuleArn>,
    /// More than one when the apps' controls exceed ARC's 10 per batch.
    pub batches: Vec<Batch>,
}

/// What `initialize` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InitOutcome {
    /// Apps whose controls were both OFF, now primary ON and secondary OFF.
    pub initialized: Vec<AppName>,
    /// Apps left as they were (an operator or an earlier deploy set them).
    pub untouched: Vec<AppName>,
    pub batches: Vec<Batch>,
}

impl Client {
    /// Reads every app's routing controls (ListRoutingControls, paginated).
    pub async fn status(&self) -> Result<Status, FailoverError> {
        let manifest = self.manifest();
        let listed = self.list_routing_controls(None).await?;
        let states: HashMap<&RoutingControlArn, bool> =
            listed.value.iter().map(|c| (&c.arn, c.on)).collect();
        let apps = manifest
            .apps
            .iter()
            .map(|app| app_status(manifest, app, &states))
            .collect::<Result<_, _>>()?;
        Ok(Status {
            apps,
            answer: listed.answer,
        })
    }

    /// Moves `apps` to `to`: per app the target Region's control ON and the other OFF, all in
    /// one UpdateRoutingControlStates batch (split by 5 apps when there are more).
    pub async fn shift(
        &self,
        apps: &[AppName],
        to: &Region,
        opts: ShiftOptions,
    ) -> Result<ShiftOutcome, FailoverError> {
        let manifest = self.manifest();
        let entries = resolve_apps(manifest, apps)?;
        if !manifest.regions.contains(to) {
            return Err(FailoverError::Usage(format!(
                "Region `{to}` is not one of this deployment's Regions ({}, {})",
                manifest.regions.primary, manifest.regions.secondary
            )));
        }
        let batches: Vec<Vec<Change>> = entries
            .chunks(MAX_BATCH / 2)
            .map(|chunk| chunk.iter().flat_map(|app| changes_for(app, to)).collect())
            .collect();
        let batches = self.send(batches, &opts).await?;
        Ok(ShiftOutcome {
            to: to.clone(),
            apps: entries.iter().map(|a| a.name.clone()).collect(),
            dry_run: opts.dry_run,
            overridden: opts.override_safety_rules.clone(),
            batches,
        })
    }

    /// Moves every app away from `from`.
    pub async fn evacuate(
        &self,
        from: &Region,
        opts: ShiftOptions,
    ) -> Result<ShiftOutcome, FailoverError> {
        let manifest = self.manifest();
        let to = manifest.regions.other(from).ok_or_else(|| {
            FailoverError::Usage(format!(
                "Region `{from}` is not one of this deployment's Regions ({}, {})",
                manifest.regions.primary, manifest.regions.secondary
            ))
        })?;
        let apps: Vec<AppName> = manifest.apps.iter().map(|a| a.name.clone()).collect();
        self.shift(&apps, &to.clone(), opts).await
    }

    /// Sets primary ON / secondary OFF for every app whose two controls are both OFF (as ARC
    /// creates them), and leaves every other app alone.
    pub async fn initialize(&self) -> Result<InitOutcome, FailoverError> {
        let manifest = self.manifest();
        let status = self.status().await?;
        let fresh: Vec<&AppStatus> = status
            .apps
            .iter()
            .filter(|a| a.controls.iter().all(|c| !c.on))
            .collect();
        let primary = &manifest.regions.primary;
        let batches: Vec<Vec<Change>> = fresh
            .chunks(MAX_BATCH / 2)
            .map(|chunk| {
                chunk
                    .iter()
                    .flat_map(|a| {
                        let app = manifest.app(&a.app).expect("status lists manifest apps");
                        changes_for(app, primary)
                    })
                    .collect()
            })
            .collect();
        let batches = self.send(batches, &ShiftOptions::default()).await?;
        let is_fresh = |name: &AppName| fresh.iter().any(|a| a.app == *name);
        let (initialized, untouched) = status
            .apps
            .iter()
            .map(|a| a.app.clone())
            .partition(|name| is_fresh(name));
        Ok(InitOutcome {
            initialized,
            untouched,
            batches,
        })
    }

    /// Sends the batches, as many at once as the cluster has endpoints: each starts its
    /// rotation at another endpoint, and the client's pacing keeps every endpoint within ARC's
    /// rate, so a large evacuation spreads over the cluster. After a failure no further batch
    /// is started; the report says how many were applied.
    async fn send(
        &self,
        batches: Vec<Vec<Change>>,
        opts: &ShiftOptions,
    ) -> Result<Vec<Batch>, FailoverError> {
        if opts.dry_run {
            return Ok(batches
                .into_iter()
                .map(|changes| Batch {
                    changes,
                    answer: None,
                })
                .collect());
        }
        let total = batches.len();
        let endpoints = self.endpoint_count();
        let mut pending = batches.into_iter().enumerate();
        let mut in_flight = FuturesUnordered::new();
        let mut done: Vec<Option<Batch>> = vec![None; total];
        let mut failure: Option<FailoverError> = None;
        loop {
            while failure.is_none() && in_flight.len() < endpoints {
                let Some((i, changes)) = pending.next() else {
                    break;
                };
                in_flight.push(self.send_batch(i, changes, &opts.override_safety_rules));
            }
            let Some((i, changes, result)) = in_flight.next().await else {
                break;
            };
            match result {
                Ok(answer) => {
                    done[i] = Some(Batch {
                        changes,
                        answer: Some(answer),
                    });
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let applied: Vec<Batch> = done.into_iter().flatten().collect();
        match failure {
            None => Ok(applied),
            Some(e) if applied.is_empty() => Err(e),
            Some(e) => Err(FailoverError::Partial {
                applied: applied.len(),
                total,
                source: Box::new(e),
            }),
        }
    }

    /// Batch `i`, its rotation started `i` endpoints after the preferred one.
    async fn send_batch(
        &self,
        i: usize,
        changes: Vec<Change>,
        overrides: &[SafetyRuleArn],
    ) -> (usize, Vec<Change>, Result<Answer, FailoverError>) {
        let wire: Vec<(RoutingControlArn, bool)> = changes
            .iter()
            .map(|c| (c.routing_control.clone(), c.on))
            .collect();
        let result = self
            .set_routing_control_states_from(i, &wire, overrides)
            .await;
        (i, changes, result)
    }
}

/// The manifest entries of `apps`, refusing an empty list, unknown names and repeats.
pub(crate) fn resolve_apps<'m>(
    manifest: &'m Manifest,
    apps: &[AppName],
) -> Result<Vec<&'m AppEntry>, FailoverError> {
    if apps.is_empty() {
        return Err(FailoverError::Usage("name at least one app".into()));
    }
    let known = || {
        manifest
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out: Vec<&AppEntry> = Vec::with_capacity(apps.len());
    for name in apps {
        let entry = manifest.app(name).ok_or_else(|| {
            FailoverError::Usage(format!(
                "unknown app `{name}`; this deployment has: {}",
                known()
            ))
        })?;
        if out.iter().any(|a| a.name == *name) {
            return Err(FailoverError::Usage(format!("app `{name}` is named twice")));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Target Region ON, every other Region OFF.
fn changes_for(app: &AppEntry, to: &Region) -> Vec<Change> {
    let mut changes: Vec<Change> = app
        .arc()
        .map(|arc| arc.routing_controls.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| Change {
            app: app.name.clone(),
            region: c.region.clone(),
            routing_control: c.arn.clone(),
            on: c.region == *to,
        })
        .collect();
    // ON first: easier to read in a dry run.
    changes.sort_by_key(|c| !c.on);
    changes
}

fn app_status(
    manifest: &Manifest,
    app: &AppEntry,
    states: &HashMap<&RoutingControlArn, bool>,
) -> Result<AppStatus, FailoverError> {
    let mut controls = Vec::new();
    for region in manifest.regions.both() {
        let arn = app
            .routing_control(region)
            .expect("the manifest was checked at load");
        let on = *states.get(arn).ok_or_else(|| FailoverError::Rejected {
            code: "ResourceNotFoundException".into(),
            message: format!(
                "routing control {arn} ({} in {region}) is not in the cluster; is the manifest stale? redeploy or restart the local world",
                app.name
            ),
        })?;
        controls.push(ControlStatus {
            region: region.clone(),
            arn: arn.clone(),
            on,
        });
    }
    let (primary, secondary) = (&manifest.regions.primary, &manifest.regions.secondary);
    let (p_on, s_on) = (controls[0].on, controls[1].on);
    // Route 53 failover: primary healthy → primary; else secondary if healthy; else primary.
    let active = if !p_on && s_on { secondary } else { primary }.clone();
    let warning = match (p_on, s_on) {
        (false, false) => Some(format!(
            "both routing controls are OFF: Route 53 fails open and answers with the primary ({primary})"
        )),
        (true, true) => Some(format!(
            "both routing controls are ON: Route 53 answers with the primary ({primary})"
        )),
        _ => None,
    };
    Ok(AppStatus {
        app: app.name.clone(),
        controls,
        active,
        warning,
    })
}
