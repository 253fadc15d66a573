//! Where every AWS SDK client of the kit starts: [`Settings::load`], the shared SDK
//! configuration with the kit's [`https`] client.
//!
//! The SDK's `default-https-client` feature links its own HTTP/2-capable client with rustls
//! on aws-lc-rs, whose C library was over half of a service's Lambda package; the kit's
//! [`https`] client does the same job in a fraction of the bytes, and every service starts
//! cold in the standby Region on failover: TLS 1.2 and 1.3 only, the SDK's restricted cipher
//! suites, and the server's certificate verified against the system's root certificates
//! (`/etc/pki` on `provided.al2023`).
//!
//! Credentials and Region: with the `local` feature, aws-config's standard chain (env,
//! profiles, SSO, container or instance role), which a developer's machine needs. A Lambda
//! package leaves `local` out: Lambda puts the function role's credentials and the Region in
//! the environment, which [`Environment`] reads, and aws-config's profile parser, IMDS,
//! container and STS clients were a tenth of the package.

pub mod https;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// What a client of the kit sets over the defaults; anything left `None` comes from the
/// environment (and, with `local`, the rest of aws-config's chain).
#[derive(Debug, Default)]
pub struct Settings {
    pub region: Option<Region>,
    /// A compatible server (moto, the local emulators) instead of AWS.
    pub endpoint: Option<String>,
    /// Fixed credentials instead of the chain's.
    pub credentials: Option<Credentials>,
    pub retry: Option<RetryConfig>,
    pub timeout: Option<TimeoutConfig>,
}

impl Settings {
    /// The SDK configuration: aws-config's standard chain with the kit's HTTPS client.
    #[cfg(feature = "local")]
    pub async fn load(self) -> SdkConfig {
        use aws_config::BehaviorVersion;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https::client())
            .region(self.region);
        if let Some(endpoint) = self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(credentials) = self.credentials {
            loader = loader.credentials_provider(credentials);
        }
        if let Some(retry) = self.retry {
            loader = loader.retry_config(retry);
        }
        if let Some(timeout) = self.timeout {
            loader = loader.timeout_config(timeout);
        }
        loader.load().await
    }

    /// The SDK configuration of a Lambda function: credentials from the environment (or
    /// [`Settings::credentials`]), the Region from `AWS_REGION` unless set, the kit's HTTPS
    /// client; retries, timeouts and the rest are the SDK clients' defaults unless set.
    #[cfg(not(feature = "local"))]
    pub async fn load(self) -> SdkConfig {
        use aws_credential_types::provider::SharedCredentialsProvider;
        use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
        let credentials = match self.credentials {
            Some(fixed) => SharedCredentialsProvider::new(fixed),
            None => SharedCredentialsProvider::new(Environment),
        };
        let region = self
            .region
            .or_else(|| crate::env_var("AWS_REGION").map(Region::new));
        let mut config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https::client())
            .region(region)
            .credentials_provider(credentials);
        config.set_endpoint_url(self.endpoint);
        config.set_retry_config(self.retry);
        config.set_timeout_config(self.timeout);
        config.build()
    }
}

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`,
/// where Lambda puts the function role's.
#[derive(Debug)]
pub struct Environment;

impl Environment {
    /// The credentials in the variables `var` looks up.
    fn credentials(var: impl Fn(&str) -> Option<String>) -> Result<Credentials, CredentialsError> {
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Credentials::new(
                id,
                secret,
                var("AWS_SESSION_TOKEN"),
                None,
                "environment",
            )),
            _ => Err(CredentialsError::not_loaded(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set \
                 (Lambda sets them from the function's role)",
            )),
        }
    }
}

impl ProvideCredentials for Environment {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(Self::credentials(crate::env_var))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(set: &'static [(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        |name| {
            set.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_credentials_need_the_key_pair_and_carry_the_session_token() {
        let role = Environment::credentials(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]))
        .unwrap();
        assert_eq!(role.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(role.secret_access_key(), "secret");
        assert_eq!(role.session_token(), Some("token"));

        let user = Environment::credentials(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]))
        .unwrap();
        assert_eq!(user.session_token(), None);

        let missing = Environment::credentials(vars(&[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")]));
        assert!(matches!(
            missing,
            Err(CredentialsError::CredentialsNotLoaded(_))
        ));
    }
}
