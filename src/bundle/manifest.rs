//! The manifest, pure: its JSON shape, and the checked form import works from. A bundle is
//! hostile input, so every entry's path is parsed into what it names (a revision, or a payload
//! digest) and the file is later opened at a path rebuilt from those parts — the text of the
//! manifest never reaches the file system. Anything outside the two known folders, `..`, an
//! absolute path, a backslash, a non-canonical name, a duplicate: refused, naming the entry.

use crate::model::{hex, upper_hex, UpdateIdentity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use uuid::Uuid;

/// The manifest's file name in the bundle folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The detached Ed25519 signature over the manifest's exact bytes (hex, one line).
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// `format` of every manifest.
pub const FORMAT: &str = "wucache-bundle";
/// The manifest version this build writes and reads.
pub const VERSION: u32 = 1;

const DOCUMENTS_DIR: &str = "documents";
const CONTENT_DIR: &str = "content";
/// The longest payload file extension kept in a bundle name (as in content URLs).
const MAX_EXTENSION: usize = 8;

/// `manifest.json`, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written by this build.
    pub version: u32,
    /// When the export ran (RFC 3339).
    pub created: String,
    /// The exporting store's catalog id (16 hex digits).
    pub source_catalog: String,
    /// What the export selected.
    pub scope: ScopeInfo,
    /// True when the bundle carries no payloads at all (`--metadata-only`).
    pub metadata_only: bool,
    /// For an incremental bundle (`--since`): the bundle it builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    /// Every file of the bundle besides the manifest and its signature.
    pub files: Vec<Entry>,
}

/// What an export selected, for people and for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeInfo {
    /// `all`, `group` or `baseline`.
    pub kind: String,
    /// The patch group or baseline id named on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The baselines whose decisions chose documents and payloads (`default` without a
    /// baseline file).
    pub baselines: Vec<String>,
    /// The evaluation epoch the decisions were taken at (RFC 3339).
    pub evaluated_at: String,
}

/// The bundle an incremental one builds on, and everything that chain already carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// SHA-256 (hex) of the base bundle's `manifest.json`: its identity.
    pub manifest_sha256: String,
    /// When the base was exported.
    pub created: String,
    /// Revisions the base (and its own bases) carried, as `<UpdateID>.<RevisionNumber>`.
    pub documents: Vec<String>,
    /// Payloads the base (and its own bases) carried, by SHA-1 (upper-case hex).
    pub payloads: Vec<String>,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Entry {
    /// An update document: `documents/<UpdateID>.<RevisionNumber>.xml`, the XML as stored.
    Document {
        /// Path inside the bundle.
        path: String,
        /// Bytes.
        size: u64,
        /// SHA-256, lower-case hex.
        sha256: String,
        /// `UpdateID`.
        update_id: Uuid,
        /// `RevisionNumber`.
        revision: u32,
        /// Download URL of each payload the document names, by SHA-1 (upper-case hex): what
        /// the upstream said, kept so the importing catalog is the exporting one.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        file_urls: BTreeMap<String, String>,
    },
    /// A payload: `content/<SHA1HEX>.<ext>`, the bytes as cached.
    Payload {
        /// Path inside the bundle.
        path: String,
        /// Bytes.
        size: u64,
        /// SHA-256, lower-case hex.
        sha256: String,
        /// SHA-1, upper-case hex (the cache key).
        sha1: String,
    },
}

impl Entry {
    /// The path as the manifest gives it.
    pub fn path(&self) -> &str {
        match self {
            Entry::Document { path, .. } | Entry::Payload { path, .. } => path,
        }
    }
}

/// What a bundle path names, parsed; its file is always opened at [`BundleFile::relative`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleFile {
    /// `documents/<UpdateID>.<RevisionNumber>.xml`.
    Document(UpdateIdentity),
    /// `content/<SHA1HEX>.<ext>`.
    Payload {
        /// The digest the name gives.
        sha1: [u8; 20],
        /// The extension, 1–8 lower-case ASCII letters and digits.
        extension: Extension,
    },
}

/// A short file extension held by value (at most eight ASCII letters and digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extension {
    bytes: [u8; MAX_EXTENSION],
    len: u8,
}

impl Extension {
    /// The extension of a payload's file name, lower case; `bin` when it has none usable.
    pub fn of_file_name(name: &str) -> Extension {
        name.rsplit_once('.')
            .and_then(|(_, ext)| Extension::parse(&ext.to_ascii_lowercase()))
            .unwrap_or(Extension {
                bytes: *b"bin\0\0\0\0\0",
                len: 3,
            })
    }

    fn parse(text: &str) -> Option<Extension> {
        let valid = (1..=MAX_EXTENSION).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        if !valid {
            return None;
        }
        let mut bytes = [0; MAX_EXTENSION];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Extension {
            bytes,
            len: text.len() as u8,
        })
    }

    fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("bin")
    }
}

