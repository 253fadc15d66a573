//! Why a request was refused, as CloudWatch says it: its error code and a message naming the
//! parameter at fault (`MetricData.member.2.Value`, 1-based, as in CloudWatch's messages).

use std::net::SocketAddr;

use topology::Region;

/// A refused request: the variant is CloudWatch's error code, the text its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudWatchError {
    /// A required parameter is missing.
    #[error("MissingParameter: {0}")]
    MissingParameter(String),
    /// A parameter has a value CloudWatch does not take.
    #[error("InvalidParameterValue: {0}")]
    InvalidParameterValue(String),
    /// Parameters that cannot be used together, or one that needs another.
    #[error("InvalidParameterCombination: {0}")]
    InvalidParameterCombination(String),
    /// CloudWatch's generic validation error, for operations whose model has no more precise
    /// error (PutMetricAlarm, GetMetricData, DescribeAlarms).
    #[error("ValidationError: {0}")]
    Validation(String),
    /// The named alarm does not exist.
    #[error("ResourceNotFound: {0}")]
    ResourceNotFound(String),
    /// A `NextToken` this endpoint did not hand out.
    #[error("InvalidNextToken: {0}")]
    InvalidNextToken(String),
    /// `StateReasonData` is not JSON.
    #[error("InvalidFormat: {0}")]
    InvalidFormat(String),
    /// A quota is reached (here: alarms per Region).
    #[error("LimitExceeded: {0}")]
    LimitExceeded(String),
    /// The request body could not be read as the protocol's format.
    #[error("SerializationException: {0}")]
    Serialization(String),
    /// The request is not signed.
    #[error("MissingAuthenticationToken: {0}")]
    MissingAuthenticationToken(String),
    /// The request body is over CloudWatch's size limit.
    #[error("RequestEntityTooLarge: {0}")]
    RequestEntityTooLarge(String),
    /// An operation CloudWatch has and this emulator does not.
    #[error("UnknownOperationException: {0}")]
    UnknownOperation(String),
}

impl CloudWatchError {
    /// The error code, as `x-amzn-query-error` carries it and the SDKs report it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingParameter(_) => "MissingParameter",
            Self::InvalidParameterValue(_) => "InvalidParameterValue",
            Self::InvalidParameterCombination(_) => "InvalidParameterCombination",
            Self::Validation(_) => "ValidationError",
            Self::ResourceNotFound(_) => "ResourceNotFound",
            Self::InvalidNextToken(_) => "InvalidNextToken",
            Self::InvalidFormat(_) => "InvalidFormat",
            Self::LimitExceeded(_) => "LimitExceeded",
            Self::Serialization(_) => "SerializationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::MissingAuthenticationToken(_) => "MissingAuthenticationToken",
            Self::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
        }
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        match self {
            Self::MissingParameter(m)
            | Self::InvalidParameterValue(m)
            | Self::InvalidParameterCombination(m)
            | Self::Validation(m)
            | Self::ResourceNotFound(m)
            | Self::InvalidNextToken(m)
            | Self::InvalidFormat(m)
            | Self::LimitExceeded(m)
            | Self::Serialization(m)
            | Self::UnknownOperation(m)
            | Self::MissingAuthenticationToken(m)
            | Self::RequestEntityTooLarge(m) => m,
        }
    }

    /// `The parameter {parameter} is required.`
    pub(crate) fn missing(parameter: &str) -> Self {
        Self::MissingParameter(format!("The parameter {parameter} is required."))
    }

    /// `The value {value} for parameter {parameter} is invalid: {why}.`
    pub(crate) fn invalid(parameter: &str, value: impl std::fmt::Display, why: &str) -> Self {
        Self::InvalidParameterValue(format!(
            "The value {value} for parameter {parameter} is invalid: {why}."
        ))
    }

    /// The same message under the code an operation whose model lacks this one answers with:
    /// CloudWatch's generic `ValidationError`.
    pub(crate) fn into_validation(self) -> Self {
        match self {
            Self::MissingParameter(m)
            | Self::InvalidParameterValue(m)
            | Self::InvalidParameterCombination(m) => Self::Validation(m),
            other => other,
        }
    }
}

/// Why the local CloudWatch could not start or change.
#[derive(Debug, thiserror::Error)]
pub enum LocalCloudWatchError {
    #[error(
        "cannot listen on {addr} for the CloudWatch endpoint of {region}: {reason} (is another local world running? choose another port)"
    )]
    Bind {
        region: Region,
        addr: SocketAddr,
        reason: std::io::Error,
    },
    #[error("Region {0} has no CloudWatch endpoint here (it has one per configured Region)")]
    NoSuchRegion(Region),
    #[error("Region {0} is configured twice: each Region has one CloudWatch endpoint")]
    DuplicateRegion(Region),
    #[error("CloudWatch refused the request: {0}")]
    Refused(#[from] CloudWatchError),
    #[error("the local CloudWatch needs at least one Region")]
    NoRegions,
    #[error("health check `{0}` is defined twice: health check ids must be unique")]
    DuplicateHealthCheck(String),
    #[error("health check `{id}` follows Region {region}, which has no CloudWatch endpoint here")]
    HealthCheckRegion { id: String, region: Region },
}
