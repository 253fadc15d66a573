//! The control API of the running local world: JSON over HTTP, its own OpenAPI document at
//! `/openapi.json`. It shows the state of every part and injects faults on demand: stop,
//! degrade or restore an app in a Region, take ARC endpoints down or make them hang, change
//! the replication lag.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use kit::Problem;
use local_arc::Fault;
use serde::Deserialize;
use tokio::task::JoinHandle;
use topology::{AppName, Region};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::instance::Degradation;
use super::replication::ReplicationStatus;
use super::world::{AppState, World, WorldState};

#[derive(OpenApi)]
#[openapi(info(
    title = "local world control API",
    description = "State and faults of the local world (`local-world run`)."
))]
struct ApiDoc;

/// A fault for one app's instance in one Region.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum AppFault {
    /// Close the listener: connections are refused.
    Stop,
    /// Add latency and/or answer a share of requests with 503.
    Degrade(Degradation),
    /// Switch the app's table in this Region off: every store call fails, `/health` answers
    /// 503, replication into it waits.
    StoreDown,
    /// Serve again, without degradation, with the table on.
    Restore,
}

/// What one ARC cluster endpoint does: `{"fault": "down"}`, `{"fault": "slow", "delay_ms": 500}`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "fault")]
pub enum EndpointFault {
    /// Serve normally.
    None,
    /// Refuse connections (counts against the quorum).
    Down,
    /// Accept connections and never answer.
    Hang,
    /// Answer after a delay.
    Slow { delay_ms: u64 },
    /// Answer every request with a 500 InternalServerException.
    Error,
    /// Answer every request with a 429 ThrottlingException.
    Throttle,
}

impl From<EndpointFault> for Fault {
    fn from(fault: EndpointFault) -> Self {
        match fault {
            EndpointFault::None => Fault::None,
            EndpointFault::Down => Fault::Down,
            EndpointFault::Hang => Fault::Hang,
            EndpointFault::Slow { delay_ms } => Fault::Slow(Duration::from_millis(delay_ms)),
            EndpointFault::Error => Fault::Error,
            EndpointFault::Throttle => Fault::Throttle,
        }
    }
}

/// A new replication lag.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LagChange {
    pub lag_ms: u64,
}

/// The control API's router over `world`, with the dashboard at `/`.
pub fn router(world: Arc<World>) -> Router {
    let dashboard = super::dashboard::router(world.clone());
    let (router, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(get_state))
        .routes(routes!(app_fault))
        .routes(routes!(endpoint_fault))
        .routes(routes!(set_lag))
        .with_state(world)
        .split_for_parts();
    let spec = spec.to_json().unwrap_or_default();
    router.merge(dashboard).route(
        "/openapi.json",
        axum::routing::get(move || async move {
            ([("content-type", "application/json")], spec.clone())
        }),
    )
}

/// Serves the control API on the listener the world bound at start.
pub fn serve(world: Arc<World>) -> Option<JoinHandle<()>> {
    let listener = world.take_control_listener()?;
    let app = router(world);
    Some(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the control API stopped");
        }
    }))
}

/// The state of every part of the world.
#[utoipa::path(get, path = "/state", responses((status = 200, body = WorldState)))]
async fn get_state(State(world): State<Arc<World>>) -> Json<WorldState> {
    Json(world.state().await)
}

fn parse_app_region(world: &World, app: &str, region: &str) -> Result<(AppName, Region), Problem> {
    let app: AppName = app
        .parse()
        .map_err(|e| Problem::not_found(format!("{e}")))?;
    let region: Region = region
        .parse()
        .map_err(|e| Problem::not_found(format!("{e}")))?;
    if world.instance(&app, &region).is_none() {
        return Err(Problem::not_found(format!(
            "no instance of `{app}` in `{region}` in this world"
        )));
    }
    Ok((app, region))
}

/// Stops, degrades, takes the store down, or restores one app in one Region.
#[utoipa::path(
    post,
    path = "/faults/apps/{app}/{region}",
    params(("app" = String, Path), ("region" = String, Path)),
    request_body = AppFault,
    responses((status = 200, body = AppState), (status = 404, description = "unknown app or Region"))
)]
async fn app_fault(
    State(world): State<Arc<World>>,
    Path((app, region)): Path<(String, String)>,
    Json(fault): Json<AppFault>,
) -> Result<impl IntoResponse, Problem> {
    let (app, region) = parse_app_region(&world, &app, &region)?;
    let instance = world.instance(&app, &region).expect("checked above");
    match fault {
        AppFault::Stop => instance.stop().await,
        AppFault::Degrade(d) => {
            if !(0.0..=1.0).contains(&d.error_rate) {
                return Err(Problem::validation(vec![kit::FieldError::new(
                    "error_rate",
                    "must be between 0.0 and 1.0",
                )]));
            }
            instance.degrade(d);
        }
        AppFault::StoreDown => match world.table(&app, &region) {
            Some(table) => table.set_available(false),
            None => {
                return Err(Problem::conflict(format!(
                    "`{app}` has no table: only services have a store"
                )));
            }
        },
        AppFault::Restore => {
            if let Some(table) = world.table(&app, &region) {
                table.set_available(true);
            }
            instance
                .restore()
                .await
                .map_err(|e| Problem::unavailable(e.to_string()))?;
        }
    }
    let state = world.state().await;
    let app_state = state.apps.into_iter().find(|a| a.app == app);
    Ok(Json(app_state))
}

/// Takes one ARC cluster endpoint down, makes it hang, slow, failing or throttling, or
/// restores it.
#[utoipa::path(
    post,
    path = "/faults/arc/{index}",
    params(("index" = usize, Path, description = "0-based, in manifest order")),
    request_body = EndpointFault,
    responses((status = 200, body = WorldState), (status = 404, description = "no such endpoint"))
)]
async fn endpoint_fault(
    State(world): State<Arc<World>>,
    Path(index): Path<usize>,
    Json(body): Json<EndpointFault>,
) -> Result<Json<WorldState>, Problem> {
    let count = world.manifest().cluster.endpoints.len();
    if index >= count {
        return Err(Problem::not_found(format!(
            "the cluster has {count} endpoints (0..{count})"
        )));
    }
    world
        .cluster()
        .set_fault(index, body.into())
        .await
        .map_err(|e| Problem::unavailable(e.to_string()))?;
    Ok(Json(world.state().await))
}

/// Changes the replication lag between the Regions' tables.
#[utoipa::path(
    put,
    path = "/replication/lag",
    request_body = LagChange,
    responses((status = 200, body = ReplicationStatus))
)]
async fn set_lag(
    State(world): State<Arc<World>>,
    Json(change): Json<LagChange>,
) -> Json<ReplicationStatus> {
    world
        .replicator()
        .set_lag(Duration::from_millis(change.lag_ms));
    Json(world.replicator().status())
}
