//! Benchmarks of the services, run with `just bench`: `benches/http.rs` (a service's overhead
//! over loopback HTTP next to a minimal axum handler) and `benches/lambda.rs` (each Lambda
//! package's zipped size and init time). `examples/profile_get.rs` is a steady workload for a
//! profiler.
