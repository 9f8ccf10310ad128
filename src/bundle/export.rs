//! Writing a bundle: the selected documents from the store, the selected payloads from the
//! content cache (hashed as they are copied: a cached file that no longer matches its
//! digests stops the export rather than travel), then the signature, then the manifest —
//! written last through a temporary name, so a bundle whose export died has no manifest and
//! is refused by import.
//!
//! `--since` takes a previous bundle (its folder or its `manifest.json`): what it and the
//! bundles it built on carried is left out — revisions by identity, payloads by SHA-1 — and
//! the new manifest names it as its `base`, carrying that list forward so an increment of an
//! increment still leaves out everything before it. The payloads must be in the cache
//! (the CLI fetches the missing ones first); `metadata_only` carries none.

use super::manifest::{self, identity_key, sha256_text, Base, BundleFile, Entry, Extension, Manifest};
use super::{io_error, sign, BundleError, Progress, Selection, Step};
use crate::content::layout::relative_path;
use crate::content::PayloadMeta;
use crate::model::upper_hex;
use crate::store::Store;
use sha1::Digest;
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where and how to write a bundle.
#[derive(Debug, Clone)]
pub struct ExportOptions<'a> {
    /// The bundle folder: created, or empty.
    pub out: &'a Path,
    /// A previous bundle (folder or manifest) this one is an increment of.
    pub since: Option<&'a Path>,
    /// Ed25519 private key (PKCS#8) to sign the manifest with.
    pub sign_key: Option<&'a Path>,
    /// Carry no payloads.
    pub metadata_only: bool,
    /// The payload cache's root (`[storage] data_dir` / `content`).
    pub content_root: &'a Path,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Documents written.
    pub documents: usize,
    /// Payloads written.
    pub payloads: usize,
    /// Their bytes.
    pub payload_bytes: u64,
    /// Documents left out because the base carried them.
    pub documents_in_base: usize,
    /// Payloads left out because the base carried them.
    pub payloads_in_base: usize,
    /// SHA-256 of the manifest: the bundle's identity.
    pub manifest_sha256: String,
    /// The signing key's public half (hex), when signed.
    pub signed_by: Option<String>,
}

/// Writes `selection` as a bundle into `options.out`.
pub fn export(
    store: &Store,
    selection: &Selection,
    options: &ExportOptions<'_>,
    progress: &dyn Progress,
) -> Result<ExportSummary, BundleError> {
    let key = options.sign_key.map(load_key).transpose()?;
    let base = options.since.map(read_base).transpose()?;
    prepare_folder(options.out)?;
    let mut summary = ExportSummary::default();
    let mut files = write_documents(
        store,
        selection,
        base.as_ref(),
        options.out,
        &mut summary,
        progress,
    )?;
    if !options.metadata_only {
        files.extend(copy_payloads(
            selection,
            base.as_ref(),
            options,
            &mut summary,
            progress,
        )?);
    }
    let manifest = Manifest {
        format: manifest::FORMAT.to_string(),
        version: manifest::VERSION,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        source_catalog: format!("{:016x}", store.catalog_id()?),
        scope: selection.info.clone(),
        metadata_only: options.metadata_only,
        base,
        files,
    };
    let bytes = manifest.to_bytes();
    summary.manifest_sha256 = sha256_text(&Sha256::digest(&bytes).into());
    if let Some(key) = &key {
        let path = options.out.join(manifest::SIGNATURE_FILE);
        std::fs::write(&path, sign::sign(key, &bytes)).map_err(io_error(&path))?;
        summary.signed_by = Some(sign::public_hex(key));
    }
    write_manifest(options.out, &bytes)?;
    Ok(summary)
}

/// The selected documents the base did not carry.
fn write_documents(
    store: &Store,
    selection: &Selection,
    base: Option<&Base>,
    out: &Path,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) -> Result<Vec<Entry>, BundleError> {
    let covered: BTreeSet<&str> = base
        .iter()
        .flat_map(|b| b.documents.iter().map(String::as_str))
        .collect();
    let mut files = Vec::new();
    progress.step(Step::Documents, selection.documents.len() as u64);
    for record in &selection.documents {
        progress.advance(1);
        if covered.contains(identity_key(&record.identity).as_str()) {
            summary.documents_in_base += 1;
            continue;
        }
        files.push(write_document(store, record, out)?);
        summary.documents += 1;
    }
    Ok(files)
}

/// The selected payloads the base did not carry.
fn copy_payloads(
    selection: &Selection,
    base: Option<&Base>,
    options: &ExportOptions<'_>,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) -> Result<Vec<Entry>, BundleError> {
    let covered: BTreeSet<&str> = base
        .iter()
        .flat_map(|b| b.payloads.iter().map(String::as_str))
        .collect();
    let payloads: Vec<&PayloadMeta> = selection
        .payloads
        .iter()
        .filter(|p| !covered.contains(upper_hex(&p.sha1).as_str()))
        .collect();
    summary.payloads_in_base = selection.payloads.len() - payloads.len();
    progress.step(Step::Payloads, payloads.iter().map(|p| p.size).sum());
    let mut files = Vec::new();
    for meta in payloads {
        files.push(copy_payload(meta, options.content_root, options.out)?);
        progress.advance(meta.size);
        summary.payloads += 1;
        summary.payload_bytes += meta.size;
    }
    Ok(files)
}

