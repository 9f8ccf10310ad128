//! The faults Windows clients recover from, read from the SOAP fault's `ErrorCode` by the test
//! kit: InvalidCookie, RegistrationRequired, ConfigChanged, InvalidAuthorizationCookie,
//! InvalidParameters, ServerChanged, CookieExpired; and cookies that survive a restart.

use super::agent::WindowsClient;
use super::{serve_synthetic, start};
use base64::Engine as _;
use wucache::daemon::Daemon;
use wucache_testkit::wua::reply::{read_reply, Reply};
use wucache_testkit::wua::{request, AuthorizationCookie, Cookie, SyncParams};

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_faults_are_the_ones_clients_recover_from() {
    let (daemon, _catalog, _data) = serve_synthetic(62, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);

    // A forged cookie.
    client.cookie = Some(Cookie {
        expiration: "2030-01-01T00:00:00Z".into(),
        encrypted_data: Some(base64(&[1; 80])),
    });
    let params = SyncParams::default();
    assert_eq!(client.sync_updates(&params).await.unwrap_err(), "InvalidCookie");

    // A valid cookie of a client that never registered.
    client.handshake().await;
    let mut stranger = WindowsClient::new(daemon.client_addr);
    let config = stranger.get_config().await;
    let auth = stranger.authorization_cookie().await;
    stranger.cookie = Some(stranger.get_cookie(&auth, &config.last_change).await.unwrap());
    assert_eq!(
        stranger.sync_updates(&params).await.unwrap_err(),
        "RegistrationRequired"
    );

    // A stale config stamp.
    let now = "2026-10-04T15:03:36Z";
    let stale = request::get_cookie(&auth, None, "2001-01-01T00:00:00Z", now, "2.90");
    assert_eq!(stranger.call(&stale).await.unwrap_err(), "ConfigChanged");

    // A bad authorization cookie.
    let bad = AuthorizationCookie {
        plug_in_id: "SimpleTargeting".into(),
        cookie_data: base64(&[0; 40]),
    };
    let bad_auth = request::get_cookie(&bad, None, &config.last_change, now, "2.90");
    assert_eq!(
        stranger.call(&bad_auth).await.unwrap_err(),
        "InvalidAuthorizationCookie"
    );

    // More than 400 installed non-leaf ids.
    let too_many = SyncParams {
        installed_non_leaf: Some((1..=401).collect()),
        ..SyncParams::default()
    };
    assert_eq!(
        client.sync_updates(&too_many).await.unwrap_err(),
        "InvalidParameters"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_survive_a_restart_and_other_instances_cookies_do_not() {
    let (daemon, _catalog, data) = serve_synthetic(63, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let cookie = client.cookie.clone();
    let config = daemon.app.config.clone();
    daemon.stop().await;

    let restarted = start(config).await;
    let mut again = WindowsClient::new(restarted.client_addr);
    again.client_id = client.client_id.clone();
    again.cookie = cookie.clone();
    let params = SyncParams::default();
    assert!(
        again.sync_updates(&params).await.is_ok(),
        "a restart keeps cookies valid"
    );
    restarted.stop().await;

    let (other, _c, _d) = serve_synthetic(63, 20).await;
    let mut foreign = WindowsClient::new(other.client_addr);
    foreign.cookie = cookie;
    assert_eq!(foreign.sync_updates(&params).await.unwrap_err(), "InvalidCookie");
    other.stop().await;
    drop(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_catalog_answers_server_changed() {
    let (daemon, _catalog, data) = serve_synthetic(64, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let config = daemon.app.config.clone();
    daemon.stop().await;

    // The catalog store is rebuilt (new revision-id space); the cookie key is kept.
    std::fs::remove_dir_all(data.path().join("catalog")).unwrap();
    let rebuilt: Daemon = start(config).await;
    client.addr = rebuilt.client_addr;
    let params = SyncParams::default();
    assert_eq!(client.sync_updates(&params).await.unwrap_err(), "ServerChanged");
    rebuilt.stop().await;
}

/// Two hours cannot pass over HTTP, so the request (built by the test kit) goes straight to the
/// server's SOAP handler with a clock two hours ahead; the fault is read by the test kit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cookie_answers_cookie_expired() {
    let (daemon, _catalog, _data) = serve_synthetic(65, 20).await;
    let mut client = WindowsClient::new(daemon.client_addr);
    client.handshake().await;
    let built = request::sync_updates(client.cookie.as_ref(), &SyncParams::default());
    let in_two_hours = wucache::server::soap::Context {
        app: &daemon.app,
        snapshot: daemon.app.snapshot(),
        content_base: "http://wucache".into(),
        now: chrono::Utc::now().timestamp() + 7200,
        peer: None,
        xpress: false,
    };

    let (answer, is_fault) = wucache::server::soap::handle(&in_two_hours, &built.body, Some(&built.action));

    assert!(is_fault);
    let Reply::Fault(fault) = read_reply(&answer).expect("a SOAP 1.1 envelope") else {
        panic!("a fault expected: {answer}")
    };
    assert_eq!(fault.error_code.as_deref(), Some("CookieExpired"), "{answer}");
    daemon.stop().await;
}
