//! The users API over real HTTP, once on the memory store and once on DynamoDB (moto): every
//! test body below runs against both.

use crate::common::{TestApp, UsersApp, assert_problem, fields};
use reqwest::Method;
use serde_json::{Value, json};

testkit::on_both_stores!(
    users::SERVICE;
    create_read_update_delete, lists_page_with_a_cursor, malformed_json_is_400,
    wrong_content_type_is_415, bodies_over_64_kib_are_413, invalid_fields_are_422_naming_each,
    shape_errors_are_422_naming_the_field, unknown_ids_are_404, duplicate_emails_are_409,
    concurrent_creates_with_one_email_make_one_user, stale_if_match_is_412,
    concurrent_patches_at_one_version_make_one_change, if_match_is_required_to_patch,
    patch_to_a_taken_email_is_409, list_parameters_are_checked, health_and_identity,
);

/// The descriptor's router is the service: `GET /` names it as the descriptor does.
#[tokio::test]
async fn the_descriptor_serves_its_name() {
    testkit::assert_serves_its_name(&users::SERVICE).await;
}

async fn create_read_update_delete(app: TestApp) {
    let response = app
        .post_json(
            "/users",
            &json!({"email": "Ada@Example.com", "name": " Ada "}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(response.headers()["x-region"], "us-east-1");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["email"], "ada@example.com");
    assert_eq!(created["name"], "Ada");
    assert_eq!(created["version"], 1);
    assert_eq!(created["region"], "us-east-1");
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/users/{id}"));

    let read = app.get(&location).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], "\"1\"");
    assert_eq!(read.json::<Value>().await.unwrap(), created);

    let patched = app
        .patch(&location, &json!({"name": "Ada Lovelace"}), Some("\"1\""))
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.headers()["etag"], "\"2\"");
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (patched["name"].as_str(), patched["version"].as_u64()),
        (Some("Ada Lovelace"), Some(2))
    );
    assert_eq!(patched["email"], "ada@example.com");
    assert_eq!(patched["created_at"], created["created_at"]);

    let moved = app
        .patch(
            &location,
            &json!({"email": "lovelace@example.com"}),
            Some("2"),
        )
        .await;
    assert_eq!(moved.status(), 200);
    // The old email is free: another user may take it.
    app.create_user("ada@example.com", "Another Ada").await;

    assert_eq!(app.delete(&location, Some("\"3\"")).await.status(), 204);
    assert_problem(app.get(&location).await, 404, "not-found").await;
    // Deleting freed the email too; only the other Ada (user + email item) is left.
    app.create_user("lovelace@example.com", "Ada again").await;
    assert_eq!(app.item_count().await, 4);
}

