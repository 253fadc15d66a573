//! The routes the page's buttons post to. Shifts and evacuations go through the mechanism's
//! data plane ([`crate::moves::Mover`]): with ARC, [`failover::Client`] against the cluster,
//! so ARC's safety rules and quorum refuse them as they refuse the `failover` CLI; with the
//! `health-check` mechanism, the flags published into CloudWatch. Routing control changes
//! (ARC) and single flags (`health-check`) are set as the ARC console or an operator's SDK
//! would. Shifts and evacuations read the replication gate first, as `failover shift` does.
//! A refusal comes back as problem+json (409 for a safety rule or a replica behind, 503 for an
//! unreachable cluster, a lost quorum or an unreachable CloudWatch) and goes on the timeline. Faults and
//! the replication lag have no route here: the page posts them to the control API's own
//! routes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use failover::{DEFAULT_MAX_LAG, FailoverError, GateConfig};
use kit::Problem;
use kit::extract::Json as JsonBody;
use serde::{Deserialize, Serialize};
use topology::manifest::AppEntry;
use topology::{AppName, Region};
use utoipa::openapi::{RefOr, Response};

use super::Dashboard;
use super::event::EventKind;
use super::probe::Probe;
use crate::moves::{MoveError, Moved};

/// `POST /actions/shift`: move one app to a Region.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShiftRequest {
    #[schema(value_type = String)]
    app: AppName,
    #[schema(value_type = String)]
    to: Region,
    /// Move even when a target replica is behind (`--force`): the gate is not read.
    #[serde(default)]
    force: bool,
    /// Refuse when a target replica is further behind than this, in milliseconds
    /// (`--max-replication-lag`); 5000 by default.
    #[serde(default)]
    max_replication_lag_ms: Option<u64>,
}

/// `POST /actions/evacuate`: move every app away from a Region.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvacuateRequest {
    #[schema(value_type = String)]
    from: Region,
    /// Move even when a target replica is behind (`--force`): the gate is not read.
    #[serde(default)]
    force: bool,
    /// Refuse when a target replica is further behind than this, in milliseconds
    /// (`--max-replication-lag`); 5000 by default.
    #[serde(default)]
    max_replication_lag_ms: Option<u64>,
}

/// `POST /actions/routing-control`: set one routing control, as the ARC console does.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoutingControlRequest {
    #[schema(value_type = String)]
    app: AppName,
    #[schema(value_type = String)]
    region: Region,
    on: bool,
}

/// `POST /actions/flag`: publish one flag, as an operator's SDK would (`health-check`
/// mechanism).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagRequest {
    #[schema(value_type = String)]
    app: AppName,
    /// The Region the flag takes out; it is published in the other one.
    #[schema(value_type = String)]
    region: Region,
    /// `true`: 1, the Region is out; `false`: 0.
    out: bool,
}

/// `POST /actions/probe`: start or stop the page's probe.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeRequest {
    running: bool,
}

/// What an action did, in words, for the page's outcome line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Outcome {
    message: String,
}

type Answer = Result<Json<Outcome>, Problem>;

/// What an action that goes to ARC answers when it does not succeed, in the OpenAPI document.
struct ArcRefusals;

impl utoipa::IntoResponses for ArcRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("404", "No such app or Region in this world"),
            (
                "409",
                "Refused, nothing changed: by a safety rule (`refused-by-safety-rule`), or a target replica is behind (`replication-behind`; `force` moves anyway)",
            ),
            (
                "502",
                "ARC did not make the change (`arc-rejected`): the detail says why",
            ),
            (
                "503",
                "No ARC endpoint answered (`arc-unreachable`) or the cluster lost its quorum (`arc-quorum-lost`); or the CloudWatch of the Region that stays did not take the flags (`cloudwatch-unreachable`); or the replication gate could not read a lag (`replication-unreadable`; `force` moves without it); nothing changed",
            ),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), kit::docs::problem(description).into()))
        .collect()
    }
}

/// Moves one app to a Region through the mechanism's data plane, as `failover shift` does.
#[utoipa::path(
    post,
    path = "/actions/shift",
    tag = "dashboard",
    request_body = ShiftRequest,
    responses(
        (status = 200, body = Outcome),
        ArcRefusals,
        kit::docs::JsonBody,
    )
)]
pub(crate) async fn shift(
    State(dashboard): State<Arc<Dashboard>>,
    JsonBody(request): JsonBody<ShiftRequest>,
) -> Answer {
    let mover = dashboard.mover()?;
    app_entry(&dashboard, &request.app)?;
    known_region(&dashboard, &request.to)?;
    let action = format!("shift {} to {}", request.app, request.to);
    let apps = std::slice::from_ref(&request.app);
    let gate = Gate::of(request.force, request.max_replication_lag_ms);
    let result = async {
        gate.check(&dashboard, apps, &request.to).await?;
        mover.shift(apps, &request.to).await
    }
    .await
    .map(|moved| shifted(&moved, mover.arc().is_some()));
    settle(&dashboard, &action, result)
}

