//! `checkov`, the policy scanner the suite runs on every synthesized template: from `PATH`,
//! else from a pinned venv of its own next to the tool venv (`$CARGO_TARGET_DIR/checkovenv`).
//! It has a venv of its own because its dependency pins differ from moto's and cfn-lint's.
//! Run it offline: `--skip-download` (no policy download, no API key).

use std::path::PathBuf;

use super::{ToolEnv, ToolError, find_on_path, is_executable, venv_bin, venv_dir, venv_only};

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
    if !venv_only()
        && let Some(found) = find_on_path("checkov", std::env::var_os("PATH"))
    {
        return Ok(found);
    }
    let path = venv_bin(&ToolEnv::Checkov.ready()?).join("checkov");
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(ToolEnv::Checkov
            .venv()
            .provision_error("checkov is missing from the venv after installation".into()))
    }
}

pub(crate) fn checkov_venv_dir(target_dir: Option<std::ffi::OsString>) -> PathBuf {
    venv_dir(target_dir).with_file_name("checkovenv")
}

pub(crate) fn requirement() -> String {
    format!("checkov=={CHECKOV_VERSION}")
}

#[cfg(test)]
mod tests {
    use std::process::Command;

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
