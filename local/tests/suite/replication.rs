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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_going_down_mid_stream_loses_no_change() {
    let (east, west) = pair();
    let replicator = Replicator::start(&[(east.clone(), west.clone())], Duration::ZERO);
    // The replica flaps while changes stream in: every change must arrive once it is back.
    let flapping = {
        let west = west.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                west.set_available(i % 2 == 1);
                tokio::time::sleep(Duration::from_millis(7)).await;
            }
            west.set_available(true);
        })
    };
    let count = 400;
    for n in 0..count {
        east.put(item(&format!("k{n}"), &n.to_string()), Condition::NotExists)
            .unwrap();
        if n % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    flapping.await.unwrap();
    assert!(replicator.drained(Duration::from_secs(3)).await);
    let status = replicator.status();
    assert_eq!(status.lost, 0, "{status:?}");
    for n in 0..count {
        assert_eq!(
            value(&west, &format!("k{n}")).as_deref(),
            Some(n.to_string().as_str()),
            "change k{n} reached the replica"
        );
    }
}

#[tokio::test]
async fn a_change_past_the_retention_is_lost_and_counted() {
    let (east, west) = pair();
    let replicator = Replicator::start(&[(east.clone(), west.clone())], Duration::from_millis(10));
    replicator.set_retention(Duration::from_millis(100));
    west.set_available(false);
    east.put(item("gone", "1"), Condition::NotExists).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    west.set_available(true);
    let status = replicator.status();
    assert_eq!(status.lost, 1, "{status:?}");
    assert_eq!(status.pending, 0, "{status:?}");
    assert_eq!(status.links[0].lost, 1, "{status:?}");
    let started = Instant::now();
    assert!(
        !replicator.drained(Duration::from_secs(1)).await,
        "a lost change is never drained"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "it says so at once"
    );
    assert_eq!(value(&west, "gone"), None);
}

#[tokio::test]
async fn a_severed_link_is_one_way_and_only_a_read_back_shows_it() {
    let (east, west) = pair();
    let replicator = Replicator::start(&[(east.clone(), west.clone())], Duration::from_millis(10));
    replicator.sever(east.region(), west.region(), true);
    assert!(replicator.status().links[0].severed);
    east.put(item("a", "east"), Condition::NotExists).unwrap();
    west.put(item("b", "west"), Condition::NotExists).unwrap();
    // Let the links receive both changes from the feeds.
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Nothing pending, nothing counted: the backlog cannot see a severed link.
    assert!(replicator.drained(Duration::from_secs(1)).await);
    assert_eq!(value(&west, "a"), None, "primary → secondary is broken");
    assert_eq!(
        value(&east, "b").as_deref(),
        Some("west"),
        "the other way works"
    );
    replicator.sever(east.region(), west.region(), false);
    east.put(item("c", "east"), Condition::NotExists).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(replicator.drained(Duration::from_secs(1)).await);
    assert_eq!(value(&west, "c").as_deref(), Some("east"));
}

#[tokio::test]
async fn an_item_written_in_both_regions_within_the_lag_is_one_conflict() {
    let (east, west) = pair();
    let replicator = Replicator::start(&[(east.clone(), west.clone())], Duration::from_millis(150));
    // Different items, and the same item written in turn (after replication): no conflict.
    east.put(item("a", "east"), Condition::Always).unwrap();
    west.put(item("b", "west"), Condition::Always).unwrap();
    settle(&replicator).await;
    west.put(item("a", "west, later"), Condition::Always)
        .unwrap();
    settle(&replicator).await;
    assert_eq!(replicator.status().conflicts, 0);

    // The same item in both Regions within one lag: one write replaces the other.
    east.put(item("c", "east"), Condition::Always).unwrap();
    west.put(item("c", "west"), Condition::Always).unwrap();
    settle(&replicator).await;
    let status = replicator.status();
    assert_eq!(status.conflicts, 1, "{status:?}");
    assert_eq!(value(&east, "c"), value(&west, "c"), "both converge");
}

/// Lets the change feeds reach the links, then waits until nothing is pending.
async fn settle(replicator: &Replicator) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(replicator.drained(Duration::from_secs(2)).await);
}
