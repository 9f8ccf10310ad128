//! The admin API's lists are paged: `offset` and `limit` (1,000 by default, at most 10,000),
//! `X-Total-Count` and `Link: rel="next"` on arrays, `TotalInstances` and `NextOffset` in the
//! compliance report; pages together hold each computer exactly once; a bad number is a 400.

use crate::client::{serve_synthetic, WindowsClient};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GET with the token; the status, the response headers (lower-cased) and the body.
async fn get(addr: SocketAddr, path: &str, token: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computers_and_compliance_come_in_pages_that_add_up_to_the_fleet() {
    let (daemon, _catalog, _data) = serve_synthetic(111, 10).await;
    let mut registered = BTreeSet::new();
    for _ in 0..5 {
        let mut client = WindowsClient::new(daemon.client_addr);
        client.handshake().await;
        registered.insert(client.client_id.clone());
    }
    let token = daemon.app.admin_token();
    let admin = daemon.admin_addr;

    // /api/v1/computers, two at a time, following Link.
    let mut seen = Vec::new();
    let mut path = "/api/v1/computers?limit=2".to_string();
    let mut pages = 0;
    loop {
        let (status, head, body) = get(admin, &path, &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&head, "x-total-count"), Some("5"));
        let page: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|c| c["client_id"].as_str().unwrap().to_string()));
        pages += 1;
        match header(&head, "link") {
            Some(link) => {
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                path = link[1..link.find('>').unwrap()].to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5, "no computer twice");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), registered);

    // /api/v1/compliance pages its machines; group states count everyone.
    let (_, _, body) = get(admin, "/api/v1/compliance?limit=3", &token).await;
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["InstancePatchStates"].as_array().unwrap().len(), 3);
    assert_eq!(first["TotalInstances"], 5);
    assert_eq!(first["NextOffset"], 3);
    let (_, _, body) = get(admin, "/api/v1/compliance?limit=3&offset=3", &token).await;
    let second: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["InstancePatchStates"].as_array().unwrap().len(), 2);
    assert!(second["NextOffset"].is_null());
    let ids: BTreeSet<String> = [&first, &second]
        .iter()
        .flat_map(|r| r["InstancePatchStates"].as_array().unwrap().iter())
        .map(|s| s["InstanceId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, registered);

    // /api/v1/updates, the view and the records, in pages that add up to the catalog.
    for list in ["/api/v1/updates?all=1", "/api/v1/updates?format=records"] {
        let (_, head, body) = get(admin, list, &token).await;
        let whole: Vec<Value> = serde_json::from_str(&body).unwrap();
        let total: usize = header(&head, "x-total-count").unwrap().parse().unwrap();
        assert_eq!(whole.len(), total, "{list}: one page holds all by default here");
        assert!(total > 4, "{list}: {total}");
        let mut paged = Vec::new();
        let mut path = format!("{list}&limit=4");
        loop {
            let (status, head, body) = get(admin, &path, &token).await;
            assert_eq!(status, 200, "{body}");
            paged.extend(serde_json::from_str::<Vec<Value>>(&body).unwrap());
            match header(&head, "link") {
                Some(link) => path = link[1..link.find('>').unwrap()].to_string(),
                None => break,
            }
        }
        assert_eq!(paged, whole, "{list}: the pages in order are the whole list");
    }

    // Past the end: an empty page; a bad number: 400 naming it.
    let (status, _, body) = get(admin, "/api/v1/computers?offset=99", &token).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (status, _, body) = get(admin, "/api/v1/computers?limit=many", &token).await;
    assert_eq!(status, 400);
    assert!(body.contains("limit"), "{body}");
    daemon.stop().await;
}
