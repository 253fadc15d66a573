//! `cargo xtask build-lambdas`: each service built for Lambda (provided.al2023, arm64) and
//! packed into `target/lambda/<app>-<sha256:16>.zip`, holding one executable `bootstrap`.
//!
//! Each is built with the `lambda-release` profile (fat LTO, one codegen unit, `opt-level = "z"`,
//! stripped) and only the features it uses: none of the service's defaults (its `local`
//! feature: command-line flags and aws-config's credential chain; on Lambda the settings and
//! the role's credentials are in the environment), and the kit's write fence (the ARC and
//! CloudWatch SDKs) only for an app with `fence_writes = true`. `cargo bench -p
//! service-bench` reports the packages' sizes and their init times.
//!
//! The zips are deterministic (fixed timestamps and modes), so an unchanged binary keeps its
//! name and `infra deploy` neither uploads it again nor updates the function. The cross build
//! needs cargo-lambda and zig; when they are not on PATH they are installed from PyPI into a
//! venv under `target/lambda-tools` (`pip install cargo-lambda ziglang`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use topology::{AppName, ServiceApp, Topology};
use zip::write::SimpleFileOptions;

/// The Cargo profile of the packages (`[profile.lambda-release]` in the root `Cargo.toml`).
pub const PROFILE: &str = "lambda-release";

/// Builds and packs `apps` (default: every service of the topology at `config`).
pub fn build(root: &Path, config: &Path, apps: &[String]) -> anyhow::Result<()> {
    let apps = services(config, apps)?;
    let out = root.join("target/lambda");
    let path = tools_path(root)?;
    std::fs::create_dir_all(out.join("build"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    for app in &apps {
        let features = app.build_features().join(",");
        eprintln!(
            "building {} for Lambda (arm64, profile {PROFILE}, features [{features}])",
            app.name()
        );
        let status = Command::new("cargo")
            .args([
                "lambda",
                "build",
                "--profile",
                PROFILE,
                "--arm64",
                "--package",
            ])
            .arg(app.name().as_str())
            .arg("--bin")
            .arg(app.name().as_str())
            // Without the service's `local` feature: no command-line flags, no aws-config.
            .arg("--no-default-features")
            .args(["--features", &features])
            .arg("--lambda-dir")
            .arg(out.join("build"))
            .env("PATH", &path)
            .current_dir(root)
            .status()
            .context("cannot run `cargo lambda`")?;
        if !status.success() {
            bail!("`cargo lambda build` failed for {} ({status})", app.name());
        }
        let binary = out
            .join("build")
            .join(app.name().as_str())
            .join("bootstrap");
        let bytes = std::fs::read(&binary)
            .with_context(|| format!("cargo lambda left no {}", binary.display()))?;
        let zip = write_package(&out, app.name(), &bytes)?;
        let size = std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0);
        println!("{} {size} bytes", zip.display());
    }
    Ok(())
}

/// The services to build: the ones named (each must be a service of the topology), or all.
fn services(config: &Path, named: &[String]) -> anyhow::Result<Vec<ServiceApp>> {
    let topology = Topology::load(config)?;
    let file = config.display();
    if named.is_empty() {
        let all: Vec<ServiceApp> = topology.services().cloned().collect();
        if all.is_empty() {
            bail!("no services in {file}: nothing to build");
        }
        return Ok(all);
    }
    named
        .iter()
        .map(|name| {
            let app: AppName = name.parse().map_err(|e| anyhow::anyhow!("`{name}`: {e}"))?;
            topology
                .service(&app)
                .cloned()
                .with_context(|| format!("`{name}` is not a service in {file}"))
        })
        .collect()
}

/// PATH with cargo-lambda and zig on it, installing them into a venv when missing.
fn tools_path(root: &Path) -> anyhow::Result<std::ffi::OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    let zig = found("zig")
        || Command::new("python3")
            .args(["-c", "import ziglang"])
            .status()
            .is_ok_and(|s| s.success());
    if found("cargo-lambda") && zig {
        return Ok(path);
    }
    let venv = std::env::var_os("LAMBDA_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/lambda-tools"));
    let bin = venv.join("bin");
    if !bin.join("cargo-lambda").exists() {
        eprintln!(
            "installing cargo-lambda and ziglang into {}",
            venv.display()
        );
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(bin.join("pip")).args(["install", "--quiet", "cargo-lambda", "ziglang"]))?;
    }
    // cargo-lambda finds zig as `python3 -m ziglang` when no zig binary is on PATH.
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    std::env::join_paths(paths).context("cannot build PATH")
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Packs `binary` as `<out>/<app>-<hash>.zip`, replacing older packages of the app.
pub fn write_package(out: &Path, app: &AppName, binary: &[u8]) -> anyhow::Result<PathBuf> {
    let bytes = zip_bootstrap(binary)?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let final_path = out.join(format!("{app}-{}.zip", &digest[..16]));
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))? {
        let path = entry?.path();
        if is_package_of(&path, app) && path != final_path {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    let tmp = out.join(format!(".{app}.zip.tmp"));
    std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &final_path)
        .with_context(|| format!("cannot write {}", final_path.display()))?;
    Ok(final_path)
}

/// A zip holding one file, `bootstrap`, executable, with a fixed timestamp.
fn zip_bootstrap(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o755);
    zip.start_file("bootstrap", options)?;
    zip.write_all(binary)?;
    Ok(zip.finish()?.into_inner())
}

/// `orders-0123456789abcdef.zip` for app `orders`.
fn is_package_of(path: &Path, app: &AppName) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(&format!("{app}-")))
        .and_then(|n| n.strip_suffix(".zip"))
        .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_deterministic_and_replace_older_ones() {
        let dir = tempfile::tempdir().unwrap();
        let app: AppName = "orders".parse().unwrap();
        let first = write_package(dir.path(), &app, b"binary v1").unwrap();
        std::fs::write(dir.path().join("users-0000000000000000.zip"), b"other app").unwrap();
        let again = write_package(dir.path(), &app, b"binary v1").unwrap();
        assert_eq!(first, again, "the same binary keeps its name");
        let second = write_package(dir.path(), &app, b"binary v2").unwrap();
        assert_ne!(first, second);
        assert!(!first.exists(), "the older package is gone");
        assert!(dir.path().join("users-0000000000000000.zip").exists());

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&second).unwrap()).unwrap();
        assert_eq!(zip.len(), 1);
        let file = zip.by_name("bootstrap").unwrap();
        assert_eq!(file.unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn only_services_of_the_topology_are_built() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("topology.toml"),
            crate::new_service::tests::TOPOLOGY_TEXT,
        )
        .unwrap();
        let config = dir.path().join("topology.toml");
        let all = services(&config, &[]).unwrap();
        let names: Vec<&str> = all.iter().map(|s| s.name().as_str()).collect();
        assert_eq!(names, ["orders"]);
        let err = services(&config, &["api".into()]).unwrap_err();
        assert!(
            err.to_string().contains("not a service in")
                && err.to_string().contains("topology.toml"),
            "{err}"
        );
    }

    #[test]
    fn only_a_fenced_service_carries_the_fence() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        for service in topology.services() {
            let fenced = service.build_features().contains(&"kit/fence");
            assert_eq!(fenced, service.fence_writes(), "{}", service.name());
        }
        assert!(topology.services().any(ServiceApp::fence_writes));
        assert!(!topology.services().all(ServiceApp::fence_writes));
    }
}
