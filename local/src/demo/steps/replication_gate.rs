//! Step 1d, the replication gate of `failover shift`: a move of the first service refused
//! while its replica in the secondary is held behind, allowed once it caught up.

use std::time::Duration;

use crate::demo::drill::Drill;
use crate::{measure, verdict};

/// The gate's limit in the drill: well above the world's replication lag.
const GATE_MAX_LAG: Duration = Duration::from_secs(1);

pub(crate) async fn run(drill: &mut Drill) {
    let app = drill.service("orders", 0);
    let to = drill.secondary.clone();
    drill.narrator.step(
        &format!("replication gate: a move of {app} to {to} while its replica is behind"),
        &format!(
            "step 1d: the replication gate: hold the replication of {app} into {to} behind, ask to move {app} there (limit {:.1} s), then let it catch up",
            GATE_MAX_LAG.as_secs_f64()
        ),
    );
    drill.run.mark(format!("replication gate ({app})"));
    match measure::replication_gate(&drill.world, &app, &to, GATE_MAX_LAG).await {
        Ok(trial) => drill.push(verdict::gate_refuses_then_allows(&trial)),
        Err(error) => drill.fail(
            &format!("replication gate ({app})"),
            "the gate reads the world's replication",
            format!("{error:#}"),
        ),
    }
}
