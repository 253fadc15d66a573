//! `cargo bench -p loadtest`: the generator's maximum sustained request rate against a minimal
//! loopback server, side by side with `oha` against the same server in the same run, and the
//! generator's CPU time per 1,000 requests (getrusage).
//!
//! The server runs in a child process (this same binary, `LOADTEST_BENCH_SERVE=1`) so the
//! generator's getrusage covers the generator alone. Both clients get 50 connections (oha's
//! default). Ours is measured twice: saturated (a schedule far above what the machine can do,
//! so it is limited by `max_in_flight` like a closed loop; only responses within the schedule
//! count) and open loop: the highest scheduled rate it sustains (every due request answered
//! without error, 99 % of them within the schedule, p99 from due time ≤ 50 ms).
//!
//! `LOADTEST_BENCH_SECONDS` sets each measurement's length (default 5).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use loadtest::{Report, Run, RunConfig};
use topology::manifest::Manifest;

const CONNECTIONS: usize = 50;
/// The open loop's in-flight cap: room for the bursts of one timer tick's worth of requests.
const OPEN_LOOP_IN_FLIGHT: usize = 256;
/// A rate is sustained only while the 99th percentile stays below this.
const MAX_P99_MS: f64 = 50.0;

fn main() {
    if std::env::var_os("LOADTEST_BENCH_SERVE").is_some() {
        serve();
        return;
    }
    let seconds: u64 = std::env::var("LOADTEST_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let duration = Duration::from_secs(seconds);
    let (mut server, port) = start_server();
    let url = format!("http://127.0.0.1:{port}/");
    println!(
        "loadtest benchmark: GET {url} (minimal server in a child process), {seconds} s per measurement, {CONNECTIONS} connections, {} CPUs",
        cpus()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let manifest = manifest(port);
    // Warm the server and the page cache.
    runtime.block_on(measure(
        &manifest,
        2_000,
        CONNECTIONS,
        Duration::from_secs(1),
    ));

    let oha = run_oha(&url, duration);
    // Far above what two cores can do: limited by the in-flight cap, like oha's closed loop.
    let saturated = runtime.block_on(measure(&manifest, 200_000, CONNECTIONS, duration));
    let sustained = runtime.block_on(sustained_rate(&manifest, saturated.rate, duration));

    println!();
    println!(
        "{:<54} {:>12} {:>22}",
        "client", "requests/s", "CPU ms per 1,000 req"
    );
    if let Some(o) = &oha {
        println!(
            "{:<54} {:>12.0} {:>22.1}",
            "oha (closed loop, -c 50)", o.rate, o.cpu_per_1000_ms
        );
    }
    println!(
        "{:<54} {:>12.0} {:>22.1}",
        "loadtest saturated (max_in_flight 50)", saturated.rate, saturated.cpu_per_1000_ms
    );
    if let Some(s) = &sustained {
        println!(
            "{:<54} {:>12.0} {:>22.1}",
            "loadtest open loop (max_in_flight 256), max sustained", s.rate, s.cpu_per_1000_ms
        );
    } else {
        println!("loadtest open loop: no tried rate was sustained");
    }
    if let Some(o) = &oha {
        println!(
            "ratio to oha: saturated {:.2}x, open loop sustained {}  (goal: at least 0.8x)",
            saturated.rate / o.rate,
            sustained
                .as_ref()
                .map_or_else(|| "n/a".to_owned(), |s| format!("{:.2}x", s.rate / o.rate))
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The minimal server: `GET /` → `ok` with an `x-region` header, on two worker threads.
fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("{}", listener.local_addr().expect("address").port());
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { ([("x-region", "us-east-1")], "ok") }),
        );
        axum::serve(listener, app).await.expect("serve");
    });
}

