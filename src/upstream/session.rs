//! An authorized conversation with the upstream's Server Sync service (docs/protocol.md §8.2–§8.3):
//! GetAuthConfig → DSS GetAuthorizationCookie → GetCookie, the access cookie renewed before it
//! expires, authorization restarted on InvalidCookie / InvalidAuthorizationCookie, and every
//! call retried with exponential backoff and jitter on ServerBusy, HTTP 5xx, resets and
//! time-outs.

use super::transport::{Transport, TransportError};
use crate::protocol::soap::{self, Fault, SoapError};
use crate::protocol::wsusss::{self, AuthorizationCookie, Cookie, Request, Service};
use crate::protocol::xml::{Element, XmlError};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;
use uuid::Uuid;

/// Renew the access cookie when less than this is left of it.
const RENEW_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Authorization restarts allowed within one call before giving up.
const MAX_REAUTHORIZATIONS: u32 = 3;

/// What went wrong talking to the upstream, after retries.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The exchange failed in transport (network, time-out, HTTP status) until the attempts ran
    /// out or a failure was not retryable.
    #[error("upstream {operation}: {source} (gave up after {attempts} attempts)")]
    Transport {
        /// The SOAP operation, e.g. `GetRevisionIdList`.
        operation: String,
        /// Attempts made.
        attempts: u32,
        /// The last transport error.
        source: TransportError,
    },
    /// The upstream answered a SOAP fault that ends the run.
    #[error("upstream {operation} answered {fault}")]
    Fault {
        /// The SOAP operation.
        operation: String,
        /// The fault, with its `ErrorCode`.
        fault: Fault,
    },
    /// The answer is not the SOAP or XML the operation returns.
    #[error("upstream {operation} answered something unreadable: {detail}")]
    Malformed {
        /// The SOAP operation.
        operation: String,
        /// What could not be read.
        detail: String,
    },
    /// Authorization was refused again after every allowed restart.
    #[error("upstream kept refusing authorization during {operation}: {fault}")]
    Unauthorized {
        /// The SOAP operation.
        operation: String,
        /// The last refusing fault.
        fault: Fault,
    },
    /// The HTTP client could not be built (TLS set-up, CA file).
    #[error("upstream transport setup: {0}")]
    Setup(TransportError),
}

impl UpstreamError {
    /// The WSUS `ErrorCode` of a fault, if this is one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            UpstreamError::Fault { fault, .. } | UpstreamError::Unauthorized { fault, .. } => {
                fault.error_code.as_deref()
            }
            _ => None,
        }
    }
}

/// Backoff between attempts of one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1` (attempt counts from 1): doubled each time, capped,
    /// with jitter taking it down to half so that many downstreams do not retry in step.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let base = self.initial.saturating_mul(1u32 << exponent).min(self.max);
        base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// Counters a sync reports in its summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub(crate) calls: u64,
    pub(crate) retries: u64,
    pub(crate) authorizations: u64,
    pub(crate) bytes_received: u64,
}

struct Authorized {
    auth_cookie: AuthorizationCookie,
    cookie: Cookie,
    expires: DateTime<Utc>,
}

/// One error from one exchange, before retry decisions.
enum Exchange {
    Transport(TransportError),
    Fault(Fault),
    Malformed(String),
}

pub(crate) struct Session {
    transport: Transport,
    base: String,
    account_name: String,
    account_guid: Uuid,
    retry: RetryPolicy,
    auth: Option<Authorized>,
    pub(crate) stats: SessionStats,
}

impl Session {
    pub(crate) fn new(
        transport: Transport,
        base: &str,
        account_name: &str,
        account_guid: Uuid,
        retry: RetryPolicy,
    ) -> Session {
        Session {
            transport,
            base: base.trim_end_matches('/').to_string(),
            account_name: account_name.to_string(),
            account_guid,
            retry,
            auth: None,
            stats: SessionStats::default(),
        }
    }

    /// Forgets the access cookie so the next call authorizes again.
    pub(crate) fn reset(&mut self) {
        self.auth = None;
    }

