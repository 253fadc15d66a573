//! The one confirmation prompt of the command-line tools: asked on a terminal, refused
//! elsewhere, so that a script without `--yes` stops instead of hanging or guessing.

use std::io::{BufRead, IsTerminal, Write};

/// Why no answer was had.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// Standard input is not a terminal: there is no one to ask.
    #[error("stdin is not a terminal, so there is no one to confirm this change")]
    NotATerminal,
    /// The answer could not be read.
    #[error("cannot read the answer: {0}")]
    Read(#[from] std::io::Error),
}

/// Asks `question` on standard error and reads the answer; `true` for yes (`y`, `yes`).
pub fn confirm(question: &str) -> Result<bool, PromptError> {
    if !std::io::stdin().is_terminal() {
        return Err(PromptError::NotATerminal);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(is_yes(&line))
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_is_yes() {
        for yes in ["y", "Y", "yes", "YES", "Yes\n"] {
            assert!(is_yes(yes), "{yes}");
        }
        for no in ["", "n", "no", "yess", "ok"] {
            assert!(!is_yes(no), "{no}");
        }
    }
}
