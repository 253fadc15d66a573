//! One app instance of the local world: an axum router served on the app's loopback address
//! in one Region, with faults on demand — stop (the listener closes, connections are
//! refused), degrade (added latency and/or a share of 503s) and restore.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kit::Problem;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use topology::{AppName, Region};

use tokio_rustls::rustls::ServerConfig;

use crate::door::{Door, Peer};
use crate::monitoring::metrics::ApiRecorder;

/// How long a stopped instance lets in-flight requests finish before it drops them.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// Why an instance could not listen.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The loopback address does not exist on this machine (macOS has only 127.0.0.1).
    #[error("cannot listen on {addr}: the address does not exist on this machine")]
    AddressMissing { addr: SocketAddr },
    #[error("cannot listen on {addr}: {reason}")]
    Other {
        addr: SocketAddr,
        reason: std::io::Error,
    },
}

/// The commands that add missing loopback addresses (macOS), one per address.
pub fn loopback_alias_commands(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(|ip| format!("sudo ifconfig lo0 alias {ip} up"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A degradation: extra latency on every request and a share of requests answered 503.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Degradation {
    /// Added to every request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share of requests answered 503, from 0.0 to 1.0.
    #[serde(default)]
    pub error_rate: f64,
}

/// What an instance is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum InstanceStatus {
    Running,
    Stopped,
    Degraded(Degradation),
}

#[derive(Default)]
struct Faults {
    degradation: Mutex<Option<Degradation>>,
    requests: AtomicU64,
}

impl Faults {
    fn degradation(&self) -> Option<Degradation> {
        *self.degradation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether request number `n` fails at `rate`: spread evenly, so a rate of 0.25 fails
    /// exactly every fourth request (deterministic, unlike a coin flip).
    fn fails(n: u64, rate: f64) -> bool {
        let rate = rate.clamp(0.0, 1.0);
        ((n + 1) as f64 * rate).floor() > (n as f64 * rate).floor()
    }
}

struct Serving {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// One app's instance in one Region.
pub struct Instance {
    pub app: AppName,
    pub region: Region,
    pub addr: SocketAddr,
    router: Router,
    faults: Arc<Faults>,
    tls: Option<Arc<ServerConfig>>,
    serving: tokio::sync::Mutex<Option<Serving>>,
}

impl Instance {
    /// Binds `addr` and serves `router` there, behind the fault layer.
    pub async fn start(
        app: AppName,
        region: Region,
        addr: SocketAddr,
        router: Router,
    ) -> Result<Arc<Self>, BindError> {
        Self::start_measured(app, region, addr, router, None, None).await
    }

    /// As [`Instance::start`], with every response counted by `recorder`, around the fault
    /// layer (an injected 503 or delay is measured as a client sees it), as API Gateway
    /// measures its API; with `tls`, connections that open with a TLS handshake are served
    /// over it ([`crate::door`]).
    pub async fn start_measured(
        app: AppName,
        region: Region,
        addr: SocketAddr,
        router: Router,
        recorder: Option<Arc<ApiRecorder>>,
        tls: Option<Arc<ServerConfig>>,
    ) -> Result<Arc<Self>, BindError> {
        let faults = Arc::new(Faults::default());
        let mut router = router.layer(axum::middleware::from_fn_with_state(
            faults.clone(),
            fault_layer,
        ));
        if let Some(recorder) = recorder {
            router = router.layer(axum::middleware::from_fn_with_state(
                recorder,
                crate::monitoring::metrics::record,
            ));
        }
        let listener = bind(addr).await?;
        let addr = listener
            .local_addr()
            .map_err(|reason| BindError::Other { addr, reason })?;
        let instance = Arc::new(Self {
            app,
            region,
            addr,
            router,
            faults,
            tls,
            serving: tokio::sync::Mutex::new(None),
        });
        *instance.serving.lock().await = Some(instance.serve(listener)?);
        Ok(instance)
    }

    fn serve(&self, listener: TcpListener) -> Result<Serving, BindError> {
        let addr = self.addr;
        let door = Door::new(listener, self.tls.clone())
            .map_err(|reason| BindError::Other { addr, reason })?;
        let (shutdown, stop) = oneshot::channel::<()>();
        let service = self
            .router
            .clone()
            .into_make_service_with_connect_info::<Peer>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(door, service).with_graceful_shutdown(async {
                let _ = stop.await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "an app instance stopped with an error");
            }
        });
        Ok(Serving { shutdown, task })
    }

    /// What the instance is doing now.
    pub async fn status(&self) -> InstanceStatus {
        if self.serving.lock().await.is_none() {
            InstanceStatus::Stopped
        } else if let Some(d) = self.faults.degradation() {
            InstanceStatus::Degraded(d)
        } else {
            InstanceStatus::Running
        }
    }

    /// Stops serving: the listener closes (new connections are refused) and open
    /// connections close once their request is answered.
    pub async fn stop(&self) {
        let Some(serving) = self.serving.lock().await.take() else {
            return;
        };
        let _ = serving.shutdown.send(());
        let abort = serving.task.abort_handle();
        if tokio::time::timeout(STOP_GRACE, serving.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    /// Adds latency and/or errors to every request from now on.
    pub fn degrade(&self, degradation: Degradation) {
        *self
            .faults
            .degradation
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(degradation);
    }

    /// Clears every fault: serves again (on the same address) without degradation.
    pub async fn restore(&self) -> Result<(), BindError> {
        *self
            .faults
            .degradation
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        let mut serving = self.serving.lock().await;
        if serving.is_none() {
            *serving = Some(self.serve(bind(self.addr).await?)?);
        }
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(serving) = self.serving.get_mut().take() {
            serving.task.abort();
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|reason| {
        if reason.kind() == std::io::ErrorKind::AddrNotAvailable {
            BindError::AddressMissing { addr }
        } else {
            BindError::Other { addr, reason }
        }
    })
}

async fn fault_layer(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let Some(degradation) = faults.degradation() else {
        return next.run(request).await;
    };
    if degradation.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(degradation.latency_ms)).await;
    }
    let n = faults.requests.fetch_add(1, Ordering::Relaxed);
    if Faults::fails(n, degradation.error_rate) {
        return Problem::unavailable("this instance is degraded by an injected fault")
            .with_kind("injected-fault")
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rates_are_spread_evenly() {
        let failures = |rate| (0..100).filter(|n| Faults::fails(*n, rate)).count();
        assert_eq!(failures(0.0), 0);
        assert_eq!(failures(0.25), 25);
        assert_eq!(failures(1.0), 100);
        assert!(!Faults::fails(0, 0.5) && Faults::fails(1, 0.5));
    }

    #[test]
    fn alias_commands_name_every_address() {
        let text =
            loopback_alias_commands(&["127.0.1.1".parse().unwrap(), "127.0.2.1".parse().unwrap()]);
        assert_eq!(
            text,
            "sudo ifconfig lo0 alias 127.0.1.1 up\nsudo ifconfig lo0 alias 127.0.2.1 up"
        );
    }
}
