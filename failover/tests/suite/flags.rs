//! The health-check mechanism against the local CloudWatch (in process, the real SDK over
//! HTTP): the flags client publishes and reads, every move from every combination of flags
//! with each Region answering, down or hanging, moves in quick succession, dry runs.

use crate::common::hc::{self, FlagWorld, app, earlier, flag_world, region, route53};

use std::time::{Duration, Instant};

use failover::flags::{FlagRef, FlagsClient, Stamp, StepResult, now_millis};
use failover::{FailoverError, MoveOutcome, ShiftOptions, exit};
use local_cloudwatch::Fault;
use topology::Region;

fn orders() -> topology::AppName {
    app("orders")
}

/// The flag move's report, or the test fails.
fn flag_move(outcome: MoveOutcome) -> failover::FlagShift {
    match outcome {
        MoveOutcome::HealthCheck(m) => m,
        MoveOutcome::Arc(_) => panic!("a health-check deployment moved routing controls"),
    }
}

#[tokio::test]
async fn the_flags_client_publishes_standard_resolution_and_reads_back_through_the_sdk() {
    let w = flag_world().await;
    let client = FlagsClient::from_manifest(&w.manifest, hc::quick()).unwrap();
    let entry = w.manifest.app(&orders()).unwrap();
    let flag = FlagRef::of(entry, &w.primary()).unwrap();
    assert_eq!(
        flag.published_in,
        w.secondary(),
        "the primary's flag lives in the secondary"
    );
    client
        .publish(&flag.published_in, &[(flag.clone(), true, Stamp::Now)])
        .await
        .unwrap();

    let read = client
        .read(&w.secondary(), std::slice::from_ref(&flag), now_millis())
        .await
        .unwrap();
    assert_eq!(read[0].at(now_millis()).map(|(_, v)| v), Some(true));
    // Published into the secondary only: the primary was never asked.
    let snapshot = w.cloudwatch.snapshot();
    let requests = |r: &Region| {
        snapshot
            .regions
            .iter()
            .find(|s| s.region == *r)
            .unwrap()
            .requests
    };
    assert_eq!(requests(&w.primary()), 0);
    assert_eq!(requests(&w.secondary()), 2);
    assert_eq!(
        w.flag(&orders(), &w.primary()).await,
        (true, true),
        "the SDK reads it too"
    );
    // Standard resolution: CloudWatch serves it by the minute, whatever the period asked.
    let sdk = hc::sdk_client(&w.cloudwatch.url(&w.secondary()).unwrap(), &w.secondary());
    let stamps = seconds_stamps(&sdk, &flag).await;
    assert_eq!(stamps.len(), 1);
    assert_eq!(stamps[0] % 60, 0, "served at its minute: {stamps:?}");
}

/// The timestamps a one-second query returns for `flag`.
async fn seconds_stamps(sdk: &aws_sdk_cloudwatch::Client, flag: &FlagRef) -> Vec<i64> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let now = std::time::SystemTime::now();
    let metric = Metric::builder()
        .namespace(hc::NAMESPACE)
        .metric_name("RegionOut")
        .dimensions(
            Dimension::builder()
                .name("App")
                .value(flag.app.as_str())
                .build(),
        )
        .dimensions(
            Dimension::builder()
                .name("Region")
                .value(flag.region.as_str())
                .build(),
        )
        .build();
    let out = sdk
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("q")
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(1)
                        .stat("Maximum")
                        .build(),
                )
                .build(),
        )
        .start_time((now - Duration::from_secs(300)).into())
        .end_time((now + Duration::from_secs(60)).into())
        .send()
        .await
        .unwrap();
    out.metric_data_results()[0]
        .timestamps()
        .iter()
        .map(|t| t.secs())
        .collect()
}

/// One case of the move matrix.
#[derive(Debug, Clone, Copy)]
struct Case {
    before: (bool, bool),
    to_primary: bool,
    /// What the Region left does.
    left: Fault,
}

