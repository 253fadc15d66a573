//! Benchmarks of the services; see `benches/http.rs` and run them with `just bench`.
