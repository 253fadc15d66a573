//! One check in progress: the writes in the write Region, each read back from every Region
//! until intact (every field written, `x-region` naming the Region read) or past its
//! replication deadline.

use std::time::{Duration, Instant};

use futures::StreamExt;
use http::{HeaderValue, Method};
use serde_json::Value;
use topology::Region;

use super::config::CheckConfig;
use super::findings::{ConsistencyCheck, Failure, LastWriterWins, Step, failure};
use crate::client::{Client, Outgoing, Response, X_REGION};
use crate::openapi::Collection;
use crate::report::secs;
use crate::scenario::{add_headers, request, text_field, version_of};
use crate::target::BaseUrl;

/// One check in progress.
pub(super) struct Probe<'a> {
    pub(super) client: &'a Client,
    pub(super) config: &'a CheckConfig,
    pub(super) collection: &'a Collection,
    pub(super) writer: &'a BaseUrl,
    pub(super) bases: &'a [(Region, BaseUrl)],
}

/// An acknowledged write being read back.
pub(super) struct Written {
    pub(super) id: String,
    pub(super) path: String,
    pub(super) sent: Value,
    pub(super) acked: Instant,
    /// Per Region (in `bases` order): when an intact read found it, or the last reason not.
    pub(super) found: Vec<Result<Instant, String>>,
}

/// How many requests the check has out at once.
const CONCURRENCY: usize = 16;
impl Probe<'_> {
    pub(super) async fn run(&self) -> ConsistencyCheck {
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
    pub(super) async fn create(&self) -> Result<Written, Failure> {
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
    pub(super) fn create_request(&self) -> Result<(Outgoing, Value), Failure> {
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
    pub(super) fn acknowledged(
        &self,
        response: &Response,
        sent: Value,
    ) -> Result<Written, Failure> {
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
    pub(super) async fn read_back(&self, written: &mut [Written]) -> u64 {
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
    pub(super) async fn read_intact(
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

    pub(super) async fn send(&self, base: &BaseUrl, out: &Outgoing) -> Result<Response, String> {
        match tokio::time::timeout(self.config.request_timeout, self.client.send(base, out)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(format!("{}: {}", e.kind.as_str(), e.detail)),
            Err(_) => Err(format!(
                "no response within {:?}",
                self.config.request_timeout
            )),
        }
    }
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
