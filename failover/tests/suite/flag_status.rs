//! `status` on the health-check mechanism, against the local CloudWatch: which flag is set
//! where, what Route 53 therefore answers, every alarm of both Regions, and a Region that does
//! not answer shown as unknown without slowing the rest.

use crate::common::hc::{app, earlier, flag_world};

use std::time::{Duration, Instant};

use failover::alarms::AlarmState;
use failover::flags::status::FlagSource;
use failover::plane::AppRouting;
use failover::{AppState, DeploymentStatus, exit};
use local_cloudwatch::Fault;
use topology::manifest::AlarmKind;

fn orders() -> topology::AppName {
    app("orders")
}

fn of<'s>(status: &'s DeploymentStatus, name: &str) -> &'s AppState {
    status.apps.iter().find(|a| a.app.as_str() == name).unwrap()
}

fn flags(app: &AppState) -> &[failover::flags::FlagStatus] {
    match &app.routing {
        AppRouting::HealthCheck { flags } => flags,
        AppRouting::Arc { .. } => panic!("a health-check deployment shows routing controls"),
    }
}

#[tokio::test]
async fn status_shows_each_flag_where_it_is_held_what_route_53_answers_and_every_alarm() {
    let w = flag_world().await;
    let (p, s) = (w.primary(), w.secondary());
    // orders was moved to the secondary; its latency alarm about the primary fires.
    w.set_flag(&orders(), &p, true, earlier());
    w.breach(&orders(), AlarmKind::Latency.as_str(), &p, &p);
    let entry = w.manifest.app(&orders()).unwrap();
    let latency = entry
        .alarms
        .iter()
        .find(|a| a.kind == AlarmKind::Latency && a.about == p)
        .unwrap();
    let name = latency.name.parse().unwrap();
    let started = Instant::now();
    while w.cloudwatch.alarm(&p, &name).unwrap().state != local_cloudwatch::AlarmState::Alarm {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the alarm never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let status = w.plane().status().await.unwrap();
    assert_eq!(status.mechanism, topology::Mechanism::HealthCheck);
    let o = of(&status, "orders");
    let f = flags(o);
    assert_eq!(
        (f[0].region.clone(), f[0].published_in.clone()),
        (p.clone(), s.clone())
    );
    assert_eq!((f[0].out, f[0].source), (Some(true), FlagSource::Metric));
    assert_eq!((f[1].out, f[1].source), (Some(false), FlagSource::Never));
    assert_eq!(o.active.as_ref(), Some(&s));
    assert!(o.warning.is_none(), "{:?}", o.warning);
    assert_eq!(of(&status, "users").active.as_ref(), Some(&p));

    assert_eq!(o.alarms.len(), entry.alarms.len());
    let firing: Vec<_> = o
        .alarms
        .iter()
        .filter(|a| a.reading.state == AlarmState::Alarm)
        .collect();
    assert_eq!(firing.len(), 1, "{:#?}", o.alarms);
    assert_eq!((firing[0].kind, &firing[0].about), (AlarmKind::Latency, &p));
    assert!(
        firing[0]
            .reading
            .reason
            .as_deref()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(firing[0].reading.updated.is_some());
    assert!(
        status.cloudwatch.iter().all(|r| r.answered),
        "{:?}",
        status.cloudwatch
    );

    // As JSON: the flags, the answer, the alarms with state, reason and time.
    let doc = serde_json::to_value(&status).unwrap();
    let o = doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == "orders")
        .unwrap();
    assert_eq!(o["active"], "us-west-2");
    assert_eq!(o["flags"][0]["out"], true);
    assert_eq!(o["flags"][0]["published_in"], "us-west-2");
    let alarm = o["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "ALARM")
        .unwrap();
    assert_eq!(alarm["kind"], "latency");
    assert!(
        alarm["reason"].is_string() && alarm["updated"].is_string(),
        "{alarm}"
    );
}

#[tokio::test]
async fn a_region_that_does_not_answer_shows_as_unknown_and_slows_nothing() {
    for fault in [Fault::Down, Fault::Hang] {
        let w = flag_world().await;
        let (p, s) = (w.primary(), w.secondary());
        w.cloudwatch.set_fault(&s, fault).await.unwrap();
        let started = Instant::now();
        let status = w.plane().status().await.unwrap();
        // One call timeout (500 ms) for every Region at once, not one per call.
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{fault:?}: {:?}",
            started.elapsed()
        );
        let o = of(&status, "orders");
        let f = flags(o);
        assert_eq!(f[0].out, None, "held in the secondary");
        assert!(
            f[0].error.as_deref().unwrap().contains("us-west-2"),
            "{f:?}"
        );
        assert_eq!(f[1].out, Some(false), "held in the primary");
        // The flag known does not decide (the primary's own flag is unknown): say so.
        assert_eq!(o.active, None);
        assert!(o.warning.as_deref().unwrap().contains("could not be read"));
        for alarm in &o.alarms {
            let expected = if alarm.region == s {
                AlarmState::Unknown
            } else {
                AlarmState::InsufficientData
            };
            assert_eq!(alarm.reading.state, expected, "{alarm:?}");
        }
        let west = status.cloudwatch.iter().find(|r| r.region == s).unwrap();
        assert!(!west.answered && west.error.is_some(), "{west:?}");
        assert!(
            status
                .cloudwatch
                .iter()
                .any(|r| r.region == p && r.answered)
        );
    }
}

#[tokio::test]
async fn with_no_region_answering_status_exits_4() {
    let w = flag_world().await;
    for r in [w.primary(), w.secondary()] {
        w.cloudwatch.set_fault(&r, Fault::Down).await.unwrap();
    }
    let err = w.plane().status().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::UNREACHABLE, "{err}");
    assert!(err.to_string().contains("no flag could be read"), "{err}");
}

