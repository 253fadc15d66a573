//! What a run observed, per app, updated by every request: counts, latency, the Region of each
//! response, per-second buckets, and the Region switches as they happen.

use std::sync::RwLock;
use std::time::Duration;

use hdrhistogram::Histogram;
use http::HeaderValue;
use topology::Region;

use crate::client::ErrorKind;

/// The Regions responses named, each with a small index; the manifest's two come first.
pub(crate) struct RegionTable {
    names: RwLock<Vec<Region>>,
}

impl RegionTable {
    pub(crate) fn new(known: impl IntoIterator<Item = Region>) -> Self {
        Self {
            names: RwLock::new(known.into_iter().collect()),
        }
    }

    /// The index of the Region a header names; `None` when it is not a Region name.
    pub(crate) fn index(&self, value: &HeaderValue) -> Option<usize> {
        let bytes = value.as_bytes();
        {
            let names = self.names.read().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = names.iter().position(|r| r.as_str().as_bytes() == bytes) {
                return Some(i);
            }
        }
        let region: Region = value.to_str().ok()?.parse().ok()?;
        let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|r| *r == region) {
            return Some(i);
        }
        names.push(region);
        Some(names.len() - 1)
    }

    pub(crate) fn get(&self, index: usize) -> Option<Region> {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        names.get(index).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Region> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One second of an app's traffic.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bucket {
    /// Requests due in this second (by schedule), whenever they completed.
    pub sent: u64,
    /// Requests completed in this second, with or without error.
    pub completed: u64,
    /// Successful responses completed in this second, by Region index.
    pub by_region: Vec<u64>,
    /// Errors completed in this second.
    pub errors: u64,
}

/// A completed Region switch, times relative to the run's start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SwitchRecord {
    /// The first response from the new Region.
    pub at: Duration,
    pub from: usize,
    pub to: usize,
    /// From the first response of the new Region to the last of the old one (zero when the
    /// two did not overlap).
    pub mixed_window: Duration,
}

#[derive(Debug, Clone)]
struct Pending {
    from: usize,
    to: usize,
    first_to: Duration,
    last_from: Duration,
    last_to: Duration,
}

/// Detects switches online from the stream of (time, Region) responses.
///
/// A switch from A to B begins with the first response from B; it is complete once A has not
/// answered for the settle window while B does. Until then responses from both Regions make up
/// the mixed window. If B stops answering for the settle window while A answers, it was a flap.
#[derive(Debug, Clone, Default)]
pub(crate) struct SwitchTracker {
    settled: Option<usize>,
    last_settled: Duration,
    pending: Option<Pending>,
    pub done: Vec<SwitchRecord>,
    pub flaps: u64,
}

impl SwitchTracker {
    pub(crate) fn observe(&mut self, t: Duration, region: usize, settle: Duration) {
        let Some(settled) = self.settled else {
            self.settled = Some(region);
            self.last_settled = t;
            return;
        };
        let Some(p) = self.pending.as_mut() else {
            if region == settled {
                self.last_settled = t;
            } else {
                self.pending = Some(Pending {
                    from: settled,
                    to: region,
                    first_to: t,
                    last_from: self.last_settled,
                    last_to: t,
                });
            }
            return;
        };
        if region == p.to {
            p.last_to = t;
            if t.saturating_sub(p.last_from) >= settle {
                self.commit(t);
            }
        } else if region == p.from {
            p.last_from = t;
            if t.saturating_sub(p.last_to) >= settle {
                self.pending = None;
                self.flaps += 1;
                self.last_settled = t;
            }
        } else {
            // A third Region: start over from the settled one.
            p.to = region;
            p.first_to = t;
            p.last_to = t;
        }
    }

    fn commit(&mut self, t: Duration) {
        if let Some(p) = self.pending.take() {
            self.done.push(SwitchRecord {
                at: p.first_to,
                from: p.from,
                to: p.to,
                mixed_window: p.last_from.saturating_sub(p.first_to),
            });
            self.settled = Some(p.to);
            self.last_settled = t;
        }
    }

    /// At the end of a run: a pending switch whose new Region answered last is complete.
    pub(crate) fn finish(&mut self) {
        match &self.pending {
            Some(p) if p.last_to > p.last_from => {
                let t = p.last_to;
                self.commit(t);
            }
            Some(_) => {
                self.pending = None;
                self.flaps += 1;
            }
            None => {}
        }
    }
}

