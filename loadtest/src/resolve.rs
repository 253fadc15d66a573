//! Name resolution as a real client does it: through the manifest's DNS server in the local
//! world, the system's resolvers on AWS, each answer cached for its TTL (the workspace's one
//! resolver), so a failover reaches this client when its cached answer expires, not before.

pub use resolver::Resolver;

use crate::config::ConfigError;

impl From<resolver::ResolveError> for ConfigError {
    fn from(err: resolver::ResolveError) -> Self {
        ConfigError::Resolver(err.to_string())
    }
}