impl BundleFile {
    /// The path inside the bundle, rebuilt from the parsed parts (`/`-separated).
    pub fn name(&self) -> String {
        match self {
            BundleFile::Document(identity) => {
                format!("{DOCUMENTS_DIR}/{}.{}.xml", identity.update_id, identity.revision)
            }
            BundleFile::Payload { sha1, extension } => {
                format!("{CONTENT_DIR}/{}.{}", upper_hex(sha1), extension.as_str())
            }
        }
    }

    /// The same path for the file system, relative to the bundle folder.
    pub fn relative(&self) -> PathBuf {
        let name = self.name();
        let (dir, file) = name.split_once('/').unwrap_or(("", &name));
        PathBuf::from(dir).join(file)
    }

    /// Parses a manifest path; `None` for anything but the two canonical forms.
    pub fn parse(path: &str) -> Option<BundleFile> {
        let (dir, file) = path.split_once('/')?;
        let parsed = match dir {
            DOCUMENTS_DIR => parse_document_name(file)?,
            CONTENT_DIR => parse_payload_name(file)?,
            _ => return None,
        };
        // Canonical spelling only: one path per file, nothing a file system could read twice.
        (parsed.name() == path).then_some(parsed)
    }
}

fn parse_document_name(file: &str) -> Option<BundleFile> {
    let stem = file.strip_suffix(".xml")?;
    let (id, revision) = stem.rsplit_once('.')?;
    if !revision.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(BundleFile::Document(UpdateIdentity {
        update_id: Uuid::parse_str(id).ok()?,
        revision: revision.parse().ok()?,
    }))
}

fn parse_payload_name(file: &str) -> Option<BundleFile> {
    let (digest, extension) = file.split_once('.')?;
    Some(BundleFile::Payload {
        sha1: decode_hex(digest)?,
        extension: Extension::parse(extension)?,
    })
}

/// Exactly `2 * N` hex digits (either case) as bytes.
pub(crate) fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = (high * 16 + low) as u8;
    }
    Some(bytes)
}

/// One entry, checked: the file it names, its size and SHA-256, and for a document the
/// payload URLs it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// What the path names.
    pub file: BundleFile,
    /// Bytes the file must have.
    pub size: u64,
    /// SHA-256 the file must have.
    pub sha256: [u8; 32],
    /// Documents only: payload URLs by SHA-1.
    pub file_urls: Vec<([u8; 20], String)>,
}

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The manifest as a whole is unusable.
    #[error("{MANIFEST_FILE}: {0}")]
    Invalid(String),
    /// One entry is unusable; the message names its path.
    #[error("{MANIFEST_FILE}: entry `{path}`: {problem}")]
    Entry {
        /// The entry's path as the manifest gives it (escaped for display).
        path: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Reads and checks manifest bytes: the format and version, then every entry.
pub fn parse(bytes: &[u8]) -> Result<(Manifest, Vec<Checked>), ManifestError> {
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| ManifestError::Invalid(format!("not a bundle manifest: {e}")))?;
    if manifest.format != FORMAT {
        return Err(ManifestError::Invalid(format!(
            "format is `{}`, not `{FORMAT}`",
            manifest.format.escape_debug()
        )));
    }
    if manifest.version != VERSION {
        return Err(ManifestError::Invalid(format!(
            "version {} (this wucache reads version {VERSION}; use the wucache that made it, or a newer one)",
            manifest.version
        )));
    }
    if let Some(base) = &manifest.base {
        if decode_hex::<32>(&base.manifest_sha256).is_none() {
            return Err(ManifestError::Invalid(
                "base.manifest_sha256 is not 64 hex digits".into(),
            ));
        }
    }
    let checked = check_entries(&manifest.files)?;
    Ok((manifest, checked))
}

fn check_entries(entries: &[Entry]) -> Result<Vec<Checked>, ManifestError> {
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(entries.len());
    for entry in entries {
        let fail = |problem: &str| ManifestError::Entry {
            path: entry.path().escape_debug().to_string(),
            problem: problem.to_string(),
        };
        let one = check_entry(entry).map_err(|p| fail(&p))?;
        if !seen.insert(one.file) {
            return Err(fail("listed twice"));
        }
        checked.push(one);
    }
    Ok(checked)
}

fn check_entry(entry: &Entry) -> Result<Checked, String> {
    let file = BundleFile::parse(entry.path())
        .ok_or("not a bundle path (only documents/<UpdateID>.<revision>.xml and content/<SHA1>.<ext> are)")?;
    let (size, sha256) = match entry {
        Entry::Document { size, sha256, .. } | Entry::Payload { size, sha256, .. } => (*size, sha256),
    };
    let sha256 = decode_hex::<32>(sha256).ok_or("sha256 is not 64 hex digits")?;
    let mut file_urls = Vec::new();
    match (entry, file) {
        (
            Entry::Document {
                update_id,
                revision,
                file_urls: urls,
                ..
            },
            BundleFile::Document(identity),
        ) => {
            if (identity.update_id, identity.revision) != (*update_id, *revision) {
                return Err("update_id/revision differ from the file name".into());
            }
            for (digest, url) in urls {
                let sha1 = decode_hex::<20>(digest).ok_or("a file_urls key is not a SHA-1")?;
                file_urls.push((sha1, url.clone()));
            }
        }
        (Entry::Payload { sha1, .. }, BundleFile::Payload { sha1: named, .. }) => {
            if decode_hex::<20>(sha1) != Some(named) {
                return Err("sha1 differs from the file name".into());
            }
        }
        _ => return Err("kind does not match the folder".into()),
    }
    Ok(Checked {
        file,
        size,
        sha256,
        file_urls,
    })
}

