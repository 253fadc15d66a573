//! Step 1, steady state: every app answers from the primary, and every service route
//! (direct and through the gateway) is answered by its service.

use crate::demo::drill::{Drill, apps_on, current_region, regions_text};
use crate::verdict;

pub(crate) async fn run(drill: &mut Drill) {
    let primary = drill.primary.clone();
    drill.narrator.step(
        &format!("steady state: every app on {primary}"),
        "step 1: steady state, every app on the primary",
    );
    drill.run.mark("steady state");
    let before = drill.run.live();
    let probed = drill.probe.snapshot();
    tokio::time::sleep(drill.pace.steady).await;
    let after = drill.run.live();
    let on_primary = drill
        .apps
        .iter()
        .all(|a| current_region(&after, a).as_ref() == Some(&primary));
    let errors = drill.failures_since(&before, &after);
    drill.record(
        "steady state",
        format!("all apps on {primary} (GET / on each subdomain), 0 errors, 0 unsent"),
        format!(
            "{}, {errors} errors or unsent",
            regions_text(&after, &drill.apps)
        ),
        format!(
            "{}, {errors} errors",
            apps_on(&after, &drill.apps, &primary)
        ),
        on_primary && errors == 0,
    );
    let routes = drill.probe.snapshot().since(&probed);
    drill.push(verdict::every_route_answers("every route answers", &routes));
}
