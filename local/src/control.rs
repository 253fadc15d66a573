//! The control API of the running local world: JSON over HTTP, its own OpenAPI document at
//! `/openapi.json`. It shows the state of every part and injects faults on demand: stop,
//! degrade or restore an app in a Region, take ARC endpoints down or make them hang, change
//! the replication lag.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use kit::Problem;
use kit::extract::{Json as Body, Path};
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
#[openapi(
    components(schemas(kit::problem::ProblemDetails, kit::FieldError)),
    info(
        title = "local world control API",
        description = "State and faults of the local world (`local-world run`)."
    )
)]
struct ApiDoc;

/// A fault for one app's instance in one Region: `{"fault": "stop"}`,
/// `{"fault": "degrade", "latency_ms": 300, "error_rate": 0.25}`. The field is `fault`, as for
/// ARC endpoints; `action`, its former name, is still read.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "fault")]
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

impl AppFault {
    /// The fault a body names, reading the former field name `action` when `fault` is
    /// absent. A body that is not one is a 422 naming the field.
    fn from_body(mut body: serde_json::Value) -> Result<Self, Problem> {
        if let Some(map) = body.as_object_mut()
            && !map.contains_key("fault")
            && let Some(action) = map.remove("action")
        {
            map.insert("fault".into(), action);
        }
        serde_json::from_value(body)
            .map_err(|e| Problem::validation(vec![kit::FieldError::new("fault", e.to_string())]))
    }
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
    responses(
        (status = 200, body = AppState),
        (status = 404, description = "unknown app or Region"),
        kit::docs::JsonBody,
    )
)]
async fn app_fault(
    State(world): State<Arc<World>>,
    Path((app, region)): Path<(String, String)>,
    Body(body): Body<serde_json::Value>,
) -> Result<impl IntoResponse, Problem> {
    let (app, region) = parse_app_region(&world, &app, &region)?;
    let fault = AppFault::from_body(body)?;
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
    responses(
        (status = 200, body = WorldState),
        (status = 404, description = "no such endpoint"),
        kit::docs::JsonBody,
    )
)]
async fn endpoint_fault(
    State(world): State<Arc<World>>,
    Path(index): Path<usize>,
    Body(body): Body<EndpointFault>,
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
    responses((status = 200, body = ReplicationStatus), kit::docs::JsonBody)
)]
async fn set_lag(
    State(world): State<Arc<World>>,
    Body(change): Body<LagChange>,
) -> Json<ReplicationStatus> {
    world
        .replicator()
        .set_lag(Duration::from_millis(change.lag_ms));
    Json(world.replicator().status())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_faults_are_named_by_fault_and_still_by_action() {
        assert!(matches!(
            AppFault::from_body(json!({"fault": "stop"})),
            Ok(AppFault::Stop)
        ));
        assert!(matches!(
            AppFault::from_body(json!({"action": "store_down"})),
            Ok(AppFault::StoreDown)
        ));
        let d =
            AppFault::from_body(json!({"fault": "degrade", "latency_ms": 5, "error_rate": 0.5}));
        assert!(matches!(d, Ok(AppFault::Degrade(_))), "{d:?}");
    }

    #[test]
    fn a_body_that_is_no_fault_is_a_422_naming_the_field() {
        for bad in [
            json!({}),
            json!({"fault": "explode"}),
            json!({"action": 3}),
            json!([]),
        ] {
            let problem = AppFault::from_body(bad.clone()).unwrap_err();
            assert_eq!(problem.status.as_u16(), 422, "{bad}");
            assert_eq!(problem.errors[0].field, "fault", "{bad}");
        }
    }
}
