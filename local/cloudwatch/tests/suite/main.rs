//! The local CloudWatch driven by clients nobody here wrote: the Rust AWS SDK (RPC v2 CBOR),
//! raw AWS JSON 1.0, and boto3.

mod common;

mod alarms;
mod aws_json;
mod boto3;
mod errors;
mod faults;
mod health_checks;
mod metrics;
