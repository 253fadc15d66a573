//! Route 53 `CLOUDWATCH_METRIC` health checks following the flag's alarm: the metric data
//! moves them, SetAlarmState does not, LastKnownStatus holds when data stops, an unreachable
//! Region is insufficient data.
//!
//! Most tests run the checks at AWS's pace (every 30 s, so only the first evaluation runs on
//! its own) and step them with `check_now`, so that each evaluation is the test's.

use std::time::Duration;

use aws_sdk_cloudwatch as cw;
use cw::types::StateValue;
use local_cloudwatch::{
    FailureThreshold, Fault, HealthCheckConfig, HealthCheckId, HealthCheckers,
    InsufficientDataHealthStatus, LocalCloudWatchError, Observation, RequestInterval, TimeScale,
};

use crate::common::{self, Publisher, World, alarm_state, eventually};

const PATIENCE: Duration = Duration::from_secs(10);
const ALARM: &str = "orders-us-east-1-out";

fn id(s: &str) -> HealthCheckId {
    s.parse().unwrap()
}

/// A check on the flag alarm in us-west-2, evaluated every 10 s × scale, changing at the
/// first evaluation that disagrees.
fn check(w: &World, insufficient: InsufficientDataHealthStatus) -> HealthCheckConfig {
    HealthCheckConfig {
        insufficient_data: insufficient,
        request_interval: RequestInterval::Fast,
        failure_threshold: FailureThreshold::new(1).unwrap(),
        ..HealthCheckConfig::new(w.west.clone(), ALARM.parse().unwrap())
    }
}

/// Waits until a health check evaluated now would see `want`.
async fn data_says(w: &World, want: Observation) {
    let alarm = ALARM.parse().unwrap();
    eventually(&format!("the alarm's data says {want:?}"), PATIENCE, || {
        let seen = w.cloudwatch.observe(&w.west, &alarm);
        async move { seen == want }
    })
    .await;
}

#[tokio::test]
async fn set_alarm_state_does_not_move_the_health_check_and_put_metric_data_does() {
    let w = common::world(0.1).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, ALARM, "orders", &w.east).await;
    let publisher = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        0.0,
        Duration::from_millis(50),
    );
    let checks = HealthCheckers::start(
        &w.cloudwatch,
        [(
            id("orders-primary"),
            check(&w, InsufficientDataHealthStatus::LastKnownStatus),
        )],
        TimeScale::AWS,
    )
    .unwrap();
    data_says(&w, Observation::Ok).await;
    eventually("the alarm OK", PATIENCE, || {
        let client = client.clone();
        async move { alarm_state(&client, ALARM).await == StateValue::Ok }
    })
    .await;

    // Set the alarm to ALARM and evaluate the check while the alarm still shows it (a set
    // state lasts until the next evaluation, at most a period: try again if it was that short).
    let mut shown = false;
    for _ in 0..5 {
        client
            .set_alarm_state()
            .alarm_name(ALARM)
            .state_value(StateValue::Alarm)
            .state_reason("drill")
            .send()
            .await
            .unwrap();
        checks.check_now();
        let status = checks.status(&id("orders-primary")).unwrap();
        assert!(
            status.healthy,
            "SetAlarmState must not move the health check: {status:?}"
        );
        assert_ne!(status.last_observation, Some(Observation::Alarm));
        if alarm_state(&client, ALARM).await == StateValue::Alarm {
            shown = true;
            break;
        }
    }
    assert!(shown, "the check never ran while the alarm showed ALARM");

    publisher.set(1.0);
    data_says(&w, Observation::Alarm).await;
    checks.check_now();
    assert_eq!(
        checks.is_healthy(&id("orders-primary")),
        Some(false),
        "PutMetricData moves it"
    );
    publisher.set(0.0);
    data_says(&w, Observation::Ok).await;
    checks.check_now();
    assert_eq!(checks.is_healthy(&id("orders-primary")), Some(true));
}

