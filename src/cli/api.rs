//! The admin API as the CLI's commands reach it: `GET` on the running daemon's admin listener
//! (`--url`, else `[admin] listen` of the config, a wildcard address read as loopback, over
//! https when `[admin] tls` is on) with the bearer token from `[admin] token_file`. Over
//! https the CLI trusts exactly the certificate of `[tls] cert`. Errors say which side failed.

use crate::config::Config;
use anyhow::{anyhow, bail, Context};
use http_body_util::{BodyExt, Empty};
use hyper::header::AUTHORIZATION;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How long a command waits for the daemon's answer.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The admin API base URL: `--url` or the configured admin listener.
pub(super) fn base_url(config: &Config, url: Option<&str>) -> String {
    if let Some(url) = url {
        return url.trim_end_matches('/').to_string();
    }
    let mut addr = config.admin.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if config.admin.tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// `GET base/path`: the body of a 200, else an error with the daemon's message.
pub(super) async fn get(config: &Config, base: &str, path: &str) -> anyhow::Result<String> {
    let token_path = config.token_path();
    let token = std::fs::read_to_string(&token_path)
        .with_context(|| format!("cannot read the admin token {}", token_path.display()))?;
    let uri: hyper::Uri = format!("{base}{path}")
        .parse()
        .with_context(|| format!("bad admin URL {base}"))?;
    let request = hyper::Request::get(uri)
        .header(AUTHORIZATION, format!("Bearer {}", token.trim()))
        .body(Empty::<bytes::Bytes>::new())?;
    let pending = if uri_is_https(&request) {
        Client::builder(TokioExecutor::new())
            .build(https_connector(config)?)
            .request(request)
    } else {
        Client::builder(TokioExecutor::new())
            .build_http()
            .request(request)
    };
    let response = tokio::time::timeout(TIMEOUT, pending)
        .await
        .map_err(|_| anyhow!("the daemon at {base} did not answer within {TIMEOUT:?}"))?
        .with_context(|| {
            format!("cannot reach the daemon's admin API at {base} (is `wucache serve` running?)")
        })?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        match error_message(&text) {
            Some(message) => bail!("{message} (the daemon answered {status} for {path})"),
            None => bail!("the daemon answered {status} for {path}: {}", text.trim()),
        }
    }
    Ok(text)
}

/// The `error` of a JSON error answer.
fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value["error"].as_str().map(str::to_string)
}

/// Items per page asked of a paged list (the API's most).
const PAGE: usize = 10_000;

/// Every item of a paged list (`offset`/`limit`), page after page; `path` may carry a query.
pub(super) async fn get_all(
    config: &Config,
    base: &str,
    path: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    loop {
        let page_path = format!("{path}{separator}offset={}&limit={PAGE}", items.len());
        let page: Vec<serde_json::Value> = serde_json::from_str(&get(config, base, &page_path).await?)?;
        let last = page.len() < PAGE;
        items.extend(page);
        if last {
            return Ok(items);
        }
    }
}

fn uri_is_https<B>(request: &hyper::Request<B>) -> bool {
    request.uri().scheme_str() == Some("https")
}

/// HTTPS to the admin listener, trusting exactly the certificate in `[tls] cert`.
fn https_connector(
    config: &Config,
) -> anyhow::Result<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>> {
    if config.tls.cert.is_empty() {
        bail!("an https admin URL needs `[tls] cert` in the config: the CLI trusts exactly that certificate");
    }
    let tls = crate::cert::pinned_client_config(std::path::Path::new(&config.tls.cert))?;
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build())
}
