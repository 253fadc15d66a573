//! `loadtest`: traffic against a deployment (local world or AWS), with Region attribution, a
//! live view, and a report (summary table, report.json, timeline.svg).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use loadtest::token::{TokenRequest, request_token};
use loadtest::{
    BearerToken, ConnectionReuse, LiveView, REPORT_SCHEMA_VERSION, Run, RunConfig, Scenario,
    parse_duration,
};
use topology::AppName;
use topology::manifest::{LOCAL_MANIFEST_PATH, Manifest};

/// What each exit code means (`--help` shows it).
const EXIT_CODES: &str = "\
Exit codes:
  0  done (pending writes of the consistency scenario are reported, not failed)
  1  the run could not start (manifest, settings, DNS, TLS) or its report could not be written
  2  usage error: bad flags
  3  consistency scenario: an acknowledged write was lost (no read target ever returned it)";

/// The exit code of a run that lost an acknowledged write.
const EXIT_WRITE_LOST: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    version,
    about = "DNS-aware traffic with per-request Region attribution, a failover timeline and a report",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send traffic to the deployment's apps until the duration passes or Ctrl-C, then report.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Print the summary table of a report.json and draw its timeline.svg again, next to it.
    Render {
        /// A report.json written by `loadtest run` or `local-world demo`.
        report: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The deployment manifest written by `local-world run` or `infra deploy`.
    #[arg(long, default_value = LOCAL_MANIFEST_PATH)]
    manifest: PathBuf,
    /// Apps to send traffic to, comma-separated (e.g. api,orders); default: every app of the manifest.
    #[arg(long, value_delimiter = ',')]
    apps: Vec<AppName>,
    /// Requests per second per app, on a fixed schedule (open loop: a slow response never delays the next request).
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// How long to send, e.g. 30s, 2m, 500ms; default: until Ctrl-C.
    #[arg(long, value_parser = duration)]
    duration: Option<Duration>,
    /// What the requests do.
    #[arg(long, value_enum, default_value_t)]
    scenario: Scenario,
    /// Folder for report.json and timeline.svg; default: .local/loadtest-<unix time>.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the report as JSON on stdout (the live view goes to stderr).
    #[arg(long)]
    json: bool,
    /// Requests in flight per app at most; a request due while it is reached is sent late (and counted).
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Time allowed for a whole request (connect, send, read), e.g. 2s.
    #[arg(long, default_value = "2s", value_parser = duration)]
    timeout: Duration,
    /// A kept-alive connection older than this is closed, not reused; 0 opens one per request.
    /// Longer ages show how kept-alive connections keep reaching the old Region after a failover.
    #[arg(long, default_value = "500ms", value_parser = duration)]
    max_connection_age: Duration,
    /// Which kept-alive connection a request may reuse.
    #[arg(long, value_enum, default_value_t)]
    connection_reuse: ConnectionReuse,
    /// Consistency scenario: how long after the run writes not yet found everywhere are still
    /// read back, before they are reported pending, lost or unread.
    #[arg(long, default_value = "5s", value_parser = duration)]
    consistency_grace: Duration,
    /// A PEM file of certificate authorities to trust for https apps, besides the system's
    /// (repeatable).
    #[arg(long = "ca-file", value_name = "PATH")]
    ca_files: Vec<PathBuf>,
    /// A bearer token for the `api` app's routes, sent on every request. Without it, a token
    /// with every scope the routes need is asked of the token issuer the manifest names (the
    /// local world's); on AWS pass one from your identity provider.
    #[arg(
        long,
        env = "LOADTEST_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Render { report } => render(&report),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs, prints and writes the report; exits 3 when the consistency scenario lost a write.
async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    let config = RunConfig {
        apps: args.apps.clone(),
        rate_per_app: args.rate,
        duration: args.duration,
        scenario: args.scenario,
        max_in_flight: args.max_in_flight,
        request_timeout: args.timeout,
        max_connection_age: args.max_connection_age,
        connection_reuse: args.connection_reuse,
        consistency_grace: args.consistency_grace,
        extra_root_certificates: args.ca_files.clone(),
        bearer_token: bearer_token(&args, &manifest).await?,
        ..RunConfig::default()
    };
    let run = Run::start(&manifest, config).context("cannot start the run")?;
    let live = Live::new(&run, args.json);
    let interrupted = tokio::select! {
        _ = live.follow(&run) => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    live.finish(&run, interrupted);
    let report = run.stop().await;
    let dir = args.report.unwrap_or_else(default_report_dir);
    let (json, svg) = report
        .write(&dir)
        .with_context(|| format!("cannot write the report to {}", dir.display()))?;
    if args.json {
        println!("{}", report.to_json());
        eprintln!("Report: {} and {}", json.display(), svg.display());
    } else {
        println!("\n{}", report.summary_table());
        println!("Report: {} and {}", json.display(), svg.display());
    }
    let lost = report.consistency().lost;
    if lost > 0 {
        eprintln!(
            "error: {lost} acknowledged write{} lost: no read target ever returned {} (see `lost_writes` in the report)",
            if lost == 1 { " was" } else { "s were" },
            if lost == 1 { "it" } else { "them" }
        );
        return Ok(ExitCode::from(EXIT_WRITE_LOST));
    }
    Ok(ExitCode::SUCCESS)
}

/// The token of `--token`, else one from the manifest's token issuer, living through the run
/// (half a day for a run until Ctrl-C); none when the manifest names no issuer.
async fn bearer_token(args: &RunArgs, manifest: &Manifest) -> anyhow::Result<Option<BearerToken>> {
    if let Some(token) = &args.token {
        return Ok(Some(BearerToken::new(token).context("--token")?));
    }
    let Some(auth) = &manifest.auth else {
        return Ok(None);
    };
    // The local issuer grants a day at most.
    let ttl = args
        .duration
        .map_or(Duration::from_secs(12 * 3600), |d| {
            d + Duration::from_secs(600)
        })
        .min(Duration::from_secs(24 * 3600));
    let request = TokenRequest {
        scopes: Vec::new(),
        subject: Some("loadtest".into()),
        ttl,
    };
    let issued = request_token(auth, &request)
        .await
        .context("cannot get a token for the api app (or pass --token)")?;
    eprintln!(
        "token: from {} for `loadtest`, scopes {}",
        auth.issuer, issued.scope
    );
    Ok(Some(BearerToken::new(&issued.access_token)?))
}

fn render(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["schema_version"].as_u64());
    if let Some(version) = version.filter(|v| *v != u64::from(REPORT_SCHEMA_VERSION)) {
        anyhow::bail!(
            "{} has schema_version {version}; this loadtest reads {REPORT_SCHEMA_VERSION}: run it again to get a report in this version",
            path.display()
        );
    }
    let report: loadtest::Report = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a loadtest report", path.display()))?;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let (_, svg) = report
        .write(dir)
        .with_context(|| format!("cannot write to {}", dir.display()))?;
    println!("{}", report.summary_table());
    println!("Timeline: {}", svg.display());
    Ok(ExitCode::SUCCESS)
}

