//! A consistency check of one service across both Regions, for drills such as `local-world demo`.
//!
//! Given the manifest and an app, [`check`]:
//! 1. writes N items in a chosen Region, sending each create to that Region's own instance
//!    (the app's Regional URL), never through failover DNS;
//! 2. reads each item back from both Regions' instances until the body carries every field
//!    written and `x-region` names the Region read, within the replication deadline;
//! 3. requires every write acknowledged and every acknowledged write found, or lists each
//!    failure with its reason;
//! 4. probes last-writer-wins: one item updated from both Regions at once (within one
//!    replication window), then reports which write won (by the item's `updated_at` and
//!    `region` as the service returns them) and whether both Regions converged to one item.
//!
//! The operations come from the service's own OpenAPI document, as for the scenarios: no
//! service is known here by name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::{HeaderValue, Method};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use crate::client::{Client, Outgoing, Response, X_REGION};
use crate::config::{ConfigError, ConnectionReuse};
use crate::openapi::{Collection, Document, Update, derive};
use crate::report::secs;
use crate::resolve::Resolver;
use crate::scenario::{add_headers, request, text_field, version_of};
use crate::target::{AppTarget, BaseUrl, Scheme};

mod stale;
pub use stale::{StaleClientConfig, StaleWrites, stale_client_writes};

/// What to check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    /// The service to check.
    pub app: AppName,
    /// The Region whose instance receives the writes.
    pub write_region: Region,
    /// How many items to write.
    pub writes: usize,
    /// How long after its acknowledgement an item may take to be readable in both Regions.
    pub replication_deadline: Duration,
    /// Each request's time limit.
    pub request_timeout: Duration,
    /// How often an item not found yet is read again.
    pub read_interval: Duration,
    /// Whether to run the last-writer-wins probe.
    pub last_writer_wins: bool,
    /// PEM files of certificate authorities to trust for `https` URLs, besides the system's.
    pub extra_root_certificates: Vec<PathBuf>,
}

impl CheckConfig {
    /// `writes` items of `app` written in `write_region`, a 5 s replication deadline, and the
    /// last-writer-wins probe.
    pub fn new(app: AppName, write_region: Region, writes: usize) -> Self {
        Self {
            app,
            write_region,
            writes,
            replication_deadline: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            read_interval: Duration::from_millis(100),
            last_writer_wins: true,
            extra_root_certificates: Vec::new(),
        }
    }
}

/// Why the check could not run at all (a failed write or read is a finding, not an error).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("`{0}` is not an app of the manifest")]
    UnknownApp(AppName),
    #[error(
        "`{app}` has no Regional URL for {region} in the manifest: the check writes and reads each Region's instance directly"
    )]
    NoRegionalUrl { app: AppName, region: Region },
    #[error("cannot read `{app}`'s OpenAPI document at {url}: {reason}")]
    Document {
        app: AppName,
        url: String,
        reason: String,
    },
    #[error(
        "`{app}`'s OpenAPI document has no collection with a create and a read by id: {reason}"
    )]
    NoOperations { app: AppName, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Which step of the check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step", content = "region")]
pub enum Step {
    /// The create, in the write Region.
    Write,
    /// The read-back in a Region.
    Read(Region),
}

/// One failed write or read-back, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The item's path, once the write gave it an id.
    pub item: Option<String>,
    #[serde(flatten)]
    pub step: Step,
    pub reason: String,
}

/// One of the two concurrent updates of the last-writer-wins probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LwwWrite {
    /// The Region whose instance the update was sent to.
    pub region: Region,
    /// Its status code, or why there was no response.
    pub outcome: String,
    pub acknowledged: bool,
    /// Refused by the service's write fence (`503` `region-fenced`): its Region's routing
    /// control is OFF, so the write could not collide with the other Region's.
    #[serde(default)]
    pub fenced: bool,
    /// The item's `updated_at` as this write's response returned it.
    pub updated_at: Option<String>,
}

