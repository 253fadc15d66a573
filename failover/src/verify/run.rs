//! One app's verification in progress: the stages in order, each looked at until it passes or
//! its time is up, or (for a stage that asks a Region's CloudWatch) until that Region has
//! failed to answer [`UNANSWERED_LOOKS`] looks in a row (one, once an earlier stage was
//! unknown: the Region is gone, waiting for it again only delays the DNS stages): then it is
//! unknown, and the next stage goes on.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;
use topology::manifest::{AppEntry, Manifest};
use topology::{AppName, Region};

use super::expected::Expected;
use super::http::{X_REGION, get_region};
use super::lookup::Lookup;
use super::prepare::{Prepared, VerifyConfig, stage_budget};
use crate::client::Client;
use crate::verified::{Outcome, Stage, StageName, Verified, VerifyError};

/// How many cluster endpoints must read back the new states (ARC's quorum of its five).
pub const QUORUM: usize = 3;

/// After this many looks in a row without an answer from its Region, a stage that may be
/// unknown is.
pub const UNANSWERED_LOOKS: u32 = 3;

/// Why a look did not pass.
pub(super) enum Miss {
    /// An answer, but not the target Region's.
    Wrong(String),
    /// No answer: the Region asked did not answer, or the answers known do not decide.
    Unanswered(String),
}

impl Miss {
    fn text(self) -> String {
        match self {
            Self::Wrong(t) | Self::Unanswered(t) => t,
        }
    }
}

/// What a stage that meets no answer becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WhenUnanswered {
    /// It fails at its deadline, like a wrong answer.
    Fails,
    /// It is unknown (its Region did not answer), and the next stage goes on.
    Unknown,
}

/// One app's verification in progress.
pub(super) struct Run<'a> {
    prepared: &'a Prepared,
    region: &'a Region,
    since: Instant,
    config: &'a VerifyConfig,
    stages: Vec<Stage>,
    polls: u32,
}

impl Run<'_> {
    /// How many looks in a row without an answer make a stage unknown.
    fn unanswered_looks(&self) -> u32 {
        if self.stages.iter().any(|s| s.outcome == Outcome::Unknown) {
            1
        } else {
            UNANSWERED_LOOKS
        }
    }
}

impl<'a> Run<'a> {
    pub(super) fn new(
        prepared: &'a Prepared,
        region: &'a Region,
        since: Instant,
        config: &'a VerifyConfig,
    ) -> Self {
        Self {
            prepared,
            region,
            since,
            config,
            stages: Vec::new(),
            polls: 0,
        }
    }

    pub(super) fn app(&self) -> &AppName {
        &self.prepared.app
    }

    pub(super) fn region(&self) -> &Region {
        self.region
    }

    pub(super) fn setup(&self, message: String) -> VerifyError {
        VerifyError::Setup {
            app: self.app().clone(),
            message,
        }
    }

    pub(super) fn skip(&mut self, stage: StageName, detail: String) {
        self.stages.push(Stage {
            stage,
            outcome: Outcome::Skipped,
            elapsed_ms: None,
            detail,
        });
    }

    fn report(&self) -> Verified {
        Verified {
            app: self.app().clone(),
            region: self.region.clone(),
            mechanism: self.prepared.mechanism,
            stages: self.stages.clone(),
            elapsed_ms: millis(self.since.elapsed()),
            polls: self.polls,
        }
    }

    /// Looks until `look` passes (`Ok(detail)`) or the time is up; `Err` is what it saw.
    /// `asked` names who a look asks, for a look that gets no answer.
    async fn stage<F, Fut>(
        &mut self,
        stage: StageName,
        asked: &str,
        look: F,
    ) -> Result<(), VerifyError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<String, String>>,
    {
        self.looks(stage, asked, WhenUnanswered::Fails, || async {
            look().await.map_err(Miss::Wrong)
        })
        .await
    }

    /// The stage's deadline: its own budget for the mechanism, within the overall timeout,
    /// from when the move takes effect.
    fn deadline(&self, stage: StageName) -> Instant {
        let budget = stage_budget(self.prepared.mechanism, self.prepared.environment, stage)
            .map_or(self.config.timeout, |b| b.min(self.config.timeout));
        self.since + self.config.not_before + budget
    }

