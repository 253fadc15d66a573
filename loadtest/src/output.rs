//! The files a run leaves behind: `report.json` and `timeline.svg`. Kept apart from the
//! report's types, which the timeline reads, so that neither module depends on the other.

use std::io;
use std::path::{Path, PathBuf};

use crate::report::Report;

impl Report {
    /// Writes `report.json` and `timeline.svg` into `dir` (created if needed).
    pub fn write(&self, dir: impl AsRef<Path>) -> io::Result<(PathBuf, PathBuf)> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let json = dir.join("report.json");
        std::fs::write(&json, self.to_json() + "\n")?;
        let svg = dir.join("timeline.svg");
        let drawing = crate::timeline::render(self).map_err(io::Error::other)?;
        std::fs::write(&svg, drawing)?;
        Ok((json, svg))
    }
}