/// What the last-writer-wins probe found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum LastWriterWins {
    /// Not run, and why (no update operation in the document, or not asked for).
    Skipped { reason: String },
    /// The probe could not get to the concurrent writes.
    Failed { reason: String },
    /// Both Regions updated the item at once.
    Done {
        /// The item's path.
        item: String,
        /// The update used, `METHOD path`.
        operation: String,
        writes: Vec<LwwWrite>,
        /// The Region of the write that both Regions ended with (the item's `region`).
        winner: Option<Region>,
        /// The item's `updated_at` in the end.
        final_updated_at: Option<String>,
        /// Whether the winner is the write with the later `updated_at`.
        later_write_won: Option<bool>,
        /// Whether both Regions returned the same item within the replication deadline.
        converged: bool,
        converged_after_seconds: Option<f64>,
    },
}

/// Everything the check did and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyCheck {
    pub app: AppName,
    pub write_region: Region,
    /// The Regions every item was read back from.
    pub read_regions: Vec<Region>,
    /// The create used, `POST /things`.
    pub create: String,
    /// The read used, `GET /things/{id}`.
    pub read: String,
    /// Creates sent.
    pub sent: u64,
    /// Creates answered with a 2xx and an id.
    pub acknowledged: u64,
    /// Acknowledged items read back intact from every Region.
    pub verified: u64,
    /// Reads sent.
    pub reads: u64,
    /// The longest time from an acknowledgement to the first intact read in the other Region.
    pub worst_replication_delay_seconds: Option<f64>,
    /// Every failed write and read-back.
    pub failures: Vec<Failure>,
    pub last_writer_wins: LastWriterWins,
}

impl ConsistencyCheck {
    /// Every write acknowledged and found intact in both Regions; the last-writer-wins probe,
    /// if run, converged, with both updates acknowledged — or one refused by the write fence
    /// of a Region whose control is OFF (no conflict at all) and the other acknowledged and
    /// winning.
    pub fn passed(&self) -> bool {
        let lww = match &self.last_writer_wins {
            LastWriterWins::Skipped { .. } => true,
            LastWriterWins::Failed { .. } => false,
            LastWriterWins::Done {
                writes,
                converged,
                later_write_won,
                ..
            } => {
                let fenced = writes.iter().any(|w| w.fenced);
                *converged
                    && writes.iter().all(|w| w.acknowledged || w.fenced)
                    && writes.iter().any(|w| w.acknowledged)
                    && (!fenced || *later_write_won == Some(true))
            }
        };
        self.sent > 0
            && self.acknowledged == self.sent
            && self.verified == self.acknowledged
            && self.failures.is_empty()
            && lww
    }

    /// What was sent and read, and what was found, for people.
    pub fn summary(&self) -> String {
        let regions: Vec<&str> = self.read_regions.iter().map(Region::as_str).collect();
        let mut out = format!(
            "{}: {} x {} in {}, {} acknowledged; {} read back from {} ({} reads), {} intact; worst replication delay {}",
            self.app,
            self.sent,
            self.create,
            self.write_region,
            self.acknowledged,
            self.read,
            regions.join(" and "),
            self.reads,
            self.verified,
            self.worst_replication_delay_seconds
                .map_or_else(|| "not observed".into(), |d| format!("{d:.3} s")),
        );
        for f in &self.failures {
            let step = match &f.step {
                Step::Write => "write".to_owned(),
                Step::Read(r) => format!("read in {r}"),
            };
            out += &format!(
                "\n  failed {step} {}: {}",
                f.item.as_deref().unwrap_or("(no id)"),
                f.reason
            );
        }
        out += &match &self.last_writer_wins {
            LastWriterWins::Skipped { reason } => {
                format!("\n  last writer wins: skipped ({reason})")
            }
            LastWriterWins::Failed { reason } => format!("\n  last writer wins: failed ({reason})"),
            LastWriterWins::Done {
                item,
                operation,
                writes,
                winner,
                later_write_won,
                converged,
                converged_after_seconds,
                ..
            } => {
                let sent: Vec<String> = writes
                    .iter()
                    .map(|w| {
                        let fenced = if w.fenced { ", fenced" } else { "" };
                        format!("{} {}{fenced}", w.region, w.outcome)
                    })
                    .collect();
                format!(
                    "\n  last writer wins: {operation} on {item} from both Regions ({}); won: {}{}; {}",
                    sent.join(", "),
                    winner.as_ref().map_or("unknown", Region::as_str),
                    match later_write_won {
                        Some(true) if writes.iter().any(|w| w.fenced) => " (the only write taken)",
                        Some(true) => " (the later write)",
                        Some(false) => " (NOT the later write)",
                        None => "",
                    },
                    match (converged, converged_after_seconds) {
                        (true, Some(s)) => format!("both Regions converged in {s:.3} s"),
                        _ => "the Regions did NOT converge".into(),
                    }
                )
            }
        };
        out
    }
}

