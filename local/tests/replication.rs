//! Global-table replication between the two Regions' in-memory tables.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kit::memory::{Condition, Item, MemoryTable};
use local_world::replication::Replicator;
use topology::Region;

fn regions() -> (Region, Region) {
    ("us-east-1".parse().unwrap(), "us-west-2".parse().unwrap())
}

fn item(pk: &str, value: &str) -> Item {
    serde_json::json!({"pk": pk, "value": value})
        .as_object()
        .unwrap()
        .clone()
}

fn value(table: &MemoryTable, pk: &str) -> Option<String> {
    table
        .get(pk)
        .unwrap()
        .and_then(|i| i.get("value").and_then(|v| v.as_str()).map(str::to_owned))
}

fn pair() -> (Arc<MemoryTable>, Arc<MemoryTable>) {
    let (east, west) = regions();
    (
        MemoryTable::new("orders", east),
        MemoryTable::new("orders", west),
    )
}

#[tokio::test]
async fn writes_arrive_after_the_lag_both_ways_and_the_backlog_shows_them() {
    let (east, west) = pair();
    let replicator = Replicator::start(&[(east.clone(), west.clone())], Duration::from_millis(200));
    east.put(item("a", "from-east"), Condition::NotExists)
        .unwrap();
    west.put(item("b", "from-west"), Condition::NotExists)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(value(&west, "a"), None, "not before the lag");
    let status = replicator.status();
    assert_eq!(status.pending, 2);
    assert_eq!(status.lag_ms, 200);
    assert!(status.oldest_ms.unwrap() >= 40, "{status:?}");

    let started = Instant::now();
    assert!(replicator.drained(Duration::from_secs(2)).await);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(value(&west, "a").as_deref(), Some("from-east"));
    assert_eq!(value(&east, "b").as_deref(), Some("from-west"));
    // A replicated write does not bounce back: nothing stays pending.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(replicator.status().pending, 0);
}

#[tokio::test]
async fn concurrent_writes_converge_on_the_last_writer() {
    let (east, west) = pair();
    let replicator = Replicator::start(&[(east.clone(), west.clone())], Duration::from_millis(50));
    east.put(item("k", "first"), Condition::Always).unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    west.put(item("k", "second"), Condition::Always).unwrap();
    assert!(replicator.drained(Duration::from_secs(2)).await);
    assert_eq!(value(&east, "k").as_deref(), Some("second"));
    assert_eq!(value(&west, "k").as_deref(), Some("second"));
}

#[tokio::test]
async fn the_lag_changes_at_run_time_and_a_down_replica_catches_up() {
    let (east, west) = pair();
    let replicator = Replicator::start(&[(east.clone(), west.clone())], Duration::from_secs(30));
    east.put(item("x", "1"), Condition::NotExists).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(replicator.status().pending, 1);
    replicator.set_lag(Duration::from_millis(10));
    assert!(
        replicator.drained(Duration::from_secs(1)).await,
        "a lowered lag applies to pending changes"
    );
    assert_eq!(value(&west, "x").as_deref(), Some("1"));

    west.set_available(false);
    east.put(item("y", "2"), Condition::NotExists).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        replicator.status().pending,
        1,
        "kept while the replica is down"
    );
    west.set_available(true);
    assert!(replicator.drained(Duration::from_secs(1)).await);
    assert_eq!(value(&west, "y").as_deref(), Some("2"));
}
