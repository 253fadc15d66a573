//! A Region's metric store: the datapoints of every metric, the statistics over a time
//! range, and the checks CloudWatch makes on what is published.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::error::CloudWatchError;
use crate::model::{
    Dimensions, MetricId, MetricName, Namespace, Percentile, Period, Statistic, StorageResolution,
    Timestamp, Unit,
};

/// The most datums one PutMetricData call takes.
pub const MAX_DATUMS_PER_CALL: usize = 1000;
/// The most values (with counts) one datum carries.
pub const MAX_VALUES_PER_DATUM: usize = 150;
/// How far in the future a datapoint may be stamped.
const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;
/// How far in the past a datapoint may be stamped.
const MAX_PAST_MS: i64 = 14 * 24 * 3600 * 1000;
/// The largest magnitude CloudWatch stores: 2^360.
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833e108;
/// The smallest non-zero magnitude CloudWatch stores: 2^-360.
const MIN_MAGNITUDE: f64 = 4.258_000_367_553_069e-109;
/// How many datapoints a metric keeps; older ones go first. A bound for long local runs (at
/// one datapoint a second, about 14 hours), not a CloudWatch rule.
pub const MAX_POINTS_PER_METRIC: usize = 50_000;

/// The statistics of a set of samples: what CloudWatch keeps of a datapoint and returns for a
/// period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aggregate {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

impl Aggregate {
    /// One sample.
    pub fn single(value: f64) -> Self {
        Self::repeated(value, 1.0)
    }

    /// `count` samples of `value`.
    pub fn repeated(value: f64, count: f64) -> Self {
        Self {
            sample_count: count,
            sum: value * count,
            minimum: value,
            maximum: value,
        }
    }

    /// Both sets together.
    pub fn merge(&mut self, other: &Self) {
        self.sample_count += other.sample_count;
        self.sum += other.sum;
        self.minimum = self.minimum.min(other.minimum);
        self.maximum = self.maximum.max(other.maximum);
    }

    /// The mean of the samples.
    pub fn average(&self) -> f64 {
        if self.sample_count > 0.0 {
            self.sum / self.sample_count
        } else {
            0.0
        }
    }

    /// The value of `statistic`.
    pub fn value(&self, statistic: Statistic) -> f64 {
        match statistic {
            Statistic::SampleCount => self.sample_count,
            Statistic::Average => self.average(),
            Statistic::Sum => self.sum,
            Statistic::Minimum => self.minimum,
            Statistic::Maximum => self.maximum,
        }
    }
}

/// What a datum carries: one value, values with their counts, or a statistic set.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// `Value`.
    Value(f64),
    /// `Values` and `Counts` (a count of 1 each when `Counts` is absent).
    Values(Vec<(f64, f64)>),
    /// `StatisticValues`.
    Statistics(Aggregate),
}

/// One entry of PutMetricData's `MetricData`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDatum {
    pub name: MetricName,
    pub dimensions: Dimensions,
    /// When the sample was taken; `None`: when CloudWatch receives it.
    pub timestamp: Option<Timestamp>,
    pub sample: Sample,
    /// `None`: CloudWatch's `None` unit.
    pub unit: Option<Unit>,
    pub resolution: StorageResolution,
}

impl MetricDatum {
    /// One value of metric `name`, now, without unit, at high resolution (what the failover
    /// flag is published as).
    pub fn value(name: MetricName, dimensions: Dimensions, value: f64) -> Self {
        Self {
            name,
            dimensions,
            timestamp: None,
            sample: Sample::Value(value),
            unit: None,
            resolution: StorageResolution::High,
        }
    }
}

/// One period of a query: its statistics and the unit of its data (of its first datapoint,
/// when a query without a unit mixes several).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub stats: Aggregate,
    pub unit: Unit,
}

/// One stored datapoint.
#[derive(Debug, Clone)]
struct Point {
    unit: Unit,
    resolution: StorageResolution,
    stats: Aggregate,
    /// The values and their counts, for percentiles; `None` for a statistic set, from which
    /// no percentile can be computed.
    values: Option<Arc<[(f64, f64)]>>,
}

