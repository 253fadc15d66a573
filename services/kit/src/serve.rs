//! One entry point for every service binary: [`main`] parses the flags (and env), picks the
//! store (memory or DynamoDB), builds the service's router from its [`Service`] descriptor
//! and serves it locally (axum, graceful shutdown on Ctrl-C) or under Lambda when
//! `AWS_LAMBDA_RUNTIME_API` is set.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;

use topology::Region;

use crate::dynamo::{self, DynamoTable};
use crate::memory::MemoryTable;
use crate::store::ItemTable;
use crate::{IndexSpec, Service};

/// The global allocator of every service binary: `main.rs` declares it, since only a
/// binary can choose one (`#[global_allocator] static ALLOCATOR: kit::serve::Allocator =
/// kit::serve::Allocator;`). mimalloc serves the small blocks a request allocates and
/// frees in fewer instructions than the system's malloc (`cargo bench -p service-bench`).
pub use mimalloc::MiMalloc as Allocator;

/// Which store adapter a service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "local", derive(clap::ValueEnum))]
pub enum StoreKind {
    /// In process memory: nothing to set up, gone at exit.
    Memory,
    /// DynamoDB (or a compatible server with `--dynamodb-endpoint`).
    Dynamodb,
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "memory" => Ok(Self::Memory),
            "dynamodb" => Ok(Self::Dynamodb),
            _ => Err("expected memory or dynamodb".into()),
        }
    }
}

/// The flags every service binary takes. With the `local` feature they are command-line
/// flags (clap) with environment fallbacks; a Lambda package, built without it, reads the
/// same environment variables with the same defaults.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "local", derive(clap::Args))]
pub struct ServeArgs {
    /// Address to listen on (ignored under Lambda).
    #[cfg_attr(feature = "local", arg(long, env = "LISTEN", default_value = DEFAULT_LISTEN))]
    pub listen: SocketAddr,
    /// The Region this instance serves and reports.
    #[cfg_attr(feature = "local", arg(long, env = "AWS_REGION", default_value = DEFAULT_REGION))]
    pub region: Region,
    /// Where the data lives.
    #[cfg_attr(feature = "local", arg(long, env = "STORE", value_enum, default_value = DEFAULT_STORE))]
    pub store: StoreKind,
    /// The table's name [default: the service's name].
    #[cfg_attr(feature = "local", arg(long, env = "TABLE_NAME"))]
    pub table: Option<String>,
    /// A DynamoDB-compatible endpoint (moto, DynamoDB Local) instead of AWS.
    #[cfg_attr(feature = "local", arg(long, env = "DYNAMODB_ENDPOINT"))]
    pub dynamodb_endpoint: Option<String>,
    /// Create the DynamoDB table (with its indexes) if it does not exist, for local use.
    #[cfg_attr(feature = "local", arg(long))]
    pub create_table: bool,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_STORE: &str = "memory";

#[cfg(feature = "local")]
#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

impl ServeArgs {
    /// The flags of `service`'s binary from the command line and env; exits with a message
    /// naming the flag when they are wrong (or printing `--help` / `--version`).
    #[cfg(feature = "local")]
    pub fn parse_for(service: &Service) -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let command = Cli::command()
            .name(service.name)
            .bin_name(service.name)
            .version(service.version)
            .about(format!("The {} service, locally or under Lambda.", service.name))
            .after_help(format!(
                "Examples:\n  {name} --listen 127.0.0.1:8081 --region us-east-1\n  \
                 {name} --store dynamodb --dynamodb-endpoint http://127.0.0.1:5000 --create-table\n\n\
                 Under Lambda (AWS_LAMBDA_RUNTIME_API set) --listen is ignored.",
                name = service.name
            ));
        let matches = command.get_matches();
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli.serve,
            Err(e) => e.exit(),
        }
    }

    /// The settings of `service`'s binary from the environment (a build without `local`
    /// takes no flags); exits with status 2 and a message naming the variable when one is
    /// wrong, as a wrong flag does.
    #[cfg(not(feature = "local"))]
    pub fn parse_for(service: &Service) -> Self {
        Self::from_env(|name| std::env::var(name).ok()).unwrap_or_else(|e| {
            eprintln!("{}: {e}", service.name);
            std::process::exit(2)
        })
    }

    /// The settings in the environment variables `var` looks up; blank counts as unset.
    #[cfg(any(test, not(feature = "local")))]
    fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |name: &str| crate::unless_blank(var(name));
        fn parse<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
            default: &str,
        ) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            let value = value.as_deref().unwrap_or(default);
            value
                .parse()
                .map_err(|e| format!("invalid value '{value}' for {name}: {e}"))
        }
        Ok(Self {
            listen: parse("LISTEN", var("LISTEN"), DEFAULT_LISTEN)?,
            region: parse("AWS_REGION", var("AWS_REGION"), DEFAULT_REGION)?,
            store: parse("STORE", var("STORE"), DEFAULT_STORE)?,
            table: var("TABLE_NAME"),
            dynamodb_endpoint: var("DYNAMODB_ENDPOINT"),
            create_table: false,
        })
    }

    /// The table these flags choose for `service`: in memory, or the DynamoDB table named
    /// `--table` (default: the service's name) with the service's indexes, created first
    /// when `--create-table` is given.
    pub async fn table(&self, service: &Service) -> anyhow::Result<Arc<dyn ItemTable>> {
        let name = self.table.as_deref().unwrap_or(service.name);
        Ok(match self.store {
            StoreKind::Memory => MemoryTable::new(name, self.region.clone()),
            StoreKind::Dynamodb => Arc::new(self.dynamo_table(name, service.indexes).await?),
        })
    }

    /// The DynamoDB table `name` with `indexes`, through a client for `--region` and
    /// `--dynamodb-endpoint`; created first when `--create-table` is given.
    pub async fn dynamo_table(
        &self,
        name: &str,
        indexes: &'static [IndexSpec],
    ) -> anyhow::Result<DynamoTable> {
        let client = dynamo::client(&self.region, self.dynamodb_endpoint.as_deref()).await;
        let table = DynamoTable::new(client, name, indexes);
        // Only a local run creates tables; a Lambda package leaves the code out.
        #[cfg(feature = "local")]
        if self.create_table {
            table
                .create()
                .await
                .with_context(|| format!("cannot create table {name}"))?;
        }
        Ok(table)
    }
}

