//! One entry point for every service binary: flags and env, then serving the Router locally
//! (axum, graceful shutdown on Ctrl-C) or under Lambda when `AWS_LAMBDA_RUNTIME_API` is set.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;

use topology::Region;

use crate::dynamo::{self, DynamoTable};

/// Which store adapter a service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// In process memory: nothing to set up, gone at exit.
    Memory,
    /// DynamoDB (or a compatible server with `--dynamodb-endpoint`).
    Dynamodb,
}

/// The flags every service binary takes; flatten into the binary's clap parser.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (ignored under Lambda).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The Region this instance serves and reports.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: Region,
    /// Where the data lives.
    #[arg(long, env = "STORE", value_enum, default_value = "memory")]
    pub store: StoreKind,
    /// The DynamoDB table name [default: the service's table in topology.toml].
    #[arg(long, env = "TABLE_NAME")]
    pub table: Option<String>,
    /// A DynamoDB-compatible endpoint (moto, DynamoDB Local) instead of AWS.
    #[arg(long, env = "DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// Create the DynamoDB table (with its indexes) if it does not exist, for local use.
    #[arg(long)]
    pub create_table: bool,
}

impl ServeArgs {
    /// The DynamoDB table these flags describe: `table` from the topology, renamed by
    /// `--table`, through a client for `--region` and `--dynamodb-endpoint`; created first
    /// when `--create-table` is given.
    pub async fn dynamo_table(&self, table: &topology::Table) -> anyhow::Result<DynamoTable> {
        let mut table = table.clone();
        if let Some(name) = &self.table {
            table.name.clone_from(name);
        }
        let client = dynamo::client(&self.region, self.dynamodb_endpoint.as_deref()).await;
        let table = DynamoTable::new(client, table);
        if self.create_table {
            table
                .create()
                .await
                .with_context(|| format!("cannot create table {}", table.name()))?;
        }
        Ok(table)
    }
}

/// Serves `router`: under Lambda when `AWS_LAMBDA_RUNTIME_API` is set, else on `listen`
/// until Ctrl-C (or SIGTERM), finishing in-flight requests.
pub async fn run(router: Router, listen: SocketAddr) -> anyhow::Result<()> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        tracing::info!("serving under the Lambda runtime");
        return lambda_http::run(router)
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
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_parse_with_defaults() {
        let cli =
            Cli::try_parse_from(["svc", "--region", "us-west-2", "--store", "dynamodb"]).unwrap();
        assert_eq!(cli.serve.region.as_str(), "us-west-2");
        assert_eq!(cli.serve.store, StoreKind::Dynamodb);
        assert!(!cli.serve.create_table);
        assert!(Cli::try_parse_from(["svc", "--region", "mars"]).is_err());
        assert!(Cli::try_parse_from(["svc", "--store", "sqlite"]).is_err());
    }
}
