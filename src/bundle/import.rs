//! Importing a bundle, in three stages:
//!
//! 1. **Check, writing nothing.** The manifest is read and, by policy, its signature checked:
//!    with a public key the signature must be there and verify; a signed bundle without a key
//!    is refused (the operator decides: `--verify-key`, or `--no-verify` to rely on the SHA-256
//!    manifest alone); an unsigned bundle without a key is accepted. Every entry's path is
//!    parsed (`manifest`), and every file must be a regular file of the listed size and
//!    SHA-256; documents must read as the revision their name gives, payloads must have the
//!    SHA-1 their name gives and match the digests and size their update document states. An
//!    increment needs its base imported first (or `without_base`). The first bad file stops
//!    the import, named.
//! 2. **Documents**, categories first, through the sync's own document → record path
//!    (`upstream::mirror::catalog_record`) in store batches, so identities are kept and local
//!    ids assigned as a sync would; then the sync's bundle-category inheritance. Revisions the
//!    store holds already are skipped.
//! 3. **Payloads** through the content cache's verified write (`content::disk`: SHA-1 and
//!    SHA-256 checked before a file is committed); files already committed are skipped, a
//!    partial left by a killed run is resumed.
//!
//! A killed import is finished by running it again: every stage skips what is done. The
//! data directory keeps a marker per bundle (`bundles/<manifest SHA-256>.json`, state
//! `importing` then `imported`) for the messages and for increments to find their base.
//! Files are re-hashed as they are imported, so a bundle changed after stage 1 stops the
//! import instead of slipping through. Checks and document writes run on the caller's
//! thread (a command's); payload writes go through the cache's blocking jobs.

use super::manifest::{self, BundleFile, Checked, Manifest};
use super::{io_error, sign, BundleError, Progress, Step};
use crate::catalog::CategoryTypes;
use crate::content::disk::ContentDir;
use crate::content::PayloadMeta;
use crate::model::{upper_hex, UpdateIdentity, UpdateRecord};
use crate::snapshot::payload_meta;
use crate::store::{MetaKey, Store};
use crate::upstream::mirror::{catalog_record, inherit_bundle_categories};
use serde::{Deserialize, Serialize};
use sha1::Digest;
use sha2::Sha256;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest manifest read (100k updates with their payloads take about 60 MB).
const MAX_MANIFEST: u64 = 512 << 20;
/// The largest update document accepted (real ones are a few KB, rarely a few MB).
const MAX_DOCUMENT: u64 = 64 << 20;
/// Revisions per store transaction.
const BATCH: usize = 200;
/// Bytes read at a time from a payload.
const CHUNK: usize = 1 << 20;

/// What to do about `manifest.sig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePolicy {
    /// The bundle must be signed by this key (`--verify-key`).
    Verify([u8; 32]),
    /// Do not check a signature (`--no-verify`); the SHA-256 manifest is still checked.
    Ignore,
    /// No key given: an unsigned bundle is accepted, a signed one refused.
    Unsigned,
}

/// Where a bundle comes from and goes to.
#[derive(Debug, Clone)]
pub struct ImportOptions<'a> {
    /// The bundle folder.
    pub bundle: &'a Path,
    /// Signature policy.
    pub signature: SignaturePolicy,
    /// Import an increment whose base was not imported here.
    pub without_base: bool,
    /// `[storage] data_dir`: where the import markers live.
    pub data_dir: &'a Path,
    /// The payload cache's root.
    pub content_root: &'a Path,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// SHA-256 of the manifest: the bundle's identity.
    pub manifest_sha256: String,
    /// When the bundle was exported.
    pub created: String,
    /// How the signature was handled, for the summary line.
    pub signature: String,
    /// Documents in the bundle.
    pub documents: usize,
    /// Of those, revisions newly stored.
    pub documents_stored: usize,
    /// Payloads in the bundle.
    pub payloads: usize,
    /// Of those, payloads newly written to the cache.
    pub payloads_written: usize,
    /// Their bytes.
    pub payload_bytes: u64,
    /// An earlier run of this import was interrupted and this one finished it.
    pub resumed: bool,
}

/// The bundle as read in stage 1.
struct Bundle<'a> {
    dir: &'a Path,
    manifest: Manifest,
    entries: Vec<Checked>,
    sha256: String,
}

