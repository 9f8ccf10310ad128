//! Deterministic synthetic update catalogs for tests and benchmarks.
//!
//! [`generate`] builds a whole catalog: the "Microsoft" company category, product families,
//! products, the real classification categories, a few dozen detectoids, then software updates
//! (standalone leaves, bundles and their member leaves) with files, supersedence, expired and
//! double revisions. Every document is a complete `<upd:Update>` with the namespaces, element
//! order and attribute order of the real WSUS documents in `tests/fixtures/upstream/`.
//!
//! Same seed and options give byte-identical output. Pure: no I/O, no clock.

mod generator;
mod payload;
mod render;
#[cfg(test)]
mod tests;

use uuid::Uuid;

/// The company category "Microsoft" (CategoryType Company) every product family hangs under.
pub const MICROSOFT: Uuid = Uuid::from_u128(0x56309036_4c77_4dd9_951a_99ee9c246a94);

/// The real product family "Windows" (6964aab4), used for the first synthetic family.
pub const WINDOWS_FAMILY: Uuid = Uuid::from_u128(0x6964aab4_c5b5_43bd_a17d_ffb4346a8e1d);

/// The real product "Microsoft Defender Antivirus" (8c3fcc84), used for that synthetic product.
pub const DEFENDER_PRODUCT: Uuid = Uuid::from_u128(0x8c3fcc84_7410_4a95_8b89_a166a0190486);

/// The update classifications WSUS ships (docs/protocol.md §9), with their English titles.
pub const CLASSIFICATIONS: [(Uuid, &str); 15] = [
    (
        Uuid::from_u128(0x5c9376ab_8ce6_464a_b136_22113dd69801),
        "Applications",
    ),
    (
        Uuid::from_u128(0x434de588_ed14_48f5_8eed_a15e09a991f6),
        "Connectors",
    ),
    (
        Uuid::from_u128(0xe6cf1350_c01b_414d_a61f_263d14d133b4),
        "Critical Updates",
    ),
    (
        Uuid::from_u128(0xe0789628_ce08_4437_be74_2495b842f43b),
        "Definition Updates",
    ),
    (
        Uuid::from_u128(0xe140075d_8433_45c3_ad87_e72345b36078),
        "Developer Kits",
    ),
    (Uuid::from_u128(0xebfc1fc5_71a4_4f7b_9aca_3b9a503104a0), "Drivers"),
    (
        Uuid::from_u128(0xb54e7d24_7add_428f_8b75_90a396fa584f),
        "Feature Packs",
    ),
    (
        Uuid::from_u128(0x9511d615_35b2_47bb_927f_f73d8e9260bb),
        "Guidance",
    ),
    (
        Uuid::from_u128(0x0fa1201d_4330_4fa8_8ae9_b877473b6441),
        "Security Updates",
    ),
    (
        Uuid::from_u128(0x68c5b0a3_d1a6_4553_ae49_01d3a7827828),
        "Service Packs",
    ),
    (Uuid::from_u128(0xb4832bd8_e735_4761_8daf_37f882276dab), "Tools"),
    (
        Uuid::from_u128(0x28bc880e_0592_4cbf_8f95_c79b17911d5f),
        "Update Rollups",
    ),
    (Uuid::from_u128(0xcd5ffd1e_e932_4e3a_bf74_18bf0b1bbd83), "Updates"),
    (
        Uuid::from_u128(0x3689bdc8_b205_4af4_8d4a_a63924c5e9d5),
        "Upgrades",
    ),
    (
        Uuid::from_u128(0x77835c8d_62a7_41f5_82ad_f28d1af1e3b1),
        "Driver Sets",
    ),
];

/// Whether `id` is one of [`CLASSIFICATIONS`].
pub fn is_classification(id: &Uuid) -> bool {
    CLASSIFICATIONS.iter().any(|(known, _)| known == id)
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthOptions {
    /// Everything is derived from this seed.
    pub seed: u64,
    /// Software update documents to generate, bundles, member leaves and older revisions all
    /// counted: the catalog has exactly this many `Software`/`Bundle` docs.
    pub updates: usize,
    /// Number of products (at least one is generated).
    pub products: usize,
    /// Largest payload file in bytes; sizes are spread on a log scale below it, skewed small.
    pub max_file_size: u64,
    /// Base of every file's `MUUrl`, e.g. `http://download.windowsupdate.com` or a fake
    /// upstream's URL.
    pub content_base_url: String,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 1,
            updates: 100,
            products: 6,
            max_file_size: 64 * 1024,
            content_base_url: "http://download.windowsupdate.com".to_owned(),
        }
    }
}

/// What kind of document a [`SynthDoc`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SynthKind {
    /// The "Microsoft" company category.
    Company,
    /// A product family category.
    ProductFamily,
    /// A product category.
    Product,
    /// An update classification category.
    Classification,
    /// A detectoid: only an `IsInstalled` rule.
    Detectoid,
    /// A software leaf: has files; standalone, or a bundle member.
    Software,
    /// A software bundle: no files, names its members in `BundledUpdates`.
    Bundle,
}

impl SynthKind {
    /// Whether the document is a category, classification or detectoid (what WSUS returns to
    /// `GetRevisionIdList` with `GetConfig=true`).
    pub fn is_config(self) -> bool {
        !matches!(self, SynthKind::Software | SynthKind::Bundle)
    }
}

