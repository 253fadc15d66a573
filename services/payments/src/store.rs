//! The payments store: the payments and idempotency records in the service's table, over
//! the kit's item-table port (`kit::store::ItemTable`, DynamoDB or memory), as every
//! service's `store` module is.
//!
//! Idempotency is the store's job, not the handler's: a payment write and the record of
//! its idempotency key (`IDEM#<key>`, holding the request's fingerprint and the response)
//! go in ONE transaction, the record under `attribute_not_exists`. Of any number of
//! concurrent requests with one key exactly one transaction commits; every other one fails
//! its condition and reads the record that won, to replay it (same fingerprint) or refuse
//! (another fingerprint). No read-then-write decides anything.
//!
//! Table layout (partition key `pk`, no index), each item's attributes those of its record's
//! serde form:
//! - `PAYMENT#<id>`: the [`Payment`] (`id`, `order_id`, `amount_cents`, `currency`, `status`,
//!   `created_at`) plus `version`, `updated_at` and `region` (the last writer);
//! - `IDEM#<key>`: the key's [`IdempotencyRecord`] (`key`, `fingerprint` (hex SHA-256),
//!   `status`, `body`, `created_at`, `region`) plus `expires_at`, for a DynamoDB TTL.
//!
//! Across Regions, a key is only as unique as replication is fast: the same key sent to
//! both Regions within the replication lag can be applied in each (global tables resolve
//! the record by last writer wins). Clients retry against the Region they last used.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde::Serialize;
use serde_json::json;

use kit::codec;
use kit::headers::IdempotencyKey;
use kit::store::{Condition, Item, ItemTable, StoreError, Write, get_record};

use crate::domain::{IdempotencyRecord, Payment, PaymentId, PaymentStatus};

/// How long an idempotency record is meant to live: the item carries `expires_at` (epoch
/// seconds) for a DynamoDB TTL, when the table enables one. A retry later than this may
/// create a second payment, as with every payment API's keys.
pub const IDEMPOTENCY_WINDOW: TimeDelta = TimeDelta::hours(24);

/// How many times a transaction is tried when the store is briefly unavailable (DynamoDB
/// cancels concurrent transactions on one item with `TransactionConflict`). Retrying is
/// safe precisely because of the idempotency record: a retry of a committed write fails
/// its condition and replays.
const ATTEMPTS: u32 = 4;

/// What an idempotent write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The write and the key's record were committed.
    Written,
    /// Nothing was written: the key was used before; this is what it recorded.
    KeyUsed(IdempotencyRecord),
    /// Nothing was written: the payment is not in the state the write requires.
    StateChanged,
}

/// The payments in a table: how the handlers reach them.
#[derive(Clone)]
pub struct Store {
    table: Arc<dyn ItemTable>,
}

impl Store {
    /// The payments stored in `table`.
    pub fn new(table: Arc<dyn ItemTable>) -> Self {
        Self { table }
    }

    /// The payment with this id, if any (strongly consistent).
    pub async fn get(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
        get_record(&*self.table, &payment_pk(id), payment_from_item).await
    }

    /// What `key` recorded, if it was used.
    pub async fn idempotency_record(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        get_record(&*self.table, &record_pk(key), record_from_item).await
    }

    /// Stores a new payment and the key's record, both or neither.
    pub async fn capture(
        &self,
        payment: &Payment,
        record: &IdempotencyRecord,
    ) -> Result<Applied, StoreError> {
        let put = Write::Put {
            item: payment_to_item(payment)?,
            condition: Condition::NotExists,
        };
        self.idempotent(put, record).await
    }

    /// Replaces a captured payment with `refunded` and stores the key's record, both or
    /// neither; [`Applied::StateChanged`] when the stored payment is not captured.
    pub async fn refund(
        &self,
        refunded: &Payment,
        record: &IdempotencyRecord,
    ) -> Result<Applied, StoreError> {
        // A captured payment is never written except by this transition, so "still
        // captured" also means "still the version the caller read".
        let captured = Condition::AttrEquals("status".into(), json!(PaymentStatus::Captured));
        let put = Write::Put {
            item: payment_to_item(refunded)?,
            condition: captured,
        };
        self.idempotent(put, record).await
    }

