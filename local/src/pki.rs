//! The local world's own CA, made for one run: the services' server certificate, the `api`
//! gateway's client certificate and a client certificate for trusted internal callers.
//!
//! It stands in for what gateway-only access is on AWS: each service's custom domains require
//! mutual TLS with a truststore that holds the gateway's API Gateway client certificates. Here
//! the services' port requires a certificate of this CA in the handshake; the gateway's key
//! stays in the world's memory, as API Gateway keeps its own, and the trusted callers' one goes
//! into the local manifest ([`TrustedClient`]).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use topology::manifest::TrustedClient;

/// A certificate and its private key, PEM-encoded.
struct Pair {
    certificate: String,
    key: String,
}

/// The run's CA and what it signed.
pub struct WorldPki {
    ca: String,
    server: Pair,
    gateway: Pair,
    trusted: Pair,
}

impl WorldPki {
    /// A new CA, a server certificate for `names` and `addresses` (every service's hostnames
    /// and loopback addresses), and the two client certificates.
    pub fn generate(names: Vec<String>, addresses: &[IpAddr]) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate().context("cannot generate the local CA's key")?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "local-world CA (this run only)");
        let ca_pem = ca.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca, ca_key);

        let mut server = CertificateParams::new(names)?;
        server
            .subject_alt_names
            .extend(addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.distinguished_name = DistinguishedName::new();
        server
            .distinguished_name
            .push(DnType::CommonName, "local-world services");
        Ok(Self {
            ca: ca_pem,
            server: sign(server, &issuer)?,
            gateway: sign(client("api gateway"), &issuer)?,
            trusted: sign(client("local-world trusted client"), &issuer)?,
        })
    }

    /// The services' TLS: TLS 1.2 or 1.3, and a client certificate of this CA required in the
    /// handshake.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let provider = provider();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots()?.into(), provider.clone())
                .build()
                .context("cannot build the client certificate check")?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain(&self.server)?, key(&self.server)?)
            .context("the services' certificate does not match its key")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// The gateway's TLS to the services: this CA trusted, its own certificate presented.
    pub fn gateway_client(&self) -> anyhow::Result<ClientConfig> {
        client_config(&self.ca, &self.gateway)
    }

    /// The trusted callers' certificate, for the manifest.
    pub fn trusted_client(&self) -> TrustedClient {
        TrustedClient {
            ca_pem: self.ca.clone(),
            certificate_pem: self.trusted.certificate.clone(),
            private_key_pem: self.trusted.key.clone(),
        }
    }

    fn roots(&self) -> anyhow::Result<RootCertStore> {
        roots(&self.ca)
    }
}

/// A TLS client configuration that trusts `trusted`'s CA and presents its certificate: what a
/// trusted internal caller of the local world's services uses.
pub fn trusted_client_config(trusted: &TrustedClient) -> anyhow::Result<ClientConfig> {
    let pair = Pair {
        certificate: trusted.certificate_pem.clone(),
        key: trusted.private_key_pem.clone(),
    };
    client_config(&trusted.ca_pem, &pair)
}

/// An HTTP client builder that reaches the local world's services as a trusted caller: over
/// TLS (`https://` on the service's own port), trusting `trusted`'s CA and presenting its
/// certificate.
pub fn trusted_http_client(trusted: &TrustedClient) -> anyhow::Result<reqwest::ClientBuilder> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(trusted_client_config(trusted)?))
}

/// Where `local-world run` writes the trusted client's files, for `curl --cacert .local/tls/ca.pem
/// --cert .local/tls/client.pem --key .local/tls/client.key https://…`.
pub const TRUSTED_CLIENT_DIR: &str = ".local/tls";

/// Writes `trusted`'s CA, certificate and key (readable by the owner only) under `dir`.
pub fn write_trusted_client(trusted: &TrustedClient, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), &trusted.ca_pem)?;
    std::fs::write(dir.join("client.pem"), &trusted.certificate_pem)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut key = options.open(dir.join("client.key"))?;
    std::io::Write::write_all(&mut key, trusted.private_key_pem.as_bytes())
}

fn client_config(ca: &str, identity: &Pair) -> anyhow::Result<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?)
        .with_client_auth_cert(chain(identity)?, key(identity)?)
        .context("a client certificate does not match its key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn client(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

fn sign(params: CertificateParams, issuer: &Issuer<'_, KeyPair>) -> anyhow::Result<Pair> {
    let key = KeyPair::generate()?;
    let certificate = params.signed_by(&key, issuer)?.pem();
    Ok(Pair {
        certificate,
        key: key.serialize_pem(),
    })
}

/// The provider is named rather than taken from the process default, which is ambiguous with
/// more than one compiled into the workspace.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn roots(ca: &str) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots
            .add(cert.context("the local CA is not PEM")?)
            .context("the local CA is not usable")?;
    }
    Ok(roots)
}

fn chain(pair: &Pair) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pair.certificate.as_bytes())
        .collect::<Result<_, _>>()
        .context("a certificate is not PEM")
}

fn key(pair: &Pair) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).context("a private key is not PEM")
}
