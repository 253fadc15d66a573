//! Reading CloudFormation's answers: which change set a stack needs, whether a status is a
//! success, what failed (from the stack's events), the outputs, and the SDK's errors as
//! [`DeployError`]s that name the stack.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::types::{ChangeSetType, Stack, StackEvent, StackStatus};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::super::plan::StackId;
use super::DeployError;

pub(super) fn change_set_type(
    id: &StackId,
    existing: Option<&Stack>,
) -> Result<ChangeSetType, DeployError> {
    let Some(status) = existing.and_then(|s| s.stack_status()) else {
        return Ok(ChangeSetType::Create);
    };
    let bad = |hint| DeployError::BadState {
        stack: id.clone(),
        status: status.as_str().to_owned(),
        hint,
    };
    match status {
        // Created by a change set that was never executed: still a create.
        StackStatus::ReviewInProgress => Ok(ChangeSetType::Create),
        StackStatus::RollbackComplete | StackStatus::RollbackFailed | StackStatus::CreateFailed => {
            Err(bad(
                "its first creation failed and it cannot be updated; run `infra destroy` (or delete it in the console), then deploy again",
            ))
        }
        s if s.as_str().ends_with("_IN_PROGRESS") => Err(bad(
            "another operation on it is running; wait for it to finish, then deploy again",
        )),
        StackStatus::DeleteFailed | StackStatus::UpdateRollbackFailed => Err(bad(
            "fix the failed resource named in the console's Events tab, then deploy again",
        )),
        _ => Ok(ChangeSetType::Update),
    }
}

pub(super) fn is_success(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete
    )
}

/// CloudFormation (and moto) fail a change set that would change nothing with this reason.
pub(super) fn is_no_change(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// The failing resource and its reason: the first `*_FAILED` event of this operation that is
/// not a cancellation (which only echoes another resource's failure).
pub(super) fn failure(id: &StackId, stack: &Stack, events: &[StackEvent]) -> DeployError {
    let failed = |e: &&StackEvent| {
        e.resource_status()
            .is_some_and(|s| s.as_str().ends_with("_FAILED"))
    };
    let cancelled = |e: &&StackEvent| {
        e.resource_status_reason()
            .is_some_and(|r| r.contains("cancelled"))
    };
    let event = events
        .iter()
        .filter(failed)
        .find(|e| !cancelled(e))
        .or_else(|| events.iter().find(failed));
    DeployError::StackFailed {
        stack: id.clone(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        resource: event
            .and_then(|e| e.logical_resource_id())
            .unwrap_or(&id.name)
            .to_owned(),
        reason: event
            .and_then(|e| e.resource_status_reason())
            .or(stack.stack_status_reason())
            .unwrap_or("no reason given")
            .to_owned(),
    }
}

pub(super) fn event_line(event: &StackEvent) -> String {
    let mut line = format!(
        "{:<40} {:<34} {}",
        event.logical_resource_id().unwrap_or_default(),
        event.resource_type().unwrap_or_default(),
        event
            .resource_status()
            .map(|s| s.as_str())
            .unwrap_or_default(),
    );
    if let Some(reason) = event.resource_status_reason() {
        line.push_str(": ");
        line.push_str(reason);
    }
    line
}

pub(super) fn stack_outputs(stack: &Stack) -> BTreeMap<String, String> {
    stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect()
}

pub(super) fn is_missing_stack<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::message)
        .is_some_and(|m| m.contains("does not exist"))
}

pub(super) fn aws<E, R>(
    stack: &StackId,
    operation: &'static str,
    err: SdkError<E, R>,
) -> DeployError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DeployError::Aws {
        stack: stack.clone(),
        operation,
        message: DisplayErrorContext(&err).to_string(),
    }
}

pub(super) fn millis_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}
