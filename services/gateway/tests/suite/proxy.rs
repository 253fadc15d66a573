//! The gateway over real HTTP and real DNS: routing, headers, upstream failures as problems,
//! and DNS answers cached for exactly their TTL.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::common::{Dns, client, gateway, header, upstream};

#[tokio::test]
async fn proxies_the_full_path_and_shows_both_regions() {
    let dns = Dns::start(5).await;
    let east = upstream("127.0.9.2:0".parse().unwrap(), "us-west-2").await;
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 2));
    let base = gateway(&dns, east.port(), Duration::from_secs(5)).await;

    let response = client()
        .post(format!("{base}/orders/42/cancel?reason=late"))
        .header("x-request-id", "req-1")
        .header("connection", "keep-alive")
        .body(r#"{"reason":"late"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(response.headers(), "x-region"), "us-east-1");
    assert_eq!(header(response.headers(), "x-upstream-region"), "us-west-2");
    assert_eq!(header(response.headers(), "x-request-id"), "req-1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["path"], "/orders/42/cancel?reason=late");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["host"], format!("orders.example.test:{}", east.port()));
    assert_eq!(
        body["request_id"], "req-1",
        "the request id travels upstream"
    );

    let exact = client().get(format!("{base}/orders")).send().await.unwrap();
    assert_eq!(exact.status(), 200);

    let own = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(header(own.headers(), "x-region"), "us-east-1");
    let root: serde_json::Value = client()
        .get(&base)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root["service"], "api");
}

#[tokio::test]
async fn unknown_prefixes_are_404_problems() {
    let dns = Dns::start(5).await;
    let base = gateway(&dns, 1, Duration::from_secs(1)).await;
    for path in ["/inventory/1", "/ordersx"] {
        let response = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            header(response.headers(), "content-type"),
            "application/problem+json"
        );
    }
}

async fn problem(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/problem+json"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn refused_unresolvable_slow_and_garbled_upstreams_become_problems() {
    let dns = Dns::start(5).await;
    // Nothing listens on 127.0.9.10: connection refused.
    let free = TcpListener::bind("127.0.9.10:0").await.unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 10));
    let base = gateway(&dns, port, Duration::from_millis(300)).await;
    let (status, body) = problem(
        client()
            .get(format!("{base}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/upstream-unreachable"),
        "{body}"
    );

    // A name the DNS does not know.
    let dns2 = Dns::start(5).await;
    let base2 = gateway(&dns2, port, Duration::from_millis(300)).await;
    let (status, body) = problem(
        client()
            .get(format!("{base2}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/upstream-unresolvable"),
        "{body}"
    );

    // An upstream that accepts and never answers: 504 after the timeout.
    let slow = TcpListener::bind("127.0.9.11:0").await.unwrap();
    let slow_port = slow.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = slow.accept().await {
            held.push(stream);
        }
    });
    let dns3 = Dns::start(5).await;
    dns3.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 11));
    let base3 = gateway(&dns3, slow_port, Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, body) = problem(
        client()
            .get(format!("{base3}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 504);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/upstream-timeout"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // An upstream that answers garbage.
    let garbled = TcpListener::bind("127.0.9.12:0").await.unwrap();
    let garbled_port = garbled.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = garbled.accept().await {
            let _ = stream.write_all(b"SMTP READY\r\n\r\n").await;
        }
    });
    let dns4 = Dns::start(5).await;
    dns4.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 12));
    let base4 = gateway(&dns4, garbled_port, Duration::from_millis(300)).await;
    let (status, body) = problem(
        client()
            .get(format!("{base4}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/bad-upstream-response"),
        "{body}"
    );
}

#[tokio::test]
async fn a_dns_change_reaches_the_gateway_when_the_ttl_expires() {
    let dns = Dns::start(1).await;
    let first = upstream("127.0.9.21:0".parse().unwrap(), "us-east-1").await;
    upstream(
        SocketAddr::new([127, 0, 9, 22].into(), first.port()),
        "us-west-2",
    )
    .await;
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 21));
    let base = gateway(&dns, first.port(), Duration::from_secs(2)).await;
    let region =
        |response: reqwest::Response| header(response.headers(), "x-upstream-region").to_owned();

    assert_eq!(
        region(
            client()
                .get(format!("{base}/orders/1"))
                .send()
                .await
                .unwrap()
        ),
        "us-east-1"
    );
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 22));
    let changed = Instant::now();
    // Still cached: the answer is valid for its TTL.
    assert_eq!(
        region(
            client()
                .get(format!("{base}/orders/1"))
                .send()
                .await
                .unwrap()
        ),
        "us-east-1"
    );
    let moved = loop {
        let now = region(
            client()
                .get(format!("{base}/orders/1"))
                .send()
                .await
                .unwrap(),
        );
        if now == "us-west-2" {
            break changed.elapsed();
        }
        assert!(changed.elapsed() < Duration::from_secs(3), "still on {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        moved <= Duration::from_millis(1200),
        "moved after {moved:?}"
    );
}
