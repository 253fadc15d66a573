//! Where requests go: an app's base URL taken apart once, at the edge.

use std::net::IpAddr;

use http::Uri;
use topology::AppName;
use topology::manifest::{AppEntry, Manifest, TrustedClient};

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
    /// The target of `manifest`'s app `entry`. A local world's service whose port admits only
    /// certified callers (the manifest holds a trusted client certificate) is reached over
    /// TLS on that port, presenting the certificate.
    pub fn from_entry(manifest: &Manifest, entry: &AppEntry) -> Result<Self, ConfigError> {
        let certified = manifest.trusted_client.is_some() && entry.routes.is_empty();
        let url_of = |url: &str| match certified {
            true => TrustedClient::tls_url(url),
            false => url.to_owned(),
        };
        let url_error = |url: &str, reason: String| ConfigError::Url {
            app: entry.name.clone(),
            url: url.to_owned(),
            reason,
        };
        let base = BaseUrl::parse(&url_of(&entry.url)).map_err(|r| url_error(&entry.url, r))?;
        let regional = entry
            .regional_urls
            .iter()
            .map(|r| {
                BaseUrl::parse(&url_of(&r.url))
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
    fn a_local_service_is_reached_over_tls_when_the_manifest_holds_a_trusted_certificate() {
        let mut manifest: Manifest = serde_json::from_value(serde_json::json!({
            "manifest_version": topology::manifest::MANIFEST_VERSION,
            "environment": "local",
            "domain": "example.test",
            "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
            "routing": {"mechanism": "health-check", "flags": {"namespace": "n", "metric_name": "m"}},
            "apps": [],
        }))
        .unwrap();
        let entry = |name: &str, routes: serde_json::Value| -> AppEntry {
            serde_json::from_value(serde_json::json!({
                "name": name,
                "hostname": format!("{name}.example.test"),
                "url": format!("http://{name}.example.test:8000"),
                "routing": {"mechanism": "health-check", "flags": []},
                "regional_urls": [{"region": "us-east-1", "url": format!("http://{name}.us-east-1.example.test:8000")}],
                "routes": routes,
            }))
            .unwrap()
        };
        let orders = entry("orders", serde_json::json!({}));
        let api = entry("api", serde_json::json!({"/orders": "orders"}));
        let schemes = |manifest: &Manifest, entry: &AppEntry| {
            let t = AppTarget::from_entry(manifest, entry).unwrap();
            (t.base.scheme, t.regional[0].1.scheme)
        };
        assert_eq!(schemes(&manifest, &orders), (Scheme::Http, Scheme::Http));
        manifest.trusted_client = Some(TrustedClient {
            ca_pem: String::new(),
            certificate_pem: String::new(),
            private_key_pem: String::new(),
        });
        assert_eq!(schemes(&manifest, &orders), (Scheme::Https, Scheme::Https));
        // The gateway is plain HTTP in the local world: it presents the certificate itself.
        assert_eq!(schemes(&manifest, &api), (Scheme::Http, Scheme::Http));
    }

    #[test]
    fn unusable_urls_are_refused() {
        for bad in ["orders.example.test", "ftp://x", "http://x/?q=1", ""] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
