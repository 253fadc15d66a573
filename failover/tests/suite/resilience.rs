//! The client against endpoints that hang, are down, fail, throttle or answer garbage; and the
//! local cluster's own behaviour under those faults (quorum, rate, wire errors).

use crate::common;

use std::time::{Duration, Instant};

use crate::common::World;
use failover::{Client, ClientConfig, FailoverError, ShiftOptions, exit};
use local_arc::Fault;
use topology::manifest::ClusterEndpoint;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn orders() -> Vec<topology::AppName> {
    vec![World::app("orders")]
}

#[tokio::test]
async fn a_shift_succeeds_through_the_one_endpoint_that_answers() {
    let w = common::world().await;
    w.client().initialize().await.unwrap();
    for i in 0..4 {
        w.cluster.set_fault(i, Fault::Hang).await.unwrap();
    }
    let config = ClientConfig {
        deadline: Duration::from_secs(5),
        ..ClientConfig::default()
    };
    let client = Client::from_manifest(&w.manifest, config).unwrap();
    client.prefer_endpoint(0);
    let started = Instant::now();
    let out = client
        .shift(&orders(), &w.secondary(), ShiftOptions::default())
        .await
        .unwrap();
    let took = started.elapsed();
    let answer = out.batches[0].answer.as_ref().unwrap();
    assert_eq!(answer.endpoint, w.manifest.cluster().unwrap().endpoints[4]);
    assert_eq!(answer.attempts, 5);
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert_eq!(w.states("orders"), (false, true));

    // The next call starts where the last answer came from.
    let again = client
        .shift(&orders(), &w.primary(), ShiftOptions::default())
        .await
        .unwrap();
    assert_eq!(again.batches[0].answer.as_ref().unwrap().attempts, 1);
}

#[tokio::test]
async fn with_three_endpoints_down_updates_fail_with_exit_4_and_reads_still_work() {
    let w = common::world().await;
    w.client().initialize().await.unwrap();
    for i in 0..3 {
        w.cluster.set_fault(i, Fault::Down).await.unwrap();
    }
    // Down really refuses connections.
    let refused = tokio::net::TcpStream::connect(w.cluster.addresses()[0]).await;
    assert!(refused.is_err(), "a Down endpoint must refuse connections");

    let client = Client::from_manifest(
        &w.manifest,
        ClientConfig {
            deadline: Duration::from_secs(2),
            ..common::quick()
        },
    )
    .unwrap();
    let started = Instant::now();
    let err = client
        .shift(&orders(), &w.secondary(), ShiftOptions::default())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(err.exit_code(), exit::UNREACHABLE, "{err}");
    assert!(
        matches!(
            err,
            FailoverError::Unreachable {
                quorum_lost: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("quorum"), "{err}");
    assert_eq!(w.states("orders"), (true, false), "nothing changed");
    assert!(
        client.status().await.is_ok(),
        "reads answer without a quorum"
    );

    // Back to two down: the endpoint listens again on the same address and updates work.
    w.cluster.set_fault(0, Fault::None).await.unwrap();
    assert_eq!(w.cluster.faults()[0], Fault::None);
    tokio::net::TcpStream::connect(w.cluster.addresses()[0])
        .await
        .expect("the restored endpoint listens again");
    client
        .shift(&orders(), &w.secondary(), ShiftOptions::default())
        .await
        .unwrap();
    assert_eq!(w.states("orders"), (false, true));
}

#[tokio::test]
async fn when_every_endpoint_hangs_the_deadline_holds() {
    let w = common::world().await;
    for i in 0..5 {
        w.cluster.set_fault(i, Fault::Hang).await.unwrap();
    }
    let client = Client::from_manifest(
        &w.manifest,
        ClientConfig {
            deadline: Duration::from_millis(1500),
            ..common::quick()
        },
    )
    .unwrap();
    let started = Instant::now();
    let err = client.status().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.exit_code(), exit::UNREACHABLE);
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn lifting_a_hang_releases_the_requests_it_held() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = common::world().await;
    w.cluster.set_fault(0, Fault::Hang).await.unwrap();
    // One raw request, no client retries or hedging: only the endpoint can answer it.
    let mut stream = tokio::net::TcpStream::connect(w.cluster.addresses()[0])
        .await
        .unwrap();
    let body = "{}";
    let request = format!(
        "POST / HTTP/1.1\r\nhost: arc\r\nx-amz-target: ToggleCustomerAPI.ListRoutingControls\r\n\
         content-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut first = [0u8; 12];
    let held = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut first)).await;
    assert!(held.is_err(), "a hanging endpoint answered");
    w.cluster.set_fault(0, Fault::None).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut first))
        .await
        .expect("the held request is answered once the hang is lifted")
        .unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 "), "{:?}", &first[..n]);
}

