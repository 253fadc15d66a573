//! What a run does: which apps, how hard, which scenario, and how the client behaves.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use topology::AppName;

use crate::error::ConfigError;
use crate::token::BearerToken;

/// The traffic a run sends to each app (the CLI's `--scenario`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// `GET /` on each app.
    #[default]
    Probe,
    /// Creates, reads, listings and updates derived from each service's `/openapi.json`, on
    /// its own URL and through each gateway that routes to it.
    Mixed,
    /// Creates whose every acknowledgement is read back from each Region: writes still
    /// pending and writes lost are reported apart, and a lost write fails the run.
    Consistency,
}

impl Scenario {
    /// The scenario's name as the CLI and the report spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::Mixed => "mixed",
            Self::Consistency => "consistency",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kept-alive connection a request may reuse (the CLI's `--connection-reuse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionReuse {
    /// Any idle connection to the app's hostname, whatever address it was opened to: what
    /// hyper, reqwest, browsers and most SDKs do. After a DNS change such a connection keeps
    /// reaching the old Region until it is older than the maximum connection age
    /// (`--max-connection-age`, `RunConfig::max_connection_age`).
    #[default]
    PerHost,
    /// Only an idle connection to the address DNS answers now: a client that follows every
    /// DNS change at once (an upper bound on how fast clients can move).
    PerAddress,
}

/// A run's settings. `RunConfig::default()` probes every app of the manifest at 20 requests/s
/// until stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The apps to send traffic to; empty means every app of the manifest.
    pub apps: Vec<AppName>,
    /// Requests per second per app, sent on a fixed schedule (open loop).
    pub rate_per_app: u32,
    /// How long to send; `None` runs until [`crate::Run::stop`].
    pub duration: Option<Duration>,
    /// What the requests do.
    pub scenario: Scenario,
    /// Requests in flight per app at most. A request due while the cap is reached waits for a
    /// slot and is counted as late; one that could not start within `request_timeout` of its
    /// due time is counted as not sent.
    pub max_in_flight: usize,
    /// Connect, send and read the whole response within this, else the request is a timeout.
    pub request_timeout: Duration,
    /// A kept-alive connection older than this is closed instead of reused; zero disables
    /// reuse (a new connection per request). Every request resolves the name (from the
    /// cache while the TTL lasts), so the report can tell responses over stale connections.
    pub max_connection_age: Duration,
    /// Which idle connection a request may reuse.
    pub connection_reuse: ConnectionReuse,
    /// The live view's "current Region" is the Region of all of an app's successful responses
    /// in this trailing window; also how long a Region must stay silent before a switch away
    /// from it is considered complete.
    pub live_window: Duration,
    /// How long [`crate::Run::stop`] waits for requests in flight; those still without an
    /// outcome then are counted `in_flight_at_end`. Each request is bounded by
    /// `request_timeout`, so a grace above it counts only requests that are stuck.
    pub stop_grace: Duration,
    /// Consistency scenario: how long after the run stops unfound writes are still looked for.
    pub consistency_grace: Duration,
    /// Consistency scenario: how often an unfound write is read again.
    pub read_back_interval: Duration,
    /// PEM files of certificate authorities to trust for `https` apps, besides the system's.
    pub extra_root_certificates: Vec<PathBuf>,
    /// Sent as `Authorization: Bearer` on every request: what the `api` app's routes need
    /// while its `[auth]` is on.
    pub bearer_token: Option<BearerToken>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            apps: Vec::new(),
            rate_per_app: 20,
            duration: None,
            scenario: Scenario::Probe,
            max_in_flight: 256,
            request_timeout: Duration::from_secs(2),
            max_connection_age: Duration::from_millis(500),
            connection_reuse: ConnectionReuse::PerHost,
            live_window: Duration::from_millis(400),
            stop_grace: Duration::from_millis(2500),
            consistency_grace: Duration::from_secs(5),
            read_back_interval: Duration::from_millis(100),
            extra_root_certificates: Vec::new(),
            bearer_token: None,
        }
    }
}

impl RunConfig {
    /// Refuses settings that cannot make a run.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.rate_per_app == 0 {
            return Err(ConfigError::Invalid(
                "the rate must be at least 1 request/s".into(),
            ));
        }
        if self.max_in_flight == 0 {
            return Err(ConfigError::Invalid(
                "max_in_flight must be at least 1".into(),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "the request timeout must be above zero".into(),
            ));
        }
        if self.live_window.is_zero() {
            return Err(ConfigError::Invalid(
                "the live window must be above zero".into(),
            ));
        }
        Ok(())
    }
}

/// Parses `500ms`, `30s`, `2m`, `1h` or a bare number of seconds (the topology's syntax).
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    topology::duration::parse(text).map_err(|_| ConfigError::Duration(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "10x", "-1s", "1e999"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scenarios_round_trip() {
        use clap::ValueEnum;
        for s in Scenario::value_variants() {
            assert_eq!(Scenario::from_str(s.as_str(), false).unwrap(), *s);
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, s.as_str(), "the report spells it as the CLI does");
        }
        for r in ConnectionReuse::value_variants() {
            let name = r.to_possible_value().unwrap();
            assert_eq!(serde_json::to_value(r).unwrap(), name.get_name());
        }
        assert!(Scenario::from_str("chaos", false).is_err());
    }

    #[test]
    fn a_zero_rate_is_refused() {
        let config = RunConfig {
            rate_per_app: 0,
            ..RunConfig::default()
        };
        assert!(config.check().is_err());
        assert!(RunConfig::default().check().is_ok());
    }
}