#[tokio::test]
async fn last_known_status_holds_when_data_stops() {
    // Alarm periods of 500 ms, health checks every 100 ms, on their own schedule.
    let w = common::world(0.05).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, ALARM, "orders", &w.east).await;
    let checks = HealthCheckers::start(
        &w.cloudwatch,
        [
            (
                id("last-known"),
                check(&w, InsufficientDataHealthStatus::LastKnownStatus),
            ),
            (
                id("healthy"),
                check(&w, InsufficientDataHealthStatus::Healthy),
            ),
            (
                id("unhealthy"),
                check(&w, InsufficientDataHealthStatus::Unhealthy),
            ),
        ],
        TimeScale::new(0.01).unwrap(),
    )
    .unwrap();
    assert_eq!(
        checks.is_healthy(&id("last-known")),
        Some(true),
        "no data yet, no last status"
    );
    assert_eq!(checks.is_healthy(&id("unhealthy")), Some(false));

    let publisher = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        1.0,
        Duration::from_millis(50),
    );
    eventually(
        "all three unhealthy while the flag says out",
        PATIENCE,
        || {
            let all = ["last-known", "healthy", "unhealthy"]
                .iter()
                .all(|c| checks.is_healthy(&id(c)) == Some(false));
            async move { all }
        },
    )
    .await;

    drop(publisher); // the flag is published once, not refreshed
    eventually("the alarm INSUFFICIENT_DATA", PATIENCE, || {
        let client = client.clone();
        async move { alarm_state(&client, ALARM).await == StateValue::InsufficientData }
    })
    .await;
    eventually("Healthy-on-insufficient-data healthy", PATIENCE, || {
        let healthy = checks.is_healthy(&id("healthy")) == Some(true);
        async move { healthy }
    })
    .await;
    // Several more evaluations: the last known status holds.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = checks.status(&id("last-known")).unwrap();
    assert!(!status.healthy, "{status:?}");
    assert_eq!(status.last_observation, Some(Observation::InsufficientData));
    assert_eq!(checks.is_healthy(&id("unhealthy")), Some(false));

    let _in = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        0.0,
        Duration::from_millis(50),
    );
    let took = eventually(
        "LastKnownStatus healthy once the flag says in",
        PATIENCE,
        || {
            let healthy = checks.is_healthy(&id("last-known")) == Some(true);
            async move { healthy }
        },
    )
    .await;
    println!(
        "flag 0 published → health check healthy in {took:?} (periods 500 ms, checks every 100 ms)"
    );
}

#[tokio::test]
async fn an_unreachable_region_is_insufficient_data() {
    let w = common::world(0.05).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, ALARM, "orders", &w.east).await;
    let checks = HealthCheckers::start(
        &w.cloudwatch,
        [
            (
                id("last-known"),
                check(&w, InsufficientDataHealthStatus::LastKnownStatus),
            ),
            (
                id("healthy"),
                check(&w, InsufficientDataHealthStatus::Healthy),
            ),
        ],
        TimeScale::AWS,
    )
    .unwrap();
    let out = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        1.0,
        Duration::from_millis(50),
    );
    data_says(&w, Observation::Alarm).await;
    checks.check_now();
    drop(out);
    assert_eq!(checks.is_healthy(&id("last-known")), Some(false));
    assert_eq!(checks.is_healthy(&id("healthy")), Some(false));

    for fault in [Fault::Down, Fault::Hang] {
        w.cloudwatch.set_fault(&w.west, fault).await.unwrap();
        checks.check_now();
        let status = checks.status(&id("last-known")).unwrap();
        assert_eq!(
            status.last_observation,
            Some(Observation::Unreachable),
            "{fault:?}"
        );
        assert!(!status.healthy, "{fault:?}: the last known status holds");
        assert_eq!(checks.is_healthy(&id("healthy")), Some(true), "{fault:?}");
        w.cloudwatch.set_fault(&w.west, Fault::None).await.unwrap();
    }

    // The Region keeps evaluating behind a fault: data published in process (as an AWS
    // service publishes), at every poll so that each period has some, still moves its alarm.
    w.cloudwatch.set_fault(&w.west, Fault::Down).await.unwrap();
    let namespace = common::NAMESPACE.parse().unwrap();
    let datum = local_cloudwatch::MetricDatum::value(
        common::METRIC.parse().unwrap(),
        local_cloudwatch::Dimensions::new([("App", "orders"), ("Region", "us-east-1")]).unwrap(),
        0.0,
    );
    let alarm = ALARM.parse().unwrap();
    eventually("the alarm OK behind the fault", PATIENCE, || {
        w.cloudwatch
            .put_metric_data(&w.west, &namespace, std::slice::from_ref(&datum))
            .unwrap();
        let ok = w
            .cloudwatch
            .alarm(&w.west, &alarm)
            .is_some_and(|a| a.state == local_cloudwatch::AlarmState::Ok);
        async move { ok }
    })
    .await;
    checks.check_now();
    assert_eq!(
        checks.is_healthy(&id("last-known")),
        Some(false),
        "still unreachable"
    );
    w.cloudwatch.set_fault(&w.west, Fault::None).await.unwrap();
    let _in = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        0.0,
        Duration::from_millis(50),
    );
    data_says(&w, Observation::Ok).await;
    checks.check_now();
    assert_eq!(
        checks.status(&id("last-known")).unwrap().last_observation,
        Some(Observation::Ok)
    );
    assert_eq!(checks.is_healthy(&id("last-known")), Some(true));
}

