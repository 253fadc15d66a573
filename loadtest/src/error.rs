//! Why a run (or a check) could not start: settings that cannot work, a manifest entry that
//! cannot be used, DNS or TLS that cannot be set up. Every module that sets something up
//! reports through this one type.

use topology::AppName;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid duration `{0}`: use a number with a unit, e.g. 500ms, 30s, 2m")]
    Duration(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the manifest has no app `{0}` (it lists: {1})")]
    UnknownApp(AppName, String),
    #[error("app `{app}` has an unusable URL `{url}`: {reason}")]
    Url {
        app: AppName,
        url: String,
        reason: String,
    },
    #[error("cannot set up DNS resolution: {0}")]
    Resolver(String),
    #[error("cannot set up TLS for https apps: {0}")]
    Tls(String),
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile {
        path: String,
        reason: std::io::Error,
    },
    #[error("a run needs a Tokio runtime: call Run::start from inside one")]
    NoRuntime,
}

impl From<resolver::ResolveError> for ConfigError {
    fn from(err: resolver::ResolveError) -> Self {
        ConfigError::Resolver(err.to_string())
    }
}
