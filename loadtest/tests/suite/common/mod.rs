//! Test worlds for the loadtest: tiny HTTP servers standing in for one app in two Regions on
//! two loopback addresses (same port), an authoritative DNS server (hickory-server) whose
//! answer the test changes mid-run, and a manifest pointing at them.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};
use topology::manifest::{
    AppEntry, AppRouting, ArcControls, Cluster, ClusterEndpoint, Environment, MANIFEST_VERSION,
    Manifest, RegionalControl, RegionalUrl, Routing,
};
use topology::{Regions, manifest};

pub const PRIMARY: &str = "us-east-1";
pub const SECONDARY: &str = "us-west-2";
pub const DOMAIN: &str = "example.test";

// ---------------------------------------------------------------------------------------------
// DNS

/// An authoritative DNS server (hickory-server over UDP and TCP) answering `A` queries from a
/// table the test changes, with one TTL.
pub struct Dns {
    pub addr: SocketAddr,
    answers: Arc<RwLock<HashMap<String, Ipv4Addr>>>,
    _server: Server<Answerer>,
}

struct Answerer {
    answers: Arc<RwLock<HashMap<String, Ipv4Addr>>>,
    ttl: u32,
}

#[async_trait::async_trait]
impl RequestHandler for Answerer {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns
        });
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let query = match request.request_info() {
            Ok(info)
                if request.metadata.message_type == MessageType::Query
                    && request.metadata.op_code == OpCode::Query =>
            {
                info.query
            }
            _ => {
                metadata.response_code = ResponseCode::FormErr;
                let response = builder.build_no_records(metadata);
                return response_handle.send_response(response).await.unwrap();
            }
        };
        let name = query.name().to_string().to_lowercase();
        let found = self.answers.read().unwrap().get(&name).copied();
        let mut records = Vec::new();
        match found {
            Some(ip) if query.query_type() == RecordType::A => {
                let owner = Name::from(query.name());
                records.push(Record::from_rdata(owner, self.ttl, RData::A(A(ip))));
            }
            Some(_) => {}
            None => metadata.response_code = ResponseCode::NXDomain,
        }
        let response = builder.build(metadata, records.iter(), [], [], []);
        response_handle.send_response(response).await.unwrap()
    }
}

