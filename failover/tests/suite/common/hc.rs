//! The health-check mechanism's world: a local CloudWatch in both Regions on free loopback
//! ports (us-east-1 is also Route 53's metrics Region), the flags' alarms as the deploy
//! creates them (Maximum over a minute, ignoring missing data) on a clock where a minute lasts
//! a second, and a health-check manifest pointing at it.

use std::time::Duration;

use aws_sdk_cloudwatch as cw;
use failover::{ClientConfig, DataPlane};
use local_cloudwatch::{
    AlarmDefinition, ComparisonOperator, Dimensions, LocalCloudWatch, LocalCloudWatchConfig,
    MetricDatum, MetricId, Period, Sample, Statistic, StorageResolution, TimeScale, Timestamp,
    TreatMissingData,
};
use topology::manifest::{
    AppRouting, FLAG_METRIC_NAME, FlagMetric, Manifest, RegionFlag, RegionFlags, Routing, alarms_of,
};
use topology::{AppName, Region, Topology};

/// The flags' namespace in these tests.
pub const NAMESPACE: &str = "MultiRegionApi/test";

/// The namespace of the apps' alarms' metrics in these tests.
pub const APP_METRICS: &str = "Test/Apps";

pub struct FlagWorld {
    pub topology: Topology,
    pub cloudwatch: LocalCloudWatch,
    pub manifest: Manifest,
}

/// The fixture topology, with the health-check mechanism, on a local CloudWatch whose alarm
/// periods last a sixtieth of AWS's.
pub async fn flag_world() -> FlagWorld {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let mut config = LocalCloudWatchConfig::ephemeral(topology.regions.both().into_iter().cloned());
    config.period_scale = TimeScale::new(1.0 / 60.0).unwrap();
    let cloudwatch = LocalCloudWatch::start(config).await.unwrap();
    let manifest = manifest_for(&topology, &cloudwatch);
    let world = FlagWorld {
        topology,
        cloudwatch,
        manifest,
    };
    world.create_alarms();
    world
}

/// A local health-check manifest for `topology` on `cloudwatch`.
pub fn manifest_for(topology: &Topology, cloudwatch: &LocalCloudWatch) -> Manifest {
    let mut m = local_arc::manifest_for(topology, vec![]);
    m.routing = Routing::HealthCheck {
        flags: FlagMetric {
            namespace: NAMESPACE.into(),
            metric_name: FLAG_METRIC_NAME.into(),
            endpoints: cloudwatch.endpoints(),
        },
    };
    let regions = m.regions.clone();
    for entry in &mut m.apps {
        let app = topology
            .apps
            .iter()
            .find(|a| *a.name() == entry.name)
            .unwrap();
        entry.alarms = alarms_of(app, &regions, "test");
        let flag = |out: &Region| RegionFlag {
            region: out.clone(),
            published_in: regions.other(out).unwrap().clone(),
            alarm_name: format!("test-{}-{out}-out", entry.name),
            health_check_id: Some(format!("hc-{}-{out}", entry.name)),
        };
        entry.routing = AppRouting::HealthCheck(RegionFlags {
            flags: vec![flag(&regions.primary), flag(&regions.secondary)],
        });
    }
    m
}

/// Short timeouts: a Region that does not answer costs half a second.
pub fn quick() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_millis(200),
        attempt_timeout: Duration::from_millis(500),
        deadline: Duration::from_millis(1500),
        ..super::quick()
    }
}

pub fn region(r: &str) -> Region {
    r.parse().unwrap()
}

pub fn app(name: &str) -> AppName {
    name.parse().unwrap()
}

impl FlagWorld {
    pub fn plane(&self) -> DataPlane {
        DataPlane::from_manifest(&self.manifest, quick()).unwrap()
    }

    pub fn primary(&self) -> Region {
        self.manifest.regions.primary.clone()
    }

    pub fn secondary(&self) -> Region {
        self.manifest.regions.secondary.clone()
    }

    /// Every alarm of the manifest, as a deploy creates them: the flags' (on the flag metric)
    /// and the apps' (on a test metric per app, kind and Region, no data yet).
    fn create_alarms(&self) {
        for entry in &self.manifest.apps {
            for flag in entry.flags().unwrap() {
                let metric = MetricId::new(
                    NAMESPACE.parse().unwrap(),
                    FLAG_METRIC_NAME.parse().unwrap(),
                    Dimensions::new([
                        ("App", entry.name.as_str()),
                        ("Region", flag.region.as_str()),
                    ])
                    .unwrap(),
                );
                let mut alarm = AlarmDefinition::new(
                    flag.alarm_name.parse().unwrap(),
                    metric,
                    Statistic::Maximum,
                    Period::for_alarm(60).unwrap(),
                    1,
                    ComparisonOperator::GreaterThanOrEqualToThreshold,
                    1.0,
                );
                alarm.treat_missing_data = TreatMissingData::Ignore;
                self.cloudwatch
                    .put_metric_alarm(&flag.published_in, alarm)
                    .unwrap();
            }
            for a in &entry.alarms {
                let alarm = AlarmDefinition::new(
                    a.name.parse().unwrap(),
                    app_metric(&entry.name, a.kind.as_str(), &a.about),
                    Statistic::Maximum,
                    Period::for_alarm(60).unwrap(),
                    1,
                    ComparisonOperator::GreaterThanOrEqualToThreshold,
                    5.0,
                );
                self.cloudwatch.put_metric_alarm(&a.region, alarm).unwrap();
            }
        }
    }

