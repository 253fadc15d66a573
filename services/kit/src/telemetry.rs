//! Logging set-up, in one place: human-readable lines locally, JSON lines under Lambda (for
//! CloudWatch Logs Insights). `RUST_LOG` overrides the default level. Request and response
//! bodies and headers are never logged; the request span carries method, path and request id.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber for `service`; a second call is a no-op.
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{service}=info,kit=info")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        builder
            .json()
            .with_current_span(true)
            .without_time() // CloudWatch stamps every line
            .try_init()
    } else {
        // Colours only on a terminal: not in a file or a pipe that collects the log.
        builder
            .compact()
            .with_ansi(std::io::stdout().is_terminal())
            .try_init()
    };
    // Already initialised (tests, or a host that set its own): keep that one.
    drop(result);
}
