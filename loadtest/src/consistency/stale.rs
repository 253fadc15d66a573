//! A client that still holds the old DNS answer while its app moves: it keeps writing to the
//! Region being left. With write fencing on, that Region refuses once its routing control is
//! OFF (`503` `region-fenced` with `Retry-After`); the client waits as told, resolves the
//! app's hostname again and sends the same request (same `Idempotency-Key`) there. Every
//! acknowledged write is then read back from both Regions: none may be lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use super::config::{CheckConfig, CheckError};
use super::findings::{Failure, Step, failure};
use super::lww::is_fenced;
use super::probe::Written;
use super::setup::Setup;
use crate::client::Response;

/// How long a client that was refused waits at most, whatever `Retry-After` says.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// What the stale client does.
#[derive(Debug, Clone, PartialEq)]
pub struct StaleClientConfig {
    /// The app that moves.
    pub app: AppName,
    /// The Region it leaves: the client's cached answer.
    pub from: Region,
    /// How long the client keeps starting writes.
    pub duration: Duration,
    /// The pause between one write's answer and the next write.
    pub interval: Duration,
    /// How long one write may keep being retried (refusals, timeouts) before it fails.
    pub give_up_after: Duration,
    /// How long after its acknowledgement a write may take to be readable in both Regions.
    pub replication_deadline: Duration,
}

impl StaleClientConfig {
    /// Writes for `duration`, every 50 ms, each retried for up to 15 s.
    pub fn new(app: AppName, from: Region, duration: Duration) -> Self {
        Self {
            app,
            from,
            duration,
            interval: Duration::from_millis(50),
            give_up_after: Duration::from_secs(15),
            replication_deadline: Duration::from_secs(10),
        }
    }
}

/// What the stale client's writes came to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleWrites {
    pub app: AppName,
    pub from: Region,
    /// Distinct writes (a retry is the same write).
    pub sent: u64,
    /// Writes answered with a 2xx and an id.
    pub acknowledged: u64,
    /// Per Region, how many writes it acknowledged.
    pub acknowledged_in: BTreeMap<Region, u64>,
    /// The write fence's refusals (`503` `region-fenced`).
    pub refused: u64,
    /// Writes acknowledged after at least one refusal: retried into the new Region.
    pub retried: u64,
    /// Acknowledged writes read back intact from both Regions.
    pub verified: u64,
    pub failures: Vec<Failure>,
}

impl StaleWrites {
    /// Every write acknowledged and read back from both Regions.
    pub fn none_lost(&self) -> bool {
        self.sent > 0
            && self.acknowledged == self.sent
            && self.verified == self.acknowledged
            && self.failures.is_empty()
    }

    /// What happened, for people.
    pub fn summary(&self) -> String {
        let by_region: Vec<String> = self
            .acknowledged_in
            .iter()
            .map(|(region, n)| format!("{n} in {region}"))
            .collect();
        let mut out = format!(
            "{}: {} writes sent to {} (the old answer), {} acknowledged ({}); {} refused by the write fence, {} of them retried into the new Region and acknowledged; {} read back intact from both Regions",
            self.app,
            self.sent,
            self.from,
            self.acknowledged,
            by_region.join(", "),
            self.refused,
            self.retried,
            self.verified,
        );
        for f in &self.failures {
            out += &format!(
                "\n  failed {}: {}",
                f.item.as_deref().unwrap_or("(no id)"),
                f.reason
            );
        }
        out
    }
}

/// Runs the stale client; must be called inside a Tokio runtime. The caller moves the app
/// meanwhile.
pub async fn stale_client_writes(
    manifest: &Manifest,
    config: &StaleClientConfig,
) -> Result<StaleWrites, CheckError> {
    let mut check = CheckConfig::new(config.app.clone(), config.from.clone(), 0);
    check.replication_deadline = config.replication_deadline;
    let setup = Setup::new(manifest, &check).await?;
    let probe = setup.probe(&check);
    let mut result = StaleWrites {
        app: config.app.clone(),
        from: config.from.clone(),
        sent: 0,
        acknowledged: 0,
        acknowledged_in: BTreeMap::new(),
        refused: 0,
        retried: 0,
        verified: 0,
        failures: Vec::new(),
    };
    // The client's cached answer: the old Region's instance, until a refusal sends it back
    // to DNS.
    let mut target = &setup.writer;
    let mut written: Vec<Written> = Vec::new();
    let stop = Instant::now() + config.duration;
    while Instant::now() < stop {
        let (out, sent) = probe
            .create_request()
            .map_err(|f| CheckError::NoOperations {
                app: config.app.clone(),
                reason: f.reason,
            })?;
        result.sent += 1;
        let give_up = Instant::now() + config.give_up_after;
        let mut refusals = 0;
        loop {
            let answer = probe.send(target, &out).await;
            let retry = match &answer {
                Ok(r) if fenced(r) => Some(format!("answered {}", r.status)),
                Ok(_) => None,
                Err(e) => Some(e.clone()),
            };
            if let Some(why) = retry
                && Instant::now() >= give_up
            {
                result
                    .failures
                    .push(failure(None, format!("given up after retries: {why}")));
                break;
            }
            match answer {
                Ok(r) if fenced(&r) => {
                    refusals += 1;
                    tokio::time::sleep(retry_after(&r)).await;
                    target = &setup.hostname;
                }
                Ok(r) => {
                    match probe.acknowledged(&r, sent.clone()) {
                        Ok(w) => {
                            let region = r
                                .region
                                .as_ref()
                                .and_then(|v| v.to_str().ok()?.parse::<Region>().ok());
                            if let Some(region) = region {
                                *result.acknowledged_in.entry(region).or_default() += 1;
                            }
                            result.acknowledged += 1;
                            result.retried += u64::from(refusals > 0);
                            written.push(w);
                        }
                        Err(f) => result.failures.push(f),
                    }
                    break;
                }
                // No answer: the same request again (same key), a little later.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        result.refused += refusals;
        tokio::time::sleep(config.interval).await;
    }
    probe.read_back(&mut written).await;
    for w in &written {
        let missing: Vec<Failure> = w
            .found
            .iter()
            .zip(&setup.bases)
            .filter_map(|(found, (region, _))| {
                let reason = found.as_ref().err()?;
                Some(Failure {
                    item: Some(w.path.clone()),
                    step: Step::Read(region.clone()),
                    reason: format!(
                        "acknowledged but not found intact within {:?}: {reason}",
                        config.replication_deadline
                    ),
                })
            })
            .collect();
        result.verified += u64::from(missing.is_empty());
        result.failures.extend(missing);
    }
    Ok(result)
}

fn fenced(response: &Response) -> bool {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    is_fenced(response.status, &body)
}

/// The refusal's `Retry-After` in seconds (1 s when missing), at most [`MAX_RETRY_AFTER`].
fn retry_after(response: &Response) -> Duration {
    let seconds = response
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds).min(MAX_RETRY_AFTER)
}
