//! Team steps: a command the team ships (run with the plan's and step's names in its
//! environment) and an HTTP call with an expected status.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::plan::run::{Done, Failure, Runner};

impl Runner<'_> {
    pub(super) async fn command(
        &self,
        step: &str,
        run: &[String],
        timeout: Duration,
    ) -> Result<Done, Failure> {
        if self.options.dry_run {
            return Ok(Done::line(format!("would run {}", run.join(" "))));
        }
        let mut command = tokio::process::Command::new(&run[0]);
        command
            .args(&run[1..])
            .env("FAILOVER_PLAN", &self.loaded.root.name)
            .env("FAILOVER_STEP", step)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(timeout, command.output())
            .await
            .map_err(|_| {
                Failure::step(format!(
                    "`{}` did not finish within {} s",
                    run.join(" "),
                    timeout.as_secs()
                ))
            })?
            .map_err(|e| Failure::step(format!("cannot run `{}`: {e}", run[0])))?;
        let tail = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let lines: Vec<&str> = text.lines().rev().take(5).collect();
            lines.into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        if !output.status.success() {
            return Err(Failure::step(format!(
                "`{}` exited with {}: {}",
                run.join(" "),
                output.status,
                tail(&output.stderr)
            )));
        }
        Ok(Done {
            detail: format!("`{}` exited 0", run.join(" ")),
            measurements: json!({ "stdout_tail": tail(&output.stdout) }),
            steps: Vec::new(),
        })
    }

    pub(super) async fn http(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
        expect: u16,
        timeout: Duration,
    ) -> Result<Done, Failure> {
        if self.options.dry_run {
            return Ok(Done::line(format!(
                "would call {method} {url}, expecting {expect}"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Failure::step(format!("HTTP client: {e}")))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| Failure::step(e.to_string()))?;
        let mut request = client.request(method.clone(), url);
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| Failure::step(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        let ms = started.elapsed().as_millis();
        if status != expect {
            return Err(Failure::step(format!(
                "{method} {url} answered {status}, not {expect}"
            )));
        }
        Ok(Done {
            detail: format!("{method} {url} answered {status} in {ms} ms"),
            measurements: json!({ "status": status, "elapsed_ms": ms }),
            steps: Vec::new(),
        })
    }
}
