//! The deploy orchestrator's engine: each stack through a change set whose summary is shown
//! (and confirmed) before it is executed (its template inline, or from an artifacts bucket when
//! over the inline limit: [`templates`]), stack events streamed while waiting, outputs read
//! back and wired into the parameters of later stacks; and deletion in reverse order.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::{
    Capability, Change, ChangeSetStatus, ChangeSetType, Parameter, Stack, StackEvent, StackStatus,
};
use failover::prompt::PromptError;
use futures::future::try_join_all;
use topology::Region;

mod role;
mod stack;
pub mod templates;

pub use role::{RoleArn, RoleArnError};
use stack::{
    aws, change_set_type, event_line, failure, is_missing_stack, is_no_change, is_success,
    millis_now, stack_outputs,
};
pub use templates::{TemplateSource, TemplateStore};

use super::confirm::Confirm;
use super::plan::{ParamValue, Phase, StackId, StackSpec};

/// Every deployed stack's outputs, by stack.
pub type Outputs = BTreeMap<StackId, BTreeMap<String, String>>;

/// Why a deploy or destroy stopped. Each says which stack, and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("stack {stack} needs output `{key}` of {from}, which has no such output")]
    MissingOutput {
        stack: StackId,
        key: String,
        from: StackId,
    },
    #[error(
        "stack {stack} does not exist yet, so its parameter `{key}` has no value to keep: a \
         Region-scoped deploy only updates stacks a full deploy created; run `infra deploy` \
         without --region once both Regions answer"
    )]
    NoPreviousValue { stack: StackId, key: String },
    #[error(
        "stack {stack} takes the ARC cluster's endpoints as `{key}`, which are known only once \
         the ARC phase is deployed and its cluster described; deploy the phases in order, as \
         `infra deploy` does"
    )]
    UnresolvedClusterEndpoints { stack: StackId, key: String },
    #[error(
        "stack {stack} takes `{key}` (the gateway's client certificate or the services' \
         truststore), which the deploy chooses and writes after the bootstrap phase; deploy the \
         phases in order, as `infra deploy` does"
    )]
    UnresolvedGatewayIdentity { stack: StackId, key: String },
    #[error("no CloudFormation client for Region {0}")]
    NoClient(Region),
    #[error(
        "the template of stack {stack} is {bytes} bytes, over the {} CloudFormation takes \
         inline, and no artifacts bucket is deployed to pass it through S3: deploy the \
         bootstrap stacks first, as `infra deploy` does",
        super::template::MAX_BODY_BYTES
    )]
    NoTemplateBucket { stack: StackId, bytes: usize },
    #[error("cannot upload the template of stack {stack}: {message}")]
    TemplateUpload { stack: StackId, message: String },
    #[error("{operation} on stack {stack} failed: {message}")]
    Aws {
        stack: StackId,
        operation: &'static str,
        message: String,
    },
    #[error("stack {stack} ended in {status}: resource `{resource}` failed: {reason}")]
    StackFailed {
        stack: StackId,
        status: String,
        resource: String,
        reason: String,
    },
    #[error("the change set for stack {stack} failed: {reason}")]
    ChangeSetFailed { stack: StackId, reason: String },
    #[error("stack {stack} is in state {status}: {hint}")]
    BadState {
        stack: StackId,
        status: String,
        hint: &'static str,
    },
    #[error(
        "stack {stack} did not finish within {minutes} minutes; check it in the CloudFormation console"
    )]
    Timeout { stack: StackId, minutes: u64 },
    #[error("stopped: the changes were not confirmed (nothing was applied in this phase)")]
    Declined,
    #[error(
        "refusing a Region-scoped deploy that changes {}: {}. These go through IAM's and \
         Route 53's control planes, which live in us-east-1, so they fail exactly during the \
         outage a Region-scoped deploy is for; nothing was applied. Deploy this change with \
         both Regions (`infra deploy` without --region) once us-east-1 answers, or leave those \
         resources unchanged",
        if .0.len() == 1 { "a global resource" } else { "global resources" },
        .0.join(", ")
    )]
    GlobalChange(Vec<String>),
    #[error(
        "refusing to prompt: standard input is not a terminal; review the plan with `infra synth` and pass --yes"
    )]
    NotATerminal,
    #[error("cannot read the answer: {0}")]
    Prompt(std::io::Error),
}

