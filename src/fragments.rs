//! The fragment cache: every fragment a client can ask for — Core (SyncUpdates), Extended,
//! LocalizedProperties for a language list, and Eula (GetExtendedUpdateInfo) — derived once
//! from the stored document and kept escaped, LZ4-compressed against a preset dictionary of
//! WSUS fragment markup: a read decompresses it, ready to copy into an answer (microseconds
//! against the milliseconds of parsing the document again; WSUS's own fragments shrank ~2.8×
//! without the dictionary, and the synthetic 100k catalog's Core fragments take 21 MiB with
//! it against 33 without). One
//! cache for every kind, bounded by bytes (`bytecache`: CLOCK eviction). It outlives
//! snapshots: a revision's local id names one document forever, so its fragments never
//! change. Uses `bytecache`, `protocol`, `store`.

use crate::bytecache::{ByteCache, CacheStats};
use crate::protocol::fragment::Document;
use crate::protocol::wusp::XmlText;
use crate::protocol::xml::escape_text;
use crate::store::Store;
use std::sync::Arc;

/// Bytes an entry costs beyond its text: key, slot, ring position, allocation headers.
const ENTRY_OVERHEAD: usize = 128;

/// Warming stops when the cache holds this share of its budget, leaving room for what
/// clients ask beyond the Core fragments.
const WARM_SHARE: f64 = 0.8;

/// Languages of a request's `locales` that choose a LocalizedProperties fragment (Windows
/// sends two: `en-US`, `en`); the rest are ignored, so a request cannot make keys of any size.
const MAX_LOCALES: usize = 8;

/// Longest language tag kept (a BCP 47 tag as Windows uses them is far shorter).
const MAX_LOCALE_LEN: usize = 35;

/// A fragment kind of one revision, as a client names it in `infoTypes`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `UpdateInfo/Xml` of SyncUpdates.
    Core,
    /// `Extended`.
    Extended,
    /// `LocalizedProperties` for the client's language list (joined with `,`): the first
    /// language the document has, else English.
    Localized(Box<str>),
    /// `Eula`: one fragment per EULA file.
    Eula,
}

impl Kind {
    /// The kind an `infoTypes` entry asks for, with the request's locales; `None` for types
    /// wucache does not produce.
    pub fn of_info_type(info_type: &str, locales: &[String]) -> Option<Kind> {
        Some(match info_type {
            "Core" => Kind::Core,
            "Extended" => Kind::Extended,
            "LocalizedProperties" => Kind::Localized(language_key(locales).into()),
            "Eula" => Kind::Eula,
            _ => return None,
        })
    }

    /// The fragments of this kind, escaped.
    fn derive(&self, document: &Document) -> Result<Vec<XmlText>, String> {
        let texts = match self {
            Kind::Core => vec![document.core().map_err(|e| e.to_string())?],
            Kind::Extended => vec![document.extended().map_err(|e| e.to_string())?],
            Kind::Localized(languages) => {
                let languages: Vec<&str> = languages.split(',').filter(|l| !l.is_empty()).collect();
                document.localized(&languages).into_iter().collect()
            }
            Kind::Eula => document.eulas(),
        };
        Ok(texts
            .iter()
            .map(|text| XmlText::from_escaped(escape_text(text).into()))
            .collect())
    }
}

/// The first [`MAX_LOCALES`] languages, each cut to [`MAX_LOCALE_LEN`] bytes (on a character
/// boundary), joined with `,`.
fn language_key(locales: &[String]) -> String {
    let cut = |tag: &str| -> String {
        let mut end = tag.len().min(MAX_LOCALE_LEN);
        while !tag.is_char_boundary(end) {
            end -= 1;
        }
        tag[..end].replace(',', "")
    };
    locales
        .iter()
        .take(MAX_LOCALES)
        .map(|l| cut(l))
        .collect::<Vec<_>>()
        .join(",")
}

/// The fragments of one kind of one revision.
pub type Fragments = Arc<[XmlText]>;

/// Fragments as the cache keeps them, in one allocation: for each escaped text, the length
/// of its packed form (u32, little-endian), then that form (an LZ4 block against
/// `dictionary()`, the text's length first). One allocation per entry, not one per fragment
/// plus two for the lists: 129,000 entries after a 108k catalog's warm-up and one full scan.
#[derive(Clone)]
struct Packed(Arc<[u8]>);

