//! Integration tests: the failover library and CLI.
//!
//! One test binary for all of them (one link, one build of the shared fixtures). Each module is
//! one file's tests: `cargo test -p failover --test suite cli::` runs one.

mod common;

mod cli;
mod flag_cli;
mod flag_status;
mod flag_verify;
mod flags;
mod gate;
mod plan_cli;
mod resilience;
mod scale;
mod sdk_against_cluster;
mod verify;
