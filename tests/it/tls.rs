//! Sync over real TLS: a TLS front (rustls, a certificate from a private CA made here) before
//! the fake upstream. With `upstream.ca_file` naming the CA the sync succeeds; without it the
//! web roots do not trust the certificate and the error says so.

use crate::harness::{config, fake_with, stored_identities, synthetic, synthetic_identities};
use std::sync::Arc;
use tempfile::tempdir;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};

/// A CA and a server certificate for `localhost` signed by it (PEM CA, DER chain, key).
pub(crate) fn private_ca() -> (
    String,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "wucache test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap();
    (ca.pem(), server.der().clone(), key)
}

/// Terminates TLS on a loopback port and forwards the plain bytes to `backend`.
pub(crate) async fn tls_front(
    backend: std::net::SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn sync_over_https_trusts_the_configured_ca_file_and_only_it() {
    let catalog = synthetic(50, 30);
    let upstream = fake_with(&catalog).await;
    let backend: std::net::SocketAddr = upstream.url().trim_start_matches("http://").parse().unwrap();
    let (ca_pem, cert, key) = private_ca();
    let port = tls_front(backend, cert, key).await;
    let data = tempdir().unwrap();
    let ca_file = data.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let store = Store::open(data.path()).unwrap();
    let mut config = config(&format!("https://localhost:{port}"), &data);
    config.upstream.max_attempts = 1;

    let untrusted = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();
    assert!(untrusted.to_lowercase().contains("certificate"), "{untrusted}");

    config.upstream.ca_file = ca_file.display().to_string();
    run_sync(&store, &config, &Quiet).await.unwrap();
    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
}

#[tokio::test]
async fn a_ca_file_without_certificates_is_reported_by_path() {
    let data = tempdir().unwrap();
    let ca_file = data.path().join("empty.pem");
    std::fs::write(&ca_file, "not a certificate\n").unwrap();
    let store = Store::open(data.path()).unwrap();
    let mut config = config("https://localhost:1", &data);
    config.upstream.ca_file = ca_file.display().to_string();

    let err = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();

    assert!(err.contains("empty.pem"), "{err}");
}