    /// Publishes a breaching value for `app`'s `kind` alarm about `about`, in process.
    pub fn breach(&self, app: &AppName, kind: &str, about: &Region, held_in: &Region) {
        let metric = app_metric(app, kind, about);
        let datum = MetricDatum {
            name: metric.name.clone(),
            dimensions: metric.dimensions.clone(),
            timestamp: None,
            sample: Sample::Value(100.0),
            unit: None,
            resolution: StorageResolution::High,
        };
        self.cloudwatch
            .put_metric_data(held_in, &metric.namespace, &[datum])
            .unwrap();
    }

    /// Sets `app`'s flag that takes `out` out, at `at`, in process (as an earlier move would).
    pub fn set_flag(&self, app: &AppName, out: &Region, value: bool, at: Timestamp) {
        let held_in = self.manifest.regions.other(out).unwrap();
        let datum = MetricDatum {
            name: FLAG_METRIC_NAME.parse().unwrap(),
            dimensions: Dimensions::new([("App", app.as_str()), ("Region", out.as_str())]).unwrap(),
            timestamp: Some(at),
            sample: Sample::Value(if value { 1.0 } else { 0.0 }),
            unit: None,
            resolution: StorageResolution::Standard,
        };
        self.cloudwatch
            .put_metric_data(held_in, &NAMESPACE.parse().unwrap(), &[datum])
            .unwrap();
    }

    /// The flag of `app` that takes `out` out, read with the SDK from the Region that holds
    /// it, as its alarm reads it: (the latest minute's Maximum at or before now, the latest
    /// minute's Maximum including minutes stamped ahead); `false` when never published.
    pub async fn flag(&self, app: &AppName, out: &Region) -> (bool, bool) {
        let held_in = self.manifest.regions.other(out).unwrap();
        let client = sdk_client(&self.cloudwatch.url(held_in).unwrap(), held_in);
        let now = std::time::SystemTime::now();
        let metric = cw::types::Metric::builder()
            .namespace(NAMESPACE)
            .metric_name(FLAG_METRIC_NAME)
            .dimensions(dimension("App", app.as_str()))
            .dimensions(dimension("Region", out.as_str()))
            .build();
        let out = client
            .get_metric_data()
            .metric_data_queries(
                cw::types::MetricDataQuery::builder()
                    .id("flag")
                    .metric_stat(
                        cw::types::MetricStat::builder()
                            .metric(metric)
                            .period(60)
                            .stat("Maximum")
                            .build(),
                    )
                    .build(),
            )
            .start_time((now - Duration::from_secs(3600)).into())
            .end_time((now + Duration::from_secs(600)).into())
            .scan_by(cw::types::ScanBy::TimestampDescending)
            .send()
            .await
            .unwrap();
        let result = &out.metric_data_results()[0];
        let points: Vec<(i64, f64)> = result
            .timestamps()
            .iter()
            .map(|t| t.secs())
            .zip(result.values().iter().copied())
            .collect();
        let now_secs = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let current = points
            .iter()
            .find(|(t, _)| *t <= now_secs)
            .is_some_and(|(_, v)| *v >= 1.0);
        let settled = points.first().is_some_and(|(_, v)| *v >= 1.0);
        (current, settled)
    }

    /// (primary out, secondary out) of `app` once every stamped value has taken effect.
    pub async fn settled(&self, app: &AppName) -> (bool, bool) {
        let p = self.flag(app, &self.primary()).await.1;
        let s = self.flag(app, &self.secondary()).await.1;
        (p, s)
    }
}

fn app_metric(app: &AppName, kind: &str, about: &Region) -> MetricId {
    MetricId::new(
        APP_METRICS.parse().unwrap(),
        "Signal".parse().unwrap(),
        Dimensions::new([
            ("App", app.as_str()),
            ("Kind", kind),
            ("Region", about.as_str()),
        ])
        .unwrap(),
    )
}

fn dimension(name: &str, value: &str) -> cw::types::Dimension {
    cw::types::Dimension::builder()
        .name(name)
        .value(value)
        .build()
}

/// The SDK's client for a local CloudWatch endpoint.
pub fn sdk_client(url: &str, region: &Region) -> cw::Client {
    let config = cw::Config::builder()
        .behavior_version(cw::config::BehaviorVersion::latest())
        .credentials_provider(cw::config::Credentials::new(
            "AKIDTEST", "test", None, None, "test",
        ))
        .region(cw::config::Region::new(region.to_string()))
        .endpoint_url(url)
        .build();
    cw::Client::from_conf(config)
}

/// The Route 53 answer for the flags (primary out, secondary out).
pub fn route53(w: &FlagWorld, (p, s): (bool, bool)) -> Region {
    if !p || s { w.primary() } else { w.secondary() }
}

/// A minute before the current one: flags set "by an earlier move", settled.
pub fn earlier() -> Timestamp {
    Timestamp::from_millis(Timestamp::now().millis() - 120_000)
}
