//! The `failover` command line: flags, confirmation, output. `main.rs` only parses
//! and calls [`run`].

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use topology::manifest::{LOCAL_MANIFEST_PATH, Manifest};
use topology::{AppName, Region, SafetyRuleArn};

use crate::client::{Answer, Client, ClientConfig};
use crate::error::{FailoverError, exit};
use crate::gate::{GateConfig, GateReport, seconds};
use crate::ops::{ShiftOptions, ShiftOutcome, Status};
use crate::prompt::PromptError;
use crate::verify::{Outcome, Verified, VerifyConfig, VerifyError, prepare, verify_all};

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  other failure (no AWS credentials, ARC rejected the request as invalid, access denied)
  2  usage error: bad flags, unknown app or Region, missing or unknown manifest
  3  refused by a safety rule (the message names the rule's ARN); nothing changed
  4  no ARC cluster endpoint reachable, or the cluster lost its quorum; nothing changed
  5  --verify: the routing controls changed, but a stage did not show the target Region in time
     (the failed stage and what it saw are printed)
  6  refused: replication behind. The target Region's copy of a moved app's table lags more
     than --max-replication-lag (default 5s); nothing changed. --force moves anyway

Before a move, the replication gate reads each moved service's table in the target Region:
locally from the world's control API, on AWS the table's ReplicationLatency metric (CloudWatch
GetMetricData, in the Region the changes come from). --dry-run shows the reading.

--verify times four stages from the call: (1) the new states read back from 3 cluster
endpoints, each asked alone; (2) the zone's authoritative DNS answer; (3) a recursive
resolver's answer (the system resolver on AWS; --resolver names another); (4) the first
GET / answered with the target Region's x-region.

Only ARC data-plane calls are made (UpdateRoutingControlStates, GetRoutingControlState,
ListRoutingControls): no control-plane call, no DNS edit, no redeploy. Each call tries the cluster's endpoints in turn,
starting with the last one that answered, and succeeds while any one endpoint answers.

Examples:
  failover status
  failover shift orders --to us-west-2 --yes --verify
  failover evacuate us-east-1 --yes
  failover shift orders payments --to us-east-1 --dry-run --json";

/// Move apps between Regions with Route 53 ARC routing controls.
#[derive(Debug, Parser)]
#[command(name = "failover", version, after_long_help = EXIT_CODES, after_help = "Exit codes: 0 done, 1 other, 2 usage, 3 refused by a safety rule, 4 no endpoint/quorum lost, 5 verification failed at a stage, 6 refused: replication behind (see --help)")]
pub struct Cli {
    /// The deployment manifest [default: .local/deployment.json, when present].
    #[arg(long, global = true, env = "FAILOVER_MANIFEST")]
    pub manifest: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// TCP connect timeout per attempt (e.g. 500ms, 1s).
    #[arg(long, global = true, value_parser = parse_duration, default_value = "1s")]
    pub connect_timeout: Duration,
    /// Timeout of one attempt against one endpoint.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "2s")]
    pub attempt_timeout: Duration,
    /// Give up on a call after this long, all endpoints tried.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "15s")]
    pub deadline: Duration,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show both routing controls of every app and the Region Route 53 answers with.
    Status,
    /// Move apps to a Region: its routing control ON, the other OFF, in one atomic batch.
    Shift {
        /// The apps to move (e.g. orders payments).
        #[arg(required = true, value_name = "APP")]
        apps: Vec<AppName>,
        /// The Region to move them to.
        #[arg(long, value_name = "REGION")]
        to: Region,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Move every app away from a Region.
    Evacuate {
        /// The Region to leave.
        #[arg(value_name = "REGION")]
        region: Region,
        #[command(flatten)]
        change: ChangeArgs,
    },
}

/// Flags of the commands that change routing controls.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Print the batch(es) that would be sent; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Break glass: bypass these safety rules (each named by its ARN).
    #[arg(long, value_name = "RULE_ARN", num_args = 1..)]
    pub override_safety_rules: Vec<SafetyRuleArn>,
    /// After the change, time each stage until traffic reaches the target Region: quorum
    /// read-back, authoritative DNS, recursive DNS, `GET /`.
    #[arg(long)]
    pub verify: bool,
    /// How long --verify waits, from the call.
    #[arg(long, value_parser = parse_duration, default_value = "120s", value_name = "DURATION")]
    pub verify_timeout: Duration,
    /// The recursive resolver --verify asks at stage 3 (IP:PORT), instead of the system's.
    #[arg(long, value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Refuse (exit 6) when the target Region's copy of a moved app's table lags more.
    #[arg(long, value_parser = parse_duration, default_value = "5s", value_name = "DURATION")]
    pub max_replication_lag: Duration,
    /// Move even when replication is behind or its lag cannot be read (writes not yet
    /// replicated may be served stale or overwritten).
    #[arg(long)]
    pub force: bool,
}

/// The longest timeout or deadline the CLI takes: anything longer is a typo.
const LONGEST: Duration = Duration::from_secs(3600);

/// `250ms`, `2s`, `1.5s`, `2m` (the topology's duration syntax), up to an hour.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = topology::duration::parse(text).map_err(|e| e.to_string())?;
    if duration >= LONGEST {
        return Err(format!(
            "`{text}` is longer than a failover timeout should be (under 1h)"
        ));
    }
    Ok(duration)
}