/// Everything observed for one app.
pub(crate) struct AppStats {
    /// Requests completed, with a response or an error.
    pub requests: u64,
    /// Requests that got an HTTP response, of any status.
    pub answered: u64,
    pub successes: u64,
    pub late: u64,
    pub not_sent: u64,
    pub errors: [u64; 6],
    /// From due time to completion, of every completed request: failures count at the time
    /// they failed (a timeout at the timeout), so p99 and max see them.
    pub latency_us: Histogram<u64>,
    pub by_region: Vec<u64>,
    /// Successful responses without a recognisable Region.
    pub unattributed: u64,
    /// Responses that came over a connection opened to an address DNS no longer answers.
    pub stale_connection: u64,
    pub seconds: Vec<Bucket>,
    last_seen: Vec<Option<Duration>>,
    pub last_region: Option<usize>,
    pub switches: SwitchTracker,
    /// A sample error message per kind, for the report.
    pub sample_errors: Vec<(ErrorKind, String)>,
}

/// A request's end, as recorded.
pub(crate) enum Outcome<'a> {
    /// A response: its status, Region index (if attributed) and whether the connection was stale.
    Response {
        status: http::StatusCode,
        region: Option<usize>,
        stale: bool,
    },
    /// No response.
    Failed { kind: ErrorKind, detail: &'a str },
}

impl AppStats {
    pub(crate) fn new() -> Self {
        Self {
            requests: 0,
            answered: 0,
            successes: 0,
            late: 0,
            not_sent: 0,
            errors: [0; 6],
            // Microseconds from 1 µs to one hour, three significant digits.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds are valid"),
            by_region: Vec::new(),
            unattributed: 0,
            stale_connection: 0,
            seconds: Vec::new(),
            last_seen: Vec::new(),
            last_region: None,
            switches: SwitchTracker::default(),
            sample_errors: Vec::new(),
        }
    }

    fn bucket(&mut self, at: Duration) -> &mut Bucket {
        let i = usize::try_from(at.as_secs())
            .unwrap_or(usize::MAX)
            .min(1 << 24);
        if self.seconds.len() <= i {
            self.seconds.resize(i + 1, Bucket::default());
        }
        &mut self.seconds[i]
    }

    /// `n` requests became due in the second of `at` (relative to the start).
    pub(crate) fn record_due(&mut self, at: Duration, n: u64) {
        self.bucket(at).sent += n;
    }

    /// A request due at `due` completed at `now` (both relative to the start).
    pub(crate) fn record(
        &mut self,
        due: Duration,
        now: Duration,
        outcome: Outcome<'_>,
        settle: Duration,
    ) {
        self.requests += 1;
        let latency = now.saturating_sub(due).as_micros();
        self.latency_us
            .saturating_record(u64::try_from(latency).unwrap_or(u64::MAX).max(1));
        let error = match outcome {
            Outcome::Response {
                status,
                region,
                stale,
            } => {
                self.answered += 1;
                self.stale_connection += u64::from(stale);
                match ErrorKind::of_status(status) {
                    Some(kind) => Some((kind, status.to_string())),
                    None => {
                        self.success(now, region, settle);
                        None
                    }
                }
            }
            Outcome::Failed { kind, detail } => Some((kind, detail.to_owned())),
        };
        let bucket = self.bucket(now);
        bucket.completed += 1;
        if let Some((kind, detail)) = error {
            bucket.errors += 1;
            self.errors[kind as usize] += 1;
            if !self.sample_errors.iter().any(|(k, _)| *k == kind) {
                self.sample_errors.push((kind, detail));
            }
        }
    }

    fn success(&mut self, now: Duration, region: Option<usize>, settle: Duration) {
        self.successes += 1;
        let Some(r) = region else {
            self.unattributed += 1;
            return;
        };
        grow(&mut self.by_region, r)[r] += 1;
        let bucket = self.bucket(now);
        grow(&mut bucket.by_region, r)[r] += 1;
        if self.last_seen.len() <= r {
            self.last_seen.resize(r + 1, None);
        }
        self.last_seen[r] = Some(now);
        self.last_region = Some(r);
        self.switches.observe(now, r, settle);
    }

    /// The Regions that answered successfully in the trailing `window`.
    pub(crate) fn recent_regions(&self, now: Duration, window: Duration) -> Vec<usize> {
        self.last_seen
            .iter()
            .enumerate()
            .filter(|(_, seen)| seen.is_some_and(|t| now.saturating_sub(t) <= window))
            .map(|(i, _)| i)
            .collect()
    }

