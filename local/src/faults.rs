//! The faults the control API injects, in the words of its JSON, the same both ways: a body
//! names a fault (`{"fault": "hang"}`, `{"fault": "slow", "delay_ms": 1500}`) and `GET /state`
//! shows each ARC endpoint's and each CloudWatch endpoint's fault in exactly that form, so
//! what a script sent is what it reads back.

use std::time::Duration;

use kit::{FieldError, Problem};
use local_arc::Fault;
use serde::{Deserialize, Serialize};

use crate::instance::Degradation;

/// A fault for one app's instance in one Region: `{"fault": "stop"}`,
/// `{"fault": "degrade", "latency_ms": 300, "error_rate": 0.25}`. The field is `fault`, as for
/// ARC endpoints; `action`, its former name, is still read. What the instance does then shows
/// in `GET /state` as its `instance.status` (`running`, `stopped`, `degraded`) and its
/// `store_available`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum AppFault {
    /// Close the listener: connections are refused.
    Stop,
    /// Add latency and/or answer a share of requests with 503.
    Degrade(Degradation),
    /// Switch the app's table in this Region off: every store call fails, `/health` answers
    /// 503, replication into it waits.
    StoreDown,
    /// Serve again, without degradation, with the table on.
    Restore,
}

impl AppFault {
    /// The fault a body names, reading the former field name `action` when `fault` is
    /// absent. A body that is not one is a 422 naming the field.
    pub fn from_body(mut body: serde_json::Value) -> Result<Self, Problem> {
        if let Some(map) = body.as_object_mut()
            && !map.contains_key("fault")
            && let Some(action) = map.remove("action")
        {
            map.insert("fault".into(), action);
        }
        serde_json::from_value(body)
            .map_err(|e| Problem::validation(vec![FieldError::new("fault", e.to_string())]))
    }
}

/// What one ARC cluster endpoint does: `{"fault": "down"}`, `{"fault": "slow", "delay_ms": 500}`;
/// in a request body and, flattened into the endpoint, in `GET /state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum EndpointFault {
    /// Serve normally.
    None,
    /// Refuse connections (counts against the quorum).
    Down,
    /// Accept connections and never answer.
    Hang,
    /// Answer after a delay.
    Slow { delay_ms: u64 },
    /// Answer every request with a 500 InternalServerException.
    Error,
    /// Answer every request with a 429 ThrottlingException.
    Throttle,
}

impl From<EndpointFault> for Fault {
    fn from(fault: EndpointFault) -> Self {
        match fault {
            EndpointFault::None => Fault::None,
            EndpointFault::Down => Fault::Down,
            EndpointFault::Hang => Fault::Hang,
            EndpointFault::Slow { delay_ms } => Fault::Slow(Duration::from_millis(delay_ms)),
            EndpointFault::Error => Fault::Error,
            EndpointFault::Throttle => Fault::Throttle,
        }
    }
}

impl From<Fault> for EndpointFault {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::None => EndpointFault::None,
            Fault::Down => EndpointFault::Down,
            Fault::Hang => EndpointFault::Hang,
            Fault::Slow(delay) => EndpointFault::Slow {
                delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            },
            Fault::Error => EndpointFault::Error,
            Fault::Throttle => EndpointFault::Throttle,
        }
    }
}

/// What one Region's CloudWatch endpoint does (`health-check` mechanism, and every alarm):
/// `{"fault": "down"}`; in a request body and, flattened into the endpoint, in `GET /state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum CloudWatchFault {
    /// Serve normally.
    None,
    /// Refuse connections: publishing or reading a flag there fails at once, and the health
    /// checks on its alarms see insufficient data (they keep their last status).
    Down,
    /// Accept connections and never answer.
    Hang,
}

impl From<CloudWatchFault> for local_cloudwatch::Fault {
    fn from(fault: CloudWatchFault) -> Self {
        match fault {
            CloudWatchFault::None => Self::None,
            CloudWatchFault::Down => Self::Down,
            CloudWatchFault::Hang => Self::Hang,
        }
    }
}

impl From<local_cloudwatch::Fault> for CloudWatchFault {
    fn from(fault: local_cloudwatch::Fault) -> Self {
        match fault {
            local_cloudwatch::Fault::None => Self::None,
            local_cloudwatch::Fault::Down => Self::Down,
            local_cloudwatch::Fault::Hang => Self::Hang,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_faults_are_named_by_fault_and_still_by_action() {
        assert!(matches!(
            AppFault::from_body(json!({"fault": "stop"})),
            Ok(AppFault::Stop)
        ));
        assert!(matches!(
            AppFault::from_body(json!({"action": "store_down"})),
            Ok(AppFault::StoreDown)
        ));
        let d =
            AppFault::from_body(json!({"fault": "degrade", "latency_ms": 5, "error_rate": 0.5}));
        assert!(matches!(d, Ok(AppFault::Degrade(_))), "{d:?}");
    }

    #[test]
    fn a_body_that_is_no_fault_is_a_422_naming_the_field() {
        for bad in [
            json!({}),
            json!({"fault": "explode"}),
            json!({"action": 3}),
            json!([]),
        ] {
            let problem = AppFault::from_body(bad.clone()).unwrap_err();
            assert_eq!(problem.status.as_u16(), 422, "{bad}");
            assert_eq!(problem.errors[0].field, "fault", "{bad}");
        }
    }

    #[test]
    fn an_endpoint_fault_reads_back_as_it_was_written() {
        for body in [
            json!({"fault": "none"}),
            json!({"fault": "down"}),
            json!({"fault": "hang"}),
            json!({"fault": "slow", "delay_ms": 1500}),
            json!({"fault": "error"}),
            json!({"fault": "throttle"}),
        ] {
            let fault: EndpointFault = serde_json::from_value(body.clone()).unwrap();
            let applied = Fault::from(fault);
            let shown = serde_json::to_value(EndpointFault::from(applied)).unwrap();
            assert_eq!(shown, body);
        }
        assert!(serde_json::from_value::<EndpointFault>(json!({"fault": "Hang"})).is_err());
    }

    #[test]
    fn a_cloudwatch_fault_reads_back_as_it_was_written() {
        for body in [
            json!({"fault": "none"}),
            json!({"fault": "down"}),
            json!({"fault": "hang"}),
        ] {
            let fault: CloudWatchFault = serde_json::from_value(body.clone()).unwrap();
            let applied = local_cloudwatch::Fault::from(fault);
            let shown = serde_json::to_value(CloudWatchFault::from(applied)).unwrap();
            assert_eq!(shown, body);
        }
        assert!(serde_json::from_value::<CloudWatchFault>(json!({"fault": "slow"})).is_err());
    }
}
