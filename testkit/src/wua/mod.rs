//! An independent Windows Update Agent side of MS-WUSP: what a real Windows 11 client sends, and
//! a reader of what it gets back, so tests can grade a server without using its own code.
//!
//! Everything here comes from the published protocol (the MS-WUSP WSDL, MS-XCA, MS-DRSR) and from
//! real traffic between Windows 11 25H2 and a Windows Server 2025 WSUS (`tests/fixtures/replay/`,
//! `tests/fixtures/wusp/`), never from the server under test.
//!
//! - [`request`]: SOAP 1.1 requests as text templates in the shape Windows 11 sends them.
//! - [`report`]: the ReportEventBatch request and its events.
//! - [`reply`]: the SOAP envelope of an answer, and faults with their `ErrorCode`.
//! - [`answers`] and [`sync`]: typed readers of each answer, strict about the WSDL's sequences.
//! - [`core`]: the Core fragment inside `UpdateInfo/Xml` (identity, type, bundled updates).
//! - [`shape`]: element skeletons with values masked, for structural comparisons.
//! - [`xpress`]: a decoder for `Content-Encoding: xpress` answers.
//! - [`transport`]: one POST over loopback, with Windows 11's headers.

pub mod answers;
pub mod core;
pub mod reply;
pub mod report;
pub mod request;
mod schema;
pub mod shape;
pub mod sync;
pub mod transport;
pub mod xpress;

#[cfg(test)]
mod tests;

pub use answers::{
    AuthPlugIn, AuthorizationCookie, CategoryScan, Config, Cookie, ExtendedInfo, FileLocation, FileLocations,
    RefreshResult, UpdateData,
};
pub use core::Core;
pub use reply::{Fault, Reply};
pub use request::{Machine, Request, SyncParams};
pub use sync::{Action, Deployment, SyncInfo, UpdateInfo};
pub use transport::Exchange;

use crate::xml::XmlError;

/// Why a request could not be made or its answer not read.
#[derive(Debug, thiserror::Error)]
pub enum WuaError {
    /// The text is not well-formed XML (or is refused by the reader's limits).
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// An xpress-encoded body does not decode.
    #[error(transparent)]
    Xpress(#[from] xpress::XpressError),
    /// The answer is not a SOAP 1.1 envelope; what is wrong.
    #[error("not a SOAP 1.1 envelope: {0}")]
    Envelope(String),
    /// A required element is absent; its path.
    #[error("{0} is missing")]
    Missing(String),
    /// Elements out of the WSDL's sequence: unexpected, misplaced, repeated or wrongly named.
    #[error("{path}: {found}")]
    Shape {
        /// Path of the element whose children are wrong.
        path: String,
        /// What was found instead.
        found: String,
    },
    /// An element whose text does not parse as its type.
    #[error("{path}: bad value {value:?}")]
    Invalid {
        /// Path of the element.
        path: String,
        /// Its text.
        value: String,
    },
    /// The HTTP exchange failed; the error.
    #[error("HTTP: {0}")]
    Http(String),
}
