//! Asking before changing an AWS account: the tools' one prompt (`failover::prompt`) on a
//! terminal, `--yes` otherwise.

use failover::prompt::PromptError;

/// Whether to ask before applying changes.
#[derive(Debug, Clone, Copy)]
pub struct Confirm {
    assume_yes: bool,
}

impl Confirm {
    /// `assume_yes`: `--yes` was given; never prompt.
    pub fn new(assume_yes: bool) -> Self {
        Self { assume_yes }
    }

    /// Asks `question`; `true` when the answer is yes. Refuses to prompt when standard input is
    /// not a terminal, so that a script without `--yes` stops instead of hanging or guessing.
    pub async fn ask(&self, question: &str) -> Result<bool, PromptError> {
        if self.assume_yes {
            return Ok(true);
        }
        let question = question.to_owned();
        tokio::task::spawn_blocking(move || failover::prompt::confirm(&question))
            .await
            .map_err(|e| PromptError::Read(std::io::Error::other(e)))?
    }
}