impl Point {
    /// The time a query buckets this point at: CloudWatch serves standard-resolution data by
    /// the minute.
    fn query_time(&self, at: i64) -> i64 {
        match self.resolution {
            StorageResolution::High => at,
            StorageResolution::Standard => at.div_euclid(60_000) * 60_000,
        }
    }
}

/// One metric's datapoints, by (timestamp in ms, arrival order).
#[derive(Debug, Default)]
struct Series {
    points: BTreeMap<(i64, u64), Point>,
    last_received: Option<Timestamp>,
}

/// The latest datapoint of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latest {
    pub timestamp: Timestamp,
    pub unit: Unit,
    #[serde(flatten)]
    pub stats: Aggregate,
}

/// Which metrics ListMetrics returns.
#[derive(Debug, Clone, Default)]
pub struct MetricFilter {
    pub namespace: Option<Namespace>,
    pub name: Option<MetricName>,
    /// Dimension names, each with a value or any value.
    pub dimensions: Vec<(String, Option<String>)>,
    /// Only metrics that received data since this time.
    pub received_since: Option<Timestamp>,
}

impl MetricFilter {
    fn matches(&self, id: &MetricId, last_received: Option<Timestamp>) -> bool {
        self.namespace.as_ref().is_none_or(|n| *n == id.namespace)
            && self.name.as_ref().is_none_or(|n| *n == id.name)
            && self.dimensions.iter().all(|(name, value)| {
                id.dimensions
                    .get(name)
                    .is_some_and(|v| value.as_deref().is_none_or(|want| want == v))
            })
            && self
                .received_since
                .is_none_or(|since| last_received.is_some_and(|r| r >= since))
    }
}

/// A Region's metrics.
#[derive(Debug, Default)]
pub(crate) struct MetricStore {
    series: BTreeMap<MetricId, Series>,
    arrivals: u64,
}

impl MetricStore {
    /// Checks every datum, then stores them all, or none when one is refused.
    pub(crate) fn put(
        &mut self,
        namespace: &Namespace,
        data: &[MetricDatum],
        now: Timestamp,
    ) -> Result<(), CloudWatchError> {
        if data.is_empty() {
            return Err(CloudWatchError::missing("MetricData"));
        }
        if data.len() > MAX_DATUMS_PER_CALL {
            return Err(CloudWatchError::InvalidParameterValue(format!(
                "The collection MetricData must not have a size greater than {MAX_DATUMS_PER_CALL} (it has {}).",
                data.len()
            )));
        }
        let checked = data
            .iter()
            .enumerate()
            .map(|(i, datum)| check_datum(i + 1, datum, now))
            .collect::<Result<Vec<_>, _>>()?;
        for (datum, (at, stats)) in data.iter().zip(checked) {
            let values = match &datum.sample {
                Sample::Value(v) => Some(Arc::from([(*v, 1.0)])),
                Sample::Values(pairs) => {
                    Some(pairs.iter().filter(|(_, c)| *c > 0.0).copied().collect())
                }
                Sample::Statistics(_) => None,
            };
            let id = MetricId::new(
                namespace.clone(),
                datum.name.clone(),
                datum.dimensions.clone(),
            );
            self.arrivals += 1;
            let series = self.series.entry(id).or_default();
            series.points.insert(
                (at.millis(), self.arrivals),
                Point {
                    unit: datum.unit.unwrap_or(Unit::None),
                    resolution: datum.resolution,
                    stats,
                    values,
                },
            );
            series.last_received = Some(now);
            while series.points.len() > MAX_POINTS_PER_METRIC {
                series.points.pop_first();
            }
        }
        Ok(())
    }

