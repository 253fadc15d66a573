//! Gateway-only access without a shared secret: the `api` gateway's stage presents an API
//! Gateway client certificate on its HTTP proxy integrations, and every service's custom
//! domains require mutual TLS with a truststore that holds the gateway's certificates of both
//! Regions (a service's hostname may answer from either Region after a failover, and either
//! Region's gateway calls it). A caller without that certificate is refused in the TLS
//! handshake, before API Gateway invokes the service's function.
//!
//! The certificates are the deployment's own: API Gateway client certificates whose
//! description is [`certificate_description`] (the deploy generates one per Region when there
//! is none). The truststore is their PEMs, one file per Region in that Region's artifacts
//! bucket ([`TRUSTSTORE_KEY`], versioned); the service stacks take its S3 version, so a new
//! truststore updates their domains.
//!
//! Rotation with no downtime, as three deploys: a new certificate joins the truststore before
//! any stage presents it, and the old one leaves only once no stage presents it.
//! 1. a new certificate per Region (`aws apigateway generate-client-certificate`, with the
//!    description above); `infra deploy` publishes a truststore with old and new and the
//!    stages keep the old one ([`choose_active`]: a stage presents only a certificate the
//!    services already trusted before this deploy);
//! 2. `infra deploy` again: the new certificate was trusted, so the stages switch to it;
//! 3. delete the old certificates; `infra deploy` drops them from the truststore.

use std::collections::BTreeSet;

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_apigateway::types::ClientCertificate;
use aws_smithy_types::error::display::DisplayErrorContext;
use topology::{Region, Topology};

use super::names::StackPrefix;

/// The truststore's key in each Region's artifacts bucket.
pub const TRUSTSTORE_KEY: &str = "truststore/gateway-client-certificates.pem";

/// The description that marks a client certificate as this deployment's gateway's.
pub fn certificate_description(prefix: &StackPrefix) -> String {
    format!("{prefix} api gateway client certificate")
}

/// One of the gateway's client certificates in one Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCertificate {
    pub id: String,
    /// The PEM-encoded certificate (its public part; API Gateway keeps the key).
    pub pem: String,
    /// Seconds since the epoch: the newest trusted one is presented.
    pub created: i64,
}

/// The truststore file for `certificates`: their PEMs, sorted and deduplicated so that the
/// same set always gives the same bytes (and an unchanged set no new S3 version).
pub fn bundle<'a>(certificates: impl IntoIterator<Item = &'a GatewayCertificate>) -> String {
    let pems: BTreeSet<String> = certificates
        .into_iter()
        .map(|c| format!("{}\n", c.pem.trim()))
        .collect();
    pems.into_iter().collect()
}

/// The certificate a Region's stage presents: the newest of `certificates` that `trusted` (the
/// truststore the services used before this deploy) holds, so a stage never presents what a
/// service does not trust yet. With no truststore yet (a first deploy), the newest.
pub fn choose_active<'a>(
    certificates: &'a [GatewayCertificate],
    trusted: Option<&str>,
) -> Option<&'a GatewayCertificate> {
    certificates
        .iter()
        .filter(|c| trusted.is_none_or(|t| t.contains(c.pem.trim())))
        .max_by_key(|c| (c.created, c.id.clone()))
}

fn apigateway(sdk: &SdkConfig, region: &Region) -> aws_sdk_apigateway::Client {
    let conf = aws_sdk_apigateway::config::Builder::from(sdk)
        .region(aws_sdk_apigateway::config::Region::new(region.to_string()))
        .build();
    aws_sdk_apigateway::Client::from_conf(conf)
}

/// The gateway's client certificates in `region` (`GetClientCertificates`); when there is none,
/// one generated (`GenerateClientCertificate`).
pub async fn ensure_certificates(
    sdk: &SdkConfig,
    prefix: &StackPrefix,
    region: &Region,
) -> anyhow::Result<Vec<GatewayCertificate>> {
    let client = apigateway(sdk, region);
    let wanted = certificate_description(prefix);
    let mut found = Vec::new();
    let mut position = None;
    loop {
        let page = client
            .get_client_certificates()
            .set_position(position)
            .limit(500)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot list API Gateway client certificates in {region} \
                     (apigateway:GET /clientcertificates): {}",
                    DisplayErrorContext(&e)
                )
            })?;
        found.extend(
            page.items()
                .iter()
                .filter(|c| c.description() == Some(wanted.as_str()))
                .filter_map(gateway_certificate),
        );
        position = page.position().map(str::to_owned);
        if position.is_none() {
            break;
        }
    }
    if found.is_empty() {
        let made = client
            .generate_client_certificate()
            .description(&wanted)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot generate the gateway's client certificate in {region} \
                     (apigateway:POST /clientcertificates): {}",
                    DisplayErrorContext(&e)
                )
            })?;
        let made = ClientCertificate::builder()
            .set_client_certificate_id(made.client_certificate_id)
            .set_pem_encoded_certificate(made.pem_encoded_certificate)
            .set_created_date(made.created_date)
            .build();
        found.extend(gateway_certificate(&made));
        println!("[{region}] generated the gateway's client certificate");
    }
    Ok(found)
}

