//! The pinned tool venvs under the Cargo target directory: [`ToolEnv::Tools`] (moto and
//! cfn-lint), [`ToolEnv::Checkov`], [`ToolEnv::Schemathesis`] and [`ToolEnv::Actionlint`] (each
//! of which pins dependencies of its own).
//!
//! Creating one takes a while (pip installs uv into its folder, uv installs the tools: about
//! 20 s on two cores, against a minute with pip alone), so the first process that finds any tool
//! missing from `PATH` starts every venv it may need at once, each in a background process of
//! its own, and waits only for the one it needs; the others go on after it exits, and a later
//! test binary that needs one finds it ready or waits for it. `cargo xtask test` starts them
//! before it builds ([`crate::start_tools`]); under `cargo test --workspace`, which runs its
//! test binaries one after another, the first binary that needs a tool does.
//!
//! Each venv has a lock file next to it. Whoever creates a venv holds its lock from the check
//! that it is missing until it is complete; a background creator gets the lock as its stdin,
//! so the lock stays held after the test process that started it is gone, and is released
//! when the creator exits, however it ends. A complete venv has a marker file that records
//! its pins: changing a pin rebuilds it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::{ToolError, find_on_path, venv_dir};

/// The venvs the suite's tools come from when they are not on `PATH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ToolEnv {
    /// moto (with its server) and cfn-lint.
    Tools,
    /// checkov.
    Checkov,
    /// schemathesis, the services' contract tests.
    Schemathesis,
    /// actionlint.
    Actionlint,
}

impl ToolEnv {
    const ALL: [ToolEnv; 4] = [
        ToolEnv::Tools,
        ToolEnv::Checkov,
        ToolEnv::Schemathesis,
        ToolEnv::Actionlint,
    ];

    pub(crate) fn venv(self) -> Venv {
        let target = std::env::var_os("CARGO_TARGET_DIR");
        match self {
            ToolEnv::Tools => Venv::new(venv_dir(target), crate::requirements().to_vec()),
            ToolEnv::Checkov => Venv::new(
                crate::checkov::checkov_venv_dir(target),
                vec![crate::checkov::requirement()],
            ),
            ToolEnv::Schemathesis => Venv::new(
                crate::schemathesis::venv_dir(target),
                vec![crate::schemathesis::requirement()],
            ),
            ToolEnv::Actionlint => Venv::new(
                crate::actionlint::actionlint_venv_dir(target),
                crate::actionlint::requirements(),
            ),
        }
    }

    /// Whether this process would take a tool from this venv: `MULTI_REGION_TOOLS=venv`, or
    /// one of its tools is missing from `PATH`.
    fn needed(self) -> bool {
        if crate::venv_only() {
            return true;
        }
        let on_path = |name| find_on_path(name, std::env::var_os("PATH")).is_some();
        match self {
            ToolEnv::Tools => !on_path("cfn-lint") || crate::path_moto_python().is_none(),
            ToolEnv::Checkov => !on_path("checkov"),
            ToolEnv::Schemathesis => !on_path(crate::schemathesis::EXECUTABLE),
            ToolEnv::Actionlint => !on_path("actionlint"),
        }
    }

    /// Starts, once per process, every venv this process may need that is neither complete nor
    /// being created; answers which ones it started.
    pub(crate) fn start_all() -> &'static [bool; Self::ALL.len()] {
        static STARTED: OnceLock<[bool; ToolEnv::ALL.len()]> = OnceLock::new();
        STARTED.get_or_init(|| {
            // A venv that cannot even be started fails again, with its reason, when awaited.
            Self::ALL.map(|env| env.needed() && env.venv().start().unwrap_or(false))
        })
    }

    /// The venv's folder once it is complete. The first call in a process starts every venv
    /// the process may need (see the module's docs); each venv is then awaited once per
    /// process, and its result kept.
    pub(crate) fn ready(self) -> Result<PathBuf, ToolError> {
        static READY: [OnceLock<Result<PathBuf, ToolError>>; ToolEnv::ALL.len()] =
            [const { OnceLock::new() }; ToolEnv::ALL.len()];
        let started = Self::start_all();
        let index = self as usize;
        READY[index]
            .get_or_init(|| {
                let venv = self.venv();
                venv.wait(started[index]).map(|()| venv.dir)
            })
            .clone()
    }
}

/// A Python venv with pinned requirements, created by [`CREATOR`].
#[derive(Debug)]
pub(crate) struct Venv {
    pub(crate) dir: PathBuf,
    requirements: Vec<String>,
}

/// The installer the venvs use when pip can get it: several times faster than pip, and far
/// lighter on the CPU, which the tests' build is using at the same time.
pub(crate) const UV_REQUIREMENT: &str = "uv==0.13.8";

