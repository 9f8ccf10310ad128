//! Wire formats, pure: the SOAP framing, the server–server protocol (MS-WSUSSS), update
//! documents and their compressed blobs. No I/O, no async, no store.

pub mod blob;
pub mod fragment;
pub mod soap;
pub mod update_xml;
pub mod wsusss;
pub mod wsusss_serve;
pub mod wusp;
pub mod xml;
pub mod xpress;
