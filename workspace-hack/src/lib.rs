//! No code: this crate exists for its `Cargo.toml`, which `cargo xtask hack` generates. It asks
//! for the shared dependencies that `cargo test --workspace` builds with more features than
//! `cargo run -p local-world`, with the test build's features; `local-world` depends on it, so
//! the demo's build compiles them that way and the test suite reuses them.
