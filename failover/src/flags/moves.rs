//! A move: the steps of [`super::rules`], each one PutMetricData for every app moved, stamped
//! as [`super::series`] says. Only step 1, into the Region that stays up, is required.

use std::time::Instant;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Serialize;
use topology::manifest::AppEntry;
use topology::{AppName, Region};

use super::rules::{StepKind, answer};
use super::series::{Millis, Series, Stamp};
use super::{FlagRef, FlagsClient, now_millis, rfc3339};
use crate::cloudwatch::CallError;
use crate::error::FailoverError;
use crate::ops::{ShiftOptions, resolve_apps};

/// One flag a step publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagChange {
    pub app: AppName,
    /// The Region the flag takes out.
    pub region: Region,
    /// The value published: whether that Region is out.
    pub out: bool,
    /// When the value takes effect (RFC 3339), when not at once: the start of a coming minute
    /// (see [`super::series`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub takes_effect: Option<String>,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StepResult {
    /// A dry run: not sent.
    Planned,
    /// CloudWatch took it.
    Published { elapsed_ms: u64, attempts: u32 },
    /// Not sent, and why.
    Skipped { reason: String },
    /// Sent, not taken.
    Failed { reason: String },
}

/// One step of a move: one PutMetricData into one Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// 1 to 3, as the runbook numbers them.
    pub step: u8,
    /// The Region published into.
    pub into: Region,
    /// Whether the move fails when this step does.
    pub required: bool,
    pub flags: Vec<FlagChange>,
    #[serde(flatten)]
    pub result: StepResult,
}

impl Step {
    /// Whether CloudWatch took it.
    pub fn published(&self) -> bool {
        matches!(self.result, StepResult::Published { .. })
    }
}

/// One app's flags after a move, as far as the mover knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppAfter {
    pub app: AppName,
    /// Per Region (the primary first): whether its flag is set once every stamped value has
    /// taken effect; `None` when its Region did not answer.
    pub out: Vec<(Region, Option<bool>)>,
    /// The Region Route 53 then answers with; `None` when the flags known do not decide it.
    pub serving: Option<Region>,
}

/// What a move did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagShift {
    pub to: Region,
    pub apps: Vec<AppName>,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    /// Empty for a dry run.
    pub after: Vec<AppAfter>,
    /// What the operator must know: a Region that did not answer, a state to repair.
    pub warnings: Vec<String>,
    /// When Route 53's answer can follow the move, if not at once (RFC 3339): a flag set less
    /// than a minute ago is cleared from the start of a coming minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_effect_from: Option<String>,
}

impl FlagShift {
    /// How long after `now` the move takes effect, when it does not at once.
    pub fn delay(&self, now: std::time::SystemTime) -> Option<std::time::Duration> {
        let at = self.in_effect_from.as_deref()?;
        let at = DateTime::from_str(at, Format::DateTime).ok()?;
        std::time::SystemTime::try_from(at)
            .ok()?
            .duration_since(now)
            .ok()
    }
}

impl FlagsClient {
    /// Moves `apps` to `to` (see [`super::rules`]): step 1 must succeed, steps 2 and 3 are
    /// best effort. Safety rules do not exist here: overriding one is a usage error.
    pub async fn shift(
        &self,
        apps: &[AppName],
        to: &Region,
        opts: ShiftOptions,
    ) -> Result<FlagShift, FailoverError> {
        let manifest = &self.manifest;
        let entries = resolve_apps(manifest, apps)?;
        let from = manifest.regions.other(to).cloned().ok_or_else(|| {
            FailoverError::Usage(format!(
                "Region `{to}` is not one of this deployment's Regions ({}, {})",
                manifest.regions.primary, manifest.regions.secondary
            ))
        })?;
        if !opts.override_safety_rules.is_empty() {
            return Err(FailoverError::Usage(
                "the health-check mechanism has no safety rules: --override-safety-rules does not apply".into(),
            ));
        }
        let names: Vec<AppName> = entries.iter().map(|a| a.name.clone()).collect();
        let mut run = Move {
            client: self,
            entries,
            to: to.clone(),
            from,
            steps: Vec::new(),
        };
        if opts.dry_run {
            run.plan();
            return Ok(FlagShift {
                to: to.clone(),
                apps: names,
                dry_run: true,
                steps: run.steps,
                after: Vec::new(),
                warnings: Vec::new(),
                in_effect_from: None,
            });
        }
        let (after, warnings, late) = run.go().await?;
        Ok(FlagShift {
            to: to.clone(),
            apps: names,
            dry_run: false,
            steps: run.steps,
            after,
            warnings,
            in_effect_from: late.map(rfc3339),
        })
    }

