//! The drill's evacuation and fail back are failover plans, run by the same runner as
//! `failover plan run`, so every drill exercises it. The plans are those in the `plans/`
//! folder next to the topology file; where it has none of that name (a topology elsewhere),
//! the copies shipped with this build.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use failover::plan::{ApprovalHook, Loaded, PlanDir, PlanReport, RunOptions, StepEvent, StepHook};
use failover::{ClientConfig, DataPlane};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::World;

/// The plan that moves every app to the secondary.
pub(crate) const EVACUATE_PRIMARY: &str = "evacuate-primary";
/// The plan that brings every app back to the primary.
pub(crate) const FAIL_BACK: &str = "fail-back";

/// The shipped plans, for a topology without a `plans/` folder beside it.
const SHIPPED: [(&str, &str); 2] = [
    (
        EVACUATE_PRIMARY,
        include_str!("../../../plans/evacuate-primary.toml"),
    ),
    (FAIL_BACK, include_str!("../../../plans/fail-back.toml")),
];

/// Where the drill's plans come from.
#[derive(Debug, Clone)]
pub(crate) struct DrillPlans {
    dir: PathBuf,
}

impl DrillPlans {
    /// The `plans/` folder next to `config` (the topology file).
    pub(crate) fn beside(config: &Path) -> Self {
        let parent = config.parent().unwrap_or_else(|| Path::new(""));
        Self {
            dir: parent.join(failover::plan::DEFAULT_PLANS_DIR),
        }
    }

    /// The plans there and the shipped ones, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names = PlanDir::new(&self.dir).names();
        for (name, _) in SHIPPED {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        names
    }

    /// Plan `name`: the folder's, else the shipped copy.
    pub(crate) fn load(&self, name: &str) -> Result<Loaded, String> {
        let folder = PlanDir::new(&self.dir);
        if folder.names().iter().any(|n| n == name) {
            return folder.load(name).map_err(|e| e.to_string());
        }
        let (_, text) = SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("no plan `{name}` in {}", self.dir.display()))?;
        let path = PathBuf::from(format!("(built in)/{name}.toml"));
        let root = failover::plan::file::parse(text, &path).map_err(|e| e.to_string())?;
        Ok(Loaded {
            root,
            children: Default::default(),
        })
    }
}

/// A plan running alongside the drill.
pub(crate) struct Running {
    pub(crate) task: JoinHandle<Result<PlanReport, String>>,
    /// When its first shift step started.
    pub(crate) shift_started: Arc<Mutex<Option<Instant>>>,
    /// With [`Approver::Drill`]: told when the plan reaches an approval step, and the answer.
    pub(crate) approval: Option<(oneshot::Receiver<()>, oneshot::Sender<bool>)>,
    /// Told when its first shift step starts.
    shifting: Option<oneshot::Receiver<()>>,
}

/// Who passes the plan's approval steps.
pub(crate) enum Approver {
    /// Every one, as `--yes` does.
    Yes,
    /// The drill, at the first approval step (the rest pass): it acts there first, as a
    /// person would, then answers through [`Running::approval`].
    Drill,
}

/// Runs `plan` against `world` alongside the drill.
pub(crate) fn start(world: &Arc<World>, plan: Loaded, approver: Approver) -> Running {
    let manifest = world.manifest().clone();
    let shift_started = Arc::new(Mutex::new(None));
    let seen = shift_started.clone();
    let (tell, shifting) = oneshot::channel();
    let tell = Mutex::new(Some(tell));
    let events: StepHook = Arc::new(move |event| {
        if let StepEvent::Started { kind, .. } = event
            && kind == "shift"
        {
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(Instant::now);
            if let Some(tell) = tell.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = tell.send(());
            }
        }
    });
    let (approval, hook) = match approver {
        Approver::Yes => (None, None),
        Approver::Drill => {
            let (reached, told) = oneshot::channel();
            let (answer, answered) = oneshot::channel();
            let once = Arc::new(Mutex::new(Some((reached, answered))));
            let hook: ApprovalHook = Arc::new(move |_, _| {
                let pair = once.lock().unwrap_or_else(PoisonError::into_inner).take();
                Box::pin(async move {
                    match pair {
                        Some((reached, answered)) => {
                            let _ = reached.send(());
                            answered.await.unwrap_or(false)
                        }
                        None => true,
                    }
                })
            });
            (Some((told, answer)), Some(hook))
        }
    };
    let task = tokio::spawn(async move {
        let plane = DataPlane::from_manifest(&manifest, ClientConfig::default())
            .map_err(|e| e.to_string())?;
        let options = RunOptions {
            yes: hook.is_none(),
            approval: hook,
            events: Some(events),
            ..RunOptions::default()
        };
        Ok(failover::plan::run(&plan, &plane, options).await)
    });
    Running {
        task,
        shift_started,
        approval,
        shifting: Some(shifting),
    }
}

impl Running {
    /// Waits until the plan's first shift starts; `false` when it ended without one.
    pub(crate) async fn until_shift(&mut self) -> bool {
        match self.shifting.take() {
            Some(shifting) => shifting.await.is_ok(),
            None => true,
        }
    }

    /// When its first shift started (else now).
    pub(crate) fn shift_started(&self) -> Instant {
        self.shift_started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or_else(Instant::now)
    }
}
