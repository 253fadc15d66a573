# The recipes users type. `just` alone lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

topology := "topology.toml"

# List the recipes
default:
    @just --list --unsorted

# Run the local world with traffic and a scripted failover drill, then report (no AWS account needed)
demo *ARGS:
    cargo run -p local-world -- demo --config {{topology}} {{ARGS}}

# Run the whole architecture on loopback until Ctrl-C
local *ARGS:
    cargo run -p local-world -- run --config {{topology}} {{ARGS}}

# Add a service: services/NAME, wired into topology.toml, the gateway and the local world
new-service NAME:
    cargo xtask new-service {{NAME}}

# Run the whole test suite (provisions moto, cfn-lint and checkov in venvs under target/ when missing)
test *ARGS:
    cargo xtask test {{ARGS}}

# Formatting, lints and the API docs, as CI checks them
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

# Benchmarks: service overhead, Lambda package size and init, failover shift and evacuation times, the local world at 100 apps, load generator rate
bench:
    cargo bench -p service-bench
    cargo bench -p failover
    cargo bench -p local-world
    cargo bench -p loadtest

# Write the CloudFormation templates for every stack
synth *ARGS:
    cargo run -p infra -- synth --config {{topology}} {{ARGS}}

# Build each service for Lambda (arm64) into a content-addressed zip under target/lambda/
build-lambdas *APPS:
    cargo xtask build-lambdas {{APPS}}

# Build, synthesize and deploy everything to both Regions, then write the manifest
deploy-all *ARGS: build-lambdas
    cargo run --release -p infra -- synth --config {{topology}}
    cargo run --release -p infra -- deploy --config {{topology}} {{ARGS}}

# Delete every stack, in reverse order
destroy-all *ARGS:
    cargo run --release -p infra -- destroy --config {{topology}} {{ARGS}}

# Which Region serves each app (reads the manifest)
status *ARGS:
    cargo run -p failover -- status {{ARGS}}

# Move one app to a Region: just shift orders us-west-2
shift APP REGION *ARGS:
    cargo run -p failover -- shift {{APP}} --to {{REGION}} {{ARGS}}

# Move every app away from a Region: just evacuate us-east-1
evacuate REGION *ARGS:
    cargo run -p failover -- evacuate {{REGION}} {{ARGS}}

# Failover plans in plans/: just plan list, just plan check evacuate-primary, just plan run fail-back
plan *ARGS:
    cargo run -p failover -- plan {{ARGS}}

# Drive traffic at the deployment in the manifest and report which Region served it
loadtest *ARGS:
    cargo run -p loadtest -- run {{ARGS}}