impl Dns {
    /// Starts a server on 127.0.0.1 (any free port) whose answers carry `ttl` seconds.
    pub async fn start(ttl: u32) -> Self {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let answers: Arc<RwLock<HashMap<String, Ipv4Addr>>> = Arc::default();
        let mut server = Server::new(Answerer {
            answers: answers.clone(),
            ttl,
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Self {
            addr,
            answers,
            _server: server,
        }
    }

    /// From now on `name` answers `ip`.
    pub fn set(&self, name: &str, ip: Ipv4Addr) {
        let name = format!("{}.", name.to_lowercase());
        self.answers.write().unwrap().insert(name, ip);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP: one fake app instance per Region

/// What both Regions' instances share: the replicated store of a fake service.
pub struct FakeStore {
    /// Created ids per Region (index 0: primary).
    regions: [Mutex<HashSet<String>>; 2],
    lag: Duration,
    /// Every `drop_every`-th write is acknowledged but stored nowhere (0: never).
    drop_every: u64,
    writes: AtomicU64,
    pub dropped: Mutex<Vec<String>>,
}

impl FakeStore {
    pub fn new(lag: Duration, drop_every: u64) -> Arc<Self> {
        Arc::new(Self {
            regions: Default::default(),
            lag,
            drop_every,
            writes: AtomicU64::new(0),
            dropped: Mutex::default(),
        })
    }

    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// One Region's instance of a fake app.
pub struct Instance {
    pub region: &'static str,
    index: usize,
    store: Arc<FakeStore>,
    /// Responses sent.
    pub served: AtomicU64,
    /// Requests received, with their arrival times.
    pub arrivals: Mutex<Vec<Instant>>,
    /// Requests received: method and path, with the body.
    pub log: Mutex<Vec<(Method, String, HeaderMap, Bytes)>>,
    /// While set and in the future, every request waits until then before it is answered.
    pub stall_until: Mutex<Option<Instant>>,
}

impl Instance {
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(instance): State<Arc<Instance>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    instance.arrivals.lock().unwrap().push(Instant::now());
    let stall = *instance.stall_until.lock().unwrap();
    if let Some(until) = stall {
        tokio::time::sleep_until(until.into()).await;
    }
    let path = uri.path().to_owned();
    instance
        .log
        .lock()
        .unwrap()
        .push((method.clone(), path.clone(), headers.clone(), body));
    let (status, json) = answer(&instance, &method, &path, &headers);
    let response = (status, [("x-region", instance.region)], axum::Json(json)).into_response();
    instance.served.fetch_add(1, Ordering::SeqCst);
    response
}

/// The OpenAPI document of the app a request's `Host` names (its first label), from
/// `tests/fixtures/openapi/<app>.json`; none for other apps.
pub fn document_for(headers: &HeaderMap) -> Option<serde_json::Value> {
    let host = headers.get("host")?.to_str().ok()?;
    let app = host.split(['.', ':']).next()?;
    if !app.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return None;
    }
    let path = format!(
        "{}/tests/fixtures/openapi/{app}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn answer(
    instance: &Instance,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> (StatusCode, serde_json::Value) {
    let region = instance.region;
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let stored = |id: &str| {
        instance.store.regions[instance.index]
            .lock()
            .unwrap()
            .contains(id)
    };
    let missing = || {
        (
            StatusCode::NOT_FOUND,
            serde_json::json!({"title": "not found"}),
        )
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", [""]) => (
            StatusCode::OK,
            serde_json::json!({"service": "fake", "region": region}),
        ),
        ("GET", ["openapi.json"]) => match document_for(headers) {
            Some(doc) => (StatusCode::OK, doc),
            None => missing(),
        },
        ("GET", [_collection]) => (StatusCode::OK, serde_json::json!({"items": []})),
        // An update, or an action on an item: the item must exist here.
        ("PATCH" | "PUT", [_collection, id]) | ("POST", [_collection, id, _]) => {
            if stored(id) {
                (
                    StatusCode::OK,
                    serde_json::json!({"id": id, "region": region, "version": 2}),
                )
            } else {
                missing()
            }
        }
        ("POST", [_collection]) => {
            let store = &instance.store;
            let n = store.writes.fetch_add(1, Ordering::SeqCst) + 1;
            let id = uuid::Uuid::now_v7().to_string();
            if store.drop_every > 0 && n.is_multiple_of(store.drop_every) {
                store.dropped.lock().unwrap().push(id.clone());
            } else {
                store.regions[instance.index]
                    .lock()
                    .unwrap()
                    .insert(id.clone());
                let store = store.clone();
                let (other, copy) = (1 - instance.index, id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(store.lag).await;
                    store.regions[other].lock().unwrap().insert(copy);
                });
            }
            (
                StatusCode::CREATED,
                serde_json::json!({"id": id, "region": region, "version": 1}),
            )
        }
        ("GET", [_collection, id]) => {
            if instance.store.regions[instance.index]
                .lock()
                .unwrap()
                .contains(*id)
            {
                (
                    StatusCode::OK,
                    serde_json::json!({"id": id, "region": region}),
                )
            } else {
                (
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"title": "not found"}),
                )
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            serde_json::json!({"title": "no route"}),
        ),
    }
}

/// One app in two Regions: the primary on `127.<net>.1.1`, the secondary on `127.<net>.2.1`,
/// the same port on both; `127.<net>.3.1` on that port has nothing listening.
pub struct TwoRegions {
    pub port: u16,
    pub primary: Arc<Instance>,
    pub secondary: Arc<Instance>,
    pub net: u8,
}

impl TwoRegions {
    pub fn primary_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 1, 1)
    }
    pub fn secondary_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 2, 1)
    }
    /// An address where nothing listens on the app's port.
    pub fn dead_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net, 3, 1)
    }

    /// Starts both instances. `net` must be unique per test so addresses never collide.
    pub async fn start(net: u8, store: Arc<FakeStore>) -> Self {
        let (a, b) = bind_same_port(
            Ipv4Addr::new(127, net, 1, 1).into(),
            Ipv4Addr::new(127, net, 2, 1).into(),
        )
        .await;
        let port = a.local_addr().unwrap().port();
        let primary = serve(a, PRIMARY, 0, store.clone());
        let secondary = serve(b, SECONDARY, 1, store);
        Self {
            port,
            primary,
            secondary,
            net,
        }
    }

    /// The app's failover URL through DNS.
    pub fn url(&self, app: &str) -> String {
        format!("http://{app}.{DOMAIN}:{}", self.port)
    }
}

