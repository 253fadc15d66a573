//! `GET /orders/{id}` on the memory store over loopback HTTP, next to a minimal axum handler
//! (the floor), measured two ways in one run:
//!
//! - **Rate**, in alternating one-second rounds (floor, then orders), so that whatever else
//!   the machine does at the time weighs on both alike. Closed loop: a fixed number of
//!   keep-alive connections, each sending its next request as soon as the previous one is
//!   answered; the server gets one core and the client the other. The verdict is the median
//!   of the rounds' ratios, since one busy second on a shared machine moves a mean.
//! - **Instructions per request** in the server, under callgrind (when `valgrind` is on
//!   `PATH`): the server runs as a child process under valgrind, the client here, so only
//!   the server's work is counted (its user-space instructions: hyper, the router, the
//!   handler). Two runs of different lengths are subtracted, so start-up cancels out. These
//!   counts do not move with the machine's load.
//!
//! Both routers run on the allocator of the service binaries (`kit::serve::Allocator`).

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use service_bench::{HOST, Subject};
use tokio::net::{TcpListener, TcpStream};

/// The allocator the service binaries run on, so both routers are measured as served.
#[global_allocator]
static ALLOCATOR: kit::serve::Allocator = kit::serve::Allocator;

const CONNECTIONS: usize = 32;
const WARM_UP: Duration = Duration::from_secs(1);
const ROUND: Duration = Duration::from_secs(1);
const ROUNDS: usize = 10;

/// The service's rate must be at least this fraction of the floor's.
const TARGET: f64 = 0.8;

/// Requests of the short and the long run under callgrind.
const COUNTED: [u64; 2] = [2_000, 12_000];

/// Set in the child that serves one subject under callgrind.
const SERVE_ENV: &str = "SERVICE_BENCH_SERVE";

fn main() {
    if let Ok(subject) = std::env::var(SERVE_ENV) {
        return serve_until_stdin_closes(&subject);
    }
    let server = runtime(1);
    let client = runtime(1);
    let (floor_router, floor_path) = server.block_on(Subject::Minimal.router());
    let (ours_router, ours_path) = server.block_on(Subject::Orders.router());
    let floor = server.block_on(serve(floor_router));
    let ours = server.block_on(serve(ours_router));

    println!(
        "GET /orders/{{id}}, {CONNECTIONS} keep-alive connections, {ROUNDS} alternating rounds of \
         {}s each, server and client on one core each",
        ROUND.as_secs()
    );
    client.block_on(run_for(floor, &floor_path, WARM_UP));
    client.block_on(run_for(ours, &ours_path, WARM_UP));
    let mut floor_result = Outcome::default();
    let mut ours_result = Outcome::default();
    let mut ratios = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let f = client.block_on(measure(floor, &floor_path));
        let o = client.block_on(measure(ours, &ours_path));
        ratios.push(o.rps() / f.rps());
        floor_result.add(f);
        ours_result.add(o);
    }
    println!("{:<28} {:>10} {:>10} {:>10}", "", "req/s", "p50", "p99");
    floor_result.print("minimal axum handler");
    ours_result.print("orders (memory store)");
    ratios.sort_by(f64::total_cmp);
    let median = (ratios[(ROUNDS - 1) / 2] + ratios[ROUNDS / 2]) / 2.0;
    println!(
        "orders / minimal handler: {median:.2}x the rate, median of {ROUNDS} rounds \
         (rounds {:.2} to {:.2}; all rounds together {:.2}x); target {TARGET}x: {}",
        ratios[0],
        ratios[ROUNDS - 1],
        ours_result.rps() / floor_result.rps(),
        if median >= TARGET { "met" } else { "NOT met" },
    );
    drop(server);
    instructions(&client);
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// One `GET path`, which must answer `200`.
async fn get(sender: &mut Sender, path: &str) {
    let request = Request::get(path)
        .header("host", HOST)
        .body(Full::new(Bytes::new()))
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.into_body().collect().await.unwrap();
}

