//! The test harness's real parts: a DynamoDB-compatible endpoint (moto's server in a child
//! process), the `cfn-lint`, `checkov` and `schemathesis` binaries; with the `service`
//! feature, the harness every service's tests share (an app from its descriptor on either
//! store, its binary, the problem checks, the schemathesis contract test).
//!
//! Each tool comes from `PATH` when it is there, else from the project's pinned tool
//! environments: Python venvs under `$CARGO_TARGET_DIR` (or `target/`), `toolenv` for moto
//! and cfn-lint, `checkovenv` for checkov, `schemathesisenv` for schemathesis and
//! `actionlintenv` for actionlint, created on first use (see the `venv` module: the first test
//! binary that needs any of them starts them all at once, in the background).
//! Set `MULTI_REGION_TOOLS=venv` to ignore `PATH` (to check the venv path on a machine that
//! has the tools installed).
//!
//! One moto server runs per test binary, on a loopback port it binds itself, serving one
//! request at a time (moto's own `moto_server` does not isolate concurrent transactions;
//! DynamoDB does). It dies with the test process however that ends: it runs under a small
//! shell watchdog whose stdin is a pipe from the test process, and the pipe's end (the
//! process exiting, even by SIGKILL) makes the watchdog kill the server. Tests share the
//! server, so each uses its own table names ([`unique_name`]).

pub mod browser;
#[cfg(feature = "service")]
pub mod contract;
#[cfg(feature = "service")]
pub mod fuzz;
#[cfg(feature = "service")]
mod service;
#[cfg(feature = "service")]
pub use service::{
    Binary, REGION, Store, TestApp, assert_problem, assert_serves_its_name, assert_shared_surface,
    fields, get_json, region, run_to_exit, spawn_app, spawn_switched_off,
};

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod actionlint;
mod checkov;
mod scale;
mod schemathesis;
mod venv;
pub use actionlint::{ACTIONLINT_VERSION, actionlint, try_actionlint};
pub use checkov::{CHECKOV_VERSION, checkov, try_checkov};
pub use scale::{
    COPIES_PER_SHARED_PANEL, COPIES_WITH_OWN_PANELS, SCALE_COPIES, SCALE_FIXTURE_TOPOLOGY,
    scaled_fixture_topology,
};
pub use schemathesis::{SCHEMATHESIS_VERSION, schemathesis, try_schemathesis};
use venv::ToolEnv;

/// The suite's fixture topology (`testkit/fixtures/topology.toml`): four apps, `api` routing
/// to `orders`, `payments` and `users`. Tests that need no service code use it instead of the
/// workspace's `topology.toml`, which is the user's to edit.
pub const FIXTURE_TOPOLOGY: &str = include_str!("../fixtures/topology.toml");

/// The pinned moto release the venv gets.
pub const MOTO_VERSION: &str = "5.2.1";
/// The pinned cfn-lint release the venv gets.
pub const CFN_LINT_VERSION: &str = "1.51.0";

/// How long a new moto server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a tool could not be provided. Every message says how to get the tool by hand.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "cannot create the tool environment at {venv}: {why}.\n\
         Install Python 3 with venv and pip (Debian/Ubuntu: `apt-get install python3-venv python3-pip`), \
         or put the tools on PATH: `pip install {requirements}`"
    )]
    Provision {
        venv: PathBuf,
        /// The venv's pins, quoted for a shell.
        requirements: String,
        why: String,
    },
    #[error(
        "moto_server did not start: {0}.\nCheck it by hand: `moto_server -H 127.0.0.1 -p 5000`"
    )]
    MotoStart(String),
}

/// The endpoint URL (`http://127.0.0.1:PORT`) of this test binary's moto server, started on
/// first use. Panics with instructions when moto cannot be provided: a test that needs
/// DynamoDB must fail, not skip. Blocks for the first caller (seconds; minutes when it
/// creates the venv).
pub fn moto() -> &'static str {
    match try_moto() {
        Ok(endpoint) => endpoint,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`moto`], returning the error.
pub fn try_moto() -> Result<&'static str, &'static ToolError> {
    static MOTO: OnceLock<Result<MotoServer, ToolError>> = OnceLock::new();
    MOTO.get_or_init(MotoServer::start)
        .as_ref()
        .map(|m| m.endpoint.as_str())
}

