//! Integration tests: the orders service.
//!
//! One test binary for all of them (one link, one build of the shared fixtures). Each module is
//! one file's tests: `cargo test -p orders --test suite binary::` runs one.

mod common;

mod binary;
mod contract;
mod fuzz;
mod http;
