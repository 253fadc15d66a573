//! The Lambda packages: `target/lambda/<app>-<hash>.zip` (written by
//! `cargo xtask build-lambdas`), uploaded by the deploy to each Region's artifacts bucket
//! under a key that is their content hash, so an unchanged package is never uploaded twice and a
//! changed one always updates the function. Templates over CloudFormation's inline limit are
//! uploaded the same way ([`upload_template`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_smithy_types::error::display::DisplayErrorContext;
use sha2::{Digest, Sha256};
use topology::{AppName, Topology};

/// How many hex digits of the SHA-256 name a package.
pub const HASH_LEN: usize = 16;

/// Why packages could not be found or uploaded.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(
        "no Lambda package for `{app}` in {dir} (expected {app}-<hash>.zip); build them with `just build-lambdas`"
    )]
    Missing { app: AppName, dir: String },
    #[error(
        "several Lambda packages for `{app}` in {dir}: {found}; remove the stale ones or run `just build-lambdas` again"
    )]
    Ambiguous {
        app: AppName,
        dir: String,
        found: String,
    },
    #[error(
        "{path}: its name says hash {named} but its content hashes to {actual}; rebuild it with `just build-lambdas`"
    )]
    HashMismatch {
        path: String,
        named: String,
        actual: String,
    },
    #[error("cannot read {path}: {reason}")]
    Read {
        path: String,
        reason: std::io::Error,
    },
    #[error("S3 {operation} on bucket {bucket} failed: {message}")]
    S3 {
        operation: &'static str,
        bucket: String,
        message: String,
    },
}

/// One service's package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaPackage {
    pub app: AppName,
    pub path: PathBuf,
    /// `lambda/<app>-<hash>.zip`: its key in every artifacts bucket.
    pub key: String,
}

/// The content hash a package is named by.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))[..HASH_LEN].to_owned()
}

/// Finds and checks the package of every service of `topology` in `dir`.
pub fn find_packages(dir: &Path, topology: &Topology) -> Result<Vec<LambdaPackage>, PackageError> {
    let shown = dir.display().to_string();
    let entries: Vec<String> = std::fs::read_dir(dir)
        .map_err(|reason| PackageError::Read {
            path: shown.clone(),
            reason,
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    topology
        .services()
        .map(|app| {
            let found: Vec<&String> = entries
                .iter()
                .filter(|f| named_hash(f, app.name()).is_some())
                .collect();
            let file = match found[..] {
                [] => {
                    return Err(PackageError::Missing {
                        app: app.name().clone(),
                        dir: shown.clone(),
                    });
                }
                [one] => one,
                _ => {
                    let found = found
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(PackageError::Ambiguous {
                        app: app.name().clone(),
                        dir: shown.clone(),
                        found,
                    });
                }
            };
            check(dir, file, app.name())
        })
        .collect()
}

fn check(dir: &Path, file: &str, app: &AppName) -> Result<LambdaPackage, PackageError> {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|reason| PackageError::Read {
        path: path.display().to_string(),
        reason,
    })?;
    let named = named_hash(file, app).unwrap_or_default().to_owned();
    let actual = content_hash(&bytes);
    if named != actual {
        return Err(PackageError::HashMismatch {
            path: path.display().to_string(),
            named,
            actual,
        });
    }
    Ok(LambdaPackage {
        app: app.clone(),
        path,
        key: format!("lambda/{file}"),
    })
}

/// `orders-0123456789abcdef.zip` → `0123456789abcdef` for app `orders`.
fn named_hash<'f>(file: &'f str, app: &AppName) -> Option<&'f str> {
    let hash = file
        .strip_prefix(app.as_str())?
        .strip_prefix('-')?
        .strip_suffix(".zip")?;
    (hash.len() == HASH_LEN && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// The packages' S3 keys by service, as the app stacks take them.
pub fn code_keys(packages: &[LambdaPackage]) -> BTreeMap<AppName, String> {
    packages
        .iter()
        .map(|p| (p.app.clone(), p.key.clone()))
        .collect()
}

/// Uploads `package` to `bucket` unless it is there already; `true` when it was uploaded.
pub async fn upload(
    s3: &Client,
    bucket: &str,
    package: &LambdaPackage,
) -> Result<bool, PackageError> {
    let body = || async {
        ByteStream::from_path(&package.path)
            .await
            .map_err(|e| e.to_string())
    };
    upload_once(s3, bucket, &package.key, "application/zip", body).await
}

/// Where a template goes in the artifacts bucket: `templates/<stack>-<hash>.json`, by content,
/// so that an unchanged template is not uploaded again and a change set always reads the
/// template it was made for.
pub fn template_key(stack: &str, body: &str) -> String {
    format!("templates/{stack}-{}.json", content_hash(body.as_bytes()))
}

/// Uploads a template to `bucket` under [`template_key`] unless it is there already; `true`
/// when it was uploaded.
pub async fn upload_template(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: &str,
) -> Result<bool, PackageError> {
    let bytes = body.as_bytes().to_vec();
    let body = || async { Ok(ByteStream::from(bytes)) };
    upload_once(s3, bucket, key, "application/json", body).await
}

/// Puts `body()` at `key` unless an object is there already (keys name their content).
async fn upload_once<F, Fut>(
    s3: &Client,
    bucket: &str,
    key: &str,
    content_type: &str,
    body: F,
) -> Result<bool, PackageError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ByteStream, String>>,
{
    let err = |operation, e: String| PackageError::S3 {
        operation,
        bucket: bucket.to_owned(),
        message: e,
    };
    if s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
    {
        return Ok(false);
    }
    let body = body().await.map_err(|e| err("PutObject", e))?;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| err("PutObject", DisplayErrorContext(&e).to_string()))?;
    Ok(true)
}

