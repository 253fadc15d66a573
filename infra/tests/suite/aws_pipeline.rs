//! The deploy pipeline: the one-time stack `infra pipeline-template` writes (cfn-lint, checkov,
//! the policies' shape, the trust that pins the repository, coverage of every resource type the
//! templates create and of every call `infra deploy` makes), the execution role on the change
//! sets (moto), and the GitHub workflows (actionlint, OIDC, pinned actions and tools).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, retry::RetryConfig};
use aws_credential_types::Credentials;
use infra::aws::bootstrap;
use infra::aws::cfn::{RoleArn, StackOutcome, Timing};
use infra::aws::confirm::Confirm;
use infra::aws::deploy;
use infra::aws::pipeline::{
    self, DEPLOY_CALLS, NOT_DEPLOY_CALLS, PipelineSpec, RefName, Trusted, catalog,
};
use infra::aws::plan::{Phase, PhaseKind, Plan, StackId, StackKind, StackPrefix, StackSpec};
use infra::aws::synth;
use infra::aws::template::Template;
use serde_json::{Value, json};
use topology::Topology;

use super::aws_support::start_moto;
use super::aws_synth::{checkov, lint, topology_with_two_more_apps};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn production() -> PipelineSpec {
    PipelineSpec {
        repo: "octo-org/shop".parse().unwrap(),
        trusted: Trusted::Environment(RefName::environment("production").unwrap()),
    }
}

/// The suite's topologies: both failover mechanisms, and more apps behind deeper routes.
fn topologies() -> Vec<(&'static str, Topology)> {
    vec![
        ("arc", Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap()),
        ("health-check", super::aws_health_check::topology()),
        ("two-more-apps", topology_with_two_more_apps()),
    ]
}

fn template(topology: &Topology) -> Value {
    pipeline::template(topology, &StackPrefix::default(), &production())
        .unwrap()
        .to_json()
}

/// Every policy statement in the template, with the resource that holds it.
fn statements(doc: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (id, resource) in doc["Resources"].as_object().unwrap() {
        let p = &resource["Properties"];
        let documents: Vec<&Value> = match resource["Type"].as_str().unwrap() {
            "AWS::IAM::ManagedPolicy" => vec![&p["PolicyDocument"]],
            "AWS::IAM::Role" => p["Policies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|policy| &policy["PolicyDocument"])
                .collect(),
            _ => vec![],
        };
        for document in documents {
            for statement in document["Statement"].as_array().unwrap() {
                found.push((id.clone(), statement.clone()));
            }
        }
    }
    found
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("Action is {other}"),
    }
}

/// The statement's resources as text (`Fn::Sub` strings, `Ref`s and `GetAtt`s as JSON).
fn resources(statement: &Value) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("Fn::Sub") => o["Fn::Sub"].as_str().unwrap().to_owned(),
        other => other.to_string(),
    };
    match &statement["Resource"] {
        Value::Array(many) => many.iter().map(one).collect(),
        other => vec![one(other)],
    }
}

#[test]
fn the_pipeline_template_is_lint_clean_and_passes_checkov_for_every_topology() {
    let dir = tempfile::tempdir().unwrap();
    for (name, topology) in topologies() {
        let prefix: StackPrefix = format!("p-{name}").parse().unwrap();
        let out = dir.path().join(name);
        let path = pipeline::write(&topology, &prefix, &production(), &out).unwrap();
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            format!("p-{name}-pipeline.template.json")
        );
    }
    lint(dir.path());
    checkov(dir.path());
}