#[tokio::test]
async fn failing_throttled_and_slow_endpoints_are_skipped() {
    let w = common::world().await;
    w.client().initialize().await.unwrap();
    w.cluster.set_fault(0, Fault::Error).await.unwrap();
    w.cluster.set_fault(1, Fault::Throttle).await.unwrap();
    w.cluster
        .set_fault(2, Fault::Slow(Duration::from_secs(10)))
        .await
        .unwrap();
    let client = w.client();
    client.prefer_endpoint(0);
    let out = client
        .shift(&orders(), &w.secondary(), ShiftOptions::default())
        .await
        .unwrap();
    let answer = out.batches[0].answer.as_ref().unwrap();
    assert!(answer.attempts >= 4, "{answer:?}");
    assert_eq!(answer.endpoint, w.manifest.cluster().unwrap().endpoints[3]);
}

fn header(request: &wiremock::Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// A manifest whose first endpoints are wiremock servers, the last one the real cluster.
async fn with_bad_servers(
    w: &World,
    responses: Vec<ResponseTemplate>,
) -> (Vec<MockServer>, Client) {
    let mut servers = Vec::new();
    let mut endpoints = Vec::new();
    for (i, response) in responses.into_iter().enumerate() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(response)
            .mount(&server)
            .await;
        endpoints.push(ClusterEndpoint {
            region: w.manifest.cluster().unwrap().endpoints[i].region.clone(),
            url: server.uri(),
        });
        servers.push(server);
    }
    endpoints.push(w.manifest.cluster().unwrap().endpoints[4].clone());
    let mut manifest = w.manifest.clone();
    manifest.cluster_mut().unwrap().endpoints = endpoints;
    let client = Client::from_manifest(&manifest, common::quick()).unwrap();
    client.prefer_endpoint(0);
    (servers, client)
}

#[tokio::test]
async fn wiremock_endpoints_answering_500_429_or_garbage_are_skipped() {
    let w = common::world().await;
    w.client().initialize().await.unwrap();
    let json = "application/x-amz-json-1.0";
    let (servers, client) = with_bad_servers(
        &w,
        vec![
            ResponseTemplate::new(500).set_body_raw(
                r#"{"__type":"InternalServerException","message":"boom"}"#,
                json,
            ),
            ResponseTemplate::new(429).set_body_raw(
                r#"{"__type":"ThrottlingException","message":"slow down"}"#,
                json,
            ),
            ResponseTemplate::new(200).set_body_raw("<html>not json</html>", "text/html"),
            ResponseTemplate::new(502).set_body_raw("Bad Gateway", "text/plain"),
        ],
    )
    .await;
    let out = client
        .shift(&orders(), &w.secondary(), ShiftOptions::default())
        .await
        .unwrap();
    let answer = out.batches[0].answer.as_ref().unwrap();
    assert_eq!(answer.endpoint, w.manifest.cluster().unwrap().endpoints[4]);
    assert_eq!(answer.attempts, 5);
    assert_eq!(w.states("orders"), (false, true));
    for server in &servers {
        let got = server.received_requests().await.unwrap();
        assert_eq!(
            got.len(),
            1,
            "one attempt each: the SDK's own retries are off"
        );
        let target = header(&got[0], "x-amz-target");
        assert_eq!(target, "ToggleCustomerAPI.UpdateRoutingControlStates");
        let auth = header(&got[0], "authorization");
        assert!(auth.starts_with("AWS4-HMAC-SHA256"), "{auth}");
    }
    // Each endpoint is signed for its own Region.
    let auth = header(
        &servers[1].received_requests().await.unwrap()[0],
        "authorization",
    );
    let region = &w.manifest.cluster().unwrap().endpoints[1].region;
    assert!(
        auth.contains(&format!("/{region}/route53-recovery-cluster/aws4_request")),
        "{auth}"
    );
}

