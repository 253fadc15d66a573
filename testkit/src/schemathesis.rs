//! `schemathesis`, the OpenAPI contract tester the services' suites run (see
//! `contract`, feature `service`): from `PATH`, else from a pinned venv of its own
//! (`$CARGO_TARGET_DIR/schemathesisenv`), since its dependency pins (hypothesis, requests,
//! werkzeug) are its own. `MULTI_REGION_TOOLS=venv` ignores `PATH`, as for every tool.

use std::path::PathBuf;

use super::{ToolEnv, ToolError, find_on_path, is_executable, venv_bin, venv_only};

/// The pinned schemathesis release the venv gets.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// The name of its command (the package also installs it as `st`, a name other tools use).
pub(crate) const EXECUTABLE: &str = "schemathesis";

/// The `schemathesis` binary: from PATH, else from its venv (created on first use, which
/// takes seconds with uv). Panics with instructions when it cannot be provided.
pub fn schemathesis() -> PathBuf {
    match try_schemathesis() {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`schemathesis`], returning the error.
pub fn try_schemathesis() -> Result<PathBuf, ToolError> {
    if !venv_only()
        && let Some(found) = find_on_path(EXECUTABLE, std::env::var_os("PATH"))
    {
        return Ok(found);
    }
    let path = venv_bin(&ToolEnv::Schemathesis.ready()?).join(EXECUTABLE);
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(ToolEnv::Schemathesis.venv().provision_error(format!(
            "{EXECUTABLE} is missing from the venv after installation"
        )))
    }
}

pub(crate) fn venv_dir(target_dir: Option<std::ffi::OsString>) -> PathBuf {
    super::venv_dir(target_dir).with_file_name("schemathesisenv")
}

pub(crate) fn requirement() -> String {
    format!("schemathesis=={SCHEMATHESIS_VERSION}")
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn the_schemathesis_venv_is_its_own_and_pinned() {
        assert_eq!(
            venv_dir(Some("/tmp/t".into())),
            PathBuf::from("/tmp/t/schemathesisenv")
        );
        assert_eq!(
            requirement(),
            format!("schemathesis=={SCHEMATHESIS_VERSION}")
        );
    }

    #[test]
    fn schemathesis_runs_at_the_pinned_version() {
        let output = Command::new(schemathesis())
            .arg("--version")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let version = String::from_utf8_lossy(&output.stdout);
        assert!(version.trim().ends_with(SCHEMATHESIS_VERSION), "{version}");
    }
}
