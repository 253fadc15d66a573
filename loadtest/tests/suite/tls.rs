//! `https` apps (as on AWS): TLS over the same pooled, DNS-resolved connections, trusting the
//! system's roots plus a CA file; an untrusted certificate is an error, not a success.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Dns, FakeStore, TwoRegions, manifest};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use loadtest::{Run, RunConfig};
use tokio::net::TcpListener;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

/// An HTTPS server for `orders.example.test` on `addr`'s IP, answering `GET /` from `us-east-1`.
async fn https_server(ip: std::net::Ipv4Addr) -> u16 {
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_request| async {
                    hyper::Response::builder()
                        .header("x-region", "us-east-1")
                        .body(Full::new(Bytes::from_static(b"{\"region\":\"us-east-1\"}")))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    port
}

async fn run_against_https(trust_ca: bool) -> loadtest::Report {
    let dns = Dns::start(5).await;
    // Only the addresses are used here; the app is served over TLS on its own port.
    let world = TwoRegions::start(53, FakeStore::new(Duration::ZERO, 0)).await;
    let port = https_server(world.primary_ip()).await;
    let mut manifest = manifest(&world, &dns, &["orders"], false);
    manifest.apps[0].url = format!("https://orders.example.test:{port}");
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 40,
            duration: Some(Duration::from_secs(1)),
            extra_root_certificates: if trust_ca {
                vec![fixture("ca.pem")]
            } else {
                vec![]
            },
            ..RunConfig::default()
        },
    )
    .unwrap();
    run.wait().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_apps_are_reached_over_tls_with_a_trusted_ca() {
    let report = run_against_https(true).await;
    let orders = &report.apps[0];
    assert_eq!(orders.errors.total, 0, "{:?}", orders.error_samples);
    assert_eq!(orders.successes, 40);
    assert_eq!(orders.responses_by_region["us-east-1"], 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_an_error() {
    let report = run_against_https(false).await;
    let orders = &report.apps[0];
    assert_eq!(orders.successes, 0);
    assert_eq!(orders.errors.other, orders.requests);
    assert!(
        orders.error_samples["other"].contains("TLS"),
        "{:?}",
        orders.error_samples
    );
}
