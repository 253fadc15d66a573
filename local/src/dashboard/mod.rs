//! The dashboard: a page at the control API's `/` that shows the running world live and drives
//! it, for a failover drill watched on a projector.
//!
//! The server samples the world every [`TICK`] and pushes the result to every open page as a
//! server-sent event (`GET /events`) when it changed, so any number of pages cost one sampler
//! and no polling. The page's buttons take the same paths a user's tools take: shifts,
//! evacuations and routing control changes call [`failover::Client`] against the ARC cluster's
//! data plane (safety rules and quorum loss refuse them exactly as the `failover` CLI is
//! refused); with the `health-check` mechanism shifts, evacuations and single flags are
//! published into the local CloudWatch with the AWS SDK; faults and the replication lag go to
//! the control API's own routes.
//!
//! The page shows the mechanism's state (routing controls and the ARC quorum, or each flag
//! with its alarm and health check), the CloudWatch endpoints with their faults, and every
//! app's alarms.
//!
//! - `view`: what the page shows, computed from the world;
//! - `timeline`: the events, found by comparing successive samples, and the page's actions;
//! - `event`: one entry of the timeline;
//! - `probe`: light traffic the page can start, to chart which Region serves each app;
//! - `actions`: the routes the page's buttons post to;
//! - `plans`: the failover plans the page lists and runs, with their approvals and report.
//!
//! The page's HTML, CSS and JavaScript are built into the binary: it needs no network.

mod actions;
mod event;
mod plans;
mod probe;
mod timeline;
mod view;

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use futures::Stream;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::moves::Mover;
use crate::world::World;
use probe::Probe;
use timeline::Timeline;

pub use event::{EventKind, TimelineEvent};
pub use plans::{RunView, StepView, Waiting};
pub use probe::Bin;
pub use view::{
    AppView, ArcView, CloudWatchEndpointView, CloudWatchView, EndpointView, ProbeView, Quorum,
    QuorumHealth, RegionView, View,
};

/// How often the server samples the world. A quarter second keeps a traffic move visible on
/// the page well within the failover bound (TTL + health-check interval + 1 s, and an alarm
/// period with the `health-check` mechanism).
pub const TICK: Duration = Duration::from_millis(250);

const INDEX_HTML: &str = include_str!("assets/index.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const APP_JS: &str = include_str!("assets/app.js");

/// What the dashboard's routes share.
pub(crate) struct Dashboard {
    world: Arc<World>,
    /// The mechanism's data-plane client, or why it could not be made (the actions then
    /// answer 503).
    mover: Result<Mover, String>,
    probe: Mutex<Option<Probe>>,
    timeline: Mutex<Timeline>,
    /// The latest view as JSON; every open page subscribes.
    views: watch::Sender<Arc<str>>,
    /// The plans the page runs.
    plans: plans::Plans,
}

impl Dashboard {
    fn probe(&self) -> MutexGuard<'_, Option<Probe>> {
        self.probe.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn mover(&self) -> Result<&Mover, kit::Problem> {
        self.mover
            .as_ref()
            .map_err(|e| kit::Problem::unavailable(format!("no data-plane client: {e}")))
    }

    fn timeline(&self) -> MutexGuard<'_, Timeline> {
        self.timeline.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Samples the world once and publishes the view when it changed.
    async fn refresh(&self) {
        let state = self.world.state().await;
        let traffic = self.probe().as_mut().map(Probe::sample);
        let mut view = View::new(&self.world, state, traffic);
        {
            let mut timeline = self.timeline();
            timeline.observe(&view);
            view.events = timeline.events();
        }
        view.plan = self.plans.view();
        match serde_json::to_string(&view) {
            Ok(json) => {
                self.views.send_if_modified(|current| {
                    let changed = **current != *json;
                    if changed {
                        *current = json.into();
                    }
                    changed
                });
            }
            Err(error) => tracing::warn!(%error, "cannot serialize the dashboard's view"),
        }
    }
}

/// The dashboard's routes over `world`, each with its OpenAPI operation: the page (`/` and
/// `/assets/...`), its events (`/events`) and its actions (`/actions/...`). Starts the sampler
/// (on the current Tokio runtime), which ends when the routes are dropped.
pub fn routes(world: Arc<World>) -> OpenApiRouter {
    let mover = Mover::from_manifest(world.manifest()).map_err(|e| e.to_string());
    let (views, _) = watch::channel(Arc::from(""));
    let dashboard = Arc::new(Dashboard {
        world,
        mover,
        probe: Mutex::new(None),
        timeline: Mutex::new(Timeline::default()),
        views,
        plans: plans::Plans::new(),
    });
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn(sample(Arc::downgrade(&dashboard)))),
        Err(_) => tracing::warn!("no Tokio runtime: the dashboard will show no updates"),
    }
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(style))
        .routes(routes!(script))
        .routes(routes!(events))
        .routes(routes!(actions::shift))
        .routes(routes!(actions::evacuate))
        .routes(routes!(actions::routing_control))
        .routes(routes!(actions::flag))
        .routes(routes!(actions::probe))
        .routes(routes!(plans::list))
        .routes(routes!(plans::start))
        .routes(routes!(plans::approve))
        .routes(routes!(plans::report))
        .with_state(dashboard)
}

/// Samples until the dashboard is gone. Holds it only during a sample, so dropping the routes
/// (the control API stopping) ends the loop and releases the world.
async fn sample(dashboard: Weak<Dashboard>) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let Some(dashboard) = dashboard.upgrade() else {
            return;
        };
        dashboard.refresh().await;
    }
}

/// The dashboard page.
#[utoipa::path(
    get,
    path = "/",
    tag = "dashboard",
    responses((status = 200, description = "The dashboard's HTML page", content_type = "text/html"))
)]
async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

/// The page's style sheet.
#[utoipa::path(
    get,
    path = "/assets/style.css",
    tag = "dashboard",
    responses((status = 200, description = "CSS", content_type = "text/css"))
)]
async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
}

/// The page's script.
#[utoipa::path(
    get,
    path = "/assets/app.js",
    tag = "dashboard",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript"))
)]
async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
}

/// The view now (once the first sample is in), then every changed view, as `view` events.
/// The stream holds no reference to the dashboard: it ends when the dashboard is dropped.
#[utoipa::path(
    get,
    path = "/events",
    tag = "dashboard",
    responses((
        status = 200,
        description = "Server-sent events: each `view` event's data is the world as the page draws it (JSON: the mechanism, apps, routing controls or flags with their alarms and health checks, DNS answers, ARC endpoints and quorum, CloudWatch endpoints and every app's alarms, replication, the probe's traffic, the timeline), sent when it changed, at most every 250 ms",
        content_type = "text/event-stream"
    ))
)]
async fn events(
    State(dashboard): State<Arc<Dashboard>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut receiver = dashboard.views.subscribe();
    receiver.mark_changed();
    drop(dashboard);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            receiver.changed().await.ok()?;
            let json = receiver.borrow_and_update().clone();
            if !json.is_empty() {
                let event = Event::default().event("view").data(&*json);
                return Some((Ok(event), receiver));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