    /// Looks until `look` passes, or its time is up (failed; or unknown when the looks got no
    /// answer and `unanswered` allows it), or [`UNANSWERED_LOOKS`] looks in a row got no answer
    /// (unknown, when allowed).
    pub(super) async fn looks<F, Fut>(
        &mut self,
        stage: StageName,
        asked: &str,
        unanswered: WhenUnanswered,
        look: F,
    ) -> Result<(), VerifyError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<String, Miss>>,
    {
        let deadline = self.deadline(stage);
        let give_up_after = self.unanswered_looks();
        // What the last look that finished said: a look the deadline cuts short says less.
        let mut said: Option<String> = None;
        let mut in_a_row = 0;
        loop {
            self.polls += 1;
            // No look outlasts the deadline by much: a hung server fails the stage on time.
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = self
                .config
                .request_timeout
                .min(left)
                .max(Duration::from_millis(50));
            let (seen, cut_short) = match tokio::time::timeout(limit, look()).await {
                Ok(seen) => (seen, false),
                Err(_) => (
                    Err(Miss::Unanswered(format!(
                        "{asked} gave no answer within {:.1} s",
                        limit.as_secs_f64()
                    ))),
                    limit < self.config.request_timeout,
                ),
            };
            let elapsed_ms = Some(millis(self.since.elapsed()));
            let miss = match seen {
                Ok(detail) => {
                    self.push(stage, Outcome::Passed, elapsed_ms, detail);
                    return Ok(());
                }
                Err(miss) => miss,
            };
            let no_answer = matches!(miss, Miss::Unanswered(_));
            in_a_row = if no_answer { in_a_row + 1 } else { 0 };
            let last = miss.text();
            let may_be_unknown = unanswered == WhenUnanswered::Unknown && no_answer;
            let time_is_up = Instant::now() + self.config.interval >= deadline;
            let last = match &said {
                Some(said) if cut_short && time_is_up => said.clone(),
                _ => last,
            };
            if may_be_unknown && (time_is_up || in_a_row >= give_up_after) {
                self.push(stage, Outcome::Unknown, elapsed_ms, last);
                return Ok(());
            }
            if time_is_up {
                self.push(stage, Outcome::Failed, elapsed_ms, last.clone());
                return Err(VerifyError::Stage {
                    app: self.app().clone(),
                    region: self.region.clone(),
                    mechanism: self.prepared.mechanism,
                    stage,
                    waited: self.since.elapsed(),
                    last,
                    report: Box::new(self.report()),
                });
            }
            if !cut_short {
                said = Some(last);
            }
            tokio::time::sleep(self.config.interval).await;
        }
    }

    fn push(
        &mut self,
        stage: StageName,
        outcome: Outcome,
        elapsed_ms: Option<u64>,
        detail: String,
    ) {
        self.stages.push(Stage {
            stage,
            outcome,
            elapsed_ms,
            detail,
        });
    }

    /// Stage 1: a quorum of endpoints, each asked alone, reads the target ON and the other OFF.
    pub(super) async fn quorum(&mut self, client: &Client) -> Result<(), VerifyError> {
        let manifest = client.manifest();
        let entry = app_entry(manifest, self.app()).map_err(|m| self.setup(m))?;
        let other = manifest
            .regions
            .other(self.region)
            .ok_or_else(|| self.setup(format!("`{}` is not a Region here", self.region)))?;
        let (on, off) = match (
            entry.routing_control(self.region),
            entry.routing_control(other),
        ) {
            (Some(on), Some(off)) => (on, off),
            _ => return Err(self.setup("the manifest lacks a routing control".into())),
        };
        let endpoints = manifest
            .cluster()
            .map(|c| c.endpoints.as_slice())
            .unwrap_or_default();
        let need = QUORUM.min(endpoints.len());
        let (region, other) = (self.region.clone(), other.clone());
        let pair = [on, off];
        let pair = &pair;
        self.stage(StageName::Quorum, "the cluster endpoints", || async {
            let reads =
                futures::future::join_all((0..endpoints.len()).map(|i| client.states_at(i, pair)))
                    .await;
            let agree = reads
                .iter()
                .filter(|r| r.as_deref() == Ok(&[true, false]))
                .count();
            let text = format!(
                "{agree} of {} endpoints read {region} ON, {other} OFF (need {need})",
                endpoints.len()
            );
            if agree >= need {
                Ok(text)
            } else {
                let why: Vec<String> = reads
                    .iter()
                    .zip(endpoints)
                    .filter_map(|(r, e)| match r {
                        Ok(states) if states.as_slice() == [true, false] => None,
                        Ok(states) => Some(format!("{}: reads {states:?}", e.region)),
                        Err(reason) => Some(format!("{}: {reason}", e.region)),
                    })
                    .collect();
                Err(format!("{text}; {}", why.join("; ")))
            }
        })
        .await
    }

