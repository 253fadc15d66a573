//! Integration tests: the local world, its CLI, the dashboard and the demo.
//!
//! One test binary for all of them (one link, one build of the shared fixtures). Each module is
//! one file's tests: `cargo test -p local-world --test suite arc_cluster::` runs one.

mod common;

mod alarms;
mod arc_cluster;
mod auth;
mod cli;
mod control;
mod dashboard;
mod demo;
mod dns;
mod faults;
mod fencing;
mod gateway_only;
mod health_check;
mod plans;
mod replication;
mod scale;
mod verdicts;
mod world;
