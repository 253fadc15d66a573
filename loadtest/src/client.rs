//! The HTTP/1.1 client: DNS through [`Resolver`], connections pooled per host and tagged with
//! the address they were opened to, and closed once older than the maximum connection age.
//!
//! Why not hyper-util's pooled client: it has an idle timeout but no maximum age, and it does
//! not say which address a response came through. Both matter here: a kept-alive connection is
//! how a real client keeps reaching the old Region after a failover, and the report counts
//! those responses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use topology::manifest::TrustedClient;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use resolver::Resolver;

use crate::config::ConnectionReuse;
use crate::error::ConfigError;
use crate::target::{BaseUrl, Scheme};
use crate::token::BearerToken;

/// The header naming the Region that served a response, as every app sets it.
pub const X_REGION: HeaderName = HeaderName::from_static(topology::manifest::REGION_HEADER);

/// How a request failed, as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The name did not resolve.
    Dns,
    /// The address refused the connection: nothing listens there.
    ConnectRefused,
    /// No complete response within the request timeout.
    Timeout,
    /// A 5xx response.
    Status5xx,
    /// A 4xx response.
    Status4xx,
    /// Anything else: a reset connection, a malformed response.
    Other,
}

impl ErrorKind {
    /// Every kind, in the report's order.
    pub const ALL: [ErrorKind; 6] = [
        Self::Dns,
        Self::ConnectRefused,
        Self::Timeout,
        Self::Status5xx,
        Self::Status4xx,
        Self::Other,
    ];

    /// The kind's name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::ConnectRefused => "connect_refused",
            Self::Timeout => "timeout",
            Self::Status5xx => "status_5xx",
            Self::Status4xx => "status_4xx",
            Self::Other => "other",
        }
    }

    /// The error kind of a status code, if it is an error.
    pub fn of_status(status: StatusCode) -> Option<Self> {
        if status.is_server_error() {
            Some(Self::Status5xx)
        } else if status.is_client_error() {
            Some(Self::Status4xx)
        } else {
            None
        }
    }
}

/// A request that failed before a response arrived.
#[derive(Debug, Clone)]
pub struct ClientError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl ClientError {
    fn new(kind: ErrorKind, detail: impl ToString) -> Self {
        Self {
            kind,
            detail: detail.to_string(),
        }
    }
}

/// A complete response and how it was reached.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    /// The `x-region` header, or the body's `region` when the header is missing.
    pub region: Option<HeaderValue>,
    pub body: Bytes,
    pub headers: http::HeaderMap,
    /// The connection was opened to an address DNS no longer answers.
    pub stale: bool,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: Method,
    /// The path and query, without the base URL's prefix.
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A JSON body.
    pub json: Option<Bytes>,
}

/// TLS for `https` apps: the system's root certificates plus any the caller adds, and the
/// local world's trusted client certificate when its services admit only certified callers.
#[derive(Clone)]
pub struct Tls {
    connector: tokio_rustls::TlsConnector,
}

