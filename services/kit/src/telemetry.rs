//! Logging set-up, in one place: human-readable lines locally, JSON lines under Lambda (for
//! CloudWatch Logs Insights). `RUST_LOG` overrides the default level. Request and response
//! bodies and headers are never logged; the request span carries method, path and request id.
//!
//! `RUST_LOG` takes a default level and `target=level` directives (`warn,kit=debug`): the
//! `Targets` filter, not `EnvFilter`, whose span and field filters need a regex engine that
//! would be a tenth of each Lambda package.

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber; a second call is a no-op.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| Targets::from_str(&directives).ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let json = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .without_time(); // CloudWatch stamps every line
        registry.with(json).try_init()
    } else {
        // Colours only on a terminal: not in a file or a pipe that collects the log.
        let compact = tracing_subscriber::fmt::layer()
            .compact()
            .with_ansi(std::io::stdout().is_terminal());
        registry.with(compact).try_init()
    };
    // Already initialised (tests, or a host that set its own): keep that one.
    drop(result);
}
