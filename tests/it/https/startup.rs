//! Start-up refuses TLS settings that cannot work, naming the key to fix (and the file): a
//! certificate path that does not exist, a key that is not the certificate's, an HTTPS
//! listener without a certificate.

use super::{certs_dir, TestCa};
use crate::harness::config;
use std::process::Command;
use wucache::daemon::Daemon;

async fn start_error(tune: impl FnOnce(&mut wucache::config::Config)) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut config = config("http://127.0.0.1:9", &data);
    config.server.https_listen = Some("127.0.0.1:0".parse().unwrap());
    config.tls.cert = certs_dir().join("server.pem").display().to_string();
    config.tls.key = certs_dir().join("server-key.pem").display().to_string();
    tune(&mut config);
    match Daemon::start(config).await {
        Ok(daemon) => {
            daemon.stop().await;
            panic!("the daemon started")
        }
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn a_missing_certificate_file_stops_start_up_naming_tls_cert_and_the_path() {
    let message = start_error(|config| config.tls.cert = "/nonexistent/wucache/server.pem".into()).await;
    assert!(message.contains("tls.cert"), "{message}");
    assert!(message.contains("/nonexistent/wucache/server.pem"), "{message}");
}

#[tokio::test]
async fn a_key_that_is_not_the_certificates_stops_start_up_naming_tls_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, other_key) = TestCa::new().server();
    let key = dir.path().join("other-key.pem");
    std::fs::write(&key, other_key).unwrap();

    let message = start_error(|config| config.tls.key = key.display().to_string()).await;

    assert!(message.contains("tls.key"), "{message}");
    assert!(message.contains("other-key.pem"), "{message}");
}

#[tokio::test]
async fn admin_tls_alone_also_loads_the_certificate() {
    let message = start_error(|config| {
        config.server.https_listen = None;
        config.admin.tls = true;
        config.tls.key = "/nonexistent/wucache/key.pem".into();
    })
    .await;
    assert!(
        message.contains("tls.key") && message.contains("/nonexistent/wucache/key.pem"),
        "{message}"
    );
}

fn serve_with(config_text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wucache.toml");
    let text = format!(
        "{config_text}\n[storage]\ndata_dir = \"{}\"\n",
        dir.path().join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_wucache"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn serve_with_a_bad_certificate_path_exits_naming_tls_cert() {
    let output = serve_with(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\nhttps_listen = \"127.0.0.1:0\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\
         [tls]\ncert = \"/nonexistent/server.pem\"\nkey = \"/nonexistent/server-key.pem\"\n",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("key `tls.cert`: cannot read /nonexistent/server.pem"),
        "{stderr}"
    );
}

#[test]
fn serve_with_https_listen_but_no_certificate_exits_naming_tls_cert() {
    let output = serve_with("[server]\nhttps_listen = \"127.0.0.1:0\"\n");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("key `tls.cert`"), "{stderr}");
    assert!(stderr.contains("server.https_listen"), "{stderr}");
}
