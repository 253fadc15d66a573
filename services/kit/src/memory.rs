//! An in-memory emulation of a DynamoDB table's item model: the base of every service's
//! memory adapter, and what the local world replicates between Regions through its change
//! feed (like a DynamoDB stream feeding a global table's replica).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::broadcast;

use topology::Region;

pub use crate::store::{Condition, Item, Page, StoreError, Write};
use crate::store::{HealthCheck, ItemTable, PK, Stored};

/// How many changes a slow feed subscriber may lag behind before it misses some.
const FEED_CAPACITY: usize = 16 * 1024;

/// One change to an item, as a DynamoDB stream record with the new image.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The table's name.
    pub table: String,
    pub pk: String,
    /// The item after the change; `None` when it was deleted.
    pub new_image: Option<Item>,
    /// When the write happened: the last-writer-wins order.
    pub at: DateTime<Utc>,
    /// The Region where the write happened.
    pub origin: Region,
}

/// What is stored under one `pk`: the item, or a tombstone remembering when it was deleted
/// so that an older replicated write cannot resurrect it. The item is shared, so a read
/// hands out a reference count instead of a copy of every attribute, and so is the record
/// a read decoded from it.
#[derive(Debug, Clone)]
struct Slot {
    item: Option<Arc<Stored>>,
    at: DateTime<Utc>,
    origin: Region,
}

impl Slot {
    fn item(&self) -> Option<&Item> {
        self.item.as_ref().map(|s| &**s.item())
    }

    /// Whether a change stamped `(at, origin)` is newer than this slot: last writer wins,
    /// ties broken by the Region name so both Regions converge on the same item.
    fn older_than(&self, at: DateTime<Utc>, origin: &Region) -> bool {
        (self.at, self.origin.as_str()) < (at, origin.as_str())
    }
}

fn stored(item: Item) -> Arc<Stored> {
    Arc::new(Stored::new(Arc::new(item)))
}

/// An in-memory table. Cheap to share: `MemoryTable::new` returns an `Arc`.
#[derive(Debug)]
pub struct MemoryTable {
    name: String,
    region: Region,
    slots: Mutex<BTreeMap<String, Slot>>,
    feed: broadcast::Sender<Change>,
    available: AtomicBool,
}

impl MemoryTable {
    /// An empty table named `name` in `region`.
    pub fn new(name: &str, region: Region) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            region,
            slots: Mutex::new(BTreeMap::new()),
            feed: broadcast::channel(FEED_CAPACITY).0,
            available: AtomicBool::new(true),
        })
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Region this replica lives in.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// Fault injection: while unavailable, every call fails with [`StoreError::Unavailable`].
    pub fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
    }

    /// Whether the table answers.
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    fn lock(&self) -> Result<MutexGuard<'_, BTreeMap<String, Slot>>, StoreError> {
        if !self.is_available() {
            return Err(StoreError::Unavailable(format!(
                "table {} in {} is switched off",
                self.name, self.region
            )));
        }
        // A panic while holding the lock cannot leave a half-applied transaction: writes are
        // applied only after every condition was checked, so the map is consistent.
        Ok(self.slots.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The item under `pk`.
    pub fn get(&self, pk: &str) -> Result<Option<Arc<Item>>, StoreError> {
        Ok(self.get_stored(pk)?.map(|s| s.item().clone()))
    }

    /// The item under `pk`, with the record decoded from it by an earlier read, if any.
    pub fn get_stored(&self, pk: &str) -> Result<Option<Arc<Stored>>, StoreError> {
        Ok(self.lock()?.get(pk).and_then(|s| s.item.clone()))
    }

    /// How many items the table holds (tombstones excluded).
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| s.item.is_some())
            .count()
    }

    /// Whether the table holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies every write or none (see [`ItemTable::transact`]); each applied write
    /// enters the change feed.
    pub fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut slots = self.lock()?;
        let mut failed = Vec::new();
        for (i, write) in writes.iter().enumerate() {
            if write.pk().is_empty() {
                return Err(StoreError::Other(format!("write {i} has no string `pk`")));
            }
            if writes[..i].iter().any(|w| w.pk() == write.pk()) {
                return Err(StoreError::Other(format!(
                    "two writes of one transaction touch pk {}",
                    write.pk()
                )));
            }
            let current = slots.get(write.pk()).and_then(Slot::item);
            if !write.condition().holds(current) {
                failed.push(i);
            }
        }
        if !failed.is_empty() {
            return Err(StoreError::ConditionFailed { failed });
        }
        for write in writes {
            self.apply_local(&mut slots, write);
        }
        Ok(())
    }

    fn apply_local(&self, slots: &mut BTreeMap<String, Slot>, write: Write) {
        let pk = write.pk().to_owned();
        let new_image = match write {
            Write::Put { item, .. } => Some(item),
            Write::Delete { .. } => None,
            Write::Check { .. } => return,
        };
        let previous = slots.get(&pk).map(|s| s.at);
        let at = next_stamp(previous);
        slots.insert(
            pk.clone(),
            Slot {
                item: new_image.clone().map(stored),
                at,
                origin: self.region.clone(),
            },
        );
        // No subscriber is fine: nobody replicates this table.
        let _ = self.feed.send(Change {
            table: self.name.clone(),
            pk,
            new_image,
            at,
            origin: self.region.clone(),
        });
    }

    /// One conditional put; a failed condition is `ConditionFailed { failed: [0] }`.
    pub fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.transact(vec![Write::Put { item, condition }])
    }

    /// Items whose attribute `attr` is the string `value`, ordered by `pk`, after `after`:
    /// the GSI path.
    pub fn query(
        &self,
        attr: &str,
        value: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        let slots = self.lock()?;
        let matching = range_after(&slots, after)
            .filter(|item| item.get(attr).and_then(Value::as_str) == Some(value));
        Ok(page(matching, limit))
    }

    /// Items whose `pk` starts with `pk_prefix`, ordered by `pk`, after `after`.
    pub fn scan(
        &self,
        pk_prefix: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        let slots = self.lock()?;
        let start = match after {
            Some(a) if a >= pk_prefix => Bound::Excluded(a.to_owned()),
            _ => Bound::Included(pk_prefix.to_owned()),
        };
        let matching = slots
            .range((start, Bound::Unbounded))
            .take_while(|(pk, _)| pk.starts_with(pk_prefix))
            .filter_map(|(_, slot)| slot.item());
        Ok(page(matching, limit))
    }

    /// The change feed: every local write, in order, like a DynamoDB stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.feed.subscribe()
    }

    /// Applies a change that replicated from another Region's table, if it is newer than
    /// what is stored (last writer wins on `at`, ties broken by origin Region name). Returns
    /// whether it was applied (`false`: a newer write was already there). A replicated write
    /// does not re-enter the change feed. A switched-off table answers
    /// [`StoreError::Unavailable`] and changes nothing, so the replicator keeps the change and
    /// delivers it when the table is back: a change is never dropped silently.
    pub fn apply_replicated(&self, change: &Change) -> Result<bool, StoreError> {
        let mut slots = self.lock()?;
        if let Some(slot) = slots.get(&change.pk)
            && !slot.older_than(change.at, &change.origin)
        {
            return Ok(false);
        }
        slots.insert(
            change.pk.clone(),
            Slot {
                item: change.new_image.clone().map(stored),
                at: change.at,
                origin: change.origin.clone(),
            },
        );
        Ok(true)
    }
}

