//! Client cookies (docs/protocol.md §3), pure: the state a client carries between calls, sealed
//! with AES-256-GCM (ring) under a key persisted in the data dir. A cookie this server did not
//! seal (another instance, a rotated key, a forgery, a replay across servers) does not open
//! and is answered `InvalidCookie`; one sealed for an older catalog (`catalog_id` differs) is
//! `ServerChanged`; one past its sealed expiry is `CookieExpired`. Time and nonces are
//! arguments, so tests control them.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};

/// Layout version of the sealed bytes.
const FORMAT: u8 = 1;
/// Access cookies live an hour, as WSUS's do.
pub(crate) const ACCESS_COOKIE_SECONDS: i64 = 3600;
/// Authorization cookies (SimpleAuth) are exchanged for an access cookie at once.
pub(crate) const AUTHORIZATION_COOKIE_SECONDS: i64 = 3600;

/// What a cookie is for; bound into the AEAD so one kind cannot be replayed as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Authorization,
    Access,
    /// A downstream server's DSS authorization cookie.
    DssAuthorization,
    /// A downstream server's Server Sync access cookie.
    DssAccess,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Purpose::Authorization => b"wucache/authorization/1",
            Purpose::Access => b"wucache/access/1",
            Purpose::DssAuthorization => b"wucache/dss-authorization/1",
            Purpose::DssAccess => b"wucache/dss-access/1",
        }
    }
}

/// The state inside an access cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccessState {
    /// The catalog instance that issued it (a rebuilt revision-id space changes it).
    pub catalog_id: u64,
    /// The client's `SusClientId`.
    pub client_id: String,
    pub dns_name: String,
    /// Target groups the client asked for (`TargetGroup` policy), as sent.
    pub target_groups: Vec<String>,
    pub issued_at: i64,
    /// The real expiry; the clear-text `Expiration` is only a copy.
    pub expires_at: i64,
    pub protocol_version: String,
    /// `Config.LastChange` the client saw.
    pub config_last_change: String,
    /// Deployment-change watermark already delivered (for `ChangedUpdates`).
    pub watermark: i64,
}

/// The state inside a SimpleAuth authorization cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct AuthorizationState {
    pub client_id: String,
    pub dns_name: String,
    pub target_groups: Vec<String>,
    pub expires_at: i64,
}

/// What a downstream server's cookies carry (authorization and access alike): who it said
/// it is, for which catalog, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct DownstreamState {
    /// The catalog instance that issued it (a rebuilt store answers ServerChanged).
    pub catalog_id: u64,
    /// The DSS `accountName`.
    pub account_name: String,
    /// The DSS `accountGuid`.
    pub account_guid: uuid::Uuid,
    /// Unix seconds.
    pub expires_at: i64,
    /// `protocolVersion` from GetCookie (empty in the authorization cookie).
    pub protocol_version: String,
}

/// Why a cookie was refused, mapped to the fault code the client recovers from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("cookie was not issued by this server or was altered")]
    Invalid,
    #[error("cookie was issued for an earlier catalog")]
    ServerChanged,
    #[error("cookie expired")]
    Expired,
}

/// The sealing key.
pub struct CookieKey {
    key: LessSafeKey,
}

impl CookieKey {
    /// A key from 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> CookieKey {
        // AES-256 accepts any 32-byte key, so this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 key is 32 bytes");
        CookieKey {
            key: LessSafeKey::new(unbound),
        }
    }

    /// Seals `state` with a fresh 12-byte `nonce` (random per cookie).
    pub fn seal<T: Serialize>(&self, purpose: Purpose, state: &T, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let mut body = postcard::to_stdvec(state).unwrap_or_default();
        // Sealing into a Vec only fails for inputs beyond 2^36 bytes.
        let _ = self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(purpose.aad()),
            &mut body,
        );
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// Opens sealed bytes; anything altered, foreign or of the other purpose is `Invalid`.
    pub fn open<T: for<'de> Deserialize<'de>>(
        &self,
        purpose: Purpose,
        sealed: &[u8],
    ) -> Result<T, CookieError> {
        let (&format, rest) = sealed.split_first().ok_or(CookieError::Invalid)?;
        if format != FORMAT || rest.len() < NONCE_LEN {
            return Err(CookieError::Invalid);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CookieError::Invalid)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.aad()), &mut body)
            .map_err(|_| CookieError::Invalid)?;
        postcard::from_bytes(plain).map_err(|_| CookieError::Invalid)
    }

    /// Opens an access cookie and checks it belongs to this catalog and is not expired.
    pub fn open_access(&self, sealed: &[u8], catalog_id: u64, now: i64) -> Result<AccessState, CookieError> {
        let state: AccessState = self.open(Purpose::Access, sealed)?;
        if state.catalog_id != catalog_id {
            return Err(CookieError::ServerChanged);
        }
        if now >= state.expires_at {
            return Err(CookieError::Expired);
        }
        Ok(state)
    }
}

