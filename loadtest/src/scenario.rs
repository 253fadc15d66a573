//! The requests each scenario sends, derived from the services' own OpenAPI documents (see
//! [`crate::openapi`]): no service is known here by name.
//!
//! Each app of a run has sources of traffic: its own document's operations, and for a gateway
//! the operations of each app it routes to, under the route's prefix. Items a create makes are
//! remembered per service and collection (a pool), whichever app's URL created them, so reads
//! and updates through the gateway and directly both find them. An app with no usable
//! operation gets the probe, `GET /`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header::ETAG};
use rand::Rng;
use serde_json::Value;

use crate::client::Outgoing;
use crate::config::Scenario;
use crate::openapi::{Collection, HeaderFill, QueryFill, ServiceApi, UpdateKind, percent_encode};
use crate::tracker::ReadTarget;

/// How long a created item waits before the mixed scenario reads or updates it: doing so at
/// once would mostly measure replication lag, which the consistency scenario does on purpose.
pub(crate) const READ_AFTER: Duration = Duration::from_secs(2);
const KEEP_IDS: usize = 512;

/// An item a create made.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    at: Instant,
    pub id: String,
    /// The `If-Match` value of its last known version: its `ETag`, else its `version`.
    pub version: Option<HeaderValue>,
    /// The values its create sent for the fields listings filter by.
    filters: Vec<(String, String)>,
    /// Whether the update may be sent to it (an action, once sent, is not sent again).
    updatable: bool,
}

/// The items created on one collection of one service.
pub(crate) struct Pool {
    /// Where a write is read back from, besides the URL that wrote it: each Region's direct
    /// URL of the owner.
    pub regional: Vec<ReadTarget>,
    known: Mutex<VecDeque<Known>>,
}

impl Pool {
    pub(crate) fn new(regional: Vec<ReadTarget>) -> Self {
        Self {
            regional,
            known: Mutex::new(VecDeque::new()),
        }
    }

    fn known(&self) -> MutexGuard<'_, VecDeque<Known>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, item: Known) {
        let mut known = self.known();
        if known.len() >= KEEP_IDS {
            known.pop_front();
        }
        known.push_back(item);
    }

    /// How many items are old enough to have replicated.
    fn settled(known: &VecDeque<Known>) -> usize {
        known.partition_point(|k| k.at.elapsed() >= READ_AFTER)
    }

    /// A settled item, picked at random.
    fn pick(&self) -> Option<Known> {
        let known = self.known();
        let old = Self::settled(&known);
        (old > 0).then(|| known[rand::rng().random_range(0..old)].clone())
    }

    /// A settled item the update may be sent to, taken out until the update ends, so that
    /// two updates never race on one version.
    fn take_updatable(&self) -> Option<Known> {
        let mut known = self.known();
        let old = Self::settled(&known);
        let at = (0..old).find(|&i| known[i].updatable)?;
        known.remove(at)
    }
}

/// One source of an app's traffic: a service's operations, each collection with its pool.
pub(crate) struct Source {
    pub api: ServiceApi,
    /// The pool of each of `api.collections`.
    pub pools: Vec<usize>,
}

/// What one app of a run is sent.
#[derive(Default)]
pub(crate) struct AppPlan {
    pub sources: Vec<Source>,
    /// `METHOD path` of every operation used, for the report.
    pub operations: Vec<String>,
    /// Why some or all of the app's traffic is the probe.
    pub warnings: Vec<String>,
}

/// What a request does to the pools once it is answered.
#[derive(Debug)]
pub(crate) enum Effect {
    None,
    /// A create on collection `collection` of pool `pool`; `sent` is its body.
    Create {
        pool: usize,
        param: String,
        filters: Vec<String>,
        sent: Value,
    },
    /// An update of `item`, which goes back to `pool` with its new version.
    Update {
        pool: usize,
        item: Known,
        kind: UpdateKind,
    },
}

/// A request to send, and what its answer means to the pools.
#[derive(Debug)]
pub(crate) struct Planned {
    pub out: Outgoing,
    pub effect: Effect,
    /// For a create: the path its item is read from, once its id is known (`{id}` inside).
    pub read: Option<crate::openapi::ItemPath>,
}

