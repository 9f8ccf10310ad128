//! TLS server certificates: the PEM chain and key of `[tls] cert` and `key`, loaded and
//! checked against each other; the rustls certificate resolver that hands the certificate in
//! force to each new connection and swaps it on reload (connections already open keep
//! theirs); trial CA and server certificates for `wucache cert generate`; the client side
//! that trusts exactly the configured certificate (the CLI to a TLS admin listener). Uses no
//! other module.

mod generate;
mod pinned;

pub use generate::{generate, GenerateError, Trial, TrialRequest, MAX_DAYS};
pub use pinned::pinned_client_config;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// Why the certificate or key cannot be used; names the config key and the file.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The file cannot be read.
    #[error("key `{key}`: cannot read {path}: {error}")]
    Read {
        /// `tls.cert` or `tls.key`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not repeated as a source).
        error: std::io::Error,
    },
    /// The file holds no usable PEM item of the kind the key names.
    #[error("key `{key}`: {path} holds no {expected}")]
    Missing {
        /// `tls.cert` or `tls.key`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What was looked for.
        expected: &'static str,
    },
    /// The file is PEM, but an item in it is not a certificate or key rustls can use.
    #[error("key `{key}`: {path}: {detail}")]
    Invalid {
        /// `tls.cert` or `tls.key`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The private key is not the key of the first certificate.
    #[error("key `tls.key`: {key} is not the private key of the first certificate in {cert} (tls.cert); the server's own certificate must come first, then its chain")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// The certificate chain and key in force, re-read from their files on reload.
#[derive(Debug)]
pub struct ServerCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    /// std RwLock: held only to clone or replace the `Arc`, never across an await.
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCert {
    /// Loads the chain and key, refusing a key that does not match the first certificate.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<ServerCert, CertError> {
        let certified = load_certified_key(cert_path, key_path)?;
        log_loaded(cert_path, &certified);
        Ok(ServerCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(Arc::new(certified)),
        })
    }

    /// Re-reads both files. New connections get the new certificate; open ones keep theirs.
    /// Files that do not load leave the previous certificate in force.
    pub fn reload(&self) -> Result<(), CertError> {
        let certified = load_certified_key(&self.cert_path, &self.key_path)?;
        log_loaded(&self.cert_path, &certified);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }

    /// The chain and key in force.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The end-entity certificate in force (DER), for clients that pin it.
    pub fn end_entity(&self) -> CertificateDer<'static> {
        self.current().cert[0].clone()
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The crypto provider of every TLS endpoint wucache runs (ring, as the upstream client).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM file, in order (the `tls.cert` rules).
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    const KEY: &str = "tls.cert";
    let bytes = read(KEY, path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| CertError::Invalid {
            key: KEY,
            path: path.to_path_buf(),
            detail: format!("unreadable PEM: {err}"),
        })?;
    if chain.is_empty() {
        return Err(CertError::Missing {
            key: KEY,
            path: path.to_path_buf(),
            expected: "certificate (PEM `BEGIN CERTIFICATE`)",
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    const KEY: &str = "tls.key";
    let bytes = read(KEY, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| match err {
        rustls_pki_types::pem::Error::NoItemsFound => CertError::Missing {
            key: KEY,
            path: path.to_path_buf(),
            expected: "private key (PEM `BEGIN PRIVATE KEY`, `BEGIN EC PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`; encrypted keys are not read)",
        },
        other => CertError::Invalid {
            key: KEY,
            path: path.to_path_buf(),
            detail: format!("unreadable PEM: {other}"),
        },
    })
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|error| CertError::Read {
        key,
        path: path.to_path_buf(),
        error,
    })
}

fn load_certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, CertError> {
    let chain = read_chain(cert_path)?;
    let key = read_key(key_path)?;
    let signing_key = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|err| CertError::Invalid {
            key: "tls.key",
            path: key_path.to_path_buf(),
            detail: format!("not a private key rustls can sign with: {err}"),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(CertError::Mismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        }),
        Err(err) => Err(CertError::Invalid {
            key: "tls.cert",
            path: cert_path.to_path_buf(),
            detail: format!("the first certificate does not parse: {err}"),
        }),
    }
}

/// The SHA-256 fingerprint of a certificate, as `AA:BB:...` (what Windows' certificate
/// dialog and `openssl x509 -fingerprint -sha256` show).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(cert.as_ref());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

fn log_loaded(path: &Path, certified: &CertifiedKey) {
    tracing::info!(
        file = %path.display(),
        chain = certified.cert.len(),
        sha256 = %fingerprint(&certified.cert[0]),
        "TLS certificate loaded"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let request = TrialRequest {
            dns: vec![name.to_string()],
            ips: Vec::new(),
            days: 30,
        };
        let trial = generate(&request, chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).unwrap();
        let (cert, key) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        std::fs::write(&cert, trial.server_pem).unwrap();
        std::fs::write(&key, trial.server_key_pem).unwrap();
        (cert, key)
    }

    #[test]
    fn a_matching_pair_loads_and_a_reload_swaps_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = trial(dir.path(), "one");
        let loaded = ServerCert::load(&cert, &key).unwrap();
        let first = loaded.end_entity();
        let (other_cert, other_key) = trial(dir.path(), "two");
        std::fs::copy(&other_cert, &cert).unwrap();
        std::fs::copy(&other_key, &key).unwrap();

        loaded.reload().unwrap();

        assert_ne!(loaded.end_entity(), first);
        assert_eq!(loaded.end_entity(), read_chain(&other_cert).unwrap()[0]);
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = trial(dir.path(), "one");
        let loaded = ServerCert::load(&cert, &key).unwrap();
        let first = loaded.end_entity();
        std::fs::write(&cert, "garbage\n").unwrap();

        let err = loaded.reload().unwrap_err().to_string();

        assert!(err.contains("tls.cert") && err.contains("one.pem"), "{err}");
        assert_eq!(loaded.end_entity(), first);
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = trial(dir.path(), "one");
        let (_, other_key) = trial(dir.path(), "two");
        let missing = dir.path().join("missing.pem");
        let message = |cert: &Path, key: &Path| ServerCert::load(cert, key).unwrap_err().to_string();

        let text = message(&missing, &key);
        assert!(
            text.starts_with("key `tls.cert`: cannot read ") && text.contains("missing.pem"),
            "{text}"
        );
        let text = message(&cert, &missing);
        assert!(
            text.starts_with("key `tls.key`: cannot read ") && text.contains("missing.pem"),
            "{text}"
        );
        let text = message(&key, &key);
        assert!(
            text.starts_with("key `tls.cert`: ") && text.contains("holds no certificate"),
            "{text}"
        );
        let text = message(&cert, &cert);
        assert!(
            text.starts_with("key `tls.key`: ") && text.contains("holds no private key"),
            "{text}"
        );
        let text = message(&cert, &other_key);
        assert!(
            text.starts_with("key `tls.key`: ") && text.contains("two-key.pem") && text.contains("one.pem"),
            "{text}"
        );
    }
}