/// Creates the venv `argv[1]` (cleared first) and installs `argv[4:]` into it, then writes
/// the completion marker (the requirements, one a line). `argv[2]` is the process that asked,
/// for the log; `argv[3]` is the uv to install with. Its stdout and stderr go to the venv's
/// log file.
///
/// The venv gets no pip of its own: the Python running this installs uv into the venv's
/// folder (`pip install --target <venv>/uv`), and uv installs the tools into the venv.
/// Installing pip into a venv costs more CPU than everything else here but the tools. When
/// this Python's pip cannot get uv, the venv gets pip after all, and pip installs the tools.
const CREATOR: &str = r#"
import os, subprocess, sys, time, venv
target, starter, uv, requirements = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
print(f"testkit: creating {target} ({' '.join(requirements) or 'no requirements'}) "
      f"for process {starter}, {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
venv.EnvBuilder(clear=True).create(target)
if requirements:
    windows = os.name == "nt"
    python = os.path.join(target, "Scripts" if windows else "bin", "python")
    quiet = ["--quiet", "--disable-pip-version-check"]
    # Inside the venv's folder, so that clearing the venv clears it too.
    tool = os.path.join(target, "uv")
    try:
        env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore")
        subprocess.check_call([sys.executable, "-m", "pip", "install", *quiet, "--target", tool, uv],
                              env=env)
        # Compiled up front, as pip does: checkov imports thousands of modules on every run.
        installer = [os.path.join(tool, "bin", "uv.exe" if windows else "uv"), "pip", "install",
                     "--quiet", "--compile-bytecode", "--python", python]
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"testkit: no {uv} ({e}), installing with pip", flush=True)
        subprocess.check_call([python, "-m", "ensurepip", "--default-pip"])
        installer = [python, "-m", "pip", "install", *quiet]
    subprocess.check_call([*installer, *requirements])
with open(os.path.join(target, ".testkit-complete"), "w") as marker:
    marker.write("\n".join(requirements))
