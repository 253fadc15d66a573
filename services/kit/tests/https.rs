//! The kit's AWS clients speak TLS through rustls and ring (`kit::aws`) and verify the
//! server: a DynamoDB endpoint whose certificate no system root vouches for is refused during
//! the handshake, before a request (and its signature) is sent.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS server on loopback with a self-signed certificate for `127.0.0.1`; it sends the
/// outcome of each handshake (the SDK retries, so there may be several).
async fn self_signed_server() -> (String, mpsc::UnboundedReceiver<Result<(), String>>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let cert = CertificateDer::from_pem_file(format!("{dir}/self-signed.crt")).unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/self-signed.key")).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let (outcomes, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let handshake = acceptor.accept(tcp).await;
            let _ = outcomes.send(handshake.map(drop).map_err(|e| e.to_string()));
        }
    });
    (url, received)
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_refused() {
    let (url, mut received) = self_signed_server().await;
    let region = "us-east-1".parse().unwrap();
    let client = kit::dynamo::client(&region, Some(&url)).await;
    let err = client
        .list_tables()
        .send()
        .await
        .expect_err("a self-signed endpoint must not be trusted");
    let text = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    );
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "the client refuses the certificate itself: {text}"
    );
    let mut attempts = 0;
    while let Ok(handshake) = received.try_recv() {
        attempts += 1;
        assert!(
            handshake.is_err(),
            "no handshake may complete: {handshake:?}"
        );
    }
    assert!(attempts > 0, "the client reached the server");
}