#[test]
fn every_resource_type_of_the_synthesized_templates_is_covered_by_the_execution_role() {
    for (name, topology) in topologies() {
        let plan = synth::plan(&topology, &StackPrefix::default());
        let doc = template(&topology);
        let granted: BTreeSet<String> = statements(&doc)
            .into_iter()
            .filter(|(id, _)| id.starts_with("ExecutionPolicy"))
            .map(|(_, s)| s["Sid"].as_str().unwrap().to_owned())
            .collect();
        let mut types = BTreeSet::new();
        for spec in plan.stacks() {
            let template = spec.template.to_json();
            for resource in template["Resources"].as_object().unwrap().values() {
                types.insert(resource["Type"].as_str().unwrap().to_owned());
            }
        }
        assert!(types.len() > 15, "{name}: {types:?}");
        for kind in &types {
            let grants = catalog::grants(kind)
                .unwrap_or_else(|| panic!("{name}: {kind} is in no grant of the catalog"));
            for grant in grants {
                assert!(
                    granted.contains(grant.sid),
                    "{name}: {kind} needs {}, which the execution role lacks",
                    grant.sid
                );
            }
        }
        // Nothing beyond what the templates need: every statement serves a type they create.
        let needed: BTreeSet<&str> = types
            .iter()
            .flat_map(|kind| catalog::grants(kind).unwrap().iter().map(|g| g.sid))
            .collect();
        for sid in &granted {
            assert!(
                needed.contains(sid.as_str()),
                "{name}: {sid} serves no resource type"
            );
        }
    }
    // The ARC stack's types only where the topology has an ARC stack.
    let health_check = template(&super::aws_health_check::topology()).to_string();
    assert!(!health_check.contains("route53-recovery-control-config:"));
    assert!(!health_check.contains("route53-recovery-cluster:"));
}

/// Which of `actions` IAM lets a policy scope to a resource, from cfn-lint's copy of the IAM
/// service reference (the same data its W3037 rule checks action names with).
fn takes_resources(actions: &BTreeSet<String>) -> BTreeMap<String, bool> {
    const SCRIPT: &str = r#"
import json, os, sys, cfnlint
path = os.path.join(os.path.dirname(cfnlint.__file__), "data", "AdditionalSpecs", "Policies.json")
data = json.load(open(path))
answer = {}
for action in json.load(sys.stdin):
    service, name = action.split(":")
    info = data[service]["Actions"].get(name.lower())
    answer[action] = None if info is None else bool(info.get("Resources"))
print(json.dumps(answer))
"#;
    let python = testkit::moto_python().unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(actions).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} cannot read cfn-lint's IAM data (it needs cfn-lint=={} beside moto; \
         MULTI_REGION_TOOLS=venv uses the suite's venv): {}",
        python.display(),
        testkit::CFN_LINT_VERSION,
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: BTreeMap<String, Option<bool>> = serde_json::from_slice(&out.stdout).unwrap();
    answer
        .into_iter()
        .map(|(action, takes)| {
            let takes = takes.unwrap_or_else(|| panic!("{action} is not an IAM action"));
            (action, takes)
        })
        .collect()
}

