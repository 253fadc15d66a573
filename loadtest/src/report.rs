//! The report of a run: serde types, their JSON form documented in `REPORT_SCHEMA.md` and
//! `report.schema.json`. The summary table is in `summary`, the files a run leaves behind
//! (with the timeline drawn from these types) in `output`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use topology::{AppName, Region};

use crate::config::{ConnectionReuse, Scenario};

/// The version of the report's JSON form; it changes when a field changes meaning or goes.
pub const REPORT_SCHEMA_VERSION: u32 = 3;

/// Seconds as the report writes them: a float with millisecond precision.
pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Everything a run observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub scenario: Scenario,
    /// When traffic started, milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    pub duration_seconds: f64,
    pub settings: Settings,
    /// Every Region a response named; the manifest's primary and secondary first.
    pub regions: Vec<Region>,
    /// Connections the client opened over the run (all apps).
    pub connections_opened: u64,
    pub apps: Vec<AppReport>,
    /// Events the caller marked on the timeline.
    pub marks: Vec<Mark>,
    /// The consistency scenario's findings (all zero for the other scenarios).
    pub consistency: ConsistencyReport,
}

/// The settings the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub rate_per_app: u32,
    pub max_in_flight: usize,
    pub request_timeout_seconds: f64,
    pub max_connection_age_seconds: f64,
    pub connection_reuse: ConnectionReuse,
    pub live_window_seconds: f64,
    /// The DNS server names were resolved through; `None`: the system's resolvers.
    pub dns_server: Option<String>,
}

/// One app's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppReport {
    pub app: AppName,
    pub url: String,
    /// The operations its traffic used, as `METHOD path`, from the OpenAPI documents (a
    /// gateway's name the app each route reaches); `GET /` for the probe.
    pub operations: Vec<String>,
    /// Why some or all of its traffic fell back to the probe, e.g. an unreadable document.
    pub warnings: Vec<String>,
    /// Requests sent: `requests + in_flight_at_end`.
    pub sent: u64,
    /// Requests sent that completed, with a response or an error.
    pub requests: u64,
    /// Requests that got an HTTP response, of any status.
    pub answered: u64,
    /// 2xx and 3xx responses.
    pub successes: u64,
    /// Requests sent after their due time because `max_in_flight` was reached (included in
    /// `requests`; their latency counts from the due time).
    pub late: u64,
    /// Requests never sent: no slot freed within the request timeout of their due time, or
    /// still waiting for one when the run stopped.
    pub not_sent: u64,
    /// Requests sent but not completed when the run reported, after waiting the stop grace
    /// period (`RunConfig::stop_grace`): neither an answer nor an error.
    pub in_flight_at_end: u64,
    pub errors: ErrorCounts,
    /// One example message per error kind seen.
    pub error_samples: BTreeMap<String, String>,
    /// From each request's due time to its completion, over every completed request:
    /// responses of any status, and failures at the time they failed (a timeout at the
    /// timeout).
    pub latency_ms: Latency,
    /// Successful responses per Region.
    pub responses_by_region: BTreeMap<String, u64>,
    /// Successful responses naming no Region (no `x-region`, no body `region`).
    pub unattributed: u64,
    /// Responses carried by a kept-alive connection opened to an address DNS no longer
    /// answered: traffic that reached the old Region only because the connection was reused.
    pub stale_connection_responses: u64,
    pub switches: Vec<Switch>,
    /// Responses from another Region that stopped again within the live window.
    pub flaps: u64,
    /// Per second of the run.
    pub seconds: Vec<Second>,
}

/// Errors by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCounts {
    pub dns: u64,
    pub connect_refused: u64,
    pub timeout: u64,
    pub status_5xx: u64,
    pub status_4xx: u64,
    pub other: u64,
    pub total: u64,
}

impl ErrorCounts {
    pub(crate) fn from_array(counts: [u64; 6]) -> Self {
        let [dns, connect_refused, timeout, status_5xx, status_4xx, other] = counts;
        Self {
            dns,
            connect_refused,
            timeout,
            status_5xx,
            status_4xx,
            other,
            total: counts.iter().sum(),
        }
    }
}

impl std::ops::AddAssign<&ErrorCounts> for ErrorCounts {
    fn add_assign(&mut self, o: &ErrorCounts) {
        self.dns += o.dns;
        self.connect_refused += o.connect_refused;
        self.timeout += o.timeout;
        self.status_5xx += o.status_5xx;
        self.status_4xx += o.status_4xx;
        self.other += o.other;
        self.total += o.total;
    }
}

