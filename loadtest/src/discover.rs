//! The start of a run that is more than the probe: each service's `GET /openapi.json`, read
//! through the run's own client (the same DNS and connections as the traffic), turned into
//! each app's plan. A gateway's plan is the operations of the apps its manifest routes name.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;
use topology::AppName;
use topology::manifest::Manifest;

use crate::client::{Client, Outgoing};
use crate::config::Scenario;
use crate::openapi::{Derivation, Document, derive};
use crate::scenario::{AppPlan, Planner, Pool, Source};
use crate::target::AppTarget;
use crate::tracker::ReadTarget;

/// Where each service's document is read, and how patiently.
pub(crate) struct Discovery<'a> {
    pub manifest: &'a Manifest,
    pub targets: &'a [AppTarget],
    pub client: &'a Client,
    pub timeout: Duration,
}

/// How often a document is asked for before the app is given the probe: a world that has
/// just started may not answer the first time.
const ATTEMPTS: u32 = 3;
const RETRY_AFTER: Duration = Duration::from_millis(200);

impl Discovery<'_> {
    /// The plan of every target, in order.
    pub(crate) async fn planner(&self, scenario: Scenario) -> Planner {
        if scenario == Scenario::Probe {
            let apps = self.targets.iter().map(|_| AppPlan::default()).collect();
            return Planner::new(scenario, apps, Vec::new());
        }
        let documents = self.documents().await;
        let mut pools: Vec<Pool> = Vec::new();
        let mut pool_of: BTreeMap<(AppName, String), usize> = BTreeMap::new();
        let mut apps = Vec::new();
        for target in self.targets {
            let mut plan = AppPlan::default();
            for (prefix, owner) in self.sources_of(&target.app) {
                let derivation = match documents.get(&owner) {
                    Some(Ok(d)) => d,
                    Some(Err(why)) => {
                        plan.warnings.push(why.clone());
                        continue;
                    }
                    None => continue,
                };
                let api = match &prefix {
                    Some(prefix) => derivation.api.under(prefix),
                    None => derivation.api.clone(),
                };
                if api.is_empty() {
                    if let Some(why) = unusable(&owner, prefix.as_deref(), derivation) {
                        plan.warnings.push(why);
                    }
                    continue;
                }
                let pools_of_source = api
                    .collections
                    .iter()
                    .map(|c| {
                        *pool_of
                            .entry((owner.clone(), c.path.clone()))
                            .or_insert_with(|| {
                                pools.push(Pool::new(self.regional(&owner)));
                                pools.len() - 1
                            })
                    })
                    .collect();
                plan.operations
                    .extend(api.operations().into_iter().map(|op| match &prefix {
                        Some(_) => format!("{op} (to {owner})"),
                        None => op,
                    }));
                plan.sources.push(Source {
                    api,
                    pools: pools_of_source,
                });
            }
            if plan.sources.is_empty() {
                if plan.warnings.is_empty() {
                    plan.warnings
                        .push(format!("`{}` has no usable operation", target.app));
                }
                plan.warnings.push("sending the probe, GET /".into());
                plan.operations.push("GET /".into());
                tracing::warn!(app = %target.app, warnings = ?plan.warnings, "no traffic from the app's OpenAPI document");
            }
            apps.push(plan);
        }
        Planner::new(scenario, apps, pools)
    }

    /// An app's sources: its own document, then each route's app under the route's prefix.
    fn sources_of(&self, app: &AppName) -> Vec<(Option<String>, AppName)> {
        let mut out = vec![(None, app.clone())];
        if let Some(entry) = self.manifest.app(app) {
            out.extend(
                entry
                    .routes
                    .iter()
                    .map(|(prefix, to)| (Some(prefix.clone()), to.clone())),
            );
        }
        out
    }

    /// Reads and derives every document the targets need, concurrently.
    async fn documents(&self) -> BTreeMap<AppName, Result<Derivation, String>> {
        let mut owners: Vec<AppName> = Vec::new();
        for target in self.targets {
            for (_, owner) in self.sources_of(&target.app) {
                if !owners.contains(&owner) {
                    owners.push(owner);
                }
            }
        }
        let fetched = join_all(owners.iter().map(|owner| self.document(owner))).await;
        owners.into_iter().zip(fetched).collect()
    }

    async fn document(&self, owner: &AppName) -> Result<Derivation, String> {
        let target = match self.targets.iter().find(|t| t.app == *owner) {
            Some(t) => t.clone(),
            None => {
                let entry = self
                    .manifest
                    .app(owner)
                    .ok_or_else(|| format!("a route names `{owner}`, which the manifest lacks"))?;
                AppTarget::from_entry(self.manifest, entry).map_err(|e| e.to_string())?
            }
        };
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(RETRY_AFTER).await;
            }
            let out = Outgoing::get("/openapi.json");
            let got =
                tokio::time::timeout(self.timeout, self.client.send(&target.base, &out)).await;
            let why = match got {
                Ok(Ok(r)) if r.status.is_success() => {
                    return Document::parse(&r.body)
                        .map(|doc| derive(&doc))
                        .map_err(|e| format!("{}/openapi.json is unusable: {e}", target.url));
                }
                Ok(Ok(r)) => format!("answered {}", r.status),
                Ok(Err(e)) => e.detail,
                Err(_) => format!("no answer within {:?}", self.timeout),
            };
            last = why;
        }
        Err(format!(
            "cannot read {}/openapi.json ({ATTEMPTS} attempts): {last}",
            target.url
        ))
    }

    /// Each Region's direct URL of `owner`, where writes of its items are read back.
    fn regional(&self, owner: &AppName) -> Vec<ReadTarget> {
        let regions = self.manifest.regions.both();
        let Some(target) = self
            .manifest
            .app(owner)
            .and_then(|e| AppTarget::from_entry(self.manifest, e).ok())
        else {
            return Vec::new();
        };
        target
            .regional
            .into_iter()
            .map(|(region, base)| ReadTarget {
                region: regions.iter().position(|r| **r == region),
                expect: Some(region),
                base,
            })
            .collect()
    }
}

/// Why a document gave an app nothing to send, or `None` when a route simply has nothing
/// under its prefix worth saying (a gateway's own document lists no operations).
fn unusable(owner: &AppName, prefix: Option<&str>, d: &Derivation) -> Option<String> {
    match prefix {
        Some(prefix) if !d.api.is_empty() => Some(format!(
            "`{owner}` has no operation under the route `{prefix}`"
        )),
        _ if d.skipped.is_empty() && prefix.is_none() => None,
        _ => Some(format!(
            "`{owner}`'s document has no usable operation{}",
            if d.skipped.is_empty() {
                String::new()
            } else {
                format!(": {}", d.skipped.join("; "))
            }
        )),
    }
}
