//! Plans as files: one TOML file per plan in a folder next to `topology.toml` (`plans/`),
//! named by its file stem. Loading parses every step into [`Step`] and checks what can be
//! checked without a deployment (one kind per step, unique names, durations, child plans that
//! exist and form no cycle); an error names the file, the step and the field.
//!
//! ```toml
//! description = "Move orders and users to the secondary"
//!
//! [[steps]]
//! name = "replication"
//! gate = { apps = ["orders", "users"], to = "secondary" }
//!
//! [[steps]]
//! name = "go"
//! approval = { message = "Move orders and users?" }
//!
//! [[steps]]
//! name = "move"
//! shift = { apps = ["orders", "users"], to = "secondary", verify = true }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use topology::AppName;

use super::step::{Apps, RegionRef, ShiftMode, Step, StepKind, Wait};
use crate::gate::DEFAULT_MAX_LAG;

/// Where plans live by default, relative to the working directory (next to `topology.toml`).
pub const DEFAULT_PLANS_DIR: &str = "plans";

/// A wait, verification or hook's default timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a plan cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}: step `{step}`: `{field}`: {message}", path.display())]
    Field {
        path: PathBuf,
        step: String,
        field: String,
        message: String,
    },
    #[error("no plan `{name}` in {}: its plans are {}", dir.display(), if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    NotFound {
        name: String,
        dir: PathBuf,
        known: Vec<String>,
    },
    #[error("plans call each other in a cycle: {}", chain.join(" -> "))]
    Cycle { chain: Vec<String> },
}

/// One plan, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The file's stem: what `plan run NAME` and a `plan = "NAME"` step say.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub steps: Vec<Step>,
}

impl Plan {
    /// Every step, nested ones included, depth first.
    pub fn all_steps(&self) -> Vec<&Step> {
        self.steps.iter().flat_map(Step::flatten).collect()
    }

