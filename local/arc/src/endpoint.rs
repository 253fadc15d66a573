//! One cluster endpoint: a listener whose accept loop owns its connections, so closing the
//! endpoint (fault `Down`, shutdown) refuses new connections and cuts open ones at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};
use topology::Region;

use crate::{LocalClusterError, Shared, protocol};

pub(crate) struct Endpoint {
    pub(crate) region: Region,
    /// The bound address (a requested port 0 resolved), reused when the endpoint reopens.
    pub(crate) addr: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
    /// While down: the port, bound but not listening, so connections are refused and no other
    /// server (another cluster with the same ARNs, in a concurrent test) can take it.
    held: Mutex<Option<TcpSocket>>,
}

impl Endpoint {
    pub(crate) async fn start(
        shared: Arc<Shared>,
        index: usize,
        region: Region,
        addr: SocketAddr,
    ) -> Result<Self, LocalClusterError> {
        let listener = bind(&region, addr).await?;
        let addr = listener
            .local_addr()
            .map_err(|reason| LocalClusterError::Bind {
                region: region.clone(),
                addr,
                reason,
            })?;
        Ok(Self {
            region,
            addr,
            task: Mutex::new(Some(tokio::spawn(serve(listener, shared, index)))),
            held: Mutex::new(None),
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

    /// Goes down (fault `Down`): closes the listener and holds its port until it reopens.
    pub(crate) async fn go_down(&self) {
        self.close().await;
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = hold(self.addr);
    }

    /// Listens again on the same address.
    pub(crate) async fn reopen(
        &self,
        shared: Arc<Shared>,
        index: usize,
    ) -> Result<(), LocalClusterError> {
        self.close().await;
        drop(self.held.lock().unwrap_or_else(|p| p.into_inner()).take());
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

async fn bind(region: &Region, addr: SocketAddr) -> Result<TcpListener, LocalClusterError> {
    TcpListener::bind(addr)
        .await
        .map_err(|reason| LocalClusterError::Bind {
            region: region.clone(),
            addr,
            reason,
        })
}

/// A socket bound to `addr` that does not listen: the kernel refuses connections to it. None
/// when the port cannot be held (connections of its own still in TIME_WAIT), which leaves it
/// merely closed.
fn hold(addr: SocketAddr) -> Option<TcpSocket> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .ok()?;
    // Without SO_REUSEADDR, so that no other socket can bind the port beside it.
    socket.bind(addr).ok()?;
    Some(socket)
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
                                protocol::handle(shared, index, request).await,
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
