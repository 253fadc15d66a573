//! `failover`: see `failover --help` and docs/failover-runbook.md.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = failover::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            // The credential chain warns about every provider it tries; the error says what
            // matters (FAILOVER_LOG=debug shows it all).
            EnvFilter::try_from_env("FAILOVER_LOG")
                .unwrap_or_else(|_| EnvFilter::new("warn,aws_config=error,aws_runtime=error")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(i32::from(failover::exit::OTHER));
        }
    };
    let code = runtime.block_on(failover::cli::run(cli));
    std::process::exit(i32::from(code));
}
