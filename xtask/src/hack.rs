//! `cargo xtask hack`: keeps `workspace-hack/Cargo.toml` in step with the dependency graph.
//!
//! Cargo compiles a crate once per feature set. `cargo test --workspace` turns on features of
//! shared dependencies that `cargo run -p local-world` does not (the test-only crates and the
//! dev-dependencies ask for them: tokio's `test-util`, hyper's `full`, …), so without help the
//! test build after the demo's build recompiles those crates and every crate above them. The
//! `workspace-hack` crate, a dependency of `local-world`, asks for each such crate with the test
//! build's feature set: the demo builds them that way once, and the test build reuses them.
//!
//! `xtask` depends on the hack too: `cargo xtask test` builds it before the tests, and with the
//! hack its build reuses the demo's crates instead of compiling syn, serde and the rest again.
//! So do `failover` and `loadtest`, which the workshop and the runbook run beside the local
//! world: their first `cargo run` after the demo compiles only the tool itself.
//!
//! The drift is read from `cargo tree`s: each package of `FIRST_RUN` (normal and build
//! dependencies, what each builds) and the whole workspace with dev-dependencies (what the test
//! build builds).
//! Only crates in both matter; a crate that only the tests build is compiled once either way.
//! Cargo resolves the features of build scripts' and proc macros' dependencies (the host side)
//! apart from the others, so a crate can be in a tree twice with two feature sets. `--target`
//! with the host's triple makes `cargo tree` show the two sides apart; the host side's pins go
//! to the hack's `[build-dependencies]` (Cargo resolves their features without a build script).
//!
//! The trees are read with `--cfg workspace_hack_off` ([`HACK_OFF`]) in `RUSTFLAGS`, which
//! turns off the first-run packages' dependency on the hack: the result depends on the
//! graph alone, not on the previous run's pins.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// The hack crate's package name, and its folder under the workspace root.
pub const HACK_DIR: &str = "workspace-hack";

/// The cfg that turns off the first-run packages' dependency on the hack (see
/// `local/Cargo.toml`).
pub const HACK_OFF: &str = "workspace_hack_off";

/// The package whose build the hack brings in line with the test build's.
const DEMO: &str = "local-world";

/// The packages built before the test build on a first run, each by its own `cargo run`: the
/// demo, this crate (`cargo xtask test` builds it first), and the two command-line tools the
/// workshop and the runbook run beside the local world. All depend on the hack, so the test
/// build reuses what they compiled, and each build after the demo's reuses what it compiled.
const FIRST_RUN: [&str; 4] = [DEMO, "xtask", "failover", "loadtest"];

/// Rewrites `workspace-hack/Cargo.toml` (or, with `check`, fails when it is out of date) and
/// prints what it pins.
pub fn run(root: &Path, check: bool) -> anyhow::Result<()> {
    let manifest = root.join(HACK_DIR).join("Cargo.toml");
    let current = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    if check {
        // Generating writes the manifest (and Cargo.lock) between rounds: do it in a copy.
        let scratch = Scratch::new()?;
        copy_sources(root, &scratch.0)?;
        let (wanted, pins) = generate(&scratch.0)?;
        if current != wanted {
            bail!(
                "{HACK_DIR}/Cargo.toml is out of date: the demo's build would not have the test \
                 build's features for these crates, so `cargo test` would recompile them after \
                 `cargo run -p {DEMO}` or `cargo xtask`:\n{}\nRun `cargo xtask hack` and commit \
                 {HACK_DIR}/Cargo.toml.",
                line_diff(&current, &wanted)
            );
        }
        println!(
            "{HACK_DIR}/Cargo.toml is up to date ({} crates pinned)",
            pins.len()
        );
        return Ok(());
    }
    let (wanted, pins) = generate(root)?;
    for pin in &pins {
        println!(
            "{:<6} {} {}",
            pin.side.label(),
            pin.package,
            pin.features_list()
        );
    }
    println!(
        "{HACK_DIR}/Cargo.toml {} ({} crates pinned)",
        if current == wanted {
            "unchanged"
        } else {
            "rewritten"
        },
        pins.len()
    );
    Ok(())
}

/// How many times [`generate`] may widen the pins before it gives up.
const ROUNDS: usize = 8;

