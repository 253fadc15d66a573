//! Plans on the dashboard: the page lists the plans (the `plans/` folder next to the
//! topology, else the ones built in), runs one after the person confirms, shows its steps as
//! they run and an approval waiting for a click, and links the report. The run is the
//! `failover plan run` runner's, with the page as the person an approval step asks.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use failover::plan::{PlanReport, RunOptions, StepEvent, StepOutcome, StepReport};
use failover::{ClientConfig, DataPlane};
use kit::Problem;
use kit::extract::Json as JsonBody;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::Dashboard;
use crate::demo::plans::DrillPlans;

/// The plans the page offers, and the run in progress or last finished.
pub(crate) struct Plans {
    source: DrillPlans,
    run: Mutex<Option<RunView>>,
    /// The answer to the approval waiting, if one is.
    approval: Mutex<Option<(String, oneshot::Sender<bool>)>>,
    last_report: Mutex<Option<PlanReport>>,
}

/// A plan run, as the page draws it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub plan: String,
    pub running: bool,
    /// Every step, nested ones included, in order.
    pub steps: Vec<StepView>,
    /// The approval step waiting for a person, and its question.
    pub waiting: Option<Waiting>,
    /// How it ended (the report's headline), once it did.
    pub outcome: Option<String>,
    /// The report's Markdown, once it ended.
    pub report: Option<String>,
}

/// One step on the page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub name: String,
    pub kind: String,
    /// `pending`, `running`, `waiting`, `succeeded`, `failed`, `not_run`, ...
    pub state: String,
    pub detail: String,
}

/// An approval waiting.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Waiting {
    pub step: String,
    pub message: String,
}

/// A plan the page can run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PlanEntry {
    name: String,
    description: String,
    /// `name (kind)` of each top-level step, or why the plan does not load.
    steps: Vec<String>,
    error: Option<String>,
}

/// `POST /actions/plan`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    plan: String,
}

/// `POST /actions/plan-approval`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalRequest {
    step: String,
    approve: bool,
}

/// What an action answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Accepted {
    message: String,
}

impl Plans {
    pub(crate) fn new() -> Self {
        Self {
            source: DrillPlans::beside(std::path::Path::new("topology.toml")),
            run: Mutex::new(None),
            approval: Mutex::new(None),
            last_report: Mutex::new(None),
        }
    }

    fn run(&self) -> MutexGuard<'_, Option<RunView>> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run to draw.
    pub(crate) fn view(&self) -> Option<RunView> {
        self.run().clone()
    }

    fn update(&self, event: StepEvent) {
        let mut run = self.run();
        let Some(run) = run.as_mut() else { return };
        let set = |run: &mut RunView, name: &str, state: &str, detail: &str| {
            if let Some(step) = run.steps.iter_mut().find(|s| s.name == name) {
                state.clone_into(&mut step.state);
                detail.clone_into(&mut step.detail);
            }
        };
        match event {
            StepEvent::Started { step, .. } => set(run, &step, "running", ""),
            StepEvent::AwaitingApproval { step, message } => {
                set(run, &step, "waiting", &message);
                run.waiting = Some(Waiting { step, message });
            }
            StepEvent::Finished(report) => {
                for step in report.flatten() {
                    set(run, &step.name, state_of(step), &step.detail);
                }
                if run.waiting.as_ref().is_some_and(|w| w.step == report.name) {
                    run.waiting = None;
                }
            }
        }
    }
}

fn state_of(step: &StepReport) -> &'static str {
    match step.outcome {
        StepOutcome::Succeeded => "succeeded",
        StepOutcome::Failed => "failed",
        StepOutcome::DoneBefore => "done_before",
        StepOutcome::DryRun => "dry_run",
        StepOutcome::NotRun => "not_run",
    }
}

/// The plans the page can run.
#[utoipa::path(
    get,
    path = "/plans",
    tag = "dashboard",
    responses((status = 200, description = "The plans: the `plans/` folder next to the topology, else the ones built in", body = [PlanEntry]))
)]
pub(crate) async fn list(State(dashboard): State<Arc<Dashboard>>) -> Json<Vec<PlanEntry>> {
    let source = &dashboard.plans.source;
    Json(
        source
            .names()
            .into_iter()
            .map(|name| match source.load(&name) {
                Ok(loaded) => PlanEntry {
                    description: loaded.root.description.clone(),
                    steps: loaded
                        .root
                        .steps
                        .iter()
                        .map(|s| format!("{} ({})", s.name, s.kind.word()))
                        .collect(),
                    name,
                    error: None,
                },
                Err(error) => PlanEntry {
                    name,
                    description: String::new(),
                    steps: Vec::new(),
                    error: Some(error),
                },
            })
            .collect(),
    )
}

