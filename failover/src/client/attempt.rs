//! How one attempt against one cluster endpoint ended: an SDK failure sorted into retry
//! elsewhere, refused by a safety rule, or final; and the interceptor that refuses a 2xx
//! answer that is not ARC's.

use arc::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53recoverycluster as arc;
use topology::SafetyRuleArn;

/// How one attempt ended badly.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// Worth trying another endpoint: connection refused, timeout, 5xx, throttling, garbage.
    Retryable(String),
    /// A safety rule blocked the change.
    Conflict(String),
    /// Another endpoint would say the same.
    Fatal { code: String, message: String },
}

/// Refuses a 2xx answer that is not awsJson: a captive portal or a misrouted proxy must count
/// as a failed attempt, not as ARC saying "done" (the SDK reads nothing from an update's body).
#[derive(Debug)]
pub(super) struct AnswerIsJson;

impl arc::config::Intercept for AnswerIsJson {
    fn name(&self) -> &'static str {
        "AnswerIsJson"
    }

    fn read_before_deserialization(
        &self,
        context: &arc::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &arc::config::RuntimeComponents,
        _cfg: &mut arc::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        if !response.status().is_success() {
            return Ok(());
        }
        let content_type = response.headers().get("content-type").unwrap_or_default();
        if content_type.starts_with("application/x-amz-json")
            || content_type.starts_with("application/json")
        {
            Ok(())
        } else {
            Err(format!(
                "HTTP {} with Content-Type `{content_type}`: not an ARC answer",
                response.status().as_u16()
            )
            .into())
        }
    }
}

/// The safety rule ARN named in a ConflictException message, as ARC names it.
pub(super) fn rule_in(message: &str) -> Option<SafetyRuleArn> {
    message
        .split(|c: char| {
            c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '(' | ')' | '[' | ']')
        })
        .map(|word| word.trim_end_matches(['.', ':']))
        .find_map(|word| word.parse().ok())
}

/// Sorts an SDK failure into retry-elsewhere, refused, or final.
pub(super) fn classify<E>(error: SdkError<E, arc::config::http::HttpResponse>) -> AttemptError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = err.message().unwrap_or_default().to_owned();
            match code.as_str() {
                "ConflictException" => AttemptError::Conflict(message),
                "ThrottlingException"
                | "InternalServerException"
                | "EndpointTemporarilyUnavailableException" => {
                    AttemptError::Retryable(format!("{code}: {message}"))
                }
                _ if status.is_some_and(|s| s >= 500 || s == 429) || code == "Unknown" => {
                    AttemptError::Retryable(format!(
                        "HTTP {}: {code} {message}",
                        status.unwrap_or(0)
                    ))
                }
                _ => AttemptError::Fatal { code, message },
            }
        }
        SdkError::ConstructionFailure(_) => AttemptError::Fatal {
            code: "ConstructionFailure".into(),
            message: describe(&error),
        },
        _ => AttemptError::Retryable(describe(&error)),
    }
}

/// The error and its causes on one line (the SDK's Display alone says "dispatch failure").
pub(crate) fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_arn_is_found_in_arc_messages() {
        let rule = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/safetyrule/def";
        for message in [
            format!("blocked by safety rule {rule}: at least one"),
            format!("Safety rule ({rule}) blocked the change."),
            format!("the rule {rule}."),
        ] {
            assert_eq!(rule_in(&message).unwrap().as_str(), rule, "{message}");
        }
        assert!(rule_in("no rule named here").is_none());
    }
}