/// Moves every app away from a Region, as `failover evacuate` does.
#[utoipa::path(
    post,
    path = "/actions/evacuate",
    tag = "dashboard",
    request_body = EvacuateRequest,
    responses(
        (status = 200, body = Outcome),
        ArcRefusals,
        kit::docs::JsonBody,
    )
)]
pub(crate) async fn evacuate(
    State(dashboard): State<Arc<Dashboard>>,
    JsonBody(request): JsonBody<EvacuateRequest>,
) -> Answer {
    let mover = dashboard.mover()?;
    known_region(&dashboard, &request.from)?;
    let action = format!("evacuate {}", request.from);
    let manifest = dashboard.world.manifest();
    let apps: Vec<AppName> = manifest.apps.iter().map(|a| a.name.clone()).collect();
    let gate = Gate::of(request.force, request.max_replication_lag_ms);
    let result = async {
        let to = manifest
            .regions
            .other(&request.from)
            .ok_or_else(|| MoveError::Usage(format!("no Region `{}` here", request.from)))?;
        gate.check(&dashboard, &apps, to).await?;
        mover.evacuate(&request.from).await
    }
    .await
    .map(|moved| shifted(&moved, mover.arc().is_some()));
    settle(&dashboard, &action, result)
}

/// The replication gate before a move, as `failover shift` reads it: refused while a target
/// replica is behind, unless forced.
struct Gate(Option<GateConfig>);

impl Gate {
    fn of(force: bool, max_lag_ms: Option<u64>) -> Self {
        Self((!force).then(|| GateConfig {
            max_lag: max_lag_ms.map_or(DEFAULT_MAX_LAG, Duration::from_millis),
            ..GateConfig::default()
        }))
    }

    async fn check(
        &self,
        dashboard: &Dashboard,
        apps: &[AppName],
        to: &Region,
    ) -> Result<(), MoveError> {
        let Some(config) = &self.0 else {
            return Ok(());
        };
        let report = failover::gate::read(dashboard.world.manifest(), apps, to, config).await?;
        report
            .refusal()
            .map_or(Ok(()), |refused| Err(refused.into()))
    }
}

/// Sets one routing control ON or OFF, as the ARC console does; the safety rule still applies.
#[utoipa::path(
    post,
    path = "/actions/routing-control",
    tag = "dashboard",
    request_body = RoutingControlRequest,
    responses(
        (status = 200, body = Outcome),
        ArcRefusals,
        kit::docs::JsonBody,
    )
)]
pub(crate) async fn routing_control(
    State(dashboard): State<Arc<Dashboard>>,
    JsonBody(request): JsonBody<RoutingControlRequest>,
) -> Answer {
    let client = dashboard.mover()?.arc().ok_or_else(|| {
        Problem::not_found(format!(
            "this world has no routing controls: its failover mechanism is `{}` (POST /actions/flag)",
            dashboard.world.mechanism()
        ))
    })?;
    let entry = app_entry(&dashboard, &request.app)?;
    let arn = entry
        .arc()
        .map(|arc| arc.routing_controls.as_slice())
        .unwrap_or_default()
        .iter()
        .find(|c| c.region == request.region)
        .map(|c| c.arn.clone())
        .ok_or_else(|| {
            Problem::not_found(format!(
                "`{}` has no routing control in `{}`",
                request.app, request.region
            ))
        })?;
    let state = if request.on { "ON" } else { "OFF" };
    let action = format!(
        "set {} routing control {} {state}",
        request.app, request.region
    );
    let result = client
        .set_routing_control_state(&arn, request.on, &[])
        .await
        .map(|answer| {
            format!(
                "{} routing control {} is {state} (ARC endpoint {} answered after {} attempt(s), {} ms)",
                request.app,
                request.region,
                answer.endpoint.region,
                answer.attempts,
                answer.elapsed_ms
            )
        })
        .map_err(MoveError::from);
    settle(&dashboard, &action, result)
}

