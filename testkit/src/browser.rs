//! A headless browser for tests that drive a page: the system's Chromium, found on `PATH`
//! (`chromium`, `chromium-browser`, `google-chrome`) or named by the `CHROMIUM` environment
//! variable. Without one, the test fails and says how to get one: a test that needs a browser
//! must not pass without it.
//!
//! With the `browser` feature, `Browser` drives it over the DevTools protocol: JSON messages
//! on a pair of pipes (`--remote-debugging-pipe`: the browser reads fd 3 and writes fd 4, each
//! message ended by a NUL byte). No WebSocket and no generated protocol crate: a test names
//! the few methods it sends, and input goes through `Input.dispatch*Event`, as a person's does.

use std::env;
use std::path::PathBuf;

use super::is_executable;

#[cfg(feature = "browser")]
mod cdp;
#[cfg(feature = "browser")]
pub use cdp::{Browser, CdpError, Page};

/// The binaries looked for on `PATH`, in order.
pub const CANDIDATES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// The environment variable that names a Chromium binary, ahead of `PATH`.
pub const CHROMIUM_ENV: &str = "CHROMIUM";

/// The flags a test browser runs with: headless, no sandbox (containers, root), no GPU, and
/// nothing that reaches the network on its own. `Browser::launch` adds a fresh
/// `--user-data-dir`, the window size and the DevTools pipe.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Why no browser could be found.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "{CHROMIUM_ENV}={path} is not an executable file. Point it at a Chromium binary, or unset it to search PATH"
    )]
    BadEnv { path: PathBuf },
    #[error(
        "no Chromium found: none of {candidates} is on PATH and {CHROMIUM_ENV} is not set.\n\
         Install one (Debian/Ubuntu, as root: `apt-get install -y chromium`), or set \
         {CHROMIUM_ENV}=/path/to/chrome (for example the binary of the npm package \
         `@sparticuz/chromium`)",
        candidates = CANDIDATES.join(", ")
    )]
    NotFound,
}

/// The Chromium binary to drive. Panics with instructions when there is none.
pub fn chromium() -> PathBuf {
    match try_chromium() {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`chromium`], returning the error.
pub fn try_chromium() -> Result<PathBuf, BrowserError> {
    if let Some(path) = env::var_os(CHROMIUM_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(BrowserError::BadEnv { path })
        };
    }
    let dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    find(CANDIDATES, &dirs).ok_or(BrowserError::NotFound)
}

/// The first of `names` that is an executable file in one of `dirs`.
fn find(names: &[&str], dirs: &[PathBuf]) -> Option<PathBuf> {
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|path| is_executable(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_candidate_that_is_executable() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        assert_eq!(find(CANDIDATES, &dirs), None);
        let plain = dir.path().join("chromium");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find(CANDIDATES, &dirs), None, "not executable");
        let chrome = dir.path().join("google-chrome");
        std::fs::write(&chrome, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&chrome, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert_eq!(find(CANDIDATES, &dirs), Some(chrome));
    }

    #[test]
    fn the_error_says_how_to_get_a_browser() {
        let text = BrowserError::NotFound.to_string();
        assert!(text.contains("apt-get install -y chromium"), "{text}");
        assert!(text.contains(CHROMIUM_ENV), "{text}");
    }
}
