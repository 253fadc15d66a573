//! The ARC data-plane client: one aws-sdk-route53recoverycluster client per cluster endpoint,
//! and a call strategy that survives endpoints that refuse, hang, throttle or fail.
//!
//! Strategy: start at the endpoint that answered last (random at first); if it has not answered
//! after `hedge_after`, or fails with a retryable error, try the next one while keeping the
//! first in flight; the first answer wins. ARC's updates set absolute states, so sending the
//! same batch to two endpoints is harmless. A safety-rule conflict, a validation or an access
//! error stops at once: another endpoint would say the same. Updates are paced per endpoint
//! (`pacer`): an endpoint out of tokens is passed over for the next one, so concurrent
//! batches spread over the cluster.

mod attempt;
mod pacer;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use aws_credential_types::Credentials;
use aws_sdk_route53recoverycluster as arc;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use topology::manifest::{ClusterEndpoint, Environment, Manifest};
use topology::{ControlPanelArn, RoutingControlArn, SafetyRuleArn};

use crate::error::FailoverError;
pub(crate) use attempt::AttemptError;
pub(crate) use attempt::describe;
use attempt::{AnswerIsJson, classify, rule_in};
use pacer::Pacer;

/// How the client talks to the cluster. The defaults suit an incident: give up on an endpoint
/// quickly, keep trying the others until the deadline.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TCP connect timeout per attempt.
    pub connect_timeout: Duration,
    /// The longest one attempt may take, connect included.
    pub attempt_timeout: Duration,
    /// When to start the next endpoint while an attempt is still outstanding.
    pub hedge_after: Duration,
    /// The whole call, every attempt included.
    pub deadline: Duration,
    /// Updates each endpoint is sent per second, in bursts of its whole part; 0 paces nothing.
    /// ARC takes about 3: the default, 2.5, leaves room for network jitter.
    pub mutations_per_second: f64,
}

/// The default [`ClientConfig::hedge_after`], chosen with `cargo bench -p failover`: with 4 of
/// 5 endpoints hanging, the one that answers is tried at most 4 hedges after the first, so
/// 100 ms keeps the CLI's worst case under 0.6 s; a healthy endpoint answers well within it
/// (a few ms locally, one TLS handshake and round trip to a cluster Region on AWS), so a call
/// to a healthy cluster is rarely sent twice.
pub const DEFAULT_HEDGE_AFTER: Duration = Duration::from_millis(100);

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(2),
            hedge_after: DEFAULT_HEDGE_AFTER,
            deadline: Duration::from_secs(15),
            mutations_per_second: 2.5,
        }
    }
}

/// Which endpoint answered a call, and after how many attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub endpoint: ClusterEndpoint,
    /// Attempts made, the answering one included.
    pub attempts: u32,
    /// Time from the first attempt to the answer, in milliseconds.
    pub elapsed_ms: u64,
}

/// A value from the cluster and who gave it.
#[derive(Debug, Clone)]
pub struct Answered<T> {
    pub value: T,
    pub answer: Answer,
}

/// One routing control as ListRoutingControls returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedControl {
    pub arn: RoutingControlArn,
    pub name: Option<String>,
    pub control_panel: Option<ControlPanelArn>,
    pub control_panel_name: Option<String>,
    pub owner: Option<String>,
    pub on: bool,
}

struct Endpoint {
    info: ClusterEndpoint,
    sdk: arc::Client,
}

/// The client. Cheap to share by reference; every operation takes `&self`.
pub struct Client {
    endpoints: Vec<ClusterEndpoint>,
    manifest: Manifest,
    config: ClientConfig,
    sdk: OnceCell<Arc<Vec<Endpoint>>>,
    /// Credentials and settings chosen by the caller, instead of the manifest's default.
    shared: Option<aws_config::SdkConfig>,
    preferred: AtomicUsize,
    pacer: Pacer,
}

