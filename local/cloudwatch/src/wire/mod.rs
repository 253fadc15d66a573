//! CloudWatch's wire protocols, as its endpoints speak them:
//!
//! - **Smithy RPC v2 CBOR** (what `aws-sdk-cloudwatch` for Rust sends): `POST
//!   /service/GraniteServiceVersion20100801/operation/<Operation>` with `smithy-protocol:
//!   rpc-v2-cbor`, CBOR bodies both ways.
//! - **AWS JSON 1.0** (what boto3 sends): `POST /` with `X-Amz-Target:
//!   GraniteServiceVersion20100801.<Operation>`, JSON bodies both ways.
//!
//! Errors are in each protocol's shape: a body `{"__type": "...", "message": "..."}` and,
//! since CloudWatch is "awsQuery-compatible", the header `x-amzn-query-error: <Code>;Sender`
//! whose code the SDKs read to give a typed error. An error code an operation's model lacks
//! comes back as CloudWatch's generic `ValidationError`, as CloudWatch does. Bodies may be
//! gzip-compressed (`Content-Encoding: gzip`), as the SDKs compress large PutMetricData calls.
//!
//! Requests must carry a SigV4 `Authorization` header, as the SDKs always send; the signature
//! is not checked, so any credentials work. The older awsQuery protocol (form-encoded
//! requests, XML answers) is not spoken: such a request gets an error saying so.

mod codec;
mod input;
mod ops;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};

use crate::error::CloudWatchError;
use crate::{Fault, RegionSlot, Shared};

pub(crate) use codec::Doc;
use input::Params;

/// The service's Smithy name, in the CBOR path and the JSON target.
const SERVICE: &str = "GraniteServiceVersion20100801";
const CBOR_CONTENT_TYPE: &str = "application/cbor";
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The largest body on the wire (CloudWatch's PutMetricData limit is 1 MB).
const MAX_BODY: usize = 1024 * 1024;
/// The largest body once decompressed: a bound against compression bombs.
const MAX_INFLATED: usize = 8 * 1024 * 1024;
/// How often a hanging endpoint looks whether its fault was lifted.
const HANG_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// The operations this CloudWatch answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    PutMetricData,
    GetMetricData,
    GetMetricStatistics,
    ListMetrics,
    PutMetricAlarm,
    DescribeAlarms,
    DeleteAlarms,
    SetAlarmState,
}

impl Operation {
    const ALL: [(&'static str, Self); 8] = [
        ("PutMetricData", Self::PutMetricData),
        ("GetMetricData", Self::GetMetricData),
        ("GetMetricStatistics", Self::GetMetricStatistics),
        ("ListMetrics", Self::ListMetrics),
        ("PutMetricAlarm", Self::PutMetricAlarm),
        ("DescribeAlarms", Self::DescribeAlarms),
        ("DeleteAlarms", Self::DeleteAlarms),
        ("SetAlarmState", Self::SetAlarmState),
    ];

    fn parse(name: &str) -> Result<Self, CloudWatchError> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                CloudWatchError::UnknownOperation(format!(
                    "The local CloudWatch does not emulate the operation `{name}`; it emulates {}.",
                    known.join(", ")
                ))
            })
    }

    /// The error codes of the operation's model: the SDKs have a typed error for these.
    fn modeled(self) -> &'static [&'static str] {
        const PARAMETERS: &[&str] = &[
            "MissingParameter",
            "InvalidParameterValue",
            "InvalidParameterCombination",
        ];
        match self {
            Self::PutMetricData | Self::GetMetricStatistics => PARAMETERS,
            Self::ListMetrics => &["InvalidParameterValue"],
            Self::GetMetricData | Self::DescribeAlarms => &["InvalidNextToken"],
            Self::PutMetricAlarm => &["LimitExceeded"],
            Self::DeleteAlarms => &["ResourceNotFound"],
            Self::SetAlarmState => &["ResourceNotFound", "InvalidFormat"],
        }
    }

    /// `error` as this operation reports it.
    fn report(self, error: CloudWatchError) -> CloudWatchError {
        let parameter_error = matches!(
            error,
            CloudWatchError::MissingParameter(_)
                | CloudWatchError::InvalidParameterValue(_)
                | CloudWatchError::InvalidParameterCombination(_)
        );
        if parameter_error && !self.modeled().contains(&error.code()) {
            error.into_validation()
        } else {
            error
        }
    }
}

/// Which protocol a request speaks; answers go back in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Cbor,
    Json,
    /// awsQuery or anything else: answered with a JSON error.
    Unknown,
}

/// What an endpoint counts, for the snapshot and for tests.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) gzip: AtomicU64,
    pub(crate) errors: AtomicU64,
}