print(f"testkit: {target} is complete, {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
"#;

impl Venv {
    pub(crate) fn new(dir: PathBuf, requirements: Vec<String>) -> Self {
        Self { dir, requirements }
    }

    fn lock_file(&self) -> PathBuf {
        self.dir.with_extension("lock")
    }

    /// What the creators wrote, every attempt after the last.
    pub(crate) fn log_file(&self) -> PathBuf {
        self.dir.with_extension("log")
    }

    fn is_complete(&self) -> bool {
        fs::read_to_string(self.dir.join(".testkit-complete"))
            .is_ok_and(|m| m == self.requirements.join("\n"))
    }

    pub(crate) fn provision_error(&self, why: String) -> ToolError {
        ToolError::Provision {
            venv: self.dir.clone(),
            requirements: self
                .requirements
                .iter()
                .map(|r| format!("'{r}'"))
                .collect::<Vec<_>>()
                .join(" "),
            why,
        }
    }

    fn open_lock(&self) -> Result<File, ToolError> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| {
            self.provision_error(format!("cannot create {}: {e}", parent.display()))
        })?;
        File::create(self.lock_file())
            .map_err(|e| self.provision_error(format!("cannot create the lock file: {e}")))
    }

    /// Starts creating the venv in a background process, unless it is complete or someone
    /// holds its lock (creating it, or checking it). Returns whether it started a creator.
    /// Where a lock cannot be handed to a child process (not Unix), it starts nothing and
    /// [`Venv::wait`] creates the venv in the foreground.
    pub(crate) fn start(&self) -> Result<bool, ToolError> {
        let lock = self.open_lock()?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(e)) => {
                return Err(self.provision_error(format!("cannot lock: {e}")));
            }
        }
        if self.is_complete() || !cfg!(unix) {
            return Ok(false);
        }
        // The creator's stdin is the locked file: the lock is now the creator's, and is
        // released when it (and the pip it runs) exits.
        let child = self.spawn_creator(Stdio::from(lock))?;
        // Reaps the creator if this process outlives it; else the creator outlives this process.
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        Ok(true)
    }

    /// Waits until nobody is creating the venv, then returns whether it is complete; when it
    /// is not and `started_here` is false (nobody was creating it, or an attempt elsewhere
    /// stopped half-way), creates it in the foreground first. When this process's own
    /// background attempt failed, the error carries its log instead of trying again.
    pub(crate) fn wait(&self, started_here: bool) -> Result<(), ToolError> {
        let lock = self.open_lock()?;
        lock.lock()
            .map_err(|e| self.provision_error(format!("cannot lock: {e}")))?;
        if self.is_complete() {
            return Ok(());
        }
        if !started_here {
            let status = self
                .spawn_creator(Stdio::null())?
                .wait()
                .map_err(|e| self.provision_error(format!("cannot wait for the creator: {e}")))?;
            if self.is_complete() {
                return Ok(());
            }
            return Err(self.failed(&format!("the creator exited ({status})")));
        }
        Err(self.failed("the background creator stopped before the venv was complete"))
        // The lock is released when `lock` is dropped.
    }

    /// [`Venv::start`] then [`Venv::wait`]: the venv is complete on `Ok`.
    #[cfg(test)]
    pub(crate) fn ensure(&self) -> Result<(), ToolError> {
        let started = self.start()?;
        self.wait(started)
    }

    fn spawn_creator(&self, stdin: Stdio) -> Result<Child, ToolError> {
        let python = ["python3", "python"]
            .into_iter()
            .find_map(|p| find_on_path(p, std::env::var_os("PATH")))
            .ok_or_else(|| self.provision_error("neither python3 nor python is on PATH".into()))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(|e| self.provision_error(format!("cannot open the log file: {e}")))?;
        let log_err = log
            .try_clone()
            .map_err(|e| self.provision_error(format!("cannot open the log file: {e}")))?;
        eprintln!(
            "testkit: creating the venv {} ({}); this happens once (log: {})",
            self.dir.display(),
            self.requirements.join(" "),
            self.log_file().display()
        );
        Command::new(python)
            .arg("-c")
            .arg(CREATOR)
            .arg(&self.dir)
            .arg(std::process::id().to_string())
            .arg(UV_REQUIREMENT)
            .args(&self.requirements)
            .stdin(stdin)
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| self.provision_error(format!("cannot run Python: {e}")))
    }

    fn failed(&self, what: &str) -> ToolError {
        let text = fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(12)..].join("\n");
        self.provision_error(format!(
            "{what}; the end of {}:\n{tail}",
            self.log_file().display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A venv without pip or requirements: seconds to create, no network.
    fn bare(dir: &Path) -> Venv {
        Venv::new(dir.join("env"), Vec::new())
    }

    fn creations(venv: &Venv) -> Vec<String> {
        fs::read_to_string(venv.log_file())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("testkit: creating"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn concurrent_ensures_create_a_venv_once() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || bare(&dir).ensure())
            })
            .collect();
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        let venv = bare(dir.path());
        assert!(venv.is_complete());
        assert_eq!(creations(&venv).len(), 1, "{:?}", creations(&venv));
        venv.ensure().unwrap();
        assert_eq!(creations(&venv).len(), 1, "a complete venv is kept");
    }

    #[test]
    fn a_changed_pin_rebuilds_the_venv() {
        let dir = tempfile::tempdir().unwrap();
        bare(dir.path()).ensure().unwrap();
        fs::write(dir.path().join("env/.testkit-complete"), "old==1").unwrap();
        let venv = bare(dir.path());
        assert!(!venv.is_complete());
        venv.ensure().unwrap();
        assert_eq!(creations(&venv).len(), 2);
    }

    /// Not a test on its own: when `TESTKIT_VENV_CHILD` names a folder, this is the child of
    /// `a_background_creation_outlives_the_process_that_started_it`: it starts a venv there
    /// and exits at once.
    #[test]
    fn child_starts_a_venv_and_exits() {
        if let Some(dir) = std::env::var_os("TESTKIT_VENV_CHILD") {
            let started = bare(Path::new(&dir)).start().unwrap();
            println!("STARTED={started}");
            std::process::exit(0);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_background_creation_outlives_the_process_that_started_it() {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "venv::tests::child_starts_a_venv_and_exits",
                "--nocapture",
            ])
            .env("TESTKIT_VENV_CHILD", dir.path())
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        assert!(stdout.contains("STARTED=true"), "{stdout}");
        // The child is gone; its creator holds the lock until the venv is complete, so this
        // waits for it rather than creating the venv a second time.
        let venv = bare(dir.path());
        venv.wait(false).unwrap();
        let made = creations(&venv);
        assert_eq!(made.len(), 1, "{made:?}");
        assert!(
            !made[0].contains(&format!("for process {},", std::process::id())),
            "created by the waiting process, not in the background: {made:?}"
        );
    }

    #[test]
    fn a_failed_creation_says_why_and_how_to_get_the_tools() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-tool-1.0-py3-none-any.whl");
        let venv = Venv::new(dir.path().join("env"), vec![missing.display().to_string()]);
        let message = venv.ensure().unwrap_err().to_string();
        assert!(message.contains("no-such-tool"), "{message}");
        assert!(message.contains("pip install '"), "{message}");
        assert!(
            message.contains("apt-get install python3-venv"),
            "{message}"
        );
        assert!(!venv.is_complete());
    }
}
