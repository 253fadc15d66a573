//! Gateway-only access in the local world: with `aws.gateway_only` (the default) a service
//! answers data calls only over TLS with a client certificate of the world's CA, which the
//! `api` gateway presents (and trusted internal callers, with the manifest's); a handshake
//! without one, or with another CA's, fails, and plain HTTP gets only the probes `/` and
//! `/health`. The worlds run on
//! loopback networks of their own (`127.0.71`, `127.0.72`), one at a time, on ports the system
//! picks.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common;

use local_world::World;
use reqwest::StatusCode;
use topology::Topology;
use topology::manifest::TrustedClient;

/// The fixture topology on `127.0.<network>` and the next network, every listener on a free
/// port, with `aws` settings inserted before `[local]` (empty: the defaults), and no token
/// needed at the gateway (the auth suite covers tokens).
fn topology(network: u8, aws: &str) -> Topology {
    let text = common::on_networks(&common::topology_text(), network)
        .replace("[auth]\n", "[auth]\nenabled = false\n")
        .replace(
            "[local]
",
            &format!(
                "[aws]
{aws}
[local]
"
            ),
        );
    Topology::parse(&text).unwrap()
}

async fn world_on(topology: Topology) -> World {
    tokio::time::timeout(Duration::from_secs(10), World::start(topology))
        .await
        .expect("the world starts within 10 s")
        .unwrap()
}

/// The address of `app`'s instance in the primary Region.
fn primary_addr(world: &World, app: &topology::AppName) -> SocketAddr {
    let primary = &world.topology().regions.primary;
    world.instance(app, primary).unwrap().addr
}

/// A read of an id no one created: the service's own answer is 404.
fn unknown_item_path() -> String {
    format!("/{}/{}", common::first(), uuid::Uuid::now_v7().hyphenated())
}

async fn get(
    addr: SocketAddr,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
    send(reqwest::Client::builder(), &format!("http://{addr}{path}"))
        .await
        .unwrap()
}

/// `GET url` with a client from `builder`; `Err` when no HTTP exchange happened (a refused
/// TLS handshake).
async fn send(
    builder: reqwest::ClientBuilder,
    url: &str,
) -> Result<(StatusCode, reqwest::header::HeaderMap, serde_json::Value), reqwest::Error> {
    let client = builder.timeout(Duration::from_secs(5)).build().unwrap();
    let response = client.get(url).send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or_default();
    Ok((status, headers, body))
}

/// A client that trusts `ca` (PEM) and presents no certificate.
fn without_certificate(ca: &str) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(ca.as_bytes()).unwrap();
    reqwest::Client::builder().tls_certs_only([ca])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_answer_data_calls_only_through_the_gateway_unless_turned_off() {
    let world = world_on(topology(71, "")).await;
    let service = primary_addr(&world, &common::first());
    let gateway = primary_addr(&world, &common::gateway());
    let path = unknown_item_path();

    let (status, headers, body) = get(service, &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        body["type"].as_str().unwrap().ends_with("gateway-only"),
        "{body}"
    );
    // Over TLS the handshake itself refuses a caller without a certificate of the world's CA,
    // as a mutual TLS custom domain does: no certificate, or one of another CA.
    let trusted = world
        .manifest()
        .trusted_client
        .clone()
        .expect("a trusted client");
    let tls_url = format!("https://{service}{path}");
    let refused = send(without_certificate(&trusted.ca_pem), &tls_url).await;
    assert!(refused.is_err(), "no certificate: {refused:?}");
    let stranger = local_world::pki::WorldPki::generate(vec!["stranger".into()], &[])
        .unwrap()
        .trusted_client();
    let forged = TrustedClient {
        ca_pem: trusted.ca_pem.clone(),
        ..stranger
    };
    let forged = local_world::pki::trusted_http_client(&forged).unwrap();
    let refused = send(forged, &tls_url).await;
    assert!(refused.is_err(), "another CA's certificate: {refused:?}");

    // Refused before the service's handler runs: a write with a body its extractors would
    // answer 415 (wrong content type) gets the gateway-only 403, as AWS refuses the handshake
    // before the function is invoked. Through the gateway the same call reaches the handler.
    let collection = format!("/{}", common::first());
    let post = |addr: SocketAddr| {
        reqwest::Client::new()
            .post(format!("http://{addr}{collection}"))
            .header("content-type", "text/plain")
            .body("not json")
            .send()
    };
    let direct = post(service).await.unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = direct.json().await.unwrap();
    assert!(
        body["type"].as_str().unwrap().ends_with("gateway-only"),
        "{body}"
    );
    let through = post(gateway).await.unwrap();
    assert_eq!(through.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The probes stay open.
    for open in ["/", "/health"] {
        let (status, _, body) = get(service, open).await;
        assert_eq!(status, StatusCode::OK, "{open}: {body}");
    }

    // Through the gateway the call reaches the service (its own 404 for an unknown id): the
    // gateway presents its certificate.
    let (status, headers, body) = get(gateway, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        headers.contains_key(gateway::X_UPSTREAM_REGION),
        "{headers:?}"
    );
    assert!(!body["type"].as_str().unwrap().ends_with("gateway-only"));

    // The manifest's certificate lets a trusted internal client (the drill, loadtest) call
    // directly, by address or by the service's name.
    let (status, _, body) = send(common::trusted_client(world.manifest()), &tls_url)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    world.shutdown().await;

    // The same networks again (one world at a time), with `[aws] gateway_only = false`: the
    // direct call works and there is no certificate to hand out.
    let world = world_on(topology(71, "gateway_only = false")).await;
    let service = primary_addr(&world, &common::first());
    let (status, _, body) = get(service, &unknown_item_path()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(world.manifest().trusted_client, None);
    world.shutdown().await;
}