fn default_report_dir() -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!(".local/loadtest-{now}"))
}

/// The live view: one redrawn line per app on a terminal, plain lines every few seconds
/// otherwise (logs, CI).
struct Live {
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    to_stderr: bool,
}

impl Live {
    fn new(run: &Run, json: bool) -> Self {
        let terminal = if json {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let bars = terminal.then(|| {
            let target = if json {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::stdout()
            };
            let multi = MultiProgress::with_draw_target(target);
            let style = ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = run
                .live()
                .apps
                .iter()
                .map(|_| multi.add(ProgressBar::new_spinner().with_style(style.clone())))
                .collect();
            (multi, bars)
        });
        Self {
            bars,
            to_stderr: json,
        }
    }

    async fn follow(&self, run: &Run) {
        let tick = if self.bars.is_some() {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(2)
        };
        loop {
            tokio::time::sleep(tick).await;
            let view = run.live();
            self.show(&view);
            if run.schedule_finished() {
                return;
            }
        }
    }

    fn show(&self, view: &LiveView) {
        match &self.bars {
            Some((_, bars)) => {
                for (bar, app) in bars.iter().zip(&view.apps) {
                    bar.set_message(line(app));
                    bar.tick();
                }
            }
            None => {
                let mut text = String::new();
                for app in &view.apps {
                    text.push_str(&format!(
                        "[{:>6.1} s] {}\n",
                        view.elapsed.as_secs_f64(),
                        line(app)
                    ));
                }
                self.print(&text);
            }
        }
    }

    fn print(&self, text: &str) {
        if self.to_stderr {
            eprint!("{text}");
        } else {
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
    }

    fn finish(&self, run: &Run, interrupted: bool) {
        // Plain lines were printed every few seconds already; the bars show the last state.
        if let Some((_, bars)) = &self.bars {
            self.show(&run.live());
            for bar in bars {
                bar.finish();
            }
        }
        let why = if interrupted { "interrupted" } else { "done" };
        self.print(&format!(
            "{why}: waiting for requests in flight, then reporting\n"
        ));
    }
}

/// One app's live line.
fn line(app: &loadtest::AppLive) -> String {
    let region = match (app.recent_regions.as_slice(), &app.last_region) {
        ([one], _) => one.to_string(),
        ([], Some(last)) => format!("no answer (last {last})"),
        ([], None) => "no answer yet".to_owned(),
        (many, _) => format!(
            "mixed {}",
            many.iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join("+")
        ),
    };
    let switch = app.last_switch.as_ref().map_or_else(String::new, |s| {
        format!(
            "  last switch {} -> {} at {:.1} s",
            s.from,
            s.to,
            s.at.as_secs_f64()
        )
    });
    format!(
        "{:<10} {:<28} {:>6}/s  requests {:>8}  errors {:>6}  late {:>5}{switch}",
        app.app.as_str(),
        region,
        app.rate,
        app.requests,
        app.errors,
        app.late + app.not_sent,
    )
}
