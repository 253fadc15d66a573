//! Developer tasks as code: [`new_service`] scaffolds a service and wires it in; [`lambdas`]
//! builds the Lambda packages the AWS deploy uploads; [`hack`] keeps the demo's build in step
//! with the test suite's features of shared dependencies; [`test`](mod@test) runs the whole
//! test suite.

pub mod hack;
pub mod lambdas;
pub mod new_service;
pub mod test;

use std::path::{Path, PathBuf};

/// The workspace root: the folder above this crate.
pub fn workspace_root() -> PathBuf {
    // `cargo run` sets it at run time too. That one wins: one build serves every clone that
    // shares a target directory, and the compile-time value names the clone that built it.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// The cargo that runs this task (`CARGO`, which cargo sets), else the one on `PATH`.
pub(crate) fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Writes `text` to `path` through a temporary file in the same folder, so that a reader never
/// sees half a file.
pub(crate) fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let tmp = path.with_extension("xtask-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}
