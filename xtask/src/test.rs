//! `cargo xtask test`: the whole test suite, as fast as this machine allows.
//!
//! `cargo test` builds every test binary, then runs them one after another; most of this
//! suite's time is spent waiting (on moto, on DNS answers expiring, on a drill's traffic), so
//! one at a time leaves the machine idle. Here:
//!
//! 1. the tool venvs that are missing start being created first, in the background, so that
//!    pip works while the compiler does;
//! 2. the build (`cargo test --no-run`) runs at a lower CPU priority, and each test binary
//!    starts as soon as it is linked (an integration test, once its package's binaries are
//!    too: it may run them), while the rest still compile;
//! 3. up to `--jobs` binaries run at once, each with its output in a log file, printed whole
//!    when it fails; then the doc tests.
//!
//! The tests are the same as `cargo test --workspace`'s, binary for binary.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// How many test binaries run at once.
    pub jobs: usize,
    /// Only these packages (`-p`); every workspace member when empty.
    pub packages: Vec<String>,
    /// Passed to every test binary (a name filter, `--nocapture`, …).
    pub args: Vec<String>,
}

/// The default `--jobs`: the suite's binaries mostly wait, so twice the CPUs.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// One test binary, as the build reported it.
#[derive(Clone, Debug)]
struct Binary {
    /// For people: `local-world --test suite`, `kit (lib)`, `doc tests`.
    label: String,
    command: Vec<OsString>,
    /// Where cargo would run it: its package's folder.
    dir: PathBuf,
    /// What cargo sets for it at run time.
    env: Vec<(&'static str, OsString)>,
    package: String,
    /// An integration test, which may run its package's binaries (`CARGO_BIN_EXE_*`).
    needs_bins: bool,
}

/// What the build thread tells the scheduler.
enum Built {
    Test(Binary),
    /// One of `package`'s binaries is linked.
    Bin {
        package: String,
    },
    Finished {
        success: bool,
    },
}

/// A binary that is running, with its log.
struct Running {
    binary: Binary,
    child: Child,
    log: PathBuf,
    started: Instant,
}

/// The counts of one binary's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

/// Runs the suite; fails when the build or any test fails.
pub fn run(root: &Path, options: &Options) -> anyhow::Result<()> {
    let start = Instant::now();
    let venvs = testkit::start_tools();
    if venvs > 0 {
        println!("test: creating {venvs} tool venv(s) in the background (uv), while building");
    }
    let logs = testkit::target_dir().join("xtask-test");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let bins = bins_per_package(root)?;
    let built = spawn_build(root, options)?;
    let outcome = schedule(built, bins, options, &logs, root)?;
    println!(
        "\ntest: {} binaries, {} passed, {} failed, {} ignored, in {:.1} s (logs in {})",
        outcome.binaries,
        outcome.counts.passed,
        outcome.counts.failed,
        outcome.counts.ignored,
        start.elapsed().as_secs_f64(),
        logs.display()
    );
    if !outcome.build_ok {
        bail!("`cargo test --no-run` failed (see its messages above)");
    }
    if !outcome.failed.is_empty() {
        bail!("failed: {}", outcome.failed.join(", "));
    }
    Ok(())
}

/// What this needs of `cargo metadata --no-deps --format-version 1`.
#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<MetadataPackage>,
}

/// A workspace package, as `cargo metadata` describes it.
#[derive(Debug, Deserialize)]
struct MetadataPackage {
    name: String,
    targets: Vec<MetadataTarget>,
}

/// A build target of a package: `bin`, `lib`, `test`, ...
#[derive(Debug, Deserialize)]
struct MetadataTarget {
    kind: Vec<String>,
}

impl Metadata {
    /// How many binary targets each package has.
    fn bins_per_package(self) -> HashMap<String, usize> {
        self.packages
            .into_iter()
            .map(|package| {
                let bins = package
                    .targets
                    .iter()
                    .filter(|t| t.kind.iter().any(|k| k == "bin"))
                    .count();
                (package.name, bins)
            })
            .collect()
    }
}

/// How many binary targets each workspace package has, from `cargo metadata`.
fn bins_per_package(root: &Path) -> anyhow::Result<HashMap<String, usize>> {
    let output = Command::new(crate::cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run `cargo metadata`")?;
    if !output.status.success() {
        bail!("`cargo metadata` failed ({})", output.status);
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("reading `cargo metadata`'s output")?;
    Ok(metadata.bins_per_package())
}

/// The build, reporting each test binary as soon as it is linked.
fn spawn_build(root: &Path, options: &Options) -> anyhow::Result<Receiver<Built>> {
    let mut command = low_priority(crate::cargo());
    command
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if options.packages.is_empty() {
        command.arg("--workspace");
    }
    for package in &options.packages {
        command.args(["--package", package]);
    }
    let mut child = command
        .spawn()
        .context("cannot start `cargo test --no-run`")?;
    let stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(built) = serde_json::from_str(&line).ok().and_then(|m| artifact(&m)) {
                let _ = sender.send(built);
            }
        }
        let success = child.wait().is_ok_and(|s| s.success());
        let _ = sender.send(Built::Finished { success });
    });
    Ok(receiver)
}

