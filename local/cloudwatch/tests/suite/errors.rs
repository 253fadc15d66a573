//! Bad input comes back to the SDK as CloudWatch's typed errors, and changes nothing.

use std::time::SystemTime;

use aws_sdk_cloudwatch as cw;
use cw::error::ProvideErrorMetadata;
use cw::operation::delete_alarms::DeleteAlarmsError;
use cw::operation::get_metric_data::GetMetricDataError;
use cw::operation::get_metric_statistics::GetMetricStatisticsError;
use cw::operation::put_metric_data::PutMetricDataError;
use cw::operation::set_alarm_state::SetAlarmStateError;
use cw::primitives::DateTime;
use cw::types::{
    ComparisonOperator, Metric, MetricDataQuery, MetricDatum, MetricStat, StateValue, Statistic,
};

use crate::common::{self, METRIC, NAMESPACE, flag_datum};

fn now_plus(secs: i64) -> DateTime {
    DateTime::from_secs(DateTime::from(SystemTime::now()).secs() + secs)
}

#[tokio::test]
async fn put_metric_data_refusals_are_typed_and_store_nothing() {
    let w = common::world(1.0).await;
    let client = w.client(&w.west);

    let err = client
        .put_metric_data()
        .namespace("AWS/EC2")
        .metric_data(flag_datum("orders", &w.east, 1.0))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, PutMetricDataError::InvalidParameterValueException(_)),
        "{err:?}"
    );
    assert!(
        err.message().unwrap().contains("reserved for AWS services"),
        "{err:?}"
    );

    // One good datum and one bad one: the call is refused as a whole.
    let err = client
        .put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(flag_datum("orders", &w.east, 1.0))
        .metric_data(flag_datum("users", &w.east, f64::NAN))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, PutMetricDataError::InvalidParameterValueException(_)),
        "{err:?}"
    );
    assert!(
        err.message().unwrap().contains("MetricData.member.2.Value"),
        "{err:?}"
    );
    assert_eq!(err.code(), Some("InvalidParameterValue"));

    let err = client
        .put_metric_data()
        .metric_data(flag_datum("orders", &w.east, 1.0))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            PutMetricDataError::MissingRequiredParameterException(_)
        ),
        "{err:?}"
    );
    assert_eq!(err.message(), Some("The parameter Namespace is required."));

    let both = MetricDatum::builder()
        .metric_name(METRIC)
        .value(1.0)
        .values(2.0)
        .build();
    let err = client
        .put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(both)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            PutMetricDataError::InvalidParameterCombinationException(_)
        ),
        "{err:?}"
    );

    let far_future = MetricDatum::builder()
        .metric_name(METRIC)
        .value(1.0)
        .timestamp(now_plus(3 * 3600))
        .build();
    let err = client
        .put_metric_data()
        .namespace(NAMESPACE)
        .metric_data(far_future)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.message().unwrap().contains("two hours in the future"),
        "{err:?}"
    );

    let listed = client.list_metrics().send().await.unwrap();
    assert!(
        listed.metrics().is_empty(),
        "nothing was stored: {listed:?}"
    );
}

#[tokio::test]
async fn query_refusals_are_typed() {
    let w = common::world(1.0).await;
    let client = w.client(&w.west);
    let query = |id: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(NAMESPACE)
                            .metric_name(METRIC)
                            .build(),
                    )
                    .period(10)
                    .stat("Maximum")
                    .build(),
            )
            .build()
    };

    let err = client
        .get_metric_data()
        .metric_data_queries(query("a"))
        .start_time(now_plus(-60))
        .end_time(now_plus(0))
        .next_token("not-a-token")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetMetricDataError::InvalidNextToken(_)),
        "{err:?}"
    );

    // GetMetricData's model has no parameter errors: CloudWatch answers ValidationError.
    let err = client
        .get_metric_data()
        .metric_data_queries(query("a"))
        .metric_data_queries(query("a"))
        .start_time(now_plus(-60))
        .end_time(now_plus(0))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");
    assert!(err.message().unwrap().contains("not unique"));

    let err = client
        .get_metric_data()
        .metric_data_queries(query("Upper"))
        .start_time(now_plus(-60))
        .end_time(now_plus(0))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");
    assert!(
        err.message()
            .unwrap()
            .contains("MetricDataQueries.member.1.Id"),
        "{err:?}"
    );

    let err = client
        .get_metric_statistics()
        .namespace(NAMESPACE)
        .metric_name(METRIC)
        .start_time(now_plus(-3 * 3600))
        .end_time(now_plus(0))
        .period(1)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            GetMetricStatisticsError::InvalidParameterCombinationException(_)
        ),
        "{err:?}"
    );
    let err = client
        .get_metric_statistics()
        .namespace(NAMESPACE)
        .metric_name(METRIC)
        .start_time(now_plus(-60))
        .end_time(now_plus(0))
        .period(7)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            GetMetricStatisticsError::InvalidParameterValueException(_)
        ),
        "{err:?}"
    );
    assert!(err.message().unwrap().contains("Period"), "{err:?}");
}

#[tokio::test]
async fn alarm_refusals_are_typed_and_change_nothing() {
    let w = common::world(1.0).await;
    let client = w.client(&w.west);

    let err = client
        .set_alarm_state()
        .alarm_name("no-such-alarm")
        .state_value(StateValue::Alarm)
        .state_reason("drill")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, SetAlarmStateError::ResourceNotFound(_)),
        "{err:?}"
    );

    common::put_flag_alarm(&client, "orders-out", "orders", &w.east).await;
    let err = client
        .set_alarm_state()
        .alarm_name("orders-out")
        .state_value(StateValue::Alarm)
        .state_reason("drill")
        .state_reason_data("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, SetAlarmStateError::InvalidFormatFault(_)),
        "{err:?}"
    );
    assert_eq!(
        common::alarm_state(&client, "orders-out").await,
        StateValue::InsufficientData,
        "a refused SetAlarmState changes nothing"
    );

    let err = client
        .delete_alarms()
        .alarm_names("orders-out")
        .alarm_names("no-such-alarm")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, DeleteAlarmsError::ResourceNotFound(_)),
        "{err:?}"
    );
    assert_eq!(
        client
            .describe_alarms()
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .len(),
        1,
        "all or nothing"
    );

    // PutMetricAlarm's model has no parameter errors: CloudWatch answers ValidationError.
    let bad_period = client
        .put_metric_alarm()
        .alarm_name("bad")
        .namespace(NAMESPACE)
        .metric_name(METRIC)
        .statistic(Statistic::Maximum)
        .period(15)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(bad_period.code(), Some("ValidationError"), "{bad_period:?}");
    assert!(bad_period.message().unwrap().contains("Period"));
    let too_many = client
        .put_metric_alarm()
        .alarm_name("bad")
        .namespace(NAMESPACE)
        .metric_name(METRIC)
        .statistic(Statistic::Maximum)
        .period(10)
        .evaluation_periods(2)
        .datapoints_to_alarm(3)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        too_many.message().unwrap().contains("DatapointsToAlarm"),
        "{too_many:?}"
    );
    let no_threshold = client
        .put_metric_alarm()
        .alarm_name("bad")
        .namespace(NAMESPACE)
        .metric_name(METRIC)
        .statistic(Statistic::Maximum)
        .period(10)
        .evaluation_periods(1)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        no_threshold.message(),
        Some("The parameter Threshold is required.")
    );
    let names: Vec<String> = client
        .describe_alarms()
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .iter()
        .map(|a| a.alarm_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["orders-out"], "no refused alarm was created");
}
