//! `checkov`, the policy scanner the suite runs on every synthesized template: from `PATH`,
//! else from a pinned venv of its own next to the tool venv (`$CARGO_TARGET_DIR/checkovenv`).
//! It has a venv of its own because its dependency pins differ from moto's and cfn-lint's.
//! Run it offline: `--skip-download` (no policy download, no API key).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ToolError, find_on_path, is_executable, run, venv_bin, venv_dir};

/// The pinned checkov release the venv gets.
pub const CHECKOV_VERSION: &str = "3.3.30";

/// The `checkov` binary: from PATH, else from its venv (created on first use, which takes a
/// minute or two). Panics with instructions when it cannot be provided.
pub fn checkov() -> PathBuf {
    match try_checkov() {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`checkov`], returning the error.
pub fn try_checkov() -> Result<PathBuf, ToolError> {
    let use_path = std::env::var("MULTI_REGION_TOOLS").as_deref() != Ok("venv");
    if use_path && let Some(found) = find_on_path("checkov", std::env::var_os("PATH")) {
        return Ok(found);
    }
    let venv = checkov_venv_dir(std::env::var_os("CARGO_TARGET_DIR"));
    ensure_checkov_venv(&venv)?;
    let path = venv_bin(&venv).join("checkov");
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(ToolError::Provision {
            venv,
            why: "checkov is missing from the venv after installation".into(),
        })
    }
}

fn checkov_venv_dir(target_dir: Option<std::ffi::OsString>) -> PathBuf {
    venv_dir(target_dir).with_file_name("checkovenv")
}

fn requirement() -> String {
    format!("checkov=={CHECKOV_VERSION}")
}

/// Creates the venv unless a complete one with the current pin exists; concurrent test
/// binaries take turns through a lock file next to it.
fn ensure_checkov_venv(venv: &Path) -> Result<(), ToolError> {
    let fail = |why: String| ToolError::Provision {
        venv: venv.to_path_buf(),
        why: format!(
            "{why} (or put it on PATH: `pip install '{}'`)",
            requirement()
        ),
    };
    let parent = venv.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    let lock = File::create(parent.join("checkovenv.lock"))
        .map_err(|e| fail(format!("cannot create the lock file: {e}")))?;
    lock.lock().map_err(|e| fail(format!("cannot lock: {e}")))?;
    let marker = venv.join(".testkit-complete");
    if fs::read_to_string(&marker).is_ok_and(|m| m == requirement()) {
        return Ok(());
    }
    eprintln!(
        "testkit: creating the checkov venv at {} ({}); this happens once",
        venv.display(),
        requirement()
    );
    let python = ["python3", "python"]
        .into_iter()
        .find_map(|p| find_on_path(p, std::env::var_os("PATH")))
        .ok_or_else(|| fail("neither python3 nor python is on PATH".into()))?;
    run(Command::new(&python)
        .args(["-m", "venv", "--clear"])
        .arg(venv))
    .map_err(fail)?;
    run(Command::new(venv_bin(venv).join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(requirement()))
    .map_err(fail)?;
    fs::write(&marker, requirement()).map_err(|e| fail(format!("cannot write the marker: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkov_venv_is_its_own_and_pinned() {
        assert_eq!(
            checkov_venv_dir(Some("/tmp/t".into())),
            PathBuf::from("/tmp/t/checkovenv")
        );
        assert!(requirement().contains("=="));
    }

    #[test]
    fn checkov_runs_offline() {
        let output = Command::new(checkov()).arg("--version").output().unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).starts_with(CHECKOV_VERSION));
    }
}
