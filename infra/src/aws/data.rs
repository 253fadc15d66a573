//! The data stack, in the primary Region: one DynamoDB global table per service, with a
//! replica in each Region (on demand, the service's GSIs, streams, PITR, encryption).
//!
//! Table names carry the stack prefix (`multi-region-api-orders`): `TableName` is create-only
//! and unique per account and Region, so a second environment in the same account needs its
//! own names. Being deterministic, the name is also what the app stacks of either Region are
//! given, without reading the data stack (which lives in the primary Region).

use serde_json::{Value, json};
use topology::{AppName, Table, Topology};

use super::names::StackPrefix;
use super::template::{Template, pascal, reference};

/// The DynamoDB table name of a service under `prefix`: `<prefix>-<table>`.
pub fn table_name(prefix: &StackPrefix, table: &Table) -> String {
    format!("{prefix}-{}", table.name)
}

/// Output key of a service's table name.
pub fn output_table_name(app: &AppName) -> String {
    format!("{}TableName", pascal(app.as_str()))
}

/// The partition key every service table uses (see `topology::Table`).
const PARTITION_KEY: &str = "pk";

/// The data template.
pub fn template(topology: &Topology, prefix: &StackPrefix) -> Template {
    let protect = topology.aws.protect_data;
    let mut t = Template::new(
        "Data: one DynamoDB global table per service, replicated between the two Regions",
    );
    for app in topology.services() {
        let table = app.table();
        let id = format!("{}Table", pascal(app.name().as_str()));
        let replicas: Vec<Value> = topology
            .regions
            .both()
            .into_iter()
            .map(|region| {
                json!({
                    "Region": region.as_str(),
                    "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
                    "DeletionProtectionEnabled": protect,
                    "Tags": [ { "Key": "app", "Value": app.name().as_str() } ],
                })
            })
            .collect();
        let mut properties = json!({
            "TableName": table_name(prefix, table),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": attribute_definitions(table),
            "KeySchema": [ { "AttributeName": PARTITION_KEY, "KeyType": "HASH" } ],
            // Global tables replicate through streams; the images also serve consumers.
            "StreamSpecification": { "StreamViewType": "NEW_AND_OLD_IMAGES" },
            "SSESpecification": { "SSEEnabled": true, "SSEType": "KMS" },
            "Replicas": replicas,
        });
        if !table.indexes.is_empty() {
            properties["GlobalSecondaryIndexes"] = indexes(table);
        }
        let resource = t.resource(&id, "AWS::DynamoDB::GlobalTable", properties);
        // Data outlives a destroy unless the topology opts out (`aws.protect_data = false`):
        // a retained table keeps its deletion protection, so deleting it is a deliberate act.
        let policy = if protect { "Retain" } else { "Delete" };
        resource.insert("DeletionPolicy".into(), policy.into());
        resource.insert("UpdateReplacePolicy".into(), policy.into());
        t.output(
            &output_table_name(app.name()),
            &format!("The {} table", app.name()),
            reference(&id),
        );
    }
    t
}

fn attribute_definitions(table: &Table) -> Value {
    let mut names = vec![PARTITION_KEY.to_owned()];
    for index in &table.indexes {
        names.push(index.partition_key.clone());
        names.extend(index.sort_key.clone());
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| json!({ "AttributeName": name, "AttributeType": "S" }))
        .collect()
}

fn indexes(table: &Table) -> Value {
    table
        .indexes
        .iter()
        .map(|index| {
            let mut keys = vec![json!({ "AttributeName": index.partition_key, "KeyType": "HASH" })];
            if let Some(sort) = &index.sort_key {
                keys.push(json!({ "AttributeName": sort, "KeyType": "RANGE" }));
            }
            json!({
                "IndexName": index.name,
                "KeySchema": keys,
                "Projection": { "ProjectionType": "ALL" },
            })
        })
        .collect()
}