/// A generated catalog: categories, classifications and detectoids first, then updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthCatalog {
    /// The documents: categories, classifications and detectoids first, then updates.
    pub docs: Vec<SynthDoc>,
}

impl SynthCatalog {
    /// Every file of every document (files shared by two revisions appear twice).
    pub fn files(&self) -> impl Iterator<Item = &SynthFile> {
        self.docs.iter().flat_map(|d| d.files.iter())
    }
}

/// One revision of one update, with the facts its XML states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthDoc {
    /// `UpdateID` of the update this document is a revision of.
    pub update_id: Uuid,
    /// `RevisionNumber` of this revision.
    pub revision: u32,
    /// What kind of document it is.
    pub kind: SynthKind,
    /// The complete `<upd:Update>` document.
    pub xml: String,
    /// English title, unescaped.
    pub title: String,
    /// Products the document belongs to. Software and bundles: the product of their
    /// `IsCategory` clause (bundle members: their bundle's). Detectoids: the product they
    /// require. Categories and classifications: empty.
    pub products: Vec<Uuid>,
    /// Classification, same rules as `products`.
    pub classifications: Vec<Uuid>,
    /// The payload files (`Files/File`); empty for bundles, categories and detectoids.
    pub files: Vec<SynthFile>,
    /// `PublicationState="Expired"`.
    pub expired: bool,
    /// Update ids this revision lists under `SupersededUpdates`.
    pub superseded: Vec<Uuid>,
    /// Bundle members (all at revision 200).
    pub bundled: Vec<Uuid>,
    pub(crate) msrc_severity: Option<String>,
    /// `KBArticleID`, digits only (e.g. `5001234`).
    pub kb: Option<String>,
}

impl SynthDoc {
    /// `MsrcSeverity` as the document states it (`Critical` …), if it states one.
    pub fn msrc_severity(&self) -> Option<&str> {
        self.msrc_severity.as_deref()
    }
}

/// One payload file; [`payload`] regenerates its bytes from `seed`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SynthFile {
    /// SHA-1 of the bytes (`File/@Digest`).
    pub sha1: [u8; 20],
    /// SHA-256 of the bytes (`AdditionalDigest`).
    pub sha256: [u8; 32],
    /// `FileName`, with its extension.
    pub name: String,
    /// Length in bytes (`Size`).
    pub size: u64,
    /// `MUUrl`: `content_base_url` plus the path form of real Microsoft Update URLs.
    pub mu_url: String,
    pub(crate) seed: u64,
}

/// The bytes of a synthetic file: `file.size` bytes derived from `file.seed` only, so their
/// SHA-1/SHA-256 are `file.sha1`/`file.sha256`.
pub fn payload(file: &SynthFile) -> Vec<u8> {
    payload::bytes(file.seed, file.size)
}

/// Bytes `[start, end)` of a synthetic file's payload (clamped to its size), generated from
/// `start` on: equal to `payload(file)[start..end]` without building the whole file.
pub fn payload_range(file: &SynthFile, start: u64, end: u64) -> Vec<u8> {
    let end = end.min(file.size);
    let start = start.min(end);
    let mut bytes = vec![0; usize::try_from(end - start).unwrap_or(usize::MAX)];
    payload::fill_at(file.seed, start, &mut bytes);
    bytes
}

/// Bytes `[start, end)` of a synthetic file's payload (clamped to its size) as consecutive
/// pieces of at most `chunk` bytes, each generated when asked for, so a large file can be
/// streamed or hashed in constant memory.
pub fn payload_chunks(file: &SynthFile, start: u64, end: u64, chunk: usize) -> PayloadChunks {
    let end = end.min(file.size);
    PayloadChunks {
        seed: file.seed,
        next: start.min(end),
        end,
        chunk: chunk.max(1),
    }
}

/// The iterator of [`payload_chunks`].
#[derive(Debug, Clone)]
pub struct PayloadChunks {
    seed: u64,
    next: u64,
    end: u64,
    chunk: usize,
}

impl Iterator for PayloadChunks {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let left = self.end - self.next;
        if left == 0 {
            return None;
        }
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(self.chunk);
        let mut piece = vec![0; take];
        payload::fill_at(self.seed, self.next, &mut piece);
        self.next += take as u64;
        Some(piece)
    }
}

/// An ad-hoc synthetic file of any size (a 200 MB file costs no memory): digests are computed
/// by streaming its payload, and its `MUUrl` is
/// `<base_url>/d/msdownload/update/software/updt/<stem>_<sha1hex>.<ext>`.
pub fn make_file(seed: u64, size: u64, name: &str, base_url: &str) -> SynthFile {
    let (sha1, sha256) = payload::digests(seed, size);
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "exe"));
    let mu_url = format!(
        "{}/d/msdownload/update/software/updt/{}_{}.{ext}",
        base_url.trim_end_matches('/'),
        stem.to_ascii_lowercase(),
        hex(&sha1),
    );
    SynthFile {
        sha1,
        sha256,
        name: name.to_owned(),
        size,
        mu_url,
        seed,
    }
}

/// Builds the catalog described by `opts`.
pub fn generate(opts: &SynthOptions) -> SynthCatalog {
    SynthCatalog {
        docs: generator::run(opts),
    }
}

/// Lower-case hex, as in `MUUrl` file names.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
