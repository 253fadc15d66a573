//! The item-store port every service builds on: DynamoDB's item model (items keyed by the
//! string attribute `pk`), conditional writes and all-or-nothing transactions. Two adapters
//! implement it: [`crate::memory::MemoryTable`] and [`crate::dynamo::DynamoTable`]. It is
//! the one port of every service: a service's `store` module maps its records onto items
//! with [`crate::codec`] and states each rule as a [`Condition`] on a write, so it runs on
//! either adapter unchanged.

use std::any::Any;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde_json::Value;

use crate::problem::Problem;

/// One stored item: attribute name → value. Always has the string attribute `pk`.
pub type Item = serde_json::Map<String, Value>;

/// The name of the partition key attribute of every table.
pub const PK: &str = "pk";

/// The attribute that carries an item's version, for [`Condition::VersionIs`].
pub const VERSION: &str = "version";

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (down, throttled, timed out): a 503, retry or fail over.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A write's condition did not hold; `failed` lists the indexes (in the transaction) of
    /// the writes whose condition failed. Services turn this into 409/412 with their meaning.
    #[error("a write condition failed (writes {failed:?})")]
    ConditionFailed { failed: Vec<usize> },
    /// A stored item cannot be read back as the service's type.
    #[error("a stored item is corrupt: {0}")]
    Corrupt(String),
    /// Anything else the store reported.
    #[error("the store failed: {0}")]
    Other(String),
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(why) => {
                tracing::warn!(error = %why, "store unavailable");
                Problem::unavailable("the data store is unavailable; retry later")
            }
            StoreError::ConditionFailed { .. } => {
                Problem::conflict("the resource changed while the request was processed; retry")
            }
            other => Problem::internal(other),
        }
    }
}

/// A dependency whose reachability `GET /health` reports.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// `Ok` when the store answers.
    async fn check(&self) -> Result<(), StoreError>;
}

/// The precondition of a write, evaluated on the item currently stored under the write's `pk`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No precondition.
    Always,
    /// No item with this `pk` (`attribute_not_exists(pk)`).
    NotExists,
    /// An item with this `pk` exists (`attribute_exists(pk)`).
    Exists,
    /// The item exists and its numeric `version` attribute equals this.
    VersionIs(u64),
    /// The item exists and its attribute equals this value.
    AttrEquals(String, Value),
}

impl Condition {
    /// Whether the condition holds for `current` (the stored item, if any).
    pub fn holds(&self, current: Option<&Item>) -> bool {
        match self {
            Condition::Always => true,
            Condition::NotExists => current.is_none(),
            Condition::Exists => current.is_some(),
            Condition::VersionIs(v) => current
                .and_then(|i| i.get(VERSION))
                .and_then(Value::as_u64)
                .is_some_and(|stored| stored == *v),
            Condition::AttrEquals(name, value) => current
                .and_then(|i| i.get(name))
                .is_some_and(|v| v == value),
        }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Store `item` (replacing the whole item under its `pk`).
    Put { item: Item, condition: Condition },
    /// Remove the item under `pk`.
    Delete { pk: String, condition: Condition },
    /// Write nothing; only require `condition` on the item under `pk`.
    Check { pk: String, condition: Condition },
}

impl Write {
    /// The `pk` this write touches (empty when a put's item lacks one).
    pub fn pk(&self) -> &str {
        match self {
            Write::Put { item, .. } => item.get(PK).and_then(Value::as_str).unwrap_or(""),
            Write::Delete { pk, .. } | Write::Check { pk, .. } => pk,
        }
    }

    /// The write's condition.
    pub fn condition(&self) -> &Condition {
        match self {
            Write::Put { condition, .. }
            | Write::Delete { condition, .. }
            | Write::Check { condition, .. } => condition,
        }
    }
}

/// A stored item as a read hands it out, with room for the record decoded from it.
///
/// An item never changes once stored (a write replaces it with a new one), so the record a
/// read decodes from it holds for as long as the item does: the memory adapter keeps this
/// beside the item and hands out the same one, so reading an item back as a checked record
/// is done once per write rather than on every request. The DynamoDB adapter reads a new
/// item each time, so each of its reads decodes.
#[derive(Debug)]
pub struct Stored {
    item: Arc<Item>,
    record: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl Stored {
    /// `item`, with no record decoded yet.
    pub fn new(item: Arc<Item>) -> Self {
        Self {
            item,
            record: OnceLock::new(),
        }
    }

    /// The item.
    pub fn item(&self) -> &Arc<Item> {
        &self.item
    }