async fn lists_page_with_a_cursor(app: TestApp) {
    let mut created = Vec::new();
    for i in 0..5 {
        let user = app
            .create_user(&format!("user{i}@example.com"), "User")
            .await;
        created.push(user["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(c) => format!("/users?limit=2&cursor={c}"),
            None => "/users?limit=2".to_owned(),
        };
        let page: Value = app.get(&query).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen.sort();
    created.sort();
    assert_eq!(seen, created, "every user exactly once");
}

async fn malformed_json_is_400(app: TestApp) {
    for body in [
        r#"{"x":"#,
        r#"{"email": "a@example.com", "name": "#,
        "not json",
        r#"{"email": "a@example.com", "name": "A"} x"#,
    ] {
        let response = app
            .send_if_match(
                Method::POST,
                "/users",
                "application/json",
                body.into(),
                None,
            )
            .await;
        assert_problem(response, 400, "bad-request").await;
    }
    assert_eq!(app.item_count().await, 0, "nothing was written");
}

async fn wrong_content_type_is_415(app: TestApp) {
    let body = json!({"email": "a@example.com", "name": "A"}).to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let response = app
            .send_if_match(Method::POST, "/users", ct, body.clone(), None)
            .await;
        assert_problem(response, 415, "unsupported-media-type").await;
    }
    let user = app.create_user("b@example.com", "B").await;
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    let response = app
        .send_if_match(
            Method::PATCH,
            &path,
            "text/plain",
            r#"{"name":"C"}"#.into(),
            Some("1"),
        )
        .await;
    assert_problem(response, 415, "unsupported-media-type").await;
    assert_eq!(
        app.item_count().await,
        2,
        "only the user created for the PATCH"
    );
}

async fn bodies_over_64_kib_are_413(app: TestApp) {
    let name = "a".repeat(65 * 1024);
    let body = json!({"email": "a@example.com", "name": name}).to_string();
    let response = app
        .send_if_match(Method::POST, "/users", "application/json", body, None)
        .await;
    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(app.item_count().await, 0);
}

async fn invalid_fields_are_422_naming_each(app: TestApp) {
    let response = app
        .post_json("/users", &json!({"email": "not-an-email", "name": "   "}))
        .await;
    let problem = assert_problem(response, 422, "validation").await;
    assert_eq!(fields(&problem), ["email", "name"]);
    let response = app
        .post_json(
            "/users",
            &json!({"email": "a@example.com", "name": "x".repeat(101)}),
        )
        .await;
    assert_eq!(
        fields(&assert_problem(response, 422, "validation").await),
        ["name"]
    );
    assert_eq!(app.item_count().await, 0);

    let user = app.create_user("a@example.com", "A").await;
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    let response = app.patch(&path, &json!({"email": "nope"}), Some("1")).await;
    assert_eq!(
        fields(&assert_problem(response, 422, "validation").await),
        ["email"]
    );
    let response = app.patch(&path, &json!({}), Some("1")).await;
    assert_eq!(
        fields(&assert_problem(response, 422, "validation").await),
        ["$"]
    );
    let unchanged: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(unchanged, user);
}

async fn shape_errors_are_422_naming_the_field(app: TestApp) {
    let cases = [
        (json!({"name": "A"}), "email"),
        (json!({"email": 42, "name": "A"}), "email"),
        (
            json!({"email": "a@example.com", "name": "A", "admin": true}),
            "admin",
        ),
        (json!(["a@example.com", "A"]), "$"),
        (json!("a@example.com"), "$"),
    ];
    for (body, field) in cases {
        let response = app.post_json("/users", &body).await;
        let problem = assert_problem(response, 422, "validation").await;
        assert_eq!(fields(&problem), [field], "{body}");
    }
    assert_eq!(app.item_count().await, 0);
}

async fn unknown_ids_are_404(app: TestApp) {
    let unknown = uuid::Uuid::now_v7();
    for path in [format!("/users/{unknown}"), "/users/not-a-uuid".to_owned()] {
        assert_problem(app.get(&path).await, 404, "not-found").await;
        assert_problem(
            app.patch(&path, &json!({"name": "B"}), Some("1")).await,
            404,
            "not-found",
        )
        .await;
        assert_problem(app.delete(&path, None).await, 404, "not-found").await;
    }
    assert_problem(app.get("/nowhere").await, 404, "not-found").await;
    assert_eq!(app.item_count().await, 0);
}

async fn duplicate_emails_are_409(app: TestApp) {
    app.create_user("ada@example.com", "Ada").await;
    let response = app
        .post_json(
            "/users",
            &json!({"email": "ADA@example.com", "name": "Imposter"}),
        )
        .await;
    assert_problem(response, 409, "duplicate-email").await;
    assert_eq!(app.item_count().await, 2, "one user and its email item");
}

async fn concurrent_creates_with_one_email_make_one_user(app: TestApp) {
    let requests = (0..10).map(|i| {
        let app = &app;
        async move {
            app.post_json(
                "/users",
                &json!({"email": "race@example.com", "name": format!("Racer {i}")}),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let mut statuses = futures::future::join_all(requests).await;
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(app.item_count().await, 2);
}

async fn stale_if_match_is_412(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    assert_eq!(
        app.patch(&path, &json!({"name": "Ada 2"}), Some("\"1\""))
            .await
            .status(),
        200
    );
    // A second writer who read version 1 loses, and the first write stands.
    let response = app
        .patch(&path, &json!({"name": "Stale"}), Some("\"1\""))
        .await;
    assert_problem(response, 412, "precondition-failed").await;
    assert_problem(
        app.delete(&path, Some("1")).await,
        412,
        "precondition-failed",
    )
    .await;
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(
        (current["name"].as_str(), current["version"].as_u64()),
        (Some("Ada 2"), Some(2))
    );
}

async fn concurrent_patches_at_one_version_make_one_change(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    let requests = (0..8).map(|i| {
        let (app, path) = (&app, &path);
        async move {
            let response = app
                .patch(path, &json!({"name": format!("Writer {i}")}), Some("1"))
                .await;
            response.status().as_u16()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    // The losers read version 1 and lost the conditional write (409), or read version 2 (412).
    assert!(
        statuses.iter().all(|s| [200, 409, 412].contains(s)),
        "{statuses:?}"
    );
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current["version"], 2);
}

async fn if_match_is_required_to_patch(app: TestApp) {
    let user = app.create_user("ada@example.com", "Ada").await;
    let path = format!("/users/{}", user["id"].as_str().unwrap());
    assert_problem(
        app.patch(&path, &json!({"name": "B"}), None).await,
        428,
        "precondition-required",
    )
    .await;
    for bad in ["*", "abc", "0"] {
        assert_problem(
            app.patch(&path, &json!({"name": "B"}), Some(bad)).await,
            400,
            "bad-request",
        )
        .await;
    }
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current, user, "nothing changed");
}

async fn patch_to_a_taken_email_is_409(app: TestApp) {
    app.create_user("ada@example.com", "Ada").await;
    let bob = app.create_user("bob@example.com", "Bob").await;
    let path = format!("/users/{}", bob["id"].as_str().unwrap());
    let response = app
        .patch(&path, &json!({"email": "ADA@example.com"}), Some("1"))
        .await;
    assert_problem(response, 409, "duplicate-email").await;
    let current: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(current, bob);
    // Bob's own email is still his: nobody else can take it.
    let response = app
        .post_json("/users", &json!({"email": "bob@example.com", "name": "X"}))
        .await;
    assert_problem(response, 409, "duplicate-email").await;
    assert_eq!(app.item_count().await, 4);
}

async fn list_parameters_are_checked(app: TestApp) {
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=nope", "cursor"),
    ] {
        let problem = assert_problem(
            app.get(&format!("/users?{query}")).await,
            400,
            "bad-request",
        )
        .await;
        assert_eq!(fields(&problem), [field], "{query}");
    }
    assert_problem(app.get("/users?limit=many").await, 400, "bad-request").await;
    let empty: Value = app.get("/users").await.json().await.unwrap();
    assert_eq!(empty, json!({"items": []}));
}

/// The store switched off: requests fail as 503 problems, and health says so.
#[tokio::test]
async fn an_unavailable_store_is_503() {
    let app = testkit::spawn_switched_off(&users::SERVICE).await;
    let created = app
        .post_json("/users", &json!({"email": "a@example.com", "name": "A"}))
        .await;
    assert_problem(created, 503, "unavailable").await;
    assert_eq!(app.get("/health").await.status(), 503);
}

async fn health_and_identity(app: TestApp) {
    testkit::assert_shared_surface(
        &app,
        &users::SERVICE,
        &[
            ("/users", "post"),
            ("/users", "get"),
            ("/users/{id}", "get"),
            ("/users/{id}", "patch"),
            ("/users/{id}", "delete"),
        ],
    )
    .await;
}