/// Publishes one flag of an app, as an operator would with any SDK: 1 takes the Region out
/// of DNS once its alarm and health check see it, 0 puts it back. Route 53's rules still
/// apply: with both flags set, the primary answers.
#[utoipa::path(
    post,
    path = "/actions/flag",
    tag = "dashboard",
    request_body = FlagRequest,
    responses(
        (status = 200, body = Outcome),
        ArcRefusals,
        kit::docs::JsonBody,
    )
)]
pub(crate) async fn flag(
    State(dashboard): State<Arc<Dashboard>>,
    JsonBody(request): JsonBody<FlagRequest>,
) -> Answer {
    let client = dashboard.mover()?.flags().ok_or_else(|| {
        Problem::not_found(format!(
            "this world has no flags: its failover mechanism is `{}` (POST /actions/routing-control)",
            dashboard.world.mechanism()
        ))
    })?;
    app_entry(&dashboard, &request.app)?;
    known_region(&dashboard, &request.region)?;
    let value = u8::from(request.out);
    let action = format!(
        "publish {} flag \"{} is out\" = {value}",
        request.app, request.region
    );
    let result = client
        .set(&request.app, &request.region, request.out)
        .await
        .map(|()| {
            format!(
                "{} flag \"{} is out\" = {value}, published in {}",
                request.app,
                request.region,
                dashboard
                    .world
                    .manifest()
                    .regions
                    .other(&request.region)
                    .map_or_else(String::new, ToString::to_string)
            )
        });
    settle(&dashboard, &action, result)
}

/// Starts or stops the page's probe: light traffic to every app, charted on the page.
#[utoipa::path(
    post,
    path = "/actions/probe",
    tag = "dashboard",
    request_body = ProbeRequest,
    responses(
        (status = 200, body = Outcome),
        (status = 503, description = "The probe cannot start", body = kit::problem::ProblemDetails, content_type = "application/problem+json"),
        kit::docs::JsonBody,
    )
)]
pub(crate) async fn probe(
    State(dashboard): State<Arc<Dashboard>>,
    JsonBody(request): JsonBody<ProbeRequest>,
) -> Answer {
    let message = if request.running {
        let mut probe = dashboard.probe();
        if probe.is_none() {
            let token = dashboard.world.api_token(super::probe::TOKEN_LIFETIME);
            let started = Probe::start(dashboard.world.manifest(), token)
                .map_err(|e| Problem::unavailable(format!("cannot start the probe: {e}")))?;
            *probe = Some(started);
        }
        format!(
            "probe running: {} requests/s to every app",
            super::probe::PROBE_RATE_PER_APP
        )
    } else {
        let stopped = dashboard.probe().take();
        if let Some(probe) = stopped {
            probe.stop().await;
        }
        "probe stopped".to_owned()
    };
    Ok(Json(Outcome { message }))
}

fn app_entry<'a>(dashboard: &'a Dashboard, app: &AppName) -> Result<&'a AppEntry, Problem> {
    dashboard
        .world
        .manifest()
        .app(app)
        .ok_or_else(|| Problem::not_found(format!("no app `{app}` in this world")))
}

fn known_region(dashboard: &Dashboard, region: &Region) -> Result<(), Problem> {
    let regions = &dashboard.world.manifest().regions;
    if regions.contains(region) {
        Ok(())
    } else {
        Err(Problem::not_found(format!(
            "no Region `{region}` in this world ({}, {})",
            regions.primary, regions.secondary
        )))
    }
}

/// What a move did, in words: with ARC, the routing controls now ON and which endpoint
/// answered; with the flags, which flag was published where, and anything left undone.
fn shifted(moved: &Moved, arc: bool) -> String {
    let apps: Vec<&str> = moved.apps.iter().map(AppName::as_str).collect();
    let mut text = if arc {
        format!("{} now ON in {} ({})", apps.join(", "), moved.to, moved.how)
    } else {
        format!(
            "{} moving to {}: {}; DNS follows once the alarms and health checks see it",
            apps.join(", "),
            moved.to,
            moved.how
        )
    };
    for warning in &moved.warnings {
        text.push_str("; warning: ");
        text.push_str(warning);
    }
    text
}

/// Puts the action's outcome on the timeline and answers it: the message, or the failure as
/// problem+json with the `failover` library's own words.
fn settle(dashboard: &Dashboard, action: &str, result: Result<String, MoveError>) -> Answer {
    match result {
        Ok(message) => {
            dashboard
                .timeline()
                .push(EventKind::Action, format!("{action}: done"));
            Ok(Json(Outcome { message }))
        }
        Err(error) => {
            let problem = problem(&error);
            dashboard
                .timeline()
                .push(EventKind::Refused, format!("{action}: {error}"));
            Err(problem)
        }
    }
}

/// The HTTP form of a move's failure.
fn problem(error: &MoveError) -> Problem {
    match error {
        MoveError::Failover(error) => failover_problem(error),
        MoveError::Usage(detail) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-action",
            "Invalid action",
            detail.clone(),
        ),
        MoveError::Unpublished { .. } => {
            Problem::unavailable(error.to_string()).with_kind("cloudwatch-unreachable")
        }
    }
}