/// A create's acknowledged item.
pub(crate) struct Created {
    pub pool: usize,
    /// The item's path, when the service can read items back.
    pub path: Option<String>,
}

/// Plans each request of a run and remembers created items for later reads and updates.
pub(crate) struct Planner {
    scenario: Scenario,
    pub apps: Vec<AppPlan>,
    pub pools: Vec<Pool>,
}

impl Planner {
    pub(crate) fn new(scenario: Scenario, apps: Vec<AppPlan>, pools: Vec<Pool>) -> Self {
        Self {
            scenario,
            apps,
            pools,
        }
    }

    /// The next request for app `app`.
    pub(crate) fn plan(&self, app: usize) -> Planned {
        let mut rng = rand::rng();
        let Some(plan) = self.apps.get(app).filter(|p| !p.sources.is_empty()) else {
            return probe();
        };
        let source = &plan.sources[rng.random_range(0..plan.sources.len())];
        let pick = rng.random_range(0..source.api.collections.len());
        let (collection, pool) = (&source.api.collections[pick], source.pools[pick]);
        match self.scenario {
            Scenario::Probe => probe(),
            // Only writes that can be read back are worth tracking.
            Scenario::Consistency if collection.read.is_some() => {
                self.create(collection, pool).unwrap_or_else(probe)
            }
            Scenario::Consistency => probe(),
            Scenario::Mixed => {
                let planned = match rng.random_range(0..100) {
                    0..30 => self.create(collection, pool),
                    30..70 => self.read(collection, pool),
                    70..80 => self.list(collection, pool),
                    80..90 => self.update(collection, pool),
                    _ => None,
                };
                planned.unwrap_or_else(probe)
            }
        }
    }

    fn create(&self, c: &Collection, pool: usize) -> Option<Planned> {
        let create = c.create.as_ref()?;
        let sent = create.body.as_ref().map(|b| b.instantiate());
        let mut out = request(Method::POST, c.path.clone(), sent.as_ref());
        add_headers(&mut out, &create.headers, None);
        let filters = c.list.as_ref().map_or_else(Vec::new, |l| {
            l.query
                .iter()
                .filter_map(|(_, fill)| match fill {
                    QueryFill::Field(f) => Some(f.clone()),
                    QueryFill::Value(_) => None,
                })
                .collect()
        });
        Some(Planned {
            out,
            effect: Effect::Create {
                pool,
                param: c
                    .read
                    .as_ref()
                    .map_or_else(|| "id".into(), |r| r.param.clone()),
                filters,
                sent: sent.unwrap_or(Value::Null),
            },
            read: c.read.clone(),
        })
    }

    fn read(&self, c: &Collection, pool: usize) -> Option<Planned> {
        let read = c.read.as_ref()?;
        let item = self.pools[pool].pick()?;
        Some(plain(Outgoing::get(read.of(&item.id))))
    }

    fn list(&self, c: &Collection, pool: usize) -> Option<Planned> {
        let list = c.list.as_ref()?;
        let item = self.pools[pool].pick();
        let mut pairs = Vec::new();
        for (name, fill) in &list.query {
            let value = match fill {
                QueryFill::Field(field) => item
                    .as_ref()?
                    .filters
                    .iter()
                    .find(|(f, _)| f == field)?
                    .1
                    .clone(),
                QueryFill::Value(t) => as_text(&t.instantiate()),
            };
            pairs.push(format!(
                "{}={}",
                percent_encode(name),
                percent_encode(&value)
            ));
        }
        let path = if pairs.is_empty() {
            c.path.clone()
        } else {
            format!("{}?{}", c.path, pairs.join("&"))
        };
        Some(plain(Outgoing::get(path)))
    }

    fn update(&self, c: &Collection, pool: usize) -> Option<Planned> {
        let update = c.update.as_ref()?;
        let item = self.pools[pool].take_updatable()?;
        let needs_version = update
            .headers
            .iter()
            .any(|h| matches!(h, HeaderFill::Version(_)));
        if needs_version && item.version.is_none() {
            self.pools[pool].remember(Known {
                updatable: false,
                ..item
            });
            return None;
        }
        let body = update.body.as_ref().map(|b| b.instantiate());
        let mut out = request(
            update.method.clone(),
            update.path.of(&item.id),
            body.as_ref(),
        );
        add_headers(&mut out, &update.headers, item.version.as_ref());
        Some(Planned {
            out,
            effect: Effect::Update {
                pool,
                item,
                kind: update.kind,
            },
            read: None,
        })
    }