#[test]
fn no_action_is_a_wildcard_and_star_resources_are_only_where_iam_scopes_nothing() {
    let mut all = Vec::new();
    for (name, topology) in topologies() {
        for (holder, statement) in statements(&template(&topology)) {
            all.push((name, holder, statement));
        }
    }
    let every_action: BTreeSet<String> = all.iter().flat_map(|(_, _, s)| actions(s)).collect();
    let takes = takes_resources(
        &every_action
            .iter()
            .filter(|a| !a.starts_with("sts:"))
            .cloned()
            .collect(),
    );
    for (name, holder, statement) in &all {
        let sid = statement["Sid"].as_str().unwrap_or_default();
        assert_eq!(statement["Effect"], "Allow", "{name} {holder} {sid}");
        for action in actions(statement) {
            assert!(!action.contains('*'), "{name} {holder} {sid}: {action}");
        }
        let unscoped = statement["Resource"] == "*";
        assert_eq!(
            unscoped,
            sid.ends_with("NoResourceScope"),
            "{name} {holder} {sid}: a `*` resource, and only it, says so in its Sid"
        );
        for action in actions(statement) {
            assert_eq!(
                takes[&action],
                !unscoped,
                "{name} {holder} {sid}: {action} {} a resource-level permission",
                if takes[&action] { "takes" } else { "takes no" }
            );
        }
        if !unscoped {
            for arn in resources(statement) {
                // API Gateway's and Route 53's ARNs name no account: the caller's is implied.
                let plain = arn.replace("${AWS::Partition}", "aws");
                let accountless = plain.split(':').nth(4) == Some("");
                let own = arn.contains("multi-region-api")
                    || arn.contains("${HostedZoneId}")
                    || arn.contains("${AWS::AccountId}")
                    || arn.contains("ExecutionRole")
                    || accountless;
                assert!(own, "{name} {holder} {sid}: {arn} is not this deployment's");
                assert!(!arn.ends_with(":*"), "{name} {holder} {sid}: {arn}");
            }
        }
    }
    // Roles the stacks create are managed, and passed, only under the deployment's IAM path.
    let doc = template(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap());
    for (_, statement) in statements(&doc) {
        let iam: Vec<String> = actions(&statement)
            .into_iter()
            .filter(|a| a.starts_with("iam:") && a != "iam:CreateServiceLinkedRole")
            .collect();
        if iam.is_empty() {
            continue;
        }
        for arn in resources(&statement) {
            assert!(
                arn.ends_with(":role/multi-region-api/*") || arn.contains("ExecutionRole"),
                "{iam:?} on {arn}"
            );
        }
        if iam.contains(&"iam:PassRole".to_owned()) {
            assert!(
                statement["Condition"]["StringEquals"]["iam:PassedToService"].is_string()
                    || statement["Condition"]["StringEquals"]["iam:PassedToService"].is_array(),
                "{statement}"
            );
        }
    }
}

#[test]
fn the_trust_policies_pin_the_repository_and_its_environment_or_branch() {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let branch = PipelineSpec {
        repo: "octo-org/shop".parse().unwrap(),
        trusted: Trusted::Branch(RefName::branch("main").unwrap()),
    };
    for (spec, subject) in [
        (production(), "repo:octo-org/shop:environment:production"),
        (branch, "repo:octo-org/shop:ref:refs/heads/main"),
    ] {
        let doc = pipeline::template(&topology, &StackPrefix::default(), &spec)
            .unwrap()
            .to_json();
        for role in ["DeployRole", "StatusRole"] {
            let trust = &doc["Resources"][role]["Properties"]["AssumeRolePolicyDocument"];
            let statements = trust["Statement"].as_array().unwrap();
            assert_eq!(statements.len(), 1, "{role}: {trust}");
            let s = &statements[0];
            assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity");
            assert_eq!(
                s["Principal"]["Federated"],
                json!({ "Fn::If": ["CreateOidcProvider", { "Ref": "GitHubOidcProvider" }, { "Ref": "ExistingOidcProviderArn" }] })
            );
            // Exact matches only: no StringLike, no other operator that could widen them.
            let condition = s["Condition"].as_object().unwrap();
            assert_eq!(condition.keys().collect::<Vec<_>>(), ["StringEquals"]);
            assert_eq!(
                condition["StringEquals"],
                json!({
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": subject,
                }),
                "{role}"
            );
        }
        let provider = &doc["Resources"]["GitHubOidcProvider"];
        assert_eq!(provider["Condition"], "CreateOidcProvider");
        assert_eq!(
            provider["Properties"]["Url"],
            "https://token.actions.githubusercontent.com"
        );
        assert_eq!(
            provider["Properties"]["ClientIdList"],
            json!(["sts.amazonaws.com"])
        );
        // CloudFormation alone acts as the execution role; the deploy role may pass it, only
        // to CloudFormation, and no other role.
        let exec = &doc["Resources"]["ExecutionRole"]["Properties"]["AssumeRolePolicyDocument"];
        assert_eq!(
            exec["Statement"],
            json!([{ "Effect": "Allow", "Principal": { "Service": "cloudformation.amazonaws.com" }, "Action": "sts:AssumeRole" }])
        );
        let passes: Vec<Value> = statements(&doc)
            .into_iter()
            .filter(|(holder, s)| {
                holder == "DeployRole" && actions(s).contains(&"iam:PassRole".into())
            })
            .map(|(_, s)| s)
            .collect();
        assert_eq!(passes.len(), 1);
        assert_eq!(
            passes[0]["Resource"],
            json!({ "Fn::GetAtt": ["ExecutionRole", "Arn"] })
        );
        assert_eq!(
            passes[0]["Condition"],
            json!({ "StringEquals": { "iam:PassedToService": "cloudformation.amazonaws.com" } })
        );
    }
}

