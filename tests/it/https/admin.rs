//! `[admin] tls = true`: the admin listener speaks only TLS with the `[tls]` certificate, and
//! the CLI's API commands reach it over https, trusting exactly that certificate.

use super::{certs_dir, connector_with, with_test_cert, Session, TestCa};
use crate::harness::config;
use std::path::Path;
use tokio_rustls::rustls;
use wucache::daemon::Daemon;

/// A config file for the CLI: the daemon's admin listener, its token's folder, and `cert`.
fn cli_config(dir: &Path, admin: std::net::SocketAddr, data: &Path, cert: &Path) -> std::path::PathBuf {
    let path = dir.join("cli.toml");
    let text = format!(
        "[admin]\nlisten = \"{admin}\"\ntls = true\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n[storage]\ndata_dir = \"{}\"\n",
        cert.display(),
        certs_dir().join("server-key.pem").display(),
        data.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn stats(config: std::path::PathBuf) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_wucache"))
            .args(["stats", "--json", "--config"])
            .arg(config)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_on_tls_serves_the_api_and_the_cli_reaches_it() {
    let data = tempfile::tempdir().unwrap();
    let mut config = config("http://127.0.0.1:9", &data);
    with_test_cert(&mut config);
    config.server.https_listen = None;
    config.admin.tls = true;
    let daemon = Daemon::start(config).await.unwrap();
    let admin = daemon.admin_addr;
    let ca = std::fs::read(certs_dir().join("ca.pem")).unwrap();
    let mut session = Session::open(&connector_with(&ca, rustls::ALL_VERSIONS), admin)
        .await
        .unwrap();

    assert_eq!(session.get("/health").await.0, 200);
    let token = daemon.app.admin_token();
    let (status, _, body) = session.request("GET", "/api/v1/stats", Some(&token)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let plain = super::plain_http_answer(admin).await;
    assert!(!plain.starts_with(b"HTTP/"), "no plain HTTP answer");
    assert!(daemon.https_addr.is_none());

    let dir = tempfile::tempdir().unwrap();
    let pinned = cli_config(dir.path(), admin, data.path(), &certs_dir().join("server.pem"));
    let output = stats(pinned).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("\"cache\""), "{stdout}");

    // A CLI whose tls.cert is another certificate refuses the daemon's.
    let (other, _) = TestCa::new().server();
    let other_cert = dir.path().join("other.pem");
    std::fs::write(&other_cert, other).unwrap();
    let output = stats(cli_config(dir.path(), admin, data.path(), &other_cert)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("not the one in tls.cert"), "{stderr}");
    daemon.stop().await;
}
