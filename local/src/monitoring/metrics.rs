//! What the world measures, published into its local CloudWatch as the AWS services publish
//! it, so that the alarms have the data they have on AWS:
//!
//! - per app and Region, what API Gateway publishes (`AWS/ApiGateway`, `ApiName` =
//!   `<prefix>-<app>`): `Count`, `5XXError` and `4XXError` (0 or 1 per request, so their
//!   Average is the share), `Latency` (ms, per request), measured around each instance,
//!   injected faults included;
//! - per service and Region, what Lambda publishes (`AWS/Lambda`, `FunctionName` =
//!   `<prefix>-<app>`), derived from the instance's responses, since a local instance has no
//!   invocations: `Errors` counts its 5xx responses except the write fence's refusals (a 503
//!   with `Retry-After`, a planned answer as on AWS, where the function returns it), standing
//!   for failed invocations; `Throttles` counts its 429s;
//! - per table and direction, DynamoDB's `ReplicationLatency` (`TableName`, `ReceivingRegion`),
//!   in the Region the changes come from: each change's time to reach the replica, and the age
//!   of the oldest still waiting;
//! - per failover record, Route 53's `HealthCheckStatus` (`HealthCheckId`, 1 healthy, 0 not)
//!   in us-east-1, where Route 53 publishes it.
//!
//! The publisher sends what was measured every few hundred milliseconds (a quarter of the
//! local alarm period), each batch stamped when it is sent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use local_cloudwatch::{
    Dimensions, LocalCloudWatch, MetricDatum, MetricName, Namespace, Sample, StorageResolution,
    Unit,
};
use topology::manifest::ROUTE53_METRICS_REGION;
use topology::{AppName, Region};

use super::PREFIX;
use crate::dns::Answers;
use crate::replication::LatencyFeed;

/// The most values one datum carries (CloudWatch's limit).
const VALUES_PER_DATUM: usize = 150;

/// The REST API's name, as API Gateway's metrics carry it.
pub fn api_name(app: &AppName) -> String {
    format!("{PREFIX}-{app}")
}

/// The function's name, as Lambda's metrics carry it.
pub fn function_name(app: &AppName) -> String {
    format!("{PREFIX}-{app}")
}

/// What one instance answered since the last publication.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Window {
    pub requests: u64,
    pub server_errors: u64,
    pub client_errors: u64,
    pub function_errors: u64,
    pub throttles: u64,
    /// Latency, in µs rounded to two significant digits, and how many requests took it.
    latencies: BTreeMap<u64, u64>,
}

impl Window {
    fn record(&mut self, status: StatusCode, latency: Duration, planned_refusal: bool) {
        self.requests += 1;
        if status.is_server_error() {
            self.server_errors += 1;
            if !planned_refusal {
                self.function_errors += 1;
            }
        }
        if status.is_client_error() {
            self.client_errors += 1;
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.throttles += 1;
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        *self.latencies.entry(two_digits(micros)).or_default() += 1;
    }

    /// The latencies in ms, with their counts.
    pub fn latencies_ms(&self) -> Vec<(f64, f64)> {
        self.latencies
            .iter()
            .map(|(us, n)| (*us as f64 / 1000.0, *n as f64))
            .collect()
    }
}

/// `n` rounded to two significant digits: enough for a percentile, and few distinct values.
fn two_digits(n: u64) -> u64 {
    let mut scale = 1;
    while n / scale >= 100 {
        scale *= 10;
    }
    (n + scale / 2) / scale * scale
}

/// What one instance answers, measured around it (faults included), until published.
#[derive(Debug, Default)]
pub struct ApiRecorder(Mutex<Window>);

impl ApiRecorder {
    /// Counts one response.
    pub fn record(&self, status: StatusCode, latency: Duration, planned_refusal: bool) {
        self.window().record(status, latency, planned_refusal);
    }

