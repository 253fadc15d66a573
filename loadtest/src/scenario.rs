//! The requests each scenario sends, speaking the services' HTTP API (DESIGN §4).
//!
//! Apps are recognised by name: `users`, `orders`, `payments` are the example services and
//! `api` is the gateway, which routes `/users`, `/orders` and `/payments` to them. An app with
//! another name (a team's renamed service) gets the probe, `GET /`, in every scenario.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue};
use rand::Rng;
use serde_json::json;
use topology::AppName;

use crate::client::Outgoing;
use crate::config::Scenario;

/// One of the example services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Service {
    Users,
    Orders,
    Payments,
}

impl Service {
    pub(crate) const ALL: [Service; 3] = [Self::Users, Self::Orders, Self::Payments];

    pub(crate) fn of(app: &AppName) -> Option<Self> {
        match app.as_str() {
            "users" => Some(Self::Users),
            "orders" => Some(Self::Orders),
            "payments" => Some(Self::Payments),
            _ => None,
        }
    }

    /// The app that owns the service.
    pub(crate) fn app_name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Orders => "orders",
            Self::Payments => "payments",
        }
    }

    /// `/users`, `/orders`, `/payments`: the same path on the service and through `api`.
    pub(crate) fn collection(self) -> &'static str {
        match self {
            Self::Users => "/users",
            Self::Orders => "/orders",
            Self::Payments => "/payments",
        }
    }
}

/// What an app is to the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Service(Service),
    Gateway,
    Unknown,
}

impl Role {
    pub(crate) fn of(app: &AppName) -> Self {
        match Service::of(app) {
            Some(s) => Self::Service(s),
            None if app.as_str() == "api" => Self::Gateway,
            None => Self::Unknown,
        }
    }
}

/// A request to send, and which service it creates an item in, if it is a write.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub out: Outgoing,
    pub write: Option<Service>,
}

/// How long a created item waits before the mixed scenario reads it: reading a write back at
/// once would mostly measure replication lag, which the consistency scenario does on purpose.
const READ_AFTER: Duration = Duration::from_secs(2);
const KEEP_IDS: usize = 512;

/// Plans each request of a run and remembers created ids for later reads.
pub(crate) struct Planner {
    scenario: Scenario,
    known: Mutex<[VecDeque<(Instant, String)>; 3]>,
}

impl Planner {
    pub(crate) fn new(scenario: Scenario) -> Self {
        Self {
            scenario,
            known: Mutex::new(Default::default()),
        }
    }

    /// The next request for an app in `role`.
    pub(crate) fn plan(&self, role: Role) -> Planned {
        let mut rng = rand::rng();
        let service = match role {
            Role::Service(s) => s,
            Role::Gateway => Service::ALL[rng.random_range(0..Service::ALL.len())],
            Role::Unknown => return probe(),
        };
        match self.scenario {
            Scenario::Probe => probe(),
            Scenario::Consistency => self.create(service),
            Scenario::Mixed => match rng.random_range(0..100) {
                0..30 => self.create(service),
                30..80 => self.read_known(service).unwrap_or_else(probe),
                _ => probe(),
            },
        }
    }

    /// Remembers an item a write created, for the mixed scenario's reads and for references
    /// (an order's user, a payment's order).
    pub(crate) fn remember(&self, service: Service, id: String) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let ids = &mut known[service as usize];
        if ids.len() >= KEEP_IDS {
            ids.pop_front();
        }
        ids.push_back((Instant::now(), id));
    }

    /// A known id of `service` old enough to have replicated, picked at random.
    fn known_id(&self, service: Service) -> Option<String> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let ids = &known[service as usize];
        let old = ids.partition_point(|(at, _)| at.elapsed() >= READ_AFTER);
        (old > 0).then(|| ids[rand::rng().random_range(0..old)].1.clone())
    }

    fn read_known(&self, service: Service) -> Option<Planned> {
        let id = self.known_id(service)?;
        Some(Planned {
            out: Outgoing::get(format!("{}/{id}", service.collection())),
            write: None,
        })
    }

    fn create(&self, service: Service) -> Planned {
        let mut rng = rand::rng();
        let fresh = || uuid::Uuid::now_v7().to_string();
        let body = match service {
            Service::Users => json!({
                "email": format!("lt-{}@example.test", fresh()),
                "name": "Load Test",
            }),
            Service::Orders => json!({
                "user_id": self.known_id(Service::Users).unwrap_or_else(fresh),
                "currency": "EUR",
                "items": [{
                    "sku": "LT-1",
                    "quantity": rng.random_range(1..4),
                    "unit_price_cents": rng.random_range(100..5000),
                }],
            }),
            Service::Payments => json!({
                "order_id": self.known_id(Service::Orders).unwrap_or_else(fresh),
                "amount_cents": rng.random_range(100..5000),
                "currency": "EUR",
            }),
        };
        let mut out = Outgoing::post(service.collection(), &body);
        if service == Service::Payments {
            // One key per operation; a retry of the same payment would reuse it.
            if let Ok(key) = HeaderValue::from_str(&fresh()) {
                out.headers
                    .push((HeaderName::from_static("idempotency-key"), key));
            }
        }
        Planned {
            out,
            write: Some(service),
        }
    }
}

fn probe() -> Planned {
    Planned {
        out: Outgoing::get("/"),
        write: None,
    }
}

/// The `id` of an item a write response carries.
pub(crate) fn created_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: serde_json::Value,
    }
    let created: Created = serde_json::from_slice(body).ok()?;
    match created.id {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_name() {
        let role = |n: &str| Role::of(&n.parse().unwrap());
        assert_eq!(role("orders"), Role::Service(Service::Orders));
        assert_eq!(role("api"), Role::Gateway);
        assert_eq!(role("inventory"), Role::Unknown);
    }

    #[test]
    fn probe_and_unknown_apps_get_the_root() {
        let p = Planner::new(Scenario::Probe).plan(Role::Service(Service::Orders));
        assert_eq!(
            (p.out.method, p.out.path.as_str()),
            (http::Method::GET, "/")
        );
        let p = Planner::new(Scenario::Consistency).plan(Role::Unknown);
        assert!(p.write.is_none());
    }

    #[test]
    fn consistency_writes_payments_with_an_idempotency_key() {
        let p = Planner::new(Scenario::Consistency).plan(Role::Service(Service::Payments));
        assert_eq!(p.write, Some(Service::Payments));
        assert_eq!(p.out.path, "/payments");
        assert!(p.out.headers.iter().any(|(n, _)| n == "idempotency-key"));
        let body: serde_json::Value = serde_json::from_slice(p.out.json.as_ref().unwrap()).unwrap();
        assert_eq!(body["currency"], "EUR");
        assert!(body["amount_cents"].as_i64().unwrap() >= 100);
    }

    #[test]
    fn mixed_reads_only_ids_old_enough() {
        let planner = Planner::new(Scenario::Mixed);
        planner.remember(Service::Orders, "fresh".into());
        assert!(planner.known_id(Service::Orders).is_none());
        planner.known.lock().unwrap()[Service::Orders as usize][0].0 -= READ_AFTER;
        assert_eq!(planner.known_id(Service::Orders).as_deref(), Some("fresh"));
    }

    #[test]
    fn ids_from_write_responses() {
        assert_eq!(
            created_id(br#"{"id":"abc","version":1}"#).as_deref(),
            Some("abc")
        );
        assert!(created_id(b"{}").is_none());
    }
}
