//! Step 4, recovery from the outage: evacuate the primary by running the plan
//! `evacuate-primary` (the replication gate, warm-up of the secondary, every app moved and
//! verified). The stopped service answers again from the secondary within the bound, then
//! every app does, with no error once settled.

use crate::demo::drill::{Drill, apps_on, regions_text};
use crate::demo::plans::{Approver, EVACUATE_PRIMARY};
use crate::verdict;

pub(crate) async fn run(drill: &mut Drill) {
    let payments = drill.service("payments", 1);
    let (primary, secondary) = (drill.primary.clone(), drill.secondary.clone());
    drill.narrator.step(
        &format!("evacuate {primary}"),
        &format!(
            "step 4: evacuate {primary} with the plan `{EVACUATE_PRIMARY}` ({})",
            drill.how()
        ),
    );
    let label = format!("evacuate {primary}");
    let verifying = drill.prepare_verification(&drill.apps.clone()).await;
    let mut plan = match drill.start_plan(EVACUATE_PRIMARY, Approver::Yes) {
        Ok(plan) => plan,
        Err(error) => {
            drill.fail("evacuate", "the evacuation's plan loads", error);
            return;
        }
    };
    // The move is marked and verified from the plan's shift, after its warm-up and gate.
    if !plan.until_shift().await {
        let outcome = drill.finish_plan(plan).await;
        let why = outcome.err().unwrap_or_else(|| "it moved nothing".into());
        drill.fail("evacuate", "the evacuation's plan moves the apps", why);
        return;
    }
    drill.mark_move(&payments, label.clone(), &secondary);
    drill.verify_move(label, verifying, &secondary);
    let waiting = std::time::Instant::now();
    // Timed from the plan's move, not from the warm-up and gate before it.
    let moved = drill
        .wait_for(&payments, &secondary)
        .await
        .map(|t| (waiting + t).saturating_duration_since(plan.shift_started()));
    if let Err(error) = drill.finish_plan(plan).await {
        drill.fail("evacuate", "the evacuation's plan runs to its end", error);
        return;
    }
    let mut all_moved = true;
    for app in &drill.apps {
        all_moved &= drill.wait_for(app, &secondary).await.is_some();
    }
    tokio::time::sleep(drill.pace.settle).await;
    let settled_from = drill.run.live();
    let probed = drill.probe.snapshot();
    tokio::time::sleep(drill.pace.settle).await;
    let settled = drill.run.live();
    let routes = drill.probe.snapshot().since(&probed);
    let errors_after = drill.failures_since(&settled_from, &settled);
    let bound = drill.bound;
    let measured = moved.map_or_else(
        || "never moved".to_owned(),
        |t| format!("moved in {:.2} s", t.as_secs_f64()),
    );
    drill.record(
        &format!("{payments} recovers"),
        format!(
            "{payments} on {secondary} within {:.1} s",
            bound.as_secs_f64()
        ),
        measured.clone(),
        measured,
        moved.is_some_and(|t| t <= bound),
    );
    let all_routes = verdict::every_route_answers("evacuated", &routes);
    drill.record(
        "evacuated",
        format!(
            "every app on {secondary}, then 0 errors or unsent; {}",
            all_routes.expected
        ),
        format!(
            "{}, {errors_after} errors or unsent once settled; {}",
            regions_text(&settled, &drill.apps),
            all_routes.measured
        ),
        format!(
            "{}, {errors_after} errors once settled",
            apps_on(&settled, &drill.apps, &secondary)
        ),
        all_moved && errors_after == 0 && all_routes.held,
    );
}