/// Serves one request on `slot`'s endpoint, after applying its fault.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    index: usize,
    request: http::Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let slot = &shared.regions[index];
    // Held while the fault lasts, so lifting it releases the requests it held.
    while slot.fault() == Fault::Hang {
        tokio::time::sleep(HANG_CHECK).await;
    }
    slot.counters.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let protocol = protocol_of(&parts);
    let answer = async {
        let operation = operation_of(protocol, &parts)?;
        check_signed(&parts.headers)?;
        let raw = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    CloudWatchError::RequestEntityTooLarge(format!(
                        "the request body exceeds {MAX_BODY} bytes"
                    ))
                } else {
                    CloudWatchError::Serialization(format!(
                        "the request body could not be read: {e}"
                    ))
                }
            })?
            .to_bytes();
        let body = inflate(&parts.headers, raw, slot)?;
        let value = match protocol {
            Protocol::Cbor => codec::cbor_to_json(&body).map_err(CloudWatchError::Serialization)?,
            _ => parse_json(&body)?,
        };
        let params = Params::root(&value)?;
        ops::call(operation, &params, &shared, slot).map_err(|e| operation.report(e))
    }
    .await;
    match answer {
        Ok(doc) => respond(protocol, StatusCode::OK, &doc, None),
        Err(error) => {
            slot.counters.errors.fetch_add(1, Ordering::Relaxed);
            error_response(protocol, &error)
        }
    }
}

fn protocol_of(parts: &http::request::Parts) -> Protocol {
    if parts.uri.path().starts_with("/service/") {
        Protocol::Cbor
    } else if parts.headers.contains_key("x-amz-target") {
        Protocol::Json
    } else {
        Protocol::Unknown
    }
}

/// The operation a request names, once it is shaped as its protocol requires.
fn operation_of(
    protocol: Protocol,
    parts: &http::request::Parts,
) -> Result<Operation, CloudWatchError> {
    if parts.method != http::Method::POST {
        return Err(CloudWatchError::Serialization(format!(
            "CloudWatch takes POST requests, not {}",
            parts.method
        )));
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    match protocol {
        Protocol::Cbor => {
            let prefix = format!("/service/{SERVICE}/operation/");
            let name = parts.uri.path().strip_prefix(&prefix).ok_or_else(|| {
                CloudWatchError::Serialization(format!(
                    "the path `{}` is not {prefix}<Operation>",
                    parts.uri.path()
                ))
            })?;
            if header("smithy-protocol") != "rpc-v2-cbor" {
                return Err(CloudWatchError::Serialization(
                    "an RPC v2 CBOR request must carry the header `smithy-protocol: rpc-v2-cbor`".into(),
                ));
            }
            Operation::parse(name)
        }
        Protocol::Json => {
            let target = header("x-amz-target");
            let name = target.strip_prefix(&format!("{SERVICE}.")).ok_or_else(|| {
                CloudWatchError::Serialization(format!(
                    "X-Amz-Target `{target}` is not {SERVICE}.<Operation>"
                ))
            })?;
            if !header("content-type").starts_with(JSON_CONTENT_TYPE) {
                return Err(CloudWatchError::Serialization(format!(
                    "an AWS JSON 1.0 request must have Content-Type {JSON_CONTENT_TYPE}, not `{}`",
                    header("content-type")
                )));
            }
            Operation::parse(name)
        }
        Protocol::Unknown if header("content-type").starts_with("application/x-www-form-urlencoded") => {
            Err(CloudWatchError::Serialization(
                "the local CloudWatch does not speak the awsQuery protocol: use a client that speaks Smithy RPC v2 CBOR or AWS JSON 1.0 (the Rust SDK, or a botocore whose CloudWatch model lists the `json` protocol)".into(),
            ))
        }
        Protocol::Unknown => Err(CloudWatchError::Serialization(format!(
            "not a CloudWatch request: POST /service/{SERVICE}/operation/<Operation> (RPC v2 CBOR) or POST / with X-Amz-Target: {SERVICE}.<Operation> (AWS JSON 1.0)"
        ))),
    }
}

/// Any SigV4 signature is accepted; an unsigned request is refused, as CloudWatch does.
fn check_signed(headers: &HeaderMap) -> Result<(), CloudWatchError> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let sigv4 = auth.starts_with("AWS4-HMAC-SHA256 ")
        && ["Credential=", "SignedHeaders=", "Signature="]
            .iter()
            .all(|part| auth.contains(part));
    if sigv4 {
        Ok(())
    } else {
        Err(CloudWatchError::MissingAuthenticationToken(
            "Request is missing Authentication Token: sign it with SigV4 (any credentials work here).".into(),
        ))
    }
}