#[tokio::test]
async fn an_arc_deployment_in_the_local_world_reads_its_alarms_where_the_control_api_says() {
    // The ARC cluster moves traffic; the local CloudWatch, which the ARC manifest does not
    // name, holds the alarms: the control API lists its endpoints.
    let arc = crate::common::world().await;
    arc.client().initialize().await.unwrap();
    let cloudwatch = flag_world().await;
    let api = wiremock::MockServer::start().await;
    let endpoints: Vec<serde_json::Value> = cloudwatch
        .cloudwatch
        .endpoints()
        .iter()
        .map(|e| serde_json::json!({ "region": e.region, "url": e.url, "fault": "none" }))
        .collect();
    wiremock::Mock::given(wiremock::matchers::path("/state"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            serde_json::json!({ "cloudwatch": { "mechanism": "arc", "endpoints": endpoints } }),
        ))
        .mount(&api)
        .await;
    let mut manifest = arc.manifest.clone();
    manifest.control_api = Some(api.uri());
    for entry in &mut manifest.apps {
        entry.alarms = cloudwatch.manifest.app(&entry.name).unwrap().alarms.clone();
    }
    let plane = failover::DataPlane::from_manifest(&manifest, crate::common::hc::quick()).unwrap();
    let status = plane.status().await.unwrap();
    assert_eq!(status.mechanism, topology::Mechanism::Arc);
    let o = of(&status, "orders");
    assert_eq!(o.active.as_ref(), Some(&arc.primary()));
    assert!(!o.alarms.is_empty());
    assert!(
        o.alarms
            .iter()
            .all(|a| a.reading.state == AlarmState::InsufficientData),
        "{:#?}",
        o.alarms
    );

    // Without a control API to ask, the alarms are unknown and say why; status still answers.
    manifest.control_api = None;
    let plane = failover::DataPlane::from_manifest(&manifest, crate::common::hc::quick()).unwrap();
    let status = plane.status().await.unwrap();
    let alarm = &of(&status, "orders").alarms[0];
    assert_eq!(alarm.reading.state, AlarmState::Unknown);
    assert!(
        alarm
            .reading
            .error
            .as_deref()
            .unwrap()
            .contains("no control API"),
        "{alarm:?}"
    );
}