impl From<PromptError> for DeployError {
    fn from(e: PromptError) -> Self {
        match e {
            PromptError::NotATerminal => DeployError::NotATerminal,
            PromptError::Read(e) => DeployError::Prompt(e),
        }
    }
}

/// One resource change of a change set, as shown before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSummary {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    pub replacement: Option<String>,
}

impl ChangeSummary {
    fn from_change(change: &Change) -> Option<Self> {
        let rc = change.resource_change()?;
        Some(Self {
            action: rc
                .action()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
            logical_id: rc.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: rc.resource_type().unwrap_or_default().to_owned(),
            replacement: rc.replacement().map(|r| r.as_str().to_owned()),
        })
    }

    fn line(&self) -> String {
        let sign = match self.action.as_str() {
            "Add" => '+',
            "Remove" => '-',
            _ => '~',
        };
        let replacement = match self.replacement.as_deref() {
            Some("True") => "  (replaced)",
            Some("Conditional") => "  (may be replaced)",
            _ => "",
        };
        format!(
            "  {sign} {:<7} {:<40} {}{replacement}",
            self.action, self.logical_id, self.resource_type
        )
    }
}

/// What happened to one stack in a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackOutcome {
    Unchanged,
    Created,
    Updated,
}

/// A prepared stack: a change set to execute, or nothing to do.
enum Prepared {
    NoChanges,
    ChangeSet {
        name: String,
        kind: ChangeSetType,
        changes: Vec<ChangeSummary>,
    },
}

/// How often to poll and how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub poll: Duration,
    pub stack_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(5),
            // A certificate's DNS validation and a global table's replica take the longest.
            stack_timeout: Duration::from_secs(90 * 60),
        }
    }
}

/// The global resources (`stack: Action LogicalId (Type)`) the prepared change sets touch.
fn global_changes(stacks: &[StackSpec], prepared: &[Prepared]) -> Vec<String> {
    stacks
        .iter()
        .zip(prepared)
        .flat_map(|(spec, prepared)| match prepared {
            Prepared::ChangeSet { changes, .. } => changes
                .iter()
                .filter(|c| is_global(&c.resource_type))
                .map(|c| {
                    format!(
                        "{}: {} {} ({})",
                        spec.id, c.action, c.logical_id, c.resource_type
                    )
                })
                .collect(),
            Prepared::NoChanges => Vec::new(),
        })
        .collect()
}

/// Deploys and deletes stacks through one CloudFormation client per Region.
pub struct Orchestrator {
    clients: BTreeMap<Region, Client>,
    /// Where templates over the inline limit go (`None`: nowhere, so they are refused).
    templates: Option<TemplateStore>,
    confirm: Confirm,
    timing: Timing,
    execution_role: Option<RoleArn>,
    /// A Region-scoped deploy: refuse change sets that change global resources.
    region_scoped: bool,
}

/// Resource types whose changes go through a global control plane (IAM, Route 53, and ACM's
/// DNS validation through Route 53), hosted in us-east-1.
pub const GLOBAL_RESOURCE_TYPES: [&str; 3] =
    ["AWS::IAM::", "AWS::Route53::", "AWS::CertificateManager::"];

/// Whether a change to a resource of this type needs a global control plane.
pub fn is_global(resource_type: &str) -> bool {
    GLOBAL_RESOURCE_TYPES
        .iter()
        .any(|prefix| resource_type.starts_with(prefix))
}