#[tokio::test]
async fn the_callers_credentials_sign_when_given() {
    let w = common::world().await;
    let (servers, client) = with_bad_servers(&w, vec![ResponseTemplate::new(500)]).await;
    let shared = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    "AKIDFROMDEPLOY",
                    "secret",
                    None,
                    None,
                    "test",
                ),
            ),
        )
        .build();
    let client = client.with_sdk_config(shared);
    client.prefer_endpoint(0);
    client.status().await.unwrap();
    let got = servers[0].received_requests().await.unwrap();
    let auth = header(&got[0], "authorization");
    assert!(auth.contains("Credential=AKIDFROMDEPLOY/"), "{auth}");
    // The endpoint's own Region still signs, not the shared config's.
    let region = &w.manifest.cluster().unwrap().endpoints[0].region;
    assert!(
        auth.contains(&format!("/{region}/route53-recovery-cluster/")),
        "{auth}"
    );
}

#[tokio::test]
async fn a_validation_error_stops_at_once() {
    let w = common::world().await;
    let (servers, client) = with_bad_servers(
        &w,
        vec![ResponseTemplate::new(400).set_body_raw(
            r#"{"__type":"ValidationException","message":"bad field","reason":"fieldValidationFailed"}"#,
            "application/x-amz-json-1.0",
        )],
    )
    .await;
    let err = client.status().await.unwrap_err();
    assert!(
        matches!(&err, FailoverError::Rejected { code, .. } if code == "ValidationException"),
        "{err}"
    );
    assert_eq!(servers[0].received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn each_endpoint_takes_about_three_updates_per_second() {
    // ARC's rate (3/s), untouched by any earlier call.
    let w = common::world_with(|c| c.safety_rule_wait_period = Duration::ZERO).await;
    let http = reqwest::Client::new();
    let url = &w.manifest.cluster().unwrap().endpoints[0].url;
    let orders = w.manifest.app(&World::app("orders")).unwrap();
    let arn = orders.routing_control(&w.primary()).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = http
            .post(url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "ToggleCustomerAPI.UpdateRoutingControlState")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/route53-recovery-cluster/aws4_request, SignedHeaders=host, Signature=00",
            )
            .body(format!(r#"{{"RoutingControlArn":"{arn}","RoutingControlState":"On"}}"#))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[200, 200, 200]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_wire_protocol_rejects_what_the_sdk_would_never_send() {
    let w = common::world().await;
    let http = reqwest::Client::new();
    let url = &w.manifest.cluster().unwrap().endpoints[0].url;
    let auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/route53-recovery-cluster/aws4_request, SignedHeaders=host, Signature=00";
    let send = |target: &'static str, auth: Option<&'static str>, body: &'static str| {
        let mut request = http
            .post(url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .body(body);
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (
                status,
                body["__type"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    assert_eq!(
        send("ToggleCustomerAPI.ListRoutingControls", None, "{}").await,
        (403, "AccessDeniedException".into())
    );
    assert_eq!(
        send("ToggleCustomerAPI.DeleteEverything", Some(auth), "{}").await,
        (400, "ValidationException".into())
    );
    assert_eq!(
        send(
            "ToggleCustomerAPI.ListRoutingControls",
            Some(auth),
            "{not json"
        )
        .await,
        (400, "ValidationException".into())
    );
    let many: String = format!(
        r#"{{"UpdateRoutingControlStateEntries":[{}]}}"#,
        vec![
            format!(
                r#"{{"RoutingControlArn":"{}","RoutingControlState":"On"}}"#,
                w.manifest.apps[0].arc().unwrap().routing_controls[0].arn
            );
            11
        ]
        .join(",")
    );
    let many: &'static str = Box::leak(many.into_boxed_str());
    assert_eq!(
        send(
            "ToggleCustomerAPI.UpdateRoutingControlStates",
            Some(auth),
            many
        )
        .await,
        (402, "ServiceLimitExceededException".into())
    );
    assert_eq!(
        send("ToggleCustomerAPI.ListRoutingControls", Some(auth), "{}")
            .await
            .0,
        200
    );
}
