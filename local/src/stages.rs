//! Each move of the drill verified stage by stage, as `failover shift --verify` does: the new
//! states read back from a quorum of cluster endpoints, the authoritative DNS answer (the
//! local Route 53), a recursive resolver's answer (cached before the move, so limited by the
//! TTL) and the first `GET /` answered by the target Region. The verification runs alongside
//! the drill; the report lists every stage of every move with its time from the call.
//!
//! With the `health-check` mechanism, stage 1 is the flags' alarms instead of a quorum: both
//! read with DescribeAlarms where they live, until Route 53's rules applied to them (an alarm
//! in ALARM takes its Region out) answer the target Region. It fills the `quorum` slot of the
//! `failover` library's stages; stages 2 to 4 are the library's, started once stage 1 passed
//! (their resolver caches the answer DNS gives then, still the old one until a health check
//! reads the alarm).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use failover::{Client, ClientConfig, Outcome, Stage, StageName, VerifyConfig};
use serde::Serialize;
use tokio::task::JoinHandle;
use topology::manifest::Manifest;
use topology::{AppName, Mechanism, Region};

use crate::moves::FlagClient;

/// One app's stages after one move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppStages {
    pub app: AppName,
    pub region: Region,
    pub stages: Vec<Stage>,
    /// Why verification stopped, when a stage failed or could not start.
    pub error: Option<String>,
}

impl AppStages {
    /// All four stages passed (or had nothing to ask), each no earlier than the one before.
    pub fn in_order(&self) -> bool {
        let times: Vec<u64> = self.stages.iter().filter_map(|s| s.elapsed_ms).collect();
        self.error.is_none()
            && self.stages.len() == 4
            && self.stages.iter().all(|s| s.outcome != Outcome::Failed)
            && times.windows(2).all(|w| w[0] <= w[1])
    }
}

/// The stages of every app of one move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveStages {
    /// The move, as marked on the timeline.
    pub label: String,
    pub apps: Vec<AppStages>,
}

/// A verification running alongside the drill.
pub struct Pending {
    label: String,
    task: JoinHandle<Vec<AppStages>>,
}

/// How long a move may take to reach its last stage before it is reported failed.
const TIMEOUT: Duration = Duration::from_secs(30);

fn config() -> VerifyConfig {
    VerifyConfig {
        timeout: TIMEOUT,
        interval: Duration::from_millis(50),
        ..VerifyConfig::default()
    }
}

/// A move's verification, prepared before the call.
pub struct Prepared {
    apps: Vec<AppName>,
    prepared: Vec<Result<failover::Prepared, String>>,
    /// When preparing ended: the move's call comes right after, and stages count from here.
    since: Instant,
}

/// Prepares the verification of `apps` (call it just before the move: the recursive
/// resolver caches the answer clients hold now).
pub async fn prepare(manifest: &Manifest, apps: &[AppName]) -> Prepared {
    let config = config();
    let mut prepared = Vec::with_capacity(apps.len());
    for app in apps {
        prepared.push(
            failover::prepare(manifest, app, &config)
                .await
                .map_err(|e| e.to_string()),
        );
    }
    Prepared {
        apps: apps.to_vec(),
        prepared,
        since: Instant::now(),
    }
}

/// Verifies `prepared` moving to `to`, in the background.
pub fn start(manifest: &Manifest, label: String, prepared: Prepared, to: Region) -> Pending {
    let manifest = manifest.clone();
    let task = tokio::spawn(async move {
        match manifest.mechanism() {
            Mechanism::Arc => verify_arc(&manifest, prepared, &to).await,
            Mechanism::HealthCheck => verify_flags(&manifest, prepared, &to).await,
        }
    });
    Pending { label, task }
}

async fn verify_arc(manifest: &Manifest, prepared: Prepared, to: &Region) -> Vec<AppStages> {
    let Prepared {
        apps,
        prepared,
        since,
    } = prepared;
    let client = match Client::from_manifest(manifest, ClientConfig::default()) {
        Ok(client) => client,
        Err(e) => {
            return apps
                .into_iter()
                .map(|app| failed(app, to, e.to_string()))
                .collect();
        }
    };
    let config = config();
    let runs = apps.into_iter().zip(prepared).map(|(app, prepared)| {
        let (client, config) = (&client, &config);
        async move {
            let prepared = match prepared {
                Ok(p) => p,
                Err(e) => return failed(app, to, e),
            };
            let since = tokio::time::Instant::from_std(since);
            match failover::verify_shift(client, &prepared, to, since, config).await {
                Ok(v) => AppStages {
                    app,
                    region: to.clone(),
                    stages: v.stages,
                    error: None,
                },
                Err(e) => AppStages {
                    app,
                    region: to.clone(),
                    stages: e.report().map(|r| r.stages.clone()).unwrap_or_default(),
                    error: Some(e.to_string()),
                },
            }
        }
    });
    futures::future::join_all(runs).await
}