impl Tls {
    /// Trusts the system's roots and the PEM files at `ca_files` (`--ca-file`), and with
    /// `trusted`, its CA, presenting its certificate.
    pub fn trusting(
        ca_files: &[std::path::PathBuf],
        trusted: Option<&TrustedClient>,
    ) -> Result<Self, ConfigError> {
        let pems = ca_files
            .iter()
            .map(|path| {
                std::fs::read(path).map_err(|reason| ConfigError::CaFile {
                    path: path.display().to_string(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(&pems, trusted).map_err(ConfigError::Tls)
    }

    /// Trusts the system's roots and the PEM certificates in `extra_roots` (each a file's
    /// contents), and with `trusted`, its CA, presenting its certificate; HTTP/1.1 only.
    pub fn new(extra_roots: &[Vec<u8>], trusted: Option<&TrustedClient>) -> Result<Self, String> {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};

        let mut roots = RootCertStore::empty();
        // Unreadable system certificates are skipped, as browsers do; an empty store fails
        // each https request with a clear certificate error instead of failing the run.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        let local_ca = trusted.map(|t| t.ca_pem.as_bytes());
        for pem in extra_roots.iter().map(Vec::as_slice).chain(local_ca) {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("a CA file is not PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("a CA certificate is not usable: {e}"))?;
            }
        }
        // The provider is named, not taken from the process default: with more than one
        // provider compiled into the workspace, the default would be ambiguous.
        let provider = Arc::new(crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match trusted {
            Some(t) => {
                let chain = CertificateDer::pem_slice_iter(t.certificate_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("the trusted client certificate is not PEM: {e}"))?;
                let key = PrivateKeyDer::from_pem_slice(t.private_key_pem.as_bytes())
                    .map_err(|e| format!("the trusted client key is not PEM: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("the trusted client certificate is not usable: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

impl Outgoing {
    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            json: None,
        }
    }
}

type Sender = SendRequest<Full<Bytes>>;

struct Idle {
    sender: Sender,
    addr: IpAddr,
    opened: Instant,
}

/// A checked-out connection.
struct Conn {
    sender: Sender,
    addr: IpAddr,
    opened: Instant,
    reused: bool,
}

/// The shared client of a run.
pub struct Client {
    resolver: Resolver,
    reuse: ConnectionReuse,
    max_age: Duration,
    pool: Mutex<HashMap<String, Vec<Idle>>>,
    opened: AtomicU64,
    tls: Option<Tls>,
    bearer: Option<HeaderValue>,
}

impl Client {
    /// A client resolving through `resolver`; `tls` is needed for `https` URLs only.
    pub fn new(
        resolver: Resolver,
        reuse: ConnectionReuse,
        max_age: Duration,
        tls: Option<Tls>,
    ) -> Self {
        Self {
            resolver,
            reuse,
            max_age,
            pool: Mutex::new(HashMap::new()),
            opened: AtomicU64::new(0),
            tls,
            bearer: None,
        }
    }

    /// The client, sending `token` in `Authorization` on every request: what the `api` app's
    /// routes need while its `[auth]` is on (services ignore it).
    pub fn with_bearer_token(mut self, token: Option<&BearerToken>) -> Self {
        self.bearer = token.map(BearerToken::header_value);
        self
    }

    /// How many connections this client has opened.
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Sends `out` to `base` and reads the whole response. No timeout: the caller sets one.
    pub async fn send(&self, base: &BaseUrl, out: &Outgoing) -> Result<Response, ClientError> {
        let current = self.address(base).await?;
        let mut conn = match self.checkout(base, current) {
            Some(conn) => conn,
            None => self.connect(base, current).await?,
        };
        let response = match self.exchange(&mut conn, base, out).await {
            // A kept-alive connection the server closed meanwhile: as real clients do, retry
            // once on a new connection when the request was certainly not processed.
            Err(e) if conn.reused && retryable(&e, &out.method) => {
                conn = self.connect(base, current).await?;
                self.exchange(&mut conn, base, out).await
            }
            other => other,
        }
        .map_err(|e| ClientError::new(ErrorKind::Other, e))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| ClientError::new(ErrorKind::Other, e))?
            .to_bytes();
        let addr = conn.addr;
        self.checkin(base, conn);
        let region = parts
            .headers
            .get(X_REGION)
            .cloned()
            .or_else(|| region_from_body(&body));
        Ok(Response {
            status: parts.status,
            region,
            body,
            headers: parts.headers,
            stale: addr != current,
        })
    }

    async fn address(&self, base: &BaseUrl) -> Result<IpAddr, ClientError> {
        match base.ip_literal() {
            Some(ip) => Ok(ip),
            None => self
                .resolver
                .resolve(&base.host)
                .await
                .map_err(|e| ClientError::new(ErrorKind::Dns, e)),
        }
    }

    fn checkout(&self, base: &BaseUrl, current: IpAddr) -> Option<Conn> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let idle = pool.get_mut(base.pool_key.as_str())?;
        // Most recently used first: it is the least likely to have been closed by the server.
        while let Some(at) = match self.reuse {
            ConnectionReuse::PerHost => idle.len().checked_sub(1),
            ConnectionReuse::PerAddress => idle.iter().rposition(|c| c.addr == current),
        } {
            let c = idle.remove(at);
            if !c.sender.is_closed() && c.opened.elapsed() < self.max_age {
                return Some(Conn {
                    sender: c.sender,
                    addr: c.addr,
                    opened: c.opened,
                    reused: true,
                });
            }
        }
        None
    }

    fn checkin(&self, base: &BaseUrl, conn: Conn) {
        if conn.sender.is_closed() || conn.opened.elapsed() >= self.max_age {
            return;
        }
        let idle = Idle {
            sender: conn.sender,
            addr: conn.addr,
            opened: conn.opened,
        };
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        match pool.get_mut(base.pool_key.as_str()) {
            Some(list) => {
                // The oldest sits at the front: drop it once expired, so idle connections
                // that are no longer picked do not linger.
                if list
                    .first()
                    .is_some_and(|c| c.sender.is_closed() || c.opened.elapsed() >= self.max_age)
                {
                    list.remove(0);
                }
                list.push(idle);
            }
            None => {
                pool.insert(base.pool_key.clone(), vec![idle]);
            }
        }
    }

    async fn connect(&self, base: &BaseUrl, ip: IpAddr) -> Result<Conn, ClientError> {
        let stream = TcpStream::connect(SocketAddr::new(ip, base.port))
            .await
            .map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    ErrorKind::ConnectRefused
                } else {
                    ErrorKind::Other
                };
                ClientError::new(kind, format!("connect to {ip}:{}: {e}", base.port))
            })?;
        // Small requests and responses: do not wait to coalesce them.
        let _ = stream.set_nodelay(true);
        let sender = match base.scheme {
            Scheme::Http => handshake(stream).await?,
            Scheme::Https => {
                let tls = self.tls.as_ref().ok_or_else(|| {
                    ClientError::new(ErrorKind::Other, "no TLS configuration for an https URL")
                })?;
                let name = tokio_rustls::rustls::pki_types::ServerName::try_from(base.host.clone())
                    .map_err(|e| ClientError::new(ErrorKind::Other, e))?;
                let stream = tls.connector.connect(name, stream).await.map_err(|e| {
                    ClientError::new(ErrorKind::Other, format!("TLS with {}: {e}", base.host))
                })?;
                handshake(stream).await?
            }
        };
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Conn {
            sender,
            addr: ip,
            opened: Instant::now(),
            reused: false,
        })
    }

    async fn exchange(
        &self,
        conn: &mut Conn,
        base: &BaseUrl,
        out: &Outgoing,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper::Error> {
        conn.sender.ready().await?;
        let mut request = build(base, out);
        if let Some(bearer) = &self.bearer {
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, bearer.clone());
        }
        conn.sender.send_request(request).await
    }
}

/// HTTP/1.1 over `io`; the connection runs on its own task until either side closes it.
async fn handshake<I>(io: I) -> Result<Sender, ClientError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ClientError::new(ErrorKind::Other, e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn retryable(error: &hyper::Error, method: &Method) -> bool {
    error.is_canceled() || (error.is_incomplete_message() && method == Method::GET)
}

fn build(base: &BaseUrl, out: &Outgoing) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(out.json.clone().unwrap_or_default()));
    *request.method_mut() = out.method.clone();
    // A path we built ourselves; fall back to `/` rather than panic on a strange prefix.
    *request.uri_mut() = base.path(&out.path).parse().unwrap_or_default();
    let headers = request.headers_mut();
    if let Ok(host) = HeaderValue::from_str(&base.authority) {
        headers.insert(HOST, host);
    }
    headers.insert(USER_AGENT, HeaderValue::from_static("loadtest/0.1"));
    if out.json.is_some() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in &out.headers {
        headers.insert(name.clone(), value.clone());
    }
    request
}

/// The body's top-level `region`, for responses without the header.
fn region_from_body(body: &[u8]) -> Option<HeaderValue> {
    #[derive(serde::Deserialize)]
    struct WithRegion {
        region: Option<String>,
    }
    let parsed: WithRegion = serde_json::from_slice(body).ok()?;
    HeaderValue::from_str(&parsed.region?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_falls_back_to_the_body() {
        assert_eq!(
            region_from_body(br#"{"service":"orders","region":"us-west-2"}"#).unwrap(),
            "us-west-2"
        );
        assert!(region_from_body(b"not json").is_none());
        assert!(region_from_body(br#"{"service":"orders"}"#).is_none());
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        assert_eq!(ErrorKind::of_status(StatusCode::OK), None);
        assert_eq!(
            ErrorKind::of_status(StatusCode::NOT_FOUND),
            Some(ErrorKind::Status4xx)
        );
        assert_eq!(
            ErrorKind::of_status(StatusCode::SERVICE_UNAVAILABLE),
            Some(ErrorKind::Status5xx)
        );
    }
}
