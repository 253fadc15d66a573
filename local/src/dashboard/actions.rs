//! The routes the page's buttons post to. Shifts, evacuations and routing control changes go
//! through [`failover::Client`] against the cluster's data plane, so ARC's safety rules and
//! quorum refuse them as they refuse the `failover` CLI; the refusal comes back as
//! problem+json (409 for a safety rule, 503 for an unreachable cluster or a lost quorum) and
//! goes on the timeline. Faults and the replication lag have no route here: the page posts them
//! to the control API's own routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use failover::{FailoverError, ShiftOptions, ShiftOutcome};
use kit::Problem;
use kit::extract::Json as JsonBody;
use serde::{Deserialize, Serialize};
use topology::manifest::AppEntry;
use topology::{AppName, Region};
use utoipa::openapi::{RefOr, Response};

use super::Dashboard;
use super::event::EventKind;
use super::probe::Probe;

/// `POST /actions/shift`: move one app to a Region.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShiftRequest {
    #[schema(value_type = String)]
    app: AppName,
    #[schema(value_type = String)]
    to: Region,
}

/// `POST /actions/evacuate`: move every app away from a Region.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvacuateRequest {
    #[schema(value_type = String)]
    from: Region,
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
                "Refused, nothing changed: by a safety rule (`refused-by-safety-rule`), or the target's replica is behind (`replication-behind`)",
            ),
            (
                "502",
                "ARC did not make the change (`arc-rejected`): the detail says why",
            ),
            (
                "503",
                "No ARC endpoint answered (`arc-unreachable`) or the cluster lost its quorum (`arc-quorum-lost`); nothing changed",
            ),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), kit::docs::problem(description).into()))
        .collect()
    }
}

/// Moves one app to a Region through the ARC data plane, as `failover shift` does.
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
    let client = dashboard.client()?;
    app_entry(&dashboard, &request.app)?;
    known_region(&dashboard, &request.to)?;
    let action = format!("shift {} to {}", request.app, request.to);
    let result = client
        .shift(
            std::slice::from_ref(&request.app),
            &request.to,
            ShiftOptions::default(),
        )
        .await
        .map(|outcome| shifted(&outcome));
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
    let client = dashboard.client()?;
    known_region(&dashboard, &request.from)?;
    let action = format!("evacuate {}", request.from);
    let result = client
        .evacuate(&request.from, ShiftOptions::default())
        .await
        .map(|outcome| shifted(&outcome));
    settle(&dashboard, &action, result)
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
    let client = dashboard.client()?;
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

/// What a shift did, in words.
fn shifted(outcome: &ShiftOutcome) -> String {
    let apps: Vec<&str> = outcome.apps.iter().map(AppName::as_str).collect();
    let via: Vec<String> = outcome
        .batches
        .iter()
        .filter_map(|b| b.answer.as_ref())
        .map(|a| {
            format!(
                "ARC endpoint {} answered after {} attempt(s), {} ms",
                a.endpoint.region, a.attempts, a.elapsed_ms
            )
        })
        .collect();
    format!(
        "{} now ON in {} ({})",
        apps.join(", "),
        outcome.to,
        via.join("; ")
    )
}

/// Puts the action's outcome on the timeline and answers it: the message, or the failure as
/// problem+json with the `failover` library's own words.
fn settle(dashboard: &Dashboard, action: &str, result: Result<String, FailoverError>) -> Answer {
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

/// The HTTP form of a failover error.
fn problem(error: &FailoverError) -> Problem {
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
        FailoverError::ReplicationBehind { .. } => {
            Problem::conflict(detail).with_kind("replication-behind")
        }
        FailoverError::Usage(_) | FailoverError::Manifest(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-action",
            "Invalid action",
            detail,
        ),
        FailoverError::Partial { source, .. } => {
            let mut problem = problem(source);
            problem.detail = detail;
            problem
        }
        FailoverError::Rejected { .. }
        | FailoverError::Verify(_)
        | FailoverError::Setup(_)
        | FailoverError::Gate(_) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "arc-rejected",
            "ARC did not make the change",
            detail,
        ),
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
        let p = problem(&refused);
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert_eq!(p.kind, "refused-by-safety-rule");
        assert!(p.detail.contains("refused by safety rule"), "{}", p.detail);
        let lost = FailoverError::Unreachable {
            operation: "UpdateRoutingControlStates",
            failures: vec![],
            quorum_lost: true,
        };
        assert_eq!(problem(&lost).status, StatusCode::SERVICE_UNAVAILABLE);
        let partial = FailoverError::Partial {
            applied: 1,
            total: 2,
            source: Box::new(refused),
        };
        let p = problem(&partial);
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert!(p.detail.starts_with("1 of 2 batches"), "{}", p.detail);
    }
}