/// Runs the command; returns the exit code.
pub async fn run(cli: Cli) -> u8 {
    let json = cli.json;
    match dispatch(cli).await {
        Ok(()) => exit::OK,
        Err(error) => {
            let code = error.exit_code();
            // A failed verification printed its own document (the shift and every stage).
            if json && !matches!(error, FailoverError::Verify(VerifyError::Stage { .. })) {
                println!(
                    "{}",
                    json!({ "error": error.to_string(), "exit_code": code })
                );
            }
            eprintln!("error: {error}");
            code
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), FailoverError> {
    let config = ClientConfig {
        connect_timeout: cli.connect_timeout,
        attempt_timeout: cli.attempt_timeout,
        deadline: cli.deadline,
        ..ClientConfig::default()
    };
    match cli.command {
        Command::Status => {
            let client = client(cli.manifest.as_deref(), config)?;
            let status = client.status().await?;
            if cli.json {
                println!("{}", to_json(&status));
            } else {
                print_status(&status, client.manifest());
            }
            Ok(())
        }
        Command::Shift { apps, to, change } => {
            let client = client(cli.manifest.as_deref(), config)?;
            change_routing(&client, &apps, &to, change, cli.json).await
        }
        Command::Evacuate { region, change } => {
            let client = client(cli.manifest.as_deref(), config)?;
            let manifest = client.manifest();
            let to = manifest.regions.other(&region).cloned().ok_or_else(|| {
                FailoverError::Usage(format!(
                    "Region `{region}` is not one of this deployment's Regions ({}, {})",
                    manifest.regions.primary, manifest.regions.secondary
                ))
            })?;
            let apps: Vec<AppName> = manifest.apps.iter().map(|a| a.name.clone()).collect();
            change_routing(&client, &apps, &to, change, cli.json).await
        }
    }
}

/// Loads the manifest (the flag, else `.local/deployment.json`) and builds the client.
fn client(path: Option<&Path>, config: ClientConfig) -> Result<Client, FailoverError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None if Path::new(LOCAL_MANIFEST_PATH).exists() => PathBuf::from(LOCAL_MANIFEST_PATH),
        None => {
            return Err(FailoverError::Usage(format!(
                "no manifest: {LOCAL_MANIFEST_PATH} does not exist here. Start the local world (`just local`, or `cargo run -p local-world -- run`) or deploy (`infra deploy`), or pass --manifest PATH"
            )));
        }
    };
    let manifest = Manifest::load(&path)?;
    Client::from_manifest(&manifest, config)
}

