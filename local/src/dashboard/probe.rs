//! The page's light probe: a `loadtest` run against every app (resolving through the world's
//! Route 53, as a client does), sampled into bins of responses per Region for the chart.
//!
//! The live view counts responses per app, not per Region: a sample's new successes go to the
//! Regions that answered in the live window (split evenly while both did), which is exact
//! except for the few samples when an app's traffic is moving.

use std::collections::VecDeque;
use std::time::Duration;

use loadtest::{AppLive, BearerToken, ConfigError, LiveView, Run, RunConfig, Scenario};
use serde::Serialize;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use super::TICK;

/// Requests per second per app: enough to chart shares, light enough to run beside a demo.
pub const PROBE_RATE_PER_APP: u32 = 20;
/// The chart's resolution.
pub const BIN: Duration = Duration::from_millis(500);
/// The chart's width: 30 s.
pub const BINS_KEPT: usize = 60;
/// How long the probe's token lives: it probes until stopped, for a workshop's day.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Responses of one bin: per Region (primary first), and errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bin {
    pub served: [u64; 2],
    pub errors: u64,
}

/// One app's traffic, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppTraffic {
    pub app: AppName,
    /// The Region of every successful response in the live window.
    pub serving: Option<Region>,
    /// The Regions that answered in the live window: two while traffic moves.
    pub recent: Vec<Region>,
    /// Responses in the last full second.
    pub rate: u64,
    pub requests: u64,
    pub errors: u64,
    /// Oldest first; the last one is still filling.
    pub bins: Vec<Bin>,
}

/// The running probe and its chart.
pub(crate) struct Probe {
    run: Run,
    regions: [Region; 2],
    previous: Option<LiveView>,
    /// Per app (in the run's order), the bins, the newest last.
    bins: Vec<VecDeque<Bin>>,
    samples: u64,
}

impl Probe {
    /// Starts probing every app of `manifest`, sending `token` (a token for the `api` app,
    /// with auth on) as a client of the API would.
    pub(crate) fn start(manifest: &Manifest, token: Option<String>) -> Result<Self, ConfigError> {
        let config = RunConfig {
            rate_per_app: PROBE_RATE_PER_APP,
            scenario: Scenario::Probe,
            bearer_token: token.as_deref().and_then(|t| BearerToken::new(t).ok()),
            ..RunConfig::default()
        };
        let run = Run::start(manifest, config)?;
        let [primary, secondary] = manifest.regions.both();
        Ok(Self {
            run,
            regions: [primary.clone(), secondary.clone()],
            previous: None,
            bins: vec![VecDeque::from([Bin::default()]); manifest.apps.len()],
            samples: 0,
        })
    }

    /// Takes one sample (every [`TICK`]): adds what came since the last one to the open bins,
    /// and opens new bins every [`BIN`].
    pub(crate) fn sample(&mut self) -> Vec<AppTraffic> {
        let live = self.run.live();
        let per_bin = (BIN.as_millis() / TICK.as_millis()).max(1) as u64;
        self.samples += 1;
        let open_new = self.samples.is_multiple_of(per_bin);
        let traffic = live
            .apps
            .iter()
            .zip(self.bins.iter_mut())
            .map(|(app, bins)| {
                let before = self.previous.as_ref().and_then(|p| p.app(&app.app));
                if let Some(bin) = bins.back_mut() {
                    add(bin, &self.regions, before, app);
                }
                let traffic = AppTraffic {
                    app: app.app.clone(),
                    serving: app.current_region.clone(),
                    recent: app.recent_regions.clone(),
                    rate: app.rate,
                    requests: app.requests,
                    errors: app.errors,
                    bins: bins.iter().cloned().collect(),
                };
                if open_new {
                    bins.push_back(Bin::default());
                    while bins.len() > BINS_KEPT {
                        bins.pop_front();
                    }
                }
                traffic
            })
            .collect();
        self.previous = Some(live);
        traffic
    }

    /// Stops sending and waits for the requests in flight.
    pub(crate) async fn stop(self) {
        let _report = self.run.stop().await;
    }
}

/// Adds the responses `now` has beyond `before` to `bin`.
fn add(bin: &mut Bin, regions: &[Region; 2], before: Option<&AppLive>, now: &AppLive) {
    let (requests, errors) = before.map_or((0, 0), |b| (b.requests, b.errors));
    let errors = now.errors.saturating_sub(errors);
    let successes = now.requests.saturating_sub(requests).saturating_sub(errors);
    bin.errors += errors;
    let answered: Vec<usize> = if now.recent_regions.is_empty() {
        now.last_region.iter().collect::<Vec<_>>()
    } else {
        now.recent_regions.iter().collect()
    }
    .into_iter()
    .filter_map(|r| regions.iter().position(|known| known == r))
    .collect();
    let Some(&first) = answered.first() else {
        return;
    };
    let share = successes / answered.len() as u64;
    for &i in &answered {
        bin.served[i] += share;
    }
    // What the even split leaves goes to the first Region listed.
    bin.served[first] += successes - share * answered.len() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str) -> Region {
        name.parse().unwrap()
    }

    fn live(requests: u64, errors: u64, recent: &[&str]) -> AppLive {
        AppLive {
            app: "orders".parse().unwrap(),
            current_region: (recent.len() == 1).then(|| region(recent[0])),
            last_region: recent.last().map(|r| region(r)),
            recent_regions: recent.iter().map(|r| region(r)).collect(),
            rate: 0,
            sent: requests,
            requests,
            errors,
            late: 0,
            not_sent: 0,
            stale_connection_responses: 0,
            switches: 0,
            last_switch: None,
        }
    }

    #[test]
    fn new_responses_go_to_the_regions_that_answered() {
        let regions = [region("us-east-1"), region("us-west-2")];
        let mut bin = Bin::default();
        add(&mut bin, &regions, None, &live(10, 0, &["us-east-1"]));
        assert_eq!(bin.served, [10, 0]);
        let before = live(10, 0, &["us-east-1"]);
        add(
            &mut bin,
            &regions,
            Some(&before),
            &live(17, 2, &["us-west-2", "us-east-1"]),
        );
        assert_eq!(bin.errors, 2);
        assert_eq!(
            bin.served,
            [10 + 2, 3],
            "5 successes split, the odd one first"
        );
    }
}
