//! AWS JSON 1.0 and malformed requests over raw HTTP: what boto3 and any other client see on
//! the wire, including the error shapes.

use std::io::Write;
use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::common::{self, METRIC, NAMESPACE};

const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-west-2/monitoring/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

async fn send(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::post(path).header("host", addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

/// An AWS JSON 1.0 call, as botocore makes it.
async fn call(addr: SocketAddr, operation: &str, input: &Value) -> Answer {
    let target = format!("GraniteServiceVersion20100801.{operation}");
    send(
        addr,
        "/",
        &[
            ("x-amz-target", &target),
            ("content-type", "application/x-amz-json-1.0"),
            ("authorization", SIGNED),
        ],
        input.to_string().into_bytes(),
    )
    .await
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn flag(value: f64, at: f64) -> Value {
    json!({
        "MetricName": METRIC,
        "Dimensions": [{"Name": "App", "Value": "orders"}, {"Name": "Region", "Value": "us-east-1"}],
        "Value": value,
        "Timestamp": at,
        "StorageResolution": 1
    })
}

#[tokio::test]
async fn aws_json_publishes_and_reads_the_flag() {
    let w = common::world(1.0).await;
    let addr = w.cloudwatch.address(&w.west).unwrap();
    let t = now();
    let put = call(
        addr,
        "PutMetricData",
        &json!({"Namespace": NAMESPACE, "MetricData": [flag(1.0, t)]}),
    )
    .await;
    assert_eq!(
        put.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&put.body)
    );
    assert_eq!(put.header("content-type"), "application/x-amz-json-1.0");
    assert!(!put.header("x-amzn-requestid").is_empty());
    assert_eq!(put.json(), json!({}));

    let read = call(
        addr,
        "GetMetricData",
        &json!({
            "MetricDataQueries": [{
                "Id": "out",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": METRIC,
                        "Dimensions": [{"Name": "Region", "Value": "us-east-1"}, {"Name": "App", "Value": "orders"}]
                    },
                    "Period": 10,
                    "Stat": "Maximum"
                }
            }],
            "StartTime": t - 300.0,
            "EndTime": t + 60.0
        }),
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    let result = &read.json()["MetricDataResults"][0];
    assert_eq!(result["Id"], "out");
    assert_eq!(result["Label"], METRIC);
    assert_eq!(result["StatusCode"], "Complete");
    assert_eq!(result["Values"], json!([1.0]));
    let stamp = result["Timestamps"][0].as_f64().unwrap();
    assert_eq!(
        stamp,
        (t / 10.0).floor() * 10.0,
        "epoch seconds, aligned on the period"
    );
}

#[tokio::test]
async fn a_gzip_body_is_inflated() {
    let w = common::world(1.0).await;
    let addr = w.cloudwatch.address(&w.west).unwrap();
    let body = json!({"Namespace": NAMESPACE, "MetricData": [flag(1.0, now())]}).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let headers = [
        (
            "x-amz-target",
            "GraniteServiceVersion20100801.PutMetricData",
        ),
        ("content-type", "application/x-amz-json-1.0"),
        ("content-encoding", "gzip"),
        ("authorization", SIGNED),
    ];
    let answer = send(addr, "/", &headers, gz.finish().unwrap()).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let corrupt = send(addr, "/", &headers, b"not gzip at all".to_vec()).await;
    assert_eq!(corrupt.status, StatusCode::BAD_REQUEST);
    assert!(corrupt.json()["message"].as_str().unwrap().contains("gzip"));
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 9 * 1024 * 1024]).unwrap();
    let bomb = send(addr, "/", &headers, bomb.finish().unwrap()).await;
    assert_eq!(
        bomb.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "inflated past 8 MiB"
    );
    let snapshot = w.cloudwatch.snapshot();
    assert_eq!(snapshot.regions[1].gzip_requests, 3);
    assert_eq!(
        snapshot.regions[1].metrics.len(),
        1,
        "the corrupt call stored nothing more"
    );
}

#[tokio::test]
async fn errors_carry_the_shape_and_the_query_code() {
    let w = common::world(1.0).await;
    let addr = w.cloudwatch.address(&w.west).unwrap();

    let reserved = call(
        addr,
        "PutMetricData",
        &json!({"Namespace": "AWS/EC2", "MetricData": [flag(1.0, now())]}),
    )
    .await;
    assert_eq!(reserved.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reserved.header("x-amzn-query-error"),
        "InvalidParameterValue;Sender"
    );
    let body = reserved.json();
    assert_eq!(
        body["__type"],
        "com.amazonaws.cloudwatch#InvalidParameterValueException"
    );
    assert!(
        body["message"].as_str().unwrap().contains("AWS/EC2"),
        "{body}"
    );

    let missing = call(
        addr,
        "SetAlarmState",
        &json!({"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"}),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.header("x-amzn-query-error"),
        "ResourceNotFound;Sender"
    );

    let wrong_type = call(addr, "PutMetricData", &json!({"Namespace": 5})).await;
    assert_eq!(
        wrong_type.header("x-amzn-query-error"),
        "InvalidParameterValue;Sender"
    );

    let unknown = call(addr, "DescribeAlarmHistory", &json!({})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.json()["message"]
            .as_str()
            .unwrap()
            .contains("does not emulate")
    );

    let not_json = send(
        addr,
        "/",
        &[
            ("x-amz-target", "GraniteServiceVersion20100801.ListMetrics"),
            ("content-type", "application/x-amz-json-1.0"),
            ("authorization", SIGNED),
        ],
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        not_json.header("x-amzn-query-error"),
        "SerializationException;Sender"
    );

    let unsigned = send(
        addr,
        "/",
        &[
            ("x-amz-target", "GraniteServiceVersion20100801.ListMetrics"),
            ("content-type", "application/x-amz-json-1.0"),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
    assert_eq!(
        unsigned.header("x-amzn-query-error"),
        "MissingAuthenticationToken;Sender"
    );

    let query = send(
        addr,
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", SIGNED),
        ],
        b"Action=ListMetrics&Version=2010-08-01".to_vec(),
    )
    .await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST);
    assert!(
        query.json()["message"]
            .as_str()
            .unwrap()
            .contains("awsQuery")
    );

    let cbor_without_header = send(
        addr,
        "/service/GraniteServiceVersion20100801/operation/ListMetrics",
        &[
            ("content-type", "application/cbor"),
            ("authorization", SIGNED),
        ],
        vec![0xa0],
    )
    .await;
    assert_eq!(cbor_without_header.status, StatusCode::BAD_REQUEST);
    assert_eq!(cbor_without_header.header("smithy-protocol"), "rpc-v2-cbor");

    let garbage_cbor = send(
        addr,
        "/service/GraniteServiceVersion20100801/operation/ListMetrics",
        &[
            ("content-type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("authorization", SIGNED),
        ],
        vec![0xff, 0x00],
    )
    .await;
    assert_eq!(garbage_cbor.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        garbage_cbor.header("x-amzn-query-error"),
        "SerializationException;Sender"
    );

    let oversized = call(
        addr,
        "PutMetricData",
        &json!({"Namespace": NAMESPACE, "Padding": "x".repeat(1_100_000)}),
    )
    .await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE);

    let snapshot = w.cloudwatch.snapshot();
    assert!(
        snapshot.regions[1].metrics.is_empty(),
        "no refused call stored anything"
    );
    assert_eq!(snapshot.regions[1].error_responses, 10);
}
