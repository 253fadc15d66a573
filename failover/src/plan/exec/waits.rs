//! Waits and warm-ups: a fixed wait, a wait for an app to answer or an alarm to reach a
//! state, and requests that warm the target Region. All call the target Region's own hostnames
//! or CloudWatch, never the Region being left.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use super::names;
use crate::alarms::describe;
use crate::cloudwatch::CloudWatch;
use crate::flags::timeouts;
use crate::plan::regional::{self, Regional};
use crate::plan::run::{Done, Failure, Runner, StepResult};
use crate::plan::step::{Apps, RegionRef, Wait};

impl Runner<'_> {
    pub(super) async fn wait(&self, wait: &Wait) -> Result<Done, Failure> {
        match wait {
            Wait::Duration(d) => {
                if !self.options.dry_run {
                    tokio::time::sleep(*d).await;
                }
                Ok(Done::line(format!("waited {} ms", d.as_millis())))
            }
            Wait::Answers {
                app,
                region,
                timeout,
            } => {
                let region = region.resolve(self.manifest).map_err(Failure::step)?;
                if self.options.dry_run {
                    return Ok(Done::line(format!(
                        "would wait for {app} to answer in {region}"
                    )));
                }
                let regional = Regional::new(self.manifest, self.poll()).map_err(Failure::step)?;
                let deadline = Instant::now() + *timeout;
                let mut looks = 0u32;
                loop {
                    looks += 1;
                    let last = match regional.get(self.manifest, app, &region, "/").await {
                        Ok(a) if (200..300).contains(&a.status) => {
                            return Ok(Done {
                                detail: format!("{app} answered in {region} ({} looks)", looks),
                                measurements: json!({ "looks": looks, "status": a.status }),
                                steps: Vec::new(),
                            });
                        }
                        Ok(a) => format!("it answered {}", a.status),
                        Err(e) => e,
                    };
                    if Instant::now() >= deadline {
                        return Err(Failure::step(format!(
                            "{app} did not answer in {region} within {} s: {last}",
                            timeout.as_secs()
                        )));
                    }
                    tokio::time::sleep(self.poll()).await;
                }
            }
            Wait::Alarm {
                name,
                region,
                state,
                timeout,
            } => {
                let region = region.resolve(self.manifest).map_err(Failure::step)?;
                if self.options.dry_run {
                    return Ok(Done::line(format!(
                        "would wait for alarm {name} in {region} to be {state}"
                    )));
                }
                let config = crate::client::ClientConfig::default();
                let cloudwatch = CloudWatch::for_manifest(self.manifest, timeouts(&config));
                let wanted = [(region.clone(), name.clone())];
                let deadline = Instant::now() + *timeout;
                loop {
                    let seen = describe(&cloudwatch, &wanted).await.get(&region, name);
                    if seen.state.as_str() == state {
                        return Ok(Done::line(format!("alarm {name} in {region} is {state}")));
                    }
                    if Instant::now() >= deadline {
                        return Err(Failure::step(format!(
                            "alarm {name} in {region} was not {state} within {} s (last: {})",
                            timeout.as_secs(),
                            seen.state.as_str()
                        )));
                    }
                    tokio::time::sleep(self.poll().max(Duration::from_secs(1))).await;
                }
            }
        }
    }

    pub(super) async fn warm_up(
        &self,
        apps: &Apps,
        region: &RegionRef,
        requests: u32,
        path: &str,
        min_success: u32,
    ) -> StepResult {
        let (apps, region) = self
            .resolve(apps, region)
            .map_err(|f| (Done::default(), f))?;
        if self.options.dry_run {
            return Ok(Done::line(format!(
                "would send {requests} GET {path} to each of {} on its {region} hostname",
                names(&apps)
            )));
        }
        let regional = Regional::new(self.manifest, WARM_UP_TIMEOUT)
            .map_err(|e| (Done::default(), Failure::step(e)))?;
        let runs = apps
            .iter()
            .map(|app| warm(&regional, self.manifest, app, &region, path, requests));
        let results = futures::future::join_all(runs).await;
        let mut lines = Vec::new();
        let mut failure = None;
        let mut measured = Vec::new();
        for (app, result) in apps.iter().zip(results) {
            let (ok, slowest, last_error) = result;
            lines.push(format!("{app} {ok}/{requests}"));
            measured.push(json!({ "app": app, "region": region, "requests": requests, "succeeded": ok, "slowest_ms": slowest, "last_error": last_error }));
            if ok < min_success && failure.is_none() {
                failure = Some(Failure::step(format!(
                    "warm-up of {app} in {region}: {ok} of {requests} requests answered 2xx (need {min_success}){}",
                    last_error
                        .map(|e| format!("; last: {e}"))
                        .unwrap_or_default()
                )));
            }
        }
        let done = Done {
            detail: format!("warmed {region}: {}", lines.join(", ")),
            measurements: json!(measured),
            steps: Vec::new(),
        };
        match failure {
            None => Ok(done),
            Some(f) => Err((done, f)),
        }
    }
}

/// How long one warm-up request may take: a cold standby's first answers include its
/// functions' start (a Lambda cold start), far longer than a poll interval.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(5);

/// `requests` GETs of `path` to `app` in `region`, four at a time: how many answered 2xx, the
/// slowest, and the last error.
async fn warm(
    regional: &Regional,
    manifest: &Manifest,
    app: &AppName,
    region: &Region,
    path: &str,
    requests: u32,
) -> (u32, u64, Option<String>) {
    use futures::StreamExt;
    let (client, url) = match regional.client(manifest, app, region, path).await {
        Ok(bound) => bound,
        Err(e) => return (0, 0, Some(e)),
    };
    let answers: Vec<_> = futures::stream::iter(0..requests)
        .map(|_| regional::send(&client, &url))
        .buffer_unordered(4)
        .collect()
        .await;
    let mut ok = 0;
    let mut slowest = 0;
    let mut last_error = None;
    for answer in answers {
        match answer {
            Ok(a) if (200..300).contains(&a.status) => {
                ok += 1;
                slowest = slowest.max(u64::try_from(a.elapsed.as_millis()).unwrap_or(u64::MAX));
            }
            Ok(a) => last_error = Some(format!("answered {}", a.status)),
            Err(e) => last_error = Some(e),
        }
    }
    (ok, slowest, last_error)
}
