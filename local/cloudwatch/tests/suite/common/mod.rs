//! Shared set-up: a local CloudWatch in two Regions on free loopback ports, SDK clients for
//! it, and the failover flag as the health-check mechanism publishes it.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch as cw;
use cw::config::retry::RetryConfig;
use cw::config::timeout::TimeoutConfig;
use cw::types::{ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic};
use local_cloudwatch::{LocalCloudWatch, LocalCloudWatchConfig, TimeScale};
use topology::Region;

/// The flag's namespace and metric, as the health-check mechanism publishes them.
pub const NAMESPACE: &str = "MultiRegionApi/Failover";
pub const METRIC: &str = "RegionOut";

pub struct World {
    pub cloudwatch: LocalCloudWatch,
    pub east: Region,
    pub west: Region,
}

/// A local CloudWatch in us-east-1 and us-west-2 whose alarm periods last `scale` of AWS's.
pub async fn world(scale: f64) -> World {
    let (east, west): (Region, Region) =
        ("us-east-1".parse().unwrap(), "us-west-2".parse().unwrap());
    let mut config = LocalCloudWatchConfig::ephemeral([east.clone(), west.clone()]);
    config.period_scale = TimeScale::new(scale).unwrap();
    World {
        cloudwatch: LocalCloudWatch::start(config).await.unwrap(),
        east,
        west,
    }
}

impl World {
    /// The SDK's client for `region`'s endpoint: no retries, a short deadline.
    pub fn client(&self, region: &Region) -> cw::Client {
        client_with(
            &self.cloudwatch.url(region).unwrap(),
            region,
            Duration::from_secs(5),
        )
    }
}

/// An SDK client for `url`, signed for `region`, retries off, every call within `deadline`.
pub fn client_with(url: &str, region: &Region, deadline: Duration) -> cw::Client {
    let config = cw::Config::builder()
        .behavior_version(cw::config::BehaviorVersion::latest())
        .credentials_provider(cw::config::Credentials::new(
            "AKIDLOCALCLOUDWATCH",
            "any-secret-works",
            None,
            None,
            "local-cloudwatch-tests",
        ))
        .region(cw::config::Region::new(region.to_string()))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_timeout(deadline)
                .build(),
        )
        .build();
    cw::Client::from_conf(config)
}

/// The flag's dimensions: "`out` is out" for `app`.
pub fn flag_dimensions(app: &str, out: &Region) -> Vec<Dimension> {
    vec![
        Dimension::builder().name("App").value(app).build(),
        Dimension::builder()
            .name("Region")
            .value(out.to_string())
            .build(),
    ]
}

/// The flag datum, high resolution, stamped now.
pub fn flag_datum(app: &str, out: &Region, value: f64) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(METRIC)
        .set_dimensions(Some(flag_dimensions(app, out)))
        .value(value)
        .unit(StandardUnit::None)
        .storage_resolution(1)
        .build()
}

/// Publishes the flag "`out` is out" for `app` (1 = out, 0 = in) with `client`.
pub async fn publish_flag(client: &cw::Client, app: &str, out: &Region, value: f64) {
    client
        .put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(flag_datum(app, out, value))
        .send()
        .await
        .unwrap();
}

/// The flag's alarm, as the health-check mechanism defines it: Maximum over 10 s, one
/// period, at or above 1.
pub async fn put_flag_alarm(client: &cw::Client, name: &str, app: &str, out: &Region) {
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace(NAMESPACE)
        .metric_name(METRIC)
        .set_dimensions(Some(flag_dimensions(app, out)))
        .statistic(Statistic::Maximum)
        .period(10)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
}

/// The state of alarm `name`, read with DescribeAlarms.
pub async fn alarm_state(client: &cw::Client, name: &str) -> StateValue {
    let out = client
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .unwrap();
    out.metric_alarms()[0].state_value().unwrap().clone()
}

/// Polls `check` every 25 ms until it holds; panics naming `what` after `timeout`. Answers how
/// long it took.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A publisher that sends the flag's current value every `every`, as an operator's tool
/// would keep a metric fresh. Stops when dropped.
pub struct Publisher {
    value: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    pub fn start(client: cw::Client, app: &str, out: &Region, value: f64, every: Duration) -> Self {
        let shared = Arc::new(AtomicU64::new(value.to_bits()));
        let (app, out, current) = (app.to_owned(), out.clone(), shared.clone());
        let task = tokio::spawn(async move {
            loop {
                let v = f64::from_bits(current.load(Ordering::Relaxed));
                publish_flag(&client, &app, &out, v).await;
                tokio::time::sleep(every).await;
            }
        });
        Self {
            value: shared,
            task,
        }
    }

    pub fn set(&self, value: f64) {
        self.value.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