fn load_key(path: &Path) -> Result<ring::signature::Ed25519KeyPair, BundleError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    sign::private_key(&bytes).map_err(|source| BundleError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// The previous bundle as a base: its identity and everything its chain carried.
fn read_base(since: &Path) -> Result<Base, BundleError> {
    let path = if since.is_dir() {
        since.join(manifest::MANIFEST_FILE)
    } else {
        since.to_path_buf()
    };
    let bytes = std::fs::read(&path).map_err(io_error(&path))?;
    let (previous, _) = manifest::parse(&bytes)
        .map_err(|e| BundleError::Export(format!("--since {}: {e}", path.display())))?;
    let mut documents: BTreeSet<String> = BTreeSet::new();
    let mut payloads: BTreeSet<String> = BTreeSet::new();
    if let Some(base) = previous.base {
        documents.extend(base.documents);
        payloads.extend(base.payloads);
    }
    for entry in previous.files {
        match entry {
            Entry::Document {
                update_id, revision, ..
            } => documents.insert(format!("{update_id}.{revision}")),
            Entry::Payload { sha1, .. } => payloads.insert(sha1.to_ascii_uppercase()),
        };
    }
    Ok(Base {
        manifest_sha256: sha256_text(&Sha256::digest(&bytes).into()),
        created: previous.created,
        documents: documents.into_iter().collect(),
        payloads: payloads.into_iter().collect(),
    })
}

/// Creates the bundle folder and its two subfolders; an existing folder must be empty (a
/// bundle is never mixed with another's files).
fn prepare_folder(out: &Path) -> Result<(), BundleError> {
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    let mut entries = std::fs::read_dir(out).map_err(io_error(out))?;
    if entries.next().is_some() {
        return Err(BundleError::Export(format!(
            "{} is not empty: export into a new or empty folder",
            out.display()
        )));
    }
    for dir in ["documents", "content"] {
        let path = out.join(dir);
        std::fs::create_dir(&path).map_err(io_error(&path))?;
    }
    Ok(())
}

fn write_document(
    store: &Store,
    record: &crate::model::UpdateRecord,
    out: &Path,
) -> Result<Entry, BundleError> {
    let xml = store.document(record.local_id)?.ok_or_else(|| {
        BundleError::Export(format!(
            "revision {} has no stored document (the catalog store is damaged; run `wucache sync` to fetch it again)",
            record.identity
        ))
    })?;
    let file = BundleFile::Document(record.identity);
    let path = out.join(file.relative());
    std::fs::write(&path, xml.as_bytes()).map_err(io_error(&path))?;
    let file_urls: BTreeMap<String, String> = record
        .files
        .iter()
        .filter(|f| !f.url.is_empty())
        .map(|f| (upper_hex(&f.sha1), f.url.to_string()))
        .collect();
    Ok(Entry::Document {
        path: file.name(),
        size: xml.len() as u64,
        sha256: sha256_text(&Sha256::digest(xml.as_bytes()).into()),
        update_id: record.identity.update_id,
        revision: record.identity.revision,
        file_urls,
    })
}

/// Copies a cached payload into the bundle, checking its size and digests on the way.
fn copy_payload(meta: &PayloadMeta, content_root: &Path, out: &Path) -> Result<Entry, BundleError> {
    let source = content_root.join(relative_path(&meta.sha1));
    let sha1_hex = upper_hex(&meta.sha1);
    let file = BundleFile::Payload {
        sha1: meta.sha1,
        extension: Extension::of_file_name(&meta.name),
    };
    let target = out.join(file.relative());
    let mut reader = match std::fs::File::open(&source) {
        Ok(reader) => reader,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(BundleError::Export(format!(
                "payload {sha1_hex} ({}) is not in the content cache {}; run the export again (it fetches missing payloads first), or pass --metadata-only",
                meta.name,
                content_root.display()
            )))
        }
        Err(err) => return Err(io_error(&source)(err)),
    };
    let mut writer = std::fs::File::create(&target).map_err(io_error(&target))?;
    let (mut sha1, mut sha256, mut size) = (sha1::Sha1::new(), Sha256::new(), 0u64);
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = reader.read(&mut buffer).map_err(io_error(&source))?;
        if n == 0 {
            break;
        }
        writer.write_all(&buffer[..n]).map_err(io_error(&target))?;
        sha1.update(&buffer[..n]);
        sha256.update(&buffer[..n]);
        size += n as u64;
    }
    let sha1: [u8; 20] = sha1.finalize().into();
    let sha256: [u8; 32] = sha256.finalize().into();
    if sha1 != meta.sha1 || size != meta.size || meta.sha256.is_some_and(|d| d != sha256) {
        return Err(BundleError::Export(format!(
            "cached payload {} no longer matches its digests or size (damaged on disk); delete it, run `wucache prefetch`, and export again",
            source.display()
        )));
    }
    Ok(Entry::Payload {
        path: file.name(),
        size,
        sha256: sha256_text(&sha256),
        sha1: sha1_hex,
    })
}

/// `manifest.json` through a temporary name, synced, so it appears whole or not at all.
fn write_manifest(out: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let temporary: PathBuf = out.join("manifest.json.partial");
    let mut file = std::fs::File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary))?;
    let path = out.join(manifest::MANIFEST_FILE);
    std::fs::rename(&temporary, &path).map_err(io_error(&path))
}
