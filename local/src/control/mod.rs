//! The control API of the running local world: JSON over HTTP, with the dashboard at `/`. It
//! shows the state of every part and injects faults on demand: stop, degrade or restore an app
//! in a Region, take ARC endpoints or a Region's CloudWatch endpoint down or make them hang,
//! change the replication lag.
//!
//! Every route is added with its OpenAPI operation (`utoipa_axum::routes!`), so
//! `/openapi.json` documents each one the router serves, the dashboard's included. Every route
//! answers only requests addressed to the API's own address, and changes only for its own
//! page or a client that is no web page ([`origin_guard`]).

pub mod origin_guard;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::{Extension, Json, Router};
use kit::Problem;
use kit::extract::{Json as Body, Path};
use serde::Deserialize;
use tokio::task::JoinHandle;
use topology::{AppName, Region};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::faults::{AppFault, CloudWatchFault, EndpointFault};
use crate::replication::ReplicationStatus;
use crate::world::{AppState, World, WorldState};
use origin_guard::AllowedHosts;

#[derive(OpenApi)]
#[openapi(
    components(schemas(kit::problem::ProblemDetails, kit::FieldError)),
    info(
        title = "local world control API",
        description = "State and faults of the local world (`local-world run`), and its dashboard. Every route answers 421 (problem+json) to a request whose `Host` is not the API's own address or `localhost` (a page reaching it through another name, as in DNS rebinding), and a POST or PUT 403 when its `Origin` is another site."
    ),
    tags(
        (name = "world", description = "The world's state and the faults injected into it"),
        (name = "dashboard", description = "The page at `/`, its live view and its actions")
    )
)]
struct ApiDoc;

/// A new replication lag.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LagChange {
    pub lag_ms: u64,
}

/// The control API's OpenAPI document, as `/openapi.json` serves it.
#[derive(Clone)]
struct Document(Arc<str>);

/// The control API's router over `world`, with the dashboard at `/`, answering only requests
/// addressed to `listen` (see [`origin_guard`]).
pub fn router(world: Arc<World>, listen: SocketAddr) -> Router {
    let (router, document) = documented_routes(world);
    let document = Document(document.to_json().unwrap_or_default().into());
    router
        .layer(Extension(document))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(AllowedHosts::new(listen)),
            origin_guard::guard,
        ))
}

/// Every route with its OpenAPI operation: the router and the document that describes it.
pub fn documented_routes(world: Arc<World>) -> (Router, utoipa::openapi::OpenApi) {
    let dashboard = crate::dashboard::routes(world.clone());
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(get_state))
        .routes(routes!(app_fault))
        .routes(routes!(endpoint_fault))
        .routes(routes!(cloudwatch_fault))
        .routes(routes!(set_lag))
        .with_state(world)
        .merge(dashboard)
        .routes(routes!(openapi_json))
        .split_for_parts();
    origin_guard::document(&mut document);
    (router, document)
}

/// Serves the control API on the listener the world bound at start.
pub fn serve(world: Arc<World>) -> Option<JoinHandle<()>> {
    let listener = world.take_control_listener()?;
    let listen = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            tracing::warn!(%error, "the control API's listener has no address; not serving");
            return None;
        }
    };
    let app = router(world, listen);
    Some(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the control API stopped");
        }
    }))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "world",
    responses((status = 200, description = "The control API's OpenAPI document", content_type = "application/json"))
)]
async fn openapi_json(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    ([("content-type", "application/json")], json.to_string())
}

/// The state of every part of the world.
#[utoipa::path(get, path = "/state", tag = "world", responses((status = 200, body = WorldState)))]
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
    tag = "world",
    params(("app" = String, Path), ("region" = String, Path)),
    request_body = AppFault,
    responses(
        (status = 200, body = AppState),
        (status = 404, description = "unknown app or Region"),
        (status = 409, description = "`store_down` for an app with no store (the gateway)"),
        (status = 503, description = "`restore` could not listen on the instance's address again"),
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
/// restores it. `GET /state` shows the fault in the same words.
#[utoipa::path(
    post,
    path = "/faults/arc/{index}",
    tag = "world",
    params(("index" = usize, Path, description = "0-based, in manifest order")),
    request_body = EndpointFault,
    responses(
        (status = 200, body = WorldState),
        (status = 404, description = "no such endpoint"),
        (status = 503, description = "the endpoint could not listen on its address again"),
        kit::docs::JsonBody,
    )
)]
async fn endpoint_fault(
    State(world): State<Arc<World>>,
    Path(index): Path<usize>,
    Body(body): Body<EndpointFault>,
) -> Result<Json<WorldState>, Problem> {
    let Some(cluster) = world.cluster() else {
        return Err(Problem::not_found(format!(
            "this world has no ARC cluster: its failover mechanism is `{}` (CloudWatch endpoints: POST /faults/cloudwatch/{{region}})",
            world.mechanism()
        )));
    };
    let count = world.manifest().cluster().map_or(0, |c| c.endpoints.len());
    if index >= count {
        return Err(Problem::not_found(format!(
            "the cluster has {count} endpoints: 0 to {}",
            count.saturating_sub(1)
        )));
    }
    cluster
        .set_fault(index, body.into())
        .await
        .map_err(|e| Problem::unavailable(e.to_string()))?;
    Ok(Json(world.state().await))
}

/// Takes one Region's CloudWatch endpoint down, makes it hang, or restores it: the flags
/// published or read there, and the alarms read there, fail; the Region's alarms keep being
/// evaluated and the health checks on them see insufficient data (they keep their status).
/// `GET /state` shows the fault in the same words.
#[utoipa::path(
    post,
    path = "/faults/cloudwatch/{region}",
    tag = "world",
    params(("region" = String, Path, description = "A Region with a CloudWatch endpoint (`GET /state`'s `cloudwatch.endpoints`)")),
    request_body = CloudWatchFault,
    responses(
        (status = 200, body = WorldState),
        (status = 404, description = "no CloudWatch endpoint in that Region"),
        (status = 503, description = "the endpoint could not listen on its address again"),
        kit::docs::JsonBody,
    )
)]
async fn cloudwatch_fault(
    State(world): State<Arc<World>>,
    Path(region): Path<String>,
    Body(body): Body<CloudWatchFault>,
) -> Result<Json<WorldState>, Problem> {
    let endpoints = world.monitoring().endpoints();
    let region = region
        .parse::<Region>()
        .ok()
        .filter(|r| endpoints.iter().any(|e| e.region == *r))
        .ok_or_else(|| {
            let known: Vec<String> = endpoints.iter().map(|e| e.region.to_string()).collect();
            Problem::not_found(format!(
                "no CloudWatch endpoint in `{region}` (there is one in {})",
                known.join(", ")
            ))
        })?;
    world
        .monitoring()
        .set_fault(&region, body.into())
        .await
        .map_err(|e| Problem::unavailable(e.to_string()))?;
    Ok(Json(world.state().await))
}

/// Changes the replication lag between the Regions' tables.
#[utoipa::path(
    put,
    path = "/replication/lag",
    tag = "world",
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
