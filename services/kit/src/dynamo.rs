//! The DynamoDB adapter of the item-store port: a client with test-friendly limits, table
//! creation from the topology, item conversion, and [`DynamoTable`], which runs conditional
//! writes as condition expressions and transactions as `TransactWriteItems`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TableStatus,
    TransactWriteItem,
};
use serde_json::{Number, Value};

use topology::Region;

use crate::store::{Condition, HealthCheck, Item, ItemTable, PK, Page, StoreError, VERSION, Write};

/// The IAM actions [`DynamoTable`] needs on its table and its indexes: the AWS templates grant
/// exactly these (the list lives in the topology crate, which the deploy reads).
pub use topology::manifest::SERVICE_TABLE_ACTIONS as IAM_ACTIONS;

/// A DynamoDB client for `region` through the standard AWS configuration chain (env,
/// profile, SSO, container or instance role). `endpoint` points it at a DynamoDB-compatible
/// server (moto, DynamoDB Local); then, when no credentials are configured, placeholder
/// ones are used, which such servers accept. Retries and timeouts are capped so a dead
/// endpoint fails a request in seconds, not minutes.
pub async fn client(region: &Region, endpoint: Option<&str>) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        );
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        let configured = [
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !configured {
            loader = loader.credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "local-endpoint",
            ));
        }
    }
    Client::new(&loader.load().await)
}

/// Creates `table` as the services expect it: on-demand, the string partition key `pk`, and
/// the topology's GSIs (string keys, all attributes projected). An existing table is fine.
/// Waits until the table is active.
pub async fn create_table(client: &Client, table: &topology::Table) -> Result<(), StoreError> {
    let mut keys = vec![PK.to_owned()];
    let mut request = client
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?);
    for index in &table.indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.name)
            .key_schema(key(&index.partition_key, KeyType::Hash)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            );
        keys.push(index.partition_key.clone());
        if let Some(sort) = &index.sort_key {
            gsi = gsi.key_schema(key(sort, KeyType::Range)?);
            keys.push(sort.clone());
        }
        request = request.global_secondary_indexes(gsi.build().map_err(build_error)?);
    }
    keys.sort();
    keys.dedup();
    for name in keys {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => {}
        Err(e) => return Err(store_error(e)),
    }
    wait_active(client, &table.name).await
}

async fn wait_active(client: &Client, name: &str) -> Result<(), StoreError> {
    for _ in 0..100 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(store_error)?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(StoreError::Unavailable(format!(
        "table {name} did not become active"
    )))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build_error)
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("invalid DynamoDB request: {e}"))
}

/// Error codes after which the request may succeed later or elsewhere.
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Classifies an SDK error: no answer, a timeout or a transient service error is
/// [`StoreError::Unavailable`]; anything else [`StoreError::Other`].
pub fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    // A service error's context includes the raw HTTP response; its code and message are
    // what an operator needs.
    let text = match (&err, err.code()) {
        (SdkError::ServiceError(_), Some(code)) => {
            format!("{code}: {}", err.message().unwrap_or("(no message)"))
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(text)
        }
        _ if err.code().is_some_and(|c| TRANSIENT.contains(&c)) => StoreError::Unavailable(text),
        _ => StoreError::Other(text),
    }
}

/// A JSON value as a DynamoDB attribute value.
pub fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => AttributeValue::M(to_item(o)),
    }
}

/// An item as a DynamoDB attribute map.
pub fn to_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()
}

/// A DynamoDB attribute value as JSON; sets become arrays, binary is refused.
pub fn from_attr(attr: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match attr {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => Value::Number(number(n)?),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => Value::Object(from_item(m)?),
        AttributeValue::Ss(ss) => Value::Array(ss.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(
            ns.iter()
                .map(|n| number(n).map(Value::Number))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(StoreError::Corrupt(format!(
                "unsupported attribute type: {other:?}"
            )));
        }
    })
}

fn number(n: &str) -> Result<Number, StoreError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(i.into());
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(u.into());
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| StoreError::Corrupt(format!("`{n}` is not a number")))
}

/// A DynamoDB attribute map as an item.
pub fn from_item(map: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), from_attr(v)?)))
        .collect()
}

/// A condition as a DynamoDB condition expression with its placeholders.
#[derive(Debug, Default, PartialEq)]
pub struct Expression {
    pub condition: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<HashMap<String, AttributeValue>>,
}

