//! Approvals: `--yes`, `--approve STEP`, the dashboard's button, or a person at the terminal.

use crate::error::exit;
use crate::plan::run::{Done, Failure, Runner, StepEvent};
use crate::prompt::PromptError;

impl Runner<'_> {
    pub(super) async fn approval(&self, step: &str, message: &str) -> Result<Done, Failure> {
        if self.options.dry_run {
            return Ok(Done::line(format!("would ask: {message}")));
        }
        if self.options.yes {
            return Ok(Done::line("approved by --yes"));
        }
        if self.options.approve.iter().any(|a| a == step) {
            return Ok(Done::line(format!("approved by --approve {step}")));
        }
        self.tell(StepEvent::AwaitingApproval {
            step: step.to_owned(),
            message: message.to_owned(),
        });
        let not_given = |how: &str| Failure {
            message: format!(
                "not approved ({how}); the steps after it did not run. Resume with --resume REPORT --approve {step}"
            ),
            code: exit::NOT_APPROVED,
        };
        if let Some(hook) = &self.options.approval {
            return if hook(step.to_owned(), message.to_owned()).await {
                Ok(Done::line("approved on the dashboard"))
            } else {
                Err(not_given("declined on the dashboard"))
            };
        }
        let question = format!("{message} (step `{step}`)");
        match tokio::task::spawn_blocking(move || crate::prompt::confirm(&question)).await {
            Ok(Ok(true)) => Ok(Done::line("approved at the terminal")),
            Ok(Ok(false)) => Err(not_given("declined at the terminal")),
            Ok(Err(PromptError::NotATerminal)) => Err(not_given(
                "it waits for a person: stdin is not a terminal, and neither --yes nor --approve names it",
            )),
            Ok(Err(e)) => Err(not_given(&e.to_string())),
            Err(e) => Err(not_given(&e.to_string())),
        }
    }
}
