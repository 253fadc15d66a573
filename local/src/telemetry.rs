//! Log output of `local-world`, in one place: warnings and errors on stderr (a write fence
//! failing open, an instance that cannot serve, the control API stopping), so that stdout
//! keeps the world's description and the demo's report. `RUST_LOG` overrides the level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is not set: what needs a person's attention, not every request.
pub const DEFAULT_FILTER: &str = "warn";

/// The demo's filter when `RUST_LOG` is not set: [`DEFAULT_FILTER`] without the apps'
/// per-request failures (the gateway's failed upstream calls, every 5xx answer). The drill
/// stops a service on purpose and counts those failures itself; logged, they would bury its
/// report. `RUST_LOG=warn` shows them.
pub const DEMO_FILTER: &str = "warn,gateway=error,tower_http=off";

/// Installs the global subscriber, writing to stderr, with `default` as the filter unless
/// `RUST_LOG` sets one; a second call is a no-op.
pub fn init(default: &str) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), default);
    let result = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    // Already initialised (a host that set its own): keep that one.
    drop(result);
}

/// `RUST_LOG`'s filter, or `default` when it is unset, empty or not a filter (said on stderr,
/// since no logger exists yet to say it).
fn filter(rust_log: Option<&str>, default: &str) -> EnvFilter {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => EnvFilter::new(default),
        Some(directives) => EnvFilter::try_new(directives).unwrap_or_else(|error| {
            eprintln!("RUST_LOG={directives:?} is not a log filter ({error}); using `{default}`");
            EnvFilter::new(default)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_by_default_and_rust_log_overrides() {
        assert_eq!(filter(None, DEFAULT_FILTER).to_string(), "warn");
        assert_eq!(filter(Some("  "), DEFAULT_FILTER).to_string(), "warn");
        assert_eq!(
            filter(Some("local_world=debug"), DEFAULT_FILTER).to_string(),
            "local_world=debug"
        );
        assert_eq!(
            filter(Some("not a [filter"), DEFAULT_FILTER).to_string(),
            "warn"
        );
    }

    #[test]
    fn the_demo_leaves_out_only_the_apps_per_request_failures() {
        let demo = filter(None, DEMO_FILTER).to_string();
        for directive in ["warn", "gateway=error", "tower_http=off"] {
            assert!(demo.split(',').any(|d| d == directive), "{demo}");
        }
        assert_eq!(filter(Some("info"), DEMO_FILTER).to_string(), "info");
    }
}
