//! Integration tests: the payments service.
//!
//! One test binary for all of them (one link, one build of the shared fixtures). Each module is
//! one file's tests: `cargo test -p payments --test suite binary::` runs one.

mod common;

mod binary;
mod contract;
mod fuzz;
mod http;