    /// Makes one authorized call: `build` gets the current access cookie, `parse` reads the
    /// response element.
    pub(crate) async fn call<T>(
        &mut self,
        operation: &str,
        build: impl Fn(&Cookie) -> Request,
        parse: impl Fn(&Element) -> Result<T, XmlError>,
    ) -> Result<T, UpstreamError> {
        let mut attempt = 0;
        let mut reauthorizations = 0;
        loop {
            let cookie = self.cookie().await?;
            let request = build(&cookie);
            match self.exchange(&request).await {
                Ok(element) => return parse(&element).map_err(|e| malformed(operation, e.to_string())),
                Err(Exchange::Fault(fault)) if is_auth_fault(&fault) => {
                    reauthorizations += 1;
                    tracing::info!(operation, code = ?fault.error_code, "upstream refused the cookie; authorizing again");
                    if reauthorizations > MAX_REAUTHORIZATIONS {
                        return Err(UpstreamError::Unauthorized {
                            operation: operation.into(),
                            fault,
                        });
                    }
                    self.auth = None;
                }
                Err(err) => {
                    attempt += 1;
                    self.give_up_or_wait(operation, attempt, err).await?;
                }
            }
        }
    }

    /// The hub's baselines, for a replica (`server::downstream::replica_baselines`): the
    /// access cookie POSTed to `/wucache/v1/replica/baselines`, the JSON answer returned.
    /// Retried like a SOAP call; a 403 (no longer authorized) authorizes once more.
    pub(crate) async fn replica_baselines(&mut self) -> Result<String, UpstreamError> {
        const OPERATION: &str = "replica baselines";
        let url = format!("{}/wucache/v1/replica/baselines", self.base);
        let mut attempt = 0;
        let mut reauthorized = false;
        loop {
            let cookie = self.cookie().await?;
            let result = self
                .transport
                .post_soap(&url, "wucache-replica-baselines", cookie.encrypted_data.clone())
                .await;
            match result {
                Ok(reply) if reply.status.is_success() => return Ok(reply.body),
                Ok(reply) => {
                    return Err(malformed(
                        OPERATION,
                        format!("HTTP {} {}", reply.status, reply.body.trim()),
                    ))
                }
                Err(TransportError::Status { status, .. })
                    if status == hyper::StatusCode::FORBIDDEN && !reauthorized =>
                {
                    reauthorized = true;
                    self.auth = None;
                }
                Err(err) => {
                    attempt += 1;
                    self.give_up_or_wait(OPERATION, attempt, Exchange::Transport(err))
                        .await?;
                }
            }
        }
    }

