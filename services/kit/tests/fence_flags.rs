//! Write fencing in the health-check mechanism, against the local CloudWatch over HTTP: the
//! flags published with the AWS SDK, read by the fence in each Region, judged by Route 53's
//! failover rules; an unreachable Region's CloudWatch lets writes through.
#![cfg(feature = "fence")]

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_cloudwatch as cloudwatch;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use kit::fence::{Fence, FenceConfig, FenceSource, Reading};
use local_cloudwatch::{Fault, LocalCloudWatch, LocalCloudWatchConfig};
use topology::manifest::RegionalUrl;
use topology::{Region, Regions};

const NAMESPACE: &str = "MultiRegionApi/test";

fn regions() -> Regions {
    Regions {
        primary: "us-east-1".parse().unwrap(),
        secondary: "us-west-2".parse().unwrap(),
    }
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "fence-test")
}

async fn start() -> (LocalCloudWatch, Vec<RegionalUrl>) {
    let regions = regions();
    let cloudwatch = LocalCloudWatch::start(LocalCloudWatchConfig::ephemeral([
        regions.primary.clone(),
        regions.secondary.clone(),
    ]))
    .await
    .unwrap();
    let endpoints = cloudwatch.endpoints();
    (cloudwatch, endpoints)
}

/// Publishes `app`'s flag that takes `out` out, into the other Region, as `failover` does.
async fn publish(endpoints: &[RegionalUrl], app: &str, out: &Region, value: f64) {
    let holder = regions().other(out).unwrap().clone();
    let url = &endpoints.iter().find(|e| e.region == holder).unwrap().url;
    let config = cloudwatch::Config::builder()
        .behavior_version(cloudwatch::config::BehaviorVersion::latest())
        .credentials_provider(credentials())
        .region(cloudwatch::config::Region::new(holder.to_string()))
        .endpoint_url(url)
        .build();
    let dimension = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
    cloudwatch::Client::from_conf(config)
        .put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(
            MetricDatum::builder()
                .metric_name("RegionOut")
                .dimensions(dimension("App", app))
                .dimensions(dimension("Region", out.as_str()))
                .value(value)
                .unit(StandardUnit::None)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A new fence per reading: each one reads the data plane once (no cache in between).
async fn reading(endpoints: &[RegionalUrl], app: &str, here: &Region) -> Reading {
    let config = FenceConfig {
        source: FenceSource::Flags {
            namespace: NAMESPACE.into(),
            app: app.parse().unwrap(),
            regions: regions(),
            endpoints: endpoints.to_vec(),
        },
        retry_after: Duration::from_secs(5),
    };
    Fence::with_credentials(here.clone(), config, credentials())
        .reading()
        .await
}

#[tokio::test]
async fn each_region_serves_exactly_as_route_53_would_answer_for_every_combination_of_flags() {
    let (cloudwatch, endpoints) = start().await;
    let Regions { primary, secondary } = regions();
    // Never published: both in, the primary serves.
    assert_eq!(reading(&endpoints, "payments", &primary).await, Reading::On);
    assert_eq!(
        reading(&endpoints, "payments", &secondary).await,
        Reading::Off
    );
    // (p_out, s_out) -> the Region that serves. Each case is its own app, so that each reads
    // only its own flags (they are judged by the minute, as the alarms read them).
    for (case, (p_out, s_out, serving)) in [
        (0.0, 0.0, &primary),
        (1.0, 0.0, &secondary),
        (0.0, 1.0, &primary),
        (1.0, 1.0, &primary),
    ]
    .into_iter()
    .enumerate()
    {
        let app = format!("app{case}");
        publish(&endpoints, &app, &primary, p_out).await;
        publish(&endpoints, &app, &secondary, s_out).await;
        for here in [&primary, &secondary] {
            let expected = if here == serving {
                Reading::On
            } else {
                Reading::Off
            };
            let got = reading(&endpoints, &app, here).await;
            assert_eq!(got, expected, "p_out {p_out}, s_out {s_out}, in {here}");
        }
    }
    cloudwatch.shutdown().await;
}

#[tokio::test]
async fn a_region_whose_cloudwatch_does_not_answer_lets_writes_through() {
    let (cloudwatch, endpoints) = start().await;
    let Regions { primary, secondary } = regions();
    publish(&endpoints, "payments", &primary, 1.0).await;
    assert_eq!(
        reading(&endpoints, "payments", &primary).await,
        Reading::Off
    );
    cloudwatch.set_fault(&secondary, Fault::Down).await.unwrap();
    let Reading::Unknown(why) = reading(&endpoints, "payments", &primary).await else {
        panic!("the flag of us-east-1 lives in us-west-2, which is down")
    };
    assert!(why.contains("us-west-2"), "{why}");
    cloudwatch.set_fault(&secondary, Fault::Hang).await.unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(
        reading(&endpoints, "payments", &primary).await,
        Reading::Unknown(_)
    ));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a hanging Region is given up on: {:?}",
        started.elapsed()
    );
    cloudwatch.shutdown().await;
}
