//! The health-check mechanism's source: the app's two flags, each read in the Region that
//! holds it, judged by Route 53's failover rules.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch as cloudwatch;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use topology::manifest::{
    FLAG_APP_DIMENSION, FLAG_METRIC_NAME, FLAG_REGION_DIMENSION, RegionalUrl,
};
use topology::{AppName, Region, Regions};

use super::{FLAG_READ_TIMEOUT, Reading};

/// How far back a flag is looked for: a flag is published once per move and holds until the
/// next (the alarm and the health check keep their last state), and CloudWatch keeps
/// one-minute data for 15 days.
const LOOKBACK: Duration = Duration::from_secs(14 * 24 * 3600);

/// The flags' period, as the alarms read them: a minute, Route 53's standard resolution.
const PERIOD_SECONDS: i32 = 60;

/// A CloudWatch client per Region.
pub(super) struct FlagReader {
    clients: Vec<(Region, cloudwatch::Client)>,
}

impl FlagReader {
    pub(super) fn new(
        sdk: &aws_types::SdkConfig,
        regions: &Regions,
        endpoints: &[RegionalUrl],
    ) -> Self {
        let clients = regions
            .both()
            .into_iter()
            .map(|region| {
                let mut config = cloudwatch::config::Builder::from(sdk)
                    .region(cloudwatch::config::Region::new(region.to_string()))
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(FLAG_READ_TIMEOUT)
                            .operation_timeout(FLAG_READ_TIMEOUT)
                            .build(),
                    );
                if let Some(e) = endpoints.iter().find(|e| e.region == *region) {
                    config = config.endpoint_url(e.url.trim_end_matches('/'));
                }
                (
                    region.clone(),
                    cloudwatch::Client::from_conf(config.build()),
                )
            })
            .collect();
        Self { clients }
    }

    /// Whether `here` serves `app`: both flags read at once, then Route 53's rules.
    pub(super) async fn read(
        &self,
        namespace: &str,
        app: &AppName,
        regions: &Regions,
        here: &Region,
    ) -> Reading {
        let (p, s) = (&regions.primary, &regions.secondary);
        let (p_out, s_out) = tokio::join!(
            self.flag(namespace, app, p, s),
            self.flag(namespace, app, s, p)
        );
        match (p_out, s_out) {
            (Ok(p_out), Ok(s_out)) => {
                if *serving(regions, p_out, s_out) == *here {
                    Reading::On
                } else {
                    Reading::Off
                }
            }
            (p, s) => Reading::Unknown(
                [p.err(), s.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }

    /// The flag that takes `out` out, from `holder`'s CloudWatch: its latest minute's
    /// Maximum, as the alarm reads it; never published means clear.
    async fn flag(
        &self,
        namespace: &str,
        app: &AppName,
        out: &Region,
        holder: &Region,
    ) -> Result<bool, String> {
        let (_, client) = self
            .clients
            .iter()
            .find(|(r, _)| r == holder)
            .expect("a client per Region");
        let metric = Metric::builder()
            .namespace(namespace)
            .metric_name(FLAG_METRIC_NAME)
            .dimensions(dimension(FLAG_APP_DIMENSION, app.as_str()))
            .dimensions(dimension(FLAG_REGION_DIMENSION, out.as_str()))
            .build();
        let query = MetricDataQuery::builder()
            .id("flag")
            .metric_stat(
                MetricStat::builder()
                    .metric(metric)
                    .period(PERIOD_SECONDS)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let now = SystemTime::now();
        let call = client
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(DateTime::from(now - LOOKBACK))
            .end_time(DateTime::from(now + Duration::from_secs(60)))
            .scan_by(ScanBy::TimestampDescending)
            .send();
        let out_of = |why: String| format!("the flag of {out} in {holder}: {why}");
        let response = tokio::time::timeout(FLAG_READ_TIMEOUT, call)
            .await
            .map_err(|_| out_of(format!("no answer within {FLAG_READ_TIMEOUT:?}")))?
            .map_err(|e| {
                out_of(aws_smithy_types::error::display::DisplayErrorContext(e).to_string())
            })?;
        let latest = response
            .metric_data_results()
            .first()
            .and_then(|r| r.values().first().copied());
        Ok(latest.is_some_and(|v| v >= 1.0))
    }
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The Region Route 53 answers with, given the flags: the primary while its flag is clear
/// or the secondary's is set (both records unhealthy: the primary), else the secondary.
pub fn serving(regions: &Regions, primary_out: bool, secondary_out: bool) -> &Region {
    if !primary_out || secondary_out {
        &regions.primary
    } else {
        &regions.secondary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_53s_rules_answer_for_every_combination_of_flags() {
        let regions = Regions {
            primary: "us-east-1".parse().unwrap(),
            secondary: "us-west-2".parse().unwrap(),
        };
        let answer = |p, s| serving(&regions, p, s).as_str();
        assert_eq!(answer(false, false), "us-east-1", "both in: the primary");
        assert_eq!(answer(true, false), "us-west-2", "the primary out");
        assert_eq!(answer(false, true), "us-east-1", "the secondary out");
        assert_eq!(
            answer(true, true),
            "us-east-1",
            "both out: the primary, never none"
        );
    }
}
