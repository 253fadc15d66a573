//! Integration tests of the gateway: the proxy over real HTTP and DNS, and its token checks
//! against a real issuer over HTTP.
//!
//! One test binary for all of them. Each module is one file's tests: `cargo test -p gateway
//! --test suite auth::` runs one.

mod common;

mod auth;
mod proxy;
