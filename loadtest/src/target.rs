//! Where requests go: an app's base URL taken apart once, at the edge.

use std::net::IpAddr;

use http::Uri;
use topology::AppName;
use topology::manifest::AppEntry;

use crate::error::ConfigError;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// A base URL: scheme, host, port and path prefix, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    pub scheme: Scheme,
    /// The hostname (or IP literal) as written, lowercase, without brackets.
    pub host: String,
    pub port: u16,
    /// Prefix of every path, without a trailing slash (often empty).
    pub prefix: String,
    /// `host` or `host:port`, for the `Host` header.
    pub authority: String,
    /// `host:port` with the port always written: the connection pool's key.
    pub pool_key: String,
}

impl BaseUrl {
    /// Parses `http://orders.example.test:8000` or `https://orders.example.com/base`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => return Err(format!("scheme `{other}` is not http or https")),
            None => return Err("it has no scheme (http:// or https://)".into()),
        };
        let authority = uri.authority().ok_or("it has no host")?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err("it has no host".into());
        }
        let port = authority.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        if uri.query().is_some() {
            return Err("a base URL cannot carry a query".into());
        }
        Ok(Self {
            scheme,
            pool_key: format!("{host}:{port}"),
            host,
            port,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            authority: authority.as_str().to_owned(),
        })
    }

    /// The host as an IP address, when it is a literal (no DNS lookup needed).
    pub fn ip_literal(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The request target for `path` (which starts with `/`).
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

/// One app's traffic target: its failover URL and, when the manifest has them, a direct URL
/// per Region.
#[derive(Debug, Clone)]
pub struct AppTarget {
    pub app: AppName,
    pub url: String,
    pub base: BaseUrl,
    pub regional: Vec<(topology::Region, BaseUrl)>,
}

impl AppTarget {
    /// The target of a manifest's app entry.
    pub fn from_entry(entry: &AppEntry) -> Result<Self, ConfigError> {
        let url_error = |url: &str, reason: String| ConfigError::Url {
            app: entry.name.clone(),
            url: url.to_owned(),
            reason,
        };
        let base = BaseUrl::parse(&entry.url).map_err(|r| url_error(&entry.url, r))?;
        let regional = entry
            .regional_urls
            .iter()
            .map(|r| {
                BaseUrl::parse(&r.url)
                    .map(|b| (r.region.clone(), b))
                    .map_err(|e| url_error(&r.url, e))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            app: entry.name.clone(),
            url: entry.url.clone(),
            base,
            regional,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_and_without_ports() {
        let b = BaseUrl::parse("http://Orders.example.test:8000").unwrap();
        assert_eq!(
            (b.scheme, b.host.as_str(), b.port, b.prefix.as_str()),
            (Scheme::Http, "orders.example.test", 8000, "")
        );
        assert_eq!(b.path("/orders/1"), "/orders/1");
        let b = BaseUrl::parse("https://api.example.com/v1/").unwrap();
        assert_eq!((b.port, b.prefix.as_str()), (443, "/v1"));
        assert_eq!(b.path("/"), "/v1/");
        let b = BaseUrl::parse("http://127.0.1.1:9000").unwrap();
        assert_eq!(b.ip_literal(), Some("127.0.1.1".parse().unwrap()));
    }

    #[test]
    fn unusable_urls_are_refused() {
        for bad in ["orders.example.test", "ftp://x", "http://x/?q=1", ""] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
