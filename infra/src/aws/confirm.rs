//! Asking before changing an AWS account: a prompt on a terminal, `--yes` otherwise.

use std::io::{BufRead, IsTerminal, Write};

use super::cfn::DeployError;

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
    pub async fn ask(&self, question: &str) -> Result<bool, DeployError> {
        if self.assume_yes {
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            return Err(DeployError::NotATerminal);
        }
        let question = question.to_owned();
        tokio::task::spawn_blocking(move || {
            print!("{question} [y/N] ");
            std::io::stdout().flush().map_err(DeployError::Prompt)?;
            let mut answer = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut answer)
                .map_err(DeployError::Prompt)?;
            Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
        })
        .await
        .map_err(|e| DeployError::Prompt(std::io::Error::other(e)))?
    }
}
