//! Step 6, fail every app back to the primary with the plan `fail-back`, within the bound
//! (from its move) and with no error; and for
//! each write-fenced service (step 6b) a client that keeps its answer from before the move
//! (the secondary) and writes through it: the Region left refuses its writes, they are
//! retried into the primary, none is lost and none is written in both Regions.

use std::time::Duration;

use loadtest::consistency::{CheckError, StaleClientConfig, StaleWrites};
use tokio::task::JoinHandle;
use topology::AppName;

use crate::demo::drill::Drill;
use crate::demo::plans::{Approver, FAIL_BACK};
use crate::{measure, verdict};

/// How long the stale clients write before the fail back starts.
const STALE_HEAD_START: Duration = Duration::from_millis(500);

/// A stale client writing through a move, and the conflicts its app's table had before.
struct StaleWriter {
    app: AppName,
    conflicts: u64,
    task: JoinHandle<Result<StaleWrites, CheckError>>,
}

pub(crate) async fn run(drill: &mut Drill) {
    let primary = drill.primary.clone();
    drill.narrator.step(
        &format!("fail back: every app to {primary}"),
        &format!("step 6: fail every app back to {primary}"),
    );
    let before = drill.run.live();
    let first = drill.service("orders", 0);
    let label = format!("fail back to {primary}");
    let verifying = drill.prepare_verification(&drill.apps.clone()).await;
    let mut plan = match drill.start_plan(FAIL_BACK, Approver::Drill) {
        Ok(plan) => plan,
        Err(error) => {
            drill.fail("fail back", "the fail back's plan loads", error);
            return;
        }
    };
    // At the plan's approval (after its wait and warm-up; its gate and move follow), start the
    // stale clients and let them write in the secondary before it is left; then approve.
    let (reached, approve) = plan.approval.take().expect("the drill approves");
    if reached.await.is_err() {
        let _ = drill.finish_plan(plan).await.map_err(|error| {
            drill.fail(
                "fail back",
                "the fail back's plan reaches its approval",
                error,
            )
        });
        return;
    }
    let stale = stale_writers(drill);
    if !stale.is_empty() {
        tokio::time::sleep(STALE_HEAD_START).await;
    }
    let _ = approve.send(true);
    // The move is marked and verified from the plan's shift, after its gate.
    if !plan.until_shift().await {
        let outcome = drill.finish_plan(plan).await;
        let why = outcome.err().unwrap_or_else(|| "it moved nothing".into());
        drill.fail("fail back", "the fail back's plan moves the apps", why);
        return;
    }
    drill.mark_move(&first, label.clone(), &primary);
    drill.verify_move(label, verifying, &primary);
    let mut all = true;
    for app in drill.apps.clone() {
        all &= drill.wait_for(&app, &primary).await.is_some();
    }
    // Timed from the plan's move, not from its gate and warm-up before it.
    let moved = all.then(|| plan.shift_started().elapsed());
    if let Err(error) = drill.finish_plan(plan).await {
        drill.fail("fail back", "the fail back's plan runs to its end", error);
        return;
    }
    tokio::time::sleep(drill.pace.settle).await;
    let after = drill.run.live();
    let errors = drill.failures_since(&before, &after);
    drill.record_move("fail back", moved, errors, 0);
    fenced_writes(drill, stale).await;
}

/// For each write-fenced service, a client that keeps its answer from before the fail back
/// (the secondary) and writes through it, started just before the shift.
fn stale_writers(drill: &Drill) -> Vec<StaleWriter> {
    let from = drill.secondary.clone();
    let duration = drill.bound;
    drill
        .world
        .topology()
        .services()
        .filter(|s| s.fence_writes())
        .map(|s| {
            let app = s.name().clone();
            let conflicts = measure::conflicts(&drill.world, &app);
            let config = StaleClientConfig::new(app.clone(), from.clone(), duration);
            let manifest = drill.world.manifest().clone();
            let task = tokio::spawn(async move {
                loadtest::consistency::stale_client_writes(&manifest, &config).await
            });
            StaleWriter {
                app,
                conflicts,
                task,
            }
        })
        .collect()
}

/// What the stale clients' writes came to, once replication drained.
async fn fenced_writes(drill: &mut Drill, writers: Vec<StaleWriter>) {
    if writers.is_empty() {
        return;
    }
    let (primary, secondary) = (drill.primary.clone(), drill.secondary.clone());
    drill.narrator.step(
        &format!("write fencing: a client holding the old answer ({secondary}) wrote through the move"),
        &format!(
            "step 6b: write fencing: a client still holding the old answer ({secondary}) wrote through the move"
        ),
    );
    for writer in writers {
        let name = format!("write fencing ({})", writer.app);
        let result = writer.task.await;
        drill
            .world
            .replicator()
            .drained(Duration::from_secs(10))
            .await;
        let conflicts = measure::conflicts(&drill.world, &writer.app) - writer.conflicts;
        match result {
            Ok(Ok(writes)) => {
                drill.push(verdict::fenced_writes_land_once(
                    &writes, &primary, conflicts,
                ));
            }
            Ok(Err(error)) => drill.fail(&name, "the stale client runs", error.to_string()),
            Err(error) => drill.fail(&name, "the stale client runs", error.to_string()),
        }
    }
}
