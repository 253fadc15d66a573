//! Step 2, a planned shift of one service to the secondary by the world's mechanism: DNS
//! propagates it as Route 53 does, all its traffic moves within the bound, the gateway (which
//! stays in the primary) follows it, and every other app stays put.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use topology::{AppName, Region};

use crate::demo::drill::{Drill, new_failures, regions_text};
use crate::{measure, verdict};

pub(crate) async fn run(drill: &mut Drill) {
    let orders = drill.service("orders", 0);
    let to = drill.secondary.clone();
    drill.narrator.step(
        &format!("planned shift: {orders} to {to}"),
        &format!("step 2: shift {orders} to {to} ({})", drill.how()),
    );
    let before = drill.run.live();
    let phase = drill.mark_move(&orders, format!("shift {orders} -> {to}"), &to);
    drill.narrator.detail(&format!(
        "the shift comes {phase:.2} s into the clients' {} s TTL cycle",
        drill.world.topology().local.ttl_seconds
    ));
    let verifying = drill
        .prepare_verification(std::slice::from_ref(&orders))
        .await;
    let propagation = measure::shift_propagation(&drill.world, &drill.mover, &orders, &to).await;
    drill.verify_move(format!("shift {orders} -> {to}"), verifying, &to);
    let propagation = match propagation {
        Ok(p) => p,
        Err(error) => {
            drill.fail(
                "planned shift",
                "the shift is accepted",
                format!("{error:#}"),
            );
            return;
        }
    };
    drill.push(verdict::propagates_like_route53(&propagation));
    let others: Vec<AppName> = drill
        .apps
        .iter()
        .filter(|a| **a != orders)
        .cloned()
        .collect();
    let moved = drill.wait_for(&orders, &to).await;
    let (put, samples) = watch_staying(drill, &others).await;
    let after = drill.run.live();
    let errors = new_failures(&before, &after, &orders);
    drill.record_move(&format!("shift {orders}"), moved, errors, 0);
    gateway_follows(drill, &orders, &to).await;
    let primary = drill.primary.clone();
    drill.record(
        "other apps stay put",
        format!("every other app on {primary} throughout the shift"),
        format!(
            "{primary} in {put} of {samples} looks over {:.1} s; now {}",
            drill.pace.settle.as_secs_f64(),
            regions_text(&after, &others)
        ),
        format!("on {primary} in {put} of {samples} looks"),
        samples > 0 && put == samples,
    );
}

/// Watches `apps` for the settle time: in how many looks were all of them still on the
/// primary, out of how many.
async fn watch_staying(drill: &Drill, apps: &[AppName]) -> (u32, u32) {
    let started = Instant::now();
    let (mut put, mut samples) = (0, 0);
    while started.elapsed() < drill.pace.settle {
        let live = drill.run.live();
        samples += 1;
        // Moved means answered from another Region; a look with no answer at all (an
        // overloaded machine) does not count as a move.
        let moved = apps.iter().any(|a| {
            live.app(a)
                .is_some_and(|l| l.recent_regions.iter().any(|r| *r != drill.primary))
        });
        if !moved {
            put += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (put, samples)
}

/// The `api` gateway stays in its Region while the service behind a prefix moves: one base
/// URL, each service failing over on its own.
async fn gateway_follows(drill: &mut Drill, service: &AppName, to: &Region) {
    let started = Instant::now();
    let mut seen = None;
    while started.elapsed() < drill.bound {
        seen = through_gateway(drill, service).await;
        if seen
            .as_ref()
            .is_some_and(|(_, upstream)| upstream == to.as_str())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (measured, summary) = seen.as_ref().map_or_else(
        || {
            let none = "no answer through the gateway".to_owned();
            (none.clone(), none)
        },
        |(gateway, upstream)| {
            (
                format!("x-region {gateway}, x-upstream-region {upstream}"),
                format!("gateway in {gateway}, {service} in {upstream}"),
            )
        },
    );
    let primary = drill.primary.clone();
    let held = seen
        .is_some_and(|(gateway, upstream)| gateway == primary.as_str() && upstream == to.as_str());
    drill.record(
        "the gateway follows",
        format!("the gateway in {primary} proxies {service} to {to}"),
        measured,
        summary,
        held,
    );
}

/// One request for `service` through the gateway, sent where DNS points the gateway's
/// hostname now: the gateway's and the upstream's Regions.
async fn through_gateway(drill: &Drill, service: &AppName) -> Option<(String, String)> {
    let topology = drill.world.topology();
    let gateway = topology.gateways().next()?;
    let (prefix, _) = gateway
        .routes()
        .iter()
        .find(|(_, target)| *target == service)?;
    let address = drill.world.dns().answer(gateway.name())?.address;
    let port = topology.local.app_port;
    let host = format!("{}.{}", gateway.name(), topology.local.domain);
    let client = reqwest::Client::builder()
        .resolve(&host, SocketAddr::new(address.into(), port))
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let mut request = client.get(format!("http://{host}:{port}{prefix}"));
    if let Some(token) = drill.world.api_token(Duration::from_secs(60)) {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Some((header("x-region")?, header(gateway::X_UPSTREAM_REGION)?))
}