/// What fragments are made of, as WSUS writes them (element and attribute names of Core,
/// Extended and LocalizedProperties fragments, most common last): LZ4 starts each fragment
/// with these bytes already seen, so a fragment of a kilobyte does not pay for its first tags.
const DICTIONARY: &str = concat!(
    r#"<LocalizedProperties><Language>en</Language><Title></Title><Description></Description>"#,
    r#"<UninstallNotes></UninstallNotes><MoreInfoUrl>https://support.microsoft.com/help/</MoreInfoUrl>"#,
    r#"<SupportUrl>https://go.microsoft.com/fwlink/?LinkId=</SupportUrl></LocalizedProperties>"#,
    r#"<ExtendedProperties DefaultPropertiesLanguage="en" Handler="http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CBS" "#,
    r#"MaxDownloadSize="" MinDownloadSize="" MsrcSeverity="Critical" MsrcSeverity="Important" "#,
    r#"<InstallationBehavior RebootBehavior="CanRequestReboot" /><UninstallationBehavior RebootBehavior="CanRequestReboot" />"#,
    r#"<KBArticleID></KBArticleID><SecurityBulletinID>MS</SecurityBulletinID></ExtendedProperties>"#,
    r#"<Files><File Digest="" DigestAlgorithm="SHA1" FileName=".cab" Size="" Modified="T00:00:00Z" PatchingType="SelfContained">"#,
    r#"<AdditionalDigest Algorithm="SHA256"></AdditionalDigest></File></Files>"#,
    r#"<HandlerSpecificData type="cbs:CbsHandlerSpecificData"><InstallCommand Program="" Arguments="" /></HandlerSpecificData>"#,
    r#"<ApplicabilityRules><IsInstalled><b.RegDword Key="HKEY_LOCAL_MACHINE" Subkey="" Value="" Comparison="EqualTo" Data="" />"#,
    r#"</IsInstalled><IsInstallable><And><Not><b.WindowsVersion Comparison="GreaterThanOrEqualTo" MajorVersion="10" "#,
    r#"MinorVersion="0" BuildNumber="" /></Not><b.FileVersionPrependRegSz Path="" /></And></IsInstallable></ApplicabilityRules>"#,
    r#"<Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="" /></AtLeastOne></Prerequisites>"#,
    r#"<BundledUpdates><AtLeastOne><UpdateIdentity UpdateID="" RevisionNumber="" /></AtLeastOne></BundledUpdates>"#,
    r#"<SupersededUpdates><UpdateIdentity UpdateID="" /></SupersededUpdates></Relationships>"#,
    r#"<UpdateIdentity UpdateID="" RevisionNumber="" /><Properties UpdateType="Software" "#,
    r#"ExplicitlyDeployable="true" AutoSelectOnWebSites="true" /><Relationships><Prerequisites><UpdateIdentity UpdateID=""#,
);

/// `DICTIONARY` escaped as the cached texts are.
fn dictionary() -> &'static [u8] {
    static ESCAPED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ESCAPED
        .get_or_init(|| escape_text(DICTIONARY).into_owned())
        .as_bytes()
}

impl Packed {
    fn of(fragments: &[XmlText]) -> Packed {
        let mut bytes = Vec::new();
        for fragment in fragments {
            let packed =
                lz4_flex::block::compress_prepend_size_with_dict(escaped(fragment).as_bytes(), dictionary());
            let length = u32::try_from(packed.len()).expect("a fragment is far below 4 GiB");
            bytes.extend_from_slice(&length.to_le_bytes());
            bytes.extend_from_slice(&packed);
        }
        Packed(bytes.into())
    }

    /// Bytes held.
    fn len(&self) -> usize {
        self.0.len()
    }

    fn unpack(&self) -> Result<Fragments, String> {
        let mut rest: &[u8] = &self.0;
        let mut fragments = Vec::with_capacity(1);
        while !rest.is_empty() {
            let (packed, after) =
                next_packed(rest).ok_or("a cached fragment entry is cut short (a wucache bug)")?;
            let bytes = lz4_flex::block::decompress_size_prepended_with_dict(packed, dictionary())
                .map_err(|e| format!("a cached fragment does not decompress (a wucache bug): {e}"))?;
            let text = String::from_utf8(bytes)
                .map_err(|e| format!("a cached fragment is not UTF-8 (a wucache bug): {e}"))?;
            fragments.push(XmlText::from_escaped(text.into()));
            rest = after;
        }
        Ok(fragments.into())
    }
}