impl Client {
    /// A client for the cluster named in `manifest`. Local manifests use fixed test
    /// credentials; AWS manifests the standard credential chain (resolved on first use).
    pub fn from_manifest(manifest: &Manifest, config: ClientConfig) -> Result<Self, FailoverError> {
        let Some(cluster) = manifest.cluster() else {
            return Err(FailoverError::Usage(format!(
                "this deployment uses the `{}` mechanism, not an ARC cluster",
                manifest.mechanism()
            )));
        };
        let endpoints = &cluster.endpoints;
        if endpoints.is_empty() {
            return Err(FailoverError::Usage(
                "the manifest's cluster lists no endpoints".into(),
            ));
        }
        for e in endpoints {
            if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
                return Err(FailoverError::Usage(format!(
                    "cluster endpoint `{}` is not an http(s) URL",
                    e.url
                )));
            }
        }
        Ok(Self {
            endpoints: endpoints.clone(),
            manifest: manifest.clone(),
            sdk: OnceCell::new(),
            shared: None,
            preferred: AtomicUsize::new(rand::random_range(0..endpoints.len())),
            pacer: Pacer::new(endpoints.len(), config.mutations_per_second),
            config,
        })
    }

    /// Signs with `shared`'s credentials (for example those of `infra deploy --profile`)
    /// instead of the manifest's default. Each endpoint keeps its own URL and signing Region,
    /// and the client its own retries and timeouts.
    pub fn with_sdk_config(mut self, shared: aws_config::SdkConfig) -> Self {
        self.shared = Some(shared);
        self.sdk = OnceCell::new();
        self
    }

    /// The manifest this client was built from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Makes the next call start with endpoint `index` (of the manifest's list).
    pub fn prefer_endpoint(&self, index: usize) {
        self.preferred
            .store(index % self.endpoints.len(), Ordering::Relaxed);
    }

    async fn sdk(&self) -> Result<Arc<Vec<Endpoint>>, FailoverError> {
        self.sdk
            .get_or_try_init(|| async {
                let base = match (&self.shared, self.manifest.environment) {
                    (Some(shared), _) => Some(shared.clone()),
                    (None, Environment::Local) => None,
                    (None, Environment::Aws) => Some(
                        aws_config::defaults(aws_config::BehaviorVersion::latest())
                            .load()
                            .await,
                    ),
                };
                if let Some(config) = &base {
                    require_credentials(config).await?;
                }
                let built = self
                    .endpoints
                    .iter()
                    .map(|info| Endpoint {
                        info: info.clone(),
                        sdk: arc::Client::from_conf(self.sdk_config(base.as_ref(), info)),
                    })
                    .collect();
                Ok(Arc::new(built))
            })
            .await
            .cloned()
    }

    /// One SDK client's config: this endpoint's URL, signed for its Region, the SDK's own
    /// retries off (we rotate endpoints instead), our timeouts.
    fn sdk_config(
        &self,
        base: Option<&aws_config::SdkConfig>,
        endpoint: &ClusterEndpoint,
    ) -> arc::Config {
        let mut builder = match base {
            Some(shared) => arc::config::Builder::from(shared),
            None => arc::Config::builder()
                .behavior_version(arc::config::BehaviorVersion::latest())
                .credentials_provider(Credentials::new(
                    "AKIDLOCALARCCLUSTER",
                    "local-arc-cluster-secret",
                    None,
                    None,
                    "failover-local",
                )),
        };
        builder = builder
            .interceptor(AnswerIsJson)
            .region(arc::config::Region::new(endpoint.region.to_string()))
            .endpoint_url(endpoint.url.trim_end_matches('/'))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.config.connect_timeout)
                    .operation_attempt_timeout(self.config.attempt_timeout)
                    .operation_timeout(self.config.attempt_timeout)
                    .build(),
            );
        builder.build()
    }

    /// How many endpoints the cluster has.
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// Runs `op` against the endpoints as the module docs describe.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        op: F,
    ) -> Result<Answered<T>, FailoverError>
    where
        F: Fn(arc::Client) -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        self.call_from(0, operation, op).await
    }

    /// [`Self::call`], its rotation started `offset` endpoints after the preferred one.
    async fn call_from<T, F, Fut>(
        &self,
        offset: usize,
        operation: &'static str,
        op: F,
    ) -> Result<Answered<T>, FailoverError>
    where
        F: Fn(arc::Client) -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let endpoints = self.sdk().await?;
        let n = endpoints.len();
        let first = (self.preferred.load(Ordering::Relaxed) + offset) % n;
        // Only updates count against ARC's rate.
        let paced = operation.starts_with("Update");
        let started = Instant::now();
        let deadline = started + self.config.deadline;
        let attempt_timeout = self.config.attempt_timeout;
        let mut in_flight = FuturesUnordered::new();
        let mut busy = vec![false; n];
        // Endpoints passed in rotation order (one past the last launched).
        let mut cursor: usize = 0;
        let mut launched: usize = 0;
        let mut failures: Vec<String> = Vec::new();
        let mut quorum_lost = false;
        let mut next_launch = Some(started);
        loop {
            let launch_at = next_launch.unwrap_or(deadline);
            tokio::select! {
                biased;
                Some((index, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    busy[index] = false;
                    let endpoint: &Endpoint = &endpoints[index];
                    match result {
                        Ok(value) => {
                            self.preferred.store(index, Ordering::Relaxed);
                            let answer = Answer {
                                endpoint: endpoint.info.clone(),
                                attempts: u32::try_from(launched).unwrap_or(u32::MAX),
                                elapsed_ms: millis(started.elapsed()),
                            };
                            return Ok(Answered { value, answer });
                        }
                        Err(AttemptError::Retryable(reason)) => {
                            quorum_lost |= reason.contains("quorum");
                            tracing::debug!(endpoint = %endpoint.info.url, %reason, "attempt failed, trying the next endpoint");
                            failures.push(format!("{} ({}): {reason}", endpoint.info.region, endpoint.info.url));
                            // After a full round of failures, back off a little before the next.
                            let rounds = failures.len() / n;
                            let pause = if failures.len().is_multiple_of(n) {
                                Duration::from_millis(100 * rounds.min(5) as u64)
                            } else {
                                Duration::ZERO
                            };
                            next_launch = Some(Instant::now() + pause);
                        }
                        Err(AttemptError::Conflict(message)) => {
                            return Err(FailoverError::Refused { rule: rule_in(&message), message });
                        }
                        Err(AttemptError::Fatal { code, message }) => {
                            return Err(FailoverError::Rejected { code, message });
                        }
                    }
                }
                _ = tokio::time::sleep_until(launch_at), if next_launch.is_some() => {
                    if Instant::now() + Duration::from_millis(1) >= deadline {
                        next_launch = None;
                        continue;
                    }
                    match self.next_endpoint(first, cursor, &busy, paced) {
                        Launch::Now(step) => {
                            let index = (first + cursor + step) % n;
                            cursor += step + 1;
                            busy[index] = true;
                            launched += 1;
                            let attempt = op(endpoints[index].sdk.clone());
                            in_flight.push(async move {
                                let result = match tokio::time::timeout(attempt_timeout, attempt).await {
                                    Ok(result) => result,
                                    Err(_) => Err(AttemptError::Retryable(format!("no answer within {attempt_timeout:?}"))),
                                };
                                (index, result)
                            });
                            next_launch = Some(Instant::now() + self.config.hedge_after);
                        }
                        Launch::At(due) => next_launch = Some(due),
                        // Every endpoint is working on an attempt: wait for news.
                        Launch::Wait => next_launch = None,
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(FailoverError::Unreachable { operation, failures, quorum_lost });
                }
            }
        }
    }

    /// The endpoint to try next, in rotation order from `first + cursor`: the first one not
    /// already working on this call and, for an update, with a token left.
    fn next_endpoint(&self, first: usize, cursor: usize, busy: &[bool], paced: bool) -> Launch {
        let n = busy.len();
        let mut due: Option<Instant> = None;
        for step in 0..n {
            let index = (first + cursor + step) % n;
            if busy[index] {
                continue;
            }
            if !paced {
                return Launch::Now(step);
            }
            match self.pacer.take(index) {
                Ok(()) => return Launch::Now(step),
                Err(at) => due = Some(due.map_or(at, |d| d.min(at))),
            }
        }
        due.map_or(Launch::Wait, Launch::At)
    }

    /// GetRoutingControlState.
    pub async fn routing_control_state(
        &self,
        arn: &RoutingControlArn,
    ) -> Result<Answered<bool>, FailoverError> {
        self.call("GetRoutingControlState", |sdk| async move {
            let out = sdk
                .get_routing_control_state()
                .routing_control_arn(arn.as_str())
                .send()
                .await
                .map_err(classify)?;
            Ok(out.routing_control_state() == &RoutingControlState::On)
        })
        .await
    }

    /// The states of `arns` (`true` = ON), asked of endpoint `index` alone: no rotation, one
    /// attempt per control. `--verify` asks several endpoints this way to see a quorum agree.
    pub async fn states_at(
        &self,
        index: usize,
        arns: &[&RoutingControlArn],
    ) -> Result<Vec<bool>, String> {
        let endpoints = self.sdk().await.map_err(|e| e.to_string())?;
        let endpoint = endpoints
            .get(index)
            .ok_or_else(|| format!("no cluster endpoint #{index}"))?;
        let mut states = Vec::with_capacity(arns.len());
        for arn in arns {
            let call = endpoint
                .sdk
                .get_routing_control_state()
                .routing_control_arn(arn.as_str())
                .send();
            let out = tokio::time::timeout(self.config.attempt_timeout, call)
                .await
                .map_err(|_| format!("no answer within {:?}", self.config.attempt_timeout))?
                .map_err(|e| describe(&e))?;
            states.push(out.routing_control_state() == &RoutingControlState::On);
        }
        Ok(states)
    }

    /// One page of ListRoutingControls (optionally of one control panel).
    pub async fn list_routing_controls_page(
        &self,
        panel: Option<&ControlPanelArn>,
        next_token: Option<&str>,
        max_results: Option<i32>,
    ) -> Result<Answered<(Vec<ListedControl>, Option<String>)>, FailoverError> {
        self.call("ListRoutingControls", |sdk| async move {
            let out = sdk
                .list_routing_controls()
                .set_control_panel_arn(panel.map(|p| p.to_string()))
                .set_next_token(next_token.map(str::to_owned))
                .set_max_results(max_results)
                .send()
                .await
                .map_err(classify)?;
            let controls = out
                .routing_controls()
                .iter()
                .map(listed)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((controls, out.next_token().map(str::to_owned)))
        })
        .await
    }

    /// Every routing control (of one control panel, or all), following NextToken.
    pub async fn list_routing_controls(
        &self,
        panel: Option<&ControlPanelArn>,
    ) -> Result<Answered<Vec<ListedControl>>, FailoverError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_routing_controls_page(panel, token.as_deref(), None)
                .await?;
            let (controls, next) = page.value;
            all.extend(controls);
            match next {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => {
                    return Ok(Answered {
                        value: all,
                        answer: page.answer,
                    });
                }
            }
        }
    }

    /// UpdateRoutingControlState: one control.
    pub async fn set_routing_control_state(
        &self,
        arn: &RoutingControlArn,
        on: bool,
        overrides: &[SafetyRuleArn],
    ) -> Result<Answer, FailoverError> {
        self.call("UpdateRoutingControlState", |sdk| async move {
            sdk.update_routing_control_state()
                .routing_control_arn(arn.as_str())
                .routing_control_state(state(on))
                .set_safety_rules_to_override(Some(strings(overrides)))
                .send()
                .await
                .map_err(classify)?;
            Ok(())
        })
        .await
        .map(|a| a.answer)
    }

    /// UpdateRoutingControlStates: one atomic batch (at most 10 controls: ARC's limit).
    pub async fn set_routing_control_states(
        &self,
        changes: &[(RoutingControlArn, bool)],
        overrides: &[SafetyRuleArn],
    ) -> Result<Answer, FailoverError> {
        self.set_routing_control_states_from(0, changes, overrides)
            .await
    }

    /// [`Self::set_routing_control_states`], starting `offset` endpoints along the rotation.
    pub(crate) async fn set_routing_control_states_from(
        &self,
        offset: usize,
        changes: &[(RoutingControlArn, bool)],
        overrides: &[SafetyRuleArn],
    ) -> Result<Answer, FailoverError> {
        let entries: Vec<UpdateRoutingControlStateEntry> = changes
            .iter()
            .map(|(arn, on)| {
                UpdateRoutingControlStateEntry::builder()
                    .routing_control_arn(arn.as_str())
                    .routing_control_state(state(*on))
                    .build()
                    .expect("both required fields are set")
            })
            .collect();
        let entries = &entries;
        self.call_from(offset, "UpdateRoutingControlStates", |sdk| async move {
            sdk.update_routing_control_states()
                .set_update_routing_control_state_entries(Some(entries.clone()))
                .set_safety_rules_to_override(Some(strings(overrides)))
                .send()
                .await
                .map_err(classify)?;
            Ok(())
        })
        .await
        .map(|a| a.answer)
    }
}

