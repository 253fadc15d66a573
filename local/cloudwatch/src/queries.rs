//! The read side of metrics: GetMetricData (MetricStat queries), GetMetricStatistics and
//! ListMetrics, with CloudWatch's limits and paging.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::CloudWatchError;
use crate::metrics::{Bucket, MetricFilter, MetricStore};
use crate::model::{Invalid, MetricId, Period, ScanBy, Statistic, Timestamp, Unit};

/// The most queries one GetMetricData call takes.
pub const MAX_QUERIES: usize = 500;
/// GetMetricData's default (and largest) `MaxDatapoints`.
pub const MAX_DATAPOINTS: usize = 100_800;
/// The most datapoints GetMetricStatistics returns.
pub const MAX_STATISTICS_DATAPOINTS: i64 = 1440;
/// ListMetrics' page size.
pub const LIST_PAGE: usize = 500;
/// What every `NextToken` this CloudWatch hands out starts with.
const TOKEN_PREFIX: &str = "local-cloudwatch:";

/// A GetMetricData query's id: a lowercase letter, then letters, digits and underscores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct QueryId(String);

impl QueryId {
    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for QueryId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if first_ok && rest_ok && s.len() <= 255 {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid(
                "it must match the pattern ^[a-z][a-zA-Z0-9_]*$ (at most 255 characters)".into(),
            ))
        }
    }
}

impl fmt::Display for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One metric, one statistic, one period: GetMetricData's `MetricStat`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStat {
    pub metric: MetricId,
    pub period: Period,
    pub stat: Statistic,
    pub unit: Option<Unit>,
}

/// One of GetMetricData's `MetricDataQueries`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDataQuery {
    pub id: QueryId,
    pub label: Option<String>,
    pub return_data: bool,
    pub stat: MetricStat,
}

/// A GetMetricData request.
#[derive(Debug, Clone, PartialEq)]
pub struct GetMetricData {
    pub queries: Vec<MetricDataQuery>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub scan_by: ScanBy,
    pub max_datapoints: Option<usize>,
    pub next_token: Option<String>,
}

/// Whether a result holds every datapoint of its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StatusCode {
    Complete,
    PartialData,
}

impl StatusCode {
    /// As the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "Complete",
            Self::PartialData => "PartialData",
        }
    }
}

/// One query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDataResult {
    pub id: QueryId,
    pub label: String,
    pub timestamps: Vec<Timestamp>,
    pub values: Vec<f64>,
    pub status: StatusCode,
}

/// GetMetricData's answer: the results, and a token when `MaxDatapoints` cut them short.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDataPage {
    pub results: Vec<MetricDataResult>,
    pub next_token: Option<String>,
}

/// Answers GetMetricData: each query's buckets in the requested order, at most
/// `max_datapoints` in all; the token resumes after the last one returned.
pub(crate) fn get_metric_data(
    store: &MetricStore,
    request: &GetMetricData,
) -> Result<MetricDataPage, CloudWatchError> {
    check_queries(request)?;
    let skip = match &request.next_token {
        None => 0,
        Some(token) => parse_token(token).ok_or_else(|| {
            CloudWatchError::InvalidNextToken(format!("The NextToken `{token}` is not valid."))
        })?,
    };
    let mut budget = request.max_datapoints.unwrap_or(MAX_DATAPOINTS);
    let mut skip_left = skip;
    let mut returned = 0usize;
    let mut cut = false;
    let mut results = Vec::new();
    for query in request.queries.iter().filter(|q| q.return_data) {
        let stat = &query.stat;
        let mut points: Vec<(Timestamp, f64)> = store
            .buckets(
                &stat.metric,
                request.start,
                request.end,
                stat.period,
                stat.unit,
            )
            .into_iter()
            .map(|(t, b)| (t, b.stats.value(stat.stat)))
            .collect();
        if request.scan_by == ScanBy::TimestampDescending {
            points.reverse();
        }
        let skipped = skip_left.min(points.len());
        skip_left -= skipped;
        let rest = &points[skipped..];
        let taken = rest.len().min(budget);
        budget -= taken;
        returned += taken;
        let partial = taken < rest.len();
        cut |= partial;
        results.push(MetricDataResult {
            id: query.id.clone(),
            label: query
                .label
                .clone()
                .unwrap_or_else(|| stat.metric.name.to_string()),
            timestamps: rest[..taken].iter().map(|(t, _)| *t).collect(),
            values: rest[..taken].iter().map(|(_, v)| *v).collect(),
            status: if partial {
                StatusCode::PartialData
            } else {
                StatusCode::Complete
            },
        });
    }
    Ok(MetricDataPage {
        results,
        next_token: cut.then(|| token(skip + returned)),
    })
}

