//! The ARC source: the instance's own routing control, read from the cluster's endpoints.

use aws_sdk_route53recoverycluster as arc;
use aws_sdk_route53recoverycluster::config::retry::RetryConfig;
use aws_sdk_route53recoverycluster::config::timeout::TimeoutConfig;
use aws_sdk_route53recoverycluster::types::RoutingControlState;
use topology::RoutingControlArn;
use topology::manifest::ClusterEndpoint;

use super::{ATTEMPT_TIMEOUT, Reading};

/// A client per cluster endpoint, each signing for its endpoint's Region.
pub(super) struct ControlReader {
    clients: Vec<(String, arc::Client)>,
}

impl ControlReader {
    pub(super) fn new(sdk: &aws_types::SdkConfig, endpoints: &[ClusterEndpoint]) -> Self {
        let clients = endpoints
            .iter()
            .map(|endpoint| {
                let config = arc::config::Builder::from(sdk)
                    .region(arc::config::Region::new(endpoint.region.to_string()))
                    .endpoint_url(endpoint.url.trim_end_matches('/'))
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(ATTEMPT_TIMEOUT)
                            .operation_timeout(ATTEMPT_TIMEOUT)
                            .build(),
                    )
                    .build();
                (endpoint.region.to_string(), arc::Client::from_conf(config))
            })
            .collect();
        Self { clients }
    }

    /// Asks each endpoint in turn until one answers.
    pub(super) async fn read(&self, control: &RoutingControlArn) -> Reading {
        let mut failures = Vec::new();
        for (region, client) in &self.clients {
            let call = client
                .get_routing_control_state()
                .routing_control_arn(control.as_str())
                .send();
            match tokio::time::timeout(ATTEMPT_TIMEOUT, call).await {
                Ok(Ok(out)) if out.routing_control_state() == &RoutingControlState::On => {
                    return Reading::On;
                }
                Ok(Ok(_)) => return Reading::Off,
                Ok(Err(e)) => failures.push(format!(
                    "{region}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                )),
                Err(_) => failures.push(format!("{region}: no answer within {ATTEMPT_TIMEOUT:?}")),
            }
        }
        Reading::Unknown(format!(
            "routing control {control}: {}",
            failures.join("; ")
        ))
    }
}