/// Writes the hack's manifest for the workspace at `root` and returns it with its pins.
///
/// The pins start as the drift of the graph without the hack. Pinning a crate can leave a
/// first-run build with a drift of its own: `xtask`'s build gets the hack's `hyper` and all it
/// depends on, with only the features `xtask` asks for. Each round pins what still differs,
/// with the hack in effect, until nothing does.
fn generate(root: &Path) -> anyhow::Result<(String, Vec<Pin>)> {
    let manifest = root.join(HACK_DIR).join("Cargo.toml");
    let mut pins = first_run_drift(root, true)?;
    for _ in 0..ROUNDS {
        let text = render(root, &pins)?;
        if std::fs::read_to_string(&manifest).ok().as_deref() != Some(text.as_str()) {
            crate::write_atomically(&manifest, &text)?;
        }
        let left = first_run_drift(root, false)?;
        if left.is_empty() {
            return Ok((text, pins));
        }
        add_pins(&mut pins, left);
    }
    bail!(
        "{HACK_DIR}/Cargo.toml: after {ROUNDS} rounds of pins, a first-run build still differs \
         from the test build"
    )
}

/// A folder under the system's temporary folder, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("xtask-hack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the workspace's sources (not `target/`, `.git/` or other hidden folders but
/// `.cargo/`), which is what `cargo tree` reads.
fn copy_sources(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if name == "target" || (name.starts_with('.') && name != ".cargo") {
                continue;
            }
            std::fs::create_dir(to.join(&*name))?;
            copy_sources(&path, &to.join(&*name))?;
        } else if file_type.is_file() {
            std::fs::copy(&path, to.join(&*name))
                .with_context(|| format!("cannot copy {}", path.display()))?;
        }
    }
    Ok(())
}

/// The crates of the demo's build that a first-run build compiles with other features than
/// the test build. Only the demo's crates count: pinning one that only `xtask` uses (its zip,
/// or `testkit` without features) would make the demo compile it, to save less in the tests.
fn first_run_drift(root: &Path, without_hack: bool) -> anyhow::Result<Vec<Pin>> {
    let suite = tree(root, &suite_args(without_hack), without_hack)?;
    let demo = tree(root, &first_run_args(DEMO), without_hack)?;
    let mut others = Vec::new();
    for package in FIRST_RUN.into_iter().filter(|p| *p != DEMO) {
        others.push(tree(root, &first_run_args(package), without_hack)?);
    }
    Ok(shared_drift(&demo, &others, &suite))
}

/// The drift of the demo's graph and of each of `others`, kept to the demo's crates, each
/// crate once, in order.
fn shared_drift(demo: &Graph, others: &[Graph], suite: &Graph) -> Vec<Pin> {
    let mut pins: Vec<Pin> = Vec::new();
    for graph in std::iter::once(demo).chain(others) {
        let demos = drift(graph, suite)
            .into_iter()
            .filter(|pin| demo.contains_key(&(pin.side, pin.package.clone())));
        add_pins(&mut pins, demos);
    }
    pins
}

/// Adds the pins `pins` does not have yet, keeping them in order (by side, then package).
/// Every drift pins the suite's features, so a crate found twice is the same pin.
fn add_pins(pins: &mut Vec<Pin>, more: impl IntoIterator<Item = Pin>) {
    for pin in more {
        if !pins.contains(&pin) {
            pins.push(pin);
        }
    }
    pins.sort_by(|a, b| (a.side, &a.package).cmp(&(b.side, &b.package)));
}

fn first_run_args(package: &str) -> Vec<&str> {
    vec!["--package", package, "--edges", "normal,build"]
}

fn suite_args(without_hack: bool) -> Vec<&'static str> {
    let mut args = vec!["--workspace", "--edges", "normal,build,dev"];
    if without_hack {
        args.extend(["--exclude", HACK_DIR]);
    }
    args
}

/// Which side of the build a crate is compiled for: the target (libraries and binaries), or
/// the host (build scripts, proc macros and their dependencies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Target,
    Host,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Target => "normal",
            Side::Host => "build",
        }
    }
}

/// Every crate of a `cargo tree`, by side and package (`name vVERSION`, plus its source when
/// not crates.io), with its features.
type Graph = BTreeMap<(Side, String), BTreeSet<String>>;