/// The `cfn-lint` binary: from PATH, else from the tool venv (created on first use).
/// Panics with instructions when it cannot be provided.
pub fn cfn_lint() -> PathBuf {
    match tool("cfn-lint") {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// Resource schemas cfn-lint reads over its own (`--registry-schemas`): the properties the
/// pinned release does not know yet. `AWS::ApiGateway::Authorizer`'s `JwtConfiguration` (the
/// REST API's native JWT authorizer) is missing from every release up to 1.58, so its schema
/// here adds it, as the CloudFormation reference describes it. CI passes the same folder.
pub const CFN_LINT_SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/cfn-lint");

/// `cfn-lint` ([`cfn_lint`]) with the project's schemas ([`CFN_LINT_SCHEMAS`]); add the
/// arguments and templates.
pub fn cfn_lint_command() -> Command {
    let mut command = Command::new(cfn_lint());
    command.arg("--registry-schemas").arg(CFN_LINT_SCHEMAS);
    command
}

/// A name no other test (in this or a concurrent test binary) uses: `<prefix>-<pid>-<n>-<t>`,
/// valid as a DynamoDB table name when `prefix` is.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() % 1_000_000_000)
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

/// A running moto server. Kept in a static for the life of the test process; never dropped.
struct MotoServer {
    endpoint: String,
    /// The watchdog's stdin: closed by the OS when this process exits, which stops moto.
    _lifeline: Mutex<ChildStdin>,
    _watchdog: Child,
}

/// The watchdog: starts moto in the background, waits for its stdin to reach end of file
/// (the test process is gone), then stops moto. `$0` is the Python that has moto, `$1` the
/// log file, `$2` the launcher ([`LAUNCHER`]).
const WATCHDOG: &str = r#"
"$0" -c "$2" >"$1" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT HUP INT TERM
while read -r _line; do :; done
"#;

/// Serves moto's app on one thread, one request at a time. `moto_server` serves each
/// request on its own thread, and moto's backends do not isolate those threads: two
/// concurrent `TransactWriteItems` conditioned on the same absent item could both succeed.
/// Real DynamoDB serializes them; serving requests one after another gives the same
/// guarantee. It binds a port of its own and writes it first ([`PORT_LINE`]): a port picked
/// free for it could be taken by another process before it binds, and that process's
/// answers would pass for moto's.
const LAUNCHER: &str = r#"
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app))
print("testkit-moto-port", server.socket.getsockname()[1], flush=True)
server.serve_forever()
"#;

/// How [`LAUNCHER`]'s first line begins.
const PORT_LINE: &str = "testkit-moto-port ";

impl MotoServer {
    fn start() -> Result<Self, ToolError> {
        let python = moto_python()?;
        let log = std::env::temp_dir().join(format!("testkit-moto-{}.log", std::process::id()));
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&python)
            .arg(&log)
            .arg(LAUNCHER)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ToolError::MotoStart(format!("cannot run sh: {e}")))?;
        let lifeline = watchdog.stdin.take().expect("stdin is piped");
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(addr) = listening_on(&log)
                && answers_http(addr)
            {
                let _ = fs::remove_file(&log);
                return Ok(Self {
                    endpoint: format!("http://{addr}"),
                    _lifeline: Mutex::new(lifeline),
                    _watchdog: watchdog,
                });
            }
            if let Ok(Some(status)) = watchdog.try_wait() {
                return Err(ToolError::MotoStart(format!(
                    "the watchdog exited ({status}); {}",
                    log_tail(&log)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(lifeline); // stops the server, if it ever comes up
        let _ = watchdog.wait();
        Err(ToolError::MotoStart(format!(
            "no answer within {START_TIMEOUT:?}; {}",
            log_tail(&log)
        )))
    }
}

/// The loopback address the launcher wrote to `log`, once it has.
fn listening_on(log: &Path) -> Option<SocketAddr> {
    let text = fs::read_to_string(log).ok()?;
    let port = text.lines().find_map(|l| l.strip_prefix(PORT_LINE))?;
    Some(SocketAddr::from((
        [127, 0, 0, 1],
        port.trim().parse().ok()?,
    )))
}

/// Whether something at `addr` answers an HTTP request.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(8)..].join("\n");
    if tail.is_empty() {
        "moto wrote nothing".to_owned()
    } else {
        format!("moto's last output:\n{tail}")
    }
}

/// A Python interpreter that can import moto's server: `python3` (or `python`) from PATH when
/// it has moto (unless `MULTI_REGION_TOOLS=venv`), else the tool venv's, created when missing.
/// For a test that starts moto its own way; [`moto`] starts the shared server.
pub fn moto_python() -> Result<PathBuf, ToolError> {
    if !venv_only()
        && let Some(python) = path_moto_python()
    {
        return Ok(python.to_path_buf());
    }
    let python = python_in(&ToolEnv::Tools.ready()?);
    if imports_moto(&python) {
        Ok(python)
    } else {
        Err(ToolEnv::Tools.venv().provision_error(
            "the venv's python cannot import moto.server after installation".into(),
        ))
    }
}

fn python_in(venv: &Path) -> PathBuf {
    venv_bin(venv).join(if cfg!(windows) {
        "python.exe"
    } else {
        "python"
    })
}

/// `python3` (or `python`) from PATH when it can import moto's server; looked up once.
fn path_moto_python() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            ["python3", "python"]
                .into_iter()
                .filter_map(|p| find_on_path(p, std::env::var_os("PATH")))
                .find(|p| imports_moto(p))
        })
        .as_deref()
}