/// Whether a response is a write fence's refusal: `503` with the `region-fenced` problem type.
pub fn is_fenced(status: http::StatusCode, body: &Value) -> bool {
    status == http::StatusCode::SERVICE_UNAVAILABLE
        && body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/region-fenced"))
}

/// Runs the check. Must be called inside a Tokio runtime.
pub async fn check(
    manifest: &Manifest,
    config: &CheckConfig,
) -> Result<ConsistencyCheck, CheckError> {
    let setup = Setup::new(manifest, config).await?;
    Ok(setup.probe(config).run().await)
}

/// What a probe of one app needs: its client, each Region's own instance, the app's
/// hostname and the collection its document declares.
struct Setup {
    client: Client,
    bases: Vec<(Region, BaseUrl)>,
    writer: BaseUrl,
    hostname: BaseUrl,
    collection: Collection,
}

impl Setup {
    async fn new(manifest: &Manifest, config: &CheckConfig) -> Result<Self, CheckError> {
        let entry = manifest
            .app(&config.app)
            .ok_or_else(|| CheckError::UnknownApp(config.app.clone()))?;
        let target = AppTarget::from_entry(entry)?;
        let regions: Vec<Region> = manifest.regions.both().into_iter().cloned().collect();
        let mut bases = Vec::new();
        for region in &regions {
            let base = target
                .regional
                .iter()
                .find(|(r, _)| r == region)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| CheckError::NoRegionalUrl {
                    app: config.app.clone(),
                    region: region.clone(),
                })?;
            bases.push((region.clone(), base));
        }
        let client = client(manifest, config, &bases)?;
        let writer = bases
            .iter()
            .find(|(r, _)| *r == config.write_region)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| CheckError::NoRegionalUrl {
                app: config.app.clone(),
                region: config.write_region.clone(),
            })?;
        let collection = collection(&client, config, &writer).await?;
        Ok(Self {
            client,
            bases,
            writer,
            hostname: target.base,
            collection,
        })
    }

    fn probe<'a>(&'a self, config: &'a CheckConfig) -> Probe<'a> {
        Probe {
            client: &self.client,
            config,
            collection: &self.collection,
            writer: &self.writer,
            bases: &self.bases,
        }
    }
}

fn client(
    manifest: &Manifest,
    config: &CheckConfig,
    bases: &[(Region, BaseUrl)],
) -> Result<Client, CheckError> {
    let tls = if bases.iter().any(|(_, b)| b.scheme == Scheme::Https) {
        Some(crate::config::tls_with(&config.extra_root_certificates)?)
    } else {
        None
    };
    let resolver = Resolver::new(manifest.dns_server).map_err(ConfigError::from)?;
    Ok(Client::new(
        resolver,
        ConnectionReuse::PerHost,
        Duration::from_secs(5),
        tls,
    )
    .with_gateway_secret(manifest.gateway_secret.as_deref()))
}

