//! What the HTTPS listener speaks: TLS 1.2 and 1.3 (each to a client that offers only it),
//! HTTP/1.1 by ALPN; a client that does not trust the CA, or speaks plain HTTP to the port,
//! gets no HTTP answer.

use super::{certs_dir, connect, connector_with, with_test_cert, Session};
use crate::harness::config;
use tokio_rustls::rustls::{self, ProtocolVersion};
use wucache::daemon::Daemon;

/// A daemon with no catalog (nothing is synced), serving HTTPS with the `certs/` certificate.
pub(crate) async fn start_https(data: &tempfile::TempDir) -> Daemon {
    let mut config = config("http://127.0.0.1:9", data);
    with_test_cert(&mut config);
    Daemon::start(config).await.expect("the daemon starts")
}

fn test_ca() -> Vec<u8> {
    std::fs::read(certs_dir().join("ca.pem")).unwrap()
}

#[tokio::test]
async fn clients_offering_only_tls_1_2_or_only_tls_1_3_are_both_served() {
    let data = tempfile::tempdir().unwrap();
    let daemon = start_https(&data).await;
    let https = daemon.https_addr.unwrap();
    let cases = [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ];
    for (offered, expected) in cases {
        let tls = connector_with(&test_ca(), &[offered]);
        let mut session = Session::open(&tls, https).await.unwrap();

        let (status, _, _) = session.get("/ClientWebService/client.asmx").await;

        assert_eq!(session.version, expected);
        assert_eq!(status, 405, "the client routes answer over {expected:?}");
    }
    daemon.stop().await;
}

#[tokio::test]
async fn the_listener_speaks_http_1_1_by_alpn_and_serves_the_client_routes_only() {
    let data = tempfile::tempdir().unwrap();
    let daemon = start_https(&data).await;
    let ca = test_ca();
    let mut tls = connector_with(&ca, rustls::ALL_VERSIONS);
    let mut config = (**tls.config()).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let mut session = Session::open(&tls, daemon.https_addr.unwrap()).await.unwrap();

    assert_eq!(session.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (status, _, _) = session.get("/api/v1/stats").await;
    assert_eq!(status, 404, "admin routes are not on the client listener");
    let (status, _, _) = session
        .get("/Content/00/0000000000000000000000000000000000000000.cab")
        .await;
    assert!(status >= 400, "{status}");
    daemon.stop().await;
}

#[tokio::test]
async fn an_untrusting_client_and_plain_http_get_no_answer() {
    let data = tempfile::tempdir().unwrap();
    let daemon = start_https(&data).await;
    let https = daemon.https_addr.unwrap();

    let other_ca = super::TestCa::new();
    let err = connect(
        &connector_with(other_ca.pem.as_bytes(), rustls::ALL_VERSIONS),
        https,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");

    let answer = super::plain_http_answer(https).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP is not answered on the TLS port"
    );

    // The plain listener is unaffected.
    let (status, _) =
        crate::harness::http("GET", daemon.client_addr, "/ClientWebService/client.asmx", None).await;
    assert_eq!(status, 405);
    daemon.stop().await;
}