/// The test binary, or the package binary, a `compiler-artifact` message reports.
fn artifact(message: &Value) -> Option<Built> {
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let executable = message["executable"].as_str()?;
    let manifest = Path::new(message["manifest_path"].as_str()?);
    let package = package_name(message["package_id"].as_str()?, manifest);
    let target = &message["target"];
    let kind = target["kind"][0].as_str()?;
    if message["profile"]["test"] != true {
        return (kind == "bin").then_some(Built::Bin { package });
    }
    let label = match kind {
        "test" => format!("{package} --test {}", target["name"].as_str()?),
        kind => format!("{package} ({kind})"),
    };
    let dir = manifest.parent()?.to_path_buf();
    Some(Built::Test(Binary {
        label,
        command: vec![executable.into()],
        // As `cargo test` runs it: its package's name and folder.
        env: vec![
            ("CARGO_MANIFEST_DIR", dir.clone().into()),
            ("CARGO_PKG_NAME", package.clone().into()),
        ],
        dir,
        package,
        needs_bins: kind == "test",
    }))
}

/// A package's name from its id: `path+file:///w/local#local-world@0.1.0` names it, and
/// `path+file:///w/failover#0.1.0` leaves it to the folder's name.
fn package_name(id: &str, manifest: &Path) -> String {
    let fragment = id.rsplit_once('#').map_or("", |(_, f)| f);
    match fragment.split_once('@') {
        Some((name, _)) => name.to_owned(),
        None => manifest
            .parent()
            .and_then(Path::file_name)
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    }
}

/// What the run came to.
struct Outcome {
    binaries: usize,
    counts: Counts,
    failed: Vec<String>,
    build_ok: bool,
}

