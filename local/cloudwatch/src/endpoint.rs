//! One Regional CloudWatch endpoint: a listener whose accept loop owns its connections, so closing the
//! endpoint (fault `Down`, shutdown) refuses new connections and cuts open ones at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use topology::Region;

use crate::{LocalCloudWatchError, Shared, wire};

pub(crate) struct Endpoint {
    pub(crate) region: Region,
    /// The bound address (a requested port 0 resolved), reused when the endpoint reopens.
    pub(crate) addr: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Endpoint {
    pub(crate) async fn start(
        shared: Arc<Shared>,
        index: usize,
        region: Region,
        addr: SocketAddr,
    ) -> Result<Self, LocalCloudWatchError> {
        let listener = bind(&region, addr).await?;
        let addr = listener
            .local_addr()
            .map_err(|reason| LocalCloudWatchError::Bind {
                region: region.clone(),
                addr,
                reason,
            })?;
        Ok(Self {
            region,
            addr,
            task: Mutex::new(Some(tokio::spawn(serve(listener, shared, index)))),
        })
    }

    /// Stops accepting and drops every open connection; returns once the listener is closed.
    pub(crate) async fn close(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            // Awaiting the aborted task guarantees the listener has been dropped.
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub(crate) async fn reopen(
        &self,
        shared: Arc<Shared>,
        index: usize,
    ) -> Result<(), LocalCloudWatchError> {
        self.close().await;
        let listener = bind(&self.region, self.addr).await?;
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(tokio::spawn(serve(listener, shared, index)));
        Ok(())
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

async fn bind(region: &Region, addr: SocketAddr) -> Result<TcpListener, LocalCloudWatchError> {
    TcpListener::bind(addr)
        .await
        .map_err(|reason| LocalCloudWatchError::Bind {
            region: region.clone(),
            addr,
            reason,
        })
}

/// The accept loop. Connections live in a `JoinSet` owned by this future: aborting the loop
/// drops the set, which aborts every connection.
async fn serve(listener: TcpListener, shared: Arc<Shared>, index: usize) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = shared.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                wire::handle(shared, index, request).await,
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
