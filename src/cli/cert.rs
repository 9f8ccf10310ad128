//! `wucache cert generate`: writes a trial CA and a server certificate signed by it, then
//! prints how a Windows client trusts the CA and the config lines that serve the certificate.

use crate::cert::{Trial, TrialRequest};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The files written, in order, with whether each is a private key (mode 0600).
const FILES: [(&str, bool); 4] = [
    ("ca.pem", false),
    ("ca-key.pem", true),
    ("server.pem", false),
    ("server-key.pem", true),
];

/// Generates, writes and explains the trial certificates.
pub(super) fn generate(request: &TrialRequest, out: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let trial = crate::cert::generate(request, chrono::Utc::now().date_naive())?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", out.display()))?;
    if !force {
        refuse_to_overwrite(&out)?;
    }
    let texts = [
        &trial.ca_pem,
        &trial.ca_key_pem,
        &trial.server_pem,
        &trial.server_key_pem,
    ];
    for ((name, private), text) in FILES.iter().zip(texts) {
        let path = out.join(name);
        write(&path, text, *private, force).with_context(|| format!("cannot write {}", path.display()))?;
    }
    explain(request, &trial, &out);
    Ok(ExitCode::SUCCESS)
}

fn refuse_to_overwrite(out: &Path) -> anyhow::Result<()> {
    let existing: Vec<String> = FILES
        .iter()
        .map(|(name, _)| out.join(name))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already exist{}; nothing was written (--force replaces them)",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        );
    }
    Ok(())
}

/// Writes one file; without `force` it must not exist (checked again at creation, so a file
/// that appeared meanwhile is not replaced). Keys are readable by their owner only.
fn write(path: &Path, text: &str, private: bool, force: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mode = if private { 0o600 } else { 0o644 };
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file = options.open(path)?;
    // A file replaced with --force keeps its old mode unless it is set again.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn explain(request: &TrialRequest, trial: &Trial, out: &Path) {
    let names: Vec<String> = request
        .dns
        .iter()
        .cloned()
        .chain(request.ips.iter().map(ToString::to_string))
        .collect();
    let file = |name: &str| -> PathBuf { out.join(name) };
    outln!(
        "Trial certificates in {} (valid until {}):",
        out.display(),
        trial.not_after
    );
    outln!("  ca.pem          the CA: every Windows client must trust it (below)");
    outln!("  ca-key.pem      the CA's private key: it can sign a certificate for any name these clients");
    outln!("                  will trust; keep it off the server, or delete it once you need no more");
    outln!(
        "  server.pem      the server certificate for {}",
        names.join(", ")
    );
    outln!("  server-key.pem  its private key (readable by its owner only: give it to the wucache user)");
    outln!();
    outln!("On each Windows client, in an elevated PowerShell (or through Group Policy: Computer");
    outln!("Configuration > Windows Settings > Security Settings > Public Key Policies > Trusted Root");
    outln!("Certification Authorities), trust the CA after copying ca.pem there:");
    outln!();
    outln!("  Import-Certificate -FilePath ca.pem -CertStoreLocation Cert:\\LocalMachine\\Root");
    outln!();
    outln!("In wucache.toml:");
    outln!();
    outln!("  [server]");
    outln!("  https_listen = \"0.0.0.0:8531\"");
    outln!();
    outln!("  [tls]");
    outln!("  cert = \"{}\"", file("server.pem").display());
    outln!("  key = \"{}\"", file("server-key.pem").display());
    outln!();
    let host = names.first().map_or("wucache.example", String::as_str);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    outln!("Then point the clients at it: wucache gpo --url https://{host}:8531");
}