async fn verify_flags(manifest: &Manifest, prepared: Prepared, to: &Region) -> Vec<AppStages> {
    let Prepared { apps, since, .. } = prepared;
    let client = match FlagClient::from_manifest(manifest) {
        Ok(client) => client,
        Err(e) => {
            return apps
                .into_iter()
                .map(|app| failed(app, to, e.to_string()))
                .collect();
        }
    };
    let config = config();
    let runs = apps.into_iter().map(|app| {
        let (client, config) = (&client, &config);
        async move {
            let alarms = match alarms_answer(client, manifest, &app, to, since).await {
                Ok(stage) => stage,
                Err(why) => return failed(app, to, why),
            };
            let offset = millis(since.elapsed());
            let shifted = |mut stage: Stage| {
                stage.elapsed_ms = stage.elapsed_ms.map(|ms| ms + offset);
                stage
            };
            match failover::verify(manifest, &app, to, config).await {
                Ok(v) => AppStages {
                    app,
                    region: to.clone(),
                    stages: with_first(alarms, v.stages, shifted),
                    error: None,
                },
                Err(e) => AppStages {
                    stages: with_first(
                        alarms,
                        e.report().map(|r| r.stages.clone()).unwrap_or_default(),
                        shifted,
                    ),
                    app,
                    region: to.clone(),
                    error: Some(e.to_string()),
                },
            }
        }
    });
    futures::future::join_all(runs).await
}

/// `first`, then the library's DNS and HTTP stages (after the mechanism's own, which it
/// skipped), timed from the call.
fn with_first(first: Stage, stages: Vec<Stage>, shifted: impl Fn(Stage) -> Stage) -> Vec<Stage> {
    let traffic = [
        StageName::Authoritative,
        StageName::Recursive,
        StageName::Http,
    ];
    std::iter::once(first)
        .chain(
            stages
                .into_iter()
                .filter(|s| traffic.contains(&s.stage))
                .map(shifted),
        )
        .collect()
}

/// Stage 1 with the flags: polls both of `app`'s flag alarms until Route 53's rules applied
/// to them answer `to`, or the time is up.
async fn alarms_answer(
    client: &FlagClient,
    manifest: &Manifest,
    app: &AppName,
    to: &Region,
    since: Instant,
) -> Result<Stage, String> {
    let regions = &manifest.regions;
    let mut last = String::new();
    while since.elapsed() < TIMEOUT {
        let (p, s) = tokio::join!(
            client.in_alarm(app, &regions.primary),
            client.in_alarm(app, &regions.secondary)
        );
        match (p, s) {
            (Ok(p_out), Ok(s_out)) => {
                let answer = if crate::dns::answers_primary(!p_out, !s_out) {
                    &regions.primary
                } else {
                    &regions.secondary
                };
                let state = |out: bool| if out { "ALARM" } else { "not in alarm" };
                last = format!(
                    "the alarm taking out {} {}, {} {}: Route 53 answers {answer}",
                    regions.primary,
                    state(p_out),
                    regions.secondary,
                    state(s_out)
                );
                if answer == to {
                    return Ok(Stage {
                        stage: StageName::Quorum,
                        outcome: Outcome::Passed,
                        elapsed_ms: Some(millis(since.elapsed())),
                        detail: last,
                    });
                }
            }
            (p, s) => {
                last = [p.err(), s.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "stage 1 (the flags' alarms) not reached within {TIMEOUT:?}: {last}"
    ))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn failed(app: AppName, to: &Region, why: String) -> AppStages {
    AppStages {
        app,
        region: to.clone(),
        stages: Vec::new(),
        error: Some(why),
    }
}

/// Waits for every pending verification.
pub async fn finish(pending: Vec<Pending>) -> Vec<MoveStages> {
    let mut moves = Vec::with_capacity(pending.len());
    for Pending { label, task } in pending {
        let apps = task.await.unwrap_or_default();
        moves.push(MoveStages { label, apps });
    }
    moves
}

/// The stages as a table, one row per app and move; stage 1 is named by `mechanism`.
pub fn table(moves: &[MoveStages], mechanism: Mechanism) -> String {
    let mut out = String::from(
        "Staged verification of each move (time from the call, as `failover shift --verify` reports):\n",
    );
    let first = match mechanism {
        Mechanism::Arc => "1 quorum",
        Mechanism::HealthCheck => "1 alarms",
    };
    let _ = writeln!(
        out,
        "  {:<30} {:<10} {:>9} {:>15} {:>11} {:>8}",
        "move", "app", first, "2 authoritative", "3 recursive", "4 GET /"
    );
    for m in moves {
        for a in &m.apps {
            let cell = |i: usize| {
                a.stages.get(i).map_or_else(
                    || "-".to_owned(),
                    |s| match (s.outcome, s.elapsed_ms) {
                        (Outcome::Skipped, _) => "skipped".to_owned(),
                        (Outcome::Failed, _) => "FAILED".to_owned(),
                        (Outcome::Unknown, _) => "unknown".to_owned(),
                        (Outcome::Passed, Some(ms)) => format!("{:.2} s", ms as f64 / 1000.0),
                        (Outcome::Passed, None) => "passed".to_owned(),
                    },
                )
            };
            let _ = writeln!(
                out,
                "  {:<30} {:<10} {:>9} {:>15} {:>11} {:>8}",
                m.label,
                a.app.as_str(),
                cell(0),
                cell(1),
                cell(2),
                cell(3)
            );
            if let Some(error) = &a.error {
                let _ = writeln!(out, "    {error}");
            }
        }
    }
    out
}
