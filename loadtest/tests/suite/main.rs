//! Integration tests: the traffic generator over real DNS and HTTP.
//!
//! One test binary for all of them (one link, one build of the shared fixtures). Each module is
//! one file's tests: `cargo test -p loadtest --test suite consistency::` runs one.

mod common;

mod consistency;
mod pending_and_lost;
mod report;
mod tls;
mod token;
mod traffic;
