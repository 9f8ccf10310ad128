//! The egress proxy (`[upstream] proxy`, `no_proxy`, `proxy_auth_file`) against a real one:
//! Debian's tinyproxy (installed by `.ci/test-deps`), started per test on a loopback port
//! with its config and log in a temp dir. Its log tells which requests went through it:
//! absolute-form `GET`/`POST http://…` for http:// targets, only `CONNECT host:port` for
//! https:// ones (TLS end to end).

use crate::content::{content_path, get, largest_approved, serve, upstream_with_payloads};
use crate::harness::{config, fake_with, stored_identities, synthetic, synthetic_identities, ChildGuard};
use crate::tls::{private_ca, tls_front};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::{tempdir, TempDir};
use wucache::config::Config;
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};
use wucache_testkit::synth;

const TINYPROXY: &str = "/usr/bin/tinyproxy";

/// A tinyproxy on 127.0.0.1, killed when dropped.
struct Tinyproxy {
    _child: ChildGuard,
    dir: TempDir,
    port: u16,
}

impl Tinyproxy {
    /// Starts one, requiring `user:password` by Basic auth when `auth` is given.
    async fn start(auth: Option<(&str, &str)>) -> Tinyproxy {
        assert!(
            Path::new(TINYPROXY).exists(),
            "{TINYPROXY} is missing: run .ci/test-deps (apt-get install tinyproxy)"
        );
        // The port is picked by binding and letting go; another test may take it in between,
        // so a start that does not come up is tried again on a new port.
        for _ in 0..3 {
            let dir = tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut text = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 64\nLogLevel Connect\nLogFile \"{}\"\n",
                dir.path().join("tinyproxy.log").display()
            );
            if let Some((user, password)) = auth {
                text.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            let conf = dir.path().join("tinyproxy.conf");
            std::fs::write(&conf, text).unwrap();
            let child = Command::new(TINYPROXY)
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut child = ChildGuard(child);
            if listening(&mut child, port).await {
                return Tinyproxy {
                    _child: child,
                    dir,
                    port,
                };
            }
        }
        panic!("tinyproxy did not come up on three ports");
    }

    /// `http://127.0.0.1:PORT`.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines it logged (`GET http://… HTTP/1.1`, `CONNECT host:port HTTP/1.1`).
    fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| line.split_once("Request (file descriptor ")?.1.split_once("): "))
            .map(|(_, request)| request.to_string())
            .collect()
    }

    /// A credentials file `name` holding `line`.
    fn auth_file(&self, name: &str, line: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{line}\n")).unwrap();
        path
    }
}