/// The whole of a service binary's `main`: flags, logging, store, router, serving.
pub fn main(service: &Service) -> anyhow::Result<()> {
    let args = ServeArgs::parse_for(service);
    crate::telemetry::init();
    check_fencing(service)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async {
            let table = args.table(service).await?;
            let router = (service.router)(table, args.region.clone());
            run(router, args.listen).await
        })
}

/// A fence that cannot be read is a deploy error: refuse to start rather than not fence.
#[cfg(feature = "fence")]
fn check_fencing(_service: &Service) -> anyhow::Result<()> {
    if let Some(fence) =
        crate::fence::FenceConfig::from_env().map_err(|e| anyhow::anyhow!("write fencing: {e}"))?
    {
        tracing::info!(source = ?fence.source, "write fencing on");
    }
    Ok(())
}

/// A build without the `fence` feature refuses to start where fencing is configured, rather
/// than take writes it was asked to refuse.
#[cfg(not(feature = "fence"))]
fn check_fencing(service: &Service) -> anyhow::Result<()> {
    use topology::manifest::{FENCE_CONTROL_ENV, FENCE_FLAG_NAMESPACE_ENV};
    if let Some(name) = [FENCE_CONTROL_ENV, FENCE_FLAG_NAMESPACE_ENV]
        .into_iter()
        .find(|n| crate::env_var(n).is_some())
    {
        anyhow::bail!(
            "write fencing: {name} is set but this build of {service} has no write fencing; \
             build it with `--features kit/fence` (`cargo xtask build-lambdas` does when \
             topology.toml sets `fence_writes = true` for the app)",
            service = service.name
        );
    }
    Ok(())
}

/// Serves `router`: under Lambda when `AWS_LAMBDA_RUNTIME_API` is set, else on `listen`
/// until Ctrl-C (or SIGTERM), finishing in-flight requests.
pub async fn run(router: Router, listen: SocketAddr) -> anyhow::Result<()> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        tracing::info!("serving under the Lambda runtime");
        let handler = lambda_http::service_fn(move |request: lambda_http::Request| {
            let router = router.clone();
            async move {
                let response = tower::ServiceExt::oneshot(router, request).await?;
                Ok::<_, std::convert::Infallible>(LambdaBody(response))
            }
        });
        return lambda_http::run(handler)
            .await
            .map_err(|e| anyhow::anyhow!("the Lambda runtime failed: {e}"));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another process using it?"))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")
}

