//! The control API over real HTTP: its OpenAPI document against the routes it serves, and its
//! door (a request addressed to another host, or a change from another site, is refused and
//! changes nothing). Each test runs its own world on loopback networks of its own (`127.0.81`
//! to `127.0.86`), every listener on a port the system picks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::common;

use local_arc::Fault;
use local_world::World;
use reqwest::header::{CONTENT_TYPE, HOST, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use topology::Topology;

async fn world(network: u8) -> (Arc<World>, String) {
    let text = common::on_networks(&common::topology_text(), network);
    let world = tokio::time::timeout(
        Duration::from_secs(10),
        World::start(Topology::parse(&text).unwrap()),
    )
    .await
    .expect("the world starts within 10 s")
    .unwrap();
    let world = Arc::new(world);
    local_world::control::serve(world.clone()).expect("the control API's listener");
    let base = world.manifest().control_api.clone().unwrap();
    (world, base)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A path template with every parameter written `{}`: `/faults/arc/{}`.
fn template(path: &str) -> String {
    let mut out = String::new();
    let mut in_parameter = false;
    for c in path.chars() {
        match c {
            '{' => in_parameter = true,
            '}' if in_parameter => {
                in_parameter = false;
                out.push_str("{}");
            }
            _ if in_parameter => {}
            _ => out.push(c),
        }
    }
    out
}

/// Every path the page's HTML and script ask for: `href`/`src`, `fetch`, `EventSource` and
/// the `url:` of its actions, with `${...}` parts as parameters.
fn paths_the_page_uses(html: &str, script: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for text in [html, script] {
        for quote in ['\'', '"', '`'] {
            for (i, _) in text.match_indices(quote) {
                let rest = &text[i + 1..];
                let Some(end) = rest.find(quote) else {
                    continue;
                };
                let literal = &rest[..end];
                let before = text[..i].trim_end();
                let asked = ["url:", "fetch(", "EventSource(", "href=", "src="]
                    .iter()
                    .any(|call| before.ends_with(call));
                if asked && literal.starts_with('/') {
                    paths.insert(template(&literal.replace("${", "{")));
                }
            }
        }
    }
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route_it_serves_and_each_answers_as_documented() {
    let (world, base) = world(81).await;
    let http = http();
    let document: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    let documented: BTreeSet<String> = paths.keys().map(|p| template(p)).collect();

    // Every route the dashboard's page uses is in the document.
    let page = |path: &str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let used = paths_the_page_uses(&page("/").await, &page("/assets/app.js").await);
    assert!(used.len() >= 9, "{used:?}");
    let undocumented: Vec<&String> = used.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "the page uses routes the document leaves out: {undocumented:?}"
    );
    for expected in ["/events", "/actions/shift", "/state", "/openapi.json"] {
        assert!(documented.contains(expected), "{expected}: {documented:?}");
    }

    // Every documented operation is served, and answers with a status it documents.
    let app = common::first();
    for (path, operations) in paths {
        let url = format!(
            "{base}{}",
            path.replace("{app}", app.as_str())
                .replace("{region}", "us-east-1")
                .replace("{index}", "0")
        );
        for (method, operation) in operations.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let mut request = http.request(method.clone(), &url);
            if method != Method::GET {
                // Well-formed JSON that is no valid request: each handler refuses it itself.
                request = request.json(&json!({}));
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16().to_string();
            let documented_statuses: Vec<&String> =
                operation["responses"].as_object().unwrap().keys().collect();
            assert!(
                documented_statuses.contains(&&status),
                "{method} {path} answered {status}, documented: {documented_statuses:?}"
            );
            // The door's refusals too: 421 everywhere, 403 where a request changes something.
            let refusals = if method == Method::GET {
                ["421"].as_slice()
            } else {
                ["421", "403"].as_slice()
            };
            for refusal in refusals {
                assert!(
                    documented_statuses.iter().any(|s| s == refusal),
                    "{method} {path}: {refusal} undocumented"
                );
            }
        }
    }
    assert_eq!(
        world.cluster().unwrap().faults()[0],
        Fault::None,
        "the empty bodies changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_on_a_read_and_on_an_action() {
    let (world, base) = world(83).await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let http = http();
    let foreign = format!("evil.example:{port}");
    let read = http
        .get(format!("{base}/state"))
        .header(HOST, &foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(
        read.headers()[CONTENT_TYPE],
        "application/problem+json",
        "a problem, not the state"
    );
    let problem: Value = read.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains(&foreign),
        "{problem}"
    );

    let app = common::first();
    let secondary = world.topology().regions.secondary.clone();
    let action = http
        .post(format!("{base}/actions/shift"))
        .header(HOST, &foreign)
        .json(&json!({"app": app, "to": secondary}))
        .send()
        .await
        .unwrap();
    assert_eq!(action.status(), StatusCode::MISDIRECTED_REQUEST);
    let fault = http
        .post(format!("{base}/faults/arc/0"))
        .header(HOST, &foreign)
        .json(&json!({"fault": "down"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fault.status(), StatusCode::MISDIRECTED_REQUEST);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = world.state().await;
    let entry = state.apps.iter().find(|a| a.app == app).unwrap();
    let on: Vec<_> = entry.routing_controls.iter().map(|c| c.on).collect();
    assert_eq!(on, [Some(true), Some(false)], "nothing shifted");
    assert_eq!(
        world.cluster().unwrap().faults()[0],
        Fault::None,
        "nothing broken"
    );

    // Its own names pass: the address it listens on, and localhost on its port.
    for host in [
        base.trim_start_matches("http://").to_owned(),
        format!("localhost:{port}"),
    ] {
        let response = http
            .get(format!("{base}/state"))
            .header(HOST, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_from_another_site_is_refused_and_from_its_own_page_made() {
    let (world, base) = world(85).await;
    let http = http();
    let post = |origin: &str| {
        http.post(format!("{base}/faults/arc/1"))
            .header(ORIGIN, origin)
            .json(&json!({"fault": "slow", "delay_ms": 100}))
            .send()
    };
    let refused = post("http://evil.example").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/cross-origin-request"),
        "{problem}"
    );
    assert_eq!(
        world.cluster().unwrap().faults()[1],
        Fault::None,
        "nothing changed"
    );

    let made = post(&base).await.unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    assert_eq!(
        world.cluster().unwrap().faults()[1],
        Fault::Slow(Duration::from_millis(100))
    );
}