fn check_queries(request: &GetMetricData) -> Result<(), CloudWatchError> {
    let invalid = |m: String| Err(CloudWatchError::Validation(m));
    if request.queries.is_empty() || request.queries.len() > MAX_QUERIES {
        return invalid(format!(
            "The collection MetricDataQueries must have 1 to {MAX_QUERIES} members (it has {}).",
            request.queries.len()
        ));
    }
    let mut ids = BTreeSet::new();
    for query in &request.queries {
        if !ids.insert(&query.id) {
            return invalid(format!(
                "The values for parameter Id in MetricDataQueries are not unique: `{}` appears twice.",
                query.id
            ));
        }
    }
    if request.start >= request.end {
        return invalid("The parameter StartTime must be less than the parameter EndTime.".into());
    }
    if request.max_datapoints == Some(0) {
        return invalid("The parameter MaxDatapoints must be at least 1.".into());
    }
    Ok(())
}

fn token(position: usize) -> String {
    format!("{TOKEN_PREFIX}{position}")
}

fn parse_token(token: &str) -> Option<usize> {
    token.strip_prefix(TOKEN_PREFIX)?.parse().ok()
}

/// A GetMetricStatistics request.
#[derive(Debug, Clone, PartialEq)]
pub struct GetMetricStatistics {
    pub metric: MetricId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub period: Period,
    pub statistics: Vec<Statistic>,
    pub unit: Option<Unit>,
}

/// One of GetMetricStatistics' datapoints.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticsDatapoint {
    pub timestamp: Timestamp,
    /// The requested statistics, in the request's order.
    pub values: Vec<(Statistic, f64)>,
    pub unit: Unit,
}