/// The first collection of the service's document with a create and a read by id.
async fn collection(
    client: &Client,
    config: &CheckConfig,
    writer: &BaseUrl,
) -> Result<Collection, CheckError> {
    let url = format!(
        "{}://{}{}/openapi.json",
        scheme(writer),
        writer.authority,
        writer.prefix
    );
    let doc_error = |reason: String| CheckError::Document {
        app: config.app.clone(),
        url: url.clone(),
        reason,
    };
    let got = tokio::time::timeout(
        config.request_timeout,
        client.send(writer, &Outgoing::get("/openapi.json")),
    )
    .await
    .map_err(|_| doc_error(format!("no answer within {:?}", config.request_timeout)))?
    .map_err(|e| doc_error(e.detail))?;
    if !got.status.is_success() {
        return Err(doc_error(format!("answered {}", got.status)));
    }
    let derivation = derive(&Document::parse(&got.body).map_err(doc_error)?);
    derivation
        .api
        .collections
        .iter()
        .find(|c| c.create.is_some() && c.read.is_some())
        .cloned()
        .ok_or_else(|| CheckError::NoOperations {
            app: config.app.clone(),
            reason: if derivation.skipped.is_empty() {
                "none is declared".into()
            } else {
                derivation.skipped.join("; ")
            },
        })
}

fn scheme(base: &BaseUrl) -> &'static str {
    match base.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    }
}

/// One check in progress.
struct Probe<'a> {
    client: &'a Client,
    config: &'a CheckConfig,
    collection: &'a Collection,
    writer: &'a BaseUrl,
    bases: &'a [(Region, BaseUrl)],
}

/// An acknowledged write being read back.
struct Written {
    id: String,
    path: String,
    sent: Value,
    acked: Instant,
    /// Per Region (in `bases` order): when an intact read found it, or the last reason not.
    found: Vec<Result<Instant, String>>,
}

/// A failed write.
fn failure(item: Option<String>, reason: String) -> Failure {
    Failure {
        item,
        step: Step::Write,
        reason,
    }
}

/// How many requests the check has out at once.
const CONCURRENCY: usize = 16;

