//! Over HTTP: many simulated machines on loopback, each with its own connection pool,
//! handshaking first (untimed) and then all scanning at once; SyncUpdates latency, server and
//! load-generator CPU.

use crate::machine::Machine;
use crate::support::proc_stats::{open_files_limit, peak_rss_mib, process_cpu, threads_cpu};
use crate::support::setup::{runtime, LOAD_THREADS, SERVER_THREADS};
use crate::support::timings::{ms, quantile};
use crate::Served;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wucache::protocol::wusp::{envelope, Operation};
use wucache::protocol::{soap, xpress};

/// File descriptors kept free for everything but the simulated machines' connections.
const SPARE_FDS: usize = 256;

type Http = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A simulated machine with its own HTTP connection pool.
struct Remote {
    machine: Machine,
    http: Http,
    addr: SocketAddr,
    /// Every SyncUpdates call's time from sending the request to the last body byte.
    latencies: Vec<Duration>,
}

impl Remote {
    fn new(n: usize, addr: SocketAddr) -> Remote {
        Remote {
            machine: Machine::new(n),
            http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http(),
            addr,
            latencies: Vec::new(),
        }
    }

    /// Runs the handshake (`scan` false) or the rest of the scan (`scan` true).
    async fn run(mut self, scan: bool) -> Remote {
        while let Some((op, body)) = self.machine.request() {
            if !scan && self.machine.is_scanning() {
                break;
            }
            let started = Instant::now();
            let (bytes, compressed) = self.post(op, body).await;
            if op == Operation::SyncUpdates {
                self.latencies.push(started.elapsed());
            }
            let bytes = if compressed {
                xpress::decompress(&bytes, 256 << 20).expect("xpress body")
            } else {
                bytes.to_vec()
            };
            let text = String::from_utf8(bytes).expect("UTF-8 answer");
            match soap::parse_response(&text) {
                Ok(element) => self.machine.answer(&element),
                Err(err) => panic!("{op:?} failed over HTTP: {err}"),
            }
        }
        self
    }

    /// POSTs a SOAP call as Win11 does (quoted SOAPAction, `Accept-Encoding: xpress`).
    async fn post(&self, op: Operation, body: String) -> (Bytes, bool) {
        let path = match op {
            Operation::GetAuthorizationCookie => "/SimpleAuthWebService/SimpleAuth.asmx",
            _ => "/ClientWebService/client.asmx",
        };
        let request = hyper::Request::post(format!("http://{}{path}", self.addr))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", envelope::soap_action(op))
            .header("Accept-Encoding", "xpress")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = self.http.request(request).await.expect("HTTP exchange");
        let compressed = response
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v == "xpress");
        let body = response.into_body().collect().await.expect("HTTP body");
        (body.to_bytes(), compressed)
    }
}

/// What the scans over HTTP measured.
struct LoadRun {
    latencies: Vec<Duration>,
    wall: Duration,
    server_cpu: Duration,
    generator_cpu: Duration,
    process_cpu: Duration,
}

/// Handshakes every machine (untimed), then starts all their scans at once.
async fn load(addr: SocketAddr, machines: usize) -> LoadRun {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..machines {
        tasks.spawn(Remote::new(1_000 + n, addr).run(false));
    }
    let ready = tasks.join_all().await;
    let cpu = (
        threads_cpu(SERVER_THREADS),
        threads_cpu(LOAD_THREADS),
        process_cpu(),
    );
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for remote in ready {
        tasks.spawn(remote.run(true));
    }
    let done = tasks.join_all().await;
    LoadRun {
        wall: started.elapsed(),
        latencies: done.into_iter().flat_map(|r| r.latencies).collect(),
        server_cpu: threads_cpu(SERVER_THREADS).saturating_sub(cpu.0),
        generator_cpu: threads_cpu(LOAD_THREADS).saturating_sub(cpu.1),
        process_cpu: process_cpu().saturating_sub(cpu.2),
    }
}

pub(crate) fn print_latency(served: &Served, clients: usize) {
    let limit = open_files_limit();
    let machines = clients.min(limit.saturating_sub(SPARE_FDS) / 2).max(1);
    let generator = runtime(LOAD_THREADS);
    let mut run = generator.block_on(load(served.daemon.client_addr, machines));
    drop(generator);
    let latencies = &mut run.latencies;
    latencies.sort_unstable();
    let at = |q: f64| ms(quantile(latencies, q));
    println!();
    println!(
        "SyncUpdates latency under load: {machines} simulated machines over HTTP/1.1 on loopback (asked"
    );
    println!(
        "for {clients}; open-files limit {limit}), each handshaking first (untimed), then all running one"
    );
    println!("full scan at once; the load generator (2 tokio workers) shares the 2 cores with the server");
    println!(
        "  {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>13}",
        "calls", "p50 ms", "p99 ms", "max ms", "wall s", "scans/s", "peak RSS MiB"
    );
    println!(
        "  {:>9} {:>9.1} {:>9.1} {:>9.1} {:>10.2} {:>10.0} {:>13.0}",
        latencies.len(),
        at(0.50),
        at(0.99),
        latencies.last().map_or(0.0, |d| ms(*d)),
        run.wall.as_secs_f64(),
        machines as f64 / run.wall.as_secs_f64(),
        peak_rss_mib()
    );
    println!(
        "  CPU while scanning: server threads {:.1} s ({:.1} ms per scan, HTTP and Xpress included),",
        run.server_cpu.as_secs_f64(),
        ms(run.server_cpu) / machines as f64
    );
    println!(
        "  load generator {:.1} s, whole process {:.1} s",
        run.generator_cpu.as_secs_f64(),
        run.process_cpu.as_secs_f64()
    );
}
