//! Alarms evaluated on the scaled clock, read and set with the SDK.

use std::time::Duration;

use aws_sdk_cloudwatch as cw;
use cw::types::{ComparisonOperator, StateValue, Statistic};

use crate::common::{self, METRIC, NAMESPACE, Publisher, alarm_state, eventually};

/// Periods of 10 s last 0.25 s: fast enough for a test, slow enough to watch a state.
const SCALE: f64 = 0.025;
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn the_flag_alarm_goes_ok_alarm_ok_on_the_scaled_clock() {
    let w = common::world(SCALE).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, "orders-us-east-1-out", "orders", &w.east).await;
    let created = client.describe_alarms().send().await.unwrap();
    let alarm = &created.metric_alarms()[0];
    assert_eq!(alarm.state_value(), Some(&StateValue::InsufficientData));
    assert_eq!(
        alarm.state_reason(),
        Some("Unchecked: Initial alarm creation")
    );

    let publisher = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        0.0,
        Duration::from_millis(50),
    );
    let mut took = Vec::new();
    for (value, state) in [
        (0.0, StateValue::Ok),
        (1.0, StateValue::Alarm),
        (0.0, StateValue::Ok),
    ] {
        publisher.set(value);
        let moved = eventually(
            &format!("{state:?} after publishing {value}"),
            PATIENCE,
            || {
                let client = client.clone();
                let state = state.clone();
                async move { alarm_state(&client, "orders-us-east-1-out").await == state }
            },
        )
        .await;
        took.push(moved);
    }
    println!("flag published → alarm state, with 10 s periods scaled to 250 ms: {took:?}");

    let described = client
        .describe_alarms()
        .alarm_names("orders-us-east-1-out")
        .send()
        .await
        .unwrap();
    let alarm = &described.metric_alarms()[0];
    let reason = alarm.state_reason().unwrap();
    assert!(
        reason.starts_with("Threshold Crossed: 1 out of the last 1 datapoint [0.0 ("),
        "{reason}"
    );
    assert!(
        reason.contains("was not greater than or equal to the threshold (1.0)"),
        "{reason}"
    );
    let data: serde_json::Value = serde_json::from_str(alarm.state_reason_data().unwrap()).unwrap();
    assert_eq!(data["statistic"], "Maximum");
    assert_eq!(data["period"], 10);
    assert!(
        alarm.state_updated_timestamp().unwrap()
            >= alarm.alarm_configuration_updated_timestamp().unwrap()
    );
    assert_eq!(
        alarm.state_transitioned_timestamp(),
        alarm.state_updated_timestamp(),
        "a transition updates both"
    );
}

