//! `cargo xtask`: developer tasks as code, so that people and CI run the same thing.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Developer tasks for this workspace.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create services/NAME, a small working CRUD service on the kit with its tests, and wire it
    /// in: topology.toml (the app, its table, a route `/NAME` on the gateway), the local world's
    /// dependencies and its list of services. Changes nothing when it refuses.
    NewService {
        /// The app's name: a lowercase DNS label (also its subdomain and its crate's name).
        name: String,
    },
    /// Build each service of topology.toml for Lambda (provided.al2023, arm64) into a
    /// content-addressed zip under target/lambda/, as `infra deploy` expects them.
    BuildLambdas {
        /// Only these apps [default: every service in topology.toml].
        apps: Vec<String>,
    },
    /// Rewrite workspace-hack/Cargo.toml: the shared dependencies that `cargo test --workspace`
    /// builds with more features than `cargo run -p local-world`, each with the test build's
    /// features, so that the test suite reuses the demo's build instead of recompiling them.
    Hack {
        /// Change nothing; fail (and say what differs) when the file is out of date.
        #[arg(long)]
        check: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = xtask::workspace_root();
    let result = match cli.command {
        Command::NewService { name } => xtask::new_service::run(&root, &name).map(|created| {
            println!("{created}");
        }),
        Command::BuildLambdas { apps } => xtask::lambdas::build(&root, &apps),
        Command::Hack { check } => xtask::hack::run(&root, check),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
