//! A Windows client over HTTPS: the SOAP handshake, a staged scan and a report over TLS, file
//! locations that point back at the HTTPS listener, and a payload downloaded through one.

use super::{test_ca_connector, with_test_cert, Session};
use crate::client::WindowsClient;
use crate::content::{serve, upstream_with_payloads};
use crate::oracle::approved_files;
use wucache_testkit::synth;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_https_scans_reports_and_downloads_over_https() {
    let (upstream, catalog) = upstream_with_payloads(120, 40, 200_000).await;
    let (daemon, _data) = serve(&upstream, with_test_cert).await;
    let https = daemon.https_addr.expect("the HTTPS listener is on");
    let mut client = WindowsClient::over_tls(https, test_ca_connector());

    client.handshake().await;
    let result = client.scan().await;
    assert_eq!(client.report(&[]).await, Ok(true));

    assert!(
        !result.offered().is_empty(),
        "approved updates are offered over TLS"
    );
    assert_eq!(
        result.xpress_pages,
        result.pages.len(),
        "Xpress works over TLS too"
    );
    let prefix = format!("https://{https}/Content/");
    assert!(!result.file_locations.is_empty());
    for location in &result.file_locations {
        assert!(location.url.starts_with(&prefix), "{}", location.url);
    }
    let approved = approved_files(&catalog);
    let (file, location) = approved
        .iter()
        .find_map(|file| {
            let found = result.file_locations.iter().find(|l| l.digest == file.sha1);
            found.map(|location| (file, location))
        })
        .expect("an approved file was located");
    let mut session = Session::open(&test_ca_connector(), https).await.unwrap();
    let path = location.url.strip_prefix(&format!("https://{https}")).unwrap();
    let (status, _, body) = session.get(path).await;
    assert_eq!(status, 200);
    assert!(body == synth::payload(file), "the payload's bytes");

    // The same daemon still hands plain-HTTP clients http:// locations.
    let mut plain = WindowsClient::new(daemon.client_addr);
    plain.handshake().await;
    let result = plain.scan().await;
    let prefix = format!("http://{}/Content/", daemon.client_addr);
    assert!(result.file_locations.iter().all(|l| l.url.starts_with(&prefix)));
    daemon.stop().await;
}
