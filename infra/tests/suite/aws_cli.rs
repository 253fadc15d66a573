//! The `infra` binary's AWS commands as a user runs them: without `--yes` and without a
//! terminal they show what they would do and refuse to go on.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use infra::aws::package;
use topology::Topology;

use crate::aws_support;

/// A public hosted zone for the fixture's domain in moto; returns its id.
fn hosted_zone(moto: &aws_support::Moto) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&moto.endpoint)
            .load()
            .await;
        let out = aws_sdk_route53::Client::new(&sdk)
            .create_hosted_zone()
            .name("example.com.")
            .caller_reference("aws-cli-test")
            .send()
            .await
            .expect("moto creates the zone");
        let zone = out.hosted_zone().expect("the created zone");
        zone.id().trim_start_matches("/hostedzone/").to_owned()
    })
}

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
fn without_credentials_deploy_and_destroy_say_how_to_log_in_before_any_call() {
    let config = root().join("topology.toml");
    for command in ["deploy", "destroy"] {
        let out = Command::new(env!("CARGO_BIN_EXE_infra"))
            .args([command, "--yes", "--config", config.to_str().unwrap()])
            .args(["--endpoint-url", "http://127.0.0.1:9"])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
            .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null())
            .output()
            .expect("infra runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {stderr}");
        assert!(
            stderr.contains("no AWS credentials") && stderr.contains("aws sso login"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("DispatchFailure"), "{command}: {stderr}");
    }
}

/// A folder with a topology (the id of a hosted zone created in moto, so that no lookup by
/// name is needed; the deploy still reads its name servers) and one package per service, as
/// `just build-lambdas` leaves them.
fn workspace(
    moto: &aws_support::Moto,
    edit: impl Fn(String) -> String,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let zone = hosted_zone(moto);
    let text = edit(testkit::FIXTURE_TOPOLOGY.replace(
        "hosted_zone_id = \"\"",
        &format!("hosted_zone_id = \"{zone}\""),
    ));
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, &text).unwrap();
    let lambda_dir = dir.path().join("lambda");
    std::fs::create_dir(&lambda_dir).unwrap();
    for app in Topology::parse(&text).unwrap().services() {
        let bytes = format!("zip of {}", app.name()).into_bytes();
        let name = format!("{}-{}.zip", app.name(), package::content_hash(&bytes));
        std::fs::write(lambda_dir.join(name), bytes).unwrap();
    }
    (dir, config, lambda_dir)
}

/// `topology` without gateway-only access: moto implements no API Gateway client certificates,
/// so a deploy with it stops right after the bootstrap phase (see
/// [`the_gateways_client_certificates_are_read_right_after_the_bootstrap_phase`]).
fn without_client_certificates(topology: String) -> String {
    topology.replace("[local]\n", "[aws]\ngateway_only = false\n\n[local]\n")
}

fn deploy(
    moto: &aws_support::Moto,
    config: &Path,
    lambda_dir: &Path,
    manifest: &Path,
    yes: bool,
) -> Output {
    let mut args = vec![
        "deploy",
        "--config",
        config.to_str().unwrap(),
        "--endpoint-url",
        &moto.endpoint,
        "--lambda-dir",
        lambda_dir.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ];
    if yes {
        args.push("--yes");
    }
    infra(&args)
}

