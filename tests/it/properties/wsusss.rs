//! MS-WSUSSS answers: the SOAP response reader and GetAuthConfig's reader on arbitrary bytes
//! and mutated recorded answers; and every other answer's reader through the public sync
//! (`upstream::run_sync`), against a fake upstream behind a proxy on loopback that mutates
//! one operation's answers. A mutated answer ends the sync with a summary or an error that
//! says something, and the store then holds only revisions the upstream has, each once.
//!
//! GetAuthConfig's answer is never mutated on its way to the sync: it names the URL of the
//! auth service, and a mutation must not send the sync anywhere but loopback.

use super::mutate::{apply_all, mutations, Mutation};
use super::{bodies, cases, fixtures_ending};
use crate::harness::{config, fake_with, stored_identities, synthetic, synthetic_identities};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use wucache::protocol::soap::{parse_response, SoapError};
use wucache::store::Store;
use wucache::upstream::{run_sync, Quiet};

/// Recorded answers of a real WSUS, faults included.
fn recorded_answers() -> Vec<String> {
    fixtures_ending("wsusss", ".xml")
        .into_iter()
        .filter(|(name, _)| !name.contains(".request."))
        .chain(fixtures_ending("upstream/exchanges", ".response.xml"))
        .map(|(_, text)| text)
        .collect()
}

#[test]
fn recorded_faults_read_as_faults_with_their_code() {
    for (name, text) in fixtures_ending("wsusss", ".xml")
        .into_iter()
        .filter(|(n, _)| n.contains("fault"))
    {
        match parse_response(&text) {
            Err(SoapError::Fault(fault)) => assert!(fault.error_code.is_some(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn mutated_recorded_answers_are_read_or_refused_with_a_message() {
    let answers = recorded_answers();
    TestRunner::new(cases(256))
        .run(&(0..answers.len(), mutations()), |(answer, mutations)| {
            bodies::wsusss_response(apply_all(&answers[answer], &mutations).as_bytes());
            Ok(())
        })
        .unwrap();
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_are_read_or_refused_with_a_message(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        bodies::wsusss_response(&data);
    }
}

/// The operations whose answers the proxy may mutate.
const MUTATED: [&str; 5] = [
    "GetAuthorizationCookie",
    "GetCookie",
    "GetConfigData",
    "GetRevisionIdList",
    "GetUpdateData",
];

/// Which answers to mutate, and how.
type Plan = Arc<Mutex<Option<(&'static str, Vec<Mutation>)>>>;

/// A proxy on loopback in front of the fake upstream that mutates the answers to one
/// operation (by its SOAPAction) as the plan says.
struct Proxy {
    addr: SocketAddr,
    plan: Plan,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let plan: Plan = Arc::default();
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let shared = (Arc::clone(&plan), client, Arc::new(upstream));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (plan, client, upstream) = shared.clone();
                let service = hyper::service::service_fn(move |request| {
                    forward(request, plan.clone(), client.clone(), upstream.clone())
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Proxy { addr, plan }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, plan: Option<(&'static str, Vec<Mutation>)>) {
        *self.plan.lock().unwrap() = plan;
    }
}

async fn forward(
    request: hyper::Request<hyper::body::Incoming>,
    plan: Plan,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Arc<String>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let action = parts
        .headers
        .get("SOAPAction")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut onward = hyper::Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            onward = onward.header(name, value);
        }
    }
    let answer = client.request(onward.body(Full::new(body)).unwrap()).await;
    let Ok(answer) = answer else {
        return Ok(hyper::Response::builder()
            .status(502)
            .body(Full::default())
            .unwrap());
    };
    let status = answer.status();
    let mut text = String::from_utf8_lossy(&answer.into_body().collect().await?.to_bytes()).into_owned();
    let plan = plan.lock().unwrap().clone();
    if let Some((operation, mutations)) = plan {
        if action.rsplit('/').next() == Some(operation) {
            text = apply_all(&text, &mutations);
        }
    }
    Ok(hyper::Response::builder()
        .status(status)
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(Full::new(Bytes::from(text)))
        .unwrap())
}

#[test]
fn a_sync_through_mutated_answers_ends_cleanly_and_stores_only_real_revisions() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let catalog = synthetic(31, 6);
    let (upstream, proxy) = runtime.block_on(async {
        let upstream = fake_with(&catalog).await;
        let proxy = Proxy::start(upstream.url()).await;
        (upstream, proxy)
    });
    let real = synthetic_identities(&catalog);
    let sync = |plan| {
        proxy.set(plan);
        let data = tempfile::tempdir().unwrap();
        let store = Store::open(data.path()).unwrap();
        let result = runtime.block_on(run_sync(&store, &config(&proxy.url(), &data), &Quiet));
        (
            result.map(drop).map_err(|e| e.to_string()),
            stored_identities(&store),
        )
    };
    // Unmutated, the proxy is transparent.
    let (result, stored) = sync(None);
    assert_eq!(result, Ok(()));
    assert_eq!(stored, real);
    let failed = std::cell::Cell::new(0);
    let strategy = (proptest::sample::select(MUTATED.to_vec()), mutations());
    TestRunner::new(cases(64))
        .run(&strategy, |(operation, mutations)| {
            let (result, stored) = sync(Some((operation, mutations)));
            if let Err(message) = &result {
                failed.set(failed.get() + 1);
                bodies::assert_message(message);
            }
            prop_assert!(
                stored.is_subset(&real),
                "stored revisions the upstream does not have"
            );
            Ok(())
        })
        .unwrap();
    assert!(failed.get() > 0, "no mutation made a sync fail");
    drop(upstream);
}
