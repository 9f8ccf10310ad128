//! The HTTPS client listener and the admin listener on TLS, end to end: real TLS clients
//! (tokio-rustls, ring) that trust only a test CA — the one in `certs/`, or CAs made here with
//! rcgen, never wucache's own certificate code — talk to a daemon started in-process on
//! `127.0.0.1:0` (or the binary, where a signal or the CLI is the point).

mod admin;
mod cert_generate;
mod gpo;
mod reload;
mod scan;
mod startup;
mod versions;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use tokio_rustls::TlsConnector;
use wucache::config::Config;

/// The repository's test certificates (`certs/README.md`).
pub(crate) fn certs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs")
}

/// Serves the HTTPS listener on a free loopback port with the `certs/` test certificate.
pub(crate) fn with_test_cert(config: &mut Config) {
    config.server.https_listen = Some("127.0.0.1:0".parse().unwrap());
    config.tls.cert = certs_dir().join("server.pem").display().to_string();
    config.tls.key = certs_dir().join("server-key.pem").display().to_string();
}

/// A TLS client trusting only the PEM CA certificates in `ca`, speaking `versions`, without
/// session resumption (so every connection sees the certificate the server holds now).
pub(crate) fn connector_with(ca: &[u8], versions: &[&'static SupportedProtocolVersion]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

/// A TLS 1.2 and 1.3 client trusting the test CA of `certs/`.
pub(crate) fn test_ca_connector() -> TlsConnector {
    let ca = std::fs::read(certs_dir().join("ca.pem")).expect("certs/ca.pem");
    connector_with(&ca, rustls::ALL_VERSIONS)
}

/// Opens TCP and TLS to `addr`, checking the certificate for `addr`'s IP address.
pub(crate) async fn connect(tls: &TlsConnector, addr: SocketAddr) -> std::io::Result<TlsStream<TcpStream>> {
    connect_as(tls, addr, ServerName::IpAddress(addr.ip().into())).await
}

/// Opens TCP and TLS to `addr`, checking the certificate for `name`.
pub(crate) async fn connect_as(
    tls: &TlsConnector,
    addr: SocketAddr,
    name: ServerName<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tls.connect(name, tcp).await
}

/// One kept-alive HTTPS connection: what the handshake settled, and a request sender.
pub(crate) struct Session {
    /// The server's end-entity certificate.
    pub certificate: CertificateDer<'static>,
    pub version: ProtocolVersion,
    pub alpn: Option<Vec<u8>>,
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: String,
}

impl Session {
    /// Connects to `addr` (TLS checked for its IP address) and keeps the connection open.
    pub(crate) async fn open(tls: &TlsConnector, addr: SocketAddr) -> std::io::Result<Session> {
        let stream = connect(tls, addr).await?;
        let (_, state) = stream.get_ref();
        let certificate = state.peer_certificates().expect("a server certificate")[0].clone();
        let version = state.protocol_version().expect("a version");
        let alpn = state.alpn_protocol().map(<[u8]>::to_vec);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Session {
            certificate,
            version,
            alpn,
            sender,
            host: addr.to_string(),
        })
    }

    /// `GET path` on this connection: status, headers and body.
    pub(crate) async fn get(&mut self, path: &str) -> (u16, hyper::HeaderMap, Vec<u8>) {
        self.request("GET", path, None).await
    }

    /// A request on this connection, with an optional bearer token.
    pub(crate) async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> (u16, hyper::HeaderMap, Vec<u8>) {
        self.sender.ready().await.expect("the connection is still open");
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", &self.host);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = self
            .sender
            .send_request(request.body(Empty::new()).unwrap())
            .await
            .expect("an answer on the kept connection");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, headers, body)
    }
}

/// A CA made here (not by wucache) and server certificates it signs for `localhost` and
/// 127.0.0.1.
pub(crate) struct TestCa {
    pub pem: String,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wucache https test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// A server certificate and key (PEM) for `localhost` and 127.0.0.1.
    pub(crate) fn server(&self) -> (String, String) {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let params = rcgen::CertificateParams::new(names).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// What a plain-HTTP request to `addr` gets back (all bytes until the server closes, at most
/// ten seconds).
pub(crate) async fn plain_http_answer(addr: SocketAddr) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut plain = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    plain.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = plain.read_to_end(&mut answer);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
    answer
}

/// The first certificate of a PEM text.
pub(crate) fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM")
}