impl Bundle<'_> {
    fn refuse(&self, file: &BundleFile, problem: impl Into<String>) -> BundleError {
        refused(self.dir, &file.name(), problem)
    }

    fn path(&self, file: &BundleFile) -> PathBuf {
        self.dir.join(file.relative())
    }
}

fn refused(bundle: &Path, file: &str, problem: impl Into<String>) -> BundleError {
    BundleError::Refused {
        bundle: bundle.to_path_buf(),
        file: file.to_string(),
        problem: problem.into(),
    }
}

/// Checks the bundle at `options.bundle` whole, then imports it into `store` and the cache.
pub async fn import(
    store: &Store,
    options: &ImportOptions<'_>,
    progress: &dyn Progress,
) -> Result<ImportSummary, BundleError> {
    let (bundle, signature) = open(options)?;
    check_base(&bundle, options)?;
    let verified = verify(store, &bundle, progress)?;
    let mut summary = ImportSummary {
        manifest_sha256: bundle.sha256.clone(),
        created: bundle.manifest.created.clone(),
        signature,
        documents: verified.is_config.len(),
        payloads: bundle.entries.len() - verified.is_config.len(),
        ..ImportSummary::default()
    };
    let marker = Marker::path(options.data_dir, &bundle.sha256);
    summary.resumed = Marker::read(&marker).is_some_and(|m| m.state == IMPORTING);
    Marker::of(&bundle, IMPORTING).write(&marker)?;
    summary.documents_stored = store_documents(store, &bundle, &verified, progress)?;
    // The documents are durable; `serve` then starts from the image as after a sync.
    store.flush()?;
    crate::upstream::mirror::save_latest_image(store);
    let (written, bytes) = write_payloads(store, &bundle, verified.payloads, options, progress).await?;
    (summary.payloads_written, summary.payload_bytes) = (written, bytes);
    Marker::of(&bundle, IMPORTED).write(&marker)?;
    Ok(summary)
}

/// Reads the manifest and applies the signature policy; returns the bundle and a line on
/// how its signature was handled.
fn open<'a>(options: &ImportOptions<'a>) -> Result<(Bundle<'a>, String), BundleError> {
    let dir = options.bundle;
    let bytes = read_manifest(dir)?;
    let signature = check_signature(dir, &bytes, options.signature)?;
    let (manifest, entries) =
        manifest::parse(&bytes).map_err(|e| refused(dir, manifest::MANIFEST_FILE, manifest_problem(&e)))?;
    let bundle = Bundle {
        dir,
        manifest,
        entries,
        sha256: manifest::sha256_text(&Sha256::digest(&bytes).into()),
    };
    Ok((bundle, signature))
}

fn manifest_problem(err: &manifest::ManifestError) -> String {
    let text = err.to_string();
    let text = text
        .strip_prefix(&format!("{}: ", manifest::MANIFEST_FILE))
        .unwrap_or(&text);
    format!("{text} (damaged, or not written by wucache export)")
}

fn read_manifest(dir: &Path) -> Result<Vec<u8>, BundleError> {
    let path = dir.join(manifest::MANIFEST_FILE);
    let missing = || {
        refused(
            dir,
            manifest::MANIFEST_FILE,
            "missing: not a bundle folder, or an export that did not finish",
        )
    };
    let meta = std::fs::symlink_metadata(&path).map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(refused(dir, manifest::MANIFEST_FILE, "not a regular file"));
    }
    if meta.len() > MAX_MANIFEST {
        return Err(refused(
            dir,
            manifest::MANIFEST_FILE,
            format!("{} bytes, more than any manifest wucache writes", meta.len()),
        ));
    }
    std::fs::read(&path).map_err(io_error(&path))
}

