//! Resolving upstream hostnames as a remote client would: through DNS, each answer cached for
//! exactly its TTL (the workspace's one resolver), so a failover reaches the gateway when the
//! cached answer expires.

pub use resolver::{ResolveError, Resolver as UpstreamResolver};