async fn change_routing(
    client: &Client,
    apps: &[AppName],
    to: &Region,
    change: ChangeArgs,
    json: bool,
) -> Result<(), FailoverError> {
    let opts = ShiftOptions {
        override_safety_rules: change.override_safety_rules.clone(),
        dry_run: true,
    };
    // Build (and check) the plan first: a bad app or Region fails before any prompt.
    let plan = client.shift(apps, to, opts.clone()).await?;
    let gate = read_gate(client, &plan.apps, to, &change).await?;
    let refusal = gate.as_ref().and_then(GateReport::refusal);
    if change.dry_run {
        if json {
            let mut value = serde_json::to_value(&plan).expect("plain data serializes");
            value["gate"] = serde_json::to_value(&gate).expect("plain data serializes");
            value["gate_refuses"] = (refusal.is_some() && !change.force).into();
            println!("{}", to_json(&value));
        } else {
            print_plan(
                &mut std::io::stdout(),
                &plan,
                "dry run: nothing sent. Would send",
            );
            if let Some(gate) = &gate {
                print_gate(&mut std::io::stdout(), gate);
            }
            match &refusal {
                Some(refusal) if !change.force => {
                    println!("without --dry-run the gate would refuse this move (exit 6)");
                }
                _ => println!("the gate would let this move through"),
            }
        }
        return Ok(());
    }
    if let Some(gate) = gate.as_ref().filter(|_| !json) {
        print_gate(&mut std::io::stderr(), gate);
    }
    if let Some(refusal) = refusal {
        if !change.force {
            return Err(refusal);
        }
        eprintln!("warning: --force: moving although {refusal}");
    }
    if !change.yes {
        confirm(&plan)?;
    }
    let config = VerifyConfig {
        timeout: change.verify_timeout,
        resolver: change.resolver,
        ..VerifyConfig::default()
    };
    // Before the shift: the recursive resolver caches the answer clients hold now.
    // All apps at once: a hung resolver delays the shift by one timeout, not one per app.
    let prepared = if change.verify {
        futures::future::try_join_all(
            plan.apps
                .iter()
                .map(|app| prepare(client.manifest(), app, &config)),
        )
        .await?
    } else {
        Vec::new()
    };
    let since = tokio::time::Instant::now();
    let outcome = client
        .shift(
            apps,
            to,
            ShiftOptions {
                dry_run: false,
                ..opts
            },
        )
        .await?;
    if !json {
        print_outcome(&outcome);
    }
    if !change.verify {
        if json {
            println!("{}", json!({ "gate": gate, "shift": outcome }));
        }
        return Ok(());
    }
    if !json {
        eprintln!("verifying: timing each stage until traffic reaches {to} ...");
    }
    let results = verify_all(client, &prepared, to, since, &config).await;
    let mut reports: Vec<Verified> = Vec::new();
    let mut failure: Option<VerifyError> = None;
    for result in results {
        match result {
            Ok(report) => reports.push(report),
            Err(error) => {
                if let Some(report) = error.report() {
                    reports.push(report.clone());
                }
                failure.get_or_insert(error);
            }
        }
    }
    if json {
        let mut doc = json!({ "gate": gate, "shift": outcome, "verified": reports });
        if let Some(error) = failure.as_ref().filter(|e| e.is_timeout()) {
            doc["error"] = error.to_string().into();
            doc["exit_code"] = exit::VERIFY_TIMEOUT.into();
        }
        println!("{}", to_json(&doc));
    } else {
        print_verified(&reports);
    }
    failure.map_or(Ok(()), |e| Err(FailoverError::Verify(e)))
}

