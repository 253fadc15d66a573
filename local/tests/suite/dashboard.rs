//! The dashboard in a real headless Chromium, driven as a person drives it: it opens the page
//! of a running world, starts the probe, shifts the first service to the secondary Region with
//! a click and a keyboard confirmation, watches the page show the move within the failover
//! bound, takes two ARC endpoints down, and tries a change the safety rule forbids.
//!
//! `UPDATE_SCREENSHOT=1` writes the screenshot taken during the failover to
//! `docs/dashboard.png`.
//!
//! The tests share one pair of loopback networks, so they take turns.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;

use local_world::World;
use serde_json::Value;
use testkit::browser::{Browser, Page};
use topology::{AppName, Region, Topology};

/// The fixture topology on loopback networks of its own (`127.0.61.x`, `127.0.62.x`), every
/// listener on a free port, and a fast clock: TTL 1 s, health checks every 200 ms.
fn topology() -> Topology {
    let text = common::free_cloudwatch_ports(testkit::FIXTURE_TOPOLOGY)
        .replace("\"127.0.1\"", "\"127.0.61\"")
        .replace("\"127.0.2\"", "\"127.0.62\"")
        .replace("127.0.0.1:8053", "127.0.0.1:0")
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("arc_first_port = 8091", "arc_first_port = 0")
        .replace("ttl_seconds = 5", "ttl_seconds = 1")
        .replace(
            "health_check_interval_ms = 1000",
            "health_check_interval_ms = 200",
        );
    Topology::parse(&text).unwrap()
}

/// Held by each test: both use the networks 127.0.61.x and 127.0.62.x.
static NETWORKS: Mutex<()> = Mutex::new(());