/// The first packed fragment of `bytes` and what follows it; `None` when cut short.
fn next_packed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (length, rest) = bytes.split_first_chunk::<4>()?;
    let length = usize::try_from(u32::from_le_bytes(*length)).ok()?;
    (rest.len() >= length).then(|| rest.split_at(length))
}

/// A fragment's text escaped for element content (derived fragments are held escaped).
fn escaped(fragment: &XmlText) -> std::borrow::Cow<'_, str> {
    match fragment.escaped() {
        Some(text) => text.into(),
        None => escape_text(&fragment.text()).into_owned().into(),
    }
}

/// Every fragment kind of every revision, derived once, bounded by bytes.
pub struct FragmentCache {
    entries: ByteCache<(i32, Kind), Packed>,
}

impl FragmentCache {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: usize) -> FragmentCache {
        FragmentCache {
            entries: ByteCache::new(budget),
        }
    }

    /// The Core fragment of revision `local_id`.
    pub fn core(&self, store: &Store, local_id: i32) -> Result<XmlText, String> {
        // The hot path (every UpdateInfo of every SyncUpdates page): one lookup, no lists.
        let cached = self.entries.get(&(local_id, Kind::Core));
        let fragments = match cached {
            Some(packed) => packed.unpack()?,
            None => self
                .fill(store, local_id, &[Kind::Core], vec![None])?
                .swap_remove(0),
        };
        fragments
            .first()
            .cloned()
            .ok_or_else(|| format!("revision {local_id} has no Core fragment"))
    }

    /// The fragments of each of `kinds` of revision `local_id`, in the same order. What the
    /// cache lacks is derived from one parse of the stored document.
    pub fn fragments(&self, store: &Store, local_id: i32, kinds: &[Kind]) -> Result<Vec<Fragments>, String> {
        let found: Vec<Option<Fragments>> = kinds
            .iter()
            .map(|kind| {
                self.entries
                    .get(&(local_id, kind.clone()))
                    .map(|packed| packed.unpack())
                    .transpose()
            })
            .collect::<Result<_, String>>()?;
        self.fill(store, local_id, kinds, found)
    }

    /// `found` (one slot per kind) with its empty slots derived and cached.
    fn fill(
        &self,
        store: &Store,
        local_id: i32,
        kinds: &[Kind],
        mut found: Vec<Option<Fragments>>,
    ) -> Result<Vec<Fragments>, String> {
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().collect());
        }
        let xml = store
            .document(local_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("revision {local_id} has no stored document"))?;
        let document = Document::parse(&xml).map_err(|e| format!("revision {local_id}: {e}"))?;
        for (kind, slot) in kinds.iter().zip(found.iter_mut()) {
            if slot.is_none() {
                let fragments: Fragments = kind
                    .derive(&document)
                    .map_err(|e| format!("revision {local_id}: {e}"))?
                    .into();
                self.insert(local_id, kind.clone(), &fragments);
                *slot = Some(fragments);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    fn insert(&self, local_id: i32, kind: Kind, fragments: &[XmlText]) {
        let key_bytes = match &kind {
            Kind::Localized(languages) => languages.len(),
            _ => 0,
        };
        let packed = Packed::of(fragments);
        let bytes = ENTRY_OVERHEAD + key_bytes + packed.len();
        self.entries.insert((local_id, kind), packed, bytes);
    }

    /// Derives the Core fragments of `local_ids` not cached yet, in order, while the cache is
    /// below its warming share and `keep_going` says so; returns how many it derived. Errors
    /// are left for the request that meets them.
    pub fn warm(
        &self,
        store: &Store,
        local_ids: impl IntoIterator<Item = i32>,
        keep_going: impl Fn() -> bool,
    ) -> usize {
        let limit = (self.entries.stats().budget as f64 * WARM_SHARE) as usize;
        let mut derived = 0;
        for local_id in local_ids {
            if !keep_going() || self.stats().bytes >= limit {
                break;
            }
            if self.entries.contains(&(local_id, Kind::Core)) {
                continue;
            }
            if self.fragments(store, local_id, &[Kind::Core]).is_ok() {
                derived += 1;
            }
        }
        derived
    }

    /// Entries, bytes and hit counts (a look-up per kind asked).
    pub fn stats(&self) -> CacheStats {
        self.entries.stats()
    }
}

#[cfg(test)]
mod tests;