/// Answers GetMetricStatistics: the datapoints oldest first, labelled with the metric's name.
pub(crate) fn get_metric_statistics(
    store: &MetricStore,
    request: &GetMetricStatistics,
) -> Result<(String, Vec<StatisticsDatapoint>), CloudWatchError> {
    if request.statistics.is_empty() {
        return Err(CloudWatchError::InvalidParameterCombination(
            "Must specify either Statistics or ExtendedStatistics (this CloudWatch computes Statistics only).".into(),
        ));
    }
    if request.statistics.len() > 5 {
        return Err(CloudWatchError::InvalidParameterValue(
            "The collection Statistics must not have more than 5 members.".into(),
        ));
    }
    if request.start >= request.end {
        return Err(CloudWatchError::InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime.".into(),
        ));
    }
    let span = request.end.millis() - request.start.floor_to(request.period.millis()).millis();
    let period = request.period.millis();
    let requested = (span + period - 1) / period;
    if requested > MAX_STATISTICS_DATAPOINTS {
        return Err(CloudWatchError::InvalidParameterCombination(format!(
            "You have requested up to {requested} datapoints, which exceeds the limit of {MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        )));
    }
    let datapoints = store
        .buckets(
            &request.metric,
            request.start,
            request.end,
            request.period,
            request.unit,
        )
        .into_iter()
        .map(|(timestamp, b): (Timestamp, Bucket)| StatisticsDatapoint {
            timestamp,
            values: request
                .statistics
                .iter()
                .map(|s| (*s, b.stats.value(*s)))
                .collect(),
            unit: b.unit,
        })
        .collect();
    Ok((request.metric.name.to_string(), datapoints))
}

/// Answers ListMetrics: a page of at most [`LIST_PAGE`] metrics and the token of the next.
pub(crate) fn list_metrics(
    store: &MetricStore,
    filter: &MetricFilter,
    next_token: Option<&str>,
) -> Result<(Vec<MetricId>, Option<String>), CloudWatchError> {
    let skip = match next_token {
        None => 0,
        Some(t) => parse_token(t).ok_or_else(|| {
            CloudWatchError::InvalidParameterValue(format!("The NextToken `{t}` is not valid."))
        })?,
    };
    let mut matching = store.list(filter).skip(skip);
    let page: Vec<MetricId> = matching.by_ref().take(LIST_PAGE).cloned().collect();
    let more = matching.next().is_some();
    let next = more.then(|| token(skip + page.len()));
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricDatum;
    use crate::model::Dimensions;

    const NOW: i64 = 1_800_000_000_000;

    fn metric(app: &str) -> MetricId {
        MetricId::new(
            "MultiRegionApi/Failover".parse().unwrap(),
            "RegionOut".parse().unwrap(),
            Dimensions::new([("App", app), ("Region", "us-east-1")]).unwrap(),
        )
    }

    fn store_with(points: &[(&str, i64, f64)]) -> MetricStore {
        let mut store = MetricStore::default();
        for (app, at, value) in points {
            let m = metric(app);
            let mut d = MetricDatum::value(m.name, m.dimensions, *value);
            d.timestamp = Some(Timestamp::from_millis(*at));
            store
                .put(&m.namespace, &[d], Timestamp::from_millis(NOW))
                .unwrap();
        }
        store
    }

    fn query(id: &str, app: &str) -> MetricDataQuery {
        MetricDataQuery {
            id: id.parse().unwrap(),
            label: None,
            return_data: true,
            stat: MetricStat {
                metric: metric(app),
                period: Period::for_query(10).unwrap(),
                stat: Statistic::Maximum,
                unit: None,
            },
        }
    }

    fn request(queries: Vec<MetricDataQuery>) -> GetMetricData {
        GetMetricData {
            queries,
            start: Timestamp::from_millis(NOW - 60_000),
            end: Timestamp::from_millis(NOW),
            scan_by: ScanBy::TimestampDescending,
            max_datapoints: None,
            next_token: None,
        }
    }

    #[test]
    fn newest_first_by_default_labelled_by_metric_name() {
        let store = store_with(&[("orders", NOW - 35_000, 1.0), ("orders", NOW - 5_000, 0.0)]);
        let page = get_metric_data(&store, &request(vec![query("flag", "orders")])).unwrap();
        let r = &page.results[0];
        assert_eq!(r.label, "RegionOut");
        assert_eq!(r.values, vec![0.0, 1.0]);
        assert_eq!(
            r.timestamps.iter().map(|t| t.millis()).collect::<Vec<_>>(),
            vec![NOW - 10_000, NOW - 40_000]
        );
        assert_eq!(r.status, StatusCode::Complete);
        assert!(page.next_token.is_none());

        let mut ascending = request(vec![query("flag", "orders")]);
        ascending.scan_by = ScanBy::TimestampAscending;
        let page = get_metric_data(&store, &ascending).unwrap();
        assert_eq!(page.results[0].values, vec![1.0, 0.0]);
    }

    #[test]
    fn max_datapoints_pages_with_a_token() {
        let store = store_with(&[
            ("orders", NOW - 45_000, 1.0),
            ("orders", NOW - 25_000, 2.0),
            ("users", NOW - 15_000, 3.0),
        ]);
        let mut req = request(vec![query("a", "orders"), query("b", "users")]);
        req.max_datapoints = Some(1);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let page = get_metric_data(&store, &req).unwrap();
            for r in &page.results {
                seen.extend(r.values.iter().map(|v| (r.id.to_string(), *v)));
            }
            req.next_token = page.next_token;
            if req.next_token.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            vec![("a".into(), 2.0), ("a".into(), 1.0), ("b".into(), 3.0)]
        );
        req.next_token = Some("garbage".into());
        assert_eq!(
            get_metric_data(&store, &req).unwrap_err().code(),
            "InvalidNextToken"
        );
    }

    #[test]
    fn bad_requests_are_validation_errors() {
        let store = MetricStore::default();
        let twice = request(vec![query("a", "orders"), query("a", "users")]);
        let err = get_metric_data(&store, &twice).unwrap_err();
        assert_eq!(err.code(), "ValidationError");
        assert!(err.message().contains("not unique"), "{err}");
        let mut backwards = request(vec![query("a", "orders")]);
        backwards.end = backwards.start;
        assert!(get_metric_data(&store, &backwards).is_err());
        assert!(get_metric_data(&store, &request(vec![])).is_err());
        assert!("1abc".parse::<QueryId>().is_err());
        assert!("Abc".parse::<QueryId>().is_err());
        assert!("flag_1".parse::<QueryId>().is_ok());
    }

    #[test]
    fn statistics_limit_and_order() {
        let store = store_with(&[("orders", NOW - 5_000, 4.0), ("orders", NOW - 4_000, 2.0)]);
        let req = GetMetricStatistics {
            metric: metric("orders"),
            start: Timestamp::from_millis(NOW - 60_000),
            end: Timestamp::from_millis(NOW),
            period: Period::for_query(60).unwrap(),
            statistics: vec![Statistic::Average, Statistic::SampleCount],
            unit: None,
        };
        let (label, points) = get_metric_statistics(&store, &req).unwrap();
        assert_eq!(label, "RegionOut");
        assert_eq!(
            points[0].values,
            vec![(Statistic::Average, 3.0), (Statistic::SampleCount, 2.0)]
        );
        let too_many = GetMetricStatistics {
            start: Timestamp::from_millis(NOW - 3 * 3600 * 1000),
            period: Period::for_query(1).unwrap(),
            ..req.clone()
        };
        let err = get_metric_statistics(&store, &too_many).unwrap_err();
        assert_eq!(err.code(), "InvalidParameterCombination");
        assert!(err.message().contains("limit of 1440"), "{err}");
    }
}