/// Runs `case` in a world of its own; answers what it saw.
async fn run(
    case: Case,
) -> (
    Case,
    FlagWorld,
    Result<failover::FlagShift, FailoverError>,
    Duration,
) {
    let w = flag_world().await;
    let (p, s) = (w.primary(), w.secondary());
    w.set_flag(&orders(), &p, case.before.0, earlier());
    w.set_flag(&orders(), &s, case.before.1, earlier());
    let (to, from) = if case.to_primary { (p, s) } else { (s, p) };
    w.cloudwatch.set_fault(&from, case.left).await.unwrap();
    let started = Instant::now();
    let moved = w
        .plane()
        .shift(&[orders()], &to, ShiftOptions::default())
        .await
        .map(flag_move);
    let took = started.elapsed();
    w.cloudwatch.set_fault(&from, Fault::None).await.unwrap();
    (case, w, moved, took)
}

#[tokio::test]
async fn every_move_from_every_state_answers_by_route_53s_rules_even_without_the_region_left() {
    let mut cases = Vec::new();
    for before in [(false, false), (true, false), (false, true), (true, true)] {
        for to_primary in [true, false] {
            for left in [Fault::None, Fault::Down, Fault::Hang] {
                cases.push(Case {
                    before,
                    to_primary,
                    left,
                });
            }
        }
    }
    // Eight worlds at a time: enough to be quick, few enough that a busy machine keeps each
    // call well within its timeout.
    let mut results = Vec::new();
    for batch in cases.chunks(8) {
        results.extend(futures::future::join_all(batch.iter().copied().map(run)).await);
    }
    for (case, w, moved, took) in results {
        let moved = moved.unwrap_or_else(|e| panic!("{case:?}: {e}"));
        let to = moved.to.clone();
        assert!(took < Duration::from_secs(2), "{case:?} took {took:?}");
        let after = w.settled(&orders()).await;
        let serving = route53(&w, after);
        let step2 = moved.steps.iter().find(|s| s.step == 2).unwrap();
        if case.left == Fault::None {
            let canonical = if case.to_primary {
                (false, false)
            } else {
                (true, false)
            };
            assert_eq!(after, canonical, "{case:?}: {moved:#?}");
            assert!(step2.published(), "{case:?}");
            assert!(moved.warnings.is_empty(), "{case:?}: {:?}", moved.warnings);
        } else {
            assert!(
                matches!(&step2.result, StepResult::Skipped { reason } if reason.contains("did not answer")),
                "{case:?}: {step2:?}"
            );
            assert!(
                !moved.warnings.is_empty(),
                "{case:?}: the skipped step is said"
            );
        }
        // The one exception: moving to the secondary without the primary, over a stale flag
        // there that takes the secondary out. Everything else answers the target.
        let stale = !case.to_primary && case.left != Fault::None && case.before.1;
        if stale {
            assert_eq!(serving, w.primary(), "{case:?}");
            assert!(
                moved.warnings[0].contains("neither ruled out nor cleared"),
                "{case:?}: {:?}",
                moved.warnings
            );
            assert_eq!(
                moved.after[0].serving, None,
                "the mover cannot know: {case:?}"
            );
        } else {
            assert_eq!(serving, to, "{case:?}: flags {after:?}");
        }
        if case.left != Fault::None && case.to_primary {
            assert_eq!(moved.after[0].serving.as_ref(), Some(&to), "{case:?}");
        }
    }
}

#[tokio::test]
async fn without_the_target_region_a_move_fails_with_exit_4() {
    for fault in [Fault::Down, Fault::Hang] {
        let w = flag_world().await;
        let to = w.secondary();
        w.cloudwatch.set_fault(&to, fault).await.unwrap();
        let started = Instant::now();
        let err = w
            .plane()
            .shift(&[orders()], &to, ShiftOptions::default())
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(4), "{fault:?}");
        assert_eq!(err.exit_code(), exit::UNREACHABLE, "{fault:?}: {err}");
        assert!(err.to_string().contains("us-west-2"), "{err}");
        w.cloudwatch.set_fault(&to, Fault::None).await.unwrap();
        // A call that timed out may still land (the message says so); a refused one cannot.
        if fault == Fault::Down {
            assert_eq!(w.settled(&orders()).await, (false, false));
        }
    }
}

