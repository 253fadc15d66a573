//! The `api` gateway as a standalone local server: `gateway --region us-east-1 --listen
//! 127.0.1.1:8000 --dns-server 127.0.0.1:8053`. The local world runs the same router in-process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use topology::{AppName, Region, Topology};

/// Proxy each route of the gateway app in the topology (a path prefix, such as `/orders`) to
/// its service's subdomain, resolved through DNS.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The topology file with the gateway's routes.
    #[arg(long, default_value = "topology.toml")]
    config: PathBuf,
    /// The gateway app's name in the topology.
    #[arg(long, default_value = "api")]
    app: AppName,
    /// The Region this instance serves.
    #[arg(long, env = "AWS_REGION")]
    region: Region,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// The DNS server that answers for the local domain (the local Route 53).
    #[arg(long, default_value = "127.0.0.1:8053")]
    dns_server: SocketAddr,
    /// The token issuer whose tokens the gateway accepts, e.g. a running local world's
    /// (`auth.issuer` in its manifest). Needed while the topology's `[auth]` is on.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let topology = Topology::load(&args.config)?;
    let mut config =
        gateway::GatewayConfig::local(&topology, &args.app, args.region, args.dns_server)?;
    config.auth = match (&args.issuer, topology.auth.enabled) {
        (Some(issuer), _) => gateway::AuthConfig::local(&topology.auth, issuer),
        (None, false) => None,
        (None, true) => anyhow::bail!(
            "auth is on in {} ([auth]): pass --issuer with the issuer whose tokens to accept, or set `enabled = false` under [auth]",
            args.config.display()
        ),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!("gateway `{}` listening on http://{}", args.app, args.listen);
    axum::serve(listener, gateway::router(config))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