async fn bind_same_port(a: IpAddr, b: IpAddr) -> (TcpListener, TcpListener) {
    for _ in 0..50 {
        let first = TcpListener::bind(SocketAddr::new(a, 0)).await.unwrap();
        let port = first.local_addr().unwrap().port();
        if let Ok(second) = TcpListener::bind(SocketAddr::new(b, port)).await {
            return (first, second);
        }
    }
    panic!("no port free on both {a} and {b}");
}

fn serve(
    listener: TcpListener,
    region: &'static str,
    index: usize,
    store: Arc<FakeStore>,
) -> Arc<Instance> {
    let instance = Arc::new(Instance {
        region,
        index,
        store,
        served: AtomicU64::new(0),
        arrivals: Mutex::default(),
        log: Mutex::default(),
        stall_until: Mutex::default(),
    });
    let router = Router::new().fallback(handle).with_state(instance.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    instance
}

// ---------------------------------------------------------------------------------------------
// Manifest

/// A manifest for `apps`, each served by `world` under its own name, resolved through `dns`.
pub fn manifest(world: &TwoRegions, dns: &Dns, apps: &[&str], regional_urls: bool) -> Manifest {
    let account = "123456789012";
    let entries = apps
        .iter()
        .enumerate()
        .map(|(i, app)| {
            let panel = format!("arn:aws:route53-recovery-control::{account}:controlpanel/p{i}");
            dns.set(&format!("{app}.{DOMAIN}"), world.primary_ip());
            let regional = if regional_urls {
                vec![
                    RegionalUrl {
                        region: PRIMARY.parse().unwrap(),
                        url: format!("http://{}:{}", world.primary_ip(), world.port),
                    },
                    RegionalUrl {
                        region: SECONDARY.parse().unwrap(),
                        url: format!("http://{}:{}", world.secondary_ip(), world.port),
                    },
                ]
            } else {
                Vec::new()
            };
            AppEntry {
                client_certificate_required: false,
                name: app.parse().unwrap(),
                hostname: format!("{app}.{DOMAIN}"),
                url: world.url(app),
                routing: AppRouting::Arc(ArcControls {
                    control_panel_arn: panel.parse().unwrap(),
                    safety_rule_arn: format!("{panel}/safetyrule/s{i}").parse().unwrap(),
                    routing_controls: [PRIMARY, SECONDARY]
                        .iter()
                        .enumerate()
                        .map(|(j, r)| RegionalControl {
                            region: r.parse().unwrap(),
                            arn: format!("{panel}/routingcontrol/rc{i}{j}").parse().unwrap(),
                        })
                        .collect(),
                }),
                regional_urls: regional,
                routes: Default::default(),
                tables: Vec::new(),
                dns_targets: Vec::new(),
                alarms: Vec::new(),
            }
        })
        .collect();
    let _ = manifest::LOCAL_MANIFEST_PATH;
    Manifest {
        manifest_version: MANIFEST_VERSION,
        environment: Environment::Local,
        domain: DOMAIN.parse().unwrap(),
        regions: Regions {
            primary: PRIMARY.parse().unwrap(),
            secondary: SECONDARY.parse().unwrap(),
        },
        routing: Routing::Arc {
            cluster: Cluster {
                arn: format!("arn:aws:route53-recovery-control::{account}:cluster/c1")
                    .parse()
                    .unwrap(),
                endpoints: vec![ClusterEndpoint {
                    region: PRIMARY.parse().unwrap(),
                    url: "http://127.0.0.1:9".into(),
                }],
            },
        },
        apps: entries,
        dns_server: Some(dns.addr),
        control_api: None,
        name_servers: Vec::new(),
        trusted_client: None,
        auth: None,
    }
}
pub mod schema;

/// Makes `gateway` route each `(prefix, app)` of `routes`, as a gateway app's entry does.
pub fn route(manifest: &mut Manifest, gateway: &str, routes: &[(&str, &str)]) {
    let entry = manifest
        .apps
        .iter_mut()
        .find(|a| a.name.as_str() == gateway)
        .expect("the gateway is in the manifest");
    for (prefix, app) in routes {
        entry
            .routes
            .insert((*prefix).to_owned(), app.parse().unwrap());
    }
}
