//! The live view: what the traffic looks like right now, per app.

use std::time::Duration;

use topology::{AppName, Region};

use super::Run;

/// What the traffic looks like right now, per app.
#[derive(Debug, Clone)]
pub struct LiveView {
    /// Time since the run started.
    pub elapsed: Duration,
    pub apps: Vec<AppLive>,
}

impl LiveView {
    /// The live state of `app`.
    pub fn app(&self, app: &AppName) -> Option<&AppLive> {
        self.apps.iter().find(|a| a.app == *app)
    }
}

/// One app's live state.
#[derive(Debug, Clone)]
pub struct AppLive {
    pub app: AppName,
    /// The Region every successful response of the last `live_window` came from; `None` while
    /// responses come from both Regions, or none succeed.
    pub current_region: Option<Region>,
    /// The Region of the latest successful response.
    pub last_region: Option<Region>,
    /// Every Region that answered successfully in the last `live_window`: two while the
    /// traffic is mixed, none while nothing succeeds.
    pub recent_regions: Vec<Region>,
    /// Requests completed in the last full second.
    pub rate: u64,
    /// Requests sent so far; `sent - requests` are in flight.
    pub sent: u64,
    /// Requests completed so far.
    pub requests: u64,
    pub errors: u64,
    pub late: u64,
    pub not_sent: u64,
    /// Responses over kept-alive connections to an address DNS no longer answers.
    pub stale_connection_responses: u64,
    /// Completed Region switches so far.
    pub switches: usize,
    /// The latest completed switch.
    pub last_switch: Option<LiveSwitch>,
}

/// A completed Region switch, as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSwitch {
    /// The first response from `to`, since the run's start.
    pub at: Duration,
    pub from: Region,
    pub to: Region,
}

impl Run {
    /// What the traffic looks like now.
    pub fn live(&self) -> LiveView {
        let now = self.shared.start.elapsed();
        let window = self.shared.config.live_window;
        let name = |i: Option<usize>| i.and_then(|i| self.shared.regions.get(i));
        let apps = self
            .shared
            .apps
            .iter()
            .map(|a| {
                let s = a.stats();
                AppLive {
                    app: a.target.app.clone(),
                    current_region: name(s.current_region(now, window)),
                    last_region: name(s.last_region),
                    recent_regions: s
                        .recent_regions(now, window)
                        .into_iter()
                        .filter_map(|i| self.shared.regions.get(i))
                        .collect(),
                    rate: s.recent_rate(now),
                    sent: a.sent.load(std::sync::atomic::Ordering::Relaxed),
                    requests: s.requests,
                    errors: s.error_total(),
                    late: s.late,
                    not_sent: s.not_sent,
                    stale_connection_responses: s.stale_connection,
                    switches: s.switches.done.len(),
                    last_switch: s.switches.done.last().and_then(|w| {
                        Some(LiveSwitch {
                            at: w.at,
                            from: name(Some(w.from))?,
                            to: name(Some(w.to))?,
                        })
                    }),
                }
            })
            .collect();
        LiveView { elapsed: now, apps }
    }
}
