//! Shared by the AWS tests: moto's server with one fix, one per test (see [`MOTO_FACTORY`]).

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// moto (5.2) computes a stack's outputs only in CreateStack/UpdateStack: after
/// ExecuteChangeSet a stack reports no outputs at all. This patches that one behaviour
/// (outputs rebuilt from the executed template, as CloudFormation does), so the
/// orchestrator's change-set path can be tested as it runs against AWS.
///
/// Importing moto takes seconds of CPU, and every test wants a server of its own, so this
/// imports it once and forks a server per test: `start LOG` forks one, listening on a port
/// of its own before the fork (answering `PID PORT`), and `stop PID` ends it. A forked server
/// ends when this process does, and this process ends, with its servers, when its stdin
/// closes (the test binary has exited).
const MOTO_FACTORY: &str = r#"
import os, signal, socket, sys, threading, time
from moto.cloudformation import models
_apply = models.ChangeSet.apply
def apply(self):
    _apply(self)
    self.stack.template = self.template
    self.stack._parse_template()
    self.stack.output_map = self.stack._create_output_map()
models.ChangeSet.apply = apply
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

def serve(listener, log):
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    factory = os.getppid()
    def orphaned():
        while os.getppid() == factory:
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=orphaned, daemon=True).start()
    # As `moto_server` serves, on the socket the factory bound.
    os.environ["MOTO_PORT"] = str(listener.getsockname()[1])
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    make_server("127.0.0.1", 0, app, threaded=True, fd=listener.fileno()).serve_forever()

servers = set()
for line in iter(sys.stdin.readline, ""):
    command, _, rest = line.rstrip("\n").partition(" ")
    if command == "start":
        # Bound here, so no other process can take the port between its choice and the
        # server's start, and connections wait in the backlog until the server serves.
        listener = socket.create_server(("127.0.0.1", 0))
        pid = os.fork()
        if pid == 0:
            try:
                serve(listener, rest)
            finally:
                os._exit(1)
        port = listener.getsockname()[1]
        listener.close()
        servers.add(pid)
        print(pid, port, flush=True)
    elif command == "stop":
        pid = int(rest)
        if pid in servers:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
            servers.discard(pid)
        print("stopped", flush=True)
for pid in servers:
    os.kill(pid, signal.SIGTERM)
"#;

/// The test binary's moto factory (see [`MOTO_FACTORY`]), started on first use.
struct Factory {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Its stderr: why it stopped, if it does.
    log: File,
    /// testkit's Python with moto, which runs it.
    python: PathBuf,
    _child: Child,
}

impl Factory {
    fn start() -> Self {
        let python = testkit::moto_python().unwrap_or_else(|e| panic!("{e}"));
        // Unnamed, so that it goes when the test binary does.
        let log = tempfile::tempfile().unwrap();
        let mut child = Command::new(&python)
            .args(["-c", MOTO_FACTORY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        Self {
            stdin: child.stdin.take().expect("piped"),
            stdout: BufReader::new(child.stdout.take().expect("piped")),
            log,
            python,
            _child: child,
        }
    }

    /// Sends one command and reads its one-line answer; panics, with the factory's log, when
    /// it has stopped. Its first import is moto's CloudFormation, which testkit's check of the
    /// Python does not cover: the log then says which module is missing.
    fn ask(&mut self, command: &str) -> String {
        self.try_ask(command).unwrap_or_else(|| {
            panic!(
                "the moto factory ({}) stopped (asked {command:?}); it needs `moto[server]=={}` \
                 (or set MULTI_REGION_TOOLS=venv to use the test suite's own venv):\n{}",
                self.python.display(),
                testkit::MOTO_VERSION,
                self.log_text()
            )
        })
    }

    /// What the factory wrote to its stderr: read once it has stopped writing.
    fn log_text(&self) -> String {
        let mut text = String::new();
        let _ = self.log.try_clone().and_then(|mut log| {
            log.seek(SeekFrom::Start(0))?;
            log.read_to_string(&mut text)
        });
        text
    }

    fn try_ask(&mut self, command: &str) -> Option<String> {
        writeln!(self.stdin, "{command}").ok()?;
        self.stdin.flush().ok()?;
        let mut answer = String::new();
        match self.stdout.read_line(&mut answer) {
            Ok(n) if n > 0 => Some(answer.trim_end().to_owned()),
            _ => None,
        }
    }
}

fn factory() -> MutexGuard<'static, Factory> {
    static FACTORY: OnceLock<Mutex<Factory>> = OnceLock::new();
    FACTORY
        .get_or_init(|| Mutex::new(Factory::start()))
        .lock()
        // A test that panicked while asking left the factory as usable as it was.
        .unwrap_or_else(PoisonError::into_inner)
}

/// A moto server of one test's own, forked from the factory; stopped when dropped.
pub struct Moto {
    pid: u32,
    pub endpoint: String,
    /// The server's output, removed with it.
    _log: tempfile::NamedTempFile,
}

impl Drop for Moto {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds, and a stopped factory has
        // stopped its servers already.
        factory().try_ask(&format!("stop {}", self.pid));
    }
}

pub fn start_moto() -> Moto {
    let log = tempfile::NamedTempFile::new().unwrap();
    let answer = factory().ask(&format!("start {}", log.path().display()));
    let started = answer
        .split_once(' ')
        .and_then(|(pid, port)| Some((pid.parse().ok()?, port.parse::<u16>().ok()?)));
    let Some((pid, port)) = started else {
        panic!("the moto factory answered {answer:?} to start");
    };
    Moto {
        pid,
        endpoint: format!("http://127.0.0.1:{port}"),
        _log: log,
    }
}
