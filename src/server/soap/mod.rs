//! The MS-WUSP services a Windows client talks to: one handler per operation, each taking
//! the parsed request and returning the response value or the fault a real WSUS would send.
//! Handlers read one catalog snapshot and never write to a socket; `server::client` does
//! the HTTP. Uses `app`, `snapshot`, `plan`, `cookie`, `protocol`, and `content::layout` for
//! content URLs.

mod auth;
mod info;
mod report;
mod scan;

pub(super) use info::content_url;

use crate::app::App;
use crate::cookie::{AccessState, CookieError};
use crate::protocol::wusp::envelope;
use crate::protocol::wusp::messages as msg;
use crate::protocol::wusp::{ClientFault, Cookie, ErrorCode, Operation};
use crate::protocol::xml::Element;
use crate::snapshot::Snapshot;
use std::sync::Arc;

/// What a handler needs besides the request.
pub struct Context<'a> {
    /// The daemon's shared state.
    pub app: &'a App,
    /// The served catalog, taken once for the whole request.
    pub snapshot: Arc<Snapshot>,
    /// Base URL for file locations: `[server] public_url`, else `http://<Host header>`.
    pub content_base: String,
    /// Unix seconds.
    pub now: i64,
    /// The address the request came from (recorded with the computer), when known.
    pub peer: Option<std::net::IpAddr>,
    /// The client takes Xpress answers: the big ones are then kept compressed, by what
    /// determines them, and the next client asking the same is sent them with its own cookie.
    pub xpress: bool,
}

/// Answers one SOAP request body: the response envelope, or a fault envelope. The bool is
/// true for a fault (sent with HTTP 500).
pub fn handle(context: &Context<'_>, body: &str, soap_action: Option<&str>) -> (String, bool) {
    let answer = answer(context, body, soap_action, None, &|| None);
    (answer.xml, answer.is_fault)
}

/// A SOAP answer and what it answered.
pub(crate) struct Answer {
    /// The response or fault envelope; empty when `compressed` holds the answer.
    pub(crate) xml: String,
    /// The answer already Xpress-compressed (only when the context says the client takes it).
    pub(crate) compressed: Option<Vec<u8>>,
    /// A fault (sent with HTTP 500).
    pub(crate) is_fault: bool,
    /// The operation asked for; `None` when the request could not be read.
    pub(crate) operation: Option<Operation>,
}

/// `handle`, also saying which operation was asked for (for the request metrics); `stop` is
/// asked while the body is read whether to abandon it (`xml::parse_until`). With
/// `service`, an operation of another service (GetCookie posted to SimpleAuth.asmx, say) is
/// answered with a fault, as ASP.NET answers an operation its `.asmx` does not have.
pub(crate) fn answer(
    context: &Context<'_>,
    body: &str,
    soap_action: Option<&str>,
    service: Option<envelope::Service>,
    stop: &dyn Fn() -> Option<&'static str>,
) -> Answer {
    let parsed =
        envelope::parse_request_until(body, soap_action, stop).and_then(
            |(operation, element)| match service {
                Some(service) if operation.service() != service => Err(ClientFault::new(
                    ErrorCode::InvalidParameters,
                    format!(
                        "{} is not an operation of the {service:?} service",
                        operation.name()
                    ),
                )),
                _ => Ok((operation, element)),
            },
        );
    let (operation, element) = match parsed {
        Ok(parsed) => parsed,
        Err(fault) => {
            tracing::info!(code = fault.code.as_str(), message = %fault.message, "unreadable SOAP request answered with a fault");
            return Answer {
                xml: fault_body(named_operation(soap_action, service), &fault),
                compressed: None,
                is_fault: true,
                operation: None,
            };
        }
    };
    let (xml, compressed, is_fault) = match dispatch(context, operation, &element) {
        Ok(Reply::Xml(xml)) => (envelope::response(operation, &xml), None, false),
        Ok(Reply::Keep(xml, key)) => {
            let xml = envelope::response(operation, &xml);
            if context.xpress {
                let compressed = super::xpress::compress_and_keep(xml.as_bytes(), key);
                (String::new(), Some(compressed), false)
            } else {
                (xml, None, false)
            }
        }
        Ok(Reply::Compressed(bytes)) => (String::new(), Some(bytes), false),
        Err(fault) => {
            tracing::info!(?operation, code = fault.code.as_str(), message = %fault.message, "fault answered");
            (fault_body(Some(operation), &fault), None, true)
        }
    };
    Answer {
        xml,
        compressed,
        is_fault,
        operation: Some(operation),
    }
}

/// What a handler answered: the operation's XML, the same to keep compressed under a key
/// (see `Context::xpress`), or an answer taken from that cache.
enum Reply {
    Xml(String),
    Keep(String, u128),
    Compressed(Vec<u8>),
}

fn named_operation(soap_action: Option<&str>, service: Option<envelope::Service>) -> Option<Operation> {
    let operation = envelope::operation_of_action(soap_action?)?;
    service
        .is_none_or(|service| operation.service() == service)
        .then_some(operation)
}

fn fault_body(operation: Option<Operation>, fault: &ClientFault) -> String {
    envelope::fault(operation, fault, uuid::Uuid::new_v4(), None)
}