/// A world on the test topology with its control API (and so the dashboard) serving.
fn start_world(runtime: &tokio::runtime::Runtime) -> Arc<World> {
    runtime.block_on(async {
        let world = tokio::time::timeout(Duration::from_secs(10), World::start(topology()))
            .await
            .expect("the world starts within 10 s")
            .unwrap();
        let world = Arc::new(world);
        local_world::control::serve(world.clone()).expect("the control API's listener");
        world
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn stop(runtime: &tokio::runtime::Runtime, world: Arc<World>) {
    runtime.block_on(async {
        if let Ok(world) = Arc::try_unwrap(world) {
            world.shutdown().await;
        }
    });
}

fn launch(profile: &std::path::Path) -> Browser {
    Browser::launch(profile, (1600, 1150)).unwrap_or_else(|e| panic!("Chromium starts: {e}"))
}

/// The value of a JavaScript expression in the page.
fn js(tab: &Page, expression: &str) -> Value {
    tab.evaluate(expression).unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until `expression` is true in the page, polling every 50 ms.
fn wait_for(tab: &Page, what: &str, expression: &str, timeout: Duration) -> Duration {
    tab.wait_until(what, expression, timeout)
        .unwrap_or_else(|e| {
            panic!(
                "{e}; outcome line: {}",
                js(tab, "document.getElementById('outcome').textContent")
            )
        })
}

fn card(app: &AppName) -> String {
    format!("document.querySelector('.app[data-app=\"{app}\"]')")
}

fn serving(app: &AppName) -> String {
    format!("{}.querySelector('.serving').dataset.region", card(app))
}

/// Clicks the element `selector` with the mouse, as a person does.
fn click(tab: &Page, selector: &str) {
    tab.click(selector)
        .unwrap_or_else(|e| panic!("clicking `{selector}`: {e}"));
}

/// Waits for the confirmation dialog and confirms with the mouse.
fn confirm(tab: &Page) {
    wait_for(
        tab,
        "the confirmation dialog",
        "document.getElementById('confirm').open",
        Duration::from_secs(3),
    );
    click(tab, "#confirm-ok");
}

fn outcome_is(tab: &Page, what: &str, outcome: &str) {
    wait_for(
        tab,
        what,
        &format!("document.getElementById('outcome').dataset.outcome === '{outcome}'"),
        Duration::from_secs(10),
    );
}

#[test]
fn the_dashboard_shows_the_world_and_drives_a_failover() {
    let chromium = testkit::browser::chromium();
    println!("driving {}", chromium.display());
    let _networks = NETWORKS.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = runtime();
    let world = start_world(&runtime);
    let url = world.manifest().control_api.clone().unwrap();
    let topology = world.topology();
    let [primary, secondary]: [Region; 2] = topology.regions.both().map(Clone::clone);
    let service = topology.services().next().unwrap().name().clone();
    let local = &topology.local;
    let bound = local.ttl() + local.health_check_interval() + Duration::from_secs(1);

    let profile = tempfile::tempdir().unwrap();
    let browser = launch(profile.path());
    let tab = browser.new_page().unwrap();
    tab.navigate(&format!("{url}/")).unwrap();

    // Every app of the topology is shown, then, once the probe runs, with its serving Region.
    let apps: Vec<AppName> = topology.apps.iter().map(|a| a.name().clone()).collect();
    wait_for(
        &tab,
        "every app's card",
        &format!(
            "document.querySelectorAll('.app').length === {}",
            apps.len()
        ),
        Duration::from_secs(5),
    );
    click(&tab, "#probe-toggle");
    for app in &apps {
        wait_for(
            &tab,
            &format!("{app} served by {primary}"),
            &format!("{} === '{primary}'", serving(app)),
            Duration::from_secs(10),
        );
        let shown = js(&tab, &format!("{}.textContent", card(app)));
        assert!(
            shown.as_str().unwrap().contains(app.as_str()),
            "the card names {app}"
        );
    }
    assert_eq!(
        js(&tab, "document.getElementById('quorum').dataset.health"),
        "healthy"
    );
    // ARC's mechanism, its cluster shown, and every app's alarms (both mechanisms have them).
    assert_eq!(
        js(
            &tab,
            "document.getElementById('mechanism').dataset.mechanism"
        ),
        "arc"
    );
    assert_eq!(js(&tab, "document.getElementById('arc').hidden"), false);
    let alarms: usize = world.manifest().apps.iter().map(|a| a.alarms.len()).sum();
    assert_eq!(
        js(
            &tab,
            "document.querySelectorAll('#alarm-table td[data-alarm]').length"
        ),
        alarms
    );

    // "Shift orders to us-west-2", confirmed from the keyboard (the dialog focuses Confirm).
    let label = format!("Shift {service} to {secondary}");
    let shift = format!(
        "{}.querySelector('button[data-action=shift][data-region=\"{secondary}\"]')",
        card(&service)
    );
    assert_eq!(js(&tab, &format!("{shift}.textContent")), label.as_str());
    tab.click_xpath(&format!("//button[normalize-space()='{label}']"))
        .unwrap();
    wait_for(
        &tab,
        "the confirmation dialog, focused on Confirm",
        "document.getElementById('confirm').open && document.activeElement.id === 'confirm-ok'",
        Duration::from_secs(3),
    );
    let confirmed = Instant::now();
    tab.press_enter().unwrap();
    wait_for(
        &tab,
        &format!("{service} served by {secondary}"),
        &format!("{} === '{secondary}'", serving(&service)),
        bound * 3,
    );
    let moved = confirmed.elapsed();
    println!(
        "the page shows {service} on {secondary} {moved:?} after the confirmation (bound {bound:?})"
    );
    assert!(moved <= bound, "shown after {moved:?}, bound {bound:?}");
    outcome_is(&tab, "the shift's outcome", "ok");
    let outcome = js(&tab, "document.getElementById('outcome').textContent");
    assert!(
        outcome
            .as_str()
            .unwrap()
            .contains(&format!("{service} now ON in {secondary}")),
        "{outcome}"
    );
    for app in apps.iter().filter(|a| **a != service) {
        assert_eq!(js(&tab, &serving(app)), primary.as_str(), "{app} stays put");
    }
    let dns = format!("{}.querySelector('.dns').dataset.region", card(&service));
    assert_eq!(
        js(&tab, &dns),
        secondary.as_str(),
        "Route 53 answers the secondary"
    );

    // The screenshot during the failover: the chart shows the traffic moving.
    std::thread::sleep(Duration::from_millis(1500));
    js(&tab, "window.scrollTo(0, 0)");
    let png = tab.screenshot().unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dashboard.png");
        std::fs::write(path, &png).unwrap();
        println!("wrote {path}");
    }

    // Two ARC endpoints down, from the page: the quorum is shown degraded.
    for index in 0..2 {
        js(
            &tab,
            &format!(
                "document.querySelector('#endpoints tr[data-endpoint=\"{index}\"] select').value = 'down'"
            ),
        );
        click(&tab, &format!("button[data-endpoint=\"{index}\"]"));
        confirm(&tab);
        outcome_is(&tab, "an endpoint down", "ok");
    }
    // Degraded from the first endpoint down: wait for the count after the second.
    wait_for(
        &tab,
        "the quorum shown degraded, 3 of 5 up",
        "document.getElementById('quorum').dataset.health === 'degraded' \
         && document.getElementById('quorum').textContent.includes('3 of 5')",
        Duration::from_secs(3),
    );
    let quorum = js(&tab, "document.getElementById('quorum').textContent");
    assert!(quorum.as_str().unwrap().contains("degraded"), "{quorum}");
    assert!(quorum.as_str().unwrap().contains("3 of 5"), "{quorum}");

    // A fault with parameters, from the confirmation dialog's fields: another app degraded.
    let other = apps.iter().find(|a| **a != service).unwrap();
    let row = format!(".app[data-app=\"{other}\"] tr[data-region=\"{primary}\"]");
    click(&tab, &format!("{row} button[data-fault=degrade]"));
    wait_for(
        &tab,
        "the degrade fields",
        "document.querySelectorAll('#confirm-fields input').length === 2",
        Duration::from_secs(3),
    );
    click(&tab, "#confirm-ok");
    outcome_is(&tab, "the degradation", "ok");
    wait_for(
        &tab,
        &format!("{other} shown degraded in {primary}"),
        &format!(
            "document.querySelector('{row} .instance').textContent.includes('degraded: 50% errors, +200 ms')"
        ),
        Duration::from_secs(3),
    );

    // The safety rule forbids turning off the only ON routing control: the page shows the
    // refusal, and nothing changed.
    let toggle =
        format!(".app[data-app=\"{service}\"] tr[data-region=\"{secondary}\"] button.toggle");
    assert_eq!(
        js(
            &tab,
            &format!("document.querySelector('{toggle}').textContent")
        ),
        "Turn OFF"
    );
    click(&tab, &toggle);
    confirm(&tab);
    outcome_is(&tab, "the refusal", "refused");
    let refusal = js(&tab, "document.getElementById('outcome').textContent");
    assert!(
        refusal.as_str().unwrap().contains("refused by safety rule"),
        "{refusal}"
    );
    let control = &world
        .manifest()
        .app(&service)
        .unwrap()
        .arc()
        .unwrap()
        .routing_controls;
    let on_secondary = control.iter().find(|c| c.region == secondary).unwrap();
    assert_eq!(
        world
            .cluster()
            .unwrap()
            .routing_control_state(&on_secondary.arn),
        Some(true),
        "nothing changed"
    );
    wait_for(
        &tab,
        "the refusal on the timeline",
        "[...document.querySelectorAll('#events li[data-kind=refused]')].some(li => li.textContent.includes('refused by safety rule'))",
        Duration::from_secs(3),
    );
    assert_eq!(
        js(&tab, &format!("{} === '{secondary}'", serving(&service))),
        true,
        "traffic stays on {secondary}"
    );

    // A write in the secondary held back from the primary for longer than the gate allows:
    // the move back is refused, and the page offers to move anyway, as `--force` does.
    common::write_held_back(&world, &service, &secondary, "DASHBOARD#browser");
    std::thread::sleep(failover::DEFAULT_MAX_LAG + Duration::from_millis(300));
    click(
        &tab,
        &format!(
            ".app[data-app=\"{service}\"] button[data-action=shift][data-region=\"{primary}\"]"
        ),
    );
    confirm(&tab);
    outcome_is(&tab, "the gate's refusal", "refused");
    let refusal = js(&tab, "document.getElementById('outcome').textContent");
    assert!(
        refusal.as_str().unwrap().contains("replication behind"),
        "{refusal}"
    );
    confirm(&tab);
    outcome_is(&tab, "the forced move", "ok");
    let on_primary = control.iter().find(|c| c.region == primary).unwrap();
    assert_eq!(
        world
            .cluster()
            .unwrap()
            .routing_control_state(&on_primary.arn),
        Some(true),
        "forced back to {primary}"
    );
    world.replicator().set_lag(Duration::from_millis(10));

    drop(tab);
    drop(browser);
    stop(&runtime, world);
}

/// Posts `body` to `path` of the control API; answers the status and the JSON body.
async fn post(url: &str, path: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[test]
fn the_page_its_events_and_its_actions_answer_as_the_failover_library_does() {
    let _networks = NETWORKS.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = runtime();
    let world = start_world(&runtime);
    let url = world.manifest().control_api.clone().unwrap();
    let service = world.topology().services().next().unwrap().name().clone();
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    runtime.block_on(async {
        let page = reqwest::get(format!("{url}/")).await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("/assets/app.js"), "the page loads its script");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no CDN"
        );
        for (asset, kind) in [("app.js", "text/javascript"), ("style.css", "text/css")] {
            let response = reqwest::get(format!("{url}/assets/{asset}")).await.unwrap();
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"].to_str().unwrap();
            assert!(content_type.starts_with(kind), "{asset}: {content_type}");
        }

        // The first event is the whole view, at once.
        let mut events = reqwest::get(format!("{url}/events")).await.unwrap();
        assert!(
            events.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut text = String::new();
        while !text.contains("\n\n") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), events.chunk())
                .await
                .expect("a view within 5 s")
                .unwrap()
                .expect("the stream stays open");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        let data = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .expect("a data line");
        assert!(text.starts_with("event: view"), "{text}");
        let view: Value = serde_json::from_str(data).unwrap();
        let shown: Vec<&str> = view["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["app"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = world
            .manifest()
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(shown, expected);
        assert_eq!(view["arc"]["quorum"]["health"], "healthy");
        drop(events);

        // Bad input: a clear 4xx, nothing changed.
        let (status, problem) = post(
            &url,
            "/actions/shift",
            r#"{"app": "nope", "to": "us-west-2"}"#,
        )
        .await;
        assert_eq!(status, 404, "{problem}");
        let (status, _) = post(&url, "/actions/shift", "{").await;
        assert_eq!(status, 400);
        let (status, problem) = post(
            &url,
            "/actions/shift",
            &format!(r#"{{"app": "{service}"}}"#),
        )
        .await;
        assert_eq!(status, 422, "{problem}");
        let (status, problem) =
            post(&url, "/actions/evacuate", r#"{"from": "eu-central-1"}"#).await;
        assert_eq!(status, 404, "{problem}");

        // Three of five endpoints down: the cluster has lost its quorum, the shift is refused
        // as `failover` refuses it, and nothing changed.
        for index in 0..3 {
            let (status, _) = post(
                &url,
                &format!("/faults/arc/{index}"),
                r#"{"fault": "down"}"#,
            )
            .await;
            assert_eq!(status, 200);
        }
        let shift = format!(r#"{{"app": "{service}", "to": "{secondary}"}}"#);
        let (status, problem) = post(&url, "/actions/shift", &shift).await;
        assert_eq!(status, 503, "{problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .ends_with("arc-quorum-lost"),
            "{problem}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("lost its quorum"),
            "{problem}"
        );
        assert_eq!(world.dns().answer(&service).unwrap().region, primary);

        // Back to a majority, the same shift goes through.
        let (status, _) = post(&url, "/faults/arc/0", r#"{"fault": "none"}"#).await;
        assert_eq!(status, 200);
        let (status, outcome) = post(&url, "/actions/shift", &shift).await;
        assert_eq!(status, 200, "{outcome}");
        assert!(
            outcome["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{service} now ON in {secondary}")),
            "{outcome}"
        );

        // A write in the secondary held back from the primary: the move back is refused by
        // the replication gate, as `failover shift` refuses it, until forced.
        common::write_held_back(&world, &service, &secondary, "DASHBOARD#gate");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let back = |extra: &str| {
            format!(
                r#"{{"app": "{service}", "to": "{primary}", "max_replication_lag_ms": 100{extra}}}"#
            )
        };
        let (status, problem) = post(&url, "/actions/shift", &back("")).await;
        assert_eq!(status, 409, "{problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .ends_with("replication-behind"),
            "{problem}"
        );
        let (status, problem) = post(
            &url,
            "/actions/evacuate",
            &format!(r#"{{"from": "{secondary}", "max_replication_lag_ms": 100}}"#),
        )
        .await;
        assert_eq!(status, 409, "the evacuation too: {problem}");
        let (status, problem) = post(&url, "/actions/shift", &back(r#", "forse": true"#)).await;
        assert_eq!(status, 422, "an unknown field: {problem}");
        assert_eq!(world.dns().answer(&service).unwrap().region, secondary);
        let (status, outcome) = post(&url, "/actions/shift", &back(r#", "force": true"#)).await;
        assert_eq!(status, 200, "{outcome}");
        assert!(
            outcome["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{service} now ON in {primary}")),
            "{outcome}"
        );
        world.replicator().set_lag(Duration::from_millis(10));
    });
    stop(&runtime, world);
}

/// The fixture with the `health-check` mechanism on loopback networks of its own
/// (`127.0.65.x`, `127.0.66.x`), every listener on a free port, a fast clock (TTL 1 s, health
/// checks every 200 ms) and alarm periods of 200 ms.
fn health_check_topology() -> Topology {
    let text = common::health_check(
        &common::fast_clock(&common::on_networks(&common::topology_text(), 65)),
        200,
    );
    Topology::parse(&text).unwrap()
}

#[test]
fn the_dashboard_shows_flags_alarms_and_health_checks_and_moves_by_the_flags() {
    testkit::browser::chromium();
    let _networks = NETWORKS.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = runtime();
    let world = runtime.block_on(async {
        let world = Arc::new(World::start(health_check_topology()).await.unwrap());
        local_world::control::serve(world.clone()).expect("the control API's listener");
        world
    });
    let url = world.manifest().control_api.clone().unwrap();
    let topology = world.topology();
    let [primary, secondary]: [Region; 2] = topology.regions.both().map(Clone::clone);
    let service = common::first();
    let local = &topology.local;
    let bound =
        local.alarm_period() + local.health_check_interval() + local.ttl() + Duration::from_secs(1);
    let alarms: usize = world.manifest().apps.iter().map(|a| a.alarms.len()).sum();

    let profile = tempfile::tempdir().unwrap();
    let browser = launch(profile.path());
    let tab = browser.new_page().unwrap();
    tab.navigate(&format!("{url}/")).unwrap();
    wait_for(
        &tab,
        "the mechanism, every app and every alarm",
        &format!(
            "document.getElementById('mechanism').dataset.mechanism === 'health-check' \
             && document.querySelectorAll('.app').length === {} \
             && document.querySelectorAll('#alarm-table td[data-alarm]').length === {alarms}",
            topology.apps.len()
        ),
        Duration::from_secs(5),
    );
    assert_eq!(
        js(&tab, "document.getElementById('arc').hidden"),
        true,
        "no ARC cluster"
    );
    let endpoints = js(
        &tab,
        "[...document.querySelectorAll('#cw-endpoints tbody tr')].map(r => r.dataset.cloudwatch)",
    );
    assert_eq!(
        endpoints,
        serde_json::json!([primary.as_str(), secondary.as_str()])
    );
    // Each flag where it lives, never published yet; the alarms' first evaluation is OK.
    let row =
        |region: &Region| format!(".app[data-app=\"{service}\"] tr[data-region=\"{region}\"]");
    let flag_text = |region: &Region| {
        js(
            &tab,
            &format!(
                "document.querySelector('{} .flag').textContent",
                row(region)
            ),
        )
        .as_str()
        .unwrap()
        .to_owned()
    };
    let shown = flag_text(&primary);
    assert!(
        shown.contains(&format!("\"{primary} is out\" never published")),
        "{shown}"
    );
    assert!(shown.contains(&format!("in {secondary}")), "{shown}");
    wait_for(
        &tab,
        "no alarm firing",
        &format!(
            "document.getElementById('alarm-summary').textContent.includes('none of {alarms} alarms in ALARM')"
        ),
        Duration::from_secs(5),
    );

    // Take the service out of the primary by its flag, from the page, with the probe running.
    click(&tab, "#probe-toggle");
    wait_for(
        &tab,
        &format!("{service} served by {primary}"),
        &format!("{} === '{primary}'", serving(&service)),
        Duration::from_secs(10),
    );
    click(&tab, &format!("{} button[data-action=flag]", row(&primary)));
    confirm(&tab);
    let confirmed = Instant::now();
    // Each action's outcome replaces the last one's (the probe's, here): wait for this one's.
    wait_for(
        &tab,
        "the flag's outcome",
        &format!(
            "document.getElementById('outcome').dataset.outcome === 'ok' \
             && document.getElementById('outcome').textContent.includes('published in {secondary}')"
        ),
        Duration::from_secs(5),
    );
    wait_for(
        &tab,
        &format!("{service} served by {secondary}"),
        &format!("{} === '{secondary}'", serving(&service)),
        bound * 3,
    );
    let moved = confirmed.elapsed();
    println!(
        "the page shows {service} on {secondary} {moved:?} after the confirmation (bound {bound:?})"
    );
    assert!(moved <= bound, "shown after {moved:?}, bound {bound:?}");
    let shown = flag_text(&primary);
    assert!(
        shown.contains(&format!("\"{primary} is out\" = 1")),
        "{shown}"
    );
    assert!(shown.contains("alarm ALARM"), "{shown}");
    assert_eq!(
        js(
            &tab,
            &format!(
                "document.querySelector('{} .health').textContent",
                row(&primary)
            )
        ),
        "✗ unhealthy"
    );
    // The record's health-check alarm, on Route 53's metric, fires and the page shows it.
    let health_alarm = format!("local-{service}-{primary}-health-check");
    wait_for(
        &tab,
        "the health-check alarm in ALARM",
        &format!(
            "document.querySelector('#alarm-table td[data-alarm=\"{health_alarm}\"]').dataset.state === 'ALARM' \
             && document.getElementById('alarm-summary').dataset.firing !== '0'"
        ),
        Duration::from_secs(5),
    );

    // The secondary's CloudWatch down, from the page; shifting back to the primary still
    // works (the flag that matters lives in the primary), with a warning for the one it could
    // not clear.
    js(
        &tab,
        &format!(
            "document.querySelector('#cw-endpoints tr[data-cloudwatch=\"{secondary}\"] select').value = 'down'"
        ),
    );
    click(&tab, &format!("button[data-cloudwatch=\"{secondary}\"]"));
    confirm(&tab);
    wait_for(
        &tab,
        "the endpoint shown down",
        &format!(
            "document.querySelector('#cw-endpoints tr[data-cloudwatch=\"{secondary}\"] .state').textContent === '✖ down'"
        ),
        Duration::from_secs(3),
    );
    tab.click_xpath(&format!(
        "//button[normalize-space()='Shift {service} to {primary}']"
    ))
    .unwrap();
    confirm(&tab);
    wait_for(
        &tab,
        "the shift back, with its warning",
        &format!(
            "document.getElementById('outcome').dataset.outcome === 'ok' \
             && document.getElementById('outcome').textContent.includes('{service} moving to {primary}') \
             && document.getElementById('outcome').textContent.includes('warning')"
        ),
        Duration::from_secs(5),
    );
    wait_for(
        &tab,
        &format!("{service} served by {primary} again"),
        &format!("{} === '{primary}'", serving(&service)),
        bound * 3,
    );
    wait_for(
        &tab,
        "the flag on the timeline",
        &format!(
            "[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('{service} flag \"{secondary} is out\"'))"
        ),
        Duration::from_secs(3),
    );

    drop(tab);
    drop(browser);
    stop(&runtime, world);
}

#[test]
fn the_dashboard_runs_a_plan_shows_its_steps_and_approval_and_links_its_report() {
    let _networks = NETWORKS.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = runtime();
    let world = start_world(&runtime);
    let url = world.manifest().control_api.clone().unwrap();
    let topology = world.topology();
    let [primary, secondary]: [Region; 2] = topology.regions.both().map(Clone::clone);
    let service = topology.services().next().unwrap().name().clone();

    let profile = tempfile::tempdir().unwrap();
    let browser = launch(profile.path());
    let tab = browser.new_page().unwrap();
    tab.navigate(&format!("{url}/")).unwrap();
    // The tests run in the crate's folder, which has no plans/: the plans built in are listed.
    let run_button = "#plan-list button[data-plan=\"evacuate-primary\"]";
    wait_for(
        &tab,
        "the plans listed",
        &format!("document.querySelector('{run_button}') !== null"),
        Duration::from_secs(5),
    );
    click(&tab, run_button);
    confirm(&tab);

    // The approval waits for a click; nothing moves meanwhile.
    wait_for(
        &tab,
        "the approval waiting",
        "!document.getElementById('plan-approval').hidden && document.querySelector('#plan-steps li[data-step=\"confirm\"]').dataset.state === 'waiting'",
        Duration::from_secs(10),
    );
    assert_eq!(
        js(
            &tab,
            "document.querySelector('#plan-steps li[data-step=\"warm the secondary\"]').dataset.state"
        ),
        "succeeded",
        "the step before it ran"
    );
    assert_eq!(
        js(
            &tab,
            "document.querySelector('#plan-steps li[data-step=\"every app\"]').dataset.state"
        ),
        "pending"
    );
    assert_eq!(world.dns().answer(&service).unwrap().region, primary);
    click(&tab, "#plan-approve");

    wait_for(
        &tab,
        "the plan's end",
        "document.getElementById('plan-headline').dataset.running === 'false'",
        Duration::from_secs(30),
    );
    let headline = js(&tab, "document.getElementById('plan-headline').textContent");
    assert!(
        headline.as_str().unwrap().contains("succeeded"),
        "{headline}"
    );
    assert_eq!(
        js(
            &tab,
            "[...document.querySelectorAll('#plan-steps li')].every(li => li.dataset.state === 'succeeded')"
        ),
        true
    );
    assert_eq!(
        js(&tab, "document.getElementById('plan-report').hidden"),
        false
    );
    let report = runtime.block_on(async {
        reqwest::get(format!("{url}/plans/report"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        report.contains("# Plan `evacuate-primary`: succeeded")
            && report.contains("| every app | shift |"),
        "{report}"
    );
    assert_eq!(world.dns().answer(&service).unwrap().region, secondary);

    drop(tab);
    drop(browser);
    stop(&runtime, world);
}