    /// The statistics of `metric`'s datapoints stamped in `[from, to)`, by their own
    /// timestamps (an alarm's view), or `None` when there are none.
    pub(crate) fn window(
        &self,
        metric: &MetricId,
        from: Timestamp,
        to: Timestamp,
        unit: Option<Unit>,
    ) -> Option<Aggregate> {
        let series = self.series.get(metric)?;
        let mut total: Option<Aggregate> = None;
        for point in series
            .points
            .range((from.millis(), 0)..(to.millis(), 0))
            .map(|(_, p)| p)
            .filter(|p| unit.is_none_or(|u| u == p.unit))
        {
            match &mut total {
                Some(t) => t.merge(&point.stats),
                None => total = Some(point.stats),
            }
        }
        total
    }

    /// The `percentile` of `metric`'s values stamped in `[from, to)` (nearest rank: the
    /// smallest value with at least that share of the samples at or below it), or `None` when
    /// there are none, or when one of them is a statistic set, whose values are unknown.
    pub(crate) fn window_percentile(
        &self,
        metric: &MetricId,
        from: Timestamp,
        to: Timestamp,
        unit: Option<Unit>,
        percentile: Percentile,
    ) -> Option<f64> {
        let series = self.series.get(metric)?;
        let mut samples: Vec<(f64, f64)> = Vec::new();
        for point in series
            .points
            .range((from.millis(), 0)..(to.millis(), 0))
            .map(|(_, p)| p)
            .filter(|p| unit.is_none_or(|u| u == p.unit))
        {
            samples.extend_from_slice(point.values.as_deref()?);
        }
        nearest_rank(&mut samples, percentile)
    }

    /// `metric`'s statistics per `period` (buckets aligned on the epoch), for datapoints in
    /// `[from, to)` with `from` rounded down to the period, as CloudWatch's queries do.
    pub(crate) fn buckets(
        &self,
        metric: &MetricId,
        from: Timestamp,
        to: Timestamp,
        period: Period,
        unit: Option<Unit>,
    ) -> BTreeMap<Timestamp, Bucket> {
        let mut out: BTreeMap<Timestamp, Bucket> = BTreeMap::new();
        let Some(series) = self.series.get(metric) else {
            return out;
        };
        let start = from.floor_to(period.millis()).millis();
        // A standard-resolution point may move back to its minute: start the scan a minute early.
        let scan_from = start.saturating_sub(60_000);
        for (&(at, _), point) in series.points.range((scan_from, 0)..(to.millis(), 0)) {
            let t = point.query_time(at);
            if t < start || unit.is_some_and(|u| u != point.unit) {
                continue;
            }
            let bucket = Timestamp::from_millis(t).floor_to(period.millis());
            out.entry(bucket)
                .and_modify(|b| b.stats.merge(&point.stats))
                .or_insert(Bucket {
                    stats: point.stats,
                    unit: point.unit,
                });
        }
        out
    }

    /// The metrics `filter` selects, in CloudWatch's order (namespace, name, dimensions).
    pub(crate) fn list<'a>(
        &'a self,
        filter: &'a MetricFilter,
    ) -> impl Iterator<Item = &'a MetricId> {
        self.series
            .iter()
            .filter(|(id, s)| filter.matches(id, s.last_received))
            .map(|(id, _)| id)
    }

    /// `metric`'s latest datapoint, if it has any.
    pub(crate) fn latest_of(&self, metric: &MetricId) -> Option<Latest> {
        let (&(at, _), p) = self.series.get(metric)?.points.last_key_value()?;
        Some(Latest {
            timestamp: Timestamp::from_millis(at),
            unit: p.unit,
            stats: p.stats,
        })
    }

    /// Every metric with its latest datapoint.
    pub(crate) fn latest(&self) -> impl Iterator<Item = (&MetricId, Option<Latest>)> {
        self.series.iter().map(|(id, s)| {
            let latest = s.points.last_key_value().map(|(&(at, _), p)| Latest {
                timestamp: Timestamp::from_millis(at),
                unit: p.unit,
                stats: p.stats,
            });
            (id, latest)
        })
    }
}

