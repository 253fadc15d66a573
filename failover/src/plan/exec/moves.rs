//! Moves: the replication gate, shifts (with their verification) and verification steps.
//! Each records when traffic moved, for the run's recovery time.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::names;
use crate::error::FailoverError;
use crate::gate::GateConfig;
use crate::ops::ShiftOptions;
use crate::plan::run::{Done, Failure, Runner, StepResult};
use crate::plan::step::{Apps, RegionRef, ShiftMode};
use crate::verified::{StageName, Verified};
use crate::verify::{VerifyConfig, prepare, verify, verify_moves};

impl Runner<'_> {
    pub(super) async fn gate(
        &self,
        apps: &Apps,
        to: &RegionRef,
        max_lag: Duration,
    ) -> Result<Done, Failure> {
        let (apps, to) = self.resolve(apps, to)?;
        let config = GateConfig {
            max_lag,
            ..GateConfig::default()
        };
        let report = crate::gate::read(self.manifest, &apps, &to, &config).await?;
        let lags: Vec<String> = report
            .readings
            .iter()
            .filter_map(|r| r.lag_ms.map(|lag| format!("{} {} ms", r.app, lag)))
            .collect();
        let measurements = json!(report);
        if let Some(refusal) = report.refusal() {
            return Err(refusal.into());
        }
        Ok(Done {
            detail: format!(
                "replication into {to} within {} ms: {}",
                report.max_lag_ms,
                if lags.is_empty() {
                    "no table to read".to_owned()
                } else {
                    lags.join(", ")
                }
            ),
            measurements,
            steps: Vec::new(),
        })
    }

    pub(super) async fn shift(
        &self,
        apps: &Apps,
        to: &RegionRef,
        mode: ShiftMode,
        verify: bool,
        timeout: Duration,
    ) -> StepResult {
        let (apps, to) = self.resolve(apps, to).map_err(|f| (Done::default(), f))?;
        if self.options.dry_run {
            let plan = self
                .plane
                .shift(
                    &apps,
                    &to,
                    ShiftOptions {
                        dry_run: true,
                        ..ShiftOptions::default()
                    },
                )
                .await
                .map_err(|e| (Done::default(), e.into()))?;
            return Ok(Done {
                detail: format!("would move {} to {to} ({})", names(&apps), mode_text(mode)),
                measurements: json!(plan),
                steps: Vec::new(),
            });
        }
        let config = self.verify_config(timeout);
        let prepared = if verify {
            let all = apps.iter().map(|app| prepare(self.manifest, app, &config));
            futures::future::try_join_all(all)
                .await
                .map_err(|e| (Done::default(), FailoverError::Verify(e).into()))?
        } else {
            Vec::new()
        };
        let since = Instant::now();
        let called_at = self.now();
        let moved = match mode {
            ShiftMode::Batch => vec![self.plane.shift(&apps, &to, ShiftOptions::default()).await],
            ShiftMode::Parallel => {
                futures::future::join_all(apps.iter().map(|app| {
                    self.plane
                        .shift(std::slice::from_ref(app), &to, ShiftOptions::default())
                }))
                .await
            }
        };
        let accepted = self.now();
        let mut outcomes = Vec::new();
        let mut error = None;
        for result in moved {
            match result {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if !outcomes.is_empty() {
            let mut moves = self.moves.lock().expect("not poisoned");
            moves.last_call = Some(moves.last_call.unwrap_or(0).max(accepted));
            for app in outcomes.iter().flat_map(|o| o.apps()) {
                if !moves.apps.contains(app) {
                    moves.apps.push(app.clone());
                }
            }
        }
        let mut measurements =
            json!({ "called_ms": called_at, "accepted_ms": accepted, "moves": outcomes });
        if let Some(error) = error {
            let done = Done {
                detail: String::new(),
                measurements,
                steps: Vec::new(),
            };
            return Err((done, error.into()));
        }
        let mut detail = format!(
            "moved {} to {to} in {} ms ({})",
            names(&apps),
            accepted - called_at,
            mode_text(mode)
        );
        if !verify {
            return Ok(Done {
                detail,
                measurements,
                steps: Vec::new(),
            });
        }
        let config = VerifyConfig {
            not_before: outcomes
                .iter()
                .filter_map(|o| o.delay())
                .max()
                .unwrap_or_default(),
            ..config
        };
        let results = verify_moves(self.plane, &prepared, &to, since, &config).await;
        let (verified, failure) = self.record_traffic(results, called_at);
        measurements["verified"] = json!(verified);
        detail.push_str(&format!("; {}", traffic_text(&verified, called_at)));
        let done = Done {
            detail,
            measurements,
            steps: Vec::new(),
        };
        match failure {
            None => Ok(done),
            Some(f) => Err((done, f)),
        }
    }

    /// Records when each verified app's traffic moved (the `http` stage's pass, from
    /// `since_ms`); the verifications, and the first failure.
    fn record_traffic(
        &self,
        results: Vec<Result<Verified, crate::verified::VerifyError>>,
        since_ms: u64,
    ) -> (Vec<Verified>, Option<Failure>) {
        let mut verified = Vec::new();
        let mut failure = None;
        for result in results {
            match result {
                Ok(v) => {
                    if let Some(ms) = http_ms(&v) {
                        self.moves.lock().expect("not poisoned").traffic.push((
                            v.app.clone(),
                            v.region.clone(),
                            since_ms + ms,
                        ));
                    }
                    verified.push(v);
                }
                Err(e) => {
                    if let Some(v) = e.report() {
                        verified.push(v.clone());
                    }
                    failure.get_or_insert_with(|| FailoverError::Verify(e).into());
                }
            }
        }
        (verified, failure)
    }

    pub(super) async fn verify(
        &self,
        apps: &Apps,
        region: &RegionRef,
        timeout: Duration,
    ) -> StepResult {
        let (apps, region) = self
            .resolve(apps, region)
            .map_err(|f| (Done::default(), f))?;
        if self.options.dry_run {
            return Ok(Done::line(format!(
                "would check that DNS and GET / show {} on {region}, within {} s",
                names(&apps),
                timeout.as_secs()
            )));
        }
        let config = self.verify_config(timeout);
        let since = self.now();
        let results = futures::future::join_all(
            apps.iter()
                .map(|app| verify(self.manifest, app, &region, &config)),
        )
        .await;
        let (verified, failure) = self.record_traffic(results, since);
        let done = Done {
            detail: traffic_text(&verified, since),
            measurements: json!({ "verified": verified }),
            steps: Vec::new(),
        };
        match failure {
            None => Ok(done),
            Some(f) => Err((done, f)),
        }
    }

    /// Verification within `timeout`, looking at least as often as the default.
    fn verify_config(&self, timeout: Duration) -> VerifyConfig {
        let defaults = VerifyConfig::for_manifest(self.manifest);
        VerifyConfig {
            timeout,
            interval: defaults.interval.min(self.poll()),
            ..defaults
        }
    }
}

/// When the `http` stage passed, from the verification's start.
fn http_ms(verified: &Verified) -> Option<u64> {
    verified
        .stages
        .iter()
        .find(|s| s.stage == StageName::Http && s.outcome == crate::verified::Outcome::Passed)
        .and_then(|s| s.elapsed_ms)
}

fn traffic_text(verified: &[Verified], since_ms: u64) -> String {
    let each: Vec<String> = verified
        .iter()
        .map(|v| match http_ms(v) {
            Some(ms) => format!(
                "{} answered from {} at {} ms",
                v.app,
                v.region,
                since_ms + ms
            ),
            None => format!("{} not verified", v.app),
        })
        .collect();
    format!("traffic: {}", each.join(", "))
}

fn mode_text(mode: ShiftMode) -> &'static str {
    match mode {
        ShiftMode::Batch => "one batch",
        ShiftMode::Parallel => "one call per app, at once",
    }
}