    /// Records what an answered request did: a created item joins its pool, an updated one
    /// goes back with its new version. `answer` is `None` when the request failed.
    pub(crate) fn finish(
        &self,
        planned: Planned,
        answer: Option<(&HeaderMap, &[u8])>,
    ) -> Option<Created> {
        match planned.effect {
            Effect::None => None,
            Effect::Create {
                pool,
                param,
                filters,
                sent,
            } => {
                let (headers, body) = answer?;
                let body: Value = serde_json::from_slice(body).ok()?;
                let id = text_field(&body, &param).or_else(|| text_field(&body, "id"))?;
                let filters = filters
                    .into_iter()
                    .filter_map(|f| Some((f.clone(), text_field(&sent, &f)?)))
                    .collect();
                let path = planned.read.as_ref().map(|r| r.of(&id));
                self.pools[pool].remember(Known {
                    at: Instant::now(),
                    version: version_of(headers, &body),
                    id,
                    filters,
                    updatable: true,
                });
                Some(Created { pool, path })
            }
            Effect::Update { pool, item, kind } => {
                let next = match answer {
                    Some((headers, body)) => {
                        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                        Known {
                            at: Instant::now(),
                            version: version_of(headers, &body),
                            updatable: kind == UpdateKind::Replace,
                            ..item
                        }
                    }
                    // Failed: its version is unknown now; it stays readable.
                    None => Known {
                        updatable: false,
                        ..item
                    },
                };
                self.pools[pool].remember(next);
                None
            }
        }
    }
}

/// `GET /`, which every app answers itself.
pub(crate) fn probe() -> Planned {
    plain(Outgoing::get("/"))
}

fn plain(out: Outgoing) -> Planned {
    Planned {
        out,
        effect: Effect::None,
        read: None,
    }
}

/// A request with an optional JSON body.
pub(crate) fn request(method: Method, path: String, body: Option<&Value>) -> Outgoing {
    Outgoing {
        method,
        path,
        headers: Vec::new(),
        json: body.map(|b| Bytes::from(b.to_string())),
    }
}

/// Adds the required headers: fresh keys, the item's version, values from their schemas.
pub(crate) fn add_headers(out: &mut Outgoing, fills: &[HeaderFill], version: Option<&HeaderValue>) {
    for fill in fills {
        let (name, value) = match fill {
            HeaderFill::Fresh(name) => (
                name,
                HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()).ok(),
            ),
            HeaderFill::Version(name) => (name, version.cloned()),
            HeaderFill::Value(name, t) => {
                (name, HeaderValue::from_str(&as_text(&t.instantiate())).ok())
            }
        };
        if let Some(value) = value {
            out.headers.push((name.clone(), value));
        }
    }
}

/// The `If-Match` value for the item in a response: its `ETag`, else `"<version>"`.
pub(crate) fn version_of(headers: &HeaderMap, body: &Value) -> Option<HeaderValue> {
    if let Some(tag) = headers.get(ETAG) {
        return Some(tag.clone());
    }
    let version = match body.get("version")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    HeaderValue::from_str(&format!("\"{version}\"")).ok()
}

