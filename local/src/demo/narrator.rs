//! What the demo prints while it runs. By default one short line per drill step and one per
//! failed expectation, so that a passing run fits on a screen; with `--verbose`, every
//! expectation in full as it is judged, and each step's detail.

use std::time::Instant;

use crate::verdict::Step;

/// The demo's voice: a clock since the start, and how much to say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Narrator {
    started: Instant,
    verbose: bool,
}

impl Narrator {
    pub(crate) fn new(started: Instant, verbose: bool) -> Self {
        Self { started, verbose }
    }

    /// Whether `--verbose` asked for every detail.
    pub(crate) fn verbose(&self) -> bool {
        self.verbose
    }

    /// Seconds since the demo started.
    pub(crate) fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// One line stamped with the time since the start, whatever the mode.
    pub(crate) fn say(&self, text: &str) {
        println!("[{:>5.1} s] {text}", self.seconds());
    }

    /// A drill step begins: `title` by default, `detail` (what it does, with its numbers) with
    /// `--verbose`.
    pub(crate) fn step(&self, title: &str, detail: &str) {
        self.say(if self.verbose { detail } else { title });
    }

    /// A line only `--verbose` prints.
    pub(crate) fn detail(&self, text: &str) {
        if self.verbose {
            self.say(text);
        }
    }

    /// An expectation was judged: in full with `--verbose`; otherwise a failure in one line
    /// (its detail comes again under the table at the end), a success not at all (it is a row
    /// of that table).
    pub(crate) fn verdict(&self, step: &Step) {
        if self.verbose {
            let mark = if step.held { "ok  " } else { "FAIL" };
            self.say(&format!(
                "{mark} {}: expected {}; measured {}",
                step.name, step.expected, step.measured
            ));
        } else if !step.held {
            self.say(&format!("FAIL {}: {}", step.name, step.summary));
        }
    }
}
