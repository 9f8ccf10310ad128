//! The client–server protocol (MS-WUSP), pure: the message model (`types`), request and
//! response serialisation (`messages`), and the SOAP envelope, dispatch and faults
//! (`envelope`).

pub mod types;

pub use types::*;
pub mod envelope;
pub mod messages;
