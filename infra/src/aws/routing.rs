//! The initial routing-control states, set through the ARC data plane right after the ARC
//! stack (CloudFormation creates routing controls OFF and cannot set them).

use anyhow::bail;
use aws_config::SdkConfig;
use aws_sdk_route53recoverycluster::Client;
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use aws_smithy_types::error::display::DisplayErrorContext;
use topology::manifest::{AppEntry, ClusterEndpoint, Manifest};
use topology::{Region, RoutingControlArn};

/// For each app whose two routing controls are both OFF (as created), turns the primary ON and
/// leaves the secondary OFF in one atomic call; apps with any control ON are left as they are.
/// Each app is tried against the cluster endpoints in rotation until one answers.
pub async fn initialize(sdk: &SdkConfig, manifest: &Manifest) -> anyhow::Result<()> {
    let clients: Vec<(&ClusterEndpoint, Client)> = manifest
        .cluster
        .endpoints
        .iter()
        .map(|e| (e, client(sdk, e)))
        .collect();
    for app in &manifest.apps {
        let mut errors = Vec::new();
        let mut done = false;
        for (endpoint, client) in &clients {
            match initialize_app(
                client,
                app,
                &manifest.regions.primary,
                &manifest.regions.secondary,
            )
            .await
            {
                Ok(changed) => {
                    let what = if changed {
                        "primary ON, secondary OFF"
                    } else {
                        "left as set"
                    };
                    println!("[routing controls] {}: {what}", app.name);
                    done = true;
                    break;
                }
                Err(e) => errors.push(format!("{} ({}): {e}", endpoint.url, endpoint.region)),
            }
        }
        if !done {
            bail!(
                "could not set the initial routing-control states of `{}` on any cluster endpoint:\n  {}",
                app.name,
                errors.join("\n  ")
            );
        }
    }
    Ok(())
}

fn client(sdk: &SdkConfig, endpoint: &ClusterEndpoint) -> Client {
    // Each endpoint is signed for its own Region.
    let conf = aws_sdk_route53recoverycluster::config::Builder::from(sdk)
        .region(aws_sdk_route53recoverycluster::config::Region::new(
            endpoint.region.to_string(),
        ))
        .endpoint_url(&endpoint.url)
        .build();
    Client::from_conf(conf)
}

async fn initialize_app(
    client: &Client,
    app: &AppEntry,
    primary: &Region,
    secondary: &Region,
) -> Result<bool, String> {
    let control = |region: &Region| {
        app.routing_control(region)
            .cloned()
            .ok_or_else(|| format!("no routing control for {region}"))
    };
    let (primary, secondary) = (control(primary)?, control(secondary)?);
    let both_off = state(client, &primary).await? == RoutingControlState::Off
        && state(client, &secondary).await? == RoutingControlState::Off;
    if !both_off {
        return Ok(false);
    }
    let entry = |arn: &RoutingControlArn, s: RoutingControlState| {
        UpdateRoutingControlStateEntry::builder()
            .routing_control_arn(arn.as_str())
            .routing_control_state(s)
            .build()
            .map_err(|e| e.to_string())
    };
    client
        .update_routing_control_states()
        .update_routing_control_state_entries(entry(&primary, RoutingControlState::On)?)
        .update_routing_control_state_entries(entry(&secondary, RoutingControlState::Off)?)
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    Ok(true)
}

async fn state(client: &Client, arn: &RoutingControlArn) -> Result<RoutingControlState, String> {
    let out = client
        .get_routing_control_state()
        .routing_control_arn(arn.as_str())
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    Ok(out.routing_control_state().clone())
}
