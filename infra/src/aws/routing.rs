//! The initial routing-control states, set through the ARC data plane right after the ARC
//! stack (CloudFormation creates routing controls OFF and cannot set them), with the failover
//! crate's client: the same endpoint rotation and hedging the failover path uses.

use aws_config::SdkConfig;
use failover::{Client, ClientConfig};
use topology::manifest::Manifest;

/// For each app whose two routing controls are both OFF (as created), turns the primary ON and
/// the secondary OFF; apps with a control ON (an operator's choice, or an earlier deploy) are
/// left as they are. `config` bounds the calls (the deploy uses the failover defaults); `sdk`,
/// when given, supplies the credentials (the deploy's own, so `--profile` applies here too).
pub async fn initialize(
    manifest: &Manifest,
    config: ClientConfig,
    sdk: Option<&SdkConfig>,
) -> anyhow::Result<()> {
    let mut client = Client::from_manifest(manifest, config)?;
    if let Some(sdk) = sdk {
        client = client.with_sdk_config(sdk.clone());
    }
    let outcome = client.initialize().await.map_err(|e| {
        anyhow::anyhow!(
            "could not set the initial routing-control states: {e}; the stacks so far are \
             deployed, run `infra deploy` again once the cluster answers"
        )
    })?;
    for app in &outcome.initialized {
        println!(
            "[routing controls] {app}: {} ON, {} OFF",
            manifest.regions.primary, manifest.regions.secondary
        );
    }
    for app in &outcome.untouched {
        println!("[routing controls] {app}: left as set");
    }
    Ok(())
}
