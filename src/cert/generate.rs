//! Trial certificates: a CA of its own and a server certificate for the given DNS names and IP
//! addresses, signed by it (ECDSA P-256, SHA-256). Pure: the date is an argument and nothing
//! is written; `wucache cert generate` writes the PEM text.

use chrono::{Datelike, NaiveDate};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber,
};
use std::net::IpAddr;

/// Longest validity `generate` accepts (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// What the server certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialRequest {
    /// DNS names clients use to reach the server.
    pub dns: Vec<String>,
    /// IP addresses clients use to reach the server.
    pub ips: Vec<IpAddr>,
    /// Days both certificates stay valid from the given date.
    pub days: u32,
}

/// The PEM text of a trial CA and of a server certificate it signed.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The CA certificate: what clients trust.
    pub ca_pem: String,
    /// The CA's private key: signs more server certificates; keep it away from the server.
    pub ca_key_pem: String,
    /// The server certificate (`[tls] cert`).
    pub server_pem: String,
    /// The server certificate's private key (`[tls] key`).
    pub server_key_pem: String,
    /// The last day both are valid.
    pub not_after: NaiveDate,
}

/// Why no trial certificates were made.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Neither a DNS name nor an IP address was given.
    #[error("give at least one --dns NAME or --ip ADDRESS the clients reach the server by")]
    NoNames,
    /// A DNS name that is not one.
    #[error("--dns `{0}` is not a DNS name")]
    BadDnsName(String),
    /// A validity out of range.
    #[error("--days must be 1 to {MAX_DAYS}, not {0}")]
    BadDays(u32),
    /// rcgen refused (not expected with valid names).
    #[error("cannot make the certificates: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// Makes a CA named after the first name and a server certificate for every name, valid from
/// the day before `today` (clients with a slow clock) for `request.days` days.
pub fn generate(request: &TrialRequest, today: NaiveDate) -> Result<Trial, GenerateError> {
    let names = subject_alt_names(request)?;
    if !(1..=MAX_DAYS).contains(&request.days) {
        return Err(GenerateError::BadDays(request.days));
    }
    let not_before = today.pred_opt().unwrap_or(today);
    let not_after = today + chrono::Days::new(u64::from(request.days));
    let first = first_name(request);

    let mut ca_params = params(not_before, not_after);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("wucache trial CA for {first} ({today})"),
    );
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;

    let mut server_params = params(not_before, not_after);
    server_params.subject_alt_names = names;
    server_params.distinguished_name.push(DnType::CommonName, first);
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.use_authority_key_identifier_extension = true;
    let server_key = KeyPair::generate()?;
    let server = server_params.signed_by(&server_key, &ca, &ca_key)?;

    Ok(Trial {
        ca_pem: ca.pem(),
        ca_key_pem: ca_key.serialize_pem(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        not_after,
    })
}

/// Parameters shared by both certificates: validity, a random serial, organisation.
fn params(not_before: NaiveDate, not_after: NaiveDate) -> CertificateParams {
    let mut params = CertificateParams::default();
    let (year, month, day) = ymd(not_before);
    params.not_before = rcgen::date_time_ymd(year, month, day);
    let (year, month, day) = ymd(not_after);
    params.not_after = rcgen::date_time_ymd(year, month, day);
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "wucache trial");
    params
}

/// A date as `rcgen::date_time_ymd` takes it (chrono's months and days are in its range).
fn ymd(date: NaiveDate) -> (i32, u8, u8) {
    (date.year(), date.month() as u8, date.day() as u8)
}

fn subject_alt_names(request: &TrialRequest) -> Result<Vec<SanType>, GenerateError> {
    if request.dns.is_empty() && request.ips.is_empty() {
        return Err(GenerateError::NoNames);
    }
    let mut names = Vec::new();
    for name in &request.dns {
        let valid = matches!(
            rustls_pki_types::ServerName::try_from(name.as_str()),
            Ok(rustls_pki_types::ServerName::DnsName(_))
        );
        let ia5 = rcgen::Ia5String::try_from(name.as_str()).ok().filter(|_| valid);
        names.push(SanType::DnsName(
            ia5.ok_or_else(|| GenerateError::BadDnsName(name.clone()))?,
        ));
    }
    names.extend(request.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    Ok(names)
}

fn first_name(request: &TrialRequest) -> String {
    match (request.dns.first(), request.ips.first()) {
        (Some(name), _) => name.clone(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dns: &[&str], ips: &[&str]) -> TrialRequest {
        TrialRequest {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            days: 10,
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
    }

    #[test]
    fn the_server_certificate_is_signed_by_the_ca() {
        let trial = generate(&request(&["wucache.corp.example"], &["10.0.0.5"]), today()).unwrap();
        assert!(trial.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(trial.server_key_pem.contains("PRIVATE KEY"));
        assert_ne!(trial.ca_key_pem, trial.server_key_pem);
        assert_eq!(trial.not_after, NaiveDate::from_ymd_opt(2026, 3, 11).unwrap());
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(matches!(
            generate(&request(&[], &[]), today()),
            Err(GenerateError::NoNames)
        ));
        assert!(matches!(
            generate(&request(&["not a name"], &[]), today()),
            Err(GenerateError::BadDnsName(_))
        ));
        let mut long = request(&["a.example"], &[]);
        long.days = MAX_DAYS + 1;
        assert!(matches!(generate(&long, today()), Err(GenerateError::BadDays(_))));
    }
}