    /// The record decoded from the item by `decode`, decoded on the first call only; a
    /// failure is returned and not kept, so every read of a corrupt item reports it.
    pub fn record<T: Clone + Send + Sync + 'static>(
        &self,
        decode: impl FnOnce(&Item) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(record) = self.record.get().and_then(|r| r.downcast_ref::<T>()) {
            return Ok(record.clone());
        }
        let record = decode(&self.item)?;
        // When a record of another type was kept first, this one is decoded on every call.
        let _ = self.record.set(Box::new(record.clone()));
        Ok(record)
    }
}

/// The record under `pk`, read back by `decode`: what a service's store calls to read one
/// record. Through [`ItemTable::get_stored`], so an adapter that keeps the decoded record
/// (the memory store) decodes an item once, not on every read.
pub async fn get_record<T: Clone + Send + Sync + 'static>(
    table: &dyn ItemTable,
    pk: &str,
    decode: impl FnOnce(&Item) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    table
        .get_stored(pk)
        .await?
        .map(|stored| stored.record(decode))
        .transpose()
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// The `pk` of the last item when more may follow: pass it as `after` to continue.
    pub next: Option<String>,
}

/// A table of items: the port both adapters implement.
#[async_trait]
pub trait ItemTable: HealthCheck + Send + Sync {
    /// The item under `pk` (a strongly consistent read). Shared, not copied: the memory
    /// adapter hands out the stored item itself, which a read only borrows to decode.
    async fn get(&self, pk: &str) -> Result<Option<Arc<Item>>, StoreError>;

    /// [`ItemTable::get`], with the item's place for its decoded record ([`Stored::record`]).
    async fn get_stored(&self, pk: &str) -> Result<Option<Arc<Stored>>, StoreError> {
        Ok(self.get(pk).await?.map(|item| Arc::new(Stored::new(item))))
    }

    /// Applies every write or none: when a condition fails, nothing is written and the error
    /// is [`StoreError::ConditionFailed`] listing the failed writes' indexes. Two writes
    /// must not touch the same `pk` (DynamoDB rejects that too).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Items whose `pk` starts with `prefix`, at most `limit`, after the `pk` `after`.
    async fn scan(
        &self,
        prefix: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError>;

    /// Items whose string attribute `attr` equals `value` (a GSI query), at most `limit`,
    /// after the item whose `pk` is `after`.
    async fn query(
        &self,
        attr: &str,
        value: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError>;

    /// One conditional put.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.transact(vec![Write::Put { item, condition }]).await
    }
}

#[async_trait]
impl<T: ItemTable + ?Sized> HealthCheck for Arc<T> {
    async fn check(&self) -> Result<(), StoreError> {
        (**self).check().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn conditions() {
        let stored = item(json!({"pk": "a", "version": 3, "status": "pending"}));
        assert!(Condition::Always.holds(None));
        assert!(Condition::NotExists.holds(None));
        assert!(!Condition::NotExists.holds(Some(&stored)));
        assert!(Condition::Exists.holds(Some(&stored)));
        assert!(Condition::VersionIs(3).holds(Some(&stored)));
        assert!(!Condition::VersionIs(2).holds(Some(&stored)));
        assert!(!Condition::VersionIs(3).holds(None));
        assert!(Condition::AttrEquals("status".into(), json!("pending")).holds(Some(&stored)));
        assert!(!Condition::AttrEquals("status".into(), json!("paid")).holds(Some(&stored)));
    }

    #[test]
    fn a_stored_record_is_decoded_once_and_a_failure_every_time() {
        let decodes = std::cell::Cell::new(0);
        let version = |item: &Item| {
            decodes.set(decodes.get() + 1);
            item.get(VERSION)
                .and_then(Value::as_u64)
                .ok_or_else(|| StoreError::Corrupt("no version".into()))
        };
        let stored = Stored::new(Arc::new(item(json!({"pk": "a", "version": 3}))));
        assert_eq!(stored.record(version), Ok(3));
        assert_eq!(stored.record(version), Ok(3));
        assert_eq!(decodes.get(), 1);
        // Another type is decoded each time; the first stays.
        assert_eq!(stored.record(|_| Ok("x")), Ok("x"));
        assert_eq!(stored.record(version), Ok(3));
        assert_eq!(decodes.get(), 1);
        let corrupt = Stored::new(Arc::new(item(json!({"pk": "b"}))));
        for _ in 0..2 {
            assert!(matches!(
                corrupt.record(version),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert_eq!(decodes.get(), 3);
    }

    #[test]
    fn store_errors_map_to_problems() {
        let p: Problem = StoreError::Unavailable("timeout".into()).into();
        assert_eq!(p.status.as_u16(), 503);
        let p: Problem = StoreError::Corrupt("secret-table-arn".into()).into();
        assert_eq!(p.status.as_u16(), 500);
        assert!(!p.detail.contains("secret"));
    }
}
