//! TLS from the outside: certificates checked by rustls' own verifier, never by wucache's
//! certificate code.

mod cert_generate;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;

/// The first certificate of a PEM text.
pub(crate) fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("PEM")
}