/// A response as the Lambda event's answer: a UTF-8 body as text, any other (or a
/// content-encoded one) base64-encoded. lambda_http's own conversion would first decode text
/// by the `charset` the content type names, which links every legacy encoding's tables
/// (encoding_rs, 0.16 MB) into the package; every body the services send is UTF-8.
struct LambdaBody(axum::response::Response);

impl lambda_http::IntoResponse for LambdaBody {
    fn into_response(
        self,
    ) -> std::pin::Pin<Box<dyn Future<Output = lambda_http::Response<lambda_http::Body>> + Send>>
    {
        let (parts, body) = self.0.into_parts();
        Box::pin(async move {
            let body = match axum::body::to_bytes(body, usize::MAX).await {
                // No copy where the body is its buffer's only owner.
                Ok(bytes) => lambda_body(&parts.headers, Vec::from(bytes)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the response body");
                    let mut failed = lambda_http::Response::new(lambda_http::Body::Empty);
                    *failed.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    return failed;
                }
            };
            lambda_http::Response::from_parts(parts, body)
        })
    }
}

/// Text when the bytes are UTF-8 and not content-encoded, else binary (sent base64-encoded).
fn lambda_body(headers: &axum::http::HeaderMap, bytes: Vec<u8>) -> lambda_http::Body {
    if headers.contains_key(axum::http::header::CONTENT_ENCODING) {
        return lambda_http::Body::Binary(bytes);
    }
    match String::from_utf8(bytes) {
        Ok(text) => lambda_http::Body::Text(text),
        Err(e) => lambda_http::Body::Binary(e.into_bytes()),
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, the signals a terminal, `kill`, systemd and
/// container runtimes send to ask a process to stop.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "local")]
    #[test]
    fn flags_parse_with_defaults() {
        use clap::Parser;
        let cli =
            Cli::try_parse_from(["svc", "--region", "us-west-2", "--store", "dynamodb"]).unwrap();
        assert_eq!(cli.serve.region.as_str(), "us-west-2");
        assert_eq!(cli.serve.store, StoreKind::Dynamodb);
        assert!(!cli.serve.create_table);
        assert!(Cli::try_parse_from(["svc", "--region", "mars"]).is_err());
        assert!(Cli::try_parse_from(["svc", "--store", "sqlite"]).is_err());
    }

    #[test]
    fn lambda_bodies_are_text_when_utf8_and_not_content_encoded() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let plain = HeaderMap::new();
        assert_eq!(
            lambda_body(&plain, r#"{"name":"café"}"#.as_bytes().to_vec()),
            lambda_http::Body::Text(r#"{"name":"café"}"#.into())
        );
        assert_eq!(
            lambda_body(&plain, vec![]),
            lambda_http::Body::Text(String::new())
        );
        assert_eq!(
            lambda_body(&plain, vec![0xff, 0x00]),
            lambda_http::Body::Binary(vec![0xff, 0x00])
        );
        let mut gzip = HeaderMap::new();
        gzip.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(
            lambda_body(&gzip, b"text".to_vec()),
            lambda_http::Body::Binary(b"text".to_vec())
        );
    }

    #[test]
    fn the_environment_alone_gives_the_same_settings_and_defaults() {
        let none = ServeArgs::from_env(|_| None).unwrap();
        assert_eq!(none.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(none.region.as_str(), "us-east-1");
        assert_eq!(none.store, StoreKind::Memory);
        assert_eq!((none.table, none.dynamodb_endpoint), (None, None));

        let set = ServeArgs::from_env(|name| {
            let value = match name {
                "AWS_REGION" => "us-west-2",
                "STORE" => "dynamodb",
                "TABLE_NAME" => "orders-prod",
                "LISTEN" => " ",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .unwrap();
        assert_eq!(set.region.as_str(), "us-west-2");
        assert_eq!(set.store, StoreKind::Dynamodb);
        assert_eq!(set.table.as_deref(), Some("orders-prod"));
        assert_eq!(
            set.listen,
            DEFAULT_LISTEN.parse().unwrap(),
            "blank is unset"
        );

        let wrong = |name: &'static str, value: &'static str| {
            ServeArgs::from_env(move |n| (n == name).then(|| value.to_owned())).unwrap_err()
        };
        assert_eq!(
            wrong("STORE", "sqlite"),
            "invalid value 'sqlite' for STORE: expected memory or dynamodb"
        );
        assert!(wrong("AWS_REGION", "mars").starts_with("invalid value 'mars' for AWS_REGION"));
        assert!(wrong("LISTEN", "nowhere").starts_with("invalid value 'nowhere' for LISTEN"));
    }
}
