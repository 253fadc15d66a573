//! The health-check mechanism's own stages: the flags read back, their alarms, and Route 53's
//! health checks. Each reads both of the app's flags (or alarms, or health checks) and applies
//! Route 53's failover rules to them; a Region that does not answer leaves the stage unknown
//! when the other does not decide it alone.

use topology::Region;

use super::run::{Miss, Run, WhenUnanswered, app_entry};
use crate::alarms::{AlarmState, describe};
use crate::flags::rules::answer;
use crate::flags::{FlagRef, FlagsClient, Millis, now_millis};
use crate::health_checks::{Health, healthy, metrics_region, period_seconds};
use crate::verified::{StageName, VerifyError};

/// What one look knew of each Region's side (the primary first): set or not, or why unknown.
type Sides = [(Region, Result<bool, String>); 2];

impl Run<'_> {
    /// The flag, alarm and health-check stages.
    pub(super) async fn flags(&mut self, client: &FlagsClient) -> Result<(), VerifyError> {
        let manifest = client.manifest();
        let entry = app_entry(manifest, self.app()).map_err(|m| self.setup(m))?;
        let regions = manifest.regions.both();
        let refs: Vec<FlagRef> = regions
            .iter()
            .map(|r| FlagRef::of(entry, r))
            .collect::<Option<_>>()
            .ok_or_else(|| self.setup("the manifest lacks a flag".into()))?;
        let target = self.region().clone();

        let refs = &refs;
        self.looks(
            StageName::Flags,
            "the Regions' CloudWatch",
            WhenUnanswered::Unknown,
            || async {
                let now = now_millis();
                let (p, s) = tokio::join!(
                    read_flag(client, &refs[0], now),
                    read_flag(client, &refs[1], now)
                );
                judge(
                    client,
                    &target,
                    "flags",
                    [(refs[0].region.clone(), p), (refs[1].region.clone(), s)],
                )
            },
        )
        .await?;

        let alarms: Vec<(Region, String)> = refs
            .iter()
            .filter_map(|f| entry.flag(&f.region))
            .map(|f| (f.published_in.clone(), f.alarm_name.clone()))
            .collect();
        let alarms = &alarms;
        self.looks(StageName::Alarm, "the Regions' CloudWatch", WhenUnanswered::Unknown, || async {
            let described = describe(client.cloudwatch(), alarms).await;
            let side = |i: usize| {
                let (region, name) = &alarms[i];
                let reading = described.get(region, name);
                let state = match reading.state {
                    AlarmState::Alarm => Ok(true),
                    AlarmState::Ok | AlarmState::InsufficientData => Ok(false),
                    AlarmState::NotFound => return Err(Miss::Wrong(format!(
                        "alarm {name} is not in {region}'s CloudWatch: does the manifest match the deployment?"
                    ))),
                    AlarmState::Unknown => Err(reading.error.unwrap_or_default()),
                };
                Ok((refs[i].region.clone(), state))
            };
            judge(client, &target, "alarms", [side(0)?, side(1)?])
        })
        .await?;

        let ids: Option<Vec<&str>> = refs
            .iter()
            .map(|f| {
                entry
                    .flag(&f.region)
                    .and_then(|x| x.health_check_id.as_deref())
            })
            .collect();
        let Some(ids) = ids else {
            self.skip(
                StageName::HealthCheck,
                "the manifest names no health check id for the app's records".into(),
            );
            return Ok(());
        };
        let ids = &ids;
        let period = period_seconds(manifest.environment);
        let asked = format!("CloudWatch in {}", metrics_region());
        self.looks(
            StageName::HealthCheck,
            &asked,
            WhenUnanswered::Unknown,
            || async {
                let status = healthy(client.cloudwatch(), ids, period, now_millis())
                    .await
                    .map_err(|e| Miss::Unanswered(e.to_string()))?;
                // A record that changed within the latest minute was, in that minute, in the state
                // the target needs as well as in the other: Route 53 has reported the change, and
                // the DNS stages that follow prove where it answers. To the primary, the
                // secondary's record out supports it; to the secondary, the primary's.
                let to_primary = target == client.manifest().regions.primary;
                let side = |i: usize| {
                    let unhealthy = match status[i] {
                        Health::Healthy => Ok(false),
                        Health::Unhealthy => Ok(true),
                        Health::Changing => Ok((i == 1) == to_primary),
                        Health::NoData => {
                            Err(format!("no HealthCheckStatus of health check {}", ids[i]))
                        }
                    };
                    (refs[i].region.clone(), unhealthy)
                };
                let changing: Vec<&str> = (0..2)
                    .filter(|i| status[*i] == Health::Changing)
                    .map(|i| ids[i])
                    .collect();
                let what = if changing.is_empty() {
                    "health checks".to_owned()
                } else {
                    format!(
                        "health checks ({} changed this minute)",
                        changing.join(", ")
                    )
                };
                judge(client, &target, &what, [side(0), side(1)])
            },
        )
        .await
    }
}

/// Whether `flag` is set now, read from the Region that holds it.
async fn read_flag(client: &FlagsClient, flag: &FlagRef, now: Millis) -> Result<bool, String> {
    let series = client
        .read(&flag.published_in, std::slice::from_ref(flag), now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(series
        .first()
        .and_then(|s| s.at(now))
        .is_some_and(|(_, v)| v))
}

/// Passes when Route 53's rules, applied to `sides` (each Region out or not), answer `target`.
fn judge(client: &FlagsClient, target: &Region, what: &str, sides: Sides) -> Result<String, Miss> {
    let regions = &client.manifest().regions;
    let shown: Vec<String> = sides
        .iter()
        .map(|(region, side)| match side {
            Ok(true) => format!("{region} out"),
            Ok(false) => format!("{region} in"),
            Err(why) => format!("{region} unknown ({why})"),
        })
        .collect();
    let known = |i: usize| sides[i].1.as_ref().ok().copied();
    let text = format!("{what}: {}", shown.join(", "));
    match answer(regions, known(0), known(1)) {
        Some(r) if r == target => Ok(format!("{text}: Route 53 answers {r}")),
        Some(r) => Err(Miss::Wrong(format!("{text}: Route 53 answers {r}"))),
        None => Err(Miss::Unanswered(format!(
            "{text}: where Route 53 answers is not known"
        ))),
    }
}