/// Waits up to ten seconds for the port to accept, while the process lives.
async fn listening(child: &mut ChildGuard, port: u16) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        if child.0.try_wait().unwrap().is_some() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn through(config: &mut Config, proxy: &Tinyproxy) {
    config.upstream.proxy = proxy.url();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_a_payload_miss_go_through_the_proxy_in_absolute_form() {
    let proxy = Tinyproxy::start(None).await;
    let (upstream, catalog) = upstream_with_payloads(140, 40, 100_000).await;
    let (daemon, _data) = serve(&upstream, |c| through(c, &proxy)).await;
    let file = largest_approved(&catalog);

    let reply = get(daemon.client_addr, &content_path(&file), None).await;

    assert_eq!(reply.status, 200, "{:?}", reply.headers);
    assert!(reply.body == synth::payload(&file), "the bytes verify");
    let requests = proxy.requests();
    let soap = format!("POST {}/ServerSyncWebService/", upstream.url());
    assert!(requests.iter().any(|r| r.starts_with(&soap)), "{requests:#?}");
    // The fake answers as a WSUS (CatalogOnlySync false): payloads come from its /Content.
    let path = content_path(&file);
    let payload: Vec<_> = requests
        .iter()
        .filter(|r| r.starts_with("GET http://127.0.0.1:") && r.contains(&path))
        .collect();
    assert_eq!(payload.len(), 1, "one transfer, through the proxy: {requests:#?}");
    assert_eq!(upstream.stats().content_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_right_credentials_pass_and_wrong_or_none_are_refused_once() {
    let proxy = Tinyproxy::start(Some(("alice", "s3cret"))).await;
    let catalog = synthetic(141, 20);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let mut config = config(&upstream.url(), &data);
    through(&mut config, &proxy);
    config.upstream.max_attempts = 3;

    let none = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();
    assert!(none.contains("refused credentials (HTTP 407"), "{none}");
    assert!(none.contains("upstream.proxy_auth_file"), "{none}");
    assert!(none.contains(&proxy.url()), "{none}");
    assert_eq!(proxy.requests().len(), 1, "a refusal is not retried");

    config.upstream.proxy_auth_file = proxy.auth_file("wrong", "alice:hunter2").display().to_string();
    let wrong = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();
    // tinyproxy answers wrong credentials with 401 rather than 407.
    assert!(wrong.contains("refused credentials"), "{wrong}");
    assert!(wrong.contains("upstream.proxy_auth_file"), "{wrong}");
    assert!(
        !wrong.contains("hunter2"),
        "the password is not repeated: {wrong}"
    );

    config.upstream.proxy_auth_file = proxy.auth_file("right", "alice:s3cret").display().to_string();
    run_sync(&store, &config, &Quiet).await.unwrap();
    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_goes_through_connect_with_tls_end_to_end() {
    let proxy = Tinyproxy::start(Some(("bob", "tunnel-pw"))).await;
    let catalog = synthetic(142, 20);
    let upstream = fake_with(&catalog).await;
    let backend = upstream.url().trim_start_matches("http://").parse().unwrap();
    let (ca_pem, cert, key) = private_ca();
    let port = tls_front(backend, cert, key).await;
    let data = tempdir().unwrap();
    let ca_file = data.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let store = Store::open(data.path()).unwrap();
    let mut config = config(&format!("https://localhost:{port}"), &data);
    config.upstream.ca_file = ca_file.display().to_string();
    through(&mut config, &proxy);
    config.upstream.max_attempts = 2;

    config.upstream.proxy_auth_file = proxy.auth_file("wrong", "bob:nope").display().to_string();
    let wrong = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();
    assert!(wrong.contains("refused credentials"), "{wrong}");
    assert!(wrong.contains(&proxy.url()), "{wrong}");

    config.upstream.proxy_auth_file = proxy.auth_file("right", "bob:tunnel-pw").display().to_string();
    run_sync(&store, &config, &Quiet).await.unwrap();

    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
    let requests = proxy.requests();
    let connect = format!("CONNECT localhost:{port} HTTP/1.1");
    assert!(requests.contains(&connect), "{requests:#?}");
    assert!(
        requests.iter().all(|r| r.starts_with("CONNECT ")),
        "the proxy sees tunnels only, never a request: {requests:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_cannot_reach_the_upstream_is_retried_and_named() {
    let proxy = Tinyproxy::start(None).await;
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = config(&format!("https://{closed}"), &data);
    through(&mut config, &proxy);
    config.upstream.max_attempts = 2;

    let err = run_sync(&store, &config, &Quiet).await.unwrap_err().to_string();

    assert!(
        err.contains(&format!("proxy {} refused CONNECT", proxy.url())),
        "{err}"
    );
    assert!(err.contains("HTTP 500"), "{err}");
    let requests = proxy.requests();
    assert_eq!(requests.len(), 2, "a 5xx is retried: {requests:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_proxy_entry_for_the_upstream_bypasses_the_proxy() {
    let proxy = Tinyproxy::start(None).await;
    let catalog = synthetic(143, 20);
    let upstream = fake_with(&catalog).await;
    let data = tempdir().unwrap();
    let store = Store::open(data.path()).unwrap();
    let mut config = config(&upstream.url(), &data);
    through(&mut config, &proxy);
    config.upstream.no_proxy = vec!["127.0.0.1".into()];

    run_sync(&store, &config, &Quiet).await.unwrap();

    assert_eq!(stored_identities(&store), synthetic_identities(&catalog));
    assert_eq!(proxy.requests(), Vec::<String>::new());
    // The same sync without the entry does reach the proxy (its log is read right).
    config.upstream.no_proxy.clear();
    run_sync(&store, &config, &Quiet).await.unwrap();
    assert!(!proxy.requests().is_empty());
}

#[tokio::test]
async fn a_missing_proxy_auth_file_stops_the_start_naming_the_key() {
    let data = tempdir().unwrap();
    let mut config = config("http://127.0.0.1:1", &data);
    config.upstream.proxy = "http://127.0.0.1:3128".into();
    config.upstream.proxy_auth_file = data.path().join("absent").display().to_string();

    let err = wucache::daemon::Daemon::start(config)
        .await
        .err()
        .unwrap()
        .to_string();

    assert!(err.contains("upstream.proxy_auth_file"), "{err}");
    assert!(err.contains("absent"), "{err}");
}
