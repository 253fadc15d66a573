//! The dashboard in a real headless Chromium, driven as a person drives it: it opens the page
//! of a running world, starts the probe, shifts the first service to the secondary Region with
//! a click and a keyboard confirmation, watches the page show the move within the failover
//! bound, takes two ARC endpoints down, and tries a change the safety rule forbids.
//!
//! `UPDATE_SCREENSHOT=1` writes the screenshot taken during the failover to
//! `docs/dashboard.png`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use local_world::World;
use serde_json::Value;
use topology::{AppName, Region, Topology};

/// The fixture topology on loopback networks of its own (`127.0.61.x`, `127.0.62.x`), every
/// listener on a free port, and a fast clock: TTL 1 s, health checks every 200 ms.
fn topology() -> Topology {
    let text = testkit::FIXTURE_TOPOLOGY
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

fn launch(profile: &std::path::Path) -> Browser {
    let flags: Vec<&std::ffi::OsStr> = testkit::browser::FLAGS
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(testkit::browser::chromium()))
        .headless(true)
        .sandbox(false)
        .args(flags)
        .user_data_dir(Some(profile.to_path_buf()))
        .window_size(Some((1600, 1150)))
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    Browser::new(options).expect("Chromium starts")
}

/// The value of a JavaScript expression in the page.
fn js(tab: &Tab, expression: &str) -> Value {
    tab.evaluate(expression, false)
        .unwrap_or_else(|e| panic!("evaluating `{expression}`: {e}"))
        .value
        .unwrap_or(Value::Null)
}

/// Waits until `expression` is true in the page, polling every 50 ms.
fn wait_for(tab: &Tab, what: &str, expression: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if js(tab, expression) == Value::Bool(true) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not within {timeout:?}; outcome line: {}",
            js(tab, "document.getElementById('outcome').textContent")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn card(app: &AppName) -> String {
    format!("document.querySelector('.app[data-app=\"{app}\"]')")
}

fn serving(app: &AppName) -> String {
    format!("{}.querySelector('.serving').dataset.region", card(app))
}

/// Clicks the element `selector` with the mouse, as a person does.
fn click(tab: &Tab, selector: &str) {
    tab.wait_for_element(selector)
        .unwrap_or_else(|e| panic!("no `{selector}` on the page: {e}"))
        .click()
        .unwrap_or_else(|e| panic!("clicking `{selector}`: {e}"));
}

/// Waits for the confirmation dialog and confirms with the mouse.
fn confirm(tab: &Tab) {
    wait_for(
        tab,
        "the confirmation dialog",
        "document.getElementById('confirm').open",
        Duration::from_secs(3),
    );
    click(tab, "#confirm-ok");
}

fn outcome_is(tab: &Tab, what: &str, outcome: &str) {
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = runtime.block_on(async {
        let world = tokio::time::timeout(Duration::from_secs(10), World::start(topology()))
            .await
            .expect("the world starts within 10 s")
            .unwrap();
        let world = Arc::new(world);
        local_world::control::serve(world.clone()).expect("the control API's listener");
        world
    });
    let url = world.manifest().control_api.clone().unwrap();
    let topology = world.topology();
    let [primary, secondary]: [Region; 2] = topology.regions.both().map(Clone::clone);
    let service = topology.services().next().unwrap().name().clone();
    let local = &topology.local;
    let bound = local.ttl() + local.health_check_interval() + Duration::from_secs(1);

    let profile = tempfile::tempdir().unwrap();
    let browser = launch(profile.path());
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(10));
    tab.navigate_to(&format!("{url}/"))
        .unwrap()
        .wait_until_navigated()
        .unwrap();

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

    // "Shift orders to us-west-2", confirmed from the keyboard (the dialog focuses Confirm).
    let label = format!("Shift {service} to {secondary}");
    let shift = format!(
        "{}.querySelector('button[data-action=shift][data-region=\"{secondary}\"]')",
        card(&service)
    );
    assert_eq!(js(&tab, &format!("{shift}.textContent")), label.as_str());
    tab.find_element_by_xpath(&format!("//button[normalize-space()='{label}']"))
        .unwrap()
        .click()
        .unwrap();
    wait_for(
        &tab,
        "the confirmation dialog, focused on Confirm",
        "document.getElementById('confirm').open && document.activeElement.id === 'confirm-ok'",
        Duration::from_secs(3),
    );
    let confirmed = Instant::now();
    tab.press_key("Enter").unwrap();
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
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
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
    wait_for(
        &tab,
        "the quorum shown degraded",
        "document.getElementById('quorum').dataset.health === 'degraded'",
        Duration::from_secs(3),
    );
    let quorum = js(&tab, "document.getElementById('quorum').textContent");
    assert!(quorum.as_str().unwrap().contains("degraded"), "{quorum}");
    assert!(quorum.as_str().unwrap().contains("3 of 5"), "{quorum}");

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
    let control = &world.manifest().app(&service).unwrap().routing_controls;
    let on_secondary = control.iter().find(|c| c.region == secondary).unwrap();
    assert_eq!(
        world.cluster().routing_control_state(&on_secondary.arn),
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

    drop(tab);
    drop(browser);
    runtime.block_on(async {
        if let Ok(world) = Arc::try_unwrap(world) {
            world.shutdown().await;
        }
    });
}
