//! A DNS-aware traffic generator that proves a failover happened, when, and what it cost.
//!
//! It resolves each app's hostname as a real client does (through the manifest's DNS server in
//! the local world, the system's resolvers on AWS, answers cached for their TTL), keeps
//! connections alive up to a maximum age, sends requests on an open-loop schedule, and
//! attributes every response to the Region that served it (`x-region`). The report counts
//! requests and errors by kind, measures latency, finds the Region switches with their mixed
//! windows, and, in the consistency scenario, every acknowledged write not found in every
//! Region by the end, as pending (found in some Region) or lost (found in none). Every request
//! due is accounted for: completed, not sent, or in flight at the end.
//!
//! The `mixed` and `consistency` scenarios know no service by name: each run reads every
//! app's `GET /openapi.json` and derives its traffic from it. [`consistency::check`] is a
//! consistency check of one service across both Regions (writes in one, reads from both,
//! last writer wins), for drills.
//!
//! ```no_run
//! # async fn demo(manifest: topology::manifest::Manifest) -> Result<(), Box<dyn std::error::Error>> {
//! use loadtest::{Run, RunConfig, Scenario};
//! let run = Run::start(&manifest, RunConfig { rate_per_app: 50, scenario: Scenario::Probe, ..RunConfig::default() })?;
//! run.mark("shift orders -> us-west-2");
//! let live = run.live();
//! let report = run.stop().await;
//! let (json, svg) = report.write(".local/report")?;
//! println!("{}", report.summary_table());
//! # Ok(()) }
//! ```

mod client;
mod config;
pub mod consistency;
mod discover;
mod error;
mod openapi;
mod output;
mod report;
mod run;
mod scenario;
mod stats;
mod summary;
mod target;
mod timeline;
pub mod token;
mod tracker;

pub use client::ErrorKind;
pub use config::{ConnectionReuse, RunConfig, Scenario, parse_duration};
pub use error::ConfigError;
pub use report::{
    AppReport, ConsistencyReport, Counts, ErrorCounts, Latency, Mark, REPORT_SCHEMA_VERSION,
    Report, Second, Settings, Switch, UnfoundWrite,
};
pub use run::{AppLive, LiveSwitch, LiveView, Run};
pub use token::BearerToken;
