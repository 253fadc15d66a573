//! `local-world run` as a user runs it: it starts, writes the manifest, answers DNS for the local
//! domain, logs its warnings on stderr, and on Ctrl-C (SIGINT) or SIGTERM stops cleanly and
//! removes the manifest.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;

use topology::manifest::Manifest;

fn resolver(server: SocketAddr) -> TokioResolver {
    common::resolver(server, false, Default::default())
}

#[tokio::test]
async fn run_serves_until_ctrl_c_and_cleans_up() {
    serves_until("INT", 33).await;
}

#[tokio::test]
async fn run_stops_cleanly_on_sigterm() {
    serves_until("TERM", 35).await;
}

/// Runs `local-world run` with its Regions on 127.0.`network`.x and the next network, checks
/// it serves, sends `signal` and expects a clean stop.
async fn serves_until(signal: &str, network: u8) {
    let dir = tempfile::tempdir().unwrap();
    let text = common::on_networks(&common::topology_text(), network);
    std::fs::write(dir.path().join("topology.toml"), text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-world"))
        .arg("run")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let manifest_path = dir.path().join(".local/deployment.json");
    let started = Instant::now();
    while !manifest_path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no manifest after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let manifest = Manifest::load(&manifest_path).unwrap();
    let dns = manifest
        .dns_server
        .expect("a local manifest names its DNS server");
    let first = common::first();
    let answer = resolver(dns)
        .lookup_ip(format!("{first}.example.test."))
        .await
        .unwrap();
    let ips: Vec<_> = answer.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(
        ips,
        vec![format!("127.0.{network}.2")],
        "{first} answers from the primary"
    );
    let control = manifest
        .control_api
        .expect("a local manifest names its control API");
    let state = reqwest::get(format!("{control}/state")).await.unwrap();
    assert_eq!(state.status(), 200);

    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("it stops within 10 s of the signal")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        !manifest_path.exists(),
        "the manifest of a stopped world is removed"
    );
}

/// `local-world run` logs its warnings on stderr: here the write fence failing open, when no
/// ARC endpoint answers and a write comes in.
#[tokio::test]
async fn run_logs_a_fence_failing_open_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let fenced = common::first();
    let text = common::on_networks(&common::with_fencing(&common::topology_text(), &fenced), 89);
    std::fs::write(dir.path().join("topology.toml"), &text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-world"))
        .arg("run")
        .current_dir(dir.path())
        // The default filter, as a user who sets nothing gets it.
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let logged = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .unwrap();
        text
    });
    let manifest_path = dir.path().join(".local/deployment.json");
    let started = Instant::now();
    while !manifest_path.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "no manifest");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let manifest = Manifest::load(&manifest_path).unwrap();
    let control = manifest.control_api.clone().unwrap();
    let http = reqwest::Client::new();
    for index in 0..manifest.cluster().unwrap().endpoints.len() {
        let down = http
            .post(format!("{control}/faults/arc/{index}"))
            .json(&serde_json::json!({"fault": "down"}))
            .send()
            .await
            .unwrap();
        assert_eq!(down.status(), 200);
    }
    let topology = topology::Topology::parse(&text).unwrap();
    let ip = topology
        .local_address(&fenced, &topology.regions.primary)
        .unwrap();
    let write = common::trusted_client(&manifest)
        .build()
        .unwrap()
        .post(format!("https://{ip}:{}/{fenced}", topology.local.app_port))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(
        write.status().is_client_error(),
        "let through to the service, which refuses the empty body: {}",
        write.status()
    );

    common::interrupt_and_expect_clean_stop(&mut child).await;
    let logged = logged.await.unwrap();
    let warning = logged
        .lines()
        .find(|l| l.contains("letting writes through"))
        .unwrap_or_else(|| panic!("no warning on stderr:\n{logged}"));
    assert!(warning.contains("WARN"), "{warning}");
}
