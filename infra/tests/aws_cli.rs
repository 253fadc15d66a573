//! The `infra` binary's AWS commands as a user runs them: without `--yes` and without a
//! terminal they show what they would do and refuse to go on.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use infra::aws::package;
use topology::Topology;

mod aws_support;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Runs `infra` with standard input closed (not a terminal) and credentials that only an
/// emulator accepts.
fn infra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .output()
        .expect("infra runs")
}

#[test]
fn destroy_lists_the_stacks_in_reverse_order_and_refuses_to_prompt_without_a_terminal() {
    let config = root().join("topology.toml");
    // Nothing listens on port 9: the refusal comes before any AWS call.
    let out = infra(&[
        "destroy",
        "--config",
        config.to_str().unwrap(),
        "--endpoint-url",
        "http://127.0.0.1:9",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("refusing to prompt") && stderr.contains("--yes"),
        "{stderr}"
    );
    let at = |name: &str| {
        stdout
            .find(name)
            .unwrap_or_else(|| panic!("{name} not listed:\n{stdout}"))
    };
    assert!(at("multi-region-api-app-orders") < at("multi-region-api-data"));
    assert!(at("multi-region-api-data") < at("multi-region-api-arc"));
    assert!(at("multi-region-api-arc") < at("multi-region-api-bootstrap"));
}

#[test]
fn deploy_shows_the_first_change_sets_and_stops_at_the_prompt_without_a_terminal() {
    let moto = aws_support::start_moto();
    let dir = tempfile::tempdir().unwrap();
    let topology_text = include_str!("../../topology.toml")
        .replace("hosted_zone_id = \"\"", "hosted_zone_id = \"Z0TEST\"");
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, &topology_text).unwrap();
    let lambda_dir = dir.path().join("lambda");
    std::fs::create_dir(&lambda_dir).unwrap();
    for app in Topology::parse(&topology_text).unwrap().services() {
        let bytes = format!("zip of {}", app.name).into_bytes();
        std::fs::write(
            lambda_dir.join(format!(
                "{}-{}.zip",
                app.name,
                package::content_hash(&bytes)
            )),
            bytes,
        )
        .unwrap();
    }
    let manifest = dir.path().join("deployment.json");
    let out = infra(&[
        "deploy",
        "--config",
        config.to_str().unwrap(),
        "--endpoint-url",
        &moto.endpoint,
        "--lambda-dir",
        lambda_dir.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("refusing to prompt"), "{stderr}");
    // The production bootstrap template's change sets were created and shown, in both Regions.
    for region in ["us-east-1", "us-west-2"] {
        assert!(
            stdout.contains(&format!("[multi-region-api-bootstrap ({region})] create:")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("+ Add     ArtifactsBucket"), "{stdout}");
    assert!(stdout.contains("ApiGatewayAccount"), "{stdout}");
    // Nothing beyond the first phase happened.
    assert!(!stdout.contains("== arc"), "{stdout}");
    assert!(!manifest.exists());
}
