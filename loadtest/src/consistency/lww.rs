//! The last-writer-wins probe: one item, written and replicated, then updated from both
//! Regions at once (within one replication window); which write both Regions end with, and
//! whether they converge.

use std::collections::BTreeMap;
use std::time::Instant;

use http::HeaderValue;
use serde_json::Value;
use topology::Region;

use super::findings::{LastWriterWins, LwwWrite};
use super::probe::Probe;
use crate::client::Outgoing;
use crate::openapi::Update;
use crate::report::secs;
use crate::scenario::{add_headers, request, text_field};

/// Whether a response is a write fence's refusal: `503` with the `region-fenced` problem type.
pub fn is_fenced(status: http::StatusCode, body: &Value) -> bool {
    status == http::StatusCode::SERVICE_UNAVAILABLE
        && body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/region-fenced"))
}

impl Probe<'_> {
    /// One item, written and replicated, then updated from both Regions at once.
    pub(super) async fn last_writer_wins(&self, reads: &mut u64) -> LastWriterWins {
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
