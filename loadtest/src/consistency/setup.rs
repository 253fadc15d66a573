//! What a check of one app needs before its first write: a client like the run's, each
//! Region's own instance, and the collection the service's OpenAPI document declares.

use std::time::Duration;

use resolver::Resolver;
use topology::Region;
use topology::manifest::Manifest;

use super::config::{CheckConfig, CheckError};
use super::probe::Probe;
use crate::client::{Client, Outgoing, Tls};
use crate::config::ConnectionReuse;
use crate::error::ConfigError;
use crate::openapi::{Collection, Document, derive};
use crate::target::{AppTarget, BaseUrl, Scheme};

/// What a probe of one app needs: its client, each Region's own instance, the app's
/// hostname and the collection its document declares.
pub(super) struct Setup {
    pub(super) client: Client,
    pub(super) bases: Vec<(Region, BaseUrl)>,
    pub(super) writer: BaseUrl,
    pub(super) hostname: BaseUrl,
    pub(super) collection: Collection,
}

impl Setup {
    pub(super) async fn new(manifest: &Manifest, config: &CheckConfig) -> Result<Self, CheckError> {
        let entry = manifest
            .app(&config.app)
            .ok_or_else(|| CheckError::UnknownApp(config.app.clone()))?;
        let target = AppTarget::from_entry(manifest, entry)?;
        let regions: Vec<Region> = manifest.regions.both().into_iter().cloned().collect();
        let mut bases = Vec::new();
        for region in &regions {
            let base = target
                .regional
                .iter()
                .find(|(r, _)| r == region)
                .map(|(_, b)| b.clone())
                .ok_or_else(|| CheckError::NoRegionalUrl {
                    app: config.app.clone(),
                    region: region.clone(),
                })?;
            bases.push((region.clone(), base));
        }
        let client = client(manifest, config, &bases)?;
        let writer = bases
            .iter()
            .find(|(r, _)| *r == config.write_region)
            .map(|(_, b)| b.clone())
            .ok_or_else(|| CheckError::NoRegionalUrl {
                app: config.app.clone(),
                region: config.write_region.clone(),
            })?;
        let collection = collection(&client, config, &writer).await?;
        Ok(Self {
            client,
            bases,
            writer,
            hostname: target.base,
            collection,
        })
    }

    pub(super) fn probe<'a>(&'a self, config: &'a CheckConfig) -> Probe<'a> {
        Probe {
            client: &self.client,
            config,
            collection: &self.collection,
            writer: &self.writer,
            bases: &self.bases,
        }
    }
}

fn client(
    manifest: &Manifest,
    config: &CheckConfig,
    bases: &[(Region, BaseUrl)],
) -> Result<Client, CheckError> {
    let tls = if bases.iter().any(|(_, b)| b.scheme == Scheme::Https) {
        let trusted = manifest.trusted_client.as_ref();
        Some(Tls::trusting(&config.extra_root_certificates, trusted)?)
    } else {
        None
    };
    let resolver = Resolver::new(manifest.dns_server).map_err(ConfigError::from)?;
    Ok(Client::new(
        resolver,
        ConnectionReuse::PerHost,
        Duration::from_secs(5),
        tls,
    ))
}

/// The first collection of the service's document with a create and a read by id.
async fn collection(
    client: &Client,
    config: &CheckConfig,
    writer: &BaseUrl,
) -> Result<Collection, CheckError> {
    let url = format!(
        "{}://{}{}/openapi.json",
        scheme(writer),
        writer.authority,
        writer.prefix
    );
    let doc_error = |reason: String| CheckError::Document {
        app: config.app.clone(),
        url: url.clone(),
        reason,
    };
    let got = tokio::time::timeout(
        config.request_timeout,
        client.send(writer, &Outgoing::get("/openapi.json")),
    )
    .await
    .map_err(|_| doc_error(format!("no answer within {:?}", config.request_timeout)))?
    .map_err(|e| doc_error(e.detail))?;
    if !got.status.is_success() {
        return Err(doc_error(format!("answered {}", got.status)));
    }
    let derivation = derive(&Document::parse(&got.body).map_err(doc_error)?);
    derivation
        .api
        .collections
        .iter()
        .find(|c| c.create.is_some() && c.read.is_some())
        .cloned()
        .ok_or_else(|| CheckError::NoOperations {
            app: config.app.clone(),
            reason: if derivation.skipped.is_empty() {
                "none is declared".into()
            } else {
                derivation.skipped.join("; ")
            },
        })
}

fn scheme(base: &BaseUrl) -> &'static str {
    match base.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    }
}
