//! The contract test every service runs: schemathesis (pinned: [`crate::SCHEMATHESIS_VERSION`])
//! reads the running app's own `/openapi.json`, generates requests from it and checks every
//! answer against it, with all of its checks (`--checks all`: no 5xx, only documented
//! statuses, content types, headers and bodies, schema-violating requests refused,
//! schema-valid ones accepted, missing required headers refused, unsupported methods, ...)
//! over its four phases: the documented examples, boundary coverage, fuzzing, and stateful
//! sequences that follow the links it infers (an id from `POST`'s `Location` into `GET`,
//! `PATCH`, `DELETE`).
//!
//! The deliberate exceptions, each with its reason, are in the committed configuration,
//! `services/schemathesis.toml` ([`CONFIG`]), in schemathesis' own format: the same file a
//! person uses by hand (`schemathesis --config-file services/schemathesis.toml run
//! http://127.0.0.1:8000/openapi.json --checks all`).
//!
//! It runs offline. schemathesis 4 has no telemetry and no report upload; on top of that,
//! the run's `HTTP_PROXY`/`HTTPS_PROXY` point at a closed loopback port with only loopback
//! exempt, so a request to anywhere but the app fails rather than leaves the machine. Its
//! reports and Hypothesis' files go under the target directory (`schemathesis/`), never into
//! the source tree. The seed is printed; `CONTRACT_SEED=<n>` replays a run.
//!
//! What the old hand-written engine checked and schemathesis does not, nothing is kept of:
//! every check it made (statuses, problem bodies as documented schemas, schema-valid requests
//! accepted, invalid ones refused with a 4xx) is one of schemathesis' checks.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::service::TestApp;

/// The committed schemathesis configuration, relative to the workspace's root.
pub const CONFIG: &str = "services/schemathesis.toml";

/// How many cases schemathesis drew per operation, and what the service answered.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContractReport {
    /// Cases per operation: `"PATCH /users/{id}" => 212`.
    pub cases: BTreeMap<String, usize>,
    /// Answers per operation and status: `"PATCH /users/{id} 412" => 31`.
    pub statuses: BTreeMap<String, usize>,
}

impl ContractReport {
    /// Cases of one operation (`"POST /users"`).
    pub fn cases_of(&self, operation: &str) -> usize {
        self.cases.get(operation).copied().unwrap_or(0)
    }

    /// Answers of one operation in a status class (`2` for 2xx).
    pub fn answered(&self, operation: &str, class: u16) -> usize {
        self.statuses
            .iter()
            .filter(|(key, _)| {
                key.rsplit_once(' ').is_some_and(|(op, status)| {
                    op == operation && status.parse::<u16>().is_ok_and(|s| s / 100 == class)
                })
            })
            .map(|(_, n)| n)
            .sum()
    }
}

impl ContractReport {
    /// One line per operation in `operations`, then one for the methods the document does
    /// not have (each case of which must be answered 405).
    pub fn summary(&self, operations: &[String]) -> String {
        let (documented, other): (Vec<_>, Vec<_>) =
            self.cases.keys().partition(|op| operations.contains(op));
        let mut text = String::new();
        for operation in documented {
            text.push_str(&self.line(operation));
        }
        let probes: usize = other.iter().map(|op| self.cases_of(op)).sum();
        if probes > 0 {
            let refused: usize = other.iter().map(|op| self.statuses_of(op, 405)).sum();
            text.push_str(&format!(
                "  {probes} cases of undocumented methods, {refused} answered 405\n"
            ));
        }
        text
    }

    fn statuses_of(&self, operation: &str, status: u16) -> usize {
        self.statuses
            .get(&format!("{operation} {status}"))
            .copied()
            .unwrap_or(0)
    }

    fn line(&self, operation: &str) -> String {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .filter_map(|(key, n)| {
                let (op, status) = key.rsplit_once(' ')?;
                (op == operation).then(|| format!("{status}×{n}"))
            })
            .collect();
        let cases = self.cases_of(operation);
        format!("  {operation}: {cases} cases ({})\n", statuses.join(", "))
    }
}

impl fmt::Display for ContractReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cases
            .keys()
            .try_for_each(|op| f.write_str(&self.line(op)))
    }
}

/// Runs schemathesis against `app` with at most `max_examples` cases per operation and
/// phase, and panics with its report (each failure with a `curl` line to reproduce it) when
/// anything breaks the contract beyond the configured exceptions. Also panics when an
/// operation of the document got no case, or was never answered with a 2xx: an operation
/// that cannot be generated is an untested one. Returns what was sent.
pub async fn check_contract(app: &TestApp, max_examples: u32) -> ContractReport {
    let operations = documented_operations(app).await;
    let run = Run::new(app, max_examples);
    let outcome = tokio::task::spawn_blocking(move || run.execute())
        .await
        .expect("the schemathesis run");
    assert!(
        outcome.success,
        "schemathesis found contract failures (replay with CONTRACT_SEED={}):\n{}",
        outcome.seed, outcome.output
    );
    let report = outcome.report;
    println!(
        "schemathesis, seed {}:\n{}",
        outcome.seed,
        report.summary(&operations)
    );
    for operation in &operations {
        assert!(
            report.cases_of(operation) > 0,
            "schemathesis generated no case for {operation}:\n{report}"
        );
        assert!(
            report.answered(operation, 2) > 0,
            "no case of {operation} was accepted (2xx): it was never tested past validation:\n{report}"
        );
    }
    report
}