/// Runs the binaries as they come, at most `jobs` at once; then the doc tests. `bins` says how
/// many binaries each package has, to hold its integration tests until they are all linked.
fn schedule(
    built: Receiver<Built>,
    mut bins: HashMap<String, usize>,
    options: &Options,
    logs: &Path,
    root: &Path,
) -> anyhow::Result<Outcome> {
    let jobs = options.jobs.max(1);
    let mut queue: Vec<Binary> = Vec::new();
    let mut running: Vec<Running> = Vec::new();
    let mut building = true;
    let mut heard = Instant::now();
    let mut outcome = Outcome {
        binaries: 0,
        counts: Counts::default(),
        failed: Vec::new(),
        build_ok: true,
    };
    while building || !queue.is_empty() || !running.is_empty() {
        if building {
            match built.recv_timeout(Duration::from_millis(50)) {
                Ok(Built::Test(binary)) => queue.push(binary),
                Ok(Built::Bin { package }) => {
                    if let Some(left) = bins.get_mut(&package) {
                        *left = left.saturating_sub(1);
                    }
                }
                Ok(Built::Finished { success }) => {
                    building = false;
                    outcome.build_ok = success;
                    if success {
                        queue.push(doc_tests(root, options));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => building = false,
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        let linked = |b: &Binary| !building || !b.needs_bins || bins.get(&b.package) == Some(&0);
        while running.len() < jobs
            && let Some(next) = queue.iter().position(linked)
        {
            running.push(start(queue.remove(next), options, logs)?);
        }
        let mut index = 0;
        while index < running.len() {
            match running[index].child.try_wait()? {
                Some(status) => {
                    finish(running.swap_remove(index), status, &mut outcome);
                    heard = Instant::now();
                }
                None => index += 1,
            }
        }
        if !building && !running.is_empty() && heard.elapsed() >= STILL_RUNNING_EVERY {
            still_running(&running);
            heard = Instant::now();
        }
    }
    Ok(outcome)
}

/// How long the run may be silent, once the build is over, before it says what is running.
const STILL_RUNNING_EVERY: Duration = Duration::from_secs(20);

fn still_running(running: &[Running]) {
    let names: Vec<String> = running
        .iter()
        .map(|r| {
            format!(
                "{} ({:.0} s)",
                r.binary.label,
                r.started.elapsed().as_secs_f64()
            )
        })
        .collect();
    println!("     still running: {}", names.join(", "));
}

/// The doc tests of the same packages, through cargo (rustdoc compiles them).
fn doc_tests(root: &Path, options: &Options) -> Binary {
    let mut command = vec![crate::cargo(), "test".into(), "--doc".into()];
    if options.packages.is_empty() {
        command.push("--workspace".into());
    }
    for package in &options.packages {
        command.extend(["--package".into(), package.into()]);
    }
    // `cargo test --doc` passes what follows `--` to each doc test binary.
    command.push("--".into());
    Binary {
        label: "doc tests".into(),
        command,
        dir: root.to_path_buf(),
        env: Vec::new(),
        package: String::new(),
        needs_bins: false,
    }
}

fn start(binary: Binary, options: &Options, logs: &Path) -> anyhow::Result<Running> {
    let log = logs.join(format!(
        "{}.log",
        binary.label.replace([' ', '(', ')', '/'], "_")
    ));
    let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut command = Command::new(&binary.command[0]);
    command
        .args(&binary.command[1..])
        .envs(binary.env.iter().map(|(k, v)| (k, v)));
    let child = command
        .args(&options.args)
        .current_dir(&binary.dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.command[0].to_string_lossy()))?;
    Ok(Running {
        binary,
        child,
        log,
        started: Instant::now(),
    })
}

/// Prints a binary's line, and its whole output when it failed.
fn finish(done: Running, status: ExitStatus, outcome: &mut Outcome) {
    let output = fs::read_to_string(&done.log).unwrap_or_default();
    let counts = counts(&output);
    let seconds = done.started.elapsed().as_secs_f64();
    outcome.binaries += 1;
    outcome.counts.passed += counts.passed;
    outcome.counts.failed += counts.failed;
    outcome.counts.ignored += counts.ignored;
    let verdict = if status.success() { "ok  " } else { "FAIL" };
    println!(
        "{verdict} {:<40} {:>4} passed {:>7.1} s",
        done.binary.label, counts.passed, seconds
    );
    if !status.success() {
        println!("---- {} ({status}) ----\n{output}", done.binary.label);
        outcome.failed.push(done.binary.label);
    }
}

/// Sums the `test result: ok. 3 passed; 0 failed; 1 ignored; …` lines of an output.
pub fn counts(output: &str) -> Counts {
    let mut counts = Counts::default();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("test result: ") else {
            continue;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(kind), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let n: u64 = n.parse().unwrap_or(0);
            match kind {
                "passed" => counts.passed += n,
                "failed" => counts.failed += n,
                "ignored" => counts.ignored += n,
                _ => {}
            }
        }
    }
    counts
}

/// `program` under `nice`, where there is one: the tests that run meanwhile get the CPU first,
/// so that their timings hold while the compiler fills the idle time.
fn low_priority(program: OsString) -> Command {
    let nice = Command::new("nice")
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if nice {
        let mut command = Command::new("nice");
        command.args(["-n", "10"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_add_up_every_result_line() {
        let output = "running 3 tests\n\
            test a ... ok\n\
            test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
            test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(
            counts(output),
            Counts {
                passed: 6,
                failed: 2,
                ignored: 1
            }
        );
        assert_eq!(counts("no tests here"), Counts::default());
    }

    #[test]
    fn binaries_are_counted_from_cargo_metadata() {
        let output = json!({"version": 1, "packages": [
            {"name": "orders", "id": "x", "targets": [
                {"kind": ["lib"], "name": "orders"}, {"kind": ["bin"], "name": "orders"},
                {"kind": ["test"], "name": "suite"}]},
            {"name": "kit", "targets": [{"kind": ["lib"], "name": "kit"}]}]});
        let metadata: Metadata = serde_json::from_value(output).unwrap();
        let bins = metadata.bins_per_package();
        assert_eq!((bins["orders"], bins["kit"]), (1, 0));
        assert!(serde_json::from_value::<Metadata>(json!({"packages": "x"})).is_err());
    }

    #[test]
    fn a_test_binary_is_read_from_its_artifact_message() {
        let message = json!({
            "reason": "compiler-artifact",
            "package_id": "path+file:///w/local#local-world@0.1.0",
            "manifest_path": "/w/local/Cargo.toml",
            "target": {"kind": ["test"], "name": "suite"},
            "profile": {"test": true},
            "executable": "/t/debug/deps/suite-1234"
        });
        let Some(Built::Test(found)) = artifact(&message) else {
            panic!("a test binary");
        };
        assert_eq!(found.label, "local-world --test suite");
        assert_eq!(found.package, "local-world");
        assert_eq!(found.dir, Path::new("/w/local"));
        assert_eq!(found.command, ["/t/debug/deps/suite-1234"]);
        assert_eq!(
            found.env,
            [
                ("CARGO_MANIFEST_DIR", "/w/local".into()),
                ("CARGO_PKG_NAME", "local-world".into())
            ]
        );
        assert!(
            found.needs_bins,
            "an integration test waits for its package's binaries"
        );

        let mut lib = message.clone();
        lib["package_id"] = json!("path+file:///w/failover#0.1.0");
        lib["manifest_path"] = json!("/w/failover/Cargo.toml");
        lib["target"] = json!({"kind": ["lib"], "name": "failover"});
        let Some(Built::Test(unit)) = artifact(&lib) else {
            panic!("a unit test binary");
        };
        assert_eq!(unit.label, "failover (lib)");
        assert!(!unit.needs_bins);

        let mut bin = lib.clone();
        bin["profile"]["test"] = json!(false);
        bin["target"] = json!({"kind": ["bin"], "name": "failover"});
        assert!(
            matches!(artifact(&bin), Some(Built::Bin { package }) if package == "failover"),
            "the binary an integration test runs"
        );
        let mut library = bin.clone();
        library["target"] = json!({"kind": ["lib"], "name": "failover"});
        assert!(artifact(&library).is_none(), "a library, not a test");
        let mut no_executable = message;
        no_executable["executable"] = Value::Null;
        assert!(artifact(&no_executable).is_none(), "a library's metadata");
    }
}