impl Orchestrator {
    /// An orchestrator over these clients.
    pub fn new(clients: BTreeMap<Region, Client>, confirm: Confirm, timing: Timing) -> Self {
        Self {
            clients,
            templates: None,
            confirm,
            timing,
            execution_role: None,
            region_scoped: false,
        }
    }

    /// Sends templates over the inline limit through these artifacts buckets.
    pub fn with_template_store(mut self, store: TemplateStore) -> Self {
        self.templates = Some(store);
        self
    }

    /// Makes every phase refuse, before executing anything, change sets that add, modify or
    /// remove an IAM, Route 53 or certificate resource: a Region-scoped deploy runs while
    /// another Region may be down, and those changes need us-east-1's control planes.
    pub fn region_scoped(mut self, scoped: bool) -> Self {
        self.region_scoped = scoped;
        self
    }

    /// Makes CloudFormation act as `role` (its service role: `RoleARN` on every change set),
    /// so that the caller needs no permission on the stacks' resources, only to pass `role`.
    /// Without it, CloudFormation acts with the caller's own credentials.
    pub fn with_execution_role(mut self, role: Option<RoleArn>) -> Self {
        self.execution_role = role;
        self
    }

    fn client(&self, region: &Region) -> Result<&Client, DeployError> {
        self.clients
            .get(region)
            .ok_or_else(|| DeployError::NoClient(region.clone()))
    }

    /// Deploys one phase: a change set per stack (prepared concurrently), their summaries
    /// printed, one confirmation, then all executed concurrently; the outputs go into `outputs`.
    pub async fn deploy_phase(
        &self,
        phase: &Phase,
        outputs: &mut Outputs,
    ) -> Result<Vec<(StackId, StackOutcome)>, DeployError> {
        println!("== {}: {} stack(s)", phase.kind, phase.stacks.len());
        let resolved: Vec<Vec<Parameter>> = phase
            .stacks
            .iter()
            .map(|spec| resolve_parameters(spec, outputs))
            .collect::<Result<_, _>>()?;
        let prepared = try_join_all(
            phase
                .stacks
                .iter()
                .zip(&resolved)
                .map(|(spec, params)| self.prepare(spec, params.clone(), outputs)),
        )
        .await?;
        let pending = print_summaries(&phase.stacks, &prepared);
        if self.region_scoped {
            let global = global_changes(&phase.stacks, &prepared);
            if !global.is_empty() {
                self.discard(&phase.stacks, &prepared).await;
                return Err(DeployError::GlobalChange(global));
            }
        }
        if pending > 0 {
            let question = format!(
                "Apply the changes to {pending} stack(s) of phase `{}`?",
                phase.kind
            );
            let answer = self.confirm.ask(&question).await.map_err(DeployError::from);
            if !matches!(answer, Ok(true)) {
                // Leave no change set behind that someone could execute by mistake later.
                self.discard(&phase.stacks, &prepared).await;
                return Err(answer.err().unwrap_or(DeployError::Declined));
            }
        }
        let results = try_join_all(
            phase
                .stacks
                .iter()
                .zip(&prepared)
                .map(|(spec, prepared)| self.apply(spec, prepared)),
        )
        .await?;
        let mut outcomes = Vec::new();
        for (spec, (outcome, stack_outputs)) in phase.stacks.iter().zip(results) {
            outputs.insert(spec.id.clone(), stack_outputs);
            outcomes.push((spec.id.clone(), outcome));
        }
        Ok(outcomes)
    }

    /// Deletes the stacks of one phase concurrently; a stack that does not exist is skipped.
    /// Returns the stacks that were deleted.
    pub async fn destroy_phase(&self, phase: &Phase) -> Result<Vec<StackId>, DeployError> {
        let deleted = try_join_all(phase.stacks.iter().map(|spec| self.delete(&spec.id))).await?;
        Ok(phase
            .stacks
            .iter()
            .zip(deleted)
            .filter(|(_, deleted)| *deleted)
            .map(|(spec, _)| spec.id.clone())
            .collect())
    }