    /// Runs `[payment write, record put]` as one transaction, retrying while the store is
    /// briefly unavailable, and classifies a failed condition.
    async fn idempotent(
        &self,
        payment_write: Write,
        record: &IdempotencyRecord,
    ) -> Result<Applied, StoreError> {
        let writes = vec![
            payment_write,
            Write::Put {
                item: record_to_item(record)?,
                condition: Condition::NotExists,
            },
        ];
        let mut attempt = 1;
        let failed = loop {
            match self.table.transact(writes.clone()).await {
                Ok(()) => return Ok(Applied::Written),
                Err(StoreError::ConditionFailed { failed }) => break failed,
                Err(StoreError::Unavailable(why)) if attempt < ATTEMPTS => {
                    tracing::debug!(attempt, error = %why, "idempotent write retried");
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        if !failed.contains(&1) {
            return Ok(Applied::StateChanged);
        }
        match self.idempotency_record(&record.key).await? {
            Some(existing) => Ok(Applied::KeyUsed(existing)),
            // The record vanished between our write and our read (expired): the caller
            // may simply retry.
            None => Err(StoreError::ConditionFailed { failed }),
        }
    }
}

/// The partition key of a payment's item.
pub fn payment_pk(id: &PaymentId) -> String {
    format!("PAYMENT#{id}")
}

/// The partition key of an idempotency key's record.
pub fn record_pk(key: &IdempotencyKey) -> String {
    format!("IDEM#{key}")
}

/// A payment as a stored item.
pub fn payment_to_item(payment: &Payment) -> Result<Item, StoreError> {
    codec::to_item(payment_pk(&payment.id), payment)
}

/// A stored item as a payment; anything that does not parse is [`StoreError::Corrupt`].
pub fn payment_from_item(item: &Item) -> Result<Payment, StoreError> {
    codec::from_item(item)
}

/// An idempotency record's item: the record, and when a TTL may remove it.
#[derive(Serialize)]
struct StoredRecord<'a> {
    #[serde(flatten)]
    record: &'a IdempotencyRecord,
    /// Epoch seconds.
    expires_at: i64,
}

/// An idempotency record as a stored item.
pub fn record_to_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
    let expires_at = (record.created_at + IDEMPOTENCY_WINDOW)
        .as_datetime()
        .timestamp();
    codec::to_item(record_pk(&record.key), &StoredRecord { record, expires_at })
}

/// A stored item as an idempotency record.
pub fn record_from_item(item: &Item) -> Result<IdempotencyRecord, StoreError> {
    codec::from_item(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Fingerprint, MIN_AMOUNT, NewPayment};
    use kit::memory::MemoryTable;
    use kit::money::Money;
    use kit::time::Timestamp;

    fn region() -> topology::Region {
        "us-east-1".parse().unwrap()
    }

    fn payment() -> Payment {
        let new = NewPayment {
            order_id: "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e".parse().unwrap(),
            amount: Money::at_least(MIN_AMOUNT, 4200).unwrap(),
            currency: "EUR".parse().unwrap(),
        };
        Payment::capture(new, Timestamp::now(), region())
    }

    fn record(key: &str, fingerprint: &str, body: &str) -> IdempotencyRecord {
        IdempotencyRecord {
            key: key.parse().unwrap(),
            fingerprint: Fingerprint::of(fingerprint, &[]),
            status: 201,
            body: body.into(),
            created_at: Timestamp::now(),
            region: region(),
        }
    }

    fn store() -> (Store, Arc<MemoryTable>) {
        let table = MemoryTable::new("payments", region());
        (Store::new(table.clone()), table)
    }

    #[test]
    fn items_round_trip() {
        let p = payment();
        let item = payment_to_item(&p).unwrap();
        assert_eq!(item["pk"], format!("PAYMENT#{}", p.id));
        assert_eq!(payment_from_item(&item).unwrap(), p);
        let r = record("k-1", "x", r#"{"id":"1"}"#);
        let item = record_to_item(&r).unwrap();
        assert_eq!(item["pk"], "IDEM#k-1");
        assert!(item["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());
        assert_eq!(record_from_item(&item).unwrap(), r);
    }

    #[test]
    fn corrupt_items_are_reported() {
        let mut item = payment_to_item(&payment()).unwrap();
        item.insert("amount_cents".into(), json!(0));
        assert!(
            matches!(payment_from_item(&item), Err(StoreError::Corrupt(m)) if m.contains("amount"))
        );
        let mut item = record_to_item(&record("k", "x", "{}")).unwrap();
        item.insert("status".into(), json!(70000));
        assert!(matches!(
            record_from_item(&item),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_key_is_used_once() {
        let (store, table) = store();
        let first = payment();
        let r = record("k", "a", "first");
        assert_eq!(store.capture(&first, &r).await.unwrap(), Applied::Written);
        assert_eq!(store.get(&first.id).await.unwrap(), Some(first.clone()));
        // A second payment under the same key writes nothing and sees the first record.
        let second = payment();
        let outcome = store
            .capture(&second, &record("k", "b", "second"))
            .await
            .unwrap();
        assert_eq!(outcome, Applied::KeyUsed(r.clone()));
        assert_eq!(store.get(&second.id).await.unwrap(), None);
        assert_eq!(table.len(), 2, "one payment and one record");
        assert_eq!(store.idempotency_record(&r.key).await.unwrap(), Some(r));
    }

    #[tokio::test]
    async fn refunds_are_conditional_on_captured() {
        let (store, table) = store();
        let p = payment();
        store.capture(&p, &record("pay", "a", "{}")).await.unwrap();
        let refunded = p.refunded(Timestamp::now(), region()).unwrap();
        let r1 = record("refund-1", "r", "{}");
        assert_eq!(
            store.refund(&refunded, &r1).await.unwrap(),
            Applied::Written
        );
        assert_eq!(store.get(&p.id).await.unwrap(), Some(refunded.clone()));
        // A stale refund under a new key: the state changed, and its key stays unused.
        let again = p.refunded(Timestamp::now(), region()).unwrap();
        let r2 = record("refund-2", "r", "{}");
        assert_eq!(
            store.refund(&again, &r2).await.unwrap(),
            Applied::StateChanged
        );
        assert_eq!(store.idempotency_record(&r2.key).await.unwrap(), None);
        // The same key again: the key's record wins over the state.
        assert_eq!(
            store.refund(&again, &r1).await.unwrap(),
            Applied::KeyUsed(r1)
        );
        assert_eq!(table.len(), 3);
    }

    #[tokio::test]
    async fn concurrent_captures_with_one_key_write_once() {
        let (store, table) = store();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.capture(&payment(), &record("same", "a", "{}")).await },
                )
            })
            .collect();
        let mut written = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Applied::Written => written += 1,
                Applied::KeyUsed(r) => assert_eq!(r.key.as_str(), "same"),
                Applied::StateChanged => panic!("a new payment cannot have changed"),
            }
        }
        assert_eq!(written, 1);
        assert_eq!(table.scan("PAYMENT#", 100, None).unwrap().items.len(), 1);
    }

    #[tokio::test]
    async fn an_unavailable_table_fails_after_bounded_retries() {
        use kit::store::HealthCheck;
        let (store, table) = store();
        table.set_available(false);
        let started = std::time::Instant::now();
        let err = store
            .capture(&payment(), &record("k", "a", "{}"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(table.check().await.is_err(), "and `GET /health` says so");
    }
}