/// Whether `MULTI_REGION_TOOLS=venv` asks to ignore the tools on PATH.
fn venv_only() -> bool {
    std::env::var("MULTI_REGION_TOOLS").as_deref() == Ok("venv")
}

/// Whether `python` can import what [`LAUNCHER`] needs.
fn imports_moto(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import moto.server, werkzeug.serving"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts creating, in the background, each tool venv that this machine needs (a tool missing
/// from `PATH`, or `MULTI_REGION_TOOLS=venv`) and that is neither complete nor being created,
/// and returns at once: a test runner calls it before building, so that the venvs are ready
/// by the time the first test needs one. Answers how many it started.
pub fn start_tools() -> usize {
    ToolEnv::start_all()
        .iter()
        .filter(|started| **started)
        .count()
}

/// A tool by name: from PATH (unless `MULTI_REGION_TOOLS=venv`), else from the tool venv.
fn tool(name: &str) -> Result<PathBuf, ToolError> {
    if !venv_only()
        && let Some(found) = find_on_path(name, std::env::var_os("PATH"))
    {
        return Ok(found);
    }
    let path = venv_bin(&ToolEnv::Tools.ready()?).join(name);
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(ToolEnv::Tools.venv().provision_error(format!(
            "{name} is missing from the venv after installation"
        )))
    }
}

/// The first executable `name` in the directories of `path` (a `PATH` value).
fn find_on_path(name: &str, path: Option<OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file this user may run.
fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The workspace's root: this crate sits directly under it.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives inside the workspace")
        .to_path_buf()
}

/// The Cargo target directory: `CARGO_TARGET_DIR` (relative to the workspace when relative),
/// else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    target_dir_from(std::env::var_os("CARGO_TARGET_DIR"))
}