/// Requests answered, their latencies and the time spent, summed over rounds.
struct Outcome {
    latency: Histogram<u64>,
    elapsed: Duration,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            latency: Histogram::new(3).unwrap(),
            elapsed: Duration::ZERO,
        }
    }
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        self.latency.add(&other.latency).unwrap();
        self.elapsed += other.elapsed;
    }

    fn rps(&self) -> f64 {
        self.latency.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, name: &str) {
        let us = |q: f64| format!("{} µs", self.latency.value_at_quantile(q));
        println!(
            "{name:<28} {:>10.0} {:>10} {:>10}",
            self.rps(),
            us(0.50),
            us(0.99)
        );
    }
}

/// One round against `addr`.
async fn measure(addr: SocketAddr, path: &str) -> Outcome {
    let started = Instant::now();
    let histograms = run_for(addr, path, ROUND).await;
    let elapsed = started.elapsed();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for h in &histograms {
        latency.add(h).unwrap();
    }
    Outcome { latency, elapsed }
}

async fn run_for(addr: SocketAddr, path: &str, length: Duration) -> Vec<Histogram<u64>> {
    let until = Instant::now() + length;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let path = path.to_owned();
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let mut latency = Histogram::<u64>::new(3).unwrap();
                while Instant::now() < until {
                    let sent = Instant::now();
                    get(&mut sender, &path).await;
                    latency.record(sent.elapsed().as_micros() as u64).unwrap();
                }
                latency
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

/// The instructions per request of each subject's server, and their ratio.
fn instructions(client: &tokio::runtime::Runtime) {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!(
            "instructions per request: skipped (no `valgrind` on PATH; apt-get install valgrind)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("service-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let [short, long] = COUNTED;
    let mut per_request = Vec::new();
    for subject in [Subject::Minimal, Subject::Orders] {
        let [a, b] = COUNTED.map(|n| client.block_on(counted_run(subject, n, &dir)));
        per_request.push((b - a) as f64 / (long - short) as f64);
    }
    std::fs::remove_dir_all(&dir).ok();
    let [floor, ours] = [per_request[0], per_request[1]];
    println!(
        "instructions per request in the server (callgrind, {long} minus {short} requests, \
         one connection): minimal handler {floor:.0}, orders {ours:.0}; \
         orders / minimal handler: {:.2}x the rate these allow",
        floor / ours
    );
}

/// Serves `subject` under callgrind, sends it `requests`, and returns the server's
/// instruction count.
async fn counted_run(subject: Subject, requests: u64, dir: &Path) -> u64 {
    let out = dir.join(format!("{}-{requests}.out", subject.name()));
    let mut child = Command::new("valgrind")
        .args(["--tool=callgrind", "--quiet"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().expect("this bench's path"))
        .env(SERVE_ENV, subject.name())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("valgrind starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the server's address");
    let (addr, path) = line.trim().split_once(' ').expect("`ADDRESS PATH`");
    let mut sender = connect(addr.parse().expect("an address")).await;
    for _ in 0..requests {
        get(&mut sender, path).await;
    }
    drop(sender);
    // Closing its stdin stops the server; valgrind writes the counts as it exits.
    drop(child.stdin.take());
    assert!(
        child.wait().expect("valgrind ran").success(),
        "the server under valgrind failed"
    );
    let counts = std::fs::read_to_string(&out).expect("callgrind's output");
    counts
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("callgrind's summary line")
}

/// The child's side: serve `subject` on a loopback port on one thread, print
/// `ADDRESS PATH`, and stop when stdin closes.
fn serve_until_stdin_closes(subject: &str) {
    let subject = Subject::parse(subject).expect("a subject's name");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let (router, path) = subject.router().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{} {path}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        let (closed, stop) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            std::io::copy(&mut std::io::stdin(), &mut std::io::sink()).ok();
            closed.send(()).ok();
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.await.unwrap_or(()) })
            .await
            .unwrap();
    });
}
