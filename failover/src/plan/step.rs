//! A plan's steps, as types: each kind of step is one variant holding exactly what it needs,
//! valid by construction (the file format in `file` parses into these).

use std::time::Duration;

use serde::Serialize;
use topology::manifest::Manifest;
use topology::{AppName, Region};

/// A Region as a plan names it: by role, so that one plan serves any pair of Regions, or by
/// name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum RegionRef {
    Primary,
    Secondary,
    Named(Region),
}

impl RegionRef {
    /// `primary`, `secondary`, or a Region's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "primary" => Ok(Self::Primary),
            "secondary" => Ok(Self::Secondary),
            name => name.parse().map(Self::Named).map_err(|e| {
                format!("`{name}` is neither `primary`, `secondary` nor a Region: {e}")
            }),
        }
    }

    /// The Region in `manifest`; an error names a Region the deployment does not have.
    pub fn resolve(&self, manifest: &Manifest) -> Result<Region, String> {
        let regions = &manifest.regions;
        match self {
            Self::Primary => Ok(regions.primary.clone()),
            Self::Secondary => Ok(regions.secondary.clone()),
            Self::Named(region) if regions.other(region).is_some() => Ok(region.clone()),
            Self::Named(region) => Err(format!(
                "Region `{region}` is not one of this deployment's Regions ({}, {})",
                regions.primary, regions.secondary
            )),
        }
    }
}

impl From<RegionRef> for String {
    fn from(value: RegionRef) -> Self {
        match value {
            RegionRef::Primary => "primary".into(),
            RegionRef::Secondary => "secondary".into(),
            RegionRef::Named(region) => region.to_string(),
        }
    }
}

/// The apps a step acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "Vec<String>")]
pub enum Apps {
    /// Every app of the deployment, in the manifest's order.
    All,
    /// These apps, in this order.
    Named(Vec<AppName>),
}

impl Apps {
    /// The apps in `manifest`; an error names the first the deployment does not have.
    pub fn resolve(&self, manifest: &Manifest) -> Result<Vec<AppName>, String> {
        match self {
            Self::All => Ok(manifest.apps.iter().map(|a| a.name.clone()).collect()),
            Self::Named(apps) => {
                for app in apps {
                    if manifest.app(app).is_none() {
                        let known: Vec<&str> =
                            manifest.apps.iter().map(|a| a.name.as_str()).collect();
                        return Err(format!(
                            "app `{app}` is not in the manifest (its apps: {})",
                            known.join(", ")
                        ));
                    }
                }
                Ok(apps.clone())
            }
        }
    }
}

impl From<Apps> for Vec<String> {
    fn from(value: Apps) -> Self {
        match value {
            Apps::All => vec!["all".into()],
            Apps::Named(apps) => apps.iter().map(ToString::to_string).collect(),
        }
    }
}

/// How a shift sends its apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftMode {
    /// All the step's apps in one call (ARC: one atomic batch).
    Batch,
    /// One call per app, all at once.
    Parallel,
}

/// What a wait waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// This long.
    Duration(#[serde(with = "millis")] Duration),
    /// Until `app`'s instance in `region` answers `GET /` on its Region-specific hostname.
    Answers {
        app: AppName,
        region: RegionRef,
        #[serde(with = "millis")]
        timeout: Duration,
    },
    /// Until the alarm `name`, held in `region`, is in `state` (`OK`, `ALARM`,
    /// `INSUFFICIENT_DATA`).
    Alarm {
        name: String,
        region: RegionRef,
        state: String,
        #[serde(with = "millis")]
        timeout: Duration,
    },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Unique in its plan: `--approve`, `--resume` and the report name steps by it.
    pub name: String,
    pub kind: StepKind,
}

/// The kinds of steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The replication gate: refuse (exit 6) while the target's copy of an app's table lags
    /// more than `max_lag`.
    Gate {
        apps: Apps,
        to: RegionRef,
        #[serde(with = "millis")]
        max_lag: Duration,
    },
    /// Move apps; with `verify`, time each stage until traffic reaches the target.
    Shift {
        apps: Apps,
        to: RegionRef,
        mode: ShiftMode,
        verify: bool,
        #[serde(with = "millis")]
        verify_timeout: Duration,
    },
    /// The traffic stages (authoritative DNS, recursive DNS, `GET /`) of each app, timed from
    /// the step's start, within `timeout`.
    Verify {
        apps: Apps,
        region: RegionRef,
        #[serde(with = "millis")]
        timeout: Duration,
    },
    Wait(Wait),
    /// Waits for a person (a terminal prompt, `--approve STEP`, `--yes`, the dashboard).
    Approval {
        message: String,
    },
    /// `requests` GETs of `path` to each app's Region-specific hostname in `region`, before
    /// traffic moves there; fails when fewer than `min_success` of them answer 2xx.
    WarmUp {
        apps: Apps,
        region: RegionRef,
        requests: u32,
        path: String,
        min_success: u32,
    },
    /// The team's own command (no shell: `run` is the program and its arguments); passes on
    /// exit status 0.
    Command {
        run: Vec<String>,
        #[serde(with = "millis")]
        timeout: Duration,
    },
    /// The team's own HTTP call; passes on `expect_status`.
    Http {
        method: String,
        url: String,
        body: Option<String>,
        expect_status: u16,
        #[serde(with = "millis")]
        timeout: Duration,
    },
    /// Another plan of the same folder, run as one step.
    Plan {
        plan: String,
    },
    /// These steps, all at once; the group passes when each of them does.
    Parallel {
        steps: Vec<Step>,
    },
}

impl StepKind {
    /// The kind's word, as the file and the report write it.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Gate { .. } => "gate",
            Self::Shift { .. } => "shift",
            Self::Verify { .. } => "verify",
            Self::Wait(_) => "wait",
            Self::Approval { .. } => "approval",
            Self::WarmUp { .. } => "warm_up",
            Self::Command { .. } => "command",
            Self::Http { .. } => "http",
            Self::Plan { .. } => "plan",
            Self::Parallel { .. } => "parallel",
        }
    }
}

impl Step {
    /// This step and every step nested in it (a parallel group's), depth first.
    pub fn flatten(&self) -> Vec<&Step> {
        let mut all = vec![self];
        if let StepKind::Parallel { steps } = &self.kind {
            all.extend(steps.iter().flat_map(Step::flatten));
        }
        all
    }
}

/// Durations in reports: whole milliseconds.
mod millis {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_named_by_role_or_by_name() {
        assert_eq!(RegionRef::parse("primary"), Ok(RegionRef::Primary));
        assert_eq!(RegionRef::parse("secondary"), Ok(RegionRef::Secondary));
        assert_eq!(
            RegionRef::parse("us-west-2"),
            Ok(RegionRef::Named("us-west-2".parse().unwrap()))
        );
        assert!(RegionRef::parse("Primary!").is_err());
    }
}