/// The nearest-rank `percentile` of weighted `samples` (value, count); `None` without any.
fn nearest_rank(samples: &mut [(f64, f64)], percentile: Percentile) -> Option<f64> {
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = samples.iter().map(|(_, c)| c).sum();
    if total <= 0.0 {
        return None;
    }
    // p0 is the smallest value: a rank of at least one sample's worth.
    let rank = (percentile.value() / 100.0 * total).max(f64::MIN_POSITIVE);
    let mut seen = 0.0;
    for &(value, count) in samples.iter() {
        seen += count;
        // A relative tolerance, so that sums of fractional counts do not miss their rank.
        if seen >= rank * (1.0 - 1e-12) {
            return Some(value);
        }
    }
    samples.last().map(|(v, _)| *v)
}

/// Checks datum number `n` (1-based) and returns its timestamp and statistics.
fn check_datum(
    n: usize,
    datum: &MetricDatum,
    now: Timestamp,
) -> Result<(Timestamp, Aggregate), CloudWatchError> {
    let at = datum.timestamp.unwrap_or(now);
    let param = |field: &str| format!("MetricData.member.{n}.{field}");
    if at.millis() > now.millis() + MAX_FUTURE_MS {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The parameter {} must specify a time no more than two hours in the future.",
            param("Timestamp")
        )));
    }
    if at.millis() < now.millis() - MAX_PAST_MS {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The parameter {} must specify a time no more than two weeks in the past.",
            param("Timestamp")
        )));
    }
    let stats = match &datum.sample {
        Sample::Value(v) => {
            check_value(&param("Value"), *v)?;
            Aggregate::single(*v)
        }
        Sample::Values(pairs) => values_aggregate(&param("Values"), &param("Counts"), pairs)?,
        Sample::Statistics(s) => check_statistics(&param("StatisticValues"), s)?,
    };
    Ok((at, stats))
}

fn check_value(parameter: &str, v: f64) -> Result<(), CloudWatchError> {
    if !v.is_finite() {
        return Err(CloudWatchError::invalid(
            parameter,
            v,
            "special values (NaN, Infinity) are not supported",
        ));
    }
    let magnitude = v.abs();
    if magnitude > MAX_MAGNITUDE || (magnitude != 0.0 && magnitude < MIN_MAGNITUDE) {
        return Err(CloudWatchError::invalid(
            parameter,
            v,
            "values must be 0 or of magnitude 2^-360 to 2^360",
        ));
    }
    Ok(())
}

fn values_aggregate(
    values_param: &str,
    counts_param: &str,
    pairs: &[(f64, f64)],
) -> Result<Aggregate, CloudWatchError> {
    if pairs.is_empty() || pairs.len() > MAX_VALUES_PER_DATUM {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The collection {values_param} must have 1 to {MAX_VALUES_PER_DATUM} members (it has {}).",
            pairs.len()
        )));
    }
    let mut total: Option<Aggregate> = None;
    for (i, &(value, count)) in pairs.iter().enumerate() {
        check_value(&format!("{values_param}.member.{}", i + 1), value)?;
        if !count.is_finite() || count < 0.0 {
            return Err(CloudWatchError::invalid(
                &format!("{counts_param}.member.{}", i + 1),
                count,
                "counts must be finite and not negative",
            ));
        }
        if count == 0.0 {
            continue;
        }
        let one = Aggregate::repeated(value, count);
        match &mut total {
            Some(t) => t.merge(&one),
            None => total = Some(one),
        }
    }
    total.ok_or_else(|| {
        CloudWatchError::InvalidParameterValue(format!(
            "The parameter {counts_param} must count at least one value."
        ))
    })
}

