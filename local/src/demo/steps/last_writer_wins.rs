//! Step 1c: for every service with an update operation in its OpenAPI document, one item
//! updated from both Regions at once (within one replication window), through
//! `loadtest::consistency`: which write won, and both Regions ending with the same item.

use std::time::Duration;

use loadtest::consistency::CheckConfig;
use topology::AppName;

use crate::demo::drill::Drill;
use crate::{measure, verdict};

pub(crate) async fn run(drill: &mut Drill) {
    drill.narrator.step(
        "last writer wins: one item per service updated from both Regions at once",
        "step 1c: update one item per service from both Regions at once: last writer wins, both converge",
    );
    let services: Vec<AppName> = drill
        .world
        .topology()
        .services()
        .map(|s| s.name().clone())
        .collect();
    for app in services {
        let mut config = CheckConfig::new(app.clone(), drill.primary.clone(), 3);
        config.replication_deadline = Duration::from_secs(10);
        let fenced = drill
            .world
            .topology()
            .service(&app)
            .is_some_and(|s| s.fence_writes());
        let fenced_in = fenced.then_some(&drill.secondary);
        let conflicts = measure::conflicts(&drill.world, &app);
        let step = match loadtest::consistency::check(drill.world.manifest(), &config).await {
            Ok(check) => {
                drill
                    .world
                    .replicator()
                    .drained(Duration::from_secs(5))
                    .await;
                let conflicts = measure::conflicts(&drill.world, &app) - conflicts;
                verdict::last_writer_wins(&check, fenced_in, conflicts)
            }
            Err(error) => verdict::Step::failed(
                format!("last writer wins ({app})"),
                verdict::last_writer_wins_expected(fenced_in),
                format!("{error:#}"),
            ),
        };
        drill.push(step);
    }
}