/// The HTTP form of a failover error.
fn failover_problem(error: &FailoverError) -> Problem {
    let detail = error.to_string();
    match error {
        FailoverError::Refused { .. } => {
            Problem::conflict(detail).with_kind("refused-by-safety-rule")
        }
        FailoverError::Unreachable {
            quorum_lost: true, ..
        } => Problem::unavailable(detail).with_kind("arc-quorum-lost"),
        FailoverError::Unreachable { .. } => {
            Problem::unavailable(detail).with_kind("arc-unreachable")
        }
        FailoverError::RegionUnreachable { .. } | FailoverError::FlagsUnreadable(_) => {
            Problem::unavailable(detail).with_kind("cloudwatch-unreachable")
        }
        FailoverError::CloudWatchRejected { .. } => Problem::new(
            StatusCode::BAD_GATEWAY,
            "cloudwatch-rejected",
            "CloudWatch did not make the change",
            detail,
        ),
        FailoverError::ReplicationBehind { .. } => {
            Problem::conflict(detail).with_kind("replication-behind")
        }
        FailoverError::Usage(_) | FailoverError::Manifest(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-action",
            "Invalid action",
            detail,
        ),
        FailoverError::Plan { .. } => Problem::new(
            StatusCode::BAD_GATEWAY,
            "plan-failed",
            "The plan stopped",
            detail,
        ),
        FailoverError::Partial { source, .. } => {
            let mut problem = failover_problem(source);
            problem.detail = detail;
            problem
        }
        FailoverError::Gate(_) => Problem::unavailable(detail).with_kind("replication-unreadable"),
        FailoverError::Rejected { .. } | FailoverError::Verify(_) | FailoverError::Setup(_) => {
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "arc-rejected",
                "ARC did not make the change",
                detail,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_safety_rule_refusal_is_a_conflict_and_a_lost_quorum_is_unavailable() {
        let refused = FailoverError::Refused {
            rule: None,
            message: "at least one ON".into(),
        };
        let p = failover_problem(&refused);
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert_eq!(p.kind, "refused-by-safety-rule");
        assert!(p.detail.contains("refused by safety rule"), "{}", p.detail);
        let lost = FailoverError::Unreachable {
            operation: "UpdateRoutingControlStates",
            failures: vec![],
            quorum_lost: true,
        };
        assert_eq!(
            failover_problem(&lost).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let partial = FailoverError::Partial {
            applied: 1,
            total: 2,
            source: Box::new(refused),
        };
        let p = problem(&MoveError::Failover(partial));
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert!(p.detail.starts_with("1 of 2 batches"), "{}", p.detail);
    }

    #[test]
    fn the_gate_refuses_a_replica_behind_and_is_unavailable_when_it_cannot_read() {
        let behind = FailoverError::ReplicationBehind {
            tables: vec!["table `orders` of orders in us-west-2 is 6.0 s behind".into()],
            max: Duration::from_secs(5),
        };
        let p = failover_problem(&behind);
        assert_eq!(
            (p.status, p.kind),
            (StatusCode::CONFLICT, "replication-behind")
        );
        let unreadable = failover_problem(&FailoverError::Gate("no answer".into()));
        assert_eq!(
            (unreadable.status, unreadable.kind),
            (StatusCode::SERVICE_UNAVAILABLE, "replication-unreadable")
        );
        assert!(Gate::of(true, None).0.is_none(), "forced: not read");
        let limit = Gate::of(false, Some(200)).0.unwrap().max_lag;
        assert_eq!(limit, Duration::from_millis(200));
        assert_eq!(Gate::of(false, None).0.unwrap().max_lag, DEFAULT_MAX_LAG);
    }

    #[test]
    fn flags_not_taken_are_unavailable_and_a_warning_is_told() {
        let region: Region = "us-west-2".parse().unwrap();
        let p = problem(&MoveError::Unpublished {
            region: region.clone(),
            reason: "connection refused".into(),
        });
        assert_eq!(p.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(p.kind, "cloudwatch-unreachable");
        assert!(p.detail.contains("us-west-2"), "{}", p.detail);
        let moved = Moved {
            apps: vec!["orders".parse().unwrap()],
            to: region,
            how: "\"us-east-1 is out\" = 1 published in us-west-2".into(),
            warnings: vec!["not cleared".into()],
        };
        let text = shifted(&moved, false);
        assert!(text.starts_with("orders moving to us-west-2"), "{text}");
        assert!(text.ends_with("; warning: not cleared"), "{text}");
    }
}
