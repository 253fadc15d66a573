//! The orders store: the orders in the service's table, over the kit's item-table port
//! (`kit::store::ItemTable`, DynamoDB or memory), as every service's `store` module is.
//!
//! Table layout (partition key `pk`): `ORDER#<id>` holds the order, its attributes those of
//! [`Order`]'s serde form (`id`, `user_id`, `currency`, `items` (a list of `{sku, quantity,
//! unit_price_cents}`), `status`, `created_at`, and `version`, `updated_at` and `region`, the
//! last writer, like every item) plus `total_cents`, kept for people reading the table. The
//! `by-user` index (partition `user_id`, sort `id`) lists a user's orders; since ids are
//! UUIDv7, its order is creation order.
//!
//! The state rule "only a pending order is cancelled" is a condition on the write,
//! evaluated by the store, so of two concurrent cancellations exactly one succeeds.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use kit::codec;
use kit::store::{Condition, Item, ItemTable, StoreError, get_record};

use crate::domain::{Order, OrderId, OrderStatus, UserId};

/// The attribute the `by-user` index is partitioned on (the service's descriptor names it).
pub const USER_ID: &str = "user_id";

/// One page of a user's orders, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// The last order of this page when more may follow.
    pub next: Option<OrderId>,
}

/// What a conditional cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The cancelled order was written.
    Cancelled,
    /// Nothing was written: the stored order is no longer pending (or is gone).
    NotPending,
}

/// The orders in a table: how the handlers reach them.
#[derive(Clone)]
pub struct Store {
    table: Arc<dyn ItemTable>,
}

impl Store {
    /// The orders stored in `table`.
    pub fn new(table: Arc<dyn ItemTable>) -> Self {
        Self { table }
    }

    /// Stores a new order; its id must be new.
    pub async fn create(&self, order: &Order) -> Result<(), StoreError> {
        self.table.put(to_item(order)?, Condition::NotExists).await
    }

    /// The order with this id, if any (strongly consistent). An item is checked as it is
    /// read back once, not on every read ([`kit::store::Stored`]).
    pub async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        get_record(&*self.table, &pk(id), from_item).await
    }

    /// A user's orders in id (creation) order, at most `limit`, after the order `after`.
    pub async fn list_by_user(
        &self,
        user: &UserId,
        limit: usize,
        after: Option<&OrderId>,
    ) -> Result<OrderPage, StoreError> {
        let after = after.map(pk);
        let page = self
            .table
            .query(USER_ID, &user.to_string(), limit, after.as_deref())
            .await?;
        let orders = page.items.iter().map(from_item).collect::<Result<_, _>>()?;
        let next = page.next.as_deref().map(id_of_pk).transpose()?;
        Ok(OrderPage { orders, next })
    }

    /// Replaces the stored order with `cancelled` only if the stored one is still pending.
    pub async fn cancel(&self, cancelled: &Order) -> Result<CancelOutcome, StoreError> {
        // A pending order is never written except by this transition, so "still pending"
        // also means "still the version the caller read": no update can be lost.
        let pending = Condition::AttrEquals("status".into(), json!(OrderStatus::Pending));
        match self.table.put(to_item(cancelled)?, pending).await {
            Ok(()) => Ok(CancelOutcome::Cancelled),
            Err(StoreError::ConditionFailed { .. }) => Ok(CancelOutcome::NotPending),
            Err(e) => Err(e),
        }
    }
}

/// The partition key of an order's item.
pub fn pk(id: &OrderId) -> String {
    // Without a formatter: every request for an order builds its key.
    [PREFIX, id.encode(&mut [0; kit::id::LEN])].concat()
}

const PREFIX: &str = "ORDER#";

fn id_of_pk(pk: &str) -> Result<OrderId, StoreError> {
    pk.strip_prefix(PREFIX)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("`{pk}` is not an order's key")))
}

/// An order's item: the order's serde form, and its total.
#[derive(Serialize)]
struct Stored<'a> {
    #[serde(flatten)]
    order: &'a Order,
    total_cents: u64,
}

/// An order as a stored item. `id` and `user_id` are the `by-user` index's keys.
pub fn to_item(order: &Order) -> Result<Item, StoreError> {
    let stored = Stored {
        order,
        total_cents: order.total().minor(),
    };
    codec::to_item(pk(&order.id), &stored)
}