/// Deletes every object version and delete marker in `bucket`, so that CloudFormation can
/// delete the (versioned) bucket. Returns how many were deleted.
pub async fn empty_bucket(s3: &Client, bucket: &str) -> Result<usize, PackageError> {
    let err = |operation, e: String| PackageError::S3 {
        operation,
        bucket: bucket.to_owned(),
        message: e,
    };
    let mut deleted = 0;
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| err("ListObjectVersions", DisplayErrorContext(&e).to_string()))?;
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        let ids: Vec<ObjectIdentifier> = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key?)
                    .set_version_id(version.map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        if ids.is_empty() {
            return Ok(deleted);
        }
        deleted += ids.len();
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| err("DeleteObjects", e.to_string()))?;
        s3.delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| err("DeleteObjects", DisplayErrorContext(&e).to_string()))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_carry_their_hash() {
        let app: AppName = "orders".parse().unwrap();
        assert_eq!(
            named_hash("orders-0123456789abcdef.zip", &app),
            Some("0123456789abcdef")
        );
        assert_eq!(named_hash("orders-xyz.zip", &app), None);
        assert_eq!(named_hash("orders2-0123456789abcdef.zip", &app), None);
        assert_eq!(named_hash("orders-0123456789abcdef.tar", &app), None);
    }

    #[test]
    fn packages_are_found_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        for app in topology.services() {
            let bytes = format!("zip of {}", app.name()).into_bytes();
            let name = format!("{}-{}.zip", app.name(), content_hash(&bytes));
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let found = find_packages(dir.path(), &topology).unwrap();
        assert_eq!(found.len(), 3);
        assert!(found[0].key.starts_with("lambda/orders-"));

        std::fs::write(dir.path().join("users-0000000000000000.zip"), b"other").unwrap();
        let err = find_packages(dir.path(), &topology).unwrap_err();
        assert!(matches!(err, PackageError::Ambiguous { .. }), "{err}");
    }

    #[test]
    fn a_renamed_package_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        for app in topology.services() {
            std::fs::write(
                dir.path()
                    .join(format!("{}-0000000000000000.zip", app.name())),
                b"x",
            )
            .unwrap();
        }
        let err = find_packages(dir.path(), &topology).unwrap_err();
        assert!(err.to_string().contains("just build-lambdas"), "{err}");
        assert!(matches!(err, PackageError::HashMismatch { .. }));
    }

    #[test]
    fn a_missing_package_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_packages(
            dir.path(),
            &Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("just build-lambdas"), "{err}");
    }
}
