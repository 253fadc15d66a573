//! The DynamoDB adapter of the item-store port: [`DynamoTable`] runs conditional writes as
//! condition expressions and transactions as `TransactWriteItems`. Its parts: the client and
//! error classification ([`client`](mod@client)), item conversion ([`convert`]), condition
//! expressions ([`expression`]) and table creation ([`schema`]).

pub mod client;
pub mod convert;
pub mod expression;
pub mod schema;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use serde_json::Value;

use crate::IndexSpec;
use crate::store::{HealthCheck, Item, ItemTable, PK, Page, StoreError, Write};

pub use client::{client, store_error};
pub use convert::{from_attr, from_item, to_attr, to_item};
pub use expression::Expression;
pub use schema::create_table;

use client::{conditional_error, transaction_error};
use convert::pk_key;
use schema::build_error;

/// The IAM actions [`DynamoTable`] needs on its table and its indexes: the AWS templates grant
/// exactly these (the list lives in the topology crate, which the deploy reads).
pub use topology::manifest::SERVICE_TABLE_ACTIONS as IAM_ACTIONS;

/// One DynamoDB table seen through the item-store port.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    name: String,
    /// The GSIs [`ItemTable::query`] may use.
    indexes: &'static [IndexSpec],
}

impl DynamoTable {
    /// The table `name` with the GSIs `indexes`, through `client`.
    pub fn new(client: Client, name: impl Into<String>, indexes: &'static [IndexSpec]) -> Self {
        Self {
            client,
            name: name.into(),
            indexes,
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SDK client, for calls the port does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table if it does not exist (see [`create_table`]).
    pub async fn create(&self) -> Result<(), StoreError> {
        create_table(&self.client, &self.name, self.indexes).await
    }

    fn transact_item(&self, write: Write) -> Result<TransactWriteItem, StoreError> {
        let expr = Expression::of(write.condition());
        let item = match write {
            Write::Put { item, .. } => TransactWriteItem::builder().put(
                Put::builder()
                    .table_name(self.name())
                    .set_item(Some(to_item(&item)))
                    .set_condition_expression(expr.condition)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .build()
                    .map_err(build_error)?,
            ),
            Write::Delete { pk, .. } => TransactWriteItem::builder().delete(
                Delete::builder()
                    .table_name(self.name())
                    .set_key(Some(pk_key(&pk)))
                    .set_condition_expression(expr.condition)
                    .set_expression_attribute_names(expr.names)
                    .set_expression_attribute_values(expr.values)
                    .build()
                    .map_err(build_error)?,
            ),
            Write::Check { pk, .. } => TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(self.name())
                    .set_key(Some(pk_key(&pk)))
                    // A check needs an expression; `Always` becomes a tautology.
                    .condition_expression(expr.condition.unwrap_or_else(|| {
                        "attribute_exists(#pk) OR attribute_not_exists(#pk)".into()
                    }))
                    .set_expression_attribute_names(
                        expr.names
                            .or_else(|| Some(HashMap::from([("#pk".to_owned(), PK.to_owned())]))),
                    )
                    .set_expression_attribute_values(expr.values)
                    .build()
                    .map_err(build_error)?,
            ),
        };
        Ok(item.build())
    }

    /// A single write as PutItem/DeleteItem: cheaper than a one-item transaction.
    async fn write_one(&self, write: Write) -> Result<(), StoreError> {
        let expr = Expression::of(write.condition());
        match write {
            Write::Put { item, .. } => self
                .client
                .put_item()
                .table_name(self.name())
                .set_item(Some(to_item(&item)))
                .set_condition_expression(expr.condition)
                .set_expression_attribute_names(expr.names)
                .set_expression_attribute_values(expr.values)
                .send()
                .await
                .map(drop)
                .map_err(conditional_error),
            Write::Delete { pk, .. } => self
                .client
                .delete_item()
                .table_name(self.name())
                .set_key(Some(pk_key(&pk)))
                .set_condition_expression(expr.condition)
                .set_expression_attribute_names(expr.names)
                .set_expression_attribute_values(expr.values)
                .send()
                .await
                .map(drop)
                .map_err(conditional_error),
            check @ Write::Check { .. } => self.transact_many(vec![check]).await,
        }
    }

    async fn transact_many(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let items = writes
            .into_iter()
            .map(|w| self.transact_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(transaction_error(err)),
        }
    }

    async fn start_key_for_query(
        &self,
        after: &str,
        index: &IndexSpec,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let Some(item) = ItemTable::get(self, after).await? else {
            return Ok(None);
        };
        let mut key = pk_key(after);
        for attr in std::iter::once(index.partition_key).chain(index.sort_key) {
            if let Some(v) = item.get(attr) {
                key.insert(attr.to_owned(), to_attr(v));
            }
        }
        Ok(Some(key))
    }
}

/// The partition key the health check reads: no record's key starts with `#` (they are
/// `ORDER#<id>` and the like), so the read finds nothing and costs the least a read can.
const HEALTH_PROBE_KEY: &str = "#health";

/// Healthy when the function can read its table: an eventually consistent `GetItem`, the data
/// plane the requests use and an action the service is granted anyway. (`DescribeTable` would
/// need a grant of its own and answers even while the table's data cannot be read, as when
/// its encryption key is inaccessible.)
#[async_trait]
impl HealthCheck for DynamoTable {
    async fn check(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(self.name())
            .set_key(Some(pk_key(HEALTH_PROBE_KEY)))
            .send()
            .await
            .map(drop)
            .map_err(store_error)
    }
}

/// How many pages one scan or query may read before answering with what it has, so a
/// sparse table cannot make one request slow.
const MAX_PAGES: usize = 16;

#[async_trait]
impl ItemTable for DynamoTable {
    async fn get(&self, pk: &str) -> Result<Option<Arc<Item>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.name())
            .set_key(Some(pk_key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(out.item().map(from_item).transpose()?.map(Arc::new))
    }

    async fn transact(&self, mut writes: Vec<Write>) -> Result<(), StoreError> {
        match writes.len() {
            0 => Ok(()),
            1 => self.write_one(writes.remove(0)).await,
            _ => self.transact_many(writes).await,
        }
    }

    /// Scans in DynamoDB's (hash) order, filtering on the `pk` prefix; the cursor is the `pk`
    /// of the last item returned, a valid `ExclusiveStartKey`.
    async fn scan(
        &self,
        prefix: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        let mut items = Vec::new();
        let mut start = after.map(pk_key);
        for _ in 0..MAX_PAGES {
            let want = (limit - items.len()).saturating_mul(2).clamp(1, 1000) as i32;
            let mut request = self
                .client
                .scan()
                .table_name(self.name())
                .consistent_read(true)
                .limit(want)
                .set_exclusive_start_key(start.take());
            if !prefix.is_empty() {
                request = request
                    .filter_expression("begins_with(#pk, :prefix)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()));
            }
            let out = request.send().await.map_err(store_error)?;
            for raw in out.items() {
                items.push(from_item(raw)?);
            }
            start = out.last_evaluated_key().cloned();
            if items.len() >= limit || start.is_none() {
                break;
            }
        }
        Ok(finish_page(items, limit, start.is_some()))
    }

    async fn query(
        &self,
        attr: &str,
        value: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page, StoreError> {
        let Some(index) = self.indexes.iter().find(|i| i.partition_key == attr) else {
            return Err(StoreError::Other(format!(
                "table {} has no index on `{attr}`",
                self.name()
            )));
        };
        let mut start = match after {
            Some(a) => match self.start_key_for_query(a, index).await? {
                Some(key) => Some(key),
                // The cursor's item is gone: nothing sensible follows it.
                None => return Ok(Page::default()),
            },
            None => None,
        };
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .query()
                .table_name(self.name())
                .index_name(index.name)
                .key_condition_expression("#a = :v")
                .expression_attribute_names("#a", attr)
                .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
                .limit((limit - items.len()).saturating_add(1).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            for raw in out.items() {
                items.push(from_item(raw)?);
            }
            start = out.last_evaluated_key().cloned();
            if items.len() > limit || start.is_none() {
                break;
            }
        }
        Ok(finish_page(items, limit, start.is_some()))
    }
}

/// Cuts `items` to `limit`; the cursor is the last kept item's `pk` when more may follow.
fn finish_page(mut items: Vec<Item>, limit: usize, more_in_store: bool) -> Page {
    let more = items.len() > limit || more_in_store;
    items.truncate(limit);
    let next = match items.last() {
        Some(last) if more => last.get(PK).and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    Page { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every DynamoDB operation this adapter calls (table creation aside) is covered by [`IAM_ACTIONS`], and every
    /// granted action is used: a new call without its grant would fail only on AWS.
    #[test]
    fn iam_actions_are_exactly_the_operations_called() {
        let code =
            |source: &'static str| &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        let source = [
            code(include_str!("mod.rs")),
            code(include_str!("client.rs")),
            code(include_str!("convert.rs")),
            code(include_str!("expression.rs")),
        ]
        .concat();
        let called: std::collections::BTreeSet<&str> = [
            "get_item",
            "put_item",
            "update_item",
            "delete_item",
            "query",
            "scan",
            "describe_table",
            "batch_get_item",
            "batch_write_item",
            "transact_get_items",
            "transact_write_items",
            "execute_statement",
        ]
        .into_iter()
        .filter(|op| source.contains(&format!(".{op}()")))
        .collect();
        let needed: std::collections::BTreeSet<&str> = called
            .iter()
            .flat_map(|op| match *op {
                "get_item" => vec!["dynamodb:GetItem"],
                "put_item" => vec!["dynamodb:PutItem"],
                "delete_item" => vec!["dynamodb:DeleteItem"],
                "query" => vec!["dynamodb:Query"],
                "scan" => vec!["dynamodb:Scan"],
                "describe_table" => vec!["dynamodb:DescribeTable"],
                "transact_write_items" => vec![
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:ConditionCheckItem",
                ],
                other => panic!("`{other}` is called but has no IAM mapping here: add one"),
            })
            .collect();
        let granted: std::collections::BTreeSet<&str> = IAM_ACTIONS.iter().copied().collect();
        assert_eq!(needed, granted);
    }

    #[test]
    fn pages_carry_a_cursor_only_when_more_may_follow() {
        let items: Vec<Item> = (0..3)
            .map(|i| json!({"pk": format!("P{i}")}).as_object().unwrap().clone())
            .collect();
        assert_eq!(
            finish_page(items.clone(), 2, false).next.as_deref(),
            Some("P1")
        );
        assert_eq!(finish_page(items.clone(), 3, false).next, None);
        assert_eq!(finish_page(items, 3, true).next.as_deref(), Some("P2"));
    }
}
