//! The control API's own door. It shifts apps and injects faults, and it listens on loopback,
//! where any web page the user visits can reach it: by DNS rebinding (a name of the page's
//! own that soon resolves to 127.0.0.1) for reads and writes, or by posting across origins.
//! So every request must be addressed to the API itself, and a change must come from its own
//! page or from a client that is not a web page:
//!
//! - `Host` must be the address it listens on, or `localhost`, with its port (an IP address
//!   cannot be rebound, a name of someone else's can). Otherwise **421 Misdirected Request**:
//!   the request reached a server that does not serve that name (RFC 9110, 15.5.20), which is
//!   exactly what a rebound name is.
//! - A request that changes something (POST, PUT, DELETE, PATCH) with an `Origin` must come
//!   from `http://` and an allowed host: the dashboard's own page. Browsers send `Origin` on
//!   every such request; `curl` and the `failover` CLI send none and pass. Otherwise **403
//!   Forbidden**: the request is addressed right, but its sender is not allowed to make it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header, uri::Authority};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kit::Problem;
use utoipa::openapi::OpenApi;

/// The hosts a request may be addressed to, from the address the API listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    listen: SocketAddr,
}

impl AllowedHosts {
    pub fn new(listen: SocketAddr) -> Self {
        Self { listen }
    }

    /// The hosts in words, for the refusal's detail: `127.0.0.1:8080 or localhost:8080`.
    fn described(&self) -> String {
        let port = self.listen.port();
        let ip = self.listen.ip();
        if ip.is_unspecified() {
            format!("any IP address or localhost, port {port}")
        } else if ip.is_loopback() {
            format!("{} or localhost:{port}", self.listen)
        } else {
            self.listen.to_string()
        }
    }

    /// Whether `authority` (`host[:port]`, as in `Host` or an origin) names this server.
    pub fn allows(&self, authority: &str) -> bool {
        let Ok(authority) = authority.parse::<Authority>() else {
            return false;
        };
        if authority.port_u16().unwrap_or(80) != self.listen.port() {
            return false;
        }
        let host = authority.host();
        let listen = self.listen.ip();
        if host.eq_ignore_ascii_case("localhost") {
            return listen.is_loopback() || listen.is_unspecified();
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            // Listening on every address, any of them may be the one the client used.
            Ok(ip) => ip == listen || listen.is_unspecified(),
            Err(_) => false,
        }
    }

    /// Whether `origin` (an `Origin` header) is the API's own page.
    fn allows_origin(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|authority| self.allows(authority))
    }

    /// Lets through a request addressed to this server, and a change only from its own page
    /// or a client that is no web page; otherwise the refusal, as problem+json.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), Problem> {
        let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or("?"));
        if !host.is_some_and(|h| self.allows(h)) {
            return Err(Problem::new(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected-request",
                "Misdirected request",
                format!(
                    "this is the local world's control API: it answers requests addressed to {}, not to {}",
                    self.described(),
                    host.map_or_else(|| "no host".to_owned(), |h| format!("`{h}`"))
                ),
            ));
        }
        if method.is_safe() {
            return Ok(());
        }
        match headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or("?"))
        {
            Some(origin) if !self.allows_origin(origin) => Err(Problem::new(
                StatusCode::FORBIDDEN,
                "cross-origin-request",
                "Cross-origin request refused",
                format!(
                    "the control API takes changes from its own page (http://{}) or from a client that sends no Origin, not from `{origin}`",
                    self.listen
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The guard, as middleware over every route: the request goes on, or the refusal comes back.
pub async fn guard(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    match allowed.check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}

/// Adds the guard's refusals to every operation of `document`: 421 to all, 403 to those that
/// change something.
pub fn document(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.delete, true),
            (&mut item.patch, true),
        ];
        for (operation, changes) in operations {
            let Some(operation) = operation else {
                continue;
            };
            let responses = &mut operation.responses.responses;
            responses.insert(
                "421".into(),
                kit::docs::problem("Addressed to another host: only the API's own address or `localhost`, with its port, are answered").into(),
            );
            if changes {
                responses.insert(
                    "403".into(),
                    kit::docs::problem("`Origin` is another site: changes come from the API's own page or from a client that sends no `Origin`").into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> AllowedHosts {
        AllowedHosts::new("127.0.0.1:8080".parse().unwrap())
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), value.parse().unwrap()))
            .collect()
    }

    #[test]
    fn its_own_address_and_localhost_on_its_port_are_allowed_and_nothing_else() {
        let allowed = loopback();
        for host in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080"] {
            assert!(allowed.allows(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "127.0.0.2:8080",
            "[::1]:8080",
            "localhost.:8080",
            "127.0.0.1.nip.io:8080",
            "",
            "not a host",
        ] {
            assert!(!allowed.allows(host), "{host}");
        }
        let v6 = AllowedHosts::new("[::1]:9000".parse().unwrap());
        assert!(v6.allows("[::1]:9000") && v6.allows("localhost:9000"));
        assert!(!v6.allows("127.0.0.1:9000"));
        let port_80 = AllowedHosts::new("127.0.0.1:80".parse().unwrap());
        assert!(port_80.allows("localhost") && port_80.allows("127.0.0.1"));
    }

    #[test]
    fn listening_everywhere_allows_any_address_but_no_other_name() {
        let allowed = AllowedHosts::new("0.0.0.0:8080".parse().unwrap());
        for host in ["127.0.0.1:8080", "192.168.1.20:8080", "localhost:8080"] {
            assert!(allowed.allows(host), "{host}");
        }
        assert!(!allowed.allows("evil.example:8080"));
        assert!(!allowed.allows("192.168.1.20:9090"));
    }

    #[test]
    fn a_foreign_host_is_misdirected_on_a_read_and_on_a_change() {
        let allowed = loopback();
        for method in [Method::GET, Method::POST] {
            let problem = allowed
                .check(&method, &headers(&[(header::HOST, "evil.example:8080")]))
                .unwrap_err();
            assert_eq!(problem.status, StatusCode::MISDIRECTED_REQUEST);
            assert!(problem.detail.contains("`evil.example:8080`"), "{problem}");
            assert!(problem.detail.contains("127.0.0.1:8080"), "{problem}");
        }
        let none = allowed.check(&Method::GET, &HeaderMap::new()).unwrap_err();
        assert_eq!(none.status, StatusCode::MISDIRECTED_REQUEST);
    }

    #[test]
    fn a_change_from_another_origin_is_forbidden_and_from_its_own_page_allowed() {
        let allowed = loopback();
        let host = (header::HOST, "127.0.0.1:8080");
        for origin in [
            "http://evil.example",
            "http://evil.example:8080",
            "null",
            "https://127.0.0.1:8080",
        ] {
            let sent = headers(&[host.clone(), (header::ORIGIN, origin)]);
            let problem = allowed.check(&Method::POST, &sent).unwrap_err();
            assert_eq!(problem.status, StatusCode::FORBIDDEN, "{origin}");
            assert_eq!(problem.kind, "cross-origin-request");
            // A read cannot change anything, and its answer is not readable across origins.
            assert!(allowed.check(&Method::GET, &sent).is_ok(), "{origin}");
        }
        for origin in ["http://127.0.0.1:8080", "http://localhost:8080"] {
            let sent = headers(&[host.clone(), (header::ORIGIN, origin)]);
            assert!(allowed.check(&Method::PUT, &sent).is_ok(), "{origin}");
        }
        assert!(allowed.check(&Method::DELETE, &headers(&[host])).is_ok());
    }
}