/// `Expiration` as WSUS writes it: UTC with seven fractional digits.
pub(crate) fn expiration_text(unix_seconds: i64) -> String {
    let time = chrono::DateTime::from_timestamp(unix_seconds, 0).unwrap_or_default();
    format!(
        "{}.{:07}Z",
        time.format("%Y-%m-%dT%H:%M:%S"),
        time.timestamp_subsec_nanos() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CookieKey {
        CookieKey::from_bytes(&[byte; 32])
    }

    fn state() -> AccessState {
        AccessState {
            catalog_id: 7,
            client_id: "e1da06a3-5601-43c9-bac3-52d5db701494".into(),
            dns_name: "pc1.corp.example".into(),
            target_groups: vec!["Ring1".into()],
            issued_at: 1_000,
            expires_at: 1_000 + ACCESS_COOKIE_SECONDS,
            protocol_version: "2.90".into(),
            config_last_change: "2026-10-04T13:17:07.59Z".into(),
            watermark: 42,
        }
    }

    #[test]
    fn round_trip_and_size() {
        let sealed = key(1).seal(Purpose::Access, &state(), [9; 12]);
        assert!(sealed.len() < 300, "{} bytes", sealed.len());
        assert_eq!(key(1).open_access(&sealed, 7, 1_500).unwrap(), state());
    }

    #[test]
    fn another_servers_cookie_is_invalid() {
        let sealed = key(1).seal(Purpose::Access, &state(), [9; 12]);
        assert_eq!(key(2).open_access(&sealed, 7, 1_500), Err(CookieError::Invalid));
    }

    #[test]
    fn any_flipped_bit_is_invalid() {
        let sealed = key(1).seal(Purpose::Access, &state(), [9; 12]);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert_eq!(
                key(1).open_access(&bad, 7, 1_500),
                Err(CookieError::Invalid),
                "byte {i}"
            );
        }
        assert_eq!(key(1).open_access(&[], 7, 1_500), Err(CookieError::Invalid));
        assert_eq!(
            key(1).open_access(&sealed[..10], 7, 1_500),
            Err(CookieError::Invalid)
        );
    }

    #[test]
    fn an_authorization_cookie_is_not_an_access_cookie() {
        let auth = AuthorizationState {
            client_id: "x".into(),
            ..AuthorizationState::default()
        };
        let sealed = key(1).seal(Purpose::Authorization, &auth, [1; 12]);
        assert_eq!(key(1).open_access(&sealed, 7, 0), Err(CookieError::Invalid));
        let back: AuthorizationState = key(1).open(Purpose::Authorization, &sealed).unwrap();
        assert_eq!(back, auth);
    }

    #[test]
    fn expiry_and_catalog_are_checked() {
        let sealed = key(1).seal(Purpose::Access, &state(), [9; 12]);
        assert_eq!(
            key(1).open_access(&sealed, 7, 1_000 + ACCESS_COOKIE_SECONDS),
            Err(CookieError::Expired)
        );
        assert_eq!(
            key(1).open_access(&sealed, 8, 1_500),
            Err(CookieError::ServerChanged)
        );
    }

    #[test]
    fn expiration_has_seven_fractional_digits() {
        assert_eq!(expiration_text(1_791_133_415), "2026-10-04T17:03:35.0000000Z");
    }
}
