//! The DevTools protocol over Chromium's pipe: one page, driven from a test thread.

use std::io::{self, BufRead, BufReader, PipeReader, PipeWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::{BrowserError, FLAGS, try_chromium};

/// How long one protocol call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a wait polls the page.
const POLL: Duration = Duration::from_millis(50);

/// What went wrong talking to the browser.
#[derive(Debug, thiserror::Error)]
pub enum CdpError {
    #[error(transparent)]
    NoBrowser(#[from] BrowserError),
    #[error("starting Chromium: {0}")]
    Spawn(io::Error),
    #[error("the DevTools pipe: {0}")]
    Pipe(io::Error),
    #[error("{method}: no answer within {CALL_TIMEOUT:?}")]
    Timeout { method: String },
    #[error("{method}: the browser has exited")]
    Closed { method: String },
    #[error("{method}: {message}")]
    Protocol { method: String, message: String },
    #[error("evaluating `{expression}`: {text}")]
    Script { expression: String, text: String },
    #[error("{what}: not within {timeout:?}")]
    NotWithin { what: String, timeout: Duration },
}

/// A headless Chromium with its DevTools pipe; killed when dropped.
pub struct Browser {
    child: Child,
    to_browser: Mutex<PipeWriter>,
    from_browser: Mutex<Receiver<Value>>,
    next_id: AtomicU64,
}

/// A page (a target attached in flat mode): every call carries its session id.
pub struct Page<'b> {
    browser: &'b Browser,
    session: String,
}

impl Browser {
    /// Starts the system's Chromium ([`try_chromium`]) with [`FLAGS`], the profile folder
    /// `user_data_dir` and a window of `width`×`height` CSS pixels.
    pub fn launch(user_data_dir: &Path, (width, height): (u32, u32)) -> Result<Self, CdpError> {
        let (child_reads, to_browser) = io::pipe().map_err(CdpError::Pipe)?;
        let (from_browser, child_writes) = io::pipe().map_err(CdpError::Pipe)?;
        let mut command = Command::new(try_chromium()?);
        command
            .args(FLAGS)
            .arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", user_data_dir.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (read_fd, write_fd) = (child_reads.as_raw_fd(), child_writes.as_raw_fd());
        // SAFETY: between fork and exec this only calls the async-signal-safe fcntl, dup2 and
        // close, on descriptors this process owns.
        unsafe {
            command.pre_exec(move || pipe_to_fds_3_and_4(read_fd, write_fd));
        }
        let child = command.spawn().map_err(CdpError::Spawn)?;
        drop((child_reads, child_writes));
        Ok(Self {
            child,
            to_browser: Mutex::new(to_browser),
            from_browser: Mutex::new(spawn_reader(from_browser)),
            next_id: AtomicU64::new(1),
        })
    }

    /// A new page, attached, showing `about:blank`.
    pub fn new_page(&self) -> Result<Page<'_>, CdpError> {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )?;
        let session = attached["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Page {
            browser: self,
            session,
        })
    }

    /// Sends `method` and waits for its answer; events on the way are not needed, and dropped.
    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, CdpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        let closed = || CdpError::Closed {
            method: method.to_owned(),
        };
        let mut writer = self.to_browser.lock().unwrap_or_else(|e| e.into_inner());
        writer.write_all(&bytes).map_err(|_| closed())?;
        drop(writer);
        let replies = self.from_browser.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = match replies.recv_timeout(left) {
                Ok(reply) => reply,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(CdpError::Timeout {
                        method: method.to_owned(),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => return Err(closed()),
            };
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            return match reply.get("error") {
                Some(error) => Err(CdpError::Protocol {
                    method: method.to_owned(),
                    message: error["message"].as_str().unwrap_or("").to_owned(),
                }),
                None => Ok(reply["result"].clone()),
            };
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask it to close, so that it leaves its profile folder alone, then make sure.
        let _ = self.call(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Page<'_> {
    fn call(&self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.browser.call(Some(&self.session), method, params)
    }

    /// Loads `url` and waits until the document has loaded.
    pub fn navigate(&self, url: &str) -> Result<(), CdpError> {
        let navigated = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(error) = navigated["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(CdpError::Protocol {
                method: format!("Page.navigate {url}"),
                message: error.to_owned(),
            });
        }
        self.wait_until(
            &format!("{url} loaded"),
            "document.readyState === 'complete'",
            CALL_TIMEOUT,
        )
        .map(|_| ())
    }

    /// The value of a JavaScript expression in the page (`null` for `undefined`).
    pub fn evaluate(&self, expression: &str) -> Result<Value, CdpError> {
        let answer = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        )?;
        if let Some(details) = answer.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("an exception");
            return Err(CdpError::Script {
                expression: expression.to_owned(),
                text: text.to_owned(),
            });
        }
        Ok(answer["result"]
            .get("value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Waits until `expression` is `true` in the page, polling; answers how long it took.
    pub fn wait_until(
        &self,
        what: &str,
        expression: &str,
        timeout: Duration,
    ) -> Result<Duration, CdpError> {
        let start = Instant::now();
        loop {
            if self.evaluate(expression)? == Value::Bool(true) {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= timeout {
                return Err(CdpError::NotWithin {
                    what: what.to_owned(),
                    timeout,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Clicks the first element matching the CSS `selector` with the mouse, once it exists.
    pub fn click(&self, selector: &str) -> Result<(), CdpError> {
        let quoted = Value::from(selector);
        self.click_element(selector, &format!("document.querySelector({quoted})"))
    }

    /// Clicks the first element matching `xpath` with the mouse, once it exists.
    pub fn click_xpath(&self, xpath: &str) -> Result<(), CdpError> {
        let quoted = Value::from(xpath);
        self.click_element(
            xpath,
            &format!(
                "document.evaluate({quoted}, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue"
            ),
        )
    }

    /// Waits for the element, scrolls it into view, then presses and releases the left button
    /// at its centre.
    fn click_element(&self, what: &str, element: &str) -> Result<(), CdpError> {
        self.wait_until(
            &format!("an element `{what}`"),
            &format!("{element} !== null"),
            CALL_TIMEOUT,
        )?;
        let centre = self.evaluate(&format!(
            "(() => {{ const e = {element}; e.scrollIntoView({{block: 'center', inline: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ))?;
        let (Some(x), Some(y)) = (centre[0].as_f64(), centre[1].as_f64()) else {
            return Err(CdpError::Script {
                expression: element.to_owned(),
                text: format!("no position for the element (it answered {centre})"),
            });
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// Presses and releases Enter, in whatever has the focus.
    pub fn press_enter(&self) -> Result<(), CdpError> {
        let key = json!({"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13});
        let mut down = key.clone();
        down["type"] = json!("keyDown");
        down["text"] = json!("\r");
        let mut up = key;
        up["type"] = json!("keyUp");
        self.call("Input.dispatchKeyEvent", down)?;
        self.call("Input.dispatchKeyEvent", up).map(|_| ())
    }

    /// A PNG of what the window shows.
    pub fn screenshot(&self) -> Result<Vec<u8>, CdpError> {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "fromSurface": true}),
        )?;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .map_err(|e| CdpError::Protocol {
                method: "Page.captureScreenshot".into(),
                message: e.to_string(),
            })
    }
}

/// In the child: the pipe ends at fds 3 (commands in) and 4 (answers out), as Chromium expects.
/// Through fresh copies first, in case either end already sits at 3 or 4.
fn pipe_to_fds_3_and_4(read_fd: i32, write_fd: i32) -> io::Result<()> {
    let check = |r: i32| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: plain descriptor calls on descriptors the parent gave this child.
    unsafe {
        let read_copy = check(libc::fcntl(read_fd, libc::F_DUPFD, 10))?;
        let write_copy = check(libc::fcntl(write_fd, libc::F_DUPFD, 10))?;
        check(libc::dup2(read_copy, 3))?;
        check(libc::dup2(write_copy, 4))?;
        libc::close(read_copy);
        libc::close(write_copy);
    }
    Ok(())
}

/// Reads NUL-ended messages until the browser closes its end.
fn spawn_reader(pipe: PipeReader) -> Receiver<Value> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        while let Some(message) = read_message(&mut reader) {
            if sender.send(message).is_err() {
                return;
            }
        }
    });
    receiver
}

/// The next message, or `None` at the end of the stream. A message that is not JSON is skipped.
fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match reader.read_until(0, &mut bytes) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if bytes.last() == Some(&0) {
            bytes.pop();
        }
        if let Ok(message) = serde_json::from_slice(&bytes) {
            return Some(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_split_at_nul_bytes_and_garbage_is_skipped() {
        let stream =
            b"{\"id\":1,\"result\":{}}\0not json\0{\"method\":\"Page.loadEventFired\"}\0{\"id\":2";
        let mut reader = io::Cursor::new(&stream[..]);
        assert_eq!(read_message(&mut reader).unwrap()["id"], 1);
        assert_eq!(
            read_message(&mut reader).unwrap()["method"],
            "Page.loadEventFired"
        );
        assert_eq!(
            read_message(&mut reader),
            None,
            "a cut-off message is not one"
        );
    }
}