#[tokio::test]
async fn moves_in_quick_succession_settle_to_the_last_one() {
    let w = flag_world().await;
    let plane = w.plane();
    let (p, s) = (w.primary(), w.secondary());
    let go = |to: Region| {
        let plane = &plane;
        async move {
            flag_move(
                plane
                    .shift(&[orders()], &to, ShiftOptions::default())
                    .await
                    .unwrap(),
            )
        }
    };
    // Within one minute (a rare moment where the minute turns between two moves only makes
    // the later values take effect sooner).
    let first = go(s.clone()).await;
    assert_eq!(first.after[0].serving.as_ref(), Some(&s));
    assert_eq!(route53(&w, w.settled(&orders()).await), s);

    let back = go(p.clone()).await;
    assert_eq!(back.after[0].serving.as_ref(), Some(&p));
    assert_eq!(
        w.settled(&orders()).await,
        (false, false),
        "canonical once settled"
    );
    let now = (w.flag(&orders(), &p).await.0, w.flag(&orders(), &s).await.0);
    assert_eq!(route53(&w, now), p, "the primary at once: {now:?}");

    let again = go(s.clone()).await;
    assert_eq!(again.after[0].serving.as_ref(), Some(&s));
    assert_eq!(w.settled(&orders()).await, (true, false));
    let now = (w.flag(&orders(), &p).await.0, w.flag(&orders(), &s).await.0);
    if route53(&w, now) != s {
        assert!(
            again
                .warnings
                .iter()
                .any(|x| x.contains("within its minute")),
            "a late answer is announced: {:?}",
            again.warnings
        );
        // And when: --verify's deadlines start then.
        let delay = again.delay(std::time::SystemTime::now()).unwrap();
        assert!(delay <= Duration::from_secs(125), "{delay:?}");
    } else {
        assert_eq!(again.in_effect_from, None);
    }
}

#[tokio::test]
async fn a_dry_run_sends_nothing_and_lists_every_step() {
    let w = flag_world().await;
    let plane = w.plane();
    let plan = flag_move(
        plane
            .shift(
                &[orders(), app("payments")],
                &w.primary(),
                ShiftOptions {
                    dry_run: true,
                    ..ShiftOptions::default()
                },
            )
            .await
            .unwrap(),
    );
    assert!(plan.dry_run);
    let steps: Vec<(u8, Region, bool)> = plan
        .steps
        .iter()
        .map(|s| (s.step, s.into.clone(), s.flags[0].out))
        .collect();
    assert_eq!(
        steps,
        [
            (1, w.primary(), true),
            (2, w.secondary(), false),
            (3, w.primary(), false)
        ]
    );
    assert!(plan.steps.iter().all(|s| s.result == StepResult::Planned));
    assert_eq!(
        plan.steps[0].flags.len(),
        2,
        "one PutMetricData for both apps"
    );
    for r in w.cloudwatch.snapshot().regions {
        assert_eq!(r.requests, 0, "{} was called", r.region);
    }
    // The secondary: two steps, no return to the canonical state.
    let plan = flag_move(
        plane
            .evacuate(
                &w.primary(),
                ShiftOptions {
                    dry_run: true,
                    ..ShiftOptions::default()
                },
            )
            .await
            .unwrap(),
    );
    assert_eq!(plan.steps.len(), 2);
    assert_eq!(plan.apps.len(), w.manifest.apps.len());
}

#[tokio::test]
async fn safety_rules_and_unknown_names_are_usage_errors_here() {
    let w = flag_world().await;
    let plane = w.plane();
    let opts = ShiftOptions {
        override_safety_rules: vec![
            "arn:aws:route53-recovery-control::123456789012:controlpanel/p/safetyrule/r"
                .parse()
                .unwrap(),
        ],
        dry_run: false,
    };
    let err = plane
        .shift(&[orders()], &w.secondary(), opts)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE);
    assert!(err.to_string().contains("no safety rules"), "{err}");
    let err = plane
        .shift(&[app("billing")], &w.secondary(), ShiftOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown app `billing`"), "{err}");
    let err = plane
        .shift(&[orders()], &region("eu-west-1"), ShiftOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::USAGE, "{err}");
    assert_eq!(w.settled(&orders()).await, (false, false));
}