#[tokio::test]
async fn describe_alarms_by_name_prefix_and_state() {
    let w = common::world(SCALE).await;
    let client = w.client(&w.west);
    for app in ["orders", "payments", "users"] {
        common::put_flag_alarm(&client, &format!("{app}-us-east-1-out"), app, &w.east).await;
    }
    client
        .put_metric_alarm()
        .alarm_name("orders-latency")
        .alarm_description("p50 latency of orders")
        .namespace("MultiRegionApi/Apps")
        .metric_name("Latency")
        .statistic(Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .datapoints_to_alarm(2)
        .threshold(250.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions("arn:aws:sns:us-west-2:123456789012:oncall")
        .send()
        .await
        .unwrap();
    let _out = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        1.0,
        Duration::from_millis(50),
    );
    let _in = Publisher::start(
        client.clone(),
        "payments",
        &w.east,
        0.0,
        Duration::from_millis(50),
    );
    eventually("orders in ALARM, payments OK", PATIENCE, || {
        let client = client.clone();
        async move {
            alarm_state(&client, "orders-us-east-1-out").await == StateValue::Alarm
                && alarm_state(&client, "payments-us-east-1-out").await == StateValue::Ok
        }
    })
    .await;

    let names = |out: &cw::operation::describe_alarms::DescribeAlarmsOutput| -> Vec<String> {
        out.metric_alarms()
            .iter()
            .map(|a| a.alarm_name().unwrap().to_owned())
            .collect()
    };
    let in_alarm = client
        .describe_alarms()
        .state_value(StateValue::Alarm)
        .send()
        .await
        .unwrap();
    assert_eq!(names(&in_alarm), ["orders-us-east-1-out"]);
    let unknown = client
        .describe_alarms()
        .alarm_name_prefix("users")
        .state_value(StateValue::InsufficientData)
        .send()
        .await
        .unwrap();
    assert_eq!(names(&unknown), ["users-us-east-1-out"], "no data yet");
    let by_name = client
        .describe_alarms()
        .alarm_names("payments-us-east-1-out")
        .alarm_names("orders-latency")
        .send()
        .await
        .unwrap();
    assert_eq!(
        names(&by_name),
        ["orders-latency", "payments-us-east-1-out"],
        "sorted by name"
    );
    let prefixed = client
        .describe_alarms()
        .alarm_name_prefix("orders-")
        .send()
        .await
        .unwrap();
    assert_eq!(names(&prefixed), ["orders-latency", "orders-us-east-1-out"]);
    let by_action = client
        .describe_alarms()
        .action_prefix("arn:aws:sns:")
        .send()
        .await
        .unwrap();
    assert_eq!(names(&by_action), ["orders-latency"]);

    let latency = &by_name.metric_alarms()[0];
    assert_eq!(latency.alarm_description(), Some("p50 latency of orders"));
    assert_eq!(latency.statistic(), Some(&Statistic::Average));
    assert_eq!(latency.period(), Some(60));
    assert_eq!(latency.evaluation_periods(), Some(3));
    assert_eq!(latency.datapoints_to_alarm(), Some(2));
    assert_eq!(latency.threshold(), Some(250.0));
    assert_eq!(
        latency.comparison_operator(),
        Some(&ComparisonOperator::GreaterThanThreshold)
    );
    assert_eq!(latency.treat_missing_data(), Some("notBreaching"));
    assert_eq!(
        latency.alarm_actions(),
        ["arn:aws:sns:us-west-2:123456789012:oncall"]
    );
    assert_eq!(latency.actions_enabled(), Some(true));
    let flag = &by_name.metric_alarms()[1];
    assert_eq!(flag.namespace(), Some(NAMESPACE));
    assert_eq!(flag.metric_name(), Some(METRIC));
    let dims: Vec<(&str, &str)> = flag
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap(), d.value().unwrap()))
        .collect();
    assert_eq!(dims, [("App", "payments"), ("Region", "us-east-1")]);
    assert_eq!(
        flag.alarm_arn(),
        Some("arn:aws:cloudwatch:us-west-2:123456789012:alarm:payments-us-east-1-out")
    );

    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .describe_alarms()
            .max_records(3)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        seen.extend(names(&page));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 4, "pages of 3: {seen:?}");

    client
        .delete_alarms()
        .alarm_names("orders-latency")
        .send()
        .await
        .unwrap();
    assert_eq!(
        client
            .describe_alarms()
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .len(),
        3
    );
}