/// Runs a plan (the page asked the person first); its steps show on the page as they run. A
/// plan that does not exist or load is a 422.
#[utoipa::path(
    post,
    path = "/actions/plan",
    tag = "dashboard",
    request_body = RunRequest,
    responses(
        (status = 202, description = "The run started", body = Accepted),
        (status = 409, description = "A plan is running", body = kit::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "No data-plane client for the world", body = kit::problem::ProblemDetails, content_type = "application/problem+json"),
        kit::docs::JsonBody,
    )
)]
pub(crate) async fn start(
    State(dashboard): State<Arc<Dashboard>>,
    JsonBody(request): JsonBody<RunRequest>,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let plans = &dashboard.plans;
    let loaded = plans.source.load(&request.plan).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-plan",
            "No such plan",
            e,
        )
    })?;
    {
        let mut run = plans.run();
        if run.as_ref().is_some_and(|r| r.running) {
            return Err(Problem::conflict("a plan is running: wait for it to end")
                .with_kind("plan-running"));
        }
        *run = Some(RunView {
            plan: request.plan.clone(),
            running: true,
            steps: loaded
                .root
                .all_steps()
                .iter()
                .map(|s| StepView {
                    name: s.name.clone(),
                    kind: s.kind.word().to_owned(),
                    state: "pending".into(),
                    detail: String::new(),
                })
                .collect(),
            waiting: None,
            outcome: None,
            report: None,
        });
    }
    let plane = DataPlane::from_manifest(dashboard.world.manifest(), ClientConfig::default())
        .map_err(|e| Problem::unavailable(format!("no data-plane client: {e}")))?;
    let events = {
        let dashboard = Arc::downgrade(&dashboard);
        Arc::new(move |event| {
            if let Some(dashboard) = dashboard.upgrade() {
                dashboard.plans.update(event);
            }
        })
    };
    let approval = {
        let dashboard = Arc::downgrade(&dashboard);
        Arc::new(move |step: String, _message: String| {
            let (answer, asked) = oneshot::channel();
            if let Some(dashboard) = dashboard.upgrade() {
                *dashboard
                    .plans
                    .approval
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some((step, answer));
            }
            Box::pin(async move { asked.await.unwrap_or(false) })
                as futures::future::BoxFuture<'static, bool>
        })
    };
    let weak = Arc::downgrade(&dashboard);
    tokio::spawn(async move {
        let options = RunOptions {
            events: Some(events),
            approval: Some(approval),
            ..RunOptions::default()
        };
        let report = failover::plan::run(&loaded, &plane, options).await;
        if let Some(dashboard) = weak.upgrade() {
            let plans = &dashboard.plans;
            if let Some(run) = plans.run().as_mut() {
                run.running = false;
                run.waiting = None;
                run.outcome = Some(report.headline());
                run.report = Some("/plans/report".into());
                for step in report.all_steps() {
                    if let Some(view) = run.steps.iter_mut().find(|s| s.name == step.name) {
                        view.state = state_of(step).into();
                        view.detail.clone_from(&step.detail);
                    }
                }
            }
            *plans.last_report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: format!("plan `{}` started", request.plan),
        }),
    ))
}

/// Answers the approval step waiting.
#[utoipa::path(
    post,
    path = "/actions/plan-approval",
    tag = "dashboard",
    request_body = ApprovalRequest,
    responses(
        (status = 200, description = "Answered", body = Accepted),
        (status = 409, description = "No approval of that step is waiting", body = kit::problem::ProblemDetails, content_type = "application/problem+json"),
        kit::docs::JsonBody,
    )
)]
pub(crate) async fn approve(
    State(dashboard): State<Arc<Dashboard>>,
    JsonBody(request): JsonBody<ApprovalRequest>,
) -> Result<Json<Accepted>, Problem> {
    let mut waiting = dashboard
        .plans
        .approval
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match waiting.take() {
        Some((step, answer)) if step == request.step => {
            let _ = answer.send(request.approve);
            Ok(Json(Accepted {
                message: format!(
                    "step `{step}` {}",
                    if request.approve {
                        "approved"
                    } else {
                        "declined"
                    }
                ),
            }))
        }
        other => {
            *waiting = other;
            Err(
                Problem::conflict(format!("no approval of step `{}` is waiting", request.step))
                    .with_kind("no-approval-waiting"),
            )
        }
    }
}

/// The last run's report, as Markdown.
#[utoipa::path(
    get,
    path = "/plans/report",
    tag = "dashboard",
    responses(
        (status = 200, description = "The last plan run's report (Markdown)", content_type = "text/markdown"),
        (status = 404, description = "No plan has run", body = kit::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn report(
    State(dashboard): State<Arc<Dashboard>>,
) -> Result<impl IntoResponse, Problem> {
    let last = dashboard
        .plans
        .last_report
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(PlanReport::markdown)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "no-plan-report",
                "No report",
                "no plan has run yet",
            )
        })?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        last,
    ))
}