    /// Refuses, before any change, stacks that would keep a parameter's previous value but do
    /// not exist yet (a Region-scoped deploy of an app no full deploy created).
    pub async fn check_previous_values<'s>(
        &self,
        stacks: impl IntoIterator<Item = &'s StackSpec>,
    ) -> Result<(), DeployError> {
        for spec in stacks {
            let kept = spec
                .parameters
                .iter()
                .find(|(_, value)| *value == ParamValue::Previous);
            if let Some((key, _)) = kept
                && change_set_type(&spec.id, self.describe(&spec.id).await?.as_ref())?
                    == ChangeSetType::Create
            {
                return Err(DeployError::NoPreviousValue {
                    stack: spec.id.clone(),
                    key: key.clone(),
                });
            }
        }
        Ok(())
    }

    /// The stack, or `None` when it does not exist (or was deleted).
    pub async fn describe(&self, id: &StackId) -> Result<Option<Stack>, DeployError> {
        let client = self.client(&id.region)?;
        match client.describe_stacks().stack_name(&id.name).send().await {
            Ok(out) => Ok(out
                .stacks()
                .first()
                .filter(|s| s.stack_status() != Some(&StackStatus::DeleteComplete))
                .cloned()),
            Err(err) if is_missing_stack(&err) => Ok(None),
            Err(err) => Err(aws(id, "DescribeStacks", err)),
        }
    }

    /// The outputs of an existing stack.
    pub async fn outputs_of(&self, id: &StackId) -> Result<BTreeMap<String, String>, DeployError> {
        let stack = self.describe(id).await?;
        Ok(stack.as_ref().map(stack_outputs).unwrap_or_default())
    }

    async fn prepare(
        &self,
        spec: &StackSpec,
        parameters: Vec<Parameter>,
        outputs: &Outputs,
    ) -> Result<Prepared, DeployError> {
        let id = &spec.id;
        let client = self.client(&id.region)?;
        let existing = self.describe(id).await?;
        let kind = change_set_type(id, existing.as_ref())?;
        if kind == ChangeSetType::Create
            && let Some(key) = parameters
                .iter()
                .find(|p| p.use_previous_value() == Some(true))
                .and_then(|p| p.parameter_key())
        {
            return Err(DeployError::NoPreviousValue {
                stack: id.clone(),
                key: key.to_owned(),
            });
        }
        let name = format!("infra-{}", millis_now());
        let (body, url) = match templates::source(self.templates.as_ref(), spec, outputs).await? {
            TemplateSource::Body(body) => (Some(body), None),
            TemplateSource::Url(url) => (None, Some(url)),
        };
        let created = client
            .create_change_set()
            .stack_name(&id.name)
            .change_set_name(&name)
            .change_set_type(kind.clone())
            .set_template_body(body)
            .set_template_url(url)
            .set_parameters(Some(parameters))
            .capabilities(Capability::CapabilityIam)
            .set_role_arn(self.execution_role.as_ref().map(RoleArn::to_string))
            .description("Created by infra deploy")
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Some implementations (moto) refuse an empty change set at once instead of
            // creating one that fails.
            Err(e)
                if e.as_service_error()
                    .and_then(|s| s.meta().message())
                    .is_some_and(is_no_change) =>
            {
                return Ok(Prepared::NoChanges);
            }
            Err(e) => return Err(aws(id, "CreateChangeSet", e)),
        }
        let started = Instant::now();
        loop {
            let (status, reason, changes) = self.read_change_set(id, &name).await?;
            match status {
                ChangeSetStatus::CreateComplete => {
                    return Ok(Prepared::ChangeSet {
                        name,
                        kind,
                        changes,
                    });
                }
                ChangeSetStatus::Failed if is_no_change(&reason) => {
                    // An empty change set is kept by CloudFormation until deleted: tidy up.
                    let _ = client
                        .delete_change_set()
                        .stack_name(&id.name)
                        .change_set_name(&name)
                        .send()
                        .await;
                    return Ok(Prepared::NoChanges);
                }
                ChangeSetStatus::Failed => {
                    return Err(DeployError::ChangeSetFailed {
                        stack: id.clone(),
                        reason,
                    });
                }
                _ => self.tick(id, started).await?,
            }
        }
    }

    async fn read_change_set(
        &self,
        id: &StackId,
        name: &str,
    ) -> Result<(ChangeSetStatus, String, Vec<ChangeSummary>), DeployError> {
        let client = self.client(&id.region)?;
        let mut changes = Vec::new();
        let mut token = None;
        loop {
            let out = client
                .describe_change_set()
                .stack_name(&id.name)
                .change_set_name(name)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws(id, "DescribeChangeSet", e))?;
            changes.extend(out.changes().iter().filter_map(ChangeSummary::from_change));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                let status = out
                    .status()
                    .cloned()
                    .unwrap_or(ChangeSetStatus::CreatePending);
                let reason = out.status_reason().unwrap_or_default().to_owned();
                return Ok((status, reason, changes));
            }
        }
    }

    async fn apply(
        &self,
        spec: &StackSpec,
        prepared: &Prepared,
    ) -> Result<(StackOutcome, BTreeMap<String, String>), DeployError> {
        let id = &spec.id;
        let Prepared::ChangeSet { name, kind, .. } = prepared else {
            return Ok((StackOutcome::Unchanged, self.outputs_of(id).await?));
        };
        let client = self.client(&id.region)?;
        let mut seen = self.event_ids(id).await?;
        client
            .execute_change_set()
            .stack_name(&id.name)
            .change_set_name(name)
            .send()
            .await
            .map_err(|e| aws(id, "ExecuteChangeSet", e))?;
        let stack = self.wait(id, &mut seen).await?;
        let outcome = if *kind == ChangeSetType::Create {
            StackOutcome::Created
        } else {
            StackOutcome::Updated
        };
        Ok((outcome, stack_outputs(&stack)))
    }

    /// Waits for the stack to leave its `*_IN_PROGRESS` state, printing its new events.
    async fn wait(&self, id: &StackId, seen: &mut HashSet<String>) -> Result<Stack, DeployError> {
        let started = Instant::now();
        let mut events = Vec::new();
        loop {
            let fresh = self.new_events(id, seen).await?;
            for event in &fresh {
                println!("[{id}] {}", event_line(event));
            }
            events.extend(fresh);
            let Some(stack) = self.describe(id).await? else {
                return Err(DeployError::BadState {
                    stack: id.clone(),
                    status: "DELETED".into(),
                    hint: "the stack disappeared while it was being deployed",
                });
            };
            let status = stack
                .stack_status()
                .cloned()
                .unwrap_or(StackStatus::CreateInProgress);
            if is_success(&status) {
                println!("[{id}] {}", status.as_str());
                return Ok(stack);
            }
            if !status.as_str().ends_with("_IN_PROGRESS") {
                return Err(failure(id, &stack, &events));
            }
            self.tick(id, started).await?;
        }
    }

    async fn delete(&self, id: &StackId) -> Result<bool, DeployError> {
        let Some(_) = self.describe(id).await? else {
            println!("[{id}] does not exist, nothing to delete");
            return Ok(false);
        };
        let client = self.client(&id.region)?;
        let mut seen = self.event_ids(id).await?;
        client
            .delete_stack()
            .stack_name(&id.name)
            .send()
            .await
            .map_err(|e| aws(id, "DeleteStack", e))?;
        let started = Instant::now();
        let mut events = Vec::new();
        loop {
            let fresh = self.new_events(id, &mut seen).await.unwrap_or_default();
            for event in &fresh {
                println!("[{id}] {}", event_line(event));
            }
            events.extend(fresh);
            let Some(stack) = self.describe(id).await? else {
                println!("[{id}] DELETE_COMPLETE");
                return Ok(true);
            };
            if stack.stack_status() == Some(&StackStatus::DeleteFailed) {
                return Err(failure(id, &stack, &events));
            }
            self.tick(id, started).await?;
        }
    }

    async fn discard(&self, stacks: &[StackSpec], prepared: &[Prepared]) {
        for (spec, prepared) in stacks.iter().zip(prepared) {
            if let (Prepared::ChangeSet { name, .. }, Ok(client)) =
                (prepared, self.client(&spec.id.region))
            {
                let _ = client
                    .delete_change_set()
                    .stack_name(&spec.id.name)
                    .change_set_name(name)
                    .send()
                    .await;
            }
        }
    }

    async fn event_ids(&self, id: &StackId) -> Result<HashSet<String>, DeployError> {
        let mut seen = HashSet::new();
        self.new_events(id, &mut seen).await?;
        Ok(seen)
    }

    /// The stack's events not seen yet, oldest first (the API lists newest first).
    async fn new_events(
        &self,
        id: &StackId,
        seen: &mut HashSet<String>,
    ) -> Result<Vec<StackEvent>, DeployError> {
        let client = self.client(&id.region)?;
        let out = match client
            .describe_stack_events()
            .stack_name(&id.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if is_missing_stack(&err) => return Ok(vec![]),
            Err(err) => return Err(aws(id, "DescribeStackEvents", err)),
        };
        let mut fresh: Vec<StackEvent> = out
            .stack_events()
            .iter()
            .filter(|e| seen.insert(e.event_id().unwrap_or_default().to_owned()))
            .cloned()
            .collect();
        fresh.reverse();
        Ok(fresh)
    }

    async fn tick(&self, id: &StackId, started: Instant) -> Result<(), DeployError> {
        if started.elapsed() > self.timing.stack_timeout {
            return Err(DeployError::Timeout {
                stack: id.clone(),
                minutes: self.timing.stack_timeout.as_secs() / 60,
            });
        }
        tokio::time::sleep(self.timing.poll).await;
        Ok(())
    }
}