#[test]
fn deploy_shows_the_first_change_sets_and_stops_at_the_prompt_without_a_terminal() {
    let moto = aws_support::start_moto();
    let (dir, config, lambda_dir) = workspace(&moto, |t| t);
    let manifest = dir.path().join("deployment.json");
    let out = deploy(&moto, &config, &lambda_dir, &manifest, false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("refusing to prompt"), "{stderr}");
    // The zone's name servers were read first, for the manifest.
    assert!(
        stdout.contains("name servers ns-") && stdout.contains("(for the manifest)"),
        "{stdout}"
    );
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

/// With `--yes`, the production bootstrap and ARC templates go through moto's change sets; the
/// deploy then stops where moto stops (it implements no ARC), which is past the cost warning.
#[test]
fn deploy_warns_about_the_cluster_cost_before_creating_one() {
    let moto = aws_support::start_moto();
    let (dir, config, lambda_dir) = workspace(&moto, without_client_certificates);
    let out = deploy(
        &moto,
        &config,
        &lambda_dir,
        &dir.path().join("deployment.json"),
        true,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let warning = stdout
        .find("COST WARNING")
        .unwrap_or_else(|| panic!("no cost warning:\n{stdout}"));
    assert!(
        warning < stdout.find("== arc").unwrap(),
        "the warning comes before the ARC phase"
    );
    assert!(
        stdout.contains("arc.existing_cluster_arn"),
        "the warning says how to avoid the cost"
    );
    assert!(
        stdout.contains("lambda/orders-") && stdout.contains("uploaded s3://"),
        "{stdout}"
    );
    assert!(
        !out.status.success(),
        "moto implements no ARC: the deploy cannot finish there"
    );
}

#[test]
fn deploy_gives_no_cost_warning_when_reusing_a_cluster() {
    let moto = aws_support::start_moto();
    let arn = "arn:aws:route53-recovery-control::123456789012:cluster/existing-1";
    let (dir, config, lambda_dir) = workspace(&moto, |t| {
        without_client_certificates(t).replace(
            "existing_cluster_arn = \"\"",
            &format!("existing_cluster_arn = \"{arn}\""),
        )
    });
    let out = deploy(
        &moto,
        &config,
        &lambda_dir,
        &dir.path().join("deployment.json"),
        true,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("== arc"), "{stdout}");
    assert!(!stdout.contains("COST WARNING"), "{stdout}");
    assert!(
        !stdout.contains("AWS::Route53RecoveryControl::Cluster"),
        "no cluster in the change set"
    );
    // It got as far as asking ARC for the given cluster's endpoints (moto has no ARC).
    assert!(stderr.contains(arn), "{stderr}");
}

/// With gateway-only access (the default), the gateway's client certificates are read (and the
/// services' truststore written) right after the bootstrap phase, before the ARC phase: moto
/// implements no client certificates, so the deploy stops there, naming the call.
#[test]
fn the_gateways_client_certificates_are_read_right_after_the_bootstrap_phase() {
    let moto = aws_support::start_moto();
    let (dir, config, lambda_dir) = workspace(&moto, |t| t);
    let manifest = dir.path().join("deployment.json");
    let out = deploy(&moto, &config, &lambda_dir, &manifest, true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stdout.contains("uploaded s3://"), "{stdout}");
    assert!(
        stderr.contains("API Gateway client certificates")
            && stderr.contains("apigateway:GET /clientcertificates"),
        "{stderr}"
    );
    assert!(!stdout.contains("== arc"), "{stdout}");
    assert!(!manifest.exists());
}

#[test]
fn synth_for_one_region_writes_only_its_stacks_and_refuses_a_region_outside_the_topology() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, testkit::FIXTURE_TOPOLOGY).unwrap();
    let out_dir = dir.path().join("cfn");
    let args = |region: &str| {
        vec![
            "synth".to_owned(),
            "--config".into(),
            config.to_str().unwrap().into(),
            "--out".into(),
            out_dir.to_str().unwrap().into(),
            "--region".into(),
            region.into(),
        ]
    };
    let args_west = args("us-west-2");
    let out = infra(&args_west.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{out:?}");
    let plan = std::fs::read_to_string(out_dir.join("plan.json")).unwrap();
    assert!(!plan.contains("us-east-1"), "{plan}");
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "plan.json" || name.ends_with(".us-west-2.template.json"),
            "{name}"
        );
    }
    let args_elsewhere = args("eu-west-1");
    let out = infra(
        &args_elsewhere
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--region eu-west-1"), "{stderr}");
}

#[test]
fn a_region_scoped_deploy_before_any_full_deploy_is_refused_before_any_change() {
    let moto = aws_support::start_moto();
    let (dir, config, lambda_dir) = workspace(&moto, |t| t);
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
        "--region",
        "us-east-1",
        "--yes",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("does not exist yet") && stderr.contains("without --region"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("create:"),
        "no change set was made: {stdout}"
    );
    assert!(!manifest.exists());
}

/// A full deploy reads the hosted zone (its name servers go into the manifest) before any
/// change: a zone id Route 53 does not know stops it there, naming the zone and the call.
#[test]
fn a_full_deploy_with_an_unknown_hosted_zone_stops_before_any_change() {
    let moto = aws_support::start_moto();
    let (dir, config, lambda_dir) = workspace(&moto, |t| {
        let at = t.find("hosted_zone_id = \"").unwrap();
        let end = at + t[at..].find('\n').unwrap();
        format!("{}hosted_zone_id = \"Z0NOSUCHZONE\"{}", &t[..at], &t[end..])
    });
    let manifest = dir.path().join("deployment.json");
    let out = deploy(&moto, &config, &lambda_dir, &manifest, true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Z0NOSUCHZONE") && stderr.contains("route53:GetHostedZone"),
        "{stderr}"
    );
    assert!(!stdout.contains("== bootstrap"), "{stdout}");
    assert!(!manifest.exists());
}
