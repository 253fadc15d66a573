//! Shared by the AWS tests: moto's server with one fix (see [`PATCHED_MOTO`]).

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto (5.2) computes a stack's outputs only in CreateStack/UpdateStack: after
/// ExecuteChangeSet a stack reports no outputs at all. This starts moto's server with that
/// one behaviour fixed (outputs rebuilt from the executed template, as CloudFormation does),
/// so the orchestrator's change-set path can be tested as it runs against AWS.
const PATCHED_MOTO: &str = r#"
import sys
from moto.cloudformation import models
_apply = models.ChangeSet.apply
def apply(self):
    _apply(self)
    self.stack.template = self.template
    self.stack._parse_template()
    self.stack.output_map = self.stack._create_output_map()
models.ChangeSet.apply = apply
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_moto(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import moto.server, moto.cloudformation"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A Python with moto: testkit's tool venv, or `python3` on PATH; testkit provisions the
/// venv when neither has it.
fn python_with_moto() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    };
    let venv_python = target.join("toolenv/bin/python");
    let mut candidates = vec![venv_python.clone(), PathBuf::from("python3")];
    candidates.extend(moto_server_interpreter());
    if let Some(found) = candidates.iter().find(|p| has_moto(p)) {
        return found.clone();
    }
    testkit::moto(); // provisions the tool venv
    assert!(
        has_moto(&venv_python),
        "no Python with moto at {}",
        venv_python.display()
    );
    venv_python
}

/// The interpreter named by the shebang of a `moto_server` script on PATH, if any.
fn moto_server_interpreter() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let script = std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())?;
    let text = std::fs::read(&script).ok()?;
    let first = String::from_utf8_lossy(text.split(|b| *b == b'\n').next()?).into_owned();
    let interpreter = first
        .strip_prefix("#!")?
        .split_whitespace()
        .next()?
        .to_owned();
    interpreter
        .contains("python")
        .then(|| PathBuf::from(interpreter))
}

pub fn start_moto() -> Moto {
    let python = python_with_moto();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(&python)
        .args(["-c", PATCHED_MOTO, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("moto starts");
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Generous: python imports moto slowly on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        let exited = moto.child.try_wait().unwrap().is_some();
        if exited || Instant::now() > deadline {
            let output = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!(
                "moto ({}) did not start on {addr}:\n{output}",
                python.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}