/// The SDK calls made in `source`: `.create_…()`, `.describe_…()` and the like, each the
/// start of a request builder that is sent (`.send()`) before the statement ends.
fn sdk_calls(source: &str) -> BTreeSet<String> {
    const VERBS: [&str; 10] = [
        "create_",
        "generate_",
        "describe_",
        "execute_",
        "delete_",
        "list_",
        "get_",
        "head_",
        "put_",
        "update_",
    ];
    let mut found = BTreeSet::new();
    for (at, _) in source.match_indices('.') {
        let rest = &source[at + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        let statement = rest.split(';').next().unwrap_or_default();
        if VERBS.iter().any(|v| name.starts_with(v))
            && rest[name.len()..].starts_with("()")
            && statement.contains(".send()")
        {
            found.insert(name);
        }
    }
    found
}

#[test]
fn every_call_infra_deploy_makes_is_granted_to_the_deploy_role_and_no_other() {
    let sources: BTreeSet<&str> = DEPLOY_CALLS.iter().map(|c| c.source).collect();
    for source in sources {
        let text = std::fs::read_to_string(root().join(source)).unwrap();
        let made = sdk_calls(&text);
        let listed: BTreeSet<String> = DEPLOY_CALLS
            .iter()
            .filter(|c| c.source == source)
            .map(|c| c.method.to_owned())
            .collect();
        for method in &listed {
            assert!(
                made.contains(method),
                "{source} no longer calls {method}: {made:?}"
            );
        }
        for method in &made {
            assert!(
                listed.contains(method) || NOT_DEPLOY_CALLS.iter().any(|(m, _)| m == method),
                "{source} calls {method}, which neither DEPLOY_CALLS nor NOT_DEPLOY_CALLS lists"
            );
        }
    }
    let arc = template(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap());
    let granted: BTreeSet<String> = statements(&arc)
        .into_iter()
        .filter(|(holder, _)| holder == "DeployRole")
        .flat_map(|(_, s)| actions(&s))
        .collect();
    let called: BTreeSet<String> = DEPLOY_CALLS.iter().map(|c| c.action.to_owned()).collect();
    assert!(called.is_subset(&granted), "{called:?} ⊄ {granted:?}");
    // Beyond the calls: passing the execution role, and the zone check CloudFormation makes.
    let extra: BTreeSet<&String> = granted.difference(&called).collect();
    assert_eq!(
        extra,
        BTreeSet::from([
            &"iam:PassRole".to_owned(),
            &"route53:ListHostedZones".to_owned()
        ])
    );
    // The deploy role creates nothing itself: no stack deletion, no IAM but PassRole.
    assert!(
        !granted
            .iter()
            .any(|a| a.contains("Delete") && a != "cloudformation:DeleteChangeSet")
    );
    // Its stacks: every stack of the plan, in its Region; app stacks by the prefix's pattern.
    let stacks = statements(&arc)
        .into_iter()
        .find(|(h, s)| h == "DeployRole" && s["Sid"] == "ChangeSetsOnThisDeploymentsStacks")
        .unwrap()
        .1;
    let arns = resources(&stacks);
    for expected in [
        "arn:${AWS::Partition}:cloudformation:us-east-1:${AWS::AccountId}:stack/multi-region-api-bootstrap/*",
        "arn:${AWS::Partition}:cloudformation:us-west-2:${AWS::AccountId}:stack/multi-region-api-arc/*",
        "arn:${AWS::Partition}:cloudformation:us-east-1:${AWS::AccountId}:stack/multi-region-api-data/*",
        "arn:${AWS::Partition}:cloudformation:us-west-2:${AWS::AccountId}:stack/multi-region-api-app-*/*",
    ] {
        assert!(
            arns.iter().any(|a| a == expected),
            "{expected} not in {arns:?}"
        );
    }
    let health_check = template(&super::aws_health_check::topology());
    let granted: Vec<String> = statements(&health_check)
        .into_iter()
        .filter(|(holder, _)| holder == "DeployRole")
        .flat_map(|(_, s)| actions(&s))
        .collect();
    assert!(
        !granted.iter().any(|a| a.starts_with("route53-recovery")),
        "{granted:?}"
    );
}

/// One stack, deployed through the orchestrator with (or without) an execution role.
fn one_stack_plan(name: &str, queue: &str) -> Plan {
    let mut template = Template::new("one queue");
    template.resource("Queue", "AWS::SQS::Queue", json!({ "QueueName": queue }));
    Plan {
        phases: vec![Phase {
            kind: PhaseKind::Bootstrap,
            stacks: vec![StackSpec {
                id: StackId {
                    region: "us-east-1".parse().unwrap(),
                    name: name.into(),
                },
                kind: StackKind::Bootstrap,
                template,
                parameters: vec![],
            }],
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orchestrator_passes_the_execution_role_on_every_change_set() {
    let moto = start_moto();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    let timing = Timing {
        poll: Duration::from_millis(50),
        stack_timeout: Duration::from_secs(15),
    };
    let role: RoleArn = "arn:aws:iam::123456789012:role/cfn-exec".parse().unwrap();
    let mut outputs = Default::default();

    // Created with the role, then updated (another change set) with it.
    for queue in ["first", "second"] {
        let plan = one_stack_plan("with-role", queue);
        let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), timing)
            .with_execution_role(Some(role.clone()));
        let outcomes = orchestrator
            .deploy_phase(&plan.phases[0], &mut outputs)
            .await
            .unwrap();
        assert_ne!(outcomes[0].1, StackOutcome::Unchanged);
        let stack = orchestrator
            .describe(&plan.phases[0].stacks[0].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stack.role_arn(), Some(role.to_string().as_str()), "{queue}");
    }

    // Without one (the default), CloudFormation is given no role: it acts as the caller.
    let plan = one_stack_plan("without-role", "third");
    let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), timing);
    orchestrator
        .deploy_phase(&plan.phases[0], &mut outputs)
        .await
        .unwrap();
    let stack = orchestrator
        .describe(&plan.phases[0].stacks[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stack.role_arn(), None);
}

fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    found.sort();
    found
}

#[test]
fn actionlint_reports_nothing_on_the_workflows() {
    let files = workflows();
    assert_eq!(files.len(), 4, "{files:?}");
    let out = Command::new(testkit::actionlint())
        .arg("-no-color")
        .args(&files)
        .current_dir(root())
        .output()
        .expect("actionlint runs");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "actionlint found problems (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_workflows_use_oidc_pinned_actions_and_the_suites_tool_versions() {
    let text =
        |name: &str| std::fs::read_to_string(root().join(".github/workflows").join(name)).unwrap();
    for path in workflows() {
        let body = std::fs::read_to_string(&path).unwrap();
        assert!(!body.contains("aws-access-key-id") && !body.contains("AWS_SECRET_ACCESS_KEY"));
        for line in body.lines().filter_map(|l| {
            l.trim()
                .strip_prefix("- uses: ")
                .or(l.trim().strip_prefix("uses: "))
        }) {
            if line.starts_with("./") {
                continue;
            }
            let (_, rest) = line.split_once('@').unwrap_or_else(|| panic!("{line}"));
            let sha: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: `{line}` is not pinned to a commit",
                path.display()
            );
            assert!(
                rest.contains("# v"),
                "{}: `{line}` does not say its version",
                path.display()
            );
        }
    }
    let deploy = text("deploy-environment.yml");
    for needed in [
        "id-token: write",
        "role-to-assume: ${{ vars.DEPLOY_ROLE_ARN }}",
        "cargo xtask build-lambdas",
        "infra synth --config",
        "cfn-lint\" --",
        "checkov\" --directory target/cfn",
        "infra deploy --yes",
        "--execution-role-arn \"$EXECUTION_ROLE_ARN\"",
        &format!(
            "role-duration-seconds: {}",
            pipeline::DEPLOY_SESSION_HOURS * 3600
        ),
        &format!("CFN_LINT_VERSION: \"{}\"", testkit::CFN_LINT_VERSION),
        &format!("CHECKOV_VERSION: \"{}\"", testkit::CHECKOV_VERSION),
    ] {
        assert!(
            deploy.contains(needed),
            "deploy-environment.yml lacks {needed}"
        );
    }
    let status = text("status.yml");
    for body in [&deploy, &status] {
        assert!(body.contains(&format!(
            "OutputKey=='{}'",
            bootstrap::OUTPUT_ARTIFACTS_BUCKET
        )));
        assert!(body.contains(pipeline::MANIFEST_KEY));
    }
    for needed in [
        "workflow_dispatch:",
        "type: environment",
        "role-to-assume: ${{ vars.STATUS_ROLE_ARN }}",
        "failover status --manifest deployment.json",
    ] {
        assert!(status.contains(needed), "status.yml lacks {needed}");
    }
    let ci = text("ci.yml");
    for needed in [
        "pull_request:",
        "cargo xtask test",
        "cargo fmt --all --check",
        "cargo clippy --workspace --all-targets -- -D warnings",
    ] {
        assert!(ci.contains(needed), "ci.yml lacks {needed}");
    }
    let main = text("deploy.yml");
    assert!(
        main.contains("branches: [main]")
            && main.contains("environment: staging")
            && main.contains("environment: production")
    );
}

