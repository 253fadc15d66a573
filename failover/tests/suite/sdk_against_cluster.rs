//! The real aws-sdk-route53recoverycluster client against the local ARC cluster: every
//! operation, pagination, shifts as one batch, safety rules and their override.

use crate::common;

use crate::common::World;
use failover::{FailoverError, ShiftOptions, exit};
use std::collections::BTreeSet;

#[tokio::test]
async fn controls_start_off_and_initialize_sets_the_primary_once() {
    let w = common::world().await;
    let client = w.client();
    let status = client.status().await.unwrap();
    assert_eq!(status.apps.len(), w.manifest.apps.len());
    for app in &status.apps {
        assert!(app.controls.iter().all(|c| !c.on), "{app:?}");
        assert!(app.warning.as_deref().unwrap().contains("fail"), "{app:?}");
        assert_eq!(
            app.active,
            w.primary(),
            "Route 53 fails open to the primary"
        );
    }

    // An operator already set orders to the secondary: initialize must leave it alone.
    let orders = w.manifest.app(&World::app("orders")).unwrap();
    client
        .set_routing_control_states(
            &[
                (
                    orders.routing_control(&w.secondary()).unwrap().clone(),
                    true,
                ),
                (orders.routing_control(&w.primary()).unwrap().clone(), false),
            ],
            &[],
        )
        .await
        .unwrap();
    let init = client.initialize().await.unwrap();
    assert_eq!(init.untouched, vec![World::app("orders")]);
    assert_eq!(init.initialized.len(), w.manifest.apps.len() - 1);
    assert_eq!(init.batches.len(), 1, "3 apps = 6 controls fit one batch");
    assert_eq!(w.states("orders"), (false, true));
    assert_eq!(w.states("users"), (true, false));

    let again = client.initialize().await.unwrap();
    assert!(again.initialized.is_empty() && again.batches.is_empty());
    let status = client.status().await.unwrap();
    assert!(status.apps.iter().all(|a| a.warning.is_none()));
    let orders_status = status
        .apps
        .iter()
        .find(|a| a.app.as_str() == "orders")
        .unwrap();
    assert_eq!(orders_status.active, w.secondary());
}

#[tokio::test]
async fn get_and_update_one_routing_control() {
    let w = common::world().await;
    let client = w.client();
    client.initialize().await.unwrap();
    let users = w.manifest.app(&World::app("users")).unwrap();
    let west = users.routing_control(&w.secondary()).unwrap();
    let got = client.routing_control_state(west).await.unwrap();
    assert!(!got.value);
    assert_eq!(got.answer.attempts, 1);
    assert!(
        w.manifest
            .cluster()
            .unwrap()
            .endpoints
            .contains(&got.answer.endpoint),
        "the answer names a manifest endpoint"
    );
    client
        .set_routing_control_state(west, true, &[])
        .await
        .unwrap();
    assert!(client.routing_control_state(west).await.unwrap().value);
    assert_eq!(w.states("users"), (true, true));

    let missing = format!(
        "{}/routingcontrol/0000000000000000",
        users.arc().unwrap().control_panel_arn
    )
    .parse()
    .unwrap();
    let err = client.routing_control_state(&missing).await.unwrap_err();
    assert!(
        matches!(&err, FailoverError::Rejected { code, .. } if code == "ResourceNotFoundException"),
        "{err}"
    );
}

#[tokio::test]
async fn list_routing_controls_pages_and_filters() {
    let w = common::world().await;
    let client = w.client();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_routing_controls_page(None, token.as_deref(), Some(3))
            .await
            .unwrap();
        pages += 1;
        let (controls, next) = page.value;
        assert!(controls.len() <= 3);
        seen.extend(controls);
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let total = w.manifest.apps.len() * 2;
    assert_eq!(seen.len(), total);
    assert_eq!(pages, total.div_ceil(3));
    let unique: BTreeSet<_> = seen.iter().map(|c| c.arn.clone()).collect();
    assert_eq!(unique.len(), total, "pages neither repeat nor skip");
    assert!(
        seen.iter()
            .all(|c| c.owner.as_deref() == Some("123456789012"))
    );

    let orders = w.manifest.app(&World::app("orders")).unwrap();
    let listed = client
        .list_routing_controls(Some(&orders.arc().unwrap().control_panel_arn))
        .await
        .unwrap()
        .value;
    let arns: BTreeSet<_> = listed.iter().map(|c| c.arn.clone()).collect();
    let expected: BTreeSet<_> = orders
        .arc()
        .unwrap()
        .routing_controls
        .iter()
        .map(|c| c.arn.clone())
        .collect();
    assert_eq!(arns, expected);
    assert!(
        listed
            .iter()
            .all(|c| c.control_panel.as_ref() == Some(&orders.arc().unwrap().control_panel_arn))
    );
    assert!(
        listed
            .iter()
            .all(|c| c.name.as_deref().unwrap().starts_with("orders-"))
    );

    let err = client
        .list_routing_controls_page(None, Some("not-a-token"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FailoverError::Rejected { code, .. } if code == "ValidationException"),
        "{err}"
    );
}

