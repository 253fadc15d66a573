//! The `api` app's routing table: path prefix → the service subdomain that serves it.

use topology::{AppName, DomainName, Topology};

/// Why a routing table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutesError {
    #[error("`{0}` is not an app in the topology")]
    UnknownApp(AppName),
    #[error("`{0}` is not a gateway (kind = \"gateway\") in the topology")]
    NotAGateway(AppName),
}

/// Where a routed request goes: a hostname resolved per request through DNS, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The service's app.
    pub app: AppName,
    /// `orders.example.test`: the name the gateway resolves, as a remote client would.
    pub host: String,
    pub port: u16,
}

/// One entry of the routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `/orders`: matches `/orders` and everything under `/orders/`.
    pub prefix: String,
    pub upstream: Upstream,
}

/// The routing table, longest prefix first so that the most specific route wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingTable {
    routes: Vec<Route>,
}

impl RoutingTable {
    /// The routes of `gateway` in `topology`, to the services' subdomains of `domain` on `port`.
    pub fn from_topology(
        topology: &Topology,
        gateway: &AppName,
        domain: &DomainName,
        port: u16,
    ) -> Result<Self, RoutesError> {
        let app = topology
            .app(gateway)
            .ok_or_else(|| RoutesError::UnknownApp(gateway.clone()))?
            .as_gateway()
            .ok_or_else(|| RoutesError::NotAGateway(gateway.clone()))?;
        let routes = app
            .routes()
            .iter()
            .map(|(prefix, target)| Route {
                prefix: prefix.clone(),
                upstream: Upstream {
                    app: target.clone(),
                    host: format!("{target}.{domain}"),
                    port,
                },
            })
            .collect();
        Ok(Self::new(routes))
    }

    /// A table of the given routes.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self { routes }
    }

    /// The route serving `path`: a prefix matches whole path segments only, so `/orders`
    /// serves `/orders` and `/orders/42` but not `/ordersx`.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            path.strip_prefix(r.prefix.as_str()).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')
            })
        })
    }

    /// Every route, longest prefix first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RoutingTable {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        RoutingTable::from_topology(
            &topology,
            &"api".parse().unwrap(),
            &topology.local.domain,
            8000,
        )
        .unwrap()
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let table = table();
        let orders = table.route("/orders/42").unwrap();
        assert_eq!(orders.upstream.host, "orders.example.test");
        assert_eq!(orders.upstream.port, 8000);
        assert_eq!(table.route("/orders").unwrap().prefix, "/orders");
        assert_eq!(
            table.route("/users/7/x").unwrap().upstream.app.as_str(),
            "users"
        );
        assert!(table.route("/ordersx").is_none());
        assert!(table.route("/").is_none());
        assert!(table.route("/inventory/1").is_none());
    }

    #[test]
    fn longer_prefixes_win() {
        let up = |app: &str| Upstream {
            app: app.parse().unwrap(),
            host: format!("{app}.example.test"),
            port: 1,
        };
        let table = RoutingTable::new(vec![
            Route {
                prefix: "/orders".into(),
                upstream: up("orders"),
            },
            Route {
                prefix: "/orders/archive".into(),
                upstream: up("users"),
            },
        ]);
        assert_eq!(
            table
                .route("/orders/archive/1")
                .unwrap()
                .upstream
                .app
                .as_str(),
            "users"
        );
        assert_eq!(
            table.route("/orders/1").unwrap().upstream.app.as_str(),
            "orders"
        );
    }

    #[test]
    fn only_gateways_have_a_table() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let err = RoutingTable::from_topology(
            &topology,
            &"orders".parse().unwrap(),
            &topology.local.domain,
            8000,
        )
        .unwrap_err();
        assert_eq!(err, RoutesError::NotAGateway("orders".parse().unwrap()));
    }
}