impl Manifest {
    /// The bytes written to `manifest.json` (and signed): pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data into a Vec cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// `<UpdateID>.<RevisionNumber>`, how a base lists the revisions it carried.
pub fn identity_key(identity: &UpdateIdentity) -> String {
    format!("{}.{}", identity.update_id, identity.revision)
}

/// Lower-case hex of a SHA-256, as entries give it.
pub fn sha256_text(digest: &[u8; 32]) -> String {
    hex(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5";
    const SHA1: &str = "A379D5526FB3A7A0423DA1CD7FC3182A8D448449";

    #[test]
    fn canonical_paths_parse_and_rebuild_to_themselves() {
        for path in [
            format!("documents/{ID}.200.xml"),
            format!("content/{SHA1}.cab"),
            format!("content/{SHA1}.msu"),
        ] {
            let parsed = BundleFile::parse(&path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(parsed.name(), path);
            assert_eq!(parsed.relative(), PathBuf::from(&path));
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for path in [
            "../manifest.json".to_string(),
            format!("documents/../{ID}.200.xml"),
            format!("/documents/{ID}.200.xml"),
            format!("documents/{ID}.200.xml/"),
            format!("documents\\{ID}.200.xml"),
            format!("documents/sub/{ID}.200.xml"),
            format!("documents/{}.200.xml", ID.to_uppercase()),
            format!("documents/{ID}.0200.xml"),
            format!("documents/{ID}.+200.xml"),
            format!("documents/{ID}.200.XML"),
            format!("content/{}.cab", SHA1.to_lowercase()),
            format!("content/{SHA1}.CAB"),
            format!("content/{SHA1}.cab.exe"),
            format!("content/{SHA1}"),
            format!("content/{SHA1}.verylongext"),
            format!("content/{SHA1}.c\0b"),
            format!("other/{SHA1}.cab"),
            String::new(),
        ] {
            assert_eq!(BundleFile::parse(&path), None, "{path:?}");
        }
    }

    fn manifest(files: Vec<Entry>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            created: "2026-11-01T00:00:00Z".into(),
            source_catalog: "0000000000000001".into(),
            scope: ScopeInfo {
                kind: "all".into(),
                name: None,
                baselines: vec!["default".into()],
                evaluated_at: "2026-11-01T00:00:00Z".into(),
            },
            metadata_only: false,
            base: None,
            files,
        }
    }

    fn payload(path: &str, sha1: &str) -> Entry {
        Entry::Payload {
            path: path.into(),
            size: 3,
            sha256: "ab".repeat(32),
            sha1: sha1.into(),
        }
    }

    #[test]
    fn a_manifest_round_trips_through_its_bytes() {
        let written = manifest(vec![
            Entry::Document {
                path: format!("documents/{ID}.200.xml"),
                size: 10,
                sha256: "00".repeat(32),
                update_id: Uuid::parse_str(ID).unwrap(),
                revision: 200,
                file_urls: BTreeMap::from([(SHA1.into(), "http://x/y.cab".into())]),
            },
            payload(&format!("content/{SHA1}.cab"), SHA1),
        ]);
        let (read, checked) = parse(&written.to_bytes()).unwrap();
        assert_eq!(read, written);
        assert_eq!(checked.len(), 2);
        assert_eq!(checked[0].file_urls[0].1, "http://x/y.cab");
    }

    #[test]
    fn entries_that_disagree_with_their_names_or_repeat_are_refused_by_path() {
        let other = "B379D5526FB3A7A0423DA1CD7FC3182A8D448449";
        let cases = [
            vec![payload(&format!("content/{SHA1}.cab"), other)],
            vec![
                payload(&format!("content/{SHA1}.cab"), SHA1),
                payload(&format!("content/{SHA1}.cab"), SHA1),
            ],
            vec![payload("../../etc/passwd", SHA1)],
        ];
        for files in cases {
            let path = files.last().unwrap().path().to_string();
            let err = parse(&manifest(files).to_bytes()).unwrap_err();
            assert!(err.to_string().contains(&path), "{err}");
        }
    }

    #[test]
    fn another_format_or_version_is_refused() {
        let mut newer = manifest(Vec::new());
        newer.version = VERSION + 1;
        assert!(parse(&newer.to_bytes())
            .unwrap_err()
            .to_string()
            .contains("version"));
        assert!(parse(b"{}").is_err());
        assert!(parse(b"\xff").is_err());
    }
}
