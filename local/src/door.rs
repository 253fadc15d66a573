//! Gateway-only access in the local world: a service's port admits only the `api` gateway's
//! client certificate (and the world's trusted callers'), in the TLS handshake, as each
//! service's custom domains do on AWS with mutual TLS and the gateway's API Gateway client
//! certificate in their truststore.
//!
//! The port speaks both: a connection that opens with a TLS handshake must present a
//! certificate of the world's CA ([`crate::pki`]) or the handshake fails; a plain HTTP
//! connection gets only the probes, `/` and `/health` (the world's DNS health evaluation and
//! the drill's route probe call them; on AWS nothing without the certificate gets even those),
//! and `403` problem+json for everything else, from [`guard`], before any handler runs.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use kit::Problem;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;

/// Paths a caller without the certificate may read (`GET` or `HEAD`).
const OPEN_PATHS: [&str; 2] = ["/", "/health"];

/// How long a connection may take to say what it speaks and finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Who is on the other end of a connection, as the handler sees it (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The connection is TLS and its handshake verified a client certificate of the world's CA.
    pub certified: bool,
}

impl Connected<IncomingStream<'_, Door>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Door>) -> Self {
        *stream.remote_addr()
    }
}

/// A listener whose connections are plain HTTP or, with a TLS configuration, TLS with a
/// client certificate; each handshake runs on its own task, so a slow one holds up no other.
pub struct Door {
    incoming: mpsc::Receiver<(Conn, Peer)>,
    local_addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl Door {
    /// Accepts on `listener`; with `tls`, connections that open with a TLS handshake are
    /// served over it.
    pub fn new(listener: TcpListener, tls: Option<Arc<ServerConfig>>) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (sender, incoming) = mpsc::channel(64);
        let acceptor = tls.map(TlsAcceptor::from);
        let accepting = tokio::spawn(accept(listener, acceptor, sender));
        Ok(Self {
            incoming,
            local_addr,
            accepting,
        })
    }
}

impl Drop for Door {
    /// The listener closes with the door: new connections are refused.
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl Listener for Door {
    type Io = Conn;
    type Addr = Peer;

    async fn accept(&mut self) -> (Conn, Peer) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accepting task ended: nothing more comes (axum stops on shutdown).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Peer> {
        Ok(Peer {
            addr: self.local_addr,
            certified: false,
        })
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    sender: mpsc::Sender<(Conn, Peer)>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, typically: wait rather than spin.
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, open(stream, acceptor)).await {
                Ok(Ok((conn, certified))) => {
                    let _ = sender.send((conn, Peer { addr, certified })).await;
                }
                // The client has seen the TLS alert (or is too slow); nothing to serve.
                Ok(Err(error)) => tracing::debug!(%addr, %error, "a connection was refused"),
                Err(_) => tracing::debug!(%addr, "a connection never finished its handshake"),
            }
        });
    }
}

/// The connection as it speaks: TLS when it opens with a handshake and a TLS configuration
/// is set (then the client's certificate was verified), plain otherwise.
async fn open(stream: TcpStream, acceptor: Option<TlsAcceptor>) -> io::Result<(Conn, bool)> {
    let Some(acceptor) = acceptor else {
        return Ok((Conn::Plain(stream), false));
    };
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0] == TLS_HANDSHAKE {
        let tls = acceptor.accept(stream).await?;
        return Ok((Conn::Tls(Box::new(tls)), true));
    }
    Ok((Conn::Plain(stream), false))
}

/// One accepted connection.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// `router`, answering a caller without the certificate only on the probes: wrapped around a
/// service's whole router, so the refusal comes before any handler.
pub fn guard(router: Router) -> Router {
    router.layer(middleware::from_fn(check))
}

async fn check(request: Request, next: Next) -> Response {
    let certified = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .is_some_and(|info| info.0.certified);
    let probe = matches!(*request.method(), Method::GET | Method::HEAD)
        && OPEN_PATHS.contains(&request.uri().path());
    if certified || probe {
        return next.run(request).await;
    }
    Problem::new(
        StatusCode::FORBIDDEN,
        "gateway-only",
        "Call through the API gateway",
        "this service answers only calls that come through the api gateway (its client \
         certificate, in the TLS handshake); send the request to the gateway's URL instead",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        let router = Router::new()
            .route("/", get(|| async { "probe" }))
            .route("/health", get(|| async { "ok" }))
            .route("/orders", get(|| async { "data" }));
        guard(router)
    }

    async fn status(path: &str, peer: Option<bool>) -> (StatusCode, Option<String>) {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        if let Some(certified) = peer {
            request.extensions_mut().insert(ConnectInfo(Peer {
                addr: "127.0.0.1:1".parse().unwrap(),
                certified,
            }));
        }
        let response = app().oneshot(request).await.unwrap();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), kind)
    }

    #[tokio::test]
    async fn only_certified_callers_reach_the_data() {
        assert_eq!(status("/orders", Some(true)).await.0, StatusCode::OK);
        for peer in [Some(false), None] {
            let (code, kind) = status("/orders", peer).await;
            assert_eq!(code, StatusCode::FORBIDDEN, "{peer:?}");
            assert_eq!(kind.as_deref(), Some("application/problem+json"));
        }
        // The probes answer anyone, to a read only.
        assert_eq!(status("/", Some(false)).await.0, StatusCode::OK);
        assert_eq!(status("/health", None).await.0, StatusCode::OK);
        let mut post = Request::post("/health").body(Body::empty()).unwrap();
        post.extensions_mut().insert(ConnectInfo(Peer {
            addr: "127.0.0.1:1".parse().unwrap(),
            certified: false,
        }));
        let response = app().oneshot(post).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
}