    /// The one Region that answered every successful response in the trailing `window`.
    pub(crate) fn current_region(&self, now: Duration, window: Duration) -> Option<usize> {
        match self.recent_regions(now, window).as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Requests completed in the last full second.
    pub(crate) fn recent_rate(&self, now: Duration) -> u64 {
        let second = usize::try_from(now.as_secs()).unwrap_or(usize::MAX);
        second
            .checked_sub(1)
            .and_then(|i| self.seconds.get(i))
            .map_or(0, |b| b.completed)
    }

    pub(crate) fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }
}

fn grow(v: &mut Vec<u64>, index: usize) -> &mut Vec<u64> {
    if v.len() <= index {
        v.resize(index + 1, 0);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_clean_switch_has_no_mixed_window() {
        let mut t = SwitchTracker::default();
        for i in 0..10 {
            t.observe(ms(i * 100), 0, ms(300));
        }
        for i in 10..20 {
            t.observe(ms(i * 100), 1, ms(300));
        }
        assert_eq!(
            t.done,
            vec![SwitchRecord {
                at: ms(1000),
                from: 0,
                to: 1,
                mixed_window: Duration::ZERO
            }]
        );
    }

    #[test]
    fn overlapping_regions_make_a_mixed_window() {
        let mut t = SwitchTracker::default();
        t.observe(ms(0), 0, ms(600));
        for i in 1..20 {
            t.observe(ms(i * 100), 1, ms(600));
            if i == 2 || i == 7 {
                t.observe(ms(i * 100), 0, ms(600));
            }
        }
        assert_eq!(t.done.len(), 1);
        assert_eq!(t.done[0].at, ms(100));
        assert_eq!(t.done[0].mixed_window, ms(600));
    }

    #[test]
    fn a_blip_is_a_flap_and_a_switch_at_the_end_is_finished() {
        let mut t = SwitchTracker::default();
        t.observe(ms(0), 0, ms(300));
        t.observe(ms(100), 1, ms(300));
        t.observe(ms(500), 0, ms(300));
        assert_eq!((t.done.len(), t.flaps), (0, 1));
        t.observe(ms(600), 1, ms(300));
        t.finish();
        assert_eq!(t.done.len(), 1);
        assert_eq!(t.done[0].at, ms(600));
    }

    #[test]
    fn current_region_needs_all_recent_responses_from_one() {
        let mut s = AppStats::new();
        let ok = |region| Outcome::Response {
            status: http::StatusCode::OK,
            region: Some(region),
            stale: false,
        };
        s.record(ms(0), ms(10), ok(0), ms(300));
        assert_eq!(s.current_region(ms(20), ms(400)), Some(0));
        s.record(ms(20), ms(30), ok(1), ms(300));
        assert_eq!(s.current_region(ms(40), ms(400)), None);
        assert_eq!(s.recent_regions(ms(40), ms(400)), vec![0, 1]);
        assert_eq!(s.current_region(ms(420), ms(400)), Some(1));
        assert_eq!(s.current_region(ms(900), ms(400)), None);
    }

    #[test]
    fn errors_are_counted_by_kind_and_bucket() {
        let mut s = AppStats::new();
        s.record(
            ms(0),
            ms(5),
            Outcome::Failed {
                kind: ErrorKind::ConnectRefused,
                detail: "refused",
            },
            ms(300),
        );
        s.record(
            ms(1000),
            ms(1200),
            Outcome::Response {
                status: http::StatusCode::BAD_GATEWAY,
                region: Some(0),
                stale: false,
            },
            ms(300),
        );
        assert_eq!(s.errors[ErrorKind::ConnectRefused as usize], 1);
        assert_eq!(s.errors[ErrorKind::Status5xx as usize], 1);
        assert_eq!((s.requests, s.successes, s.error_total()), (2, 0, 2));
        assert_eq!(s.seconds[1].errors, 1);
        assert_eq!(s.latency_us.max() / 1000, 200);
        assert_eq!(s.answered, 1, "the refusal got no response");
    }

    #[test]
    fn failures_count_in_latency_at_their_elapsed_time() {
        let mut s = AppStats::new();
        let timeout = Outcome::Failed {
            kind: ErrorKind::Timeout,
            detail: "no complete response within 2s",
        };
        s.record(ms(0), ms(2000), timeout, ms(300));
        for i in 1..10 {
            let ok = Outcome::Response {
                status: http::StatusCode::OK,
                region: Some(0),
                stale: false,
            };
            s.record(ms(i * 100), ms(i * 100 + 5), ok, ms(300));
        }
        assert_eq!(s.latency_us.len(), 10);
        assert_eq!(s.latency_us.max() / 1000, 2000, "the timeout is the max");
        assert!(s.latency_us.value_at_quantile(0.5) < 10_000);
    }
}