#[tokio::test]
async fn the_failure_threshold_counts_consecutive_evaluations() {
    let w = common::world(0.1).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, ALARM, "orders", &w.east).await;
    let config = HealthCheckConfig {
        failure_threshold: FailureThreshold::new(3).unwrap(),
        ..check(&w, InsufficientDataHealthStatus::LastKnownStatus)
    };
    let checks = HealthCheckers::start(
        &w.cloudwatch,
        [(id("orders-primary"), config)],
        TimeScale::AWS,
    )
    .unwrap();
    let _out = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        1.0,
        Duration::from_millis(50),
    );
    data_says(&w, Observation::Alarm).await;
    checks.check_now();
    checks.check_now();
    assert_eq!(
        checks.is_healthy(&id("orders-primary")),
        Some(true),
        "two of three"
    );
    checks.check_now();
    let status = checks.status(&id("orders-primary")).unwrap();
    assert!(!status.healthy);
    assert!(status.status_changed.is_some());

    let snapshot = serde_json::to_value(checks.snapshot()).unwrap();
    assert_eq!(snapshot[0]["id"], "orders-primary");
    assert_eq!(snapshot[0]["region"], "us-west-2");
    assert_eq!(snapshot[0]["alarm"], ALARM);
    assert_eq!(snapshot[0]["healthy"], false);
    assert_eq!(snapshot[0]["last_observation"], "ALARM");
    assert_eq!(snapshot[0]["insufficient_data"], "LastKnownStatus");
    assert_eq!(snapshot[0]["failure_threshold"], 3);
    assert_eq!(snapshot[0]["request_interval"], "fast");
}

#[tokio::test]
async fn a_deleted_alarm_is_insufficient_data_and_bad_definitions_are_refused() {
    let w = common::world(1.0).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, ALARM, "orders", &w.east).await;
    let checks = HealthCheckers::start(
        &w.cloudwatch,
        [(
            id("unhealthy"),
            check(&w, InsufficientDataHealthStatus::Unhealthy),
        )],
        TimeScale::AWS,
    )
    .unwrap();
    client
        .delete_alarms()
        .alarm_names(ALARM)
        .send()
        .await
        .unwrap();
    checks.check_now();
    let status = checks.status(&id("unhealthy")).unwrap();
    assert_eq!(status.last_observation, Some(Observation::NoSuchAlarm));
    assert!(!status.healthy);

    let elsewhere = HealthCheckConfig::new("eu-west-1".parse().unwrap(), ALARM.parse().unwrap());
    let err = HealthCheckers::start(&w.cloudwatch, [(id("x"), elsewhere)], TimeScale::AWS)
        .err()
        .unwrap();
    assert!(
        matches!(err, LocalCloudWatchError::HealthCheckRegion { .. }),
        "{err}"
    );
    let twice = [
        (id("x"), check(&w, InsufficientDataHealthStatus::Healthy)),
        (id("x"), check(&w, InsufficientDataHealthStatus::Healthy)),
    ];
    let err = HealthCheckers::start(&w.cloudwatch, twice, TimeScale::AWS)
        .err()
        .unwrap();
    assert!(err.to_string().contains("defined twice"), "{err}");
}

#[tokio::test]
async fn a_check_slower_than_the_alarm_period_misses_no_period() {
    // Alarm periods of 200 ms; the check runs every second on its own schedule, so at its
    // next run the period holding the flag is long over and later ones are empty.
    let w = common::world(0.02).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, ALARM, "orders", &w.east).await;
    let checks = HealthCheckers::start(
        &w.cloudwatch,
        [(
            id("orders-primary"),
            check(&w, InsufficientDataHealthStatus::LastKnownStatus),
        )],
        TimeScale::new(0.1).unwrap(),
    )
    .unwrap();
    common::publish_flag(&client, "orders", &w.east, 1.0).await;
    let took = eventually("the check unhealthy", Duration::from_secs(3), || {
        let healthy = checks.is_healthy(&id("orders-primary"));
        async move { healthy == Some(false) }
    })
    .await;
    println!("one flag datapoint, periods of 200 ms, checks every 1 s: unhealthy after {took:?}");
    assert_eq!(
        w.cloudwatch.observe(&w.west, &ALARM.parse().unwrap()),
        Observation::InsufficientData,
        "the latest period alone says nothing"
    );
    assert!(
        took <= Duration::from_millis(1500),
        "seen at the check's next run"
    );
}