/// The stack's parameters, with outputs of earlier stacks filled in; the cluster's endpoints
/// must have been filled in already ([`super::plan::Plan::resolve_cluster_endpoints`]).
pub fn resolve_parameters(
    spec: &StackSpec,
    outputs: &Outputs,
) -> Result<Vec<Parameter>, DeployError> {
    spec.parameters
        .iter()
        .map(|(key, value)| {
            let value = match value {
                ParamValue::Previous => {
                    return Ok(Parameter::builder()
                        .parameter_key(key)
                        .use_previous_value(true)
                        .build());
                }
                ParamValue::ClusterEndpoints => {
                    return Err(DeployError::UnresolvedClusterEndpoints {
                        stack: spec.id.clone(),
                        key: key.clone(),
                    });
                }
                ParamValue::GatewayClientCertificate | ParamValue::TruststoreVersion => {
                    return Err(DeployError::UnresolvedGatewayIdentity {
                        stack: spec.id.clone(),
                        key: key.clone(),
                    });
                }
                ParamValue::Literal(v) => v.clone(),
                ParamValue::Output { stack, key: output } => outputs
                    .get(stack)
                    .and_then(|o| o.get(output))
                    .cloned()
                    .ok_or_else(|| DeployError::MissingOutput {
                        stack: spec.id.clone(),
                        key: output.clone(),
                        from: stack.clone(),
                    })?,
            };
            Ok(Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build())
        })
        .collect()
}

