//! The flags and subcommands, and the exit codes `--help` documents.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use topology::{AppName, Region, SafetyRuleArn};

const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  other failure (no AWS credentials, ARC or CloudWatch rejected the request as invalid,
     access denied)
  2  usage error: bad flags, unknown app or Region, missing or unknown manifest
  3  refused by a safety rule (the message names the rule's ARN); nothing changed. ARC only:
     the health-check mechanism has no safety rules, so 3 cannot happen there
  4  unreachable: the move was not made. ARC: no cluster endpoint reachable, or the cluster
     lost its quorum. health-check: the target Region's CloudWatch, into which the flag that
     takes the other Region out is published, did not answer before --deadline (status: no
     Region's CloudWatch answered)
  5  --verify: the move was made, but a stage did not show the target Region in time
     (the failed stage and what it saw are printed)
  6  refused: replication behind. The target Region's copy of a moved app's table lags more
     than --max-replication-lag (default 5s); nothing changed. --force moves anyway
  7  plan run: an approval step was not given (no --yes, no --approve STEP, no terminal)
  8  plan run: a step of its own failed (a wait or warm-up timed out, a team's command or
     HTTP call failed); plan check: a target Region does not answer
  A plan run that stops exits with the failing step's code (a gate refusal 6, a move 3 or 4,
  a verification 5, ...); plan check exits with its first failed check's code.

The manifest says which mechanism the deployment uses. ARC: only data-plane calls
(UpdateRoutingControlStates, GetRoutingControlState, ListRoutingControls); each call tries the
cluster's endpoints in turn, starting with the last one that answered, and succeeds while any
one endpoint answers. health-check: per app and Region, the flag that takes the Region out is a
CloudWatch metric held in the other Region. A move publishes (PutMetricData) the flag that takes
the Region being left out into the Region that stays up (required), clears the target's flag in
the Region being left (best effort: skipped when it does not answer) and, when moving to the
primary, clears the first flag again: it never needs the Region being left. Both: no
control-plane call, no DNS edit, no redeploy; status reads each app's alarms with
DescribeAlarms in each Region (a Region that does not answer shows them as unknown).

Before a move, the replication gate reads each moved service's table in the target Region:
locally from the world's control API, on AWS the table's ReplicationLatency metric (CloudWatch
GetMetricData, in the Region the changes come from). --dry-run shows the reading.

--verify times stages from the call. ARC: (1) the new states read back from 3 cluster
endpoints, each asked alone. health-check: (1) both flags read back, each from the Region that
holds it; (2) their alarms; (3) Route 53's HealthCheckStatus of both records (in us-east-1);
each of these passes when Route 53's failover rules applied to what it read answer the target
Region, and is unknown (not failed) when a Region it needs does not answer. Then, for both:
the zone's authoritative DNS answer; the answer of a caching resolver warmed before the move,
as clients hold it (it asks the system's name servers on AWS; --resolver names another
server); the first GET / answered with the target Region's x-region.

Examples:
  failover status
  failover shift orders --to us-west-2 --yes --verify
  failover evacuate us-east-1 --yes
  failover shift orders payments --to us-east-1 --dry-run --json
  failover plan list
  failover plan check evacuate-primary
  failover plan run evacuate-primary --yes";

/// Move apps between Regions: with Route 53 ARC routing controls, or with the health-check
/// mechanism's flags in CloudWatch (the manifest says which).
#[derive(Debug, Parser)]
#[command(name = "failover", version, after_long_help = EXIT_CODES, after_help = "Exit codes: 0 done, 1 other, 2 usage, 3 refused by a safety rule (ARC only), 4 unreachable (no cluster endpoint or quorum; health-check: the target Region's CloudWatch), 5 verification failed at a stage, 6 refused: replication behind, 7 plan approval not given, 8 plan step failed (see --help)")]
pub struct Cli {
    /// The deployment manifest [default: .local/deployment.json, when present].
    #[arg(long, global = true, env = "FAILOVER_MANIFEST")]
    pub manifest: Option<PathBuf>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// TCP connect timeout per attempt (to a cluster endpoint, or a Region's CloudWatch), e.g.
    /// 500ms, 1s.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "1s")]
    pub connect_timeout: Duration,
    /// Timeout of one attempt against one cluster endpoint, or of one call to a Region's
    /// CloudWatch (status and --verify show a Region that does not answer in time as unknown).
    #[arg(long, global = true, value_parser = parse_duration, default_value = "2s")]
    pub attempt_timeout: Duration,
    /// Try the next cluster endpoint when the current one has not answered after this long,
    /// keeping the first attempt open (the first answer wins). Raise it on a slow link, where
    /// a healthy endpoint takes longer to answer than this.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "100ms")]
    pub hedge_after: Duration,
    /// Give up on a call after this long, all endpoints tried (health-check: the required
    /// publish, tried again while its Region does not answer).
    #[arg(long, global = true, value_parser = parse_duration, default_value = "15s")]
    pub deadline: Duration,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show every app's routing controls (ARC) or flags (health-check), the Region Route 53
    /// answers with, and the app's alarms in both Regions.
    Status,
    /// Move apps to a Region. ARC: its routing control ON, the other OFF, in one atomic batch.
    /// health-check: the flag that takes the other Region out, published into this one.
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
    /// Failover plans: the steps of a Region switch (replication gate, moves, verification,
    /// waits, approvals, warm-up, the team's own hooks), written down in `plans/` next to
    /// topology.toml, checked before an incident and run during one.
    #[command(after_long_help = PLAN_HELP)]
    Plan {
        /// The plans folder.
        #[arg(long, global = true, env = "FAILOVER_PLANS", default_value = crate::plan::DEFAULT_PLANS_DIR, value_name = "DIR")]
        plans: PathBuf,
        #[command(subcommand)]
        command: PlanCommand,
    },
}

const PLAN_HELP: &str = "\
A plan is one TOML file; PLAN is its name in the plans folder (its file stem) or a path.
Regions are written `primary`, `secondary` or by name; apps as a list or \"all\".

  description = \"Move orders to the secondary\"
  [[steps]]
  name = \"replication\"
  gate = { apps = [\"orders\"], to = \"secondary\" }        # refuses (exit 6) while behind
  [[steps]]
  name = \"go\"
  approval = { message = \"Move orders?\" }                 # --yes, --approve go, or a prompt
  [[steps]]
  name = \"warm\"
  warm_up = { apps = [\"orders\"], region = \"secondary\", requests = 20 }
  [[steps]]
  name = \"move\"
  shift = { apps = [\"orders\"], to = \"secondary\", verify = true }

Other steps: verify = { apps, region, timeout }; wait = { duration } | { app, region,
timeout } | { alarm, region, state, timeout }; command = { run = [\"prog\", \"arg\"] };
http = { url, method, expect_status }; plan = \"other-plan\"; and a parallel group:
[[steps]] name = \"services\" followed by [[steps.parallel]] tables.

Examples:
  failover plan list
  failover plan check evacuate-primary
  failover plan run evacuate-primary --dry-run
  failover plan run move-services --approve confirm
  failover plan run evacuate-primary --resume .local/plan-reports/evacuate-primary-20261207T120000Z.json --yes";

/// `failover plan ...`.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// The plans in the folder, with their steps (and any that fail to load, with why).
    List,
    /// Whether PLAN can run now; changes nothing: its apps and Regions are in the manifest,
    /// each target Region answers on its Region-specific hostname, replication lag, the
    /// routing mechanism's reachability (ARC quorum), credentials.
    Check {
        /// A plan's name in the plans folder, or a path to its file.
        #[arg(value_name = "PLAN")]
        plan: String,
    },
    /// Run PLAN's steps in order, showing each; stop at the first that fails, with its exit
    /// code; write a report (JSON and Markdown).
    Run {
        /// A plan's name in the plans folder, or a path to its file.
        #[arg(value_name = "PLAN")]
        plan: String,
        /// Say what each step would do; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Pass every approval step (a script's way to run a plan).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Pass the approval step named STEP (repeatable).
        #[arg(long, value_name = "STEP")]
        approve: Vec<String>,
        /// Continue the run this JSON report records, from the step that failed: what it shows
        /// done is not done again.
        #[arg(long, value_name = "REPORT")]
        resume: Option<PathBuf>,
        /// Where reports are written.
        #[arg(long, default_value = ".local/plan-reports", value_name = "DIR")]
        report_dir: PathBuf,
    },
}

/// Flags of the commands that move apps.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Print what would be sent (ARC batches, or the flags to publish); send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Break glass: bypass these safety rules (each named by its ARN). ARC only.
    #[arg(long, value_name = "RULE_ARN", num_args = 1..)]
    pub override_safety_rules: Vec<SafetyRuleArn>,
    /// After the change, time each stage until traffic reaches the target Region: the
    /// mechanism's own (ARC: quorum read-back; health-check: flags, alarms, health checks),
    /// then authoritative DNS, recursive DNS, `GET /`.
    #[arg(long)]
    pub verify: bool,
    /// How long --verify waits, from the call [default: 120s with ARC; with the health-check
    /// mechanism 10m on AWS, 45s in the local world].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub verify_timeout: Option<Duration>,
    /// The DNS server --verify's caching resolver asks at stage 3 (IP:PORT), instead of the
    /// system's name servers.
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
    fn the_cli_hedges_as_the_library_does() {
        let cli = Cli::try_parse_from(["failover", "status"]).unwrap();
        assert_eq!(cli.hedge_after, crate::client::DEFAULT_HEDGE_AFTER);
        let cli = Cli::try_parse_from(["failover", "--hedge-after", "250ms", "status"]).unwrap();
        assert_eq!(cli.hedge_after, Duration::from_millis(250));
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
