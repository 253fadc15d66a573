//! The generator against real HTTP servers on loopback and a real DNS server whose answer
//! changes mid-run.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{Dns, FakeStore, PRIMARY, SECONDARY, TwoRegions, manifest, route};
use loadtest::{ConnectionReuse, Report, Run, RunConfig, Scenario};
use topology::AppName;

fn app(name: &str) -> AppName {
    name.parse().unwrap()
}

/// Polls the live view until `app` answers only from `region`, or `limit` passes.
async fn wait_for_region(run: &Run, app: &AppName, region: &str, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        let live = run.live();
        if live
            .app(app)
            .and_then(|a| a.current_region.as_ref())
            .map(|r| r.as_str())
            == Some(region)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The switch test's run: primary, then a DNS change to the secondary, then a DNS change to an
/// address where nothing listens.
async fn switch_run(
    net: u8,
    reuse: ConnectionReuse,
    max_age: Duration,
) -> (Report, f64, TwoRegions) {
    const TTL: u32 = 1;
    let dns = Dns::start(TTL).await;
    let world = TwoRegions::start(net, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["orders"], false);
    let orders = app("orders");
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 100,
            max_connection_age: max_age,
            connection_reuse: reuse,
            ..RunConfig::default()
        },
    )
    .unwrap();
    assert!(wait_for_region(&run, &orders, PRIMARY, Duration::from_secs(3)).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    dns.set("orders.example.test", world.secondary_ip());
    let changed_at = run.elapsed().as_secs_f64();
    run.mark("DNS answer -> us-west-2");
    // Connections may live 3 s past the change: allow a loaded machine well beyond that.
    assert!(
        wait_for_region(&run, &orders, SECONDARY, Duration::from_secs(10)).await,
        "traffic never moved to the secondary"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let live = run.live();
    let live = live.app(&orders).unwrap();
    let switch = live
        .last_switch
        .as_ref()
        .expect("the live view shows the switch");
    assert_eq!(
        (switch.from.as_str(), switch.to.as_str()),
        (PRIMARY, SECONDARY)
    );
    assert!(
        switch.at.as_secs_f64() >= changed_at && live.rate > 50,
        "{live:?}"
    );
    dns.set("orders.example.test", world.dead_ip());
    run.mark("DNS answer -> nothing listening");
    tokio::time::sleep(Duration::from_millis(1500) + Duration::from_secs(TTL.into())).await;
    let report = run.stop().await;
    (report, changed_at, world)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_change_shows_as_a_switch_within_one_ttl_and_refusals_are_errors() {
    let (report, changed_at, world) =
        switch_run(41, ConnectionReuse::PerHost, Duration::from_millis(500)).await;
    let orders = report.app(&app("orders")).unwrap();
    println!("{}", report.summary_table());

    // The switch: within one TTL (1 s) plus one second of the change.
    assert_eq!(orders.switches.len(), 1, "{:?}", orders.switches);
    let switch = &orders.switches[0];
    assert_eq!(
        (switch.from.as_str(), switch.to.as_str()),
        (PRIMARY, SECONDARY)
    );
    let delay = switch.at_seconds - changed_at;
    assert!(
        (0.0..=2.0).contains(&delay),
        "switch {delay:.3} s after the change"
    );

    // Every response attributed to the Region that served it: the servers' own counts.
    assert_eq!(orders.unattributed, 0);
    let by = |r: &str| orders.responses_by_region.get(r).copied().unwrap_or(0);
    assert_eq!(by(PRIMARY), world.primary.served());
    assert_eq!(by(SECONDARY), world.secondary.served());
    assert_eq!(orders.successes, by(PRIMARY) + by(SECONDARY));

    // Refused connections are errors, and the only errors.
    assert!(orders.errors.connect_refused > 10, "{:?}", orders.errors);
    assert_eq!(orders.errors.total, orders.errors.connect_refused);
    assert_eq!(orders.requests, orders.successes + orders.errors.total);
    assert!(orders.error_samples["connect_refused"].contains("refused"));
    assert_eq!(report.marks.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_connections_keep_reaching_the_old_region() {
    // Reuse per host with a 3 s maximum age: after the DNS change the kept-alive connections
    // keep going to the primary until they age out, and the report says so.
    let (report, changed_at, _world) =
        switch_run(43, ConnectionReuse::PerHost, Duration::from_secs(3)).await;
    let orders = report.app(&app("orders")).unwrap();
    println!("{}", report.summary_table());
    assert!(orders.stale_connection_responses > 0);
    let switch = &orders.switches[0];
    assert!(switch.at_seconds >= changed_at);
    // Per-address reuse follows DNS at once: no stale responses and a clean cut.
    let (report, _, _) = switch_run(44, ConnectionReuse::PerAddress, Duration::from_secs(3)).await;
    let orders = report.app(&app("orders")).unwrap();
    assert_eq!(orders.stale_connection_responses, 0);
    assert!(
        orders.switches[0].mixed_window_seconds < 0.1,
        "{:?}",
        orders.switches
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_latency_not_as_a_gap() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(42, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["users"], false);
    let rate = 50;
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: rate,
            duration: Some(Duration::from_secs(3)),
            ..RunConfig::default()
        },
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let stall_from = Instant::now();
    *world.primary.stall_until.lock().unwrap() = Some(stall_from + Duration::from_secs(1));
    run.mark("server stalls for 1 s");
    let report = run.wait().await;
    let users = report.app(&app("users")).unwrap();
    println!("{}", report.summary_table());

    // The schedule never paused: `rate` requests due in every second of the run.
    let sent: Vec<u64> = users.seconds.iter().take(3).map(|s| s.sent).collect();
    assert_eq!(sent, vec![u64::from(rate); 3]);
    // ... and the server kept receiving them during the stall.
    let arrivals = world.primary.arrivals.lock().unwrap();
    let during = arrivals
        .iter()
        .filter(|t| **t >= stall_from && **t < stall_from + Duration::from_millis(900))
        .count();
    assert!(
        during >= 40,
        "only {during} requests arrived during the stall"
    );
    // The stall is in the latency: the worst request waited about a second.
    assert!(users.latency_ms.max >= 900.0, "{:?}", users.latency_ms);
    assert!(users.latency_ms.p50 < 100.0, "{:?}", users.latency_ms);
    assert_eq!(users.errors.total, 0);
    assert_eq!((users.late, users.not_sent), (0, 0));
    assert_eq!(users.requests, 3 * u64::from(rate));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_in_flight_cap_are_late_or_not_sent_never_skipped() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(45, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["users"], false);
    *world.primary.stall_until.lock().unwrap() = Some(Instant::now() + Duration::from_millis(1500));
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 40,
            duration: Some(Duration::from_secs(2)),
            max_in_flight: 4,
            request_timeout: Duration::from_secs(1),
            ..RunConfig::default()
        },
    )
    .unwrap();
    let report = run.wait().await;
    let users = report.app(&app("users")).unwrap();
    println!("{}", report.summary_table());
    let due: u64 = users.seconds.iter().map(|s| s.sent).sum();
    assert_eq!(due, 80);
    // Every due request is accounted for: completed (some of them late) or not sent.
    assert_eq!(users.requests + users.not_sent, due);
    assert!(
        users.late > 0 && users.not_sent > 0,
        "late {} not sent {}",
        users.late,
        users.not_sent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consistency_scenario_reports_a_dropped_write() {
    let dns = Dns::start(5).await;
    let store = FakeStore::new(Duration::from_millis(200), 7);
    let world = TwoRegions::start(46, store.clone()).await;
    let manifest = manifest(&world, &dns, &["orders"], true);
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 20,
            duration: Some(Duration::from_secs(2)),
            scenario: Scenario::Consistency,
            consistency_grace: Duration::from_secs(2),
            ..RunConfig::default()
        },
    )
    .unwrap();
    let report = run.wait().await;
    println!("{}", report.summary_table());
    let c = report.consistency();
    let dropped = store.dropped.lock().unwrap().clone();
    assert_eq!(c.acknowledged, store.writes());
    assert!(c.acknowledged >= 35, "{c:?}");
    assert!(!dropped.is_empty());
    assert_eq!(c.never_found, dropped.len() as u64);
    // Stored nowhere, so no read target ever returned them: lost, not pending.
    assert_eq!((c.lost, c.pending), (dropped.len() as u64, 0), "{c:?}");
    let mut lost: Vec<String> = c
        .lost_writes
        .iter()
        .map(|l| l.path.replace("/orders/", ""))
        .collect();
    let mut expected = dropped.clone();
    lost.sort();
    expected.sort();
    assert_eq!(lost, expected);
    assert!(
        c.lost_writes.iter().all(|l| l.missing_from.len() == 3),
        "{:?}",
        c.lost_writes
    );
    assert_eq!(
        c.lost_writes[0].written_region.as_ref().map(|r| r.as_str()),
        Some(PRIMARY)
    );
    // The other Region saw each write 200 ms after it was written, plus at most a read interval.
    let worst = c.worst_delay.unwrap();
    assert!(
        worst >= Duration::from_millis(190) && worst < Duration::from_millis(800),
        "{worst:?}"
    );
    // Every write went to the primary (DNS never changed), so reads found the rest there.
    let orders = report.app(&app("orders")).unwrap();
    assert_eq!(orders.errors.total, 0);
    assert!(
        world.secondary.served() > 0,
        "reads from the secondary's Regional URL"
    );
    let _ = world.primary.served.load(Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mixed_scenario_speaks_the_services_api() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(47, FakeStore::new(Duration::ZERO, 0)).await;
    let mut manifest = manifest(&world, &dns, &["users", "orders", "payments", "api"], false);
    let routes = [
        ("/users", "users"),
        ("/orders", "orders"),
        ("/payments", "payments"),
    ];
    route(&mut manifest, "api", &routes);
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 40,
            duration: Some(Duration::from_millis(3500)),
            scenario: Scenario::Mixed,
            ..RunConfig::default()
        },
    )
    .unwrap();
    let report = run.wait().await;
    println!("{}", report.summary_table());
    for a in &report.apps {
        assert_eq!(a.errors.total, 0, "{}: {:?}", a.app, a.error_samples);
        assert!(a.warnings.is_empty(), "{}: {:?}", a.app, a.warnings);
    }
    // Every operation comes from the documents; the gateway's from the apps it routes to.
    let api = report.app(&app("api")).unwrap();
    assert!(
        api.operations
            .contains(&"POST /orders (to orders)".to_owned()),
        "{:?}",
        api.operations
    );
    assert!(
        report
            .app(&app("users"))
            .unwrap()
            .operations
            .contains(&"PATCH /users/{id}".to_owned())
    );
    let log = world.primary.log.lock().unwrap();
    let creates: Vec<_> = log
        .iter()
        .filter(|(m, p, ..)| m == "POST" && p.matches('/').count() == 1)
        .collect();
    let reads = log
        .iter()
        .filter(|(m, p, ..)| m == "GET" && p.len() > 10)
        .count();
    assert!(
        creates.len() > 20 && reads > 5,
        "{} creates, {reads} reads by id",
        creates.len()
    );
    let host = |h: &axum::http::HeaderMap| h["host"].to_str().unwrap().to_owned();
    assert!(
        creates
            .iter()
            .any(|(_, _, h, _)| host(h).starts_with("api.")),
        "writes through the gateway"
    );
    let updates = log
        .iter()
        .filter(|(m, p, ..)| m == "PATCH" || (m == "POST" && p.matches('/').count() == 3))
        .count();
    assert!(updates > 0, "updates of items created earlier");
    for (_, path, headers, body) in &creates {
        let body: serde_json::Value = serde_json::from_slice(body).unwrap();
        match path.as_str() {
            "/users" => {
                assert!(body["email"].as_str().unwrap().contains('@') && body["name"].is_string())
            }
            "/orders" => {
                assert_eq!(body["currency"], "EUR");
                assert!(body["items"][0]["quantity"].as_u64().unwrap() >= 1);
                assert!(body["user_id"].is_string());
            }
            "/payments" => {
                assert!(headers.contains_key("idempotency-key"));
                assert!(
                    body["amount_cents"].as_u64().unwrap() >= 100 && body["order_id"].is_string()
                );
            }
            other => panic!("unexpected write to {other}"),
        }
    }
    for (method, _, headers, _) in log.iter().filter(|(m, ..)| m == "PATCH") {
        assert!(
            headers.contains_key("if-match"),
            "{method} without If-Match"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_without_a_readable_document_gets_the_probe_and_a_warning() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(54, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["inventory"], false);
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 20,
            duration: Some(Duration::from_millis(500)),
            scenario: Scenario::Mixed,
            ..RunConfig::default()
        },
    )
    .unwrap();
    let report = run.wait().await;
    let inventory = report.app(&app("inventory")).unwrap();
    assert_eq!(inventory.operations, ["GET /"]);
    let warnings = inventory.warnings.join("; ");
    assert!(
        warnings.contains("/openapi.json") && warnings.contains("404"),
        "{warnings}"
    );
    assert!(
        report.summary_table().contains(&warnings),
        "the summary shows why"
    );
    let log = world.primary.log.lock().unwrap();
    assert!(
        log.iter()
            .filter(|(_, p, ..)| p != "/openapi.json")
            .all(|(m, p, ..)| m == "GET" && p == "/"),
        "only the probe"
    );
    assert_eq!(inventory.errors.total, 0);
    assert_eq!(inventory.requests, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_refused_clearly() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(48, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["orders"], false);
    let err = Run::start(
        &manifest,
        RunConfig {
            apps: vec![app("inventory")],
            ..RunConfig::default()
        },
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("no app `inventory` (it lists: orders)"),
        "{err}"
    );
    let mut https = manifest.clone();
    https.apps[0].url = "https://orders.example.test".into();
    let err = Run::start(
        &https,
        RunConfig {
            extra_root_certificates: vec!["/nonexistent/ca.pem".into()],
            ..RunConfig::default()
        },
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("cannot read the CA file /nonexistent/ca.pem"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_name_is_a_dns_error() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(49, FakeStore::new(Duration::ZERO, 0)).await;
    let mut manifest = manifest(&world, &dns, &["orders"], false);
    manifest.apps[0].url = format!("http://nowhere.example.test:{}", world.port);
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 10,
            duration: Some(Duration::from_millis(500)),
            ..RunConfig::default()
        },
    )
    .unwrap();
    let report = run.wait().await;
    let orders = report.app(&app("orders")).unwrap();
    assert_eq!(orders.errors.dns, orders.requests);
    assert!(orders.requests >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_an_outcome_at_the_end_are_counted_in_flight() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(55, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["users"], false);
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 20,
            duration: Some(Duration::from_secs(1)),
            request_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_millis(300),
            ..RunConfig::default()
        },
    )
    .unwrap();
    // Halfway, the server stops answering until long after the run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    *world.primary.stall_until.lock().unwrap() = Some(Instant::now() + Duration::from_secs(20));
    let report = run.wait().await;
    println!("{}", report.summary_table());
    let users = report.app(&app("users")).unwrap();
    let counts = users.counts();
    assert_eq!(counts.due, 20, "{counts:?}");
    assert_eq!(counts.not_sent, 0);
    assert!(
        (7..=13).contains(&counts.in_flight_at_end),
        "about half hang: {counts:?}"
    );
    assert_eq!(users.requests + users.in_flight_at_end, users.sent);
    assert_eq!(users.errors.total, 0, "no error: they simply never ended");
    assert!(!counts.clean() && !report.counts().clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regional_read_answered_by_the_other_region_does_not_count() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(56, FakeStore::new(Duration::ZERO, 0)).await;
    let mut manifest = manifest(&world, &dns, &["orders"], true);
    // The secondary's Regional URL reaches the primary: nothing is ever read in the secondary.
    let primary_url = manifest.apps[0].regional_urls[0].url.clone();
    manifest.apps[0].regional_urls[1].url = primary_url;
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 10,
            duration: Some(Duration::from_secs(1)),
            scenario: Scenario::Consistency,
            consistency_grace: Duration::from_millis(500),
            ..RunConfig::default()
        },
    )
    .unwrap();
    let report = run.wait().await;
    let c = report.consistency();
    assert!(c.acknowledged >= 8, "{c:?}");
    assert_eq!(c.never_found, c.acknowledged);
    // Found through the primary, never in the secondary: pending there, not lost.
    assert_eq!((c.pending, c.lost), (c.acknowledged, 0), "{c:?}");
    assert!(
        c.pending_writes
            .iter()
            .all(|l| l.missing_from == [SECONDARY]),
        "{:?}",
        c.pending_writes
    );
}

/// On AWS a service with gateway-only access admits only the `api` gateway's client
/// certificate (the manifest says so): a run loads the other apps by default, and refuses to
/// target such a service by name, saying to go through the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_admits_only_the_gateway_is_not_loaded_directly() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(63, FakeStore::new(Duration::ZERO, 0)).await;
    let mut manifest = manifest(&world, &dns, &["api", "orders"], false);
    manifest.apps[1].client_certificate_required = true;
    let err = Run::start(
        &manifest,
        RunConfig {
            apps: vec![app("orders")],
            duration: Some(Duration::from_secs(1)),
            ..RunConfig::default()
        },
    )
    .err()
    .expect("refused");
    assert!(
        err.to_string()
            .contains("`orders` admits only the api gateway's client certificate"),
        "{err}"
    );
    let report = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 5,
            duration: Some(Duration::from_secs(1)),
            ..RunConfig::default()
        },
    )
    .unwrap()
    .wait()
    .await;
    assert!(report.app(&app("api")).is_some());
    assert!(report.app(&app("orders")).is_none());
}