/// Deletes the gateway's client certificates in `region` (after its stages are gone, by
/// `infra destroy`); returns how many.
pub async fn delete_certificates(
    sdk: &SdkConfig,
    prefix: &StackPrefix,
    region: &Region,
) -> anyhow::Result<usize> {
    let client = apigateway(sdk, region);
    let wanted = certificate_description(prefix);
    let page = client
        .get_client_certificates()
        .limit(500)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot list API Gateway client certificates in {region}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    let ids: Vec<String> = page
        .items()
        .iter()
        .filter(|c| c.description() == Some(wanted.as_str()))
        .filter_map(|c| c.client_certificate_id().map(str::to_owned))
        .collect();
    for id in &ids {
        client
            .delete_client_certificate()
            .client_certificate_id(id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot delete client certificate {id} in {region}: {}",
                    DisplayErrorContext(&e)
                )
            })?;
    }
    Ok(ids.len())
}

/// Prints what API Gateway said about each service domain's truststore in `region`
/// (`GetDomainName`'s `truststoreWarnings`): a certificate it could not use there means the
/// gateway's calls to that service will be refused. Advice only: a failed read is said, not
/// fatal.
pub async fn report_warnings(sdk: &SdkConfig, topology: &Topology, region: &Region) {
    let client = apigateway(sdk, region);
    for service in topology.services() {
        let app = topology::App::Service(service.clone());
        for name in [
            topology.domain.subdomain(service.name().as_str()),
            super::app::regional_hostname(topology, &app, region),
        ] {
            match client.get_domain_name().domain_name(&name).send().await {
                Ok(domain) => {
                    let warnings = domain
                        .mutual_tls_authentication()
                        .map(|m| m.truststore_warnings())
                        .unwrap_or_default();
                    if !warnings.is_empty() {
                        println!(
                            "[{region}] WARNING: the truststore of {name} has warnings, so the \
                             gateway's calls to it may be refused: {}",
                            warnings.join("; ")
                        );
                    }
                }
                Err(e) => println!(
                    "[{region}] could not read the mutual TLS of {name} (GetDomainName): {}",
                    DisplayErrorContext(&e)
                ),
            }
        }
    }
}

fn gateway_certificate(c: &ClientCertificate) -> Option<GatewayCertificate> {
    Some(GatewayCertificate {
        id: c.client_certificate_id()?.to_owned(),
        pem: c.pem_encoded_certificate()?.to_owned(),
        created: c.created_date().map(|d| d.secs()).unwrap_or_default(),
    })
}

/// The truststore now in `bucket` (its current version), if any.
pub async fn current(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Option<String>> {
    match s3
        .get_object()
        .bucket(bucket)
        .key(TRUSTSTORE_KEY)
        .send()
        .await
    {
        Ok(object) => {
            let bytes = object
                .body
                .collect()
                .await
                .with_context(|| format!("reading s3://{bucket}/{TRUSTSTORE_KEY}"))?;
            Ok(Some(
                String::from_utf8_lossy(&bytes.into_bytes()).into_owned(),
            ))
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "cannot read s3://{bucket}/{TRUSTSTORE_KEY}: {}",
            DisplayErrorContext(&e)
        )),
    }
}

/// Writes `bundle` as the truststore in `bucket` unless it is already the current version;
/// returns the S3 version the service domains are to use.
pub async fn publish(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    bundle: &str,
) -> anyhow::Result<String> {
    let err = |operation: &str, e: String| {
        anyhow::anyhow!("{operation} s3://{bucket}/{TRUSTSTORE_KEY} failed: {e}")
    };
    if current(s3, bucket).await?.as_deref() == Some(bundle) {
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(TRUSTSTORE_KEY)
            .send()
            .await
            .map_err(|e| err("HeadObject", DisplayErrorContext(&e).to_string()))?;
        if let Some(version) = head.version_id() {
            return Ok(version.to_owned());
        }
    }
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(TRUSTSTORE_KEY)
        .content_type("application/x-pem-file")
        .body(bundle.as_bytes().to_vec().into())
        .send()
        .await
        .map_err(|e| err("PutObject", DisplayErrorContext(&e).to_string()))?;
    put.version_id().map(str::to_owned).ok_or_else(|| {
        err(
            "PutObject",
            "no version id: the artifacts bucket must have versioning on".into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(id: &str, created: i64) -> GatewayCertificate {
        GatewayCertificate {
            id: id.into(),
            pem: format!("-----BEGIN CERTIFICATE-----\n{id}\n-----END CERTIFICATE-----\n"),
            created,
        }
    }

    #[test]
    fn the_bundle_is_the_same_for_the_same_set_in_any_order() {
        let (a, b) = (cert("a", 1), cert("b", 2));
        assert_eq!(bundle([&a, &b]), bundle([&b, &a, &a]));
        assert!(bundle([&a, &b]).contains("\na\n") && bundle([&a, &b]).contains("\nb\n"));
        assert_ne!(bundle([&a]), bundle([&a, &b]));
    }

    #[test]
    fn a_stage_presents_only_a_certificate_the_services_already_trust() {
        let (old, new) = (cert("old", 1), cert("new", 2));
        let both = [old.clone(), new.clone()];
        // First deploy: nothing published yet, the newest.
        assert_eq!(choose_active(&both, None), Some(&new));
        // Rotation, first deploy: the truststore held only the old one.
        let before = bundle([&old]);
        assert_eq!(choose_active(&both, Some(&before)), Some(&old));
        // Second deploy: both trusted, the new one is presented.
        let after = bundle([&old, &new]);
        assert_eq!(choose_active(&both, Some(&after)), Some(&new));
        // None of them trusted (the truststore was replaced by hand): nothing to present.
        assert_eq!(choose_active(&both, Some("")), None);
    }
}