#[tokio::test]
async fn a_shift_moves_both_controls_in_one_batch_and_nothing_else() {
    let w = common::world().await;
    let client = w.client();
    client.initialize().await.unwrap();
    let outcome = client
        .shift(
            &[World::app("orders")],
            &w.secondary(),
            ShiftOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.batches.len(), 1);
    let batch = &outcome.batches[0];
    assert_eq!(batch.changes.len(), 2);
    assert!(batch.answer.as_ref().unwrap().attempts >= 1);
    assert_eq!(w.states("orders"), (false, true));
    assert_eq!(w.states("payments"), (true, false), "other apps stay");

    let back = client
        .evacuate(&w.secondary(), ShiftOptions::default())
        .await
        .unwrap();
    assert_eq!(back.to, w.primary());
    assert_eq!(back.apps.len(), w.manifest.apps.len());
    for app in &w.manifest.apps {
        assert_eq!(w.states(app.name.as_str()), (true, false));
    }
}

#[tokio::test]
async fn a_dry_run_sends_nothing() {
    let w = common::world().await;
    let client = w.client();
    client.initialize().await.unwrap();
    let plan = client
        .evacuate(
            &w.primary(),
            ShiftOptions {
                dry_run: true,
                ..ShiftOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(plan.dry_run && plan.batches.iter().all(|b| b.answer.is_none()));
    assert_eq!(
        plan.batches.iter().map(|b| b.changes.len()).sum::<usize>(),
        8
    );
    assert_eq!(w.states("orders"), (true, false));
}

/// The example topology with four more apps: eight apps, sixteen routing controls.
async fn eight_apps(
    wait: std::time::Duration,
) -> (local_arc::LocalCluster, topology::manifest::Manifest) {
    let mut text = testkit::FIXTURE_TOPOLOGY.to_owned();
    for i in 0..4 {
        text.push_str(&format!(
            "\n[[apps]]\nname = \"extra{i}\"\nkind = \"service\"\n[apps.table]\nname = \"extra{i}\"\n"
        ));
    }
    let topology = topology::Topology::parse(&text).unwrap();
    let mut config = local_arc::LocalClusterConfig::ephemeral(&topology);
    config.mutations_per_second = 1000.0;
    config.safety_rule_wait_period = wait;
    let cluster = local_arc::LocalCluster::start(&topology, config)
        .await
        .unwrap();
    let manifest = cluster.manifest(&topology);
    (cluster, manifest)
}

#[tokio::test]
async fn a_failure_after_the_first_batch_says_how_many_were_applied() {
    let (cluster, manifest) = eight_apps(std::time::Duration::from_secs(10)).await;
    let client = failover::Client::from_manifest(&manifest, common::quick()).unwrap();
    client.initialize().await.unwrap();
    // A blocked change puts the last app's rule in its wait period: batch 2 will be refused.
    let last = manifest.apps.last().unwrap();
    let primary = &manifest.regions.primary;
    let err = client
        .set_routing_control_state(last.routing_control(primary).unwrap(), false, &[])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::REFUSED);
    let err = client
        .evacuate(primary, ShiftOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FailoverError::Partial {
                applied: 1,
                total: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.exit_code(), exit::REFUSED);
    assert!(err.to_string().contains("1 of 2 batches"), "{err}");
    let on = |app: &topology::manifest::AppEntry| {
        cluster
            .routing_control_state(app.routing_control(primary).unwrap())
            .unwrap()
    };
    assert!(!on(&manifest.apps[0]), "batch 1 was applied");
    assert!(on(last), "batch 2 was not");
    cluster.shutdown().await;
}

#[tokio::test]
async fn more_than_five_apps_are_split_into_batches_of_ten_controls() {
    let (cluster, manifest) = eight_apps(std::time::Duration::ZERO).await;
    let client = failover::Client::from_manifest(&manifest, common::quick()).unwrap();
    let init = client.initialize().await.unwrap();
    assert_eq!(init.initialized.len(), 8);
    assert_eq!(init.batches.len(), 2);
    assert!(init.batches.iter().all(|b| b.changes.len() <= 10));
    let secondary = manifest.regions.secondary.clone();
    let out = client
        .evacuate(&manifest.regions.primary, ShiftOptions::default())
        .await
        .unwrap();
    assert_eq!(out.batches.len(), 2);
    for app in &manifest.apps {
        let on = |r| {
            cluster
                .routing_control_state(app.routing_control(r).unwrap())
                .unwrap()
        };
        assert!(
            on(&secondary) && !on(&manifest.regions.primary),
            "{}",
            app.name
        );
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_batch_leaving_both_controls_off_is_refused_and_changes_nothing() {
    let w = common::world().await;
    let client = w.client();
    client.initialize().await.unwrap();
    let orders = w.manifest.app(&World::app("orders")).unwrap();
    let users = w.manifest.app(&World::app("users")).unwrap();
    // A harmless change to another app in the same batch must not be applied either.
    let mut both_off = vec![(users.routing_control(&w.secondary()).unwrap().clone(), true)];
    both_off.extend(w.both_off("orders"));
    let err = client
        .set_routing_control_states(&both_off, &[])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::REFUSED);
    let FailoverError::Refused { rule, .. } = &err else {
        panic!("expected a refusal, got {err}");
    };
    assert_eq!(rule.as_ref(), Some(&orders.arc().unwrap().safety_rule_arn));
    assert!(
        err.to_string()
            .contains(orders.arc().unwrap().safety_rule_arn.as_str())
    );
    assert_eq!(w.states("orders"), (true, false));
    assert_eq!(w.states("users"), (true, false));

    // Overriding another rule does not help: the blocking rule must be named.
    let err = client
        .set_routing_control_states(
            &both_off,
            std::slice::from_ref(&users.arc().unwrap().safety_rule_arn),
        )
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::REFUSED);
    assert_eq!(w.states("orders"), (true, false));

    client
        .set_routing_control_states(
            &both_off,
            std::slice::from_ref(&orders.arc().unwrap().safety_rule_arn),
        )
        .await
        .unwrap();
    assert_eq!(w.states("orders"), (false, false));
    assert_eq!(w.states("users"), (true, true));
}

#[tokio::test]
async fn the_wait_period_follows_a_blocked_change() {
    let w = common::world_with(|c| {
        c.mutations_per_second = 1000.0;
        c.safety_rule_wait_period = std::time::Duration::from_millis(600);
    })
    .await;
    let client = w.client();
    client.initialize().await.unwrap();
    let orders = w.manifest.app(&World::app("orders")).unwrap();
    let east = orders.routing_control(&w.primary()).unwrap();
    let err = client
        .set_routing_control_state(east, false, &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("blocked"), "{err}");
    let shift = [World::app("orders")];
    let err = client
        .shift(&shift, &w.secondary(), ShiftOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("wait period"), "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    client
        .shift(&shift, &w.secondary(), ShiftOptions::default())
        .await
        .unwrap();
    assert_eq!(w.states("orders"), (false, true));
}

#[tokio::test]
async fn unknown_apps_and_regions_are_usage_errors() {
    let w = common::world().await;
    let client = w.client();
    let err = client
        .shift(
            &[World::app("billing")],
            &w.secondary(),
            ShiftOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
    assert!(
        err.to_string().contains("orders"),
        "lists the known apps: {err}"
    );
    let err = client
        .shift(
            &[World::app("orders")],
            &"eu-west-1".parse().unwrap(),
            ShiftOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
    let err = client
        .evacuate(&"eu-west-1".parse().unwrap(), ShiftOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
}