impl Expression {
    /// The condition expression of `condition` (`None` for [`Condition::Always`]).
    pub fn of(condition: &Condition) -> Self {
        let pk = || Some(HashMap::from([("#pk".to_owned(), PK.to_owned())]));
        match condition {
            Condition::Always => Self::default(),
            Condition::NotExists => Self {
                condition: Some("attribute_not_exists(#pk)".into()),
                names: pk(),
                values: None,
            },
            Condition::Exists => Self {
                condition: Some("attribute_exists(#pk)".into()),
                names: pk(),
                values: None,
            },
            Condition::VersionIs(v) => Self::equals(VERSION, AttributeValue::N(v.to_string())),
            Condition::AttrEquals(name, value) => Self::equals(name, to_attr(value)),
        }
    }

    fn equals(name: &str, value: AttributeValue) -> Self {
        Self {
            condition: Some("#a = :a".into()),
            names: Some(HashMap::from([("#a".to_owned(), name.to_owned())])),
            values: Some(HashMap::from([(":a".to_owned(), value)])),
        }
    }
}

fn pk_key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), AttributeValue::S(pk.to_owned()))])
}

/// One DynamoDB table seen through the item-store port.
#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: topology::Table,
}

impl DynamoTable {
    /// The table described by `table` (its name and GSIs), through `client`.
    pub fn new(client: Client, table: topology::Table) -> Self {
        Self { client, table }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.table.name
    }

    /// The SDK client, for calls the port does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table if it does not exist (see [`create_table`]).
    pub async fn create(&self) -> Result<(), StoreError> {
        create_table(&self.client, &self.table).await
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
        index: &topology::Index,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let Some(item) = ItemTable::get(self, after).await? else {
            return Ok(None);
        };
        let mut key = pk_key(after);
        for attr in std::iter::once(&index.partition_key).chain(index.sort_key.as_ref()) {
            if let Some(v) = item.get(attr) {
                key.insert(attr.clone(), to_attr(v));
            }
        }
        Ok(Some(key))
    }
}

fn conditional_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if err.code() == Some("ConditionalCheckFailedException") {
        StoreError::ConditionFailed { failed: vec![0] }
    } else {
        store_error(err)
    }
}

fn transaction_error<R: std::fmt::Debug>(err: SdkError<TransactWriteItemsError, R>) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
        err.as_service_error()
    {
        let codes: Vec<Option<&str>> = canceled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code())
            .collect();
        let failed: Vec<usize> = codes
            .iter()
            .enumerate()
            .filter(|(_, c)| *c == &Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect();
        if !failed.is_empty() {
            return StoreError::ConditionFailed { failed };
        }
        // Canceled for another reason (a concurrent transaction on the same items,
        // throttling): the request may succeed when retried.
        return StoreError::Unavailable(format!("transaction canceled: {codes:?}"));
    }
    store_error(err)
}

#[async_trait]
impl HealthCheck for DynamoTable {
    async fn check(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(self.name())
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
    async fn get(&self, pk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.name())
            .set_key(Some(pk_key(pk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        out.item().map(from_item).transpose()
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
        let Some(index) = self.table.indexes.iter().find(|i| i.partition_key == attr) else {
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
                .index_name(&index.name)
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

    /// Every DynamoDB operation this file calls is covered by [`IAM_ACTIONS`], and every
    /// granted action is used: a new call without its grant would fail only on AWS.
    #[test]
    fn iam_actions_are_exactly_the_operations_called() {
        let source = include_str!("dynamo.rs");
        let source = &source[..source.find("#[cfg(test)]").unwrap()];
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
    fn items_round_trip() {
        let item = json!({
            "pk": "USER#1", "version": 3, "big": u64::MAX, "neg": -5, "ratio": 0.5,
            "ok": true, "none": null, "tags": ["a", 1], "nested": {"x": "y"}
        });
        let item = item.as_object().unwrap();
        assert_eq!(&from_item(&to_item(item)).unwrap(), item);
    }

    #[test]
    fn conditions_become_expressions() {
        assert_eq!(Expression::of(&Condition::Always), Expression::default());
        let e = Expression::of(&Condition::NotExists);
        assert_eq!(e.condition.as_deref(), Some("attribute_not_exists(#pk)"));
        let e = Expression::of(&Condition::VersionIs(4));
        assert_eq!(e.names.unwrap()["#a"], "version");
        assert_eq!(e.values.unwrap()[":a"], AttributeValue::N("4".into()));
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
