//! Step 3, a regional outage of one service: it stops in the primary and nothing is shifted
//! yet; only its routes fail (direct and through the gateway), every other app is untouched.

use crate::demo::drill::{Drill, new_failures};
use crate::verdict;

pub(crate) async fn run(drill: &mut Drill) {
    let payments = drill.service("payments", 1);
    let primary = drill.primary.clone();
    drill.narrator.step(
        &format!("outage: {payments} stopped in {primary}"),
        &format!("step 3: stop {payments} in {primary}, no shift yet"),
    );
    let before = drill.run.live();
    let probed = drill.probe.snapshot();
    drill.run.mark(format!("stop {payments} in {primary}"));
    if let Some(instance) = drill.world.instance(&payments, &primary) {
        instance.stop().await;
    }
    tokio::time::sleep(drill.pace.settle).await;
    let during = drill.run.live();
    let routes = drill.probe.snapshot().since(&probed);
    let others: u64 = drill
        .apps
        .iter()
        .filter(|a| **a != payments)
        .map(|a| new_failures(&before, &during, a))
        .sum();
    drill.push(verdict::contained(&payments, &routes, others));
}