fn check_signature(dir: &Path, manifest: &[u8], policy: SignaturePolicy) -> Result<String, BundleError> {
    let path = dir.join(manifest::SIGNATURE_FILE);
    let signature = match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() && meta.len() <= 1024 => {
            Some(std::fs::read_to_string(&path).unwrap_or_default())
        }
        Ok(_) => return Err(refused(dir, manifest::SIGNATURE_FILE, "not a signature file")),
        Err(_) => None,
    };
    match (policy, signature) {
        (SignaturePolicy::Verify(key), Some(text)) => sign::verify(&key, manifest, &text)
            .map(|()| format!("signature verified with {}", crate::model::hex(&key)))
            .map_err(|e| {
                refused(
                    dir,
                    manifest::SIGNATURE_FILE,
                    format!("{e}: the manifest was changed after it was signed, or signed with another key"),
                )
            }),
        (SignaturePolicy::Verify(_), None) => Err(refused(
            dir,
            manifest::SIGNATURE_FILE,
            "missing, and --verify-key asks for a signed bundle (exported without --sign-key, or the signature was removed)",
        )),
        (SignaturePolicy::Unsigned, Some(_)) => Err(BundleError::SignedWithoutKey(dir.to_path_buf())),
        (SignaturePolicy::Ignore, _) => Ok("signature not checked (--no-verify)".into()),
        (SignaturePolicy::Unsigned, None) => {
            Ok("unsigned bundle: checked against its manifest only".into())
        }
    }
}

fn check_base(bundle: &Bundle<'_>, options: &ImportOptions<'_>) -> Result<(), BundleError> {
    let Some(base) = &bundle.manifest.base else {
        return Ok(());
    };
    let imported = Marker::read(&Marker::path(options.data_dir, &base.manifest_sha256))
        .is_some_and(|m| m.state == IMPORTED);
    if imported || options.without_base {
        return Ok(());
    }
    Err(BundleError::BaseMissing {
        bundle: bundle.dir.to_path_buf(),
        created: base.created.clone(),
        sha256: base.manifest_sha256.clone(),
    })
}

/// What stage 1 learnt: which document entries are categories or detectoids (stored first),
/// and the payload metadata the cache verifies writes against.
struct Verified {
    /// One per document entry, in manifest order.
    is_config: Vec<bool>,
    payloads: HashMap<[u8; 20], PayloadMeta>,
}

/// Stage 1: every file against the manifest, documents before payloads, in manifest order.
fn verify(store: &Store, bundle: &Bundle<'_>, progress: &dyn Progress) -> Result<Verified, BundleError> {
    progress.step(Step::Checking, bundle.entries.len() as u64);
    let mut is_config = Vec::new();
    let mut named: HashMap<[u8; 20], PayloadMeta> = HashMap::new();
    let no_types = CategoryTypes::new();
    for entry in &bundle.entries {
        let BundleFile::Document(identity) = entry.file else {
            continue;
        };
        let (_, record) = read_document(bundle, entry, identity, &no_types)?;
        is_config.push(record.update_type.is_config());
        for file in &record.files {
            named.entry(file.sha1).or_insert_with(|| payload_meta(file));
        }
        progress.advance(1);
    }
    for record in store.latest_records()? {
        for file in &record.files {
            named.entry(file.sha1).or_insert_with(|| payload_meta(file));
        }
    }
    let mut payloads = HashMap::new();
    for entry in &bundle.entries {
        let BundleFile::Payload { sha1, .. } = entry.file else {
            continue;
        };
        let meta = named.get(&sha1).ok_or_else(|| {
            bundle.refuse(
                &entry.file,
                "is no file of any update in the bundle or in this catalog (the manifest lists something wucache export would not carry)",
            )
        })?;
        check_payload(bundle, entry, meta)?;
        payloads.insert(sha1, meta.clone());
        progress.advance(1);
    }
    Ok(Verified { is_config, payloads })
}

/// Opens a listed file: it must be a regular file (no link) of the listed size.
fn open_listed(bundle: &Bundle<'_>, entry: &Checked) -> Result<std::fs::File, BundleError> {
    let path = bundle.path(&entry.file);
    let meta = std::fs::symlink_metadata(&path).map_err(|_| {
        bundle.refuse(
            &entry.file,
            "missing: the manifest lists it but the bundle lacks it (an incomplete copy?)",
        )
    })?;
    if !meta.is_file() {
        return Err(bundle.refuse(
            &entry.file,
            "not a regular file (a link or folder stands where the export wrote a file)",
        ));
    }
    if meta.len() != entry.size {
        return Err(bundle.refuse(
            &entry.file,
            format!(
                "{} bytes, the manifest says {} (cut short or altered after export)",
                meta.len(),
                entry.size
            ),
        ));
    }
    std::fs::File::open(&path).map_err(io_error(&path))
}

