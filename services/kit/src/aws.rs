//! Where every AWS SDK client of the kit starts: [`config_loader`], the standard
//! configuration chain with an HTTPS client on rustls and *ring*.
//!
//! The SDK's `default-https-client` feature links rustls on aws-lc-rs, whose C library was
//! over half of a service's Lambda package; *ring* does the same job for a client in a
//! fraction of the bytes, and every service starts cold in the standby Region on failover.
//! The client is still the SDK's own (hyper 1, its connection pool and timeouts): TLS 1.2
//! and 1.3 only, the SDK's restricted cipher suites, and the server's certificate verified
//! against the system's root certificates (`/etc/pki` on `provided.al2023`).

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// `aws_config::defaults` (env, profile, container or instance role) with the kit's HTTPS
/// client, for the calls it makes itself (credentials) and every client built from it.
pub fn config_loader() -> ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}
