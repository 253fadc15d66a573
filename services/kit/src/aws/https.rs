//! The SDK clients' HTTPS client: HTTP/1.1 through hyper-util's pooled client, TLS 1.2 and
//! 1.3 through rustls on *ring*, the server's certificate verified against the system's
//! root certificates.
//!
//! The SDK's own client (`aws-smithy-http-client`) also speaks HTTP/2 and, when configured
//! (it is off by default), proxies, and carries a connection pool of its own: 0.95 MB of the
//! `orders` Lambda binary. DynamoDB, ARC and CloudWatch all answer HTTP/1.1, and the Lambda
//! runtime client already links hyper-util's pool. What the SDK relies on is kept:
//! connections are reused, the connect and read timeouts it passes are honoured, and failures
//! are classified as its retries expect (timeouts and I/O errors retryable).

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use http::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{CaptureConnection, HttpConnector as TcpConnector};
use hyper_util::client::legacy::{self, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{CipherSuite, ClientConfig, RootCertStore};

/// An HTTPS client for the SDK: one connection pool per pair of timeouts the SDK asks for.
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(Https {
        tls: Arc::new(tls_config()),
        connectors: Mutex::default(),
    })
}

/// The SDK's choice of cipher suites (forward secrecy, AEAD only), in its order of preference.
const CIPHER_SUITES: [CipherSuite; 7] = [
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// TLS 1.2 and 1.3 on *ring* with the SDK's cipher suites, trusting the system's roots
/// (read once, when the client is made: a cold start, not the first request, pays for it).
fn tls_config() -> ClientConfig {
    let ring = rustls::crypto::ring::default_provider();
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: CIPHER_SUITES
            .iter()
            .filter_map(|id| {
                ring.cipher_suites
                    .iter()
                    .find(|s| s.suite() == *id)
                    .copied()
            })
            .collect(),
        ..ring
    };
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::warn!(errors = ?native.errors, "some system root certificates could not be read");
    }
    let mut roots = RootCertStore::empty();
    let (_, invalid) = roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        tracing::warn!(
            invalid,
            "no system root certificates: every HTTPS call will fail"
        );
    }
    ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The connect and read timeouts of one [`HttpConnectorSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
}

#[derive(Debug)]
struct Https {
    tls: Arc<ClientConfig>,
    /// One connector per distinct pair of timeouts; a client has one or two.
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for Https {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = Timeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        };
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(t, _)| *t == timeouts) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(Connector::new(self.tls.clone(), timeouts));
        connectors.push((timeouts, connector.clone()));
        connector
    }
}

/// A pooled HTTP/1.1 client with the SDK's timeouts.
#[derive(Debug)]
struct Connector {
    client: Client<ConnectTimeout<HttpsConnector<TcpConnector>>, SdkBody>,
    read_timeout: Option<Duration>,
}

impl Connector {
    fn new(tls: Arc<ClientConfig>, timeouts: Timeouts) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false); // the TLS layer above takes `https` URIs
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(Arc::unwrap_or_clone(tls))
            .https_or_http() // a local endpoint (moto) speaks plain HTTP
            .enable_http1()
            .wrap_connector(tcp);
        let client = legacy::Builder::new(TokioExecutor::new())
            .pool_timer(TokioTimer::new()) // expires idle connections
            .build(ConnectTimeout {
                inner: https,
                timeout: timeouts.connect,
            });
        Self {
            client,
            read_timeout: timeouts.read,
        }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        // The SDK poisons a connection after a transient failure so the pool drops it.
        let captured = hyper_util::client::legacy::connect::capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || poisonable(&captured));
        }
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, response)
                    .await
                    .map_err(|_| ConnectorError::timeout(Box::new(TimedOut("read", limit))))?,
                None => response.await,
            };
            let response = response.map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The connection a request went out on, as the SDK's metadata with a way to poison it.
fn poisonable(captured: &CaptureConnection) -> Option<ConnectionMetadata> {
    captured.connection_metadata().as_ref()?;
    let captured = captured.clone();
    Some(
        ConnectionMetadata::builder()
            .proxied(false)
            .poison_fn(move || {
                if let Some(connection) = captured.connection_metadata().as_ref() {
                    connection.poison();
                }
            })
            .build(),
    )
}

/// What the SDK's retry strategy needs to know about a failed call: a timeout or an I/O
/// failure (refused, reset, DNS, TLS) may succeed on the next attempt; a request the client
/// could not send will not.
fn classify(error: legacy::Error) -> ConnectorError {
    let hyper = caused_by::<hyper::Error>(&error);
    let hyper_says = |test: fn(&hyper::Error) -> bool| hyper.is_some_and(test);
    let kind: fn(BoxError) -> ConnectorError =
        if caused_by::<TimedOut>(&error).is_some() || hyper_says(hyper::Error::is_timeout) {
            ConnectorError::timeout
        } else if hyper_says(hyper::Error::is_user) {
            ConnectorError::user
        } else if error.is_connect()
            || caused_by::<std::io::Error>(&error).is_some()
            || hyper_says(|h| h.is_closed() || h.is_canceled())
        {
            ConnectorError::io
        } else if hyper_says(hyper::Error::is_incomplete_message) {
            // The server closed the connection mid-response: worth another attempt.
            |e| ConnectorError::other(e, Some(ErrorKind::TransientError))
        } else {
            |e| ConnectorError::other(e, None)
        };
    kind(Box::new(error))
}

/// The first error of type `E` in `error`'s chain of sources, `error` included.
fn caused_by<'a, E: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// A connect or read timeout that elapsed.
#[derive(Debug)]
struct TimedOut(&'static str, Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} timeout of {:?} elapsed", self.0, self.1)
    }
}

impl Error for TimedOut {}

/// Bounds the whole of connecting, TCP and TLS handshake, as the SDK's connect timeout does.
#[derive(Debug, Clone)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<C> tower::Service<Uri> for ConnectTimeout<C>
where
    C: tower::Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Connecting<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, connecting)
                    .await
                    .map_err(|_| TimedOut("connect", limit))?
                    .map_err(Into::into),
                None => connecting.await.map_err(Into::into),
            }
        })
    }
}
