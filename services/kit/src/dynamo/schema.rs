//! Creating a table as the services expect it, for local use (`--create-table`, tests).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};

use super::client::store_error;
use crate::IndexSpec;
use crate::store::{PK, StoreError};

/// Creates the table `name` as the services expect it: on-demand, the string partition key
/// `pk`, and the GSIs `indexes` (string keys, all attributes projected). An existing table is
/// fine. Waits until the table is active.
pub async fn create_table(
    client: &Client,
    name: &str,
    indexes: &[IndexSpec],
) -> Result<(), StoreError> {
    let mut keys = vec![PK];
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?);
    for index in indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(index.name)
            .key_schema(key(index.partition_key, KeyType::Hash)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            );
        keys.push(index.partition_key);
        if let Some(sort) = index.sort_key {
            gsi = gsi.key_schema(key(sort, KeyType::Range)?);
            keys.push(sort);
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
    wait_active(client, name).await
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

pub(super) fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("invalid DynamoDB request: {e}"))
}