/// `"METHOD /path"` for each operation of the app's document.
async fn documented_operations(app: &TestApp) -> Vec<String> {
    let doc: Value = app
        .get("/openapi.json")
        .await
        .json()
        .await
        .expect("the document is JSON");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            operations.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(!operations.is_empty(), "the document lists no operation");
    operations
}

/// One schemathesis run, ready to execute.
struct Run {
    schema: String,
    max_examples: u32,
    seed: String,
    /// Its reports and Hypothesis' files.
    dir: PathBuf,
}

/// What a run came to.
struct Outcome {
    success: bool,
    output: String,
    seed: String,
    report: ContractReport,
}

impl Run {
    fn new(app: &TestApp, max_examples: u32) -> Self {
        let seed = std::env::var("CONTRACT_SEED").unwrap_or_else(|_| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos());
            now.to_string()
        });
        let name = app.base.rsplit(':').next().unwrap_or("app");
        let dir = crate::target_dir()
            .join("schemathesis")
            .join(crate::unique_name(&format!("port-{name}")));
        Self {
            schema: app.url("/openapi.json"),
            max_examples,
            seed,
            dir,
        }
    }

    fn execute(self) -> Outcome {
        std::fs::create_dir_all(&self.dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", self.dir.display()));
        let output = self
            .command(&crate::schemathesis())
            .output()
            .unwrap_or_else(|e| panic!("cannot run schemathesis: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let report = read_events(&self.dir.join("events.ndjson"));
        // A run that passed leaves nothing to look at; a failed one keeps its events.
        if output.status.success() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Outcome {
            success: output.status.success(),
            output: text,
            seed: self.seed,
            report,
        }
    }

    fn command(&self, schemathesis: &Path) -> Command {
        // Nothing but loopback is reachable through this proxy: port 9 (discard) is closed.
        const NOWHERE: &str = "http://127.0.0.1:9";
        let config = crate::workspace_root().join(CONFIG);
        let mut command = Command::new(schemathesis);
        command
            .arg("--config-file")
            .arg(&config)
            .arg("--no-color")
            .args(["run", &self.schema, "--checks", "all", "--seed", &self.seed])
            .args(["--max-examples", &self.max_examples.to_string()])
            .args(["--report", "ndjson", "--report-ndjson-path"])
            .arg(self.dir.join("events.ndjson"))
            .current_dir(&self.dir)
            .env("HYPOTHESIS_STORAGE_DIRECTORY", self.dir.join("hypothesis"))
            .env("NO_COLOR", "1");
        for (name, value) in [
            ("HTTP_PROXY", NOWHERE),
            ("HTTPS_PROXY", NOWHERE),
            ("ALL_PROXY", NOWHERE),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ] {
            command.env(name, value).env(name.to_lowercase(), value);
        }
        command
    }
}

/// Cases and statuses per operation, from schemathesis' NDJSON events (its
/// `ScenarioFinished` events record every case and the answer it got).
fn read_events(path: &Path) -> ContractReport {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut report = ContractReport::default();
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let finished = &event["ScenarioFinished"];
        let cases = finished["recorder"]["cases"].as_object();
        for (id, case) in cases.into_iter().flatten() {
            let value = &case["value"];
            let (Some(method), Some(path)) = (value["method"].as_str(), value["path"].as_str())
            else {
                continue;
            };
            let operation = format!("{} {path}", method.to_uppercase());
            *report.cases.entry(operation.clone()).or_default() += 1;
            let status = &finished["recorder"]["interactions"][id]["response"]["status_code"];
            if let Some(status) = status.as_u64() {
                *report
                    .statuses
                    .entry(format!("{operation} {status}"))
                    .or_default() += 1;
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_cases_and_answers_per_operation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        let scenario = |cases: Value, interactions: Value| {
            serde_json::json!({"ScenarioFinished": {"recorder": {
                "cases": cases, "interactions": interactions}}})
            .to_string()
        };
        let lines = [
            serde_json::json!({"Initialize": {}}).to_string(),
            scenario(
                serde_json::json!({
                    "a": {"value": {"method": "POST", "path": "/users"}},
                    "b": {"value": {"method": "POST", "path": "/users"}}}),
                serde_json::json!({
                    "a": {"response": {"status_code": 201}},
                    "b": {"response": {"status_code": 422}}}),
            ),
            scenario(
                serde_json::json!({"c": {"value": {"method": "patch", "path": "/users/{id}"}}}),
                serde_json::json!({"c": {"response": {"status_code": 412}}}),
            ),
            "not json".to_owned(),
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let report = read_events(&path);
        assert_eq!(report.cases_of("POST /users"), 2);
        assert_eq!(report.cases_of("PATCH /users/{id}"), 1);
        assert_eq!(report.answered("POST /users", 2), 1);
        assert_eq!(report.answered("POST /users", 4), 1);
        assert_eq!(report.answered("PATCH /users/{id}", 2), 0);
        assert_eq!(
            read_events(&dir.path().join("missing")),
            ContractReport::default()
        );
        let shown = report.to_string();
        assert!(
            shown.contains("POST /users: 2 cases (201×1, 422×1)"),
            "{shown}"
        );
        let summary = report.summary(&["POST /users".to_owned()]);
        assert!(!summary.contains("PATCH"), "{summary}");
        assert!(
            summary.contains("1 cases of undocumented methods, 0 answered 405"),
            "{summary}"
        );
    }
}
