//! Integration tests: the users service.
//!
//! One test binary for all of them (one link, one build of the shared fixtures). Each module is
//! one file's tests: `cargo test -p users --test suite binary::` runs one.

mod common;

mod binary;
mod contract;
mod fuzz;
mod http;