fn target_dir_from(cargo_target_dir: Option<OsString>) -> PathBuf {
    match cargo_target_dir {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Where the tool venv lives: under the target directory, as `CARGO_TARGET_DIR` names it.
fn venv_dir(cargo_target_dir: Option<OsString>) -> PathBuf {
    target_dir_from(cargo_target_dir).join("toolenv")
}

fn venv_bin(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts")
    } else {
        venv.join("bin")
    }
}

/// The pip requirements of the tool venv; the completion marker records them, so changing a
/// pin rebuilds the venv.
fn requirements() -> [String; 2] {
    [
        format!("moto[server]=={MOTO_VERSION}"),
        format!("cfn-lint=={CFN_LINT_VERSION}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_executables_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("moto_server");
        fs::write(&tool, "#!/bin/sh\n").unwrap();
        let path = Some(OsString::from(dir.path()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                find_on_path("moto_server", path.clone()),
                None,
                "not executable yet"
            );
            fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert_eq!(find_on_path("moto_server", path.clone()), Some(tool));
        assert_eq!(find_on_path("cfn-lint", path), None);
        assert_eq!(find_on_path("moto_server", None), None);
    }

    #[test]
    fn the_venv_lives_under_the_target_dir() {
        assert_eq!(venv_dir(None), workspace_root().join("target/toolenv"));
        assert_eq!(
            venv_dir(Some("".into())),
            workspace_root().join("target/toolenv")
        );
        assert_eq!(
            venv_dir(Some("/tmp/t".into())),
            PathBuf::from("/tmp/t/toolenv")
        );
        assert_eq!(
            venv_dir(Some("out".into())),
            workspace_root().join("out/toolenv")
        );
    }

    #[test]
    fn requirements_are_pinned() {
        for r in requirements() {
            assert!(r.contains("=="), "{r}");
        }
    }

    #[test]
    fn unique_names_differ_and_are_table_names() {
        let a = unique_name("users");
        let b = unique_name("users");
        assert_ne!(a, b);
        assert!(a.len() < 255 && a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }

    #[test]
    fn moto_answers_and_is_shared() {
        let endpoint = moto();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        assert_eq!(moto(), endpoint, "one server per test binary");
        let addr: SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
        assert!(answers_http(addr));
    }

    #[test]
    fn cfn_lint_runs() {
        let output = Command::new(cfn_lint()).arg("--version").output().unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("cfn-lint"));
    }

    /// A REST API with a JWT authorizer configured as `jwt`, linted by `command`.
    fn lint_authorizer(mut command: Command, jwt: &str) -> std::process::Output {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("authorizer.template.json");
        let text = format!(
            r#"{{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {{
                "Api": {{"Type": "AWS::ApiGateway::RestApi", "Properties": {{"Name": "api"}}}},
                "Authorizer": {{"Type": "AWS::ApiGateway::Authorizer", "Properties": {{
                    "RestApiId": {{"Ref": "Api"}}, "Name": "jwt", "Type": "JWT",
                    "IdentitySource": "method.request.header.Authorization",
                    "JwtConfiguration": {jwt}}}}}}}}}"#
        );
        std::fs::write(&template, text).unwrap();
        command.arg("--").arg(&template).output().unwrap()
    }

    #[test]
    fn the_project_schemas_teach_cfn_lint_the_jwt_authorizer() {
        let good = r#"{"Issuers": [{"Issuer": "https://idp.example.com", "Audiences": ["api"]}], "DefaultAlgorithms": ["RS256"]}"#;
        // The pinned release does not know the property: when this fails, a release that does
        // has been pinned, and the schema in `cfn-lint/` can go.
        let plain = lint_authorizer(Command::new(cfn_lint()), good);
        assert!(
            String::from_utf8_lossy(&plain.stdout).contains("JwtConfiguration"),
            "{plain:?}"
        );
        let taught = lint_authorizer(cfn_lint_command(), good);
        assert!(taught.status.success(), "{taught:?}");
        for bad in [
            r#"{"Issuers": [{"Issuer": "https://idp.example.com", "Audiences": ["api"]}], "DefaultAlgorithms": ["HS256"]}"#,
            r#"{"DefaultAlgorithms": ["RS256"]}"#,
            r#"{"Issuers": [{"Issuer": "https://idp.example.com"}], "DefaultAlgorithms": ["RS256"]}"#,
        ] {
            let out = lint_authorizer(cfn_lint_command(), bad);
            assert!(!out.status.success(), "{bad} passed: {out:?}");
        }
    }

    /// Not a test on its own: when `TESTKIT_CHILD` is set, this is the child process of
    /// `moto_dies_with_its_test_process`, which starts moto, reports where, and exits
    /// without any clean-up.
    #[test]
    fn child_starts_moto_and_exits() {
        if std::env::var_os("TESTKIT_CHILD").is_some() {
            println!("ENDPOINT={}", moto());
            std::process::exit(0);
        }
    }

    #[test]
    fn moto_dies_with_its_test_process() {
        let me = std::env::current_exe().unwrap();
        let output = Command::new(me)
            .args([
                "--exact",
                "tests::child_starts_moto_and_exits",
                "--nocapture",
            ])
            .env("TESTKIT_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let endpoint = stdout
            .lines()
            .find_map(|l| l.strip_prefix("ENDPOINT="))
            .unwrap_or_else(|| panic!("the child did not start moto: {stdout}"));
        let addr: SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while answers_http(addr) {
            assert!(
                Instant::now() < deadline,
                "moto outlived its test process at {addr}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