#[tokio::test]
async fn set_alarm_state_holds_until_the_next_evaluation() {
    // Periods of 10 s last 1 s here: time to read the state SetAlarmState set.
    let w = common::world(0.1).await;
    let client = w.client(&w.west);
    common::put_flag_alarm(&client, "orders-out", "orders", &w.east).await;
    let _publisher = Publisher::start(
        client.clone(),
        "orders",
        &w.east,
        0.0,
        Duration::from_millis(50),
    );
    eventually("OK from the data", PATIENCE, || {
        let client = client.clone();
        async move { alarm_state(&client, "orders-out").await == StateValue::Ok }
    })
    .await;

    // The set state lasts until the next evaluation, at most a period: read it right away,
    // and set it again in the rare case an evaluation came in between.
    let mut held = None;
    for _ in 0..5 {
        client
            .set_alarm_state()
            .alarm_name("orders-out")
            .state_value(StateValue::Alarm)
            .state_reason("drill: testing the pager")
            .state_reason_data(r#"{"drill": true}"#)
            .send()
            .await
            .unwrap();
        let described = client
            .describe_alarms()
            .alarm_names("orders-out")
            .send()
            .await
            .unwrap();
        let alarm = described.metric_alarms()[0].clone();
        if alarm.state_value() == Some(&StateValue::Alarm) {
            held = Some(alarm);
            break;
        }
    }
    let alarm = held.expect("SetAlarmState's state was never seen");
    assert_eq!(alarm.state_reason(), Some("drill: testing the pager"));
    assert_eq!(alarm.state_reason_data(), Some(r#"{"drill": true}"#));

    let back = eventually("back to OK at the next evaluation", PATIENCE, || {
        let client = client.clone();
        async move { alarm_state(&client, "orders-out").await == StateValue::Ok }
    })
    .await;
    println!("SetAlarmState held for {back:?} (periods of 1 s)");
    let described = client
        .describe_alarms()
        .alarm_names("orders-out")
        .send()
        .await
        .unwrap();
    assert!(
        described.metric_alarms()[0]
            .state_reason()
            .unwrap()
            .starts_with("Threshold Crossed"),
        "the evaluation's own reason"
    );
}

#[tokio::test]
async fn missing_data_is_treated_as_the_alarm_says() {
    let w = common::world(SCALE).await;
    let client = w.client(&w.west);
    for (name, treat) in [
        ("missing", "missing"),
        ("breaching", "breaching"),
        ("not-breaching", "notBreaching"),
        ("ignore", "ignore"),
    ] {
        client
            .put_metric_alarm()
            .alarm_name(name)
            .namespace(NAMESPACE)
            .metric_name(METRIC)
            .set_dimensions(Some(common::flag_dimensions("orders", &w.east)))
            .statistic(Statistic::Maximum)
            .period(10)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data(treat)
            .send()
            .await
            .unwrap();
    }
    // No data at all.
    let expected = [
        ("missing", StateValue::InsufficientData),
        ("breaching", StateValue::Alarm),
        ("not-breaching", StateValue::Ok),
    ];
    eventually("each treatment's verdict on no data", PATIENCE, || {
        let (client, expected) = (client.clone(), expected.clone());
        async move {
            for (name, state) in &expected {
                if alarm_state(&client, name).await != *state {
                    return false;
                }
            }
            true
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        alarm_state(&client, "ignore").await,
        StateValue::InsufficientData,
        "ignore keeps the state it has"
    );
}

#[tokio::test]
async fn a_percentile_alarm_reads_the_values_published() {
    let w = common::world(SCALE).await;
    let client = w.client(&w.west);
    let dimensions = vec![
        cw::types::Dimension::builder()
            .name("ApiName")
            .value("orders")
            .build(),
    ];
    client
        .put_metric_alarm()
        .alarm_name("orders-p99")
        .namespace("MultiRegionApi/Apps")
        .metric_name("Latency")
        .set_dimensions(Some(dimensions.clone()))
        .extended_statistic("p99")
        .unit(cw::types::StandardUnit::Milliseconds)
        .period(10)
        .evaluation_periods(1)
        .threshold(500.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let described = client
        .describe_alarms()
        .alarm_names("orders-p99")
        .send()
        .await
        .unwrap();
    let alarm = &described.metric_alarms()[0];
    assert_eq!(alarm.extended_statistic(), Some("p99"));
    assert_eq!(alarm.statistic(), None, "one or the other");

    // Per request, as API Gateway publishes latency: mostly fast, then one slow request in a
    // hundred (p99 still fast), then two in a hundred (p99 slow).
    let publish = |slow: f64| {
        let (client, dimensions) = (client.clone(), dimensions.clone());
        async move {
            let datum = cw::types::MetricDatum::builder()
                .metric_name("Latency")
                .set_dimensions(Some(dimensions))
                .values(20.0)
                .counts(100.0 - slow)
                .values(900.0)
                .counts(slow)
                .unit(cw::types::StandardUnit::Milliseconds)
                .storage_resolution(1)
                .build();
            client
                .put_metric_data()
                .namespace("MultiRegionApi/Apps")
                .metric_data(datum)
                .send()
                .await
                .unwrap();
        }
    };
    for (slow, state) in [(1.0, StateValue::Ok), (2.0, StateValue::Alarm)] {
        eventually(
            &format!("{state:?} with {slow} slow requests in 100"),
            PATIENCE,
            || {
                let client = client.clone();
                let (state, publish) = (state.clone(), publish(slow));
                async move {
                    publish.await;
                    alarm_state(&client, "orders-p99").await == state
                }
            },
        )
        .await;
    }

    let both = client
        .put_metric_alarm()
        .alarm_name("both")
        .namespace("MultiRegionApi/Apps")
        .metric_name("Latency")
        .statistic(Statistic::Average)
        .extended_statistic("p99")
        .period(10)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap_err();
    let message = format!("{}", cw::error::DisplayErrorContext(both));
    assert!(message.contains("cannot be used together"), "{message}");
    let trimmed = client
        .put_metric_alarm()
        .alarm_name("trimmed")
        .namespace("MultiRegionApi/Apps")
        .metric_name("Latency")
        .extended_statistic("tm99")
        .period(10)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap_err();
    let message = format!("{}", cw::error::DisplayErrorContext(trimmed));
    assert!(message.contains("not emulated"), "{message}");
}