fn print_summaries(stacks: &[StackSpec], prepared: &[Prepared]) -> usize {
    let mut pending = 0;
    for (spec, prepared) in stacks.iter().zip(prepared) {
        match prepared {
            Prepared::NoChanges => println!("[{}] no changes", spec.id),
            Prepared::ChangeSet { kind, changes, .. } => {
                pending += 1;
                let verb = if *kind == ChangeSetType::Create {
                    "create"
                } else {
                    "update"
                };
                println!("[{}] {verb}: {} change(s)", spec.id, changes.len());
                for change in changes {
                    println!("{}", change.line());
                }
            }
        }
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::ResourceStatus;

    fn id() -> StackId {
        StackId {
            region: "us-east-1".parse().unwrap(),
            name: "s".into(),
        }
    }

    fn event(resource: &str, status: ResourceStatus, reason: &str) -> StackEvent {
        StackEvent::builder()
            .logical_resource_id(resource)
            .resource_status(status)
            .resource_status_reason(reason)
            .build()
    }

    #[test]
    fn the_failure_names_the_first_resource_that_failed_not_the_cancelled_ones() {
        let stack = Stack::builder()
            .stack_status(StackStatus::RollbackComplete)
            .stack_status_reason("The following resource(s) failed to create: [Certificate]")
            .build();
        let events = [
            event("Api", ResourceStatus::CreateComplete, ""),
            event(
                "Function",
                ResourceStatus::CreateFailed,
                "Resource creation cancelled",
            ),
            event(
                "Certificate",
                ResourceStatus::CreateFailed,
                "DNS validation timed out",
            ),
            event("s", ResourceStatus::DeleteComplete, ""),
        ];
        let err = failure(&id(), &stack, &events);
        let text = err.to_string();
        assert!(
            text.contains("`Certificate` failed: DNS validation timed out")
                && text.contains("ROLLBACK_COMPLETE"),
            "{text}"
        );
    }

    #[test]
    fn without_events_the_stack_reason_is_reported() {
        let stack = Stack::builder()
            .stack_status(StackStatus::UpdateRollbackComplete)
            .stack_status_reason("Parameter validation failed")
            .build();
        let text = failure(&id(), &stack, &[]).to_string();
        assert!(text.contains("Parameter validation failed"), "{text}");
    }

    #[test]
    fn stack_states_choose_the_change_set_type_or_refuse() {
        let with = |s: StackStatus| Stack::builder().stack_status(s).build();
        assert_eq!(change_set_type(&id(), None).unwrap(), ChangeSetType::Create);
        let review = with(StackStatus::ReviewInProgress);
        assert_eq!(
            change_set_type(&id(), Some(&review)).unwrap(),
            ChangeSetType::Create
        );
        let done = with(StackStatus::UpdateComplete);
        assert_eq!(
            change_set_type(&id(), Some(&done)).unwrap(),
            ChangeSetType::Update
        );
        let failed = with(StackStatus::RollbackComplete);
        let err = change_set_type(&id(), Some(&failed)).unwrap_err();
        assert!(err.to_string().contains("infra destroy"), "{err}");
        let busy = with(StackStatus::UpdateInProgress);
        assert!(change_set_type(&id(), Some(&busy)).is_err());
    }

    #[test]
    fn cluster_endpoints_not_filled_in_are_refused_naming_the_stack_and_parameter() {
        let spec = StackSpec {
            id: id(),
            kind: super::super::plan::StackKind::Data,
            template: super::super::template::Template::new("d"),
            parameters: vec![("ClusterEndpoints".into(), ParamValue::ClusterEndpoints)],
        };
        let err = resolve_parameters(&spec, &Outputs::new()).unwrap_err();
        assert!(
            matches!(&err, DeployError::UnresolvedClusterEndpoints { key, .. } if key == "ClusterEndpoints"),
            "{err}"
        );
        assert!(err.to_string().contains("s (us-east-1)"), "{err}");
    }

    #[test]
    fn empty_change_sets_are_recognised() {
        assert!(is_no_change(
            "The submitted information didn't contain changes. Submit different information to create a change set."
        ));
        assert!(is_no_change("No updates are to be performed."));
        assert!(!is_no_change("Template format error"));
    }
}