/// The counts a verdict rests on, for one app or a whole run: every request due is either
/// not sent, in flight at the end, or completed (answered, or failed without an answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests the schedule made due: `sent + not_sent`.
    pub due: u64,
    pub sent: u64,
    /// Requests that got an HTTP response, of any status.
    pub answered: u64,
    /// Errors by kind: error statuses and requests that failed without a response.
    pub errors: ErrorCounts,
    pub not_sent: u64,
    pub in_flight_at_end: u64,
}

impl Counts {
    /// Nothing failed, nothing went unsent, nothing was left without an outcome.
    pub fn clean(&self) -> bool {
        self.errors.total == 0 && self.not_sent == 0 && self.in_flight_at_end == 0
    }
}

impl std::ops::AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, o: &Counts) {
        self.due += o.due;
        self.sent += o.sent;
        self.answered += o.answered;
        self.errors += &o.errors;
        self.not_sent += o.not_sent;
        self.in_flight_at_end += o.in_flight_at_end;
    }
}

impl AppReport {
    /// This app's verdict counts.
    pub fn counts(&self) -> Counts {
        Counts {
            due: self.sent + self.not_sent,
            sent: self.sent,
            answered: self.answered,
            errors: self.errors.clone(),
            not_sent: self.not_sent,
            in_flight_at_end: self.in_flight_at_end,
        }
    }
}

/// Latency percentiles in milliseconds (zero when nothing completed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// A Region switch: responses started coming from `to` instead of `from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// The first response from `to`, seconds since the start.
    pub at_seconds: f64,
    pub from: Region,
    pub to: Region,
    /// How long responses came from both Regions (0 for a clean cut).
    pub mixed_window_seconds: f64,
}

/// One second of one app's traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Second {
    /// Seconds since the start: this bucket covers [second, second + 1).
    pub second: u64,
    /// Requests due in this second (the schedule: constant in an open-loop run).
    pub sent: u64,
    /// Requests that completed in this second.
    pub completed: u64,
    /// Successful responses completed in this second, by Region.
    pub by_region: BTreeMap<String, u64>,
    /// Errors completed in this second.
    pub errors: u64,
}

/// An event the caller marked on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    pub at_seconds: f64,
    pub label: String,
}

impl Report {
    /// The report of `app`.
    pub fn app(&self, app: &AppName) -> Option<&AppReport> {
        self.apps.iter().find(|a| a.app == *app)
    }

    /// The verdict counts of every app together.
    pub fn counts(&self) -> Counts {
        let mut total = Counts::default();
        for app in &self.apps {
            total += &app.counts();
        }
        total
    }

    /// The consistency scenario's findings.
    pub fn consistency(&self) -> &ConsistencyReport {
        &self.consistency
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// What the consistency scenario found. Every acknowledged write is found by every read
/// target, pending, or lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyReport {
    /// Writes the services acknowledged (2xx with an `id`).
    pub acknowledged: u64,
    /// Acknowledged writes some read target had not returned by the end of the grace period:
    /// `pending + lost + unread`.
    pub never_found: u64,
    /// Of those, writes some read target did return: the write exists in a Region, but its
    /// copy had not reached every other one (a replication backlog), or that Region could not
    /// be read.
    pub pending: u64,
    /// Of those, writes no read target ever returned, not even through the Region that
    /// acknowledged them, though each was read: lost. `loadtest` exits 3 when there is one.
    pub lost: u64,
    /// Of those, writes no read target returned and some target was never read for: the
    /// read-back fell behind the writes (too many for the grace period, or reads too slow), so
    /// whether they were lost is not known.
    #[serde(default)]
    pub unread: u64,
    /// Successful read-backs.
    pub reads: u64,
    /// The longest time from an acknowledgement to the first read that found the write in
    /// another Region; `None` when no write was read from another Region.
    #[serde(rename = "worst_replication_delay_seconds", with = "opt_secs")]
    pub worst_delay: Option<Duration>,
    /// The first pending writes (at most 100).
    pub pending_writes: Vec<UnfoundWrite>,
    /// The first lost writes (at most 100).
    pub lost_writes: Vec<UnfoundWrite>,
}

/// One acknowledged write that some read target never returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnfoundWrite {
    pub app: AppName,
    /// The path it is read from, e.g. `/orders/0190…`.
    pub path: String,
    /// The Region that acknowledged it (its `x-region`).
    pub written_region: Option<Region>,
    pub acknowledged_at_seconds: f64,
    /// The read targets that never returned it: Region names, or `served` for the app's URL.
    pub missing_from: Vec<String>,
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_some(&super::secs(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v: Option<f64> = Option::deserialize(d)?;
        Ok(v.and_then(|s| Duration::try_from_secs_f64(s).ok()))
    }
}
