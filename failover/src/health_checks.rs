//! Route 53's view of its health checks: the `AWS/Route53` `HealthCheckStatus` metric (1
//! healthy, 0 unhealthy) per health check id, which Route 53 publishes into CloudWatch in
//! [`ROUTE53_METRICS_REGION`] only (the local world into its own CloudWatch there). Read with
//! `GetMetricData`, the latest period's Minimum and Maximum: a period that holds both saw a
//! change. The metric has standard resolution, served by the minute, so within the minute of a
//! change the order of its values cannot be told.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use topology::Region;
use topology::manifest::{Environment, ROUTE53_METRICS_REGION};

use crate::cloudwatch::{CallError, CloudWatch, classify};
use crate::flags::Millis;

/// How far back the status is read: Route 53 publishes it every minute.
const WINDOW_MS: Millis = 10 * 60_000;

/// The Region whose CloudWatch has Route 53's metrics.
pub fn metrics_region() -> Region {
    ROUTE53_METRICS_REGION
        .parse()
        .expect("a constant Region name is valid")
}

/// The period read: Route 53 publishes one datapoint a minute on AWS; the local world publishes
/// as often as its health checks run, which a one-second period follows.
pub fn period_seconds(environment: Environment) -> i32 {
    match environment {
        Environment::Aws => 60,
        Environment::Local => 1,
    }
}

/// What Route 53's metric says of one health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy,
    /// The latest period holds both values: it changed within it, in an order no query tells.
    Changing,
    /// No datapoint in the window: Route 53 (or the local world) reports nothing for it.
    NoData,
}

/// What Route 53's metric says of each health check in `ids`, now.
pub async fn healthy(
    cloudwatch: &CloudWatch,
    ids: &[&str],
    period: i32,
    now: Millis,
) -> Result<Vec<Health>, CallError> {
    let region = metrics_region();
    let query = |i: usize, id: &str, stat: &str| {
        let metric = Metric::builder()
            .namespace("AWS/Route53")
            .metric_name("HealthCheckStatus")
            .dimensions(Dimension::builder().name("HealthCheckId").value(id).build())
            .build();
        MetricDataQuery::builder()
            .id(format!("{}{i}", stat.to_ascii_lowercase()))
            .metric_stat(
                MetricStat::builder()
                    .metric(metric)
                    .period(period)
                    .stat(stat)
                    .build(),
            )
            .return_data(true)
            .build()
    };
    let queries: Vec<MetricDataQuery> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| [query(i, id, "Minimum"), query(i, id, "Maximum")])
        .collect();
    let out = cloudwatch
        .call(&region, |client| {
            let region = region.clone();
            async move {
                client
                    .get_metric_data()
                    .set_metric_data_queries(Some(queries))
                    .start_time(DateTime::from_millis(now - WINDOW_MS))
                    .end_time(DateTime::from_millis(now + 60_000))
                    .scan_by(ScanBy::TimestampDescending)
                    .send()
                    .await
                    .map_err(|e| classify(&region, e))
            }
        })
        .await?;
    let series = |id: String| -> Vec<(Millis, f64)> {
        out.metric_data_results()
            .iter()
            .find(|r| r.id() == Some(id.as_str()))
            .map(|r| {
                r.timestamps()
                    .iter()
                    .filter_map(|t| t.to_millis().ok())
                    .zip(r.values().iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok((0..ids.len())
        .map(|i| {
            let (min, max) = (series(format!("minimum{i}")), series(format!("maximum{i}")));
            latest(&periods(&min, &max))
        })
        .collect())
}

/// Per period (latest first): its Minimum and Maximum.
fn periods(min: &[(Millis, f64)], max: &[(Millis, f64)]) -> Vec<(f64, f64)> {
    let mut periods: Vec<(Millis, f64, f64)> = min
        .iter()
        .filter_map(|&(t, lo)| {
            max.iter()
                .find(|(u, _)| *u == t)
                .map(|&(_, hi)| (t, lo, hi))
        })
        .collect();
    periods.sort_by_key(|p| std::cmp::Reverse(p.0));
    periods.into_iter().map(|(_, lo, hi)| (lo, hi)).collect()
}

/// Healthy now, as the latest period says.
fn latest(periods: &[(f64, f64)]) -> Health {
    match periods.first() {
        None => Health::NoData,
        Some(&(lo, _)) if lo >= 1.0 => Health::Healthy,
        Some(&(_, hi)) if hi < 1.0 => Health::Unhealthy,
        Some(_) => Health::Changing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_period_says_and_one_that_holds_both_values_is_a_change() {
        assert_eq!(latest(&[]), Health::NoData);
        assert_eq!(latest(&[(1.0, 1.0)]), Health::Healthy);
        assert_eq!(latest(&[(0.0, 0.0), (1.0, 1.0)]), Health::Unhealthy);
        assert_eq!(latest(&[(0.0, 1.0), (1.0, 1.0)]), Health::Changing);
    }

    #[test]
    fn periods_pair_minimum_and_maximum_latest_first() {
        let min = [(60_000, 0.0), (120_000, 1.0)];
        let max = [(120_000, 1.0), (60_000, 1.0)];
        assert_eq!(periods(&min, &max), vec![(1.0, 1.0), (0.0, 1.0)]);
    }
}
