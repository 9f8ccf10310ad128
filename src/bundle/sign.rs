//! Bundle signatures: Ed25519 (ring) over the exact bytes of `manifest.json`. Since the
//! manifest holds the SHA-256 of every other file, one signature covers the whole bundle.
//!
//! Files (all text):
//! - private key: PKCS#8 in PEM (`-----BEGIN PRIVATE KEY-----`), as `wucache bundle keygen`
//!   and `openssl genpkey -algorithm ed25519` write it; a DER file is read too.
//! - public key: the raw 32-byte Ed25519 key as 64 hex digits on one line (lines starting
//!   with `#` are comments).
//! - `manifest.sig`: the 64-byte signature as 128 hex digits on one line.
//!
//! No file I/O here: callers pass the bytes.

use crate::model::hex;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

/// Why a key or signature is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The private key file is not an Ed25519 PKCS#8 key.
    #[error("not an Ed25519 private key (PKCS#8, PEM or DER): {0}")]
    PrivateKey(String),
    /// The public key file is not 64 hex digits.
    #[error("not an Ed25519 public key (64 hex digits on one line)")]
    PublicKey,
    /// The signature file is not 128 hex digits.
    #[error("not a signature (128 hex digits on one line)")]
    Malformed,
    /// The signature does not match the manifest and key.
    #[error("does not verify with public key {0}")]
    Mismatch(String),
    /// The system's random source failed while making a key.
    #[error("cannot make a key: the system's random source failed")]
    Random,
}

/// A new key pair: (PKCS#8 PEM text of the private key, public key as one hex line).
pub fn generate() -> Result<(String, String), KeyError> {
    let random = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&random).map_err(|_| KeyError::Random)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| KeyError::PrivateKey(e.to_string()))?;
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap_or_default())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    Ok((pem, format!("{}\n", hex(pair.public_key().as_ref()))))
}

/// Reads a private key file's bytes (PEM or DER PKCS#8, v1 or v2).
pub fn private_key(bytes: &[u8]) -> Result<Ed25519KeyPair, KeyError> {
    let der = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN") => pem_body(text)?,
        _ => bytes.to_vec(),
    };
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| KeyError::PrivateKey(e.to_string()))
}

fn pem_body(text: &str) -> Result<Vec<u8>, KeyError> {
    let body: String = text
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| KeyError::PrivateKey("no `BEGIN PRIVATE KEY` block with base64 in it".into()))
}

/// The public key of a private key, as hex.
pub fn public_hex(key: &Ed25519KeyPair) -> String {
    hex(key.public_key().as_ref())
}

/// Reads a public key file's text.
pub fn public_key(text: &str) -> Result<[u8; 32], KeyError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .ok_or(KeyError::PublicKey)?;
    super::manifest::decode_hex::<32>(line).ok_or(KeyError::PublicKey)
}

/// The text of `manifest.sig` for `manifest`.
pub fn sign(key: &Ed25519KeyPair, manifest: &[u8]) -> String {
    format!("{}\n", hex(key.sign(manifest).as_ref()))
}

/// Checks `manifest.sig`'s text against the manifest bytes and the public key.
pub fn verify(public: &[u8; 32], manifest: &[u8], signature: &str) -> Result<(), KeyError> {
    let signature = super::manifest::decode_hex::<64>(signature.trim()).ok_or(KeyError::Malformed)?;
    UnparsedPublicKey::new(&ED25519, public)
        .verify(manifest, &signature)
        .map_err(|_| KeyError::Mismatch(hex(public)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_and_its_public_half_verifies() {
        let (pem, public) = generate().unwrap();
        let key = private_key(pem.as_bytes()).unwrap();
        let public = public_key(&format!("# bundle key\n{public}")).unwrap();
        assert_eq!(public_hex(&key), hex(&public));
        let signature = sign(&key, b"manifest bytes");
        assert_eq!(verify(&public, b"manifest bytes", &signature), Ok(()));
        assert!(matches!(
            verify(&public, b"manifest bytez", &signature),
            Err(KeyError::Mismatch(_))
        ));
        assert_eq!(verify(&public, b"x", "zz"), Err(KeyError::Malformed));
    }

    #[test]
    fn another_key_does_not_verify_and_garbage_is_no_key() {
        let (pem, _) = generate().unwrap();
        let (_, other) = generate().unwrap();
        let signature = sign(&private_key(pem.as_bytes()).unwrap(), b"m");
        assert!(verify(&public_key(&other).unwrap(), b"m", &signature).is_err());
        assert!(private_key(b"not a key").is_err());
        assert_eq!(public_key("abc"), Err(KeyError::PublicKey));
    }
}