    /// The DNS and HTTP stages (2 to 4 with ARC, 4 to 6 with the health-check mechanism).
    pub(super) async fn traffic(mut self, manifest: &Manifest) -> Result<Verified, VerifyError> {
        let entry = app_entry(manifest, self.app()).map_err(|m| self.setup(m))?;
        let host = self.prepared.host.as_str();
        if host.parse::<IpAddr>().is_ok() {
            let note = format!("the URL names the address {host}: nothing to resolve");
            self.skip(StageName::Authoritative, note.clone());
            self.skip(StageName::Recursive, note);
        } else {
            let expected =
                Expected::new(manifest, entry, self.region).map_err(|m| self.setup(m))?;
            self.dns(manifest, &expected).await?;
        }
        if entry.client_certificate_required {
            self.skip(
                StageName::Http,
                "the app's own names admit only the api gateway's client certificate (mutual \
                 TLS): the DNS stages show the move"
                    .into(),
            );
        } else {
            self.http().await?;
        }
        Ok(self.report())
    }

    /// Stages 2 and 3: the zone's own servers, then the caching resolver, answer with the
    /// target Region's address.
    async fn dns(&mut self, manifest: &Manifest, expected: &Expected) -> Result<(), VerifyError> {
        let prepared = self.prepared;
        let host = prepared.host.as_str();
        let region = self.region.clone();
        match Lookup::authoritative(manifest, self.config.request_timeout).await {
            Ok(Some(authoritative)) => {
                let asked = authoritative.describe().to_owned();
                self.stage(StageName::Authoritative, &asked, || async {
                    let ips = authoritative.resolve(host).await?;
                    expected.judge(&ips, &region, &asked).await
                })
                .await?
            }
            Ok(None) => self.skip(
                StageName::Authoritative,
                "the manifest names no authoritative server (name_servers); redeploy to record them".into(),
            ),
            Err(message) => return Err(self.setup(message)),
        }
        let recursive = &prepared.recursive;
        let asked = recursive.describe();
        self.stage(StageName::Recursive, asked, || async {
            let ips = recursive.resolve(host).await?;
            expected.judge(&ips, &region, asked).await
        })
        .await
    }

    /// Stage 4: `GET /` at the address the caching resolver gives answers from the target.
    async fn http(&mut self) -> Result<(), VerifyError> {
        let prepared = self.prepared;
        let (host, port) = (prepared.host.as_str(), prepared.port);
        let region = self.region.clone();
        let asked = format!("GET {}", prepared.url);
        self.stage(StageName::Http, &asked, || async {
            let ips = prepared.recursive.resolve(host).await?;
            let ip = *ips.first().ok_or("no address")?;
            let seen = get_region(&prepared.url, host, SocketAddr::new(ip, port)).await?;
            let text = format!("{X_REGION}: {seen} from {ip}:{port}");
            if seen == region { Ok(text) } else { Err(text) }
        })
        .await
    }
}

pub(super) fn app_entry<'m>(manifest: &'m Manifest, app: &AppName) -> Result<&'m AppEntry, String> {
    manifest
        .app(app)
        .ok_or_else(|| format!("`{app}` is not in the manifest"))
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
