//! Writes to every service in the Region DNS answers with, each read back from both Regions
//! once replication drained: in the primary first (step 1b), and in the secondary after the
//! evacuation, once the primary is repaired (step 5).

use topology::Region;

use crate::demo::drill::Drill;
use crate::{measure, verdict};

/// Step 1b: writes in the primary.
pub(crate) async fn in_primary(drill: &mut Drill) {
    let region = drill.primary.clone();
    drill.narrator.step(
        &format!("writes in {region}, read back from both Regions"),
        &format!(
            "step 1b: write to every service in {region} (replication lag {} ms), read each write back from both Regions",
            drill.pace.consistency_lag.as_millis()
        ),
    );
    drill.run.mark(format!("writes in {region}"));
    write_and_read_back(drill, region).await;
}

/// Step 5: the stopped service in the primary serves again (and takes writes through
/// replication); writes in the secondary, where every app now is.
pub(crate) async fn after_repair(drill: &mut Drill) {
    let (primary, region) = (drill.primary.clone(), drill.secondary.clone());
    drill.narrator.step(
        &format!("repair {primary}; writes in {region}, read back from both Regions"),
        &format!(
            "step 5: repair the primary; write to every service in {region} (replication lag {} ms) and read each write back from both Regions",
            drill.pace.consistency_lag.as_millis()
        ),
    );
    drill.run.mark(format!("writes in {region}"));
    let payments = drill.service("payments", 1);
    if let Some(instance) = drill.world.instance(&payments, &primary)
        && let Err(error) = instance.restore().await
    {
        let expected = format!("{payments} in {primary} serves again");
        drill.fail("repair", &expected, error.to_string());
    }
    write_and_read_back(drill, region).await;
}

async fn write_and_read_back(drill: &mut Drill, region: Region) {
    match measure::writes(&drill.world, region.clone(), drill.pace.writes()).await {
        Ok(check) => drill.push(verdict::no_write_lost(&check)),
        Err(error) => drill.fail(
            &format!("no write lost ({region})"),
            "the consistency scenario runs",
            format!("{error:#}"),
        ),
    }
}