fn check_statistics(parameter: &str, s: &Aggregate) -> Result<Aggregate, CloudWatchError> {
    for (field, v) in [
        ("SampleCount", s.sample_count),
        ("Sum", s.sum),
        ("Minimum", s.minimum),
        ("Maximum", s.maximum),
    ] {
        check_value(&format!("{parameter}.{field}"), v)?;
    }
    if s.sample_count <= 0.0 {
        return Err(CloudWatchError::invalid(
            &format!("{parameter}.SampleCount"),
            s.sample_count,
            "the sample count must be positive",
        ));
    }
    if s.minimum > s.maximum {
        return Err(CloudWatchError::InvalidParameterCombination(format!(
            "The parameters {parameter}.Minimum ({}) and {parameter}.Maximum ({}) are inconsistent: the minimum is above the maximum.",
            s.minimum, s.maximum
        )));
    }
    Ok(*s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> MetricId {
        MetricId::new(
            "MultiRegionApi/Failover".parse().unwrap(),
            "RegionOut".parse().unwrap(),
            Dimensions::new([("App", "orders"), ("Region", "us-east-1")]).unwrap(),
        )
    }

    fn datum(value: f64, at: i64) -> MetricDatum {
        let id = flag();
        MetricDatum {
            timestamp: Some(Timestamp::from_millis(at)),
            ..MetricDatum::value(id.name, id.dimensions, value)
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn percentiles_count_every_value_and_refuse_statistic_sets() {
        let mut store = MetricStore::default();
        let ns = flag().namespace;
        let now = Timestamp::from_millis(NOW);
        let id = flag();
        // 98 fast requests, one slow, one very slow: p99 is the slow one, p100 the slowest.
        let values = MetricDatum {
            timestamp: Some(Timestamp::from_millis(NOW - 5_000)),
            sample: Sample::Values(vec![(5.0, 98.0), (900.0, 1.0), (3000.0, 1.0), (7.0, 0.0)]),
            ..MetricDatum::value(id.name.clone(), id.dimensions.clone(), 0.0)
        };
        store.put(&ns, &[values], now).unwrap();
        let from = Timestamp::from_millis(NOW - 10_000);
        let p = |s: &str| s.parse::<Percentile>().unwrap();
        let at = |q| store.window_percentile(&flag(), from, now, None, p(q));
        assert_eq!(at("p50"), Some(5.0));
        assert_eq!(at("p98"), Some(5.0));
        assert_eq!(at("p99"), Some(900.0));
        assert_eq!(at("p99.5"), Some(3000.0));
        assert_eq!(at("p0"), Some(5.0));
        assert_eq!(at("p100"), Some(3000.0));
        assert_eq!(
            store.window_percentile(&flag(), now, now.plus_millis(1), None, p("p99")),
            None,
            "no data"
        );
        let set = MetricDatum {
            timestamp: Some(Timestamp::from_millis(NOW - 4_000)),
            sample: Sample::Statistics(Aggregate::repeated(1.0, 3.0)),
            ..MetricDatum::value(id.name, id.dimensions, 0.0)
        };
        store.put(&ns, &[set], now).unwrap();
        assert_eq!(
            store.window_percentile(&flag(), from, now, None, p("p99")),
            None,
            "a statistic set's values are unknown"
        );
    }

    #[test]
    fn statistics_per_period_are_aligned_and_merged() {
        let mut store = MetricStore::default();
        let ns = flag().namespace;
        let now = Timestamp::from_millis(NOW);
        store
            .put(
                &ns,
                &[
                    datum(1.0, NOW - 25_000),
                    datum(3.0, NOW - 21_000),
                    datum(0.0, NOW - 5_000),
                ],
                now,
            )
            .unwrap();
        let period = Period::for_query(10).unwrap();
        let buckets = store.buckets(
            &flag(),
            Timestamp::from_millis(NOW - 60_000),
            now,
            period,
            None,
        );
        let got: Vec<(i64, f64, f64, f64)> = buckets
            .iter()
            .map(|(t, b)| {
                (
                    t.millis(),
                    b.stats.maximum,
                    b.stats.sample_count,
                    b.stats.average(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![(NOW - 30_000, 3.0, 2.0, 2.0), (NOW - 10_000, 0.0, 1.0, 0.0)]
        );
        assert_eq!(
            store
                .window(&flag(), Timestamp::from_millis(NOW - 30_000), now, None)
                .map(|a| a.sum),
            Some(4.0)
        );
        let (_, latest) = store.latest().next().unwrap();
        assert_eq!(latest.unwrap().stats.maximum, 0.0);
    }

    #[test]
    fn standard_resolution_is_served_by_the_minute() {
        let mut store = MetricStore::default();
        let mut d = datum(5.0, NOW + 37_000);
        d.resolution = StorageResolution::Standard;
        let now = Timestamp::from_millis(NOW + 60_000);
        store.put(&flag().namespace, &[d], now).unwrap();
        let buckets = store.buckets(
            &flag(),
            Timestamp::from_millis(NOW),
            now,
            Period::for_query(10).unwrap(),
            None,
        );
        assert_eq!(
            buckets.keys().map(|t| t.millis()).collect::<Vec<_>>(),
            vec![NOW]
        );
    }

    #[test]
    fn a_bad_datum_refuses_the_whole_call() {
        let mut store = MetricStore::default();
        let now = Timestamp::from_millis(NOW);
        let err = store
            .put(
                &flag().namespace,
                &[datum(1.0, NOW), datum(f64::NAN, NOW)],
                now,
            )
            .unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        assert!(err.message().contains("MetricData.member.2.Value"), "{err}");
        assert_eq!(store.latest().count(), 0, "nothing was stored");

        let future = store
            .put(&flag().namespace, &[datum(1.0, NOW + 3 * 3600 * 1000)], now)
            .unwrap_err();
        assert!(
            future.message().contains("two hours in the future"),
            "{future}"
        );
        let past = store
            .put(
                &flag().namespace,
                &[datum(1.0, NOW - 15 * 24 * 3600 * 1000)],
                now,
            )
            .unwrap_err();
        assert!(past.message().contains("two weeks"), "{past}");
        let huge = store
            .put(&flag().namespace, &[datum(1e200, NOW)], now)
            .unwrap_err();
        assert!(huge.message().contains("2^360"), "{huge}");
        assert_eq!(
            store.put(&flag().namespace, &[], now).unwrap_err().code(),
            "MissingParameter"
        );
    }

    #[test]
    fn values_with_counts_and_statistic_sets() {
        let mut store = MetricStore::default();
        let now = Timestamp::from_millis(NOW);
        let mut a = datum(0.0, NOW);
        a.sample = Sample::Values(vec![(2.0, 3.0), (10.0, 1.0), (99.0, 0.0)]);
        let mut b = datum(0.0, NOW);
        b.sample = Sample::Statistics(Aggregate {
            sample_count: 2.0,
            sum: 3.0,
            minimum: 1.0,
            maximum: 2.0,
        });
        store.put(&flag().namespace, &[a, b], now).unwrap();
        let total = store
            .window(&flag(), now, now.plus_millis(1), None)
            .unwrap();
        assert_eq!(
            (total.sample_count, total.sum, total.minimum, total.maximum),
            (6.0, 19.0, 1.0, 10.0)
        );

        let mut bad = datum(0.0, NOW);
        bad.sample = Sample::Statistics(Aggregate {
            sample_count: 1.0,
            sum: 1.0,
            minimum: 2.0,
            maximum: 1.0,
        });
        let err = store.put(&flag().namespace, &[bad], now).unwrap_err();
        assert_eq!(err.code(), "InvalidParameterCombination");
    }

    #[test]
    fn list_filters_by_namespace_name_and_dimensions() {
        let mut store = MetricStore::default();
        let now = Timestamp::from_millis(NOW);
        let other = MetricDatum::value(
            "RegionOut".parse().unwrap(),
            Dimensions::new([("App", "users"), ("Region", "us-east-1")]).unwrap(),
            0.0,
        );
        store
            .put(&flag().namespace, &[datum(1.0, NOW), other], now)
            .unwrap();
        let by_app = MetricFilter {
            dimensions: vec![("App".into(), Some("orders".into()))],
            ..MetricFilter::default()
        };
        assert_eq!(store.list(&by_app).collect::<Vec<_>>(), vec![&flag()]);
        let any_region = MetricFilter {
            dimensions: vec![("Region".into(), None)],
            ..MetricFilter::default()
        };
        assert_eq!(store.list(&any_region).count(), 2);
        let recent = MetricFilter {
            received_since: Some(now.plus_millis(1)),
            ..MetricFilter::default()
        };
        assert_eq!(store.list(&recent).count(), 0);
    }
}
