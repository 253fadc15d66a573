//! Integration tests: synthesis, the deploy on moto, the CLI.
//!
//! One test binary for all of them (one link, one build of the shared fixtures). Each module is
//! one file's tests: `cargo test -p infra --test suite aws_cli::` runs one.

mod aws_support;

mod aws_auth;
mod aws_cli;
mod aws_deploy;
mod aws_health_check;
mod aws_monitoring;
mod aws_pipeline;
mod aws_routing;
mod aws_scale;
mod aws_synth;