fn infra(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("infra runs")
}

#[test]
fn pipeline_template_writes_the_stack_and_refuses_bad_flags_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, testkit::FIXTURE_TOPOLOGY).unwrap();
    let out_dir = dir.path().join("out");
    let ok = infra(&[
        "pipeline-template",
        "--config",
        config.to_str().unwrap(),
        "--repo",
        "octo-org/shop",
        "--environment",
        "staging",
        "--stack-prefix",
        "shop-staging",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("--region us-east-1 --stack-name shop-staging-pipeline"),
        "{stdout}"
    );
    assert!(
        !String::from_utf8_lossy(&ok.stderr).contains("note:"),
        "no note for an environment"
    );
    let branch = infra(&[
        "pipeline-template",
        "--config",
        config.to_str().unwrap(),
        "--repo",
        "octo-org/shop",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&branch.stderr);
    assert!(branch.status.success(), "{stderr}");
    assert!(
        stderr.contains("trust pushes to `main`") && stderr.contains("pass --environment NAME"),
        "the branch form says it does not fit the shipped workflows: {stderr}"
    );
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("shop-staging-pipeline.template.json")).unwrap(),
    )
    .unwrap();
    assert!(
        written
            .to_string()
            .contains("repo:octo-org/shop:environment:staging")
    );

    for (args, flag) in [
        (vec!["--repo", "octo-org"], "--repo"),
        (
            vec!["--repo", "octo-org/shop", "--environment", "prod*"],
            "--environment",
        ),
        (vec!["--repo", "octo-org/shop", "--branch", "*"], "--branch"),
    ] {
        let mut all = vec![
            "pipeline-template",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        all.extend(args);
        let out = infra(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(flag), "{stderr}");
    }
    let bad_role = infra(&[
        "deploy",
        "--config",
        config.to_str().unwrap(),
        "--execution-role-arn",
        "cfn-exec",
    ]);
    let stderr = String::from_utf8_lossy(&bad_role.stderr);
    assert_eq!(bad_role.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--execution-role-arn") && stderr.contains("role/NAME"),
        "{stderr}"
    );
}