    /// What was recorded since the last call.
    pub fn take(&self) -> Window {
        std::mem::take(&mut *self.window())
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The axum middleware that records every response of an instance.
pub async fn record(
    State(recorder): State<Arc<ApiRecorder>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    // The write fence's refusal is a 503 with Retry-After; an injected fault's has none.
    let planned = response.status() == StatusCode::SERVICE_UNAVAILABLE
        && response.headers().contains_key(header::RETRY_AFTER);
    recorder.record(response.status(), started.elapsed(), planned);
    response
}

/// One instance's recorder, and what it stands for.
pub(crate) struct Recorded {
    pub(crate) app: AppName,
    pub(crate) region: Region,
    /// A service (with a function) rather than the gateway.
    pub(crate) service: bool,
    pub(crate) recorder: Arc<ApiRecorder>,
}

/// The health checks whose status Route 53 publishes: per app, its two records'.
pub(crate) struct Record {
    pub(crate) app: AppName,
    pub(crate) primary: String,
    pub(crate) secondary: String,
}

/// Everything the publisher reads.
pub(crate) struct Sources {
    pub(crate) instances: Vec<Recorded>,
    pub(crate) replication: LatencyFeed,
    pub(crate) dns: Answers,
    pub(crate) records: Vec<Record>,
}

/// Publishes what `sources` measured into `cloudwatch`, every `every`, until aborted.
pub(crate) async fn publish(cloudwatch: Arc<LocalCloudWatch>, sources: Sources, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for (region, namespace, data) in batches(&sources) {
            if let Err(error) = cloudwatch.put_metric_data(&region, &namespace, &data) {
                tracing::warn!(%error, %region, %namespace, "cannot publish the world's metrics");
            }
        }
    }
}

/// One tick's data: per Region and namespace, the datums to publish.
fn batches(sources: &Sources) -> Vec<(Region, Namespace, Vec<MetricDatum>)> {
    let mut out: BTreeMap<(Region, &'static str), Vec<MetricDatum>> = BTreeMap::new();
    for instance in &sources.instances {
        let window = instance.recorder.take();
        if window.requests == 0 {
            continue;
        }
        let api = dims([("ApiName", api_name(&instance.app))]);
        let gateway = out
            .entry((instance.region.clone(), "AWS/ApiGateway"))
            .or_default();
        gateway.push(datum(
            "Count",
            &api,
            vec![(1.0, window.requests as f64)],
            None,
        ));
        gateway.push(share(
            "5XXError",
            &api,
            window.server_errors,
            window.requests,
        ));
        gateway.push(share(
            "4XXError",
            &api,
            window.client_errors,
            window.requests,
        ));
        gateway.extend(values(
            "Latency",
            &api,
            window.latencies_ms(),
            Unit::Milliseconds,
        ));
        if instance.service {
            let function = dims([("FunctionName", function_name(&instance.app))]);
            let lambda = out
                .entry((instance.region.clone(), "AWS/Lambda"))
                .or_default();
            lambda.push(share(
                "Errors",
                &function,
                window.function_errors,
                window.requests,
            ));
            lambda.push(share(
                "Throttles",
                &function,
                window.throttles,
                window.requests,
            ));
        }
    }
    for link in sources.replication.take() {
        let dimensions = dims([
            ("TableName", link.table.clone()),
            ("ReceivingRegion", link.to.to_string()),
        ]);
        let samples = link
            .samples_ms
            .iter()
            .map(|ms| (two_digits((ms * 1000.0) as u64) as f64 / 1000.0, 1.0))
            .collect();
        out.entry((link.from.clone(), "AWS/DynamoDB"))
            .or_default()
            .extend(values(
                "ReplicationLatency",
                &dimensions,
                samples,
                Unit::Milliseconds,
            ));
    }
    let route53: Region = ROUTE53_METRICS_REGION
        .parse()
        .expect("a constant Region name");
    for record in &sources.records {
        let Some(answer) = sources.dns.answer(&record.app) else {
            continue;
        };
        for (id, healthy) in [
            (&record.primary, answer.primary_healthy),
            (&record.secondary, answer.secondary_healthy),
        ] {
            let value = if healthy { 1.0 } else { 0.0 };
            out.entry((route53.clone(), "AWS/Route53"))
                .or_default()
                .push(datum(
                    "HealthCheckStatus",
                    &dims([("HealthCheckId", id.clone())]),
                    vec![(value, 1.0)],
                    None,
                ));
        }
    }
    out.into_iter()
        .map(|((region, namespace), data)| {
            let namespace = namespace.parse().expect("a constant namespace");
            (region, namespace, data)
        })
        .collect()
}

fn dims<const N: usize>(pairs: [(&str, String); N]) -> Dimensions {
    Dimensions::new(pairs).expect("names of the topology are valid dimension values")
}

fn datum(
    name: &str,
    dimensions: &Dimensions,
    pairs: Vec<(f64, f64)>,
    unit: Option<Unit>,
) -> MetricDatum {
    let name: MetricName = name.parse().expect("a constant metric name");
    MetricDatum {
        unit,
        sample: Sample::Values(pairs),
        resolution: StorageResolution::Standard,
        ..MetricDatum::value(name, dimensions.clone(), 0.0)
    }
}

/// `part` of `total` requests as 0-or-1 values: Sum is `part`, Average the share.
fn share(name: &str, dimensions: &Dimensions, part: u64, total: u64) -> MetricDatum {
    let pairs = [(0.0, total - part), (1.0, part)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(v, n)| (v, n as f64))
        .collect();
    datum(name, dimensions, pairs, Some(Unit::Count))
}

/// `samples` (value, count) as datums of at most [`VALUES_PER_DATUM`] values each.
fn values(
    name: &str,
    dimensions: &Dimensions,
    samples: Vec<(f64, f64)>,
    unit: Unit,
) -> Vec<MetricDatum> {
    samples
        .chunks(VALUES_PER_DATUM)
        .map(|chunk| datum(name, dimensions, chunk.to_vec(), Some(unit)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_errors_and_keeps_latencies_to_two_digits() {
        let mut w = Window::default();
        w.record(StatusCode::OK, Duration::from_micros(1234), false);
        w.record(StatusCode::OK, Duration::from_micros(1249), false);
        w.record(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(300),
            false,
        );
        w.record(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(2),
            true,
        );
        w.record(
            StatusCode::TOO_MANY_REQUESTS,
            Duration::from_micros(95),
            false,
        );
        assert_eq!(
            (
                w.requests,
                w.server_errors,
                w.function_errors,
                w.client_errors,
                w.throttles
            ),
            (5, 2, 1, 1, 1),
            "the fence's refusal is a 5xx of the API, not a function error"
        );
        assert_eq!(
            w.latencies_ms(),
            vec![(0.095, 1.0), (1.2, 2.0), (2.0, 1.0), (300.0, 1.0)]
        );
        assert_eq!(two_digits(0), 0);
        assert_eq!(two_digits(99), 99);
        assert_eq!(two_digits(155), 160);
        assert_eq!(two_digits(1_049_999), 1_000_000);
    }

    #[test]
    fn shares_and_chunks_as_cloudwatch_takes_them() {
        let d = dims([("ApiName", "local-orders".into())]);
        let s = share("5XXError", &d, 0, 4);
        assert_eq!(s.sample, Sample::Values(vec![(0.0, 4.0)]));
        let many: Vec<(f64, f64)> = (0..301).map(|i| (f64::from(i), 1.0)).collect();
        let chunks = values("Latency", &d, many, Unit::Milliseconds);
        assert_eq!(chunks.len(), 3);
        assert!(
            chunks
                .iter()
                .all(|c| matches!(&c.sample, Sample::Values(v) if v.len() <= 150))
        );
    }
}