/// `cargo tree` with `args`, the host's triple, and `{p}|{f}` lines, parsed.
fn tree(root: &Path, args: &[&str], without_hack: bool) -> anyhow::Result<Graph> {
    let mut command = Command::new(crate::cargo());
    command
        .current_dir(root)
        .args([
            "tree",
            "--format",
            "{p}|{f}",
            "--charset",
            "utf8",
            "--target",
        ])
        .arg(host_triple()?)
        .args(args);
    if without_hack {
        // Cargo reads the encoded form first when both are set. Either replaces
        // `build.rustflags` from Cargo's config, which this workspace does not set.
        match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
            Ok(flags) if !flags.is_empty() => {
                command.env(
                    "CARGO_ENCODED_RUSTFLAGS",
                    format!("{flags}\x1f--cfg\x1f{HACK_OFF}"),
                );
            }
            _ => {
                let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
                command.env(
                    "RUSTFLAGS",
                    format!("{flags} --cfg {HACK_OFF}").trim_start(),
                );
            }
        }
    }
    let output = command.output().context("cannot run `cargo tree`")?;
    if !output.status.success() {
        bail!(
            "`cargo tree {}` failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_tree(&String::from_utf8_lossy(&output.stdout))
}

fn host_triple() -> anyhow::Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg("-vV")
        .output()
        .context("cannot run `rustc -vV`")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` names no host")
}

/// Parses `cargo tree --format '{p}|{f}' --charset utf8` output (the default indented prefix).
/// A crate is on the host side when it is a proc macro, or is reached through a
/// `[build-dependencies]` section or from a crate on the host side.
fn parse_tree(text: &str) -> anyhow::Result<Graph> {
    let mut graph = Graph::new();
    // The side of each crate on the current path from the root, and whether the section its
    // children are listed under is `[build-dependencies]`.
    let mut path: Vec<(Side, bool)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (depth, rest) = strip_prefix(line);
        if let Some(section) = rest.strip_prefix('[') {
            // A section header sits at its parent's depth.
            if let Some((_, under_build)) = path.get_mut(depth) {
                *under_build = section.starts_with("build-dependencies");
            }
            continue;
        }
        let rest = rest.strip_suffix(" (*)").unwrap_or(rest);
        let (package, features) = rest
            .split_once('|')
            .with_context(|| format!("not a `{{p}}|{{f}}` line of cargo tree: {line:?}"))?;
        let proc_macro = package.contains(" (proc-macro)");
        let package = package.replace(" (proc-macro)", "");
        path.truncate(depth);
        let side = match depth.checked_sub(1).and_then(|d| path.get(d)) {
            Some(&(Side::Host, _)) | Some(&(_, true)) => Side::Host,
            _ if proc_macro => Side::Host,
            _ => Side::Target,
        };
        path.push((side, false));
        let features: BTreeSet<String> = features
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(seen) = graph.get(&(side, package.clone()))
            && *seen != features
        {
            bail!(
                "cargo tree shows {package} twice on the {side:?} side with different features \
                 ({seen:?} and {features:?}): cannot pin one feature set"
            );
        }
        graph.insert((side, package), features);
    }
    Ok(graph)
}

/// The depth of a `cargo tree` line (how many 4-character indent units precede the crate)
/// and the rest of the line.
fn strip_prefix(line: &str) -> (usize, &str) {
    let mut rest = line;
    let mut depth = 0;
    while let Some(after) = ["│   ", "├── ", "└── ", "    "]
        .iter()
        .find_map(|unit| rest.strip_prefix(unit))
    {
        rest = after;
        depth += 1;
    }
    (depth, rest)
}

/// A crate the hack asks for, with the test build's features.
#[derive(Debug, PartialEq)]
struct Pin {
    side: Side,
    /// As `cargo tree` names it: `name vVERSION`, then ` (SOURCE)` when not from crates.io.
    package: String,
    features: BTreeSet<String>,
}

impl Pin {
    fn features_list(&self) -> String {
        let quoted: Vec<String> = self.features.iter().map(|f| format!("{f:?}")).collect();
        format!("[{}]", quoted.join(", "))
    }
}

/// The crates of both graphs (same side, same version) whose features differ, with the suite's
/// features (which include the demo's: the workspace's test build builds the demo's crates too).
fn drift(demo: &Graph, suite: &Graph) -> Vec<Pin> {
    let mut pins = Vec::new();
    for (key, demo_features) in demo {
        let Some(suite_features) = suite.get(key) else {
            continue;
        };
        if suite_features != demo_features {
            pins.push(Pin {
                side: key.0,
                package: key.1.clone(),
                features: suite_features.union(demo_features).cloned().collect(),
            });
        }
    }
    pins
}

/// The hack's manifest for `pins`.
fn render(root: &Path, pins: &[Pin]) -> anyhow::Result<String> {
    let mut text = format!(
        "# Generated by `cargo xtask hack`: do not edit (`cargo xtask hack --check` fails when it\n\
         # is out of date; `.ci/run` runs it).\n\
         #\n\
         # The crates that `cargo test --workspace` builds with more features than\n\
         # `cargo run -p {DEMO}` or `cargo xtask`, each with the test build's features. Both\n\
         # depend on this crate, so they compile them that way, and the test suite's build\n\
         # reuses them instead of recompiling them and everything above them.\n\
         [package]\n\
         name = \"{HACK_DIR}\"\n\
         description = \"Build-time only: the demo's build with the test suite's features of shared dependencies (generated by `cargo xtask hack`)\"\n\
         version.workspace = true\n\
         edition.workspace = true\n\
         rust-version.workspace = true\n\
         license.workspace = true\n\
         publish = false\n"
    );
    for side in [Side::Target, Side::Host] {
        let pins: Vec<&Pin> = pins.iter().filter(|p| p.side == side).collect();
        text.push_str(match side {
            Side::Target => "\n[dependencies]\n",
            Side::Host => {
                "\n# Build scripts' and proc macros' dependencies.\n[build-dependencies]\n"
            }
        });
        let mut names = BTreeMap::<&str, usize>::new();
        for pin in &pins {
            *names.entry(package_name(&pin.package)).or_default() += 1;
        }
        for pin in pins {
            let name = package_name(&pin.package);
            let (version, source) = version_and_source(&pin.package)?;
            let mut spec = String::new();
            let key = if names[name] > 1 {
                // Two versions of one crate: a key per version, naming the package.
                write!(spec, "package = \"{name}\", ").expect("writing to a String");
                format!("{name}-{}", version.replace('.', "_"))
            } else {
                name.to_owned()
            };
            match source {
                None => write!(spec, "version = \"{version}\""),
                Some(dir) => write!(spec, "path = \"{}\"", relative_to_hack(root, dir)?),
            }
            .expect("writing to a String");
            writeln!(
                text,
                "{key} = {{ {spec}, default-features = false, features = {} }}",
                pin.features_list()
            )
            .expect("writing to a String");
        }
    }
    Ok(text)
}

fn package_name(package: &str) -> &str {
    package.split(' ').next().unwrap_or(package)
}

/// The version requirement (the version without build metadata: `1.1.3+spec-1.1.0` is
/// `1.1.3`) and, for a path package, its folder. Other sources (git, other registries) are
/// refused: the hack would have to repeat their source.
fn version_and_source(package: &str) -> anyhow::Result<(&str, Option<&str>)> {
    let mut parts = package.splitn(3, ' ');
    let (_, version, source) = (parts.next(), parts.next(), parts.next());
    let version = version
        .and_then(|v| v.strip_prefix('v'))
        .with_context(|| format!("no version in {package:?}"))?;
    let version = version.split('+').next().unwrap_or(version);
    match source.map(|s| s.trim_start_matches('(').trim_end_matches(')')) {
        None => Ok((version, None)),
        Some(dir) if Path::new(dir).is_absolute() => Ok((version, Some(dir))),
        Some(other) => bail!(
            "{package} comes from {other}: the hack only pins crates.io and path crates; make \
             {DEMO} ask for the test build's features of it in local/Cargo.toml"
        ),
    }
}

fn relative_to_hack(root: &Path, dir: &str) -> anyhow::Result<String> {
    let inside = Path::new(dir).strip_prefix(root).with_context(|| {
        format!("{dir} is outside the workspace: the hack only pins crates inside it")
    })?;
    Ok(format!("../{}", inside.display()))
}

/// The lines only in `old` (`-`) and only in `new` (`+`).
fn line_diff(old: &str, new: &str) -> String {
    let old_lines: BTreeSet<&str> = old.lines().collect();
    let new_lines: BTreeSet<&str> = new.lines().collect();
    let mut out = String::new();
    for line in old.lines().filter(|l| !new_lines.contains(l)) {
        writeln!(out, "  - {line}").expect("writing to a String");
    }
    for line in new.lines().filter(|l| !old_lines.contains(l)) {
        writeln!(out, "  + {line}").expect("writing to a String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A demo's tree: a proc macro's syn is on the host side, and so is everything under a
    /// `[build-dependencies]` section, at any depth.
    const DEMO_TREE: &str = "\
local-world v0.1.0 (/ws/local)|
├── serde v1.0.1|default,derive,std
│   └── serde_derive v1.0.1 (proc-macro)|default
│       └── syn v2.0.1|derive,parsing
├── tokio v1.5.0|macros,rt
│   └── mio v1.0.0|net
│   [build-dependencies]
│   └── cc v1.2.0|
│       └── libc v0.2.1|std
└── kit v0.1.0 (/ws/services/kit)|
    └── tokio v1.5.0|macros,rt (*)
[build-dependencies]
└── syn v2.0.1|derive,parsing (*)
";

    /// The workspace's test build: tokio gains `test-util`, syn on the host side `visit`,
    /// libc (under a build script) `extra`, kit a feature; `regex` only the tests build.
    const SUITE_TREE: &str = "\
local-world v0.1.0 (/ws/local)|
├── serde v1.0.1|default,derive,std
│   └── serde_derive v1.0.1 (proc-macro)|default
│       └── syn v2.0.1|derive,parsing,visit
├── tokio v1.5.0|macros,rt,test-util
│   └── mio v1.0.0|net
│   [build-dependencies]
│   └── cc v1.2.0|
│       └── libc v0.2.1|extra,std
└── kit v0.1.0 (/ws/services/kit)|memory
    └── tokio v1.5.0|macros,rt,test-util (*)
[dev-dependencies]
└── regex v1.0.0|default

testkit v0.1.0 (/ws/testkit)|
└── tokio v1.5.0|macros,rt,test-util (*)
";

    fn features(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn the_parser_sorts_crates_into_target_and_host_sides() {
        let graph = parse_tree(DEMO_TREE).unwrap();
        let side = |name: &str| -> Vec<Side> {
            graph
                .keys()
                .filter(|(_, p)| package_name(p) == name)
                .map(|(s, _)| *s)
                .collect()
        };
        assert_eq!(side("serde"), [Side::Target]);
        assert_eq!(side("serde_derive"), [Side::Host]);
        assert_eq!(side("syn"), [Side::Host]);
        assert_eq!(side("mio"), [Side::Target]);
        assert_eq!(side("cc"), [Side::Host]);
        assert_eq!(side("libc"), [Side::Host]);
        assert_eq!(side("kit"), [Side::Target]);
        assert_eq!(
            graph[&(Side::Target, "tokio v1.5.0".into())],
            features(&["macros", "rt"])
        );
        assert_eq!(
            graph[&(Side::Target, "local-world v0.1.0 (/ws/local)".into())],
            features(&[])
        );
    }

    #[test]
    fn two_feature_sets_on_one_side_are_refused() {
        let text = "a v0.1.0 (/ws/a)|\n├── b v1.0.0|x\n└── c v1.0.0|\n    └── b v1.0.0|x,y\n";
        let err = parse_tree(text).unwrap_err().to_string();
        assert!(err.contains("b v1.0.0 twice"), "{err}");
    }

    #[test]
    fn drift_is_the_shared_crates_whose_features_differ() {
        let pins = drift(
            &parse_tree(DEMO_TREE).unwrap(),
            &parse_tree(SUITE_TREE).unwrap(),
        );
        let found: Vec<(Side, &str, Vec<&str>)> = pins
            .iter()
            .map(|p| {
                (
                    p.side,
                    p.package.as_str(),
                    p.features.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    Side::Target,
                    "kit v0.1.0 (/ws/services/kit)",
                    vec!["memory"]
                ),
                (
                    Side::Target,
                    "tokio v1.5.0",
                    vec!["macros", "rt", "test-util"]
                ),
                (Side::Host, "libc v0.2.1", vec!["extra", "std"]),
                (Side::Host, "syn v2.0.1", vec!["derive", "parsing", "visit"]),
            ]
        );
    }

    /// `xtask`'s graph: tokio with fewer features than the suite's (shared with the demo), and
    /// regex, which the demo does not build.
    const XTASK_TREE: &str = "\
xtask v0.1.0 (/ws/xtask)|
├── tokio v1.5.0|rt
│   └── mio v1.0.0|
└── regex v1.0.0|
";

    #[test]
    fn another_first_run_build_adds_only_the_demos_crates_once_each() {
        let demo = parse_tree(DEMO_TREE).unwrap();
        let suite = parse_tree(SUITE_TREE).unwrap();
        let pins = shared_drift(&demo, &[parse_tree(XTASK_TREE).unwrap()], &suite);
        let found: Vec<(Side, &str)> = pins.iter().map(|p| (p.side, p.package.as_str())).collect();
        assert_eq!(
            found,
            [
                (Side::Target, "kit v0.1.0 (/ws/services/kit)"),
                (Side::Target, "mio v1.0.0"),
                (Side::Target, "tokio v1.5.0"),
                (Side::Host, "libc v0.2.1"),
                (Side::Host, "syn v2.0.1"),
            ]
        );
        // mio drifts only in xtask's build; it gets the suite's features, not xtask's.
        assert_eq!(pins[1].features, features(&["net"]));
        // A crate that drifts in two builds is pinned once.
        assert_eq!(
            shared_drift(&demo, std::slice::from_ref(&demo), &suite),
            drift(&demo, &suite)
        );
    }

    #[test]
    fn the_manifest_pins_each_crate_with_the_suites_features() {
        let pins = drift(
            &parse_tree(DEMO_TREE).unwrap(),
            &parse_tree(SUITE_TREE).unwrap(),
        );
        let text = render(Path::new("/ws"), &pins).unwrap();
        let deps = text.split("[dependencies]\n").nth(1).unwrap();
        let (normal, build) = deps.split_once("[build-dependencies]\n").unwrap();
        assert!(normal.contains(
            "tokio = { version = \"1.5.0\", default-features = false, features = [\"macros\", \"rt\", \"test-util\"] }"
        ), "{normal}");
        assert!(
            normal.contains("kit = { path = \"../services/kit\", default-features = false, features = [\"memory\"] }"),
            "{normal}"
        );
        assert!(
            build.contains("syn = { version = \"2.0.1\", default-features = false, features = [\"derive\", \"parsing\", \"visit\"] }"),
            "{build}"
        );
        assert!(text.contains("publish = false"));
        text.parse::<toml_edit::DocumentMut>()
            .expect("the manifest is TOML");
    }

    #[test]
    fn versions_lose_build_metadata_and_two_versions_get_two_keys() {
        let pin = |package: &str| Pin {
            side: Side::Target,
            package: package.into(),
            features: features(&["default"]),
        };
        let text = render(
            Path::new("/ws"),
            &[
                pin("rand v0.9.5"),
                pin("rand v0.10.4"),
                pin("toml_datetime v1.1.3+spec-1.1.0"),
            ],
        )
        .unwrap();
        assert!(text.contains("rand-0_9_5 = { package = \"rand\", version = \"0.9.5\","));
        assert!(text.contains("rand-0_10_4 = { package = \"rand\", version = \"0.10.4\","));
        assert!(
            text.contains("toml_datetime = { version = \"1.1.3\","),
            "{text}"
        );
    }

    #[test]
    fn crates_from_elsewhere_are_refused_with_what_to_do() {
        let err = version_and_source("x v1.0.0 (https://github.com/o/x#0123abcd)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("local/Cargo.toml"), "{err}");
    }

    #[test]
    fn the_diff_names_the_changed_lines() {
        let diff = line_diff("a\nb = 1\nc\n", "a\nb = 2\nc\n");
        assert_eq!(diff, "  - b = 1\n  + b = 2\n");
    }
}