/// The body, decompressed when the client compressed it.
fn inflate(headers: &HeaderMap, raw: Bytes, slot: &RegionSlot) -> Result<Bytes, CloudWatchError> {
    let encoding = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" => {
            slot.counters.gzip.fetch_add(1, Ordering::Relaxed);
            let mut out = Vec::new();
            let limit = u64::try_from(MAX_INFLATED).unwrap_or(u64::MAX) + 1;
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| {
                    CloudWatchError::Serialization(format!("the gzip body is corrupt: {e}"))
                })?;
            if out.len() > MAX_INFLATED {
                return Err(CloudWatchError::RequestEntityTooLarge(format!(
                    "the decompressed body exceeds {MAX_INFLATED} bytes"
                )));
            }
            Ok(Bytes::from(out))
        }
        other => Err(CloudWatchError::Serialization(format!(
            "Content-Encoding `{other}` is not supported (gzip is)"
        ))),
    }
}

fn parse_json(body: &[u8]) -> Result<serde_json::Value, CloudWatchError> {
    if body.is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| CloudWatchError::Serialization(format!("the body is not JSON: {e}")))
}

/// A request id in the shape AWS's have.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id())
}

fn respond(
    protocol: Protocol,
    status: StatusCode,
    doc: &Doc,
    query_error: Option<String>,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(status)
        .header("x-amzn-requestid", request_id());
    if let Some(code) = query_error {
        builder = builder.header("x-amzn-query-error", code);
    }
    let (content_type, body) = match protocol {
        Protocol::Cbor => {
            builder = builder.header("smithy-protocol", "rpc-v2-cbor");
            (CBOR_CONTENT_TYPE, doc.to_cbor())
        }
        Protocol::Json | Protocol::Unknown => {
            (JSON_CONTENT_TYPE, doc.to_json().to_string().into_bytes())
        }
    };
    builder
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

/// The error's status, Smithy shape and fault side.
fn error_shape(error: &CloudWatchError) -> (StatusCode, &'static str, &'static str) {
    use CloudWatchError as E;
    match error {
        E::MissingParameter(_) => (
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameterException",
            "Sender",
        ),
        E::InvalidParameterValue(_) => (
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "Sender",
        ),
        E::InvalidParameterCombination(_) => (
            StatusCode::BAD_REQUEST,
            "InvalidParameterCombinationException",
            "Sender",
        ),
        E::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationError", "Sender"),
        E::ResourceNotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFound", "Sender"),
        E::InvalidNextToken(_) => (StatusCode::BAD_REQUEST, "InvalidNextToken", "Sender"),
        E::InvalidFormat(_) => (StatusCode::BAD_REQUEST, "InvalidFormatFault", "Sender"),
        E::LimitExceeded(_) => (StatusCode::BAD_REQUEST, "LimitExceededFault", "Sender"),
        E::Serialization(_) => (StatusCode::BAD_REQUEST, "SerializationException", "Sender"),
        E::UnknownOperation(_) => (
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "Sender",
        ),
        E::MissingAuthenticationToken(_) => (
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Sender",
        ),
        E::RequestEntityTooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "Sender",
        ),
    }
}

fn error_response(protocol: Protocol, error: &CloudWatchError) -> Response<Full<Bytes>> {
    let (status, shape, side) = error_shape(error);
    let doc = Doc::map()
        .with("__type", format!("com.amazonaws.cloudwatch#{shape}"))
        .with("message", error.message());
    respond(
        protocol,
        status,
        &doc,
        Some(format!("{};{side}", error.code())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_an_operation_does_not_model_become_validation_errors() {
        let missing = CloudWatchError::missing("AlarmName");
        let put_alarm = Operation::PutMetricAlarm.report(missing.clone());
        assert_eq!(put_alarm.code(), "ValidationError");
        assert_eq!(put_alarm.message(), missing.message());
        assert_eq!(Operation::PutMetricData.report(missing.clone()), missing);
        let not_found = CloudWatchError::ResourceNotFound("x".into());
        assert_eq!(
            Operation::SetAlarmState.report(not_found.clone()),
            not_found
        );
        assert!(
            Operation::parse("DescribeAlarmHistory")
                .unwrap_err()
                .message()
                .contains("PutMetricData")
        );
    }

    #[test]
    fn error_bodies_carry_the_shape_and_the_query_code() {
        let error = CloudWatchError::invalid("Namespace", "AWS/EC2", "reserved");
        let response = error_response(Protocol::Json, &error);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()["x-amzn-query-error"],
            "InvalidParameterValue;Sender"
        );
        let response = error_response(
            Protocol::Cbor,
            &CloudWatchError::ResourceNotFound("gone".into()),
        );
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["smithy-protocol"], "rpc-v2-cbor");
        assert_eq!(response.headers()["content-type"], CBOR_CONTENT_TYPE);
    }

    #[test]
    fn only_sigv4_requests_pass() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            check_signed(&headers).unwrap_err().code(),
            "MissingAuthenticationToken"
        );
        headers.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=abc"
                .parse()
                .unwrap(),
        );
        assert!(check_signed(&headers).is_ok());
    }
}