/// A top-level field as text: strings as they are, numbers written out.
pub(crate) fn text_field(body: &Value, field: &str) -> Option<String> {
    match body.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::{Document, derive};

    fn planner(scenario: Scenario, doc: &str) -> Planner {
        let api = derive(&Document::parse(doc.as_bytes()).unwrap()).api;
        let pools = (0..api.collections.len())
            .map(|_| Pool::new(Vec::new()))
            .collect();
        let source = Source {
            pools: (0..api.collections.len()).collect(),
            api,
        };
        let app = AppPlan {
            sources: vec![source],
            ..AppPlan::default()
        };
        Planner::new(scenario, vec![app], pools)
    }

    const PAYMENTS: &str = include_str!("../tests/fixtures/openapi/payments.json");
    const USERS: &str = include_str!("../tests/fixtures/openapi/users.json");

    fn settle(p: &Planner) {
        for k in p.pools[0].known().iter_mut() {
            k.at -= READ_AFTER;
        }
    }

    #[test]
    fn probe_and_apps_without_operations_get_the_root() {
        let p = planner(Scenario::Probe, PAYMENTS).plan(0);
        assert_eq!(
            (p.out.method, p.out.path.as_str()),
            (http::Method::GET, "/")
        );
        let p = Planner::new(Scenario::Consistency, vec![AppPlan::default()], vec![]).plan(0);
        assert!(matches!(p.effect, Effect::None));
        assert_eq!(p.out.path, "/");
    }

    #[test]
    fn consistency_writes_with_an_idempotency_key_from_the_document() {
        let p = planner(Scenario::Consistency, PAYMENTS).plan(0);
        assert!(matches!(p.effect, Effect::Create { pool: 0, .. }));
        assert_eq!(p.out.path, "/payments");
        assert!(p.out.headers.iter().any(|(n, _)| n == "idempotency-key"));
        let body: serde_json::Value = serde_json::from_slice(p.out.json.as_ref().unwrap()).unwrap();
        assert_eq!(body["currency"], "EUR");
        assert_eq!(body["amount_cents"], 2500);
    }

    #[test]
    fn reads_and_updates_wait_until_an_item_is_old_enough_and_use_its_version() {
        let planner = planner(Scenario::Mixed, USERS);
        let users = &planner.apps[0].sources[0].api.collections[0];
        let create = planner.create(users, 0).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, HeaderValue::from_static("\"1\""));
        let created = planner
            .finish(create, Some((&headers, br#"{"id": "u1", "version": 1}"#)))
            .unwrap();
        assert_eq!(created.path.as_deref(), Some("/users/u1"));
        assert!(planner.read(users, 0).is_none(), "not settled yet");
        settle(&planner);
        assert_eq!(planner.read(users, 0).unwrap().out.path, "/users/u1");
        let update = planner.update(users, 0).unwrap();
        assert_eq!(update.out.method, Method::PATCH);
        let if_match = update.out.headers.iter().find(|(n, _)| n == "if-match");
        assert_eq!(if_match.unwrap().1, "\"1\"");
        assert!(
            planner.update(users, 0).is_none(),
            "taken while its update is out"
        );
        planner.finish(
            update,
            Some((&HeaderMap::new(), br#"{"id": "u1", "version": 2}"#)),
        );
        settle(&planner);
        let again = planner.update(users, 0).unwrap();
        let if_match = again.out.headers.iter().find(|(n, _)| n == "if-match");
        assert_eq!(
            if_match.unwrap().1,
            "\"2\"",
            "the version the update returned"
        );
    }

    #[test]
    fn listings_filter_by_a_value_a_create_sent() {
        let planner = planner(
            Scenario::Mixed,
            include_str!("../tests/fixtures/openapi/orders.json"),
        );
        let orders = &planner.apps[0].sources[0].api.collections[0];
        assert!(
            planner.list(orders, 0).is_none(),
            "no item to filter by yet"
        );
        let create = planner.create(orders, 0).unwrap();
        let user = {
            let sent: Value = serde_json::from_slice(create.out.json.as_ref().unwrap()).unwrap();
            sent["user_id"].as_str().unwrap().to_owned()
        };
        planner.finish(create, Some((&HeaderMap::new(), br#"{"id": "o1"}"#)));
        settle(&planner);
        assert_eq!(
            planner.list(orders, 0).unwrap().out.path,
            format!("/orders?user_id={user}")
        );
    }

    #[test]
    fn ids_and_versions_from_write_responses() {
        assert_eq!(
            text_field(&serde_json::json!({"id": 7}), "id").as_deref(),
            Some("7")
        );
        assert_eq!(
            version_of(&HeaderMap::new(), &serde_json::json!({"version": 3})).unwrap(),
            "\"3\""
        );
        assert!(version_of(&HeaderMap::new(), &serde_json::json!({})).is_none());
    }
}