/// A write's timestamp: now, but strictly after the previous write of the same item, so a
/// local overwrite always wins over what it overwrote even within one clock tick.
fn next_stamp(previous: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let now = Utc::now();
    match previous {
        Some(p) if p >= now => p + TimeDelta::microseconds(1),
        _ => now,
    }
}

fn range_after<'a>(
    slots: &'a BTreeMap<String, Slot>,
    after: Option<&str>,
) -> impl Iterator<Item = &'a Item> {
    let start = match after {
        Some(a) => Bound::Excluded(a.to_owned()),
        None => Bound::Unbounded,
    };
    slots
        .range((start, Bound::Unbounded))
        .filter_map(|(_, slot)| slot.item())
}

fn page<'a>(mut matching: impl Iterator<Item = &'a Item>, limit: usize) -> Page {
    let items: Vec<Item> = matching.by_ref().take(limit).cloned().collect();
    let more = matching.next().is_some();
    let next = match items.last() {
        Some(last) if more => last.get(PK).and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    Page { items, next }
}

#[async_trait]
impl HealthCheck for MemoryTable {
    async fn check(&self) -> Result<(), StoreError> {
        self.lock().map(drop)
    }
}

#[async_trait]
impl ItemTable for MemoryTable {
    async fn get(&self, pk: &str) -> Result<Option<Arc<Item>>, StoreError> {
        MemoryTable::get(self, pk)
    }
    async fn get_stored(&self, pk: &str) -> Result<Option<Arc<Stored>>, StoreError> {
        MemoryTable::get_stored(self, pk)
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        MemoryTable::transact(self, writes)
    }
    async fn scan(
        &self,
        prefix: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        MemoryTable::scan(self, prefix, limit, after)
    }
    async fn query(
        &self,
        attr: &str,
        value: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        MemoryTable::query(self, attr, value, limit, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn region(s: &str) -> Region {
        s.parse().unwrap()
    }

    fn item(pk: &str, extra: Value) -> Item {
        let mut i = extra.as_object().cloned().unwrap_or_default();
        i.insert(PK.into(), json!(pk));
        i
    }

    fn table() -> Arc<MemoryTable> {
        MemoryTable::new("users", region("us-east-1"))
    }

    #[test]
    fn a_failed_transaction_writes_nothing() {
        let t = table();
        t.put(item("EMAIL#a", json!({})), Condition::NotExists)
            .unwrap();
        let err = t
            .transact(vec![
                Write::Put {
                    item: item("USER#1", json!({})),
                    condition: Condition::NotExists,
                },
                Write::Put {
                    item: item("EMAIL#a", json!({})),
                    condition: Condition::NotExists,
                },
            ])
            .unwrap_err();
        assert_eq!(err, StoreError::ConditionFailed { failed: vec![1] });
        assert_eq!(t.get("USER#1").unwrap(), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn versions_and_deletes() {
        let t = table();
        t.put(item("a", json!({"version": 1})), Condition::NotExists)
            .unwrap();
        assert!(
            t.put(item("a", json!({"version": 2})), Condition::VersionIs(2))
                .is_err()
        );
        t.put(item("a", json!({"version": 2})), Condition::VersionIs(1))
            .unwrap();
        let del = |c| {
            t.transact(vec![Write::Delete {
                pk: "a".into(),
                condition: c,
            }])
        };
        assert!(del(Condition::AttrEquals("version".into(), json!(1))).is_err());
        del(Condition::Exists).unwrap();
        assert!(t.is_empty());
        assert!(
            t.transact(vec![Write::Check {
                pk: "a".into(),
                condition: Condition::Exists
            }])
            .is_err()
        );
    }

    #[test]
    fn one_pk_twice_in_a_transaction_is_rejected() {
        let t = table();
        let w = || Write::Put {
            item: item("a", json!({})),
            condition: Condition::Always,
        };
        assert!(matches!(
            t.transact(vec![w(), w()]),
            Err(StoreError::Other(_))
        ));
        assert!(t.is_empty());
    }

    #[test]
    fn scan_and_query_page_in_pk_order() {
        let t = table();
        for i in 0..5 {
            t.put(
                item(
                    &format!("ORDER#{i}"),
                    json!({"user": if i % 2 == 0 { "u1" } else { "u2" }}),
                ),
                Condition::Always,
            )
            .unwrap();
        }
        t.put(item("OTHER#1", json!({"user": "u1"})), Condition::Always)
            .unwrap();
        let first = t.scan("ORDER#", 2, None).unwrap();
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.next.as_deref(), Some("ORDER#1"));
        let rest = t.scan("ORDER#", 10, first.next.as_deref()).unwrap();
        assert_eq!(rest.items.len(), 3);
        assert_eq!(rest.next, None);
        let exact = t.scan("ORDER#", 5, None).unwrap();
        assert_eq!(exact.next, None, "no cursor when nothing follows");
        let q = t.query("user", "u1", 2, None).unwrap();
        assert_eq!(q.items[0][PK], "ORDER#0");
        assert_eq!(q.next.as_deref(), Some("ORDER#2"));
        let q = t.query("user", "u1", 2, q.next.as_deref()).unwrap();
        assert_eq!(q.items[0][PK], "ORDER#4");
        assert_eq!(q.items[1][PK], "OTHER#1");
        assert_eq!(q.next, None);
    }

    #[test]
    fn unavailable_tables_fail_every_call() {
        let t = table();
        t.set_available(false);
        assert!(matches!(t.get("a"), Err(StoreError::Unavailable(_))));
        assert!(matches!(
            t.put(item("a", json!({})), Condition::Always),
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            t.scan("", 1, None),
            Err(StoreError::Unavailable(_))
        ));
        t.set_available(true);
        assert_eq!(t.get("a").unwrap(), None);
    }

    #[tokio::test]
    async fn replication_is_last_writer_wins_and_does_not_echo() {
        let east = table();
        let west = MemoryTable::new("users", region("us-west-2"));
        let mut east_feed = east.subscribe();
        let mut west_feed = west.subscribe();
        east.put(item("a", json!({"v": "east"})), Condition::Always)
            .unwrap();
        let from_east = east_feed.recv().await.unwrap();
        assert_eq!(from_east.origin, region("us-east-1"));
        west.put(item("a", json!({"v": "west"})), Condition::Always)
            .unwrap();
        let from_west = west_feed.recv().await.unwrap();
        // West wrote later: its write wins in both Regions, whatever the delivery order.
        assert_eq!(west.apply_replicated(&from_east), Ok(false));
        assert_eq!(east.apply_replicated(&from_west), Ok(true));
        assert_eq!(east.get("a").unwrap().unwrap()["v"], "west");
        assert_eq!(west.get("a").unwrap().unwrap()["v"], "west");
        assert!(
            east_feed.try_recv().is_err(),
            "a replicated write must not re-enter the feed"
        );
        // A tie on time is broken by Region name, the same way on both sides.
        let tie = Change {
            origin: region("us-west-2"),
            at: from_west.at,
            ..from_east.clone()
        };
        assert!(
            east.apply_replicated(&tie) == Ok(false),
            "an identical change is applied once"
        );
        // A delete replicates as a tombstone that an older put cannot undo.
        let mut delete = from_west.clone();
        delete.new_image = None;
        delete.at += TimeDelta::seconds(1);
        assert_eq!(east.apply_replicated(&delete), Ok(true));
        assert_eq!(east.apply_replicated(&from_west), Ok(false));
        assert_eq!(east.get("a").unwrap(), None);
        // A switched-off replica refuses the change, so the replicator can retry it later.
        west.set_available(false);
        assert!(matches!(
            west.apply_replicated(&delete),
            Err(StoreError::Unavailable(_))
        ));
        west.set_available(true);
        assert_eq!(west.apply_replicated(&delete), Ok(true));
    }
}