/// A stored item as an order; anything that does not parse is [`StoreError::Corrupt`].
pub fn from_item(item: &Item) -> Result<Order, StoreError> {
    codec::from_item(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LineItem, Lines, NewOrder, Quantity};
    use kit::memory::MemoryTable;
    use kit::money::Money;
    use kit::time::Timestamp;

    fn region() -> topology::Region {
        "us-east-1".parse().unwrap()
    }

    fn new_order(user: &str) -> Order {
        let line = LineItem {
            sku: "SKU-1".parse().unwrap(),
            quantity: Quantity::new(3).unwrap(),
            unit_price: Money::from_minor(199).unwrap(),
        };
        let new = NewOrder {
            user_id: user.parse().unwrap(),
            currency: "EUR".parse().unwrap(),
            lines: Lines::new(vec![line]).unwrap(),
        };
        Order::place(new, Timestamp::now(), region())
    }

    const ALICE: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";
    const BOB: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8f";

    fn store() -> (Store, Arc<MemoryTable>) {
        let table = MemoryTable::new("orders", region());
        (Store::new(table.clone()), table)
    }

    #[test]
    fn items_round_trip_with_the_index_keys() {
        let order = new_order(ALICE);
        let item = to_item(&order).unwrap();
        assert_eq!(item["pk"], format!("ORDER#{}", order.id));
        assert_eq!(item["user_id"], ALICE);
        assert_eq!(item["id"], order.id.to_string());
        assert_eq!(item["total_cents"], 597);
        assert_eq!(from_item(&item).unwrap(), order);
    }

    #[test]
    fn corrupt_items_are_reported_not_panicked_on() {
        let mut item = to_item(&new_order(ALICE)).unwrap();
        item.insert("status".into(), json!("shipped"));
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(m)) if m.contains("status")));
        let mut item = to_item(&new_order(ALICE)).unwrap();
        item.insert(
            "items".into(),
            json!([{"sku": "A", "quantity": 0, "unit_price_cents": 1}]),
        );
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
        item.remove("items");
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn create_get_and_no_overwrite() {
        let (store, table) = store();
        let order = new_order(ALICE);
        store.create(&order).await.unwrap();
        assert_eq!(store.get(&order.id).await.unwrap(), Some(order.clone()));
        let again = store.create(&order).await.unwrap_err();
        assert!(matches!(again, StoreError::ConditionFailed { .. }));
        assert_eq!(table.len(), 1);
        assert_eq!(store.get(&OrderId::new()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn cancel_is_conditional_on_pending() {
        let (store, _) = store();
        let order = new_order(ALICE);
        store.create(&order).await.unwrap();
        // Read once, so the pending order is what the stored item has decoded to.
        assert_eq!(store.get(&order.id).await.unwrap(), Some(order.clone()));
        let cancelled = order.cancelled(Timestamp::now(), region()).unwrap();
        assert_eq!(
            store.cancel(&cancelled).await.unwrap(),
            CancelOutcome::Cancelled
        );
        assert_eq!(store.get(&order.id).await.unwrap(), Some(cancelled.clone()));
        // A second writer that read the pending order too must not win.
        let stale = order.cancelled(Timestamp::now(), region()).unwrap();
        assert_eq!(
            store.cancel(&stale).await.unwrap(),
            CancelOutcome::NotPending
        );
        assert_eq!(store.get(&order.id).await.unwrap(), Some(cancelled));
        // An order that does not exist is not created by a cancellation.
        let ghost = new_order(ALICE)
            .cancelled(Timestamp::now(), region())
            .unwrap();
        assert_eq!(
            store.cancel(&ghost).await.unwrap(),
            CancelOutcome::NotPending
        );
        assert_eq!(store.get(&ghost.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn lists_page_through_one_users_orders_in_creation_order() {
        let (store, _) = store();
        let mut alices = Vec::new();
        for i in 0..5 {
            let order = new_order(ALICE);
            store.create(&order).await.unwrap();
            alices.push(order.id);
            if i % 2 == 0 {
                store.create(&new_order(BOB)).await.unwrap();
            }
        }
        let alice: UserId = ALICE.parse().unwrap();
        let first = store.list_by_user(&alice, 2, None).await.unwrap();
        let ids: Vec<_> = first.orders.iter().map(|o| o.id).collect();
        assert_eq!(ids, alices[..2]);
        assert_eq!(first.next, Some(alices[1]));
        let rest = store
            .list_by_user(&alice, 10, first.next.as_ref())
            .await
            .unwrap();
        let ids: Vec<_> = rest.orders.iter().map(|o| o.id).collect();
        assert_eq!(ids, alices[2..]);
        assert_eq!(rest.next, None);
    }

    #[tokio::test]
    async fn an_unavailable_table_is_unavailable() {
        use kit::store::HealthCheck;
        let (store, table) = store();
        table.set_available(false);
        assert!(matches!(
            store.get(&OrderId::new()).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(table.check().await.is_err(), "and `GET /health` says so");
    }
}
