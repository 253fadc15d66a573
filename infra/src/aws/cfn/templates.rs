//! Templates over CloudFormation's inline limit (51,200 bytes) go through S3: the deploy
//! uploads each to an artifacts bucket, under a key named by its content, and creates the
//! change set with `TemplateURL` (read from S3, a template may have 1 MB).
//!
//! A stack's template goes to the artifacts bucket of its own Region, or, for a stack in a
//! Region without one (the ARC stacks in us-west-2, the monitoring stacks in us-east-1, when
//! those are not the topology's Regions), to the primary's. CloudFormation reads a template
//! from a bucket in another Region of the same partition; in AWS GovCloud (US) and the China
//! Regions, S3's endpoints are Regional and the bucket must be in the stack's Region, which a
//! topology there meets by keeping us-west-2 and us-east-1 among its Regions (ARC itself is
//! not offered there).

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use topology::Region;

use super::{DeployError, Outputs};
use crate::aws::bootstrap::OUTPUT_ARTIFACTS_BUCKET;
use crate::aws::package;
use crate::aws::plan::{StackId, StackSpec};
use crate::aws::template::MAX_BODY_BYTES;

/// How a change set gets its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// Inline (`TemplateBody`), at most [`MAX_BODY_BYTES`].
    Body(String),
    /// From S3 (`TemplateURL`).
    Url(String),
}

/// The artifacts buckets that take templates too large to send inline.
#[derive(Debug, Clone)]
pub struct TemplateStore {
    /// Per Region with an artifacts bucket: the bootstrap stack that outputs its name, and an
    /// S3 client for the Region.
    buckets: BTreeMap<Region, (StackId, Client)>,
    /// The Region whose bucket takes the templates of stacks in Regions without one.
    fallback: Region,
}

impl TemplateStore {
    /// A store over the buckets of these bootstrap stacks (with an S3 client each); `fallback`
    /// is the Region whose bucket serves the Regions without one (the primary).
    pub fn new(buckets: BTreeMap<Region, (StackId, Client)>, fallback: Region) -> Self {
        Self { buckets, fallback }
    }

    /// The Region of the bucket that takes the templates of stacks in `region`.
    pub fn bucket_region<'a>(&'a self, region: &'a Region) -> &'a Region {
        if self.buckets.contains_key(region) {
            region
        } else {
            &self.fallback
        }
    }

    /// Uploads (once) `spec`'s template, `body`, to its bucket, whose name is its bootstrap
    /// stack's output in `outputs`; returns its URL.
    async fn upload(
        &self,
        spec: &StackSpec,
        body: String,
        outputs: &Outputs,
    ) -> Result<TemplateSource, DeployError> {
        let region = self.bucket_region(&spec.id.region);
        let no_bucket = || DeployError::NoTemplateBucket {
            stack: spec.id.clone(),
            bytes: body.len(),
        };
        let (bootstrap, client) = self.buckets.get(region).ok_or_else(no_bucket)?;
        let bucket = outputs
            .get(bootstrap)
            .and_then(|o| o.get(OUTPUT_ARTIFACTS_BUCKET))
            .ok_or_else(no_bucket)?;
        let key = package::template_key(&spec.id.name, &body);
        let uploaded = package::upload_template(client, bucket, &key, &body)
            .await
            .map_err(|e| DeployError::TemplateUpload {
                stack: spec.id.clone(),
                message: e.to_string(),
            })?;
        let verb = if uploaded {
            "uploaded to"
        } else {
            "already in"
        };
        println!(
            "[{}] template of {} bytes (over the {MAX_BODY_BYTES} sent inline) {verb} \
             s3://{bucket}/{key}",
            spec.id,
            body.len()
        );
        Ok(TemplateSource::Url(object_url(bucket, region, &key)))
    }
}

/// `spec`'s template inline, or, over the inline limit, through `store`'s bucket for its Region
/// (refused without a store: there is nowhere to put it).
pub async fn source(
    store: Option<&TemplateStore>,
    spec: &StackSpec,
    outputs: &Outputs,
) -> Result<TemplateSource, DeployError> {
    let body = spec.template.to_body();
    if body.len() <= MAX_BODY_BYTES {
        return Ok(TemplateSource::Body(body));
    }
    match store {
        Some(store) => store.upload(spec, body, outputs).await,
        None => Err(DeployError::NoTemplateBucket {
            stack: spec.id.clone(),
            bytes: body.len(),
        }),
    }
}

/// The HTTPS URL of an object, as CloudFormation takes it: virtual-hosted style on the bucket
/// Region's own S3 endpoint (the global endpoint does not serve every Region's buckets).
pub fn object_url(bucket: &str, region: &Region, key: &str) -> String {
    let domain = if region.as_str().starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{bucket}.s3.{region}.{domain}/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_name_the_buckets_own_region() {
        let url = object_url("b", &"us-east-1".parse().unwrap(), "templates/s-0123.json");
        assert_eq!(
            url,
            "https://b.s3.us-east-1.amazonaws.com/templates/s-0123.json"
        );
        let china = object_url("b", &"cn-north-1".parse().unwrap(), "k");
        assert_eq!(china, "https://b.s3.cn-north-1.amazonaws.com.cn/k");
    }
}
