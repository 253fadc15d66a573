//! `cargo xtask`: developer tasks as code, so that people and CI run the same thing.

use std::path::PathBuf;
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
    /// dependencies and its list of services, and services/schemathesis.toml (the contract
    /// test's exceptions for its conditional PATCH). Changes nothing when it refuses.
    NewService {
        /// The app's name: a lowercase DNS label (also its subdomain and its crate's name).
        name: String,
    },
    /// Build each service of the topology (`--config`) for Lambda (provided.al2023, arm64) into a
    /// content-addressed zip under target/lambda/, as `infra deploy` expects them.
    BuildLambdas {
        /// The topology whose services to build (the one the deploy reads).
        #[arg(long, default_value = "topology.toml")]
        config: PathBuf,
        /// Only these apps [default: every service of the topology].
        apps: Vec<String>,
    },
    /// Run the whole test suite (the tests of `cargo test --workspace`): the missing tool venvs
    /// are created in the background while the tests build, each test binary starts as soon
    /// as it is linked, and several run at once. A failing binary's whole output is printed;
    /// every binary's output is kept in target/xtask-test/.
    ///
    /// Examples: `cargo xtask test`, `cargo xtask test -p orders`, `cargo xtask test -- demo::`.
    Test {
        /// How many test binaries run at once [default: twice the CPUs].
        #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Only this package's tests (repeatable) [default: every workspace member].
        #[arg(short, long = "package", value_name = "PACKAGE")]
        package: Vec<String>,
        /// Passed to every test binary: a test name filter, `--nocapture`, `--ignored`, …
        #[arg(last = true)]
        args: Vec<String>,
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
        Command::BuildLambdas { config, apps } => {
            xtask::lambdas::build(&root, &root.join(config), &apps)
        }
        Command::Hack { check } => xtask::hack::run(&root, check),
        Command::Test {
            jobs,
            package,
            args,
        } => xtask::test::run(
            &root,
            &xtask::test::Options {
                jobs: jobs.map_or_else(xtask::test::default_jobs, usize::from),
                packages: package,
                args,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