fn sha256_mismatch(bundle: &Bundle<'_>, entry: &Checked) -> BundleError {
    bundle.refuse(
        &entry.file,
        "SHA-256 differs from the manifest (altered or damaged after export)",
    )
}

/// Reads, hashes and parses one document entry into the record the store would keep.
fn read_document(
    bundle: &Bundle<'_>,
    entry: &Checked,
    identity: UpdateIdentity,
    types: &CategoryTypes,
) -> Result<(String, UpdateRecord), BundleError> {
    if entry.size > MAX_DOCUMENT {
        return Err(bundle.refuse(&entry.file, "larger than any update document"));
    }
    let mut bytes = Vec::with_capacity(entry.size as usize);
    open_listed(bundle, entry)?
        .take(entry.size + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(&bundle.path(&entry.file)))?;
    if bytes.len() as u64 != entry.size || <[u8; 32]>::from(Sha256::digest(&bytes)) != entry.sha256 {
        return Err(sha256_mismatch(bundle, entry));
    }
    let xml = String::from_utf8(bytes).map_err(|_| bundle.refuse(&entry.file, "not UTF-8 text"))?;
    let urls: HashMap<[u8; 20], String> = entry.file_urls.iter().cloned().collect();
    let record = catalog_record(&xml, identity, types, &urls)
        .map_err(|detail| bundle.refuse(&entry.file, format!("not a readable update document: {detail}")))?;
    Ok((xml, record))
}

/// Hashes a payload entry: SHA-256 as listed, SHA-1 as named, size and digests as its update
/// document states.
fn check_payload(bundle: &Bundle<'_>, entry: &Checked, meta: &PayloadMeta) -> Result<(), BundleError> {
    let mut file = open_listed(bundle, entry)?;
    let (mut sha1, mut sha256, mut size) = (sha1::Sha1::new(), Sha256::new(), 0u64);
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(io_error(&bundle.path(&entry.file)))?;
        if n == 0 {
            break;
        }
        sha1.update(&buffer[..n]);
        sha256.update(&buffer[..n]);
        size += n as u64;
    }
    let sha256: [u8; 32] = sha256.finalize().into();
    if size != entry.size || sha256 != entry.sha256 {
        return Err(sha256_mismatch(bundle, entry));
    }
    let sha1: [u8; 20] = sha1.finalize().into();
    if sha1 != meta.sha1 {
        return Err(bundle.refuse(
            &entry.file,
            format!("SHA-1 is {}, not the one its name gives", upper_hex(&sha1)),
        ));
    }
    if size != meta.size || meta.sha256.is_some_and(|d| d != sha256) {
        return Err(bundle.refuse(
            &entry.file,
            "size or SHA-256 differ from what its update document states",
        ));
    }
    Ok(())
}

/// Stage 2: categories and detectoids, then the rest, skipping revisions already stored;
/// then bundle members inherit their bundles' categories. Returns revisions newly stored.
fn store_documents(
    store: &Store,
    bundle: &Bundle<'_>,
    verified: &Verified,
    progress: &dyn Progress,
) -> Result<usize, BundleError> {
    progress.step(Step::Documents, verified.is_config.len() as u64);
    store.set_meta(MetaKey::InheritancePending, "1")?;
    store.flush()?;
    let documents: Vec<(&Checked, bool)> = bundle
        .entries
        .iter()
        .filter(|e| matches!(e.file, BundleFile::Document(_)))
        .zip(verified.is_config.iter().copied())
        .collect();
    let mut stored = 0;
    for config_pass in [true, false] {
        let types = store.category_types()?;
        let mut batch = Vec::with_capacity(BATCH);
        for (entry, _) in documents.iter().filter(|(_, config)| *config == config_pass) {
            progress.advance(1);
            let BundleFile::Document(identity) = entry.file else {
                continue;
            };
            if store.contains(&identity)? {
                continue;
            }
            let (xml, record) = read_document(bundle, entry, identity, &types).map_err(changed)?;
            batch.push((record, xml));
            if batch.len() == BATCH {
                stored += store.put_batch_counted(&mut std::mem::take(&mut batch))?.1;
            }
        }
        stored += store.put_batch_counted(&mut batch)?.1;
        store.flush()?;
    }
    inherit_bundle_categories(store)?;
    Ok(stored)
}

