//! HTTP to the upstream: one pooled hyper client over rustls (ring) with the standard web
//! roots plus an optional CA file, straight or through the egress proxy (`proxy`, `tunnel`);
//! every request has a deadline and a body-size bound. Classifies failures into retryable
//! (network, 5xx) and not.

use super::proxy::{self, Proxies, ProxyError, Route};
use super::tunnel::{chain, ProxyConnector, TunnelError};
use crate::config::UpstreamConfig;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE, PROXY_AUTHORIZATION, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
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
    /// The proxy asked for credentials or refused them (HTTP 407; tinyproxy answers wrong
    /// ones with 401).
    #[error("proxy {proxy} refused credentials (HTTP {status}) for {url}: check upstream.proxy_auth_file")]
    ProxyAuth {
        /// The URL asked.
        url: String,
        /// The proxy, `http://host:port`.
        proxy: String,
        /// Its answer.
        status: StatusCode,
    },
    /// The proxy would not open a tunnel to the upstream (retryable when 5xx).
    #[error("proxy {proxy} refused CONNECT for {url}: HTTP {status}")]
    ProxyRefused {
        /// The URL asked.
        url: String,
        /// The proxy, `http://host:port`.
        proxy: String,
        /// Its answer.
        status: StatusCode,
    },
    /// The proxy settings cannot be used (environment, credentials file).
    #[error(transparent)]
    Proxy(#[from] ProxyError),
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
            TransportError::ProxyRefused { status, .. } => status.is_server_error(),
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
    client: Client<HttpsConnector<ProxyConnector>, Full<Bytes>>,
    proxies: Arc<Proxies>,
    timeout: Duration,
}

impl Transport {
    /// Builds the client from `[upstream]` (`ca_file` adds PEM roots to the web roots; the
    /// proxy settings, with the process's proxy variables when `proxy` is empty).
    pub(crate) fn new(upstream: &UpstreamConfig) -> Result<Transport, TransportError> {
        let ca_file = (!upstream.ca_file.is_empty()).then(|| Path::new(&upstream.ca_file));
        let tls = tls_config(ca_file)?;
        let settings = proxy::settings(upstream, &proxy::process_env())?;
        let auth = match upstream.proxy_auth_file.as_str() {
            "" => None,
            path => Some(proxy::read_credentials(Path::new(path))?),
        };
        let proxies = Arc::new(Proxies::new(settings, auth));
        let timeout = upstream.request_timeout;
        // The same limit for the TCP connect and for a proxy's answer to CONNECT.
        let connect_timeout = Duration::from_secs(30).min(timeout);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(ProxyConnector::new(http, proxies.clone(), connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Transport {
            client,
            proxies,
            timeout,
        })
    }

    /// The proxies in force, for the log (no credentials).
    pub(crate) fn proxy_description(&self) -> String {
        self.proxies.describe()
    }

    /// The proxy an http:// request goes through in absolute form, whose credentials it
    /// carries itself; `None` for https:// (tunnelled, and the credentials go on CONNECT
    /// only, never to the upstream) and for direct requests.
    fn absolute_form_route(&self, url: &str) -> Option<Route> {
        let uri: Uri = url.parse().ok()?;
        (uri.scheme_str() == Some("http"))
            .then(|| self.proxies.route(&uri))
            .flatten()
    }

    /// A request builder for `url` with the proxy's credentials when it goes through one in
    /// absolute form.
    fn builder(&self, method: hyper::Method, url: &str) -> (hyper::http::request::Builder, Option<Route>) {
        let route = self.absolute_form_route(url);
        let mut builder = Request::builder()
            .method(method)
            .uri(url)
            .header(USER_AGENT, AGENT);
        if let Some(auth) = route.as_ref().and_then(|r| r.auth.clone()) {
            builder = builder.header(PROXY_AUTHORIZATION, auth);
        }
        (builder, route)
    }

    /// GETs a URL from `offset` (`Range: bytes=offset-` when above zero). Only the headers
    /// are awaited here, within the request time-out; the caller reads the body with its own
    /// idle time-out.
    pub(crate) async fn get_from(
        &self,
        url: &str,
        offset: u64,
    ) -> Result<hyper::Response<hyper::body::Incoming>, TransportError> {
        let (mut builder, route) = self.builder(hyper::Method::GET, url);
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
            .map_err(|e| failure(url, &e))?;
        if let Some(err) = proxy_refusal(url, route.as_ref(), response.status()) {
            return Err(err);
        }
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
        let (builder, route) = self.builder(hyper::Method::POST, url);
        let request = builder
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                HeaderValue::from_str(soap_action).map_err(|_| TransportError::BadUrl(url.into()))?,
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| TransportError::BadUrl(url.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| failure(url, &e))?;
            let status = response.status();
            // Before the body: a proxy refusing credentials may close without one.
            if let Some(err) = proxy_refusal(url, route.as_ref(), status) {
                return Err(err);
            }
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
            // Checked as UTF-8 in place (answers are; the lossy path copies and is slow).
            let body = String::from_utf8(Vec::from(collected.to_bytes()))
                .unwrap_or_else(|bad| String::from_utf8_lossy(bad.as_bytes()).into_owned());
            Ok::<_, TransportError>(Reply { status, body })
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

/// A failed exchange: a proxy's refusal to tunnel by its status (a 401 to CONNECT can only be
/// the proxy's), anything else as a network error with the error chain on one line
/// ("connection refused", "tls: ...").
fn failure(url: &str, err: &(dyn std::error::Error + 'static)) -> TransportError {
    let mut source = Some(err);
    while let Some(inner) = source {
        if let Some(TunnelError::Refused { proxy, status, .. }) = inner.downcast_ref() {
            let (url, proxy) = (url.to_string(), proxy.clone());
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
            return match status {
                StatusCode::PROXY_AUTHENTICATION_REQUIRED | StatusCode::UNAUTHORIZED => {
                    TransportError::ProxyAuth { url, proxy, status }
                }
                _ => TransportError::ProxyRefused { url, proxy, status },
            };
        }
        source = inner.source();
    }
    network(url, err)
}

fn network(url: &str, err: &(dyn std::error::Error + 'static)) -> TransportError {
    TransportError::Network {
        url: url.to_string(),
        detail: chain(err),
    }
}

/// The proxy's own answer about credentials, on a request that went through it: 407, or 401
/// when credentials were sent (tinyproxy answers wrong ones so; the upstreams synced from
/// use no HTTP authentication, so a 401 through a proxy with credentials is the proxy's).
fn proxy_refusal(url: &str, route: Option<&Route>, status: StatusCode) -> Option<TransportError> {
    let route = route?;
    let refused = status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
        || (status == StatusCode::UNAUTHORIZED && route.auth.is_some());
    refused.then(|| TransportError::ProxyAuth {
        url: url.to_string(),
        proxy: route.name.clone(),
        status,
    })
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
