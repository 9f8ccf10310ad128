//! Certificate rotation: a certificate replaced on disk is served to new connections after a
//! reload (`POST /api/v1/reload`, or SIGHUP to `wucache serve`), while a connection opened
//! before keeps working; files that do not load keep the certificate in force.

use super::{connector_with, der, Session, TestCa};
use crate::harness::{config, eventually, http, ChildGuard};
use std::path::Path;
use tokio_rustls::rustls;
use wucache::daemon::Daemon;

fn write_pair(dir: &Path, (cert, key): &(String, String)) {
    std::fs::write(dir.join("server.pem"), cert).unwrap();
    std::fs::write(dir.join("server-key.pem"), key).unwrap();
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_to_new_connections_and_keeps_open_ones() {
    let data = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let (first, second) = (ca.server(), ca.server());
    write_pair(data.path(), &first);
    let mut config = config("http://127.0.0.1:9", &data);
    config.server.https_listen = Some("127.0.0.1:0".parse().unwrap());
    config.tls.cert = data.path().join("server.pem").display().to_string();
    config.tls.key = data.path().join("server-key.pem").display().to_string();
    let daemon = Daemon::start(config).await.unwrap();
    let (https, token) = (daemon.https_addr.unwrap(), daemon.app.admin_token());
    let tls = connector_with(ca.pem.as_bytes(), rustls::ALL_VERSIONS);
    let mut before = Session::open(&tls, https).await.unwrap();
    assert_eq!(before.certificate, der(&first.0));
    assert_eq!(before.get("/ClientWebService/client.asmx").await.0, 405);

    write_pair(data.path(), &second);
    let (status, body) = http("POST", daemon.admin_addr, "/api/v1/reload", Some(&token)).await;
    assert_eq!(status, 200, "{body}");

    let mut after = Session::open(&tls, https).await.unwrap();
    assert_eq!(
        after.certificate,
        der(&second.0),
        "a new connection gets the new certificate"
    );
    assert_eq!(after.get("/ClientWebService/client.asmx").await.0, 405);
    assert_eq!(
        before.get("/ClientWebService/client.asmx").await.0,
        405,
        "the connection opened before the reload still works"
    );

    // A certificate file that does not load: the reload says so, naming the key and the file,
    // and the certificate in force stays.
    std::fs::write(data.path().join("server.pem"), "not a certificate\n").unwrap();
    let (status, body) = http("POST", daemon.admin_addr, "/api/v1/reload", Some(&token)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("tls.cert") && body.contains("server.pem"), "{body}");
    let kept = Session::open(&tls, https).await.unwrap();
    assert_eq!(kept.certificate, der(&second.0));

    // A key that is not the certificate's: refused the same way.
    std::fs::write(data.path().join("server.pem"), &first.0).unwrap();
    let (status, body) = http("POST", daemon.admin_addr, "/api/v1/reload", Some(&token)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("tls.key"), "{body}");
    let kept = Session::open(&tls, https).await.unwrap();
    assert_eq!(kept.certificate, der(&second.0));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_to_serve_reloads_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let (first, second) = (ca.server(), ca.server());
    write_pair(dir.path(), &first);
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (client, https, admin) = (free(), free(), free());
    let config = dir.path().join("wucache.toml");
    let text = format!(
        "[server]\nhttp_listen = \"{client}\"\nhttps_listen = \"{https}\"\n\
         [admin]\nlisten = \"{admin}\"\n\
         [tls]\ncert = \"{}\"\nkey = \"{}\"\n\
         [upstream]\nserver = \"http://127.0.0.1:9\"\n\
         [sync]\non_start = false\ninterval = \"0s\"\n\
         [storage]\ndata_dir = \"{}\"\n",
        dir.path().join("server.pem").display(),
        dir.path().join("server-key.pem").display(),
        dir.path().join("data").display(),
    );
    std::fs::write(&config, text).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wucache"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = ChildGuard(child);
    let tls = connector_with(ca.pem.as_bytes(), rustls::ALL_VERSIONS);
    let serving = eventually(|| async { Session::open(&tls, https).await.is_ok() }).await;
    assert!(serving, "serve listens on {https}");
    let mut before = Session::open(&tls, https).await.unwrap();
    assert_eq!(before.certificate, der(&first.0));

    write_pair(dir.path(), &second);
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());

    let swapped = eventually(|| async {
        let session = Session::open(&tls, https).await;
        session.is_ok_and(|s| s.certificate == der(&second.0))
    })
    .await;
    assert!(swapped, "after SIGHUP new connections get the new certificate");
    assert_eq!(before.get("/ClientWebService/client.asmx").await.0, 405);
}