/// A check that failed after stage 1: the bundle changed under the import.
fn changed(err: BundleError) -> BundleError {
    match err {
        BundleError::Refused {
            bundle,
            file,
            problem,
        } => BundleError::Import(format!(
            "bundle {}: {file} changed while it was imported ({problem}); what was stored stays, run the import again once the bundle is whole",
            bundle.display()
        )),
        other => other,
    }
}

/// Stage 3: payloads into the cache, skipping committed ones and resuming partials.
/// Returns (files written, bytes).
async fn write_payloads(
    store: &Store,
    bundle: &Bundle<'_>,
    mut metas: HashMap<[u8; 20], PayloadMeta>,
    options: &ImportOptions<'_>,
    progress: &dyn Progress,
) -> Result<(usize, u64), BundleError> {
    for record in store.latest_records()? {
        for file in &record.files {
            metas.entry(file.sha1).or_insert_with(|| payload_meta(file));
        }
    }
    let (dir, _) = ContentDir::open(options.content_root, |sha1| metas.get(sha1).map(|m| m.size))?;
    let payloads: Vec<(&Checked, &PayloadMeta)> = bundle
        .entries
        .iter()
        .filter_map(|entry| match entry.file {
            BundleFile::Payload { sha1, .. } => metas.get(&sha1).map(|meta| (entry, meta)),
            BundleFile::Document(_) => None,
        })
        .collect();
    progress.step(Step::Payloads, payloads.iter().map(|(e, _)| e.size).sum());
    let (mut written, mut bytes) = (0, 0);
    for (entry, meta) in payloads {
        if dir.committed_size(&meta.sha1) != Some(meta.size) {
            write_payload(&dir, bundle, entry, meta).await?;
            written += 1;
            bytes += meta.size;
        }
        progress.advance(entry.size);
    }
    Ok((written, bytes))
}

/// One payload through the verified write: the whole bundle file is hashed again (its
/// SHA-256 must still be the manifest's), the bytes a resumed partial lacks are appended,
/// and the commit checks SHA-1 and SHA-256 against the update document.
async fn write_payload(
    dir: &ContentDir,
    bundle: &Bundle<'_>,
    entry: &Checked,
    meta: &PayloadMeta,
) -> Result<(), BundleError> {
    use tokio::io::AsyncReadExt;
    let path = bundle.path(&entry.file);
    let mut partial = dir.begin(meta).await?;
    let resume_at = partial.offset();
    let mut file = tokio::fs::File::open(&path).await.map_err(io_error(&path))?;
    let (mut sha256, mut position) = (Sha256::new(), 0u64);
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buffer).await.map_err(io_error(&path))?;
        if n == 0 {
            break;
        }
        sha256.update(&buffer[..n]);
        let end = position + n as u64;
        if end > resume_at {
            let skip = resume_at.saturating_sub(position) as usize;
            partial.write(&buffer[skip..n]).await?;
        }
        position = end;
    }
    if <[u8; 32]>::from(sha256.finalize()) != entry.sha256 {
        return Err(changed(sha256_mismatch(bundle, entry)));
    }
    partial.commit().await?;
    Ok(())
}

const IMPORTING: &str = "importing";
const IMPORTED: &str = "imported";

/// `<data_dir>/bundles/<manifest SHA-256>.json`: which bundle, and how far its import got.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    manifest_sha256: String,
    created: String,
    source_catalog: String,
    scope: manifest::ScopeInfo,
    state: String,
    updated: String,
}

impl Marker {
    fn path(data_dir: &Path, sha256: &str) -> PathBuf {
        data_dir.join("bundles").join(format!("{sha256}.json"))
    }

    fn of(bundle: &Bundle<'_>, state: &str) -> Marker {
        Marker {
            manifest_sha256: bundle.sha256.clone(),
            created: bundle.manifest.created.clone(),
            source_catalog: bundle.manifest.source_catalog.clone(),
            scope: bundle.manifest.scope.clone(),
            state: state.to_string(),
            updated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    fn read(path: &Path) -> Option<Marker> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Written whole through a temporary name and synced.
    fn write(&self, path: &Path) -> Result<(), BundleError> {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let temporary = path.with_extension("json.partial");
        let mut file = std::fs::File::create(&temporary).map_err(io_error(&temporary))?;
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(io_error(&temporary))?;
        std::fs::rename(&temporary, path).map_err(io_error(path))
    }
}