    /// Either returns the final error or sleeps the backoff for the next attempt.
    async fn give_up_or_wait(
        &mut self,
        operation: &str,
        attempt: u32,
        err: Exchange,
    ) -> Result<(), UpstreamError> {
        let retryable = match &err {
            Exchange::Transport(e) => e.is_retryable(),
            Exchange::Fault(f) => f.error_code.as_deref() == Some("ServerBusy"),
            Exchange::Malformed(_) => false,
        };
        if !retryable || attempt >= self.retry.max_attempts {
            return Err(final_error(operation, attempt, err));
        }
        let delay = self.retry.delay(attempt, rand::thread_rng().gen());
        tracing::warn!(operation, attempt, delay_ms = delay.as_millis() as u64, error = %describe(&err), "upstream call failed; retrying");
        self.stats.retries += 1;
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// The current access cookie, authorizing or renewing as needed.
    async fn cookie(&mut self) -> Result<Cookie, UpstreamError> {
        let now = Utc::now();
        match &self.auth {
            Some(auth) if auth.expires - now > RENEW_MARGIN => return Ok(auth.cookie.clone()),
            Some(_) => self.renew().await?,
            None => self.authorize().await?,
        }
        self.auth
            .as_ref()
            .map(|a| a.cookie.clone())
            .ok_or_else(|| malformed("GetCookie", "no cookie after authorization".into()))
    }

    /// The full handshake: GetAuthConfig → GetAuthorizationCookie → GetCookie.
    async fn authorize(&mut self) -> Result<(), UpstreamError> {
        let dss_url = self
            .plain_call(
                "GetAuthConfig",
                &wsusss::get_auth_config(),
                wsusss::parse_auth_config,
            )
            .await?;
        let request = wsusss::get_authorization_cookie(&dss_url, &self.account_name, self.account_guid);
        let auth_cookie = self
            .plain_call(
                "GetAuthorizationCookie",
                &request,
                wsusss::parse_authorization_cookie,
            )
            .await?;
        let cookie = self
            .plain_call(
                "GetCookie",
                &wsusss::get_cookie(&auth_cookie, None),
                wsusss::parse_cookie,
            )
            .await?;
        self.stats.authorizations += 1;
        self.auth = Some(Authorized {
            auth_cookie,
            expires: expiry(&cookie),
            cookie,
        });
        Ok(())
    }

    /// GetCookie with the old cookie; a refused authorization cookie restarts the handshake.
    async fn renew(&mut self) -> Result<(), UpstreamError> {
        let Some(auth) = self.auth.take() else {
            return self.authorize().await;
        };
        let request = wsusss::get_cookie(&auth.auth_cookie, Some(&auth.cookie));
        match self.plain_call("GetCookie", &request, wsusss::parse_cookie).await {
            Ok(cookie) => {
                self.auth = Some(Authorized {
                    expires: expiry(&cookie),
                    cookie,
                    ..auth
                });
                Ok(())
            }
            Err(err) if err.error_code().is_some_and(|c| c.starts_with("Invalid")) => self.authorize().await,
            Err(err) => Err(err),
        }
    }

    /// A call that needs no access cookie, with retries.
    async fn plain_call<T>(
        &mut self,
        operation: &str,
        request: &Request,
        parse: impl Fn(&Element) -> Result<T, XmlError>,
    ) -> Result<T, UpstreamError> {
        let mut attempt = 0;
        loop {
            match self.exchange(request).await {
                Ok(element) => return parse(&element).map_err(|e| malformed(operation, e.to_string())),
                Err(err) => {
                    attempt += 1;
                    self.give_up_or_wait(operation, attempt, err).await?;
                }
            }
        }
    }

    /// One HTTP exchange and SOAP read.
    async fn exchange(&mut self, request: &Request) -> Result<Element, Exchange> {
        let url = self.url_of(&request.service);
        self.stats.calls += 1;
        let reply = self
            .transport
            .post_soap(&url, &request.soap_action, request.body.clone())
            .await
            .map_err(Exchange::Transport)?;
        self.stats.bytes_received += reply.body.len() as u64;
        soap::parse_response(&reply.body).map_err(|err| match err {
            SoapError::Fault(fault) => Exchange::Fault(fault),
            other => Exchange::Malformed(other.to_string()),
        })
    }

    fn url_of(&self, service: &Service) -> String {
        match service {
            Service::Sync => format!("{}{}", self.base, wsusss::SYNC_PATH),
            Service::DssAuth(url) if url.starts_with("http://") || url.starts_with("https://") => url.clone(),
            Service::DssAuth(relative) => format!("{}/{}", self.base, relative.trim_start_matches('/')),
        }
    }
}

fn is_auth_fault(fault: &Fault) -> bool {
    matches!(
        fault.error_code.as_deref(),
        Some("InvalidCookie" | "InvalidAuthorizationCookie" | "CookieExpired")
    )
}

/// When the cookie stops working; an unreadable expiry is treated as 30 minutes away.
fn expiry(cookie: &Cookie) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&cookie.expiration)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now() + chrono::TimeDelta::minutes(30))
}

fn malformed(operation: &str, detail: String) -> UpstreamError {
    UpstreamError::Malformed {
        operation: operation.into(),
        detail,
    }
}

fn describe(err: &Exchange) -> String {
    match err {
        Exchange::Transport(e) => e.to_string(),
        Exchange::Fault(f) => f.to_string(),
        Exchange::Malformed(d) => d.clone(),
    }
}

fn final_error(operation: &str, attempts: u32, err: Exchange) -> UpstreamError {
    match err {
        Exchange::Transport(source) => UpstreamError::Transport {
            operation: operation.into(),
            attempts,
            source,
        },
        Exchange::Fault(fault) => UpstreamError::Fault {
            operation: operation.into(),
            fault,
        },
        Exchange::Malformed(detail) => malformed(operation, detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_down_to_half() {
        let policy = RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        assert_eq!(policy.delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(3, 1.0), Duration::from_secs(4));
        assert_eq!(policy.delay(9, 1.0), Duration::from_secs(10));
        assert_eq!(policy.delay(2, 0.0), Duration::from_secs(1));
        assert_eq!(policy.delay(40, 1.0), Duration::from_secs(10));
    }

    #[test]
    fn expiry_reads_wsus_timestamps() {
        let cookie = Cookie {
            expiration: "2026-10-04T20:33:26.65455Z".into(),
            encrypted_data: String::new(),
        };
        assert_eq!(expiry(&cookie).to_rfc3339(), "2026-10-04T20:33:26.654550+00:00");
    }
}
