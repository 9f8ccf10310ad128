//! HTTP to the upstream: one pooled hyper client over rustls (ring) with the standard web
//! roots plus an optional CA file; every request has a deadline and a body-size bound.
//! Classifies failures into retryable (network, 5xx) and not.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest upstream response read (GetRevisionIdList answers run to tens of MB).
pub const MAX_RESPONSE_BYTES: usize = 512 << 20;

const AGENT: &str = concat!("wucache/", env!("CARGO_PKG_VERSION"));

/// Why an HTTP exchange with the upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection, or it broke (retryable).
    #[error("cannot reach {url}: {detail}")]
    Network {
        /// The URL asked.
        url: String,
        /// The error chain, flattened to one line.
        detail: String,
    },
    /// No answer within the request time-out (retryable).
    #[error("{url} did not answer within {0:?}", .timeout)]
    Timeout {
        /// The URL asked.
        url: String,
        /// The time-out that passed.
        timeout: Duration,
    },
    /// An error status without a SOAP fault in the body (retryable when 5xx or 429).
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The start of the body (at most 200 characters), for the log.
        body: String,
    },
    /// The body passed [`MAX_RESPONSE_BYTES`].
    #[error("{url} answered more than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
    },
    /// The URL or SOAPAction cannot go into a request; the URL.
    #[error("invalid upstream URL `{0}`")]
    BadUrl(String),
    /// The TLS set-up failed: the CA file does not load, or rustls refused its protocol versions.
    #[error("cannot load upstream CA file {path}: {detail}")]
    CaFile {
        /// The CA file; empty when the failure is not the file's.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

impl TransportError {
    /// Worth trying again after a pause: network trouble, time-outs, 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Network { .. } | TransportError::Timeout { .. } => true,
            TransportError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }
}

/// A raw HTTP answer: status and body text.
#[derive(Debug)]
pub struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
}

#[derive(Clone)]
pub(crate) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Transport {
    /// Builds the client. `ca_file` adds PEM roots to the web roots.
    pub(crate) fn new(ca_file: Option<&Path>, timeout: Duration) -> Result<Transport, TransportError> {
        let tls = tls_config(ca_file)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(30).min(timeout)));
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Transport { client, timeout })
    }

    /// GETs a URL from `offset` (`Range: bytes=offset-` when above zero). Only the headers
    /// are awaited here, within the request time-out; the caller reads the body with its own
    /// idle time-out.
    pub(crate) async fn get_from(
        &self,
        url: &str,
        offset: u64,
    ) -> Result<hyper::Response<hyper::body::Incoming>, TransportError> {
        let mut builder = Request::get(url).header(USER_AGENT, AGENT);
        if offset > 0 {
            builder = builder.header(hyper::header::RANGE, format!("bytes={offset}-"));
        }
        let request = builder
            .body(Full::new(Bytes::new()))
            .map_err(|_| TransportError::BadUrl(url.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| TransportError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            })?
            .map_err(|e| network(url, &e))?;
        Ok(response)
    }

    /// POSTs a SOAP body. A SOAP fault arrives as HTTP 500 with an envelope, so 500 bodies
    /// that look like XML are returned as replies for the caller to read.
    pub(crate) async fn post_soap(
        &self,
        url: &str,
        soap_action: &str,
        body: String,
    ) -> Result<Reply, TransportError> {
        let request = Request::post(url)
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                HeaderValue::from_str(soap_action).map_err(|_| TransportError::BadUrl(url.into()))?,
            )
            .header(USER_AGENT, AGENT)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| TransportError::BadUrl(url.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| network(url, &e))?;
            let status = response.status();
            let collected = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                        TransportError::TooLarge { url: url.to_string() }
                    } else {
                        network(url, e.as_ref())
                    }
                })?;
            let body = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
            Ok(Reply { status, body })
        };
        let reply =
            tokio::time::timeout(self.timeout, exchange)
                .await
                .map_err(|_| TransportError::Timeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                })??;
        if reply.status.is_success() || looks_like_soap_fault(&reply) {
            return Ok(reply);
        }
        Err(TransportError::Status {
            url: url.to_string(),
            status: reply.status,
            body: truncate(&reply.body),
        })
    }
}

fn looks_like_soap_fault(reply: &Reply) -> bool {
    reply.status == StatusCode::INTERNAL_SERVER_ERROR && reply.body.contains("Fault")
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Flattens an error chain into one line ("connection refused", "tls: ...").
fn network(url: &str, err: &(dyn std::error::Error + 'static)) -> TransportError {
    let mut detail = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    TransportError::Network {
        url: url.to_string(),
        detail,
    }
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        add_pem_roots(&mut roots, path)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::CaFile {
            path: String::new(),
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn add_pem_roots(roots: &mut rustls::RootCertStore, path: &Path) -> Result<(), TransportError> {
    let fail = |detail: String| TransportError::CaFile {
        path: path.display().to_string(),
        detail,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificates in the file".into()));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}
