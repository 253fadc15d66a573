//! Metrics with the real `aws-sdk-cloudwatch` (RPC v2 CBOR): the flag published and read
//! back, statistics, listing, paging, gzip bodies, Regions kept apart.

use std::time::SystemTime;

use aws_sdk_cloudwatch as cw;
use cw::primitives::DateTime;
use cw::types::{
    DimensionFilter, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy, StandardUnit,
    Statistic, StatusCode,
};

use crate::common::{self, METRIC, NAMESPACE, flag_dimensions};

fn at(offset_secs: i64) -> DateTime {
    let now = DateTime::from(SystemTime::now()).secs();
    DateTime::from_secs(now + offset_secs)
}

/// The flag datum stamped `timestamp`.
fn flag_datum_at(
    app: &str,
    out: &topology::Region,
    value: f64,
    timestamp: DateTime,
) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(METRIC)
        .set_dimensions(Some(flag_dimensions(app, out)))
        .value(value)
        .storage_resolution(1)
        .timestamp(timestamp)
        .build()
}

/// `query` with `label`.
fn labelled(query: MetricDataQuery, label: &str) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(query.id().unwrap())
        .set_metric_stat(query.metric_stat().cloned())
        .label(label)
        .build()
}

/// The query the failover CLI makes: the flag's Maximum per 10 s over the last minutes.
fn flag_query(id: &str, app: &str, out: &topology::Region) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(METRIC)
                        .set_dimensions(Some(flag_dimensions(app, out)))
                        .build(),
                )
                .period(10)
                .stat("Maximum")
                .build(),
        )
        .build()
}

#[tokio::test]
async fn the_flag_published_with_the_sdk_reads_back_with_get_metric_data() {
    let w = common::world(1.0).await;
    // The flag "us-east-1 is out" lives in us-west-2.
    let west = w.client(&w.west);
    let older = flag_datum_at("orders", &w.east, 1.0, at(-30));
    let newer = flag_datum_at("orders", &w.east, 0.0, at(0));
    west.put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(older)
        .metric_data(newer)
        .send()
        .await
        .unwrap();

    let out = west
        .get_metric_data()
        .metric_data_queries(flag_query("out", "orders", &w.east))
        .start_time(at(-300))
        .end_time(at(60))
        .send()
        .await
        .unwrap();
    let [result] = out.metric_data_results() else {
        panic!("one result per query: {out:?}");
    };
    assert_eq!(result.id(), Some("out"));
    assert_eq!(
        result.label(),
        Some(METRIC),
        "the default label is the metric's name"
    );
    assert_eq!(result.status_code(), Some(&StatusCode::Complete));
    assert_eq!(result.values(), [0.0, 1.0], "newest first");
    let stamps: Vec<i64> = result.timestamps().iter().map(DateTime::secs).collect();
    assert!(
        stamps[0] > stamps[1] && stamps[0] - stamps[1] >= 30,
        "{stamps:?}"
    );
    assert!(
        stamps.iter().all(|s| s % 10 == 0),
        "aligned on the period: {stamps:?}"
    );
    assert!(out.next_token().is_none());

    let ascending = west
        .get_metric_data()
        .metric_data_queries(labelled(
            flag_query("out", "orders", &w.east),
            "orders: us-east-1 out",
        ))
        .start_time(at(-300))
        .end_time(at(60))
        .scan_by(ScanBy::TimestampAscending)
        .send()
        .await
        .unwrap();
    let result = &ascending.metric_data_results()[0];
    assert_eq!(result.values(), [1.0, 0.0]);
    assert_eq!(result.label(), Some("orders: us-east-1 out"));

    let snapshot = w.cloudwatch.snapshot();
    let region = snapshot
        .regions
        .iter()
        .find(|r| r.region == w.west)
        .unwrap();
    let [metric] = region.metrics.as_slice() else {
        panic!("one metric: {region:?}");
    };
    assert_eq!(metric.metric.dimensions.get("Region"), Some("us-east-1"));
    assert_eq!(
        metric.latest.unwrap().stats.maximum,
        0.0,
        "the snapshot shows the latest"
    );
}

#[tokio::test]
async fn regions_are_isolated() {
    let w = common::world(1.0).await;
    common::publish_flag(&w.client(&w.west), "orders", &w.east, 1.0).await;
    common::put_flag_alarm(
        &w.client(&w.west),
        "orders-us-east-1-out",
        "orders",
        &w.east,
    )
    .await;

    let east = w.client(&w.east);
    let listed = east.list_metrics().send().await.unwrap();
    assert!(listed.metrics().is_empty(), "{listed:?}");
    let read = east
        .get_metric_data()
        .metric_data_queries(flag_query("out", "orders", &w.east))
        .start_time(at(-300))
        .end_time(at(60))
        .send()
        .await
        .unwrap();
    assert!(read.metric_data_results()[0].values().is_empty());
    assert!(
        east.describe_alarms()
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .is_empty()
    );
    let west_alarms = w.client(&w.west).describe_alarms().send().await.unwrap();
    assert_eq!(west_alarms.metric_alarms().len(), 1);
    assert!(
        west_alarms.metric_alarms()[0]
            .alarm_arn()
            .unwrap()
            .starts_with("arn:aws:cloudwatch:us-west-2:")
    );
}

