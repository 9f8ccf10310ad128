//! `wucache cert generate` as a user runs it: four files, a server certificate that verifies
//! against the CA for every name and address asked for (and no other), served by the HTTPS
//! listener to a client that trusts only that CA; the PowerShell and config lines printed;
//! nothing overwritten without `--force`.

use super::{connect_as, connector_with, der, Session};
use crate::harness::config;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use tokio_rustls::rustls::client::danger::ServerCertVerifier;
use tokio_rustls::rustls::pki_types::{ServerName, UnixTime};
use tokio_rustls::rustls::{self, RootCertStore};
use wucache::daemon::Daemon;

fn generate(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wucache"))
        .args([
            "cert",
            "generate",
            "--dns",
            "wucache.test",
            "--dns",
            "updates.test",
        ])
        .args(["--ip", "127.0.0.1", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// Whether the server certificate in `dir` verifies against `dir/ca.pem` for `name`.
fn verifies_for(dir: &Path, name: &str) -> bool {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der(std::str::from_utf8(&ca).unwrap())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    let server = der(&std::fs::read_to_string(dir.join("server.pem")).unwrap());
    let name = ServerName::try_from(name.to_string()).unwrap();
    verifier
        .verify_server_cert(&server, &[], &name, &[], UnixTime::now())
        .is_ok()
}

#[tokio::test]
async fn generated_certificates_verify_for_the_names_asked_and_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls");

    let output = generate(&out, &[]);

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in ["wucache.test", "updates.test", "127.0.0.1"] {
        assert!(verifies_for(&out, name), "the certificate is valid for {name}");
    }
    for name in ["other.test", "127.0.0.2"] {
        assert!(
            !verifies_for(&out, name),
            "the certificate is not valid for {name}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    for (file, mode) in [
        ("ca.pem", 0o644),
        ("ca-key.pem", 0o600),
        ("server.pem", 0o644),
        ("server-key.pem", 0o600),
    ] {
        let found = std::fs::metadata(out.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(found, mode, "{file}");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(r"Import-Certificate -FilePath ca.pem -CertStoreLocation Cert:\LocalMachine\Root"),
        "{stdout}"
    );
    let out = out.canonicalize().unwrap();
    let cert_line = format!("cert = \"{}\"", out.join("server.pem").display());
    let key_line = format!("key = \"{}\"", out.join("server-key.pem").display());
    assert!(stdout.contains("https_listen = \"0.0.0.0:8531\""), "{stdout}");
    assert!(
        stdout.contains(&cert_line) && stdout.contains(&key_line),
        "{stdout}"
    );

    // The daemon serves them; a client trusting only the generated CA connects by name and
    // by address.
    let data = tempfile::tempdir().unwrap();
    let mut config = config("http://127.0.0.1:9", &data);
    config.server.https_listen = Some("127.0.0.1:0".parse().unwrap());
    config.tls.cert = out.join("server.pem").display().to_string();
    config.tls.key = out.join("server-key.pem").display().to_string();
    let daemon = Daemon::start(config).await.unwrap();
    let https = daemon.https_addr.unwrap();
    let tls = connector_with(&std::fs::read(out.join("ca.pem")).unwrap(), rustls::ALL_VERSIONS);
    assert!(
        connect_as(&tls, https, ServerName::try_from("updates.test").unwrap())
            .await
            .is_ok()
    );
    assert!(
        connect_as(&tls, https, ServerName::try_from("other.test").unwrap())
            .await
            .is_err()
    );
    let mut session = Session::open(&tls, https).await.unwrap();
    assert_eq!(session.get("/ClientWebService/client.asmx").await.0, 405);
    daemon.stop().await;
}

#[test]
fn existing_files_are_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(dir.path(), &[]).status.success());
    let before = std::fs::read(dir.path().join("server.pem")).unwrap();

    let again = generate(dir.path(), &[]);

    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("already exist") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dir.path().join("server.pem")).unwrap(), before);

    assert!(generate(dir.path(), &["--force"]).status.success());
    assert_ne!(std::fs::read(dir.path().join("server.pem")).unwrap(), before);
    assert!(verifies_for(dir.path(), "wucache.test"));
}

#[test]
fn a_request_without_names_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wucache"))
        .args(["cert", "generate", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--dns"));
    assert!(!dir.path().join("ca.pem").exists());
}

#[test]
fn the_test_certificates_in_certs_verify_for_localhost() {
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    for name in ["localhost", "127.0.0.1", "::1"] {
        assert!(verifies_for(&certs, name), "certs/server.pem is valid for {name}");
    }
    assert!(
        !certs.join("ca-key.pem").exists(),
        "the test CA's key is not kept"
    );
}