fn start_server() -> (Child, u16) {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env("LOADTEST_BENCH_SERVE", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the server's port");
    (child, line.trim().parse().expect("a port number"))
}

fn manifest(port: u16) -> Manifest {
    let panel = "arn:aws:route53-recovery-control::123456789012:controlpanel/p";
    let text = serde_json::json!({
        "manifest_version": 1,
        "environment": "local",
        "domain": "example.test",
        "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
        "cluster": {
            "arn": "arn:aws:route53-recovery-control::123456789012:cluster/c",
            "endpoints": [{"region": "us-east-1", "url": "http://127.0.0.1:9"}]
        },
        "apps": [{
            "name": "orders",
            "hostname": "orders.example.test",
            "url": format!("http://127.0.0.1:{port}"),
            "control_panel_arn": panel,
            "safety_rule_arn": format!("{panel}/safetyrule/s"),
            "routing_controls": [
                {"region": "us-east-1", "arn": format!("{panel}/routingcontrol/a")},
                {"region": "us-west-2", "arn": format!("{panel}/routingcontrol/b")}
            ],
            "regional_urls": []
        }]
    });
    Manifest::parse(&text.to_string(), "bench").expect("a valid manifest")
}

struct Measured {
    rate: f64,
    cpu_per_1000_ms: f64,
    report: Report,
}

/// CPU time (user + system) of this process, or of its waited-for children.
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

async fn measure(manifest: &Manifest, rate: u32, in_flight: usize, duration: Duration) -> Measured {
    let config = RunConfig {
        rate_per_app: rate,
        duration: Some(duration),
        max_in_flight: in_flight,
        // Reuse connections for the whole measurement, as oha does.
        max_connection_age: Duration::from_secs(3600),
        ..RunConfig::default()
    };
    let cpu_before = cpu_time(libc::RUSAGE_SELF);
    let run = Run::start(manifest, config).expect("start");
    let report = run.wait().await;
    let cpu = cpu_time(libc::RUSAGE_SELF) - cpu_before;
    let app = &report.apps[0];
    // Only what completed within the schedule: backlogged requests finishing after it ended
    // would inflate the rate.
    let within: u64 = app
        .seconds
        .iter()
        .take(duration.as_secs() as usize)
        .map(|s| s.completed - s.errors)
        .sum();
    Measured {
        rate: within as f64 / duration.as_secs_f64(),
        cpu_per_1000_ms: cpu.as_secs_f64() * 1000.0 / (app.requests.max(1) as f64 / 1000.0),
        report,
    }
}

/// The highest open-loop rate sustained, trying from `ceiling` down in 5 % steps: every due
/// request sent and answered without error, 99 % of the schedule completed within it, and the
/// 99th percentile (from due time, so queueing included) within `MAX_P99_MS`: the queue is
/// not growing.
async fn sustained_rate(manifest: &Manifest, ceiling: f64, duration: Duration) -> Option<Measured> {
    for step in 0..10 {
        let rate = (ceiling * (1.0 - 0.05 * f64::from(step))) as u32;
        let m = measure(manifest, rate, OPEN_LOOP_IN_FLIGHT, duration).await;
        let app = &m.report.apps[0];
        let due: u64 = app.seconds.iter().map(|s| s.sent).sum();
        let ok = app.not_sent == 0
            && app.errors.total == 0
            && app.requests == due
            && m.rate * 100.0 >= f64::from(rate) * 99.0
            && app.latency_ms.p99 <= MAX_P99_MS;
        println!(
            "  open loop at {rate:>7}/s: {:>7.0}/s completed, {} late, {} not sent, p99 {:.2} ms -> {}",
            m.rate,
            app.late,
            app.not_sent,
            app.latency_ms.p99,
            if ok { "sustained" } else { "not sustained" }
        );
        if ok {
            return Some(Measured {
                rate: f64::from(rate),
                ..m
            });
        }
    }
    None
}

struct OhaResult {
    rate: f64,
    cpu_per_1000_ms: f64,
}

fn find_oha() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo/bin/oha"));
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("oha"))
            .find(|p| p.is_file())
    });
    on_path.or(home.filter(|p| p.is_file()))
}

fn run_oha(url: &str, duration: Duration) -> Option<OhaResult> {
    let Some(oha) = find_oha() else {
        println!(
            "NOTE: oha is not installed (not on PATH nor in ~/.cargo/bin): skipping the side-by-side comparison. Install it with `cargo install oha --locked`."
        );
        return None;
    };
    let cpu_before = cpu_time(libc::RUSAGE_CHILDREN);
    let output = Command::new(&oha)
        .args([
            "-z",
            &format!("{}s", duration.as_secs()),
            "-c",
            &CONNECTIONS.to_string(),
        ])
        .args(["--no-tui", "--output-format", "json", url])
        .output();
    let cpu = cpu_time(libc::RUSAGE_CHILDREN) - cpu_before;
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            println!(
                "NOTE: oha failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
        Err(e) => {
            println!("NOTE: cannot run {}: {e}", oha.display());
            return None;
        }
    };
    let json: serde_json::Value = match serde_json::from_slice(&output.stdout) {
        Ok(v) => v,
        Err(e) => {
            println!("NOTE: cannot read oha's JSON output: {e}");
            return None;
        }
    };
    let rate = json["summary"]["requestsPerSec"].as_f64()?;
    let total = rate * duration.as_secs_f64();
    Some(OhaResult {
        rate,
        cpu_per_1000_ms: cpu.as_secs_f64() * 1000.0 / (total / 1000.0),
    })
}
