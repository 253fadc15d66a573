//! The DynamoDB client the adapter uses, and how SDK errors become store errors.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use topology::Region;

use crate::store::StoreError;

/// A DynamoDB client for `region` through the standard AWS configuration chain (env,
/// profile, SSO, container or instance role). `endpoint` points it at a DynamoDB-compatible
/// server (moto, DynamoDB Local); then, when no credentials are configured, placeholder
/// ones are used, which such servers accept. Retries and timeouts are capped so a dead
/// endpoint fails a request in seconds, not minutes.
pub async fn client(region: &Region, endpoint: Option<&str>) -> Client {
    let mut settings = crate::aws::Settings {
        region: Some(aws_types::region::Region::new(region.to_string())),
        endpoint: endpoint.map(str::to_owned),
        retry: Some(RetryConfig::standard().with_max_attempts(3)),
        timeout: Some(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        ),
        ..Default::default()
    };
    if endpoint.is_some() {
        let configured = [
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !configured {
            settings.credentials = Some(Credentials::new(
                "local",
                "local",
                None,
                None,
                "local-endpoint",
            ));
        }
    }
    Client::new(&settings.load().await)
}

/// Error codes after which the request may succeed later or elsewhere.
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Classifies an SDK error: no answer, a timeout or a transient service error is
/// [`StoreError::Unavailable`]; anything else [`StoreError::Other`].
pub fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    // A service error's context includes the raw HTTP response; its code and message are
    // what an operator needs.
    let text = match (&err, err.code()) {
        (SdkError::ServiceError(_), Some(code)) => {
            format!("{code}: {}", err.message().unwrap_or("(no message)"))
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(text)
        }
        _ if err.code().is_some_and(|c| TRANSIENT.contains(&c)) => StoreError::Unavailable(text),
        _ => StoreError::Other(text),
    }
}

pub(super) fn conditional_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if err.code() == Some("ConditionalCheckFailedException") {
        StoreError::ConditionFailed { failed: vec![0] }
    } else {
        store_error(err)
    }
}

pub(super) fn transaction_error<R: std::fmt::Debug>(
    err: SdkError<TransactWriteItemsError, R>,
) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
        err.as_service_error()
    {
        let codes: Vec<Option<&str>> = canceled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code())
            .collect();
        let failed: Vec<usize> = codes
            .iter()
            .enumerate()
            .filter(|(_, c)| *c == &Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect();
        if !failed.is_empty() {
            return StoreError::ConditionFailed { failed };
        }
        // Canceled for another reason (a concurrent transaction on the same items,
        // throttling): the request may succeed when retried.
        return StoreError::Unavailable(format!("transaction canceled: {codes:?}"));
    }
    store_error(err)
}
