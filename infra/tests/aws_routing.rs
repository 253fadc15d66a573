//! The initial routing-control states, set through the ARC data plane with the real SDK client
//! against a small in-process endpoint that speaks the data-plane protocol (awsJson1_0,
//! `ToggleCustomerAPI.*`): primary ON and secondary OFF when both are OFF as created; an
//! operator's state left alone; endpoints tried in rotation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};
use topology::manifest::{
    AppEntry, Cluster, ClusterEndpoint, Environment, MANIFEST_VERSION, Manifest, RegionalControl,
};

type States = Arc<Mutex<BTreeMap<String, String>>>;

const PANEL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/p1";

async fn data_plane(
    State(states): State<States>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let request: Value = serde_json::from_str(&body).unwrap_or_default();
    let mut states = states.lock().unwrap();
    let reply = match target {
        "ToggleCustomerAPI.GetRoutingControlState" => {
            let arn = request["RoutingControlArn"].as_str().unwrap_or_default();
            let state = states.get(arn).cloned().unwrap_or_else(|| "Off".into());
            json!({ "RoutingControlArn": arn, "RoutingControlState": state })
        }
        "ToggleCustomerAPI.UpdateRoutingControlStates" => {
            for entry in request["UpdateRoutingControlStateEntries"]
                .as_array()
                .into_iter()
                .flatten()
            {
                states.insert(
                    entry["RoutingControlArn"].as_str().unwrap().to_owned(),
                    entry["RoutingControlState"].as_str().unwrap().to_owned(),
                );
            }
            json!({})
        }
        other => {
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/x-amz-json-1.0")],
                json!({ "__type": "ValidationException", "message": other }).to_string(),
            );
        }
    };
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        reply.to_string(),
    )
}

async fn endpoint(states: States) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/", post(data_plane))
        .with_state(states);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A loopback address where nothing listens: a cluster endpoint that is down.
fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn control(app: &str, region: &str) -> String {
    format!("{PANEL}/routingcontrol/{app}-{region}")
}

fn manifest(endpoints: Vec<String>) -> Manifest {
    let regions = ["us-east-1", "us-west-2"];
    let apps = ["orders", "users"]
        .iter()
        .map(|app| AppEntry {
            name: app.parse().unwrap(),
            hostname: format!("{app}.example.com"),
            url: format!("https://{app}.example.com"),
            control_panel_arn: PANEL.parse().unwrap(),
            safety_rule_arn: format!("{PANEL}/safetyrule/s-{app}").parse().unwrap(),
            routing_controls: regions
                .iter()
                .map(|r| RegionalControl {
                    region: r.parse().unwrap(),
                    arn: control(app, r).parse().unwrap(),
                })
                .collect(),
            regional_urls: vec![],
        })
        .collect();
    Manifest {
        manifest_version: MANIFEST_VERSION,
        environment: Environment::Aws,
        domain: "example.com".parse().unwrap(),
        regions: topology::Regions {
            primary: regions[0].parse().unwrap(),
            secondary: regions[1].parse().unwrap(),
        },
        cluster: Cluster {
            arn: "arn:aws:route53-recovery-control::123456789012:cluster/c1"
                .parse()
                .unwrap(),
            endpoints: endpoints
                .into_iter()
                .zip(topology::manifest::ARC_CLUSTER_REGIONS)
                .map(|(url, region)| ClusterEndpoint {
                    region: region.parse().unwrap(),
                    url,
                })
                .collect(),
        },
        apps,
        dns_server: None,
        control_api: None,
    }
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .region(aws_config::Region::new("us-east-1"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

#[tokio::test]
async fn primaries_are_turned_on_and_an_operators_state_is_left_alone() {
    let states = States::default();
    // users was failed over by an operator before this (re-)deploy.
    states
        .lock()
        .unwrap()
        .insert(control("users", "us-west-2"), "On".into());
    let url = endpoint(states.clone()).await;
    // The first endpoint is down: the next one is tried.
    let manifest = manifest(vec![dead_endpoint(), url]);

    infra::aws::deploy::initialize_routing_controls(&sdk().await, &manifest)
        .await
        .unwrap();

    let states = states.lock().unwrap().clone();
    assert_eq!(states[&control("orders", "us-east-1")], "On");
    assert_eq!(states[&control("orders", "us-west-2")], "Off");
    assert_eq!(
        states.get(&control("users", "us-east-1")),
        None,
        "users' primary was not touched"
    );
    assert_eq!(states[&control("users", "us-west-2")], "On");
}

#[tokio::test]
async fn no_reachable_endpoint_is_an_error_naming_the_app_and_the_endpoints() {
    let manifest = manifest(vec![dead_endpoint(), dead_endpoint()]);
    let err = infra::aws::deploy::initialize_routing_controls(&sdk().await, &manifest)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`orders`") && text.contains("us-east-1") && text.contains("us-west-2"),
        "{text}"
    );
}
