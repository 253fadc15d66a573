//! The demo's expectations, each a function of what the drill measured, so that a test can
//! feed it a broken world's measurements and see it fail: `routes` (every route answers,
//! an outage stays contained), `writes` (no write lost, last writer wins, the replication
//! gate, write fencing) and `moves` (DNS propagation, staged verification, move times).

mod moves;
mod routes;
mod writes;

use serde::Serialize;

pub use moves::{Move, move_distribution, move_summary, propagates_like_route53, stages_in_order};
pub use routes::{contained, every_route_answers, routes_text};
pub use writes::{
    fenced_writes_land_once, gate_refuses_then_allows, last_writer_wins, last_writer_wins_expected,
    no_write_lost,
};

/// One expectation: what was expected, what was measured, and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub name: String,
    pub expected: String,
    pub measured: String,
    /// The number that matters, in a few words: the demo's table shows it.
    pub summary: String,
    pub held: bool,
    /// Nothing to check it on (a service without an update route has no last-writer-wins
    /// check): it fails nothing, and it is counted apart from the expectations that held.
    pub skipped: bool,
}

impl Step {
    /// The table's word for it: `yes`, `NO`, or `skip` when there was nothing to check.
    pub fn verdict(&self) -> &'static str {
        match (self.skipped, self.held) {
            (_, false) => "NO",
            (true, true) => "skip",
            (false, true) => "yes",
        }
    }

    /// A step that could not be measured at all: `expected` did not happen, for `why`.
    pub fn failed(name: impl Into<String>, expected: impl Into<String>, why: String) -> Self {
        let summary = first_line(&why);
        Self {
            name: name.into(),
            expected: expected.into(),
            measured: why,
            summary,
            skipped: false,
            held: false,
        }
    }
}

/// The first line of `text`, cut to a table cell's width.
pub(crate) fn first_line(text: &str) -> String {
    const WIDTH: usize = 60;
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= WIDTH {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(WIDTH - 1).collect();
        format!("{cut}…")
    }
}