/// The gate's reading, or `None` when forced past a reading that failed.
async fn read_gate(
    client: &Client,
    apps: &[AppName],
    to: &Region,
    change: &ChangeArgs,
) -> Result<Option<GateReport>, FailoverError> {
    let config = GateConfig {
        max_lag: change.max_replication_lag,
        ..GateConfig::default()
    };
    match crate::gate::read(client.manifest(), apps, to, &config).await {
        Ok(report) => Ok(Some(report)),
        Err(error) if change.force => {
            eprintln!("warning: --force: moving without the replication gate: {error}");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Asks on the terminal; refuses to ask anything that is not one.
fn confirm(plan: &ShiftOutcome) -> Result<(), FailoverError> {
    if std::io::stdin().is_terminal() {
        print_plan(&mut std::io::stderr(), plan, "About to send");
    }
    match crate::prompt::confirm("Proceed?") {
        Ok(true) => Ok(()),
        Ok(false) => Err(FailoverError::Usage(
            "not confirmed; nothing was changed".into(),
        )),
        Err(PromptError::NotATerminal) => Err(FailoverError::Usage(
            "stdin is not a terminal, so there is no one to confirm this change: pass --yes to proceed (or --dry-run to see it)".into(),
        )),
        Err(e) => Err(FailoverError::Usage(e.to_string())),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("plain data serializes")
}

fn on_off(on: bool) -> &'static str {
    if on { "ON" } else { "OFF" }
}

fn answered(answer: &Answer) -> String {
    format!(
        "answered by {} ({}) after {} attempt{}, {} ms",
        answer.endpoint.region,
        answer.endpoint.url,
        answer.attempts,
        if answer.attempts == 1 { "" } else { "s" },
        answer.elapsed_ms
    )
}

fn print_status(status: &Status, manifest: &Manifest) {
    let (p, s) = (&manifest.regions.primary, &manifest.regions.secondary);
    let width = status
        .apps
        .iter()
        .map(|a| a.app.as_str().len())
        .max()
        .unwrap_or(3)
        .max(3);
    let pc = format!("{p} (primary)");
    let sc = format!("{s} (secondary)");
    println!("{:<width$}  {pc:<24}  {sc:<24}  SERVING", "APP");
    for app in &status.apps {
        println!(
            "{:<width$}  {:<24}  {:<24}  {}{}",
            app.app.as_str(),
            on_off(app.controls[0].on),
            on_off(app.controls[1].on),
            app.active,
            if app.warning.is_some() { "  (!)" } else { "" }
        );
    }
    for app in &status.apps {
        if let Some(w) = &app.warning {
            println!("warning: {}: {w}", app.app);
        }
    }
    println!("{}", answered(&status.answer));
}

/// The batches of a plan: on stdout for a dry run (it is the output), on stderr before a prompt.
fn print_plan(out: &mut dyn Write, plan: &ShiftOutcome, verb: &str) {
    let n = plan.batches.len();
    let mut text = format!(
        "{verb} {n} UpdateRoutingControlStates batch{} to move {} to {}:\n",
        if n == 1 { "" } else { "es" },
        names(&plan.apps),
        plan.to
    );
    if n > 1 {
        text.push_str("  (split: ARC takes at most 10 routing controls per batch; each batch leaves every app in it with one Region ON)\n");
    }
    for (i, batch) in plan.batches.iter().enumerate() {
        text.push_str(&format!("  batch {}:\n", i + 1));
        for c in &batch.changes {
            text.push_str(&format!(
                "    {:<10} {:<15} {:<3}  {}\n",
                c.app.as_str(),
                c.region.as_str(),
                on_off(c.on),
                c.routing_control
            ));
        }
    }
    if !plan.overridden.is_empty() {
        text.push_str("  overriding safety rules (break glass):\n");
        for r in &plan.overridden {
            text.push_str(&format!("    {r}\n"));
        }
    }
    let _ = out.write_all(text.as_bytes());
}

fn print_outcome(outcome: &ShiftOutcome) {
    println!("{:<10}  {:<15}  STATE", "APP", "REGION");
    for batch in &outcome.batches {
        for c in &batch.changes {
            println!(
                "{:<10}  {:<15}  {}",
                c.app.as_str(),
                c.region.as_str(),
                on_off(c.on)
            );
        }
    }
    for (i, batch) in outcome.batches.iter().enumerate() {
        if let Some(a) = &batch.answer {
            println!("batch {}/{}: {}", i + 1, outcome.batches.len(), answered(a));
        }
    }
    println!(
        "done: {} now routed to {} (Route 53 follows within its health-check interval plus the record TTL)",
        names(&outcome.apps),
        outcome.to
    );
}

/// The gate's readings: on stdout for a dry run, on stderr before a move.
fn print_gate(out: &mut dyn Write, gate: &GateReport) {
    let mut text = format!(
        "replication gate (refuses above {}):\n",
        seconds(gate.max_lag_ms)
    );
    for r in &gate.readings {
        let verdict = match r.lag_ms {
            None => "not gated".to_owned(),
            Some(lag) if lag > gate.max_lag_ms => format!("BEHIND {}", seconds(lag)),
            Some(lag) => format!("ok, {} behind", seconds(lag)),
        };
        let pending = r
            .pending
            .map_or_else(String::new, |p| format!(", {p} pending"));
        text.push_str(&format!(
            "  {:<10} {:<15} {:<16} {verdict}{pending}  ({})\n",
            r.app.as_str(),
            r.region.as_str(),
            r.table.as_deref().unwrap_or("-"),
            r.source
        ));
    }
    let _ = out.write_all(text.as_bytes());
}

/// The stages of each app as a table: time from the call, outcome, what was seen.
fn print_verified(verified: &[Verified]) {
    println!(
        "{:<10}  {:<21}  {:>8}  {:<7}  SEEN",
        "APP", "STAGE", "T+", "RESULT"
    );
    for v in verified {
        for stage in &v.stages {
            let at = stage.elapsed_ms.map_or_else(|| "-".to_owned(), seconds);
            let outcome = match stage.outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => "skipped",
            };
            println!(
                "{:<10}  {:<21}  {at:>8}  {outcome:<7}  {}",
                v.app.as_str(),
                stage.stage.label(),
                stage.detail
            );
        }
        if v.passed() {
            println!(
                "verified: {} answers from {} after {} ({} look{})",
                v.app,
                v.region,
                seconds(v.elapsed_ms),
                v.polls,
                if v.polls == 1 { "" } else { "s" }
            );
        }
    }
}

fn names(apps: &[AppName]) -> String {
    apps.iter()
        .map(AppName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
