//! HTTP side of the fake: accept loop, routing, injected HTTP-level failures, and turning an
//! operation's answer or fault into a response.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::faults::lock;
use super::wire::{self, Fault, Op, Service};
use super::{content, ops, Shared};
use crate::xml::Element;

/// Response bodies: whole buffers for SOAP and error pages, generated streams for payloads.
pub(super) type Body = BoxBody<Bytes, std::io::Error>;

/// A whole-buffer body.
pub(super) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// Largest request body read; bigger requests are answered as unreadable.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
/// How long `stop` waits for open connections to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("injected connection reset")]
pub(super) struct InjectedReset;

/// Serves connections until `stop` fires (or its sender is dropped), then drains them.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => serve_connection(stream, Arc::clone(&shared), &graceful),
                Err(error) => {
                    tracing::debug!(%error, "fake upstream: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("fake upstream: connections still open after drain timeout");
    }
}

fn serve_connection(stream: TcpStream, shared: Arc<Shared>, graceful: &GracefulShutdown) {
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { route(&shared, request).await }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "fake upstream: connection ended");
        }
    });
}

async fn route(shared: &Arc<Shared>, request: Request<Incoming>) -> Result<Response<Body>, InjectedReset> {
    let service = Service::from_path(request.uri().path());
    match (service, request.method()) {
        (Some(service), &Method::POST) => soap(shared, service, request).await,
        (Some(_), _) => Ok(status_page(StatusCode::METHOD_NOT_ALLOWED)),
        (None, &Method::GET | &Method::HEAD) => Ok(content::serve(shared, &request).await),
        (None, _) => Ok(status_page(StatusCode::NOT_FOUND)),
    }
}

/// One SOAP call: count it, apply injected failures, dispatch, serialise.
async fn soap(
    shared: &Shared,
    service: Service,
    request: Request<Incoming>,
) -> Result<Response<Body>, InjectedReset> {
    let action = header(&request, "soapaction");
    let actor = format!(
        "http://{}{}",
        header(&request, HOST.as_str()).unwrap_or_else(|| "127.0.0.1".to_owned()),
        request.uri().path()
    );
    let envelope = read_body(request)
        .await
        .and_then(|text| Element::parse(&text).ok());
    let op_name = envelope
        .as_ref()
        .and_then(|e| wire::operation_name(action.as_deref(), e));
    lock(&shared.stats).count_call(op_name.as_deref().unwrap_or("(unreadable)"));
    if shared.faults.take_reset() {
        lock(&shared.stats).resets += 1;
        return Err(InjectedReset);
    }
    let delay = shared.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = shared.faults.take_http_error() {
        lock(&shared.stats).http_errors += 1;
        return Ok(status_page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ));
    }
    let call = Call {
        service,
        action: action.as_deref(),
        envelope: envelope.as_ref(),
        op_name: op_name.as_deref(),
    };
    Ok(match dispatch(shared, &call) {
        Ok(xml) => {
            shared.faults.note_success();
            xml_response(StatusCode::OK, xml)
        }
        Err((fault, method)) => {
            lock(&shared.stats).count_fault(fault.stats_key());
            xml_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                wire::fault(&fault, &actor, &method),
            )
        }
    })
}

/// What a SOAP request said, once read.
struct Call<'a> {
    service: Service,
    action: Option<&'a str>,
    envelope: Option<&'a Element>,
    op_name: Option<&'a str>,
}

/// The response envelope, or the fault with the `Method` to report it under.
fn dispatch(shared: &Shared, call: &Call<'_>) -> Result<String, (Fault, String)> {
    let raw_method = call.action.unwrap_or_default().to_owned();
    let Some(request) = call.envelope.and_then(wire::body_operation) else {
        return Err((Fault::unreadable(), raw_method));
    };
    let op = call
        .op_name
        .and_then(Op::from_name)
        .filter(|op| op.service() == call.service);
    let Some(op) = op else {
        let asked = call.action.or(call.op_name).unwrap_or_default();
        return Err((Fault::unknown_action(asked), raw_method));
    };
    let method = op.quoted_action();
    if shared.faults.take_server_busy() {
        return Err((Fault::server("ServerBusy"), method));
    }
    if shared.faults.take_forget_cookies() {
        lock(&shared.cookies).forget_access();
    }
    match ops::answer(shared, op, request) {
        Ok(result) => Ok(wire::response(op, &result)),
        Err(fault) => Err((fault, method)),
    }
}

async fn read_body(request: Request<Incoming>) -> Option<String> {
    let collected = Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
        .ok()?;
    String::from_utf8(collected.to_bytes().to_vec()).ok()
}

fn header(request: &Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn xml_response(status: StatusCode, xml: String) -> Response<Body> {
    let mut response = Response::new(full(xml));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    response
}

/// A bare HTML error page, as IIS sends when the application is down.
pub(super) fn status_page(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let html = format!(
        "<html><head><title>{reason}</title></head><body><h1>{} {reason}</h1></body></html>",
        status.as_u16()
    );
    let mut response = Response::new(full(html));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}