#[tokio::test]
async fn statistics_and_listing_with_units_and_dimension_filters() {
    let w = common::world(1.0).await;
    let client = w.client(&w.east);
    let latency = |app: &str| {
        MetricDatum::builder()
            .metric_name("Latency")
            .dimensions(
                cw::types::Dimension::builder()
                    .name("App")
                    .value(app)
                    .build(),
            )
            .timestamp(at(-5))
            .set_values(Some(vec![10.0, 30.0]))
            .set_counts(Some(vec![3.0, 1.0]))
            .unit(StandardUnit::Milliseconds)
            .build()
    };
    client
        .put_metric_data()
        .namespace("MultiRegionApi/Apps")
        .metric_data(latency("orders"))
        .metric_data(latency("users"))
        .send()
        .await
        .unwrap();

    let stats = client
        .get_metric_statistics()
        .namespace("MultiRegionApi/Apps")
        .metric_name("Latency")
        .dimensions(
            cw::types::Dimension::builder()
                .name("App")
                .value("orders")
                .build(),
        )
        .start_time(at(-600))
        .end_time(at(60))
        .period(600)
        .statistics(Statistic::Average)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    assert_eq!(stats.label(), Some("Latency"));
    let [point] = stats.datapoints() else {
        panic!("one period: {stats:?}");
    };
    assert_eq!(point.average(), Some(15.0));
    assert_eq!(point.sample_count(), Some(4.0));
    assert_eq!(point.maximum(), Some(30.0));
    assert_eq!(point.sum(), None, "only what was asked for");
    assert_eq!(point.unit(), Some(&StandardUnit::Milliseconds));

    let wrong_unit = client
        .get_metric_statistics()
        .namespace("MultiRegionApi/Apps")
        .metric_name("Latency")
        .dimensions(
            cw::types::Dimension::builder()
                .name("App")
                .value("orders")
                .build(),
        )
        .start_time(at(-600))
        .end_time(at(60))
        .period(600)
        .statistics(Statistic::Sum)
        .unit(StandardUnit::Seconds)
        .send()
        .await
        .unwrap();
    assert!(
        wrong_unit.datapoints().is_empty(),
        "a unit filters the data"
    );

    let orders_only = client
        .list_metrics()
        .namespace("MultiRegionApi/Apps")
        .dimensions(
            DimensionFilter::builder()
                .name("App")
                .value("orders")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(orders_only.metrics().len(), 1);
    assert_eq!(orders_only.metrics()[0].metric_name(), Some("Latency"));
    let any_app = client
        .list_metrics()
        .dimensions(DimensionFilter::builder().name("App").build())
        .recently_active(cw::types::RecentlyActive::Pt3H)
        .send()
        .await
        .unwrap();
    assert_eq!(any_app.metrics().len(), 2);
}

#[tokio::test]
async fn large_calls_come_gzip_compressed_and_list_metrics_pages() {
    let w = common::world(1.0).await;
    let client = w.client(&w.east);
    // 1000 metrics in one call: the SDK compresses a body this large.
    let data: Vec<MetricDatum> = (0..1000)
        .map(|i| {
            MetricDatum::builder()
                .metric_name(format!("Metric{i:04}"))
                .dimensions(
                    cw::types::Dimension::builder()
                        .name("Shard")
                        .value(format!("shard-{i}"))
                        .build(),
                )
                .value(f64::from(i))
                .build()
        })
        .collect();
    client
        .put_metric_data()
        .namespace("MultiRegionApi/Bulk")
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap();
    let snapshot = w.cloudwatch.snapshot();
    let east = snapshot
        .regions
        .iter()
        .find(|r| r.region == w.east)
        .unwrap();
    assert_eq!(east.gzip_requests, 1, "the SDK compressed the call");
    assert_eq!(east.metrics.len(), 1000);

    let mut names = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_metrics()
            .namespace("MultiRegionApi/Bulk")
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        names.extend(
            page.metrics()
                .iter()
                .map(|m| m.metric_name().unwrap().to_owned()),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 2, "500 metrics a page");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 1000, "pages neither repeat nor skip");
}

#[tokio::test]
async fn get_metric_data_pages_by_max_datapoints() {
    let w = common::world(1.0).await;
    let client = w.client(&w.west);
    let data: Vec<MetricDatum> = (0..5)
        .map(|i| flag_datum_at("orders", &w.east, f64::from(i), at(-10 * i64::from(i))))
        .collect();
    client
        .put_metric_data()
        .namespace(NAMESPACE)
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap();
    let mut values = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_metric_data()
            .metric_data_queries(flag_query("out", "orders", &w.east))
            .start_time(at(-120))
            .end_time(at(60))
            .max_datapoints(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        let result = &page.metric_data_results()[0];
        assert!(result.values().len() <= 2);
        values.extend_from_slice(result.values());
        token = page.next_token().map(str::to_owned);
        let expected = if token.is_some() {
            StatusCode::PartialData
        } else {
            StatusCode::Complete
        };
        assert_eq!(result.status_code(), Some(&expected));
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        values,
        [0.0, 1.0, 2.0, 3.0, 4.0],
        "every datapoint once, newest first"
    );
}