impl Probe<'_> {
    async fn run(&self) -> ConsistencyCheck {
        let c = self.collection;
        let read = c
            .read
            .as_ref()
            .map_or_else(String::new, |r| r.template.clone());
        let mut result = ConsistencyCheck {
            app: self.config.app.clone(),
            write_region: self.config.write_region.clone(),
            read_regions: self.bases.iter().map(|(r, _)| r.clone()).collect(),
            create: format!("POST {}", c.path),
            read: format!("GET {read}"),
            sent: 0,
            acknowledged: 0,
            verified: 0,
            reads: 0,
            worst_replication_delay_seconds: None,
            failures: Vec::new(),
            last_writer_wins: LastWriterWins::Skipped {
                reason: "not asked for".into(),
            },
        };
        let writes: Vec<Result<Written, Failure>> = futures::stream::iter(0..self.config.writes)
            .map(|_| self.create())
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        result.sent = writes.len() as u64;
        let mut written = Vec::new();
        for w in writes {
            match w {
                Ok(w) => written.push(w),
                Err(f) => result.failures.push(f),
            }
        }
        result.acknowledged = written.len() as u64;
        result.reads = self.read_back(&mut written).await;
        self.tally(&written, &mut result);
        if self.config.last_writer_wins {
            result.last_writer_wins = self.last_writer_wins(&mut result.reads).await;
        }
        result
    }

    /// One create in the write Region.
    async fn create(&self) -> Result<Written, Failure> {
        let (out, sent) = self.create_request()?;
        let response = self
            .send(self.writer, &out)
            .await
            .map_err(|e| failure(None, e))?;
        let written = self.acknowledged(&response, sent)?;
        if let Err(why) = region_is(&response, &self.config.write_region) {
            return Err(failure(Some(written.path), why));
        }
        Ok(written)
    }

    /// A create of the collection with a body from its schema and fresh headers (a new
    /// `Idempotency-Key`): sent again unchanged, it is the same write.
    fn create_request(&self) -> Result<(Outgoing, Value), Failure> {
        let create = self
            .collection
            .create
            .as_ref()
            .ok_or_else(|| failure(None, "no create".into()))?;
        let sent = create
            .body
            .as_ref()
            .map_or(Value::Null, |b| b.instantiate());
        let mut out = request(Method::POST, self.collection.path.clone(), Some(&sent));
        add_headers(&mut out, &create.headers, None);
        Ok((out, sent))
    }

    /// The item a create's `response` acknowledged, to be read back; a failure when the
    /// response is not a 2xx with an id.
    fn acknowledged(&self, response: &Response, sent: Value) -> Result<Written, Failure> {
        let read = self
            .collection
            .read
            .as_ref()
            .ok_or_else(|| failure(None, "no read".into()))?;
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let id = text_field(&body, &read.param).or_else(|| text_field(&body, "id"));
        let path = id.as_ref().map(|id| read.of(id));
        if !response.status.is_success() {
            return Err(failure(path, format!("answered {}", response.status)));
        }
        let (Some(id), Some(path)) = (id, path) else {
            return Err(failure(None, "the response has no id".into()));
        };
        Ok(Written {
            id,
            path,
            sent,
            acked: Instant::now(),
            found: vec![Err("not read yet".into()); self.bases.len()],
        })
    }

    /// Reads every written item from every Region until intact or past its deadline; the
    /// number of reads sent.
    async fn read_back(&self, written: &mut [Written]) -> u64 {
        let mut reads = 0;
        loop {
            let now = Instant::now();
            let due: Vec<(usize, usize)> = written
                .iter()
                .enumerate()
                .filter(|(_, w)| now < w.acked + self.config.replication_deadline)
                .flat_map(|(i, w)| {
                    (0..self.bases.len())
                        .filter(move |r| w.found[*r].is_err())
                        .map(move |r| (i, r))
                })
                .collect();
            if due.is_empty() {
                return reads;
            }
            reads += due.len() as u64;
            let results: Vec<(usize, usize, Result<Instant, String>)> = futures::stream::iter(due)
                .map(|(i, r)| {
                    let (region, base) = &self.bases[r];
                    let (path, sent) = (&written[i].path, &written[i].sent);
                    async move {
                        let got = self.read_intact(base, region, path, sent).await;
                        (i, r, got.map(|_| Instant::now()))
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (i, r, got) in results {
                written[i].found[r] = got;
            }
            tokio::time::sleep(self.config.read_interval).await;
        }
    }

    /// Reads `path` in `region`: the body, when it carries every field of `sent` and
    /// `x-region` names `region`.
    async fn read_intact(
        &self,
        base: &BaseUrl,
        region: &Region,
        path: &str,
        sent: &Value,
    ) -> Result<(Value, Option<HeaderValue>), String> {
        let response = self.send(base, &Outgoing::get(path)).await?;
        if !response.status.is_success() {
            return Err(format!("answered {}", response.status));
        }
        region_is(&response, region)?;
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|e| format!("the body is not JSON: {e}"))?;
        if let Some(diff) = differs(sent, &body, "") {
            return Err(diff);
        }
        let version = version_of(&response.headers, &body);
        Ok((body, version))
    }

    fn tally(&self, written: &[Written], result: &mut ConsistencyCheck) {
        let writer = self
            .bases
            .iter()
            .position(|(r, _)| *r == self.config.write_region);
        let mut worst: Option<Duration> = None;
        for w in written {
            let mut intact = true;
            for (r, found) in w.found.iter().enumerate() {
                match found {
                    Ok(at) if Some(r) != writer => {
                        let delay = at.saturating_duration_since(w.acked);
                        worst = worst.max(Some(delay));
                    }
                    Ok(_) => {}
                    Err(reason) => {
                        intact = false;
                        result.failures.push(Failure {
                            item: Some(w.path.clone()),
                            step: Step::Read(self.bases[r].0.clone()),
                            reason: format!(
                                "not found intact within {:?} of its acknowledgement: {reason}",
                                self.config.replication_deadline
                            ),
                        });
                    }
                }
            }
            result.verified += u64::from(intact);
        }
        result.worst_replication_delay_seconds = worst.map(secs);
    }

    async fn send(&self, base: &BaseUrl, out: &Outgoing) -> Result<Response, String> {
        match tokio::time::timeout(self.config.request_timeout, self.client.send(base, out)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(format!("{}: {}", e.kind.as_str(), e.detail)),
            Err(_) => Err(format!(
                "no response within {:?}",
                self.config.request_timeout
            )),
        }
    }

    /// One item, written and replicated, then updated from both Regions at once.
    async fn last_writer_wins(&self, reads: &mut u64) -> LastWriterWins {
        let Some(update) = &self.collection.update else {
            return LastWriterWins::Skipped {
                reason: format!(
                    "the document has no update of {} (PATCH, PUT or a POST action on the item)",
                    self.collection.path
                ),
            };
        };
        let written = match self.create().await {
            Ok(w) => w,
            Err(f) => {
                return LastWriterWins::Failed {
                    reason: format!("its item could not be written: {}", f.reason),
                };
            }
        };
        let mut one = [written];
        *reads += self.read_back(&mut one).await;
        let [written] = one;
        // Each Region's version of the item, read there, for `If-Match`.
        let mut versions = Vec::new();
        for (region, base) in self.bases {
            *reads += 1;
            match self
                .read_intact(base, region, &written.path, &written.sent)
                .await
            {
                Ok((_, version)) => versions.push(version),
                Err(why) => {
                    return LastWriterWins::Failed {
                        reason: format!(
                            "{} did not replicate to {region} in time: {why}",
                            written.path
                        ),
                    };
                }
            }
        }
        let target = written.path.clone();
        let path = update.path.of(&written.id);
        let sends = self
            .bases
            .iter()
            .zip(&versions)
            .map(|((region, base), version)| {
                let out = update_request(update, &path, version.as_ref());
                async move { (region.clone(), self.send(base, &out).await) }
            });
        let answers = futures::future::join_all(sends).await;
        let writes: Vec<LwwWrite> = answers
            .into_iter()
            .map(|(region, got)| match got {
                Ok(r) => {
                    let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                    LwwWrite {
                        region,
                        outcome: r.status.to_string(),
                        acknowledged: r.status.is_success(),
                        fenced: is_fenced(r.status, &body),
                        updated_at: text_field(&body, "updated_at"),
                    }
                }
                Err(why) => LwwWrite {
                    region,
                    outcome: why,
                    acknowledged: false,
                    fenced: false,
                    updated_at: None,
                },
            })
            .collect();
        let sent_at = Instant::now();
        let (converged, last) = self.converge(&target, reads).await;
        let final_item = last.as_ref();
        let final_region = final_item
            .and_then(|b| text_field(b, "region"))
            .and_then(|r| r.parse::<Region>().ok());
        let final_updated_at = final_item.and_then(|b| text_field(b, "updated_at"));
        let later = writes
            .iter()
            .filter(|w| w.acknowledged)
            .filter_map(|w| Some((w.updated_at.clone()?, w.region.clone())))
            .max();
        LastWriterWins::Done {
            item: target,
            operation: format!("{} {}", update.method, update.path.template),
            later_write_won: match (&later, &final_region) {
                (Some((_, region)), Some(winner)) => Some(region == winner),
                _ => None,
            },
            writes,
            winner: final_region,
            final_updated_at,
            converged: converged.is_some(),
            converged_after_seconds: converged
                .map(|at| secs(at.saturating_duration_since(sent_at))),
        }
    }

    /// Reads `path` from every Region until all return the same item, or the deadline; when
    /// they converged, and the last item read.
    async fn converge(&self, path: &str, reads: &mut u64) -> (Option<Instant>, Option<Value>) {
        let deadline = Instant::now() + self.config.replication_deadline;
        let mut last = None;
        loop {
            let mut bodies: BTreeMap<usize, Value> = BTreeMap::new();
            for (i, (_, base)) in self.bases.iter().enumerate() {
                *reads += 1;
                if let Ok(r) = self.send(base, &Outgoing::get(path)).await
                    && r.status.is_success()
                    && let Ok(body) = serde_json::from_slice::<Value>(&r.body)
                {
                    bodies.insert(i, body);
                }
            }
            let mut values = bodies.values();
            let first = values.next().cloned();
            let same =
                bodies.len() == self.bases.len() && values.all(|b| Some(b) == first.as_ref());
            last = first.or(last);
            if same {
                return (Some(Instant::now()), last);
            }
            if Instant::now() >= deadline {
                return (None, last);
            }
            tokio::time::sleep(self.config.read_interval).await;
        }
    }
}

fn update_request(update: &Update, path: &str, version: Option<&HeaderValue>) -> Outgoing {
    let body = update.body.as_ref().map(|b| b.instantiate());
    let mut out = request(update.method.clone(), path.to_owned(), body.as_ref());
    add_headers(&mut out, &update.headers, version);
    out
}

/// Whether the response's `x-region` header names `region`.
fn region_is(response: &Response, region: &Region) -> Result<(), String> {
    match response.headers.get(X_REGION).map(|v| v.to_str()) {
        Some(Ok(v)) if v == region.as_str() => Ok(()),
        Some(Ok(v)) => Err(format!("x-region is {v}, not {region}")),
        _ => Err("the response has no x-region header".into()),
    }
}

/// Where `got` does not carry what `sent` wrote: every field of an object, every element of
/// an array, every other value equal. `None` when it does.
fn differs(sent: &Value, got: &Value, at: &str) -> Option<String> {
    match (sent, got) {
        (Value::Null, _) => None,
        (Value::Object(s), Value::Object(g)) => s.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            match g.get(k) {
                Some(gv) => differs(v, gv, &here),
                None => Some(format!("`{here}` is missing")),
            }
        }),
        (Value::Array(s), Value::Array(g)) if s.len() == g.len() => s
            .iter()
            .zip(g)
            .enumerate()
            .find_map(|(i, (sv, gv))| differs(sv, gv, &format!("{at}[{i}]"))),
        (s, g) if s == g => None,
        // Services may normalise text (an address in lower case).
        (Value::String(s), Value::String(g)) if s.eq_ignore_ascii_case(g) => None,
        (s, g) => Some(format!("`{at}` is {g}, but {s} was written")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_read_must_carry_every_written_field() {
        let sent = json!({"name": "Ada", "items": [{"sku": "A", "quantity": 2}]});
        let got =
            json!({"id": "1", "name": "Ada", "items": [{"sku": "A", "quantity": 2, "total": 4}]});
        assert_eq!(differs(&sent, &got, ""), None);
        let wrong = json!({"name": "Ada", "items": [{"sku": "A", "quantity": 3}]});
        assert_eq!(
            differs(&sent, &wrong, "").unwrap(),
            "`items[0].quantity` is 3, but 2 was written"
        );
        assert_eq!(
            differs(&sent, &json!({"items": got["items"]}), "").unwrap(),
            "`name` is missing"
        );
        assert_eq!(
            differs(&json!({"e": "A@X.test"}), &json!({"e": "a@x.test"}), ""),
            None
        );
    }
}