    /// Moves every app away from `from`.
    pub async fn evacuate(
        &self,
        from: &Region,
        opts: ShiftOptions,
    ) -> Result<FlagShift, FailoverError> {
        let to = self.manifest.regions.other(from).cloned().ok_or_else(|| {
            FailoverError::Usage(format!(
                "Region `{from}` is not one of this deployment's Regions ({}, {})",
                self.manifest.regions.primary, self.manifest.regions.secondary
            ))
        })?;
        let apps: Vec<AppName> = self.manifest.apps.iter().map(|a| a.name.clone()).collect();
        self.shift(&apps, &to, opts).await
    }
}

/// One move in progress.
struct Move<'c> {
    client: &'c FlagsClient,
    entries: Vec<&'c AppEntry>,
    to: Region,
    from: Region,
    steps: Vec<Step>,
}

impl Move<'_> {
    /// The flags a step publishes (`flag` is taken out; `into` holds it).
    fn refs(&self, kind: StepKind) -> (Vec<FlagRef>, Region, bool) {
        let (out, value, into) = kind.flag(&self.to, &self.from);
        (
            self.client.flags_out(&self.entries, out),
            into.clone(),
            value,
        )
    }

    fn step(&self, kind: StepKind, changes: Vec<FlagChange>, result: StepResult) -> Step {
        let (_, into, _) = self.refs(kind);
        Step {
            step: kind.number(),
            into,
            required: kind.required(),
            flags: changes,
            result,
        }
    }

    fn changes(&self, kind: StepKind, effective: &[Option<Millis>]) -> Vec<FlagChange> {
        let (refs, _, value) = self.refs(kind);
        refs.into_iter()
            .enumerate()
            .map(|(i, f)| FlagChange {
                app: f.app,
                region: f.region,
                out: value,
                takes_effect: effective.get(i).copied().flatten().map(rfc3339),
            })
            .collect()
    }

    /// The steps, not sent.
    fn plan(&mut self) {
        for kind in StepKind::of_move(&self.client.manifest.regions, &self.to) {
            let changes = self.changes(kind, &[]);
            self.steps
                .push(self.step(kind, changes, StepResult::Planned));
        }
    }

    /// Runs the steps; answers each app's flags afterwards, the warnings, and when the move
    /// takes effect if not at once.
    async fn go(&mut self) -> Result<(Vec<AppAfter>, Vec<String>, Option<Millis>), FailoverError> {
        let now = now_millis();
        let (out_refs, _, _) = self.refs(StepKind::TakeOut);
        let (target_refs, _, _) = self.refs(StepKind::ClearTarget);
        // What each Region holds decides the stamps. Step 1 goes as soon as the Region that
        // stays up has answered; the Region left, read meanwhile, may take its whole timeout
        // or not answer at all. A failed step 1 ends the move without waiting for it.
        let take_out = async {
            let mut in_to = self
                .client
                .read(&self.to, &out_refs, now)
                .await
                .unwrap_or_else(|_| vec![Series::default(); out_refs.len()]);
            let step = self.send(StepKind::TakeOut, &mut in_to).await?;
            Ok::<_, FailoverError>((in_to, step))
        };
        let read_from =
            async { Ok::<_, FailoverError>(self.client.read(&self.from, &target_refs, now).await) };
        let ((mut in_to, taken_out), mut in_from) = tokio::try_join!(take_out, read_from)?;
        self.steps.push(taken_out);
        match &mut in_from {
            Ok(series) => {
                let step = self.send(StepKind::ClearTarget, series).await?;
                self.steps.push(step);
            }
            Err(e) => {
                let reason = describe_failure(&self.from, e);
                let changes = self.changes(StepKind::ClearTarget, &[]);
                let step = self.step(
                    StepKind::ClearTarget,
                    changes,
                    StepResult::Skipped { reason },
                );
                self.steps.push(step);
            }
        }
        let cleared_target = self.steps.last().is_some_and(Step::published);
        if self.to == self.client.manifest.regions.primary {
            if cleared_target {
                let step = self.send(StepKind::BackToCanonical, &mut in_to).await?;
                self.steps.push(step);
            } else {
                let changes = self.changes(StepKind::BackToCanonical, &[]);
                let reason = "step 2 was not published: the flag stays set, so that Route 53 answers the primary whatever the other flag says".to_owned();
                let step = self.step(
                    StepKind::BackToCanonical,
                    changes,
                    StepResult::Skipped { reason },
                );
                self.steps.push(step);
            }
        }
        let after = self.after(&in_to, in_from.as_ref().ok());
        let late = self.late(now, &in_to, in_from.as_ref().ok());
        let warnings = self.warnings(&after, &late);
        Ok((after, warnings, late.iter().map(|(_, at)| *at).max()))
    }

    /// Publishes step `kind` for every app, stamped on `series` (updated with what was
    /// published). A failed required step fails the move; any other is reported. Steps
    /// into the Region that stays up are tried again until the deadline; step 2, into the
    /// Region left, once.
    async fn send(&self, kind: StepKind, series: &mut [Series]) -> Result<Step, FailoverError> {
        let (refs, into, value) = self.refs(kind);
        // The time of the call itself: what CloudWatch stamps a value sent now with.
        let now = now_millis();
        let stamps: Vec<Vec<Stamp>> = series.iter().map(|s| s.stamps(value, now)).collect();
        let values: Vec<(FlagRef, bool, Stamp)> = refs
            .iter()
            .zip(&stamps)
            .flat_map(|(f, at)| at.iter().map(move |t| (f.clone(), value, *t)))
            .collect();
        let started = Instant::now();
        let sent = if into == self.to {
            self.client.publish_required(&into, &values).await
        } else {
            self.client.publish(&into, &values).await.map(|()| 1)
        };
        let effective: Vec<Option<Millis>> = stamps
            .iter()
            .map(|s| match s.first() {
                Some(Stamp::At(at)) => Some(*at),
                _ => None,
            })
            .collect();
        let changes = self.changes(kind, &effective);
        let result = match sent {
            Ok(attempts) => {
                for (s, at) in series.iter_mut().zip(&stamps) {
                    for t in at {
                        s.record(*t, now, value);
                    }
                }
                StepResult::Published {
                    elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    attempts,
                }
            }
            Err(e) if kind.required() => return Err(e.into_failover("PutMetricData", &into)),
            Err(e) => StepResult::Failed {
                reason: describe_failure(&into, &e),
            },
        };
        Ok(self.step(kind, changes, result))
    }

    /// Each app's flags once every stamp has taken effect.
    fn after(&self, in_to: &[Series], in_from: Option<&Vec<Series>>) -> Vec<AppAfter> {
        let regions = &self.client.manifest.regions;
        self.entries
            .iter()
            .enumerate()
            .map(|(i, app)| {
                // "from is out" is held in `to`; "to is out" in `from`.
                let from_out = in_to.get(i).map(|s| s.settled().unwrap_or(false));
                let to_out = in_from
                    .and_then(|s| s.get(i))
                    .map(|s| s.settled().unwrap_or(false));
                let of = |region: &Region| {
                    if *region == self.from {
                        from_out
                    } else {
                        to_out
                    }
                };
                let (p, s) = (of(&regions.primary), of(&regions.secondary));
                AppAfter {
                    app: app.name.clone(),
                    out: vec![(regions.primary.clone(), p), (regions.secondary.clone(), s)],
                    serving: answer(regions, p, s).cloned(),
                }
            })
            .collect()
    }

    /// What the operator must know after the move; `late`: the apps whose answer follows
    /// only from a coming minute, and when.
    fn warnings(&self, after: &[AppAfter], late: &[(AppName, Millis)]) -> Vec<String> {
        let (to, from) = (&self.to, &self.from);
        let primary = &self.client.manifest.regions.primary;
        let mut warnings = Vec::new();
        let skipped = self
            .steps
            .iter()
            .find(|s| s.step == 2)
            .is_some_and(|s| !s.published());
        if skipped {
            let apps = names(after.iter().map(|a| &a.app));
            warnings.push(if to == primary {
                format!(
                    "{apps}: {from} did not take step 2, so the flag that takes {to} out (held in {from}) may still be set. Route 53 answers {to} all the same: with both flags set it answers the primary. The next move, once {from} answers, clears it"
                )
            } else {
                format!(
                    "{apps}: {from} did not take step 2, so a flag there that takes {to} out (left by a move to {from} while {to} did not answer) can be neither ruled out nor cleared. If it is set, Route 53 keeps answering {from}; `failover status` shows it once {from} answers"
                )
            });
        }
        if let Some(step) = self
            .steps
            .iter()
            .find(|s| s.step == 3 && matches!(s.result, StepResult::Failed { .. }))
        {
            warnings.push(format!(
                "{}: step 3 was not taken, so the flag that takes {from} out stays set in {to}: Route 53 answers {to} all the same; the next move clears it",
                names(step.flags.iter().map(|f| &f.app))
            ));
        }
        if let Some(at) = late.iter().map(|(_, at)| *at).max() {
            warnings.push(format!(
                "{}: a flag set less than a minute ago cannot be cleared within its minute: Route 53 answers {to} from {}",
                names(late.iter().map(|(a, _)| a)),
                rfc3339(at)
            ));
        }
        warnings
    }

    /// The apps whose flags answer the target only from a coming minute, and from when: a
    /// flag set less than a minute ago cannot be cleared within its minute.
    fn late(
        &self,
        now: Millis,
        in_to: &[Series],
        in_from: Option<&Vec<Series>>,
    ) -> Vec<(AppName, Millis)> {
        let (to, from) = (&self.to, &self.from);
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, app)| {
                let from_out = in_to.get(i)?;
                let to_out = in_from.and_then(|s| s.get(i));
                let regions = &self.client.manifest.regions;
                let now_of = |s: Option<&Series>| s.map(|s| s.at(now).is_some_and(|(_, v)| v));
                let of = |r: &Region| {
                    if r == from {
                        now_of(Some(from_out))
                    } else {
                        now_of(to_out)
                    }
                };
                let serving_now = answer(regions, of(&regions.primary), of(&regions.secondary));
                let settles = [Some(from_out), to_out]
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.next(now).map(|(at, _)| at))
                    .max()?;
                (serving_now != Some(to)).then_some((app.name.clone(), settles))
            })
            .collect()
    }
}

fn names<'a>(apps: impl Iterator<Item = &'a AppName>) -> String {
    apps.map(AppName::as_str).collect::<Vec<_>>().join(", ")
}

fn describe_failure(into: &Region, error: &CallError) -> String {
    match error {
        // Already names the Region: "<Region>'s CloudWatch did not answer: ...".
        CallError::Unanswered(why) => why.clone(),
        other => format!("{into} refused it: {other}"),
    }
}