    /// The plans this one runs as steps.
    pub fn children(&self) -> Vec<&str> {
        self.all_steps()
            .into_iter()
            .filter_map(|s| match &s.kind {
                StepKind::Plan { plan } => Some(plan.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// A plan and every plan it runs, transitively.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub root: Plan,
    pub children: BTreeMap<String, Plan>,
}

impl Loaded {
    /// The plan named `name`: the root or one of its children.
    pub fn plan(&self, name: &str) -> Option<&Plan> {
        if self.root.name == name {
            Some(&self.root)
        } else {
            self.children.get(name)
        }
    }
}

/// The plans folder.
#[derive(Debug, Clone)]
pub struct PlanDir {
    pub dir: PathBuf,
}

impl PlanDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The names of the plans in the folder, sorted.
    pub fn names(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names
    }

    /// Every plan of the folder with its child plans, as `check` and `run` load it: a broken
    /// one (or one whose child plan is missing, broken or a cycle) is its error.
    pub fn list(&self) -> Vec<Result<Plan, PlanFileError>> {
        self.names()
            .iter()
            .map(|n| self.load(n).map(|loaded| loaded.root))
            .collect()
    }

    /// `plan`: a name in the folder, or a path to a file (its children are looked up in the
    /// file's own folder). Loads its child plans too, refusing a cycle.
    pub fn load(&self, plan: &str) -> Result<Loaded, PlanFileError> {
        let as_path = Path::new(plan);
        let (dir, root) = if plan.ends_with(".toml") || as_path.components().count() > 1 {
            let dir = as_path
                .parent()
                .map_or_else(PathBuf::new, Path::to_path_buf);
            (PlanDir::new(dir), parse_file(as_path)?)
        } else {
            (self.clone(), self.read(plan)?)
        };
        let mut children = BTreeMap::new();
        dir.load_children(&root, &mut vec![root.name.clone()], &mut children)?;
        Ok(Loaded { root, children })
    }

    fn load_children(
        &self,
        plan: &Plan,
        chain: &mut Vec<String>,
        loaded: &mut BTreeMap<String, Plan>,
    ) -> Result<(), PlanFileError> {
        for child in plan.children() {
            if chain.iter().any(|c| c == child) {
                let mut cycle = chain.clone();
                cycle.push(child.to_owned());
                return Err(PlanFileError::Cycle { chain: cycle });
            }
            let found = match loaded.get(child) {
                Some(found) => found.clone(),
                None => self.read(child)?,
            };
            chain.push(child.to_owned());
            self.load_children(&found, chain, loaded)?;
            chain.pop();
            loaded.insert(child.to_owned(), found);
        }
        Ok(())
    }

    fn read(&self, name: &str) -> Result<Plan, PlanFileError> {
        let path = self.dir.join(format!("{name}.toml"));
        if !path.is_file() {
            return Err(PlanFileError::NotFound {
                name: name.to_owned(),
                dir: self.dir.clone(),
                known: self.names(),
            });
        }
        parse_file(&path)
    }
}

fn parse_file(path: &Path) -> Result<Plan, PlanFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanFileError::File {
        path: path.to_owned(),
        message: format!("cannot read it: {e}"),
    })?;
    parse(&text, path)
}

/// Parses a plan's text; `path` names it in errors and gives its name.
pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanFileError> {
    let file_error = |message: String| PlanFileError::File {
        path: path.to_owned(),
        message,
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| file_error("a plan's file needs a name".into()))?;
    let raw: RawPlan = toml::from_str(text).map_err(|e| file_error(e.to_string()))?;
    if raw.steps.is_empty() {
        return Err(file_error("no steps: add at least one [[steps]]".into()));
    }
    let mut seen = BTreeSet::new();
    let steps = raw
        .steps
        .into_iter()
        .enumerate()
        .map(|(i, value)| step(value, i, path, false, &mut seen))
        .collect::<Result<_, _>>()?;
    Ok(Plan {
        name,
        path: path.to_owned(),
        description: raw.description.unwrap_or_default(),
        steps,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    description: Option<String>,
    #[serde(default)]
    steps: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    gate: Option<RawGate>,
    shift: Option<RawShift>,
    verify: Option<RawVerify>,
    wait: Option<RawWait>,
    approval: Option<RawApproval>,
    warm_up: Option<RawWarmUp>,
    command: Option<RawCommand>,
    http: Option<RawHttp>,
    plan: Option<String>,
    parallel: Option<Vec<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawApps {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    apps: RawApps,
    to: String,
    max_lag: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShift {
    apps: RawApps,
    to: String,
    mode: Option<String>,
    verify: Option<bool>,
    verify_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerify {
    apps: RawApps,
    region: String,
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWait {
    duration: Option<String>,
    app: Option<String>,
    alarm: Option<String>,
    region: Option<String>,
    state: Option<String>,
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWarmUp {
    apps: RawApps,
    region: String,
    requests: Option<u32>,
    path: Option<String>,
    min_success: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    run: Vec<String>,
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    url: String,
    method: Option<String>,
    body: Option<String>,
    expect_status: Option<u16>,
    timeout: Option<String>,
}

/// Builds errors that name the file and the step.
struct At<'a> {
    path: &'a Path,
    step: String,
}

impl At<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> PlanFileError {
        PlanFileError::Field {
            path: self.path.to_owned(),
            step: self.step.clone(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn duration(
        &self,
        field: &str,
        text: Option<&str>,
        default: Duration,
    ) -> Result<Duration, PlanFileError> {
        match text {
            None => Ok(default),
            Some(text) => {
                topology::duration::parse(text).map_err(|e| self.err(field, e.to_string()))
            }
        }
    }

    fn region(&self, field: &str, text: &str) -> Result<RegionRef, PlanFileError> {
        RegionRef::parse(text).map_err(|e| self.err(field, e))
    }

    fn apps(&self, field: &str, raw: RawApps) -> Result<Apps, PlanFileError> {
        let names = match raw {
            RawApps::One(all) if all == "all" => return Ok(Apps::All),
            RawApps::One(one) => vec![one],
            RawApps::Many(many) => many,
        };
        if names.is_empty() {
            return Err(self.err(field, "no apps: name at least one, or write \"all\""));
        }
        let apps = names
            .iter()
            .map(|n| {
                n.parse::<AppName>()
                    .map_err(|e| self.err(field, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Apps::Named(apps))
    }
}

/// Step `index` (0-based) of the file, or of a parallel group when `nested`.
fn step(
    value: toml::Value,
    index: usize,
    path: &Path,
    nested: bool,
    seen: &mut BTreeSet<String>,
) -> Result<Step, PlanFileError> {
    let label = value
        .get("name")
        .and_then(toml::Value::as_str)
        .map_or_else(|| format!("#{}", index + 1), str::to_owned);
    let at = At { path, step: label };
    let raw: RawStep = value
        .try_into()
        .map_err(|e: toml::de::Error| at.err("(step)", e.message().to_owned()))?;
    if raw.name.trim().is_empty() || raw.name.chars().any(char::is_control) {
        return Err(at.err("name", "a step needs a name of printable characters"));
    }
    if !seen.insert(raw.name.clone()) {
        return Err(at.err("name", "another step of this plan has this name"));
    }
    let kinds: Vec<&str> = [
        ("gate", raw.gate.is_some()),
        ("shift", raw.shift.is_some()),
        ("verify", raw.verify.is_some()),
        ("wait", raw.wait.is_some()),
        ("approval", raw.approval.is_some()),
        ("warm_up", raw.warm_up.is_some()),
        ("command", raw.command.is_some()),
        ("http", raw.http.is_some()),
        ("plan", raw.plan.is_some()),
        ("parallel", raw.parallel.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    if kinds.len() != 1 {
        return Err(at.err(
            "(kind)",
            format!(
                "a step has exactly one of gate, shift, verify, wait, approval, warm_up, command, http, plan, parallel (found {})",
                if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") }
            ),
        ));
    }
    let kind = kind(raw, &at, nested, seen)?;
    Ok(Step {
        name: at.step,
        kind,
    })
}

fn kind(
    raw: RawStep,
    at: &At<'_>,
    nested: bool,
    seen: &mut BTreeSet<String>,
) -> Result<StepKind, PlanFileError> {
    if let Some(g) = raw.gate {
        return Ok(StepKind::Gate {
            apps: at.apps("gate.apps", g.apps)?,
            to: at.region("gate.to", &g.to)?,
            max_lag: at.duration("gate.max_lag", g.max_lag.as_deref(), DEFAULT_MAX_LAG)?,
        });
    }
    if let Some(s) = raw.shift {
        let mode = match s.mode.as_deref() {
            None | Some("batch") => ShiftMode::Batch,
            Some("parallel") => ShiftMode::Parallel,
            Some(other) => {
                return Err(at.err(
                    "shift.mode",
                    format!("`{other}`: `batch` (one call for all the apps) or `parallel` (one call per app, at once)"),
                ));
            }
        };
        return Ok(StepKind::Shift {
            apps: at.apps("shift.apps", s.apps)?,
            to: at.region("shift.to", &s.to)?,
            mode,
            verify: s.verify.unwrap_or(false),
            verify_timeout: at.duration(
                "shift.verify_timeout",
                s.verify_timeout.as_deref(),
                DEFAULT_TIMEOUT,
            )?,
        });
    }
    if let Some(v) = raw.verify {
        return Ok(StepKind::Verify {
            apps: at.apps("verify.apps", v.apps)?,
            region: at.region("verify.region", &v.region)?,
            timeout: at.duration("verify.timeout", v.timeout.as_deref(), DEFAULT_TIMEOUT)?,
        });
    }
    if let Some(w) = raw.wait {
        return wait(w, at).map(StepKind::Wait);
    }
    if let Some(a) = raw.approval {
        if nested {
            return Err(at.err(
                "approval",
                "an approval cannot be part of a parallel group: put it before the group",
            ));
        }
        return Ok(StepKind::Approval {
            message: a
                .message
                .unwrap_or_else(|| format!("Continue past `{}`?", at.step)),
        });
    }
    if let Some(w) = raw.warm_up {
        let requests = w.requests.unwrap_or(20);
        if requests == 0 || requests > 10_000 {
            return Err(at.err("warm_up.requests", "between 1 and 10000"));
        }
        let min_success = w.min_success.unwrap_or(requests);
        if min_success > requests {
            return Err(at.err(
                "warm_up.min_success",
                format!("at most `requests` ({requests})"),
            ));
        }
        let path = w.path.unwrap_or_else(|| "/".into());
        if !path.starts_with('/') {
            return Err(at.err("warm_up.path", "a path starts with `/`"));
        }
        return Ok(StepKind::WarmUp {
            apps: at.apps("warm_up.apps", w.apps)?,
            region: at.region("warm_up.region", &w.region)?,
            requests,
            path,
            min_success,
        });
    }
    if let Some(c) = raw.command {
        if c.run.is_empty() || c.run[0].is_empty() {
            return Err(at.err(
                "command.run",
                "the program to run, then its arguments: [\"./scripts/check.sh\", \"orders\"]",
            ));
        }
        return Ok(StepKind::Command {
            run: c.run,
            timeout: at.duration("command.timeout", c.timeout.as_deref(), DEFAULT_TIMEOUT)?,
        });
    }
    if let Some(h) = raw.http {
        if reqwest::Url::parse(&h.url).map(|u| u.scheme().starts_with("http")) != Ok(true) {
            return Err(at.err("http.url", format!("`{}` is not an http(s) URL", h.url)));
        }
        let method = h
            .method
            .unwrap_or_else(|| "GET".into())
            .to_ascii_uppercase();
        if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(at.err("http.method", format!("`{method}` is not an HTTP method")));
        }
        let expect_status = h.expect_status.unwrap_or(200);
        if !(100..=599).contains(&expect_status) {
            return Err(at.err("http.expect_status", "an HTTP status, 100 to 599"));
        }
        return Ok(StepKind::Http {
            method,
            url: h.url,
            body: h.body,
            expect_status,
            timeout: at.duration(
                "http.timeout",
                h.timeout.as_deref(),
                Duration::from_secs(30),
            )?,
        });
    }
    if let Some(plan) = raw.plan {
        if plan.is_empty() || plan.contains(['/', '\\']) {
            return Err(at.err(
                "plan",
                "the name of another plan of this folder (its file stem)",
            ));
        }
        return Ok(StepKind::Plan { plan });
    }
    let group = raw.parallel.unwrap_or_default();
    if nested {
        return Err(at.err("parallel", "parallel groups do not nest"));
    }
    if group.len() < 2 {
        return Err(at.err("parallel", "a parallel group has at least two steps"));
    }
    let steps = group
        .into_iter()
        .enumerate()
        .map(|(i, v)| step(v, i, at.path, true, seen))
        .collect::<Result<_, _>>()?;
    Ok(StepKind::Parallel { steps })
}

fn wait(w: RawWait, at: &At<'_>) -> Result<Wait, PlanFileError> {
    let timeout = at.duration("wait.timeout", w.timeout.as_deref(), DEFAULT_TIMEOUT)?;
    match (w.duration, w.app, w.alarm) {
        (Some(duration), None, None) => {
            if w.region.is_some() || w.state.is_some() || w.timeout.is_some() {
                return Err(at.err("wait", "a wait for a duration takes only `duration`"));
            }
            Ok(Wait::Duration(at.duration("wait.duration", Some(&duration), Duration::ZERO)?))
        }
        (None, Some(app), None) => Ok(Wait::Answers {
            app: app.parse().map_err(|e: topology::NameError| at.err("wait.app", e.to_string()))?,
            region: at.region("wait.region", w.region.as_deref().ok_or_else(|| at.err("wait.region", "which Region's instance must answer"))?)?,
            timeout,
        }),
        (None, None, Some(name)) => {
            let state = w.state.unwrap_or_else(|| "OK".into());
            if !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&state.as_str()) {
                return Err(at.err("wait.state", format!("`{state}`: OK, ALARM or INSUFFICIENT_DATA")));
            }
            Ok(Wait::Alarm {
                name,
                region: at.region("wait.region", w.region.as_deref().ok_or_else(|| at.err("wait.region", "the Region whose CloudWatch holds the alarm"))?)?,
                state,
                timeout,
            })
        }
        _ => Err(at.err(
            "wait",
            "exactly one of `duration` (\"30s\"), `app` (with `region`: until it answers there) or `alarm` (with `region` and `state`)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Plan, PlanFileError> {
        parse(text, Path::new("plans/p.toml"))
    }

    #[test]
    fn every_kind_of_step_parses() {
        let plan = parse_text(
            r#"
description = "all kinds"
[[steps]]
name = "gate"
gate = { apps = "all", to = "secondary", max_lag = "2s" }
[[steps]]
name = "ok?"
approval = {}
[[steps]]
name = "warm"
warm_up = { apps = ["orders"], region = "us-west-2", requests = 5 }
[[steps]]
name = "both"
[[steps.parallel]]
name = "orders"
shift = { apps = ["orders"], to = "secondary", verify = true }
[[steps.parallel]]
name = "settle"
wait = { duration = "1s" }
[[steps]]
name = "answers"
wait = { app = "orders", region = "secondary", timeout = "10s" }
[[steps]]
name = "alarm"
wait = { alarm = "orders-5xx", region = "secondary", state = "OK" }
[[steps]]
name = "hook"
command = { run = ["true"] }
[[steps]]
name = "call"
http = { url = "http://127.0.0.1:9/x", method = "post", expect_status = 204 }
[[steps]]
name = "child"
plan = "other"
[[steps]]
name = "check"
verify = { apps = ["orders"], region = "secondary", timeout = "30s" }
"#,
        )
        .unwrap();
        assert_eq!(plan.name, "p");
        let words: Vec<&str> = plan.all_steps().iter().map(|s| s.kind.word()).collect();
        assert_eq!(
            words,
            [
                "gate", "approval", "warm_up", "parallel", "shift", "wait", "wait", "wait",
                "command", "http", "plan", "verify"
            ]
        );
        assert_eq!(plan.children(), ["other"]);
        let StepKind::Gate { max_lag, apps, .. } = &plan.steps[0].kind else {
            panic!()
        };
        assert_eq!((*max_lag, apps), (Duration::from_secs(2), &Apps::All));
    }

    #[test]
    fn errors_name_the_file_the_step_and_the_field() {
        let cases = [
            (
                "[[steps]]\nname = \"a\"\nshift = { apps = [\"orders\"], to = \"mars\" }",
                "step `a`: `shift.to`",
            ),
            (
                "[[steps]]\nname = \"a\"\nwait = { duration = \"soon\" }",
                "step `a`: `wait.duration`",
            ),
            (
                "[[steps]]\nname = \"a\"\nshift = { apps = [], to = \"primary\" }",
                "step `a`: `shift.apps`",
            ),
            (
                "[[steps]]\nname = \"a\"\nshift = { apps = \"all\", to = \"primary\", mode = \"each\" }",
                "step `a`: `shift.mode`",
            ),
            (
                "[[steps]]\nname = \"a\"\nshift = { apps = \"all\", too = \"primary\" }",
                "unknown field `too`",
            ),
            (
                "[[steps]]\nname = \"a\"\nwait = { duration = \"1s\" }\napproval = {}",
                "exactly one of",
            ),
            (
                "[[steps]]\nname = \"a\"\napproval = {}\n[[steps]]\nname = \"a\"\napproval = {}",
                "`name`: another step",
            ),
            (
                "[[steps]]\nname = \"g\"\n[[steps.parallel]]\nname = \"x\"\napproval = {}\n[[steps.parallel]]\nname = \"y\"\napproval = {}",
                "step `x`: `approval`",
            ),
            (
                "[[steps]]\nname = \"a\"\nwarm_up = { apps = \"all\", region = \"primary\", requests = 2, min_success = 3 }",
                "`warm_up.min_success`",
            ),
            ("description = \"nothing\"", "no steps"),
            (
                "[[steps]]\nname = \"a\"\nhttp = { url = \"ftp://x\" }",
                "`http.url`",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_text(text).expect_err(text).to_string();
            assert!(error.starts_with("plans/p.toml: "), "{error}");
            assert!(error.contains(expected), "{text}\n=> {error}");
        }
    }

    #[test]
    fn child_plans_are_loaded_and_a_cycle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, child: &str| {
            let text = format!("[[steps]]\nname = \"child\"\nplan = \"{child}\"\n");
            std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
        };
        std::fs::write(
            dir.path().join("leaf.toml"),
            "[[steps]]\nname = \"w\"\nwait = { duration = \"1ms\" }\n",
        )
        .unwrap();
        write("top", "middle");
        write("middle", "leaf");
        let plans = PlanDir::new(dir.path());
        let loaded = plans.load("top").unwrap();
        assert_eq!(
            loaded.children.keys().collect::<Vec<_>>(),
            ["leaf", "middle"]
        );
        assert_eq!(plans.names(), ["leaf", "middle", "top"]);

        write("leaf", "top");
        let error = plans.load("top").unwrap_err().to_string();
        assert!(error.contains("top -> middle -> leaf -> top"), "{error}");

        let error = plans.load("nope").unwrap_err().to_string();
        assert!(
            error.contains("no plan `nope`") && error.contains("middle"),
            "{error}"
        );

        // The list loads each plan as a run would: the cycle shows on every plan in it, and
        // a missing child on its parent.
        write("leaf", "gone");
        let listed: Vec<String> = plans
            .list()
            .into_iter()
            .map(|p| p.map_or_else(|e| e.to_string(), |p| format!("ok {}", p.name)))
            .collect();
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert!(
            listed.iter().all(|l| l.contains("no plan `gone`")),
            "{listed:?}"
        );
    }
}