fn dispatch(context: &Context<'_>, operation: Operation, element: &Element) -> Result<Reply, ClientFault> {
    match operation {
        Operation::GetConfig => {
            let request = msg::parse_get_config_request(element)?;
            Ok(Reply::Xml(msg::build_get_config_response(&auth::get_config(
                context, &request,
            ))))
        }
        Operation::GetAuthorizationCookie => {
            let request = msg::parse_get_authorization_cookie_request(element)?;
            Ok(Reply::Xml(msg::build_get_authorization_cookie_response(
                &auth::get_authorization_cookie(context, &request)?,
            )))
        }
        Operation::GetCookie => {
            let request = msg::parse_get_cookie_request(element)?;
            Ok(Reply::Xml(msg::build_get_cookie_response(&auth::get_cookie(
                context, &request,
            )?)))
        }
        Operation::RegisterComputer => {
            let request = msg::parse_register_computer_request(element)?;
            report::register_computer(context, &request)?;
            Ok(Reply::Xml(msg::build_register_computer_response(&())))
        }
        Operation::StartCategoryScan => {
            let request = msg::parse_start_category_scan_request(element)?;
            Ok(Reply::Xml(msg::build_start_category_scan_response(
                &scan::start_category_scan(context, &request)?,
            )))
        }
        Operation::SyncUpdates => {
            let request = msg::parse_sync_updates_request(element)?;
            Ok(match scan::sync_updates(context, &request)? {
                scan::Synced::Built(info, None) => Reply::Xml(msg::build_sync_updates_response(&info)),
                scan::Synced::Built(info, Some(key)) => {
                    Reply::Keep(msg::build_sync_updates_response(&info), key)
                }
                scan::Synced::Kept(shared, cookie) => {
                    Reply::Compressed(shared.with_cookie(msg::new_cookie_element(&cookie).as_bytes()))
                }
            })
        }
        Operation::SyncPrinterCatalog => {
            let request = msg::parse_sync_printer_catalog_request(element)?;
            Ok(Reply::Xml(msg::build_sync_printer_catalog_response(
                &scan::sync_printer_catalog(context, &request)?,
            )))
        }
        Operation::RefreshCache => {
            let request = msg::parse_refresh_cache_request(element)?;
            Ok(Reply::Xml(msg::build_refresh_cache_response(
                &scan::refresh_cache(context, &request)?,
            )))
        }
        Operation::GetExtendedUpdateInfo => {
            let request = msg::parse_get_extended_update_info_request(element)?;
            let key = context
                .xpress
                .then(|| info::answer_key(context, &request))
                .flatten();
            if let Some(shared) = key.and_then(super::xpress::cached_answer) {
                return Ok(Reply::Compressed(shared.with_cookie(b"")));
            }
            let xml = msg::build_get_extended_update_info_response(&info::get_extended_update_info(
                context, &request,
            )?);
            Ok(match key {
                Some(key) => Reply::Keep(xml, key),
                None => Reply::Xml(xml),
            })
        }
        Operation::GetExtendedUpdateInfo2 => {
            let request = msg::parse_get_extended_update_info2_request(element)?;
            Ok(Reply::Xml(msg::build_get_extended_update_info2_response(
                &info::get_extended_update_info2(context, &request)?,
            )))
        }
        Operation::GetFileLocations => {
            let request = msg::parse_get_file_locations_request(element)?;
            Ok(Reply::Xml(msg::build_get_file_locations_response(
                &info::get_file_locations(context, &request)?,
            )))
        }
        Operation::ReportEventBatch => {
            let request = msg::parse_report_event_batch_request(element)?;
            Ok(Reply::Xml(msg::build_report_event_batch_response(
                &report::report_event_batch(context, &request)?,
            )))
        }
    }
}

/// Opens a client's access cookie, mapping every failure to the fault the client recovers
/// from (docs/protocol.md §1.4).
fn open_cookie(context: &Context<'_>, cookie: Option<&Cookie>) -> Result<AccessState, ClientFault> {
    let sealed = cookie
        .and_then(|c| c.encrypted_data.as_deref())
        .ok_or_else(|| ClientFault::new(ErrorCode::InvalidCookie, "cookie"))?;
    context
        .app
        .cookie_key
        .open_access(sealed, context.snapshot.catalog_id, context.now)
        .map_err(|err| match err {
            CookieError::Invalid => ClientFault::new(ErrorCode::InvalidCookie, ""),
            CookieError::ServerChanged => ClientFault::new(ErrorCode::ServerChanged, ""),
            CookieError::Expired => ClientFault::new(ErrorCode::CookieExpired, ""),
        })
}

/// A cookie for `state` (same expiry as the state says).
fn seal_cookie(context: &Context<'_>, state: &AccessState) -> Cookie {
    let nonce: [u8; 12] = rand::random();
    Cookie {
        expiration: crate::cookie::expiration_text(state.expires_at),
        encrypted_data: Some(
            context
                .app
                .cookie_key
                .seal(crate::cookie::Purpose::Access, state, nonce),
        ),
    }
}

/// A fault for trouble on our side, logged with its cause.
fn internal(what: &str, cause: impl std::fmt::Display) -> ClientFault {
    tracing::error!(what, error = %cause, "client request failed on the server side");
    ClientFault::new(ErrorCode::InternalServerError, "")
}
