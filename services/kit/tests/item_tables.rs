//! The item-store port's contract, checked on both adapters: the in-memory table and
//! DynamoDB (moto). The services rely on these semantics being the same.

use std::sync::Arc;

use kit::IndexSpec;
use kit::dynamo::DynamoTable;
use kit::memory::MemoryTable;
use kit::store::{Condition, HealthCheck, Item, ItemTable, StoreError, Write};
use serde_json::{Value, json};
use topology::Region;

fn region() -> Region {
    "us-east-1".parse().unwrap()
}

fn item(v: Value) -> Item {
    v.as_object().unwrap().clone()
}

async fn memory() -> Arc<dyn ItemTable> {
    MemoryTable::new("t", region())
}

async fn dynamodb() -> Arc<dyn ItemTable> {
    let endpoint = tokio::task::spawn_blocking(testkit::moto).await.unwrap();
    let client = kit::dynamo::client(&region(), Some(endpoint)).await;
    const BY_USER: &[IndexSpec] = &[IndexSpec {
        name: "by-user",
        partition_key: "user_id",
        sort_key: Some("id"),
    }];
    let table = DynamoTable::new(client, testkit::unique_name("kit"), BY_USER);
    table.create().await.unwrap();
    table
        .create()
        .await
        .expect("creating an existing table is fine");
    Arc::new(table)
}

macro_rules! on_both_tables {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::memory().await).await; })*
        }
        mod dynamodb {
            $(#[tokio::test] async fn $name() { super::$name(super::dynamodb().await).await; })*
        }
    };
}

on_both_tables!(
    conditional_puts,
    transactions_are_all_or_nothing,
    deletes_and_checks,
    scans_page_through_a_prefix,
    queries_use_the_index,
    health_checks_pass,
);

async fn conditional_puts(t: Arc<dyn ItemTable>) {
    let v1 = item(json!({"pk": "A", "version": 1, "status": "pending", "n": -3, "tags": ["x"]}));
    t.put(v1.clone(), Condition::NotExists).await.unwrap();
    assert_eq!(t.get("A").await.unwrap().as_deref(), Some(&v1));
    let failed = t.put(v1.clone(), Condition::NotExists).await.unwrap_err();
    assert_eq!(failed, StoreError::ConditionFailed { failed: vec![0] });
    let v2 = item(json!({"pk": "A", "version": 2, "status": "cancelled"}));
    assert!(t.put(v2.clone(), Condition::VersionIs(2)).await.is_err());
    let wrong_status = Condition::AttrEquals("status".into(), json!("captured"));
    assert!(t.put(v2.clone(), wrong_status).await.is_err());
    t.put(v2.clone(), Condition::VersionIs(1)).await.unwrap();
    assert_eq!(t.get("A").await.unwrap().as_deref(), Some(&v2));
    assert_eq!(t.get("missing").await.unwrap(), None);
}

async fn transactions_are_all_or_nothing(t: Arc<dyn ItemTable>) {
    t.put(item(json!({"pk": "EMAIL#a"})), Condition::NotExists)
        .await
        .unwrap();
    let err = t
        .transact(vec![
            Write::Put {
                item: item(json!({"pk": "USER#1"})),
                condition: Condition::NotExists,
            },
            Write::Put {
                item: item(json!({"pk": "EMAIL#a"})),
                condition: Condition::NotExists,
            },
        ])
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::ConditionFailed { failed: vec![1] });
    assert_eq!(
        t.get("USER#1").await.unwrap(),
        None,
        "nothing of a failed transaction is written"
    );
    t.transact(vec![
        Write::Put {
            item: item(json!({"pk": "USER#1"})),
            condition: Condition::NotExists,
        },
        Write::Put {
            item: item(json!({"pk": "EMAIL#b"})),
            condition: Condition::NotExists,
        },
    ])
    .await
    .unwrap();
    assert!(t.get("EMAIL#b").await.unwrap().is_some());
}

async fn deletes_and_checks(t: Arc<dyn ItemTable>) {
    t.put(item(json!({"pk": "A", "owner": "u1"})), Condition::Always)
        .await
        .unwrap();
    let owned_by = |u: &str| Condition::AttrEquals("owner".into(), json!(u));
    let delete = |c| {
        vec![Write::Delete {
            pk: "A".into(),
            condition: c,
        }]
    };
    assert!(t.transact(delete(owned_by("u2"))).await.is_err());
    let check_fails = t
        .transact(vec![
            Write::Check {
                pk: "B".into(),
                condition: Condition::Exists,
            },
            Write::Delete {
                pk: "A".into(),
                condition: Condition::Always,
            },
        ])
        .await
        .unwrap_err();
    assert_eq!(check_fails, StoreError::ConditionFailed { failed: vec![0] });
    assert!(t.get("A").await.unwrap().is_some());
    t.transact(vec![
        Write::Check {
            pk: "B".into(),
            condition: Condition::NotExists,
        },
        Write::Delete {
            pk: "A".into(),
            condition: owned_by("u1"),
        },
    ])
    .await
    .unwrap();
    assert_eq!(t.get("A").await.unwrap(), None);
}

async fn scans_page_through_a_prefix(t: Arc<dyn ItemTable>) {
    for i in 0..7 {
        t.put(item(json!({"pk": format!("USER#{i}")})), Condition::Always)
            .await
            .unwrap();
        t.put(item(json!({"pk": format!("EMAIL#{i}")})), Condition::Always)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let page = t.scan("USER#", 3, after.as_deref()).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(
            page.items
                .iter()
                .map(|i| i["pk"].as_str().unwrap().to_owned()),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    seen.sort();
    let expected: Vec<String> = (0..7).map(|i| format!("USER#{i}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(t.scan("", 100, None).await.unwrap().items.len(), 14);
}

async fn queries_use_the_index(t: Arc<dyn ItemTable>) {
    for i in 0..5 {
        let user = if i % 2 == 0 { "u1" } else { "u2" };
        let order =
            item(json!({"pk": format!("ORDER#{i}"), "id": format!("{i}"), "user_id": user}));
        t.put(order, Condition::Always).await.unwrap();
    }
    let first = t.query("user_id", "u1", 2, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let next = first.next.clone().expect("a third order follows");
    let rest = t.query("user_id", "u1", 2, Some(&next)).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next, None);
    let mut ids: Vec<&str> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["0", "2", "4"]);
    assert!(
        t.query("user_id", "nobody", 5, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn health_checks_pass(t: Arc<dyn ItemTable>) {
    t.check().await.unwrap();
}

#[tokio::test]
async fn a_dead_endpoint_is_unavailable_quickly() {
    // A loopback port nobody listens on: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = kit::dynamo::client(&region(), Some(&format!("http://127.0.0.1:{port}"))).await;
    let table = DynamoTable::new(client, "t", &[]);
    let started = std::time::Instant::now();
    let err = table.get("A").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(matches!(
        table.check().await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_missing_table_fails_health_with_a_short_reason() {
    let endpoint = tokio::task::spawn_blocking(testkit::moto).await.unwrap();
    let client = kit::dynamo::client(&region(), Some(endpoint)).await;
    let table = DynamoTable::new(client, testkit::unique_name("absent"), &[]);
    let err = table.check().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ResourceNotFoundException"), "{text}");
    assert!(text.len() < 300, "no raw response dump: {text}");
}