/// What [`Client::next_endpoint`] found.
enum Launch {
    /// The endpoint this many steps along the rotation, now (its token taken).
    Now(usize),
    /// Every idle endpoint is out of tokens until then.
    At(Instant),
    /// Every endpoint is working on an attempt of this call.
    Wait,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn state(on: bool) -> RoutingControlState {
    if on {
        RoutingControlState::On
    } else {
        RoutingControlState::Off
    }
}

fn strings(arns: &[SafetyRuleArn]) -> Vec<String> {
    arns.iter().map(ToString::to_string).collect()
}

fn listed(c: &arc::types::RoutingControl) -> Result<ListedControl, AttemptError> {
    let garbage = |what: &str| AttemptError::Retryable(format!("the endpoint returned {what}"));
    let arn = c
        .routing_control_arn()
        .ok_or_else(|| garbage("a routing control without an ARN"))?
        .parse()
        .map_err(|_| garbage("a malformed routing control ARN"))?;
    Ok(ListedControl {
        arn,
        name: c.routing_control_name().map(str::to_owned),
        control_panel: c.control_panel_arn().and_then(|p| p.parse().ok()),
        control_panel_name: c.control_panel_name().map(str::to_owned),
        owner: c.owner().map(str::to_owned),
        on: c.routing_control_state() == Some(&RoutingControlState::On),
    })
}

/// Resolves `config`'s credentials once, before the first AWS call: without them every call
/// fails alike, and the error reads as a network problem (here exit 4) instead of a login
/// one. `infra deploy` and `destroy` check the same way.
pub async fn require_credentials(config: &aws_config::SdkConfig) -> Result<(), FailoverError> {
    use aws_credential_types::provider::ProvideCredentials;
    const HOW: &str = "log in (`aws sso login --profile NAME`, then AWS_PROFILE=NAME), or set \
                       AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    let Some(provider) = config.credentials_provider() else {
        return Err(FailoverError::Setup(format!("no AWS credentials: {HOW}")));
    };
    provider
        .provide_credentials()
        .await
        .map(drop)
        .map_err(|e| FailoverError::Setup(format!("no AWS credentials ({}): {HOW}", describe(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_are_checked() {
        let topology = topology::Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let mut manifest = local_arc::manifest_for(&topology, vec![]);
        manifest.cluster_mut().unwrap().endpoints = vec![ClusterEndpoint {
            region: "us-east-1".parse().unwrap(),
            url: "127.0.0.1:1".into(),
        }];
        let err = Client::from_manifest(&manifest, ClientConfig::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("not an http"), "{err}");
        manifest.cluster_mut().unwrap().endpoints.clear();
        assert!(Client::from_manifest(&manifest, ClientConfig::default()).is_err());
    }
}
