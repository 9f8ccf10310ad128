//! The generator behind [`generate`](super::generate): walks a seeded RNG through categories,
//! classifications, detectoids and software updates, and renders each document once.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rand::distributions::WeightedIndex;
use rand::prelude::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::render::{self, CategorySpec, Role, SoftwareSpec};
use super::{
    hex, payload, SynthDoc, SynthFile, SynthKind, SynthOptions, CLASSIFICATIONS, DEFENDER_PRODUCT, MICROSOFT,
    WINDOWS_FAMILY,
};

// Indices into `CLASSIFICATIONS` of the classifications the generator treats specially.
const CRITICAL_UPDATES: usize = 2;
const DEFINITION_UPDATES: usize = 3;
const FEATURE_PACKS: usize = 6;
const SECURITY_UPDATES: usize = 8;
const SERVICE_PACKS: usize = 9;
const TOOLS: usize = 10;
const UPDATE_ROLLUPS: usize = 11;
const UPDATES: usize = 12;
const UPGRADES: usize = 13;

/// How likely each classification is for a synthetic software update (index into
/// [`CLASSIFICATIONS`], weight). Drivers and Driver Sets are left out: those are not software.
const CLASSIFICATION_WEIGHTS: [(usize, u32); 13] = [
    (SECURITY_UPDATES, 30),
    (UPDATES, 24),
    (CRITICAL_UPDATES, 10),
    (DEFINITION_UPDATES, 8),
    (UPDATE_ROLLUPS, 8),
    (FEATURE_PACKS, 4),
    (TOOLS, 3),
    (0, 3), // Applications
    (SERVICE_PACKS, 2),
    (UPGRADES, 2),
    (4, 1), // Developer Kits
    (7, 1), // Guidance
    (1, 1), // Connectors
];

pub(super) const FAMILIES: [&str; 4] = [
    "Windows",
    "Office",
    "Developer Tools, Runtimes, and Redistributables",
    "SQL Server",
];

/// Product titles with the index of their family in [`FAMILIES`]; more products than this get
/// numbered "Synthetic Product N" titles.
const PRODUCTS: [(&str, usize); 12] = [
    ("Windows 11", 0),
    ("Microsoft Defender Antivirus", 0),
    ("Windows Server 2022", 0),
    ("Office 2016", 1),
    ("Visual Studio 2022", 2),
    ("Microsoft SQL Server 2019", 3),
    ("Windows 10, version 1903 and later", 0),
    ("Microsoft 365 Apps/Office 2019/Office LTSC", 1),
    (".NET 8.0", 2),
    ("Windows Server 2019", 0),
    ("Microsoft Edge", 0),
    ("Microsoft SQL Server 2022", 3),
];

const SEVERITIES: [(&str, u32); 4] = [("Critical", 3), ("Important", 5), ("Moderate", 1), ("Low", 1)];

/// Publisher ids seen on real documents: Microsoft categories, and Microsoft Update content.
pub(super) const CATEGORY_PUBLISHER: &str = "42f20e12-2856-447d-a8b2-68f06c2e9b45";
const UPDATE_PUBLISHER: &str = "bccf8ca0-2819-4598-8d15-c1506e363e92";

/// Every Definition Update on Microsoft Update carries this one KB number.
const DEFINITION_KB: &str = "2267602";

/// Smallest generated file when `max_file_size` allows it.
const MIN_FILE_SIZE: u64 = 256;

/// All documents for `opts`, in catalog order.
pub(super) fn run(opts: &SynthOptions) -> Vec<SynthDoc> {
    let mut generator = Generator::new(opts);
    generator.categories();
    generator.classifications();
    generator.detectoids();
    generator.software();
    generator.docs
}

/// A product as the update generator needs it.
struct Product {
    id: Uuid,
    title: String,
    detectoids: Vec<Uuid>,
}

/// The identity and facts shared by all revisions of one top-level update.
struct TopLevel {
    id: Uuid,
    product: usize,
    classification: usize,
    title: String,
    kb: Option<String>,
    bulletin: Option<String>,
    msrc: Option<String>,
    superseded: Vec<Uuid>,
    detectoids: Vec<Uuid>,
    expired: bool,
}

struct Generator<'a> {
    opts: &'a SynthOptions,
    rng: StdRng,
    docs: Vec<SynthDoc>,
    products: Vec<Product>,
    /// Creation time of the latest update; moves forward so later updates supersede earlier.
    clock: DateTime<Utc>,
    next_kb: u32,
    /// Earlier top-level update ids per (product, classification), for supersedence.
    history: Vec<Vec<Uuid>>,
    class_picker: WeightedIndex<u32>,
    severity_picker: WeightedIndex<u32>,
}

impl<'a> Generator<'a> {
    fn new(opts: &'a SynthOptions) -> Self {
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let next_kb = 4_000_000 + rng.gen_range(0..100_000);
        Generator {
            opts,
            rng,
            docs: Vec::new(),
            products: Vec::new(),
            clock: fixed_time(2018, 1, 1),
            next_kb,
            history: Vec::new(),
            class_picker: weights(CLASSIFICATION_WEIGHTS.iter().map(|(_, w)| *w)),
            severity_picker: weights(SEVERITIES.iter().map(|(_, w)| *w)),
        }
    }

    fn new_id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.gen()).into_uuid()
    }

    /// A creation date for a category, somewhere in 2004–2015.
    fn old_date(&mut self) -> DateTime<Utc> {
        let seconds = self.rng.gen_range(0..12 * 365 * 86_400);
        fixed_time(2004, 1, 1)
            + chrono::Duration::seconds(seconds)
            + chrono::Duration::milliseconds(self.rng.gen_range(0..1000))
    }

    fn categories(&mut self) {
        let company = CategorySpec {
            id: MICROSOFT,
            revision: 101,
            title: "Microsoft",
            category_type: "Company",
            parent: None,
            created: fixed_time(2005, 9, 22),
            publisher: CATEGORY_PUBLISHER,
            display_order: 1,
        };
        self.push_category(SynthKind::Company, &company);
        let count = self.opts.products.max(1);
        let mut family_ids: Vec<Option<Uuid>> = vec![None; FAMILIES.len()];
        for index in 0..count {
            let (title, family) = product_entry(index);
            let family_id = match family_ids[family] {
                Some(id) => id,
                None => {
                    let id = self.push_family(family);
                    family_ids[family] = Some(id);
                    id
                }
            };
            self.push_product(index, &title, family_id);
        }
        self.history = vec![Vec::new(); count * CLASSIFICATIONS.len()];
    }

    fn push_family(&mut self, family: usize) -> Uuid {
        let id = if family == 0 {
            WINDOWS_FAMILY
        } else {
            self.new_id()
        };
        let spec = CategorySpec {
            id,
            revision: 100,
            title: FAMILIES[family],
            category_type: "ProductFamily",
            parent: Some(MICROSOFT),
            created: self.old_date(),
            publisher: CATEGORY_PUBLISHER,
            display_order: 2,
        };
        self.push_category(SynthKind::ProductFamily, &spec);
        id
    }

    fn push_product(&mut self, index: usize, title: &str, family: Uuid) {
        let id = if title == "Microsoft Defender Antivirus" {
            DEFENDER_PRODUCT
        } else {
            self.new_id()
        };
        let spec = CategorySpec {
            id,
            revision: 200 + self.rng.gen_range(0..3),
            title,
            category_type: "Product",
            parent: Some(family),
            created: self.old_date(),
            publisher: CATEGORY_PUBLISHER,
            display_order: u32::try_from(index).unwrap_or(u32::MAX),
        };
        self.push_category(SynthKind::Product, &spec);
        self.products.push(Product {
            id,
            title: title.to_owned(),
            detectoids: Vec::new(),
        });
    }

    fn classifications(&mut self) {
        for (order, (id, title)) in CLASSIFICATIONS.iter().enumerate() {
            let spec = CategorySpec {
                id: *id,
                revision: 100,
                title,
                category_type: "UpdateClassification",
                parent: None,
                created: self.old_date(),
                publisher: CATEGORY_PUBLISHER,
                display_order: u32::try_from(order).unwrap_or(u32::MAX),
            };
            self.push_category(SynthKind::Classification, &spec);
        }
    }

    fn push_category(&mut self, kind: SynthKind, spec: &CategorySpec<'_>) {
        let xml = render::category(spec);
        let title = spec.title.to_owned();
        self.push_config(kind, spec.id, spec.revision, title, xml, Vec::new());
    }

    fn push_config(
        &mut self,
        kind: SynthKind,
        update_id: Uuid,
        revision: u32,
        title: String,
        xml: String,
        products: Vec<Uuid>,
    ) {
        self.docs.push(SynthDoc {
            update_id,
            revision,
            kind,
            xml,
            title,
            products,
            classifications: Vec::new(),
            files: Vec::new(),
            expired: false,
            superseded: Vec::new(),
            bundled: Vec::new(),
            msrc_severity: None,
            kb: None,
        });
    }

    /// A few dozen detectoids, round-robin over the products; each requires its product.
    fn detectoids(&mut self) {
        const ARCHES: [&str; 3] = ["x64-based Systems", "x86-based Systems", "ARM64-based Systems"];
        let count = (4 * self.products.len()).max(24);
        for n in 0..count {
            let product = n % self.products.len();
            let id = self.new_id();
            let title = format!(
                "{} {} applicability {}",
                self.products[product].title,
                ARCHES[n % ARCHES.len()],
                n / self.products.len() + 1
            );
            let revision = 100 + self.rng.gen_range(0..10);
            let created = self.old_date();
            let product_id = self.products[product].id;
            let xml = render::detectoid(id, revision, &title, product_id, created, n);
            self.products[product].detectoids.push(id);
            self.push_config(SynthKind::Detectoid, id, revision, title, xml, vec![product_id]);
        }
    }

    /// Software updates until exactly `opts.updates` update documents exist.
    fn software(&mut self) {
        let mut remaining = self.opts.updates;
        let mut serial = 0;
        while remaining > 0 {
            remaining -= self.software_update(remaining, serial);
            serial += 1;
        }
    }

    /// One top-level update: a standalone leaf or a bundle with members, sometimes with an
    /// older revision too. Returns how many documents it added (never more than `budget`).
    fn software_update(&mut self, budget: usize, serial: usize) -> usize {
        self.clock += chrono::Duration::milliseconds(self.rng.gen_range(600_000..=5_400_000));
        let members = if budget >= 2 && self.rng.gen_bool(0.3) {
            self.rng.gen_range(1..=3).min(budget - 1)
        } else {
            0
        };
        let two_revisions = budget >= members + 2 && self.rng.gen_bool(0.06);
        let top = self.top_level(serial);
        let newest = if two_revisions {
            200 + self.rng.gen_range(1..=3)
        } else {
            200
        };
        let revisions: &[u32] = if two_revisions { &[200, newest] } else { &[200] };
        let docs_before = self.docs.len();
        if members == 0 {
            let files = self.files(&top);
            for &revision in revisions {
                self.push_software(&top, (revision, newest), Role::Standalone, files.clone());
            }
        } else {
            let member_ids = self.push_members(&top, members);
            for &revision in revisions {
                self.push_software(&top, (revision, newest), Role::Bundle(&member_ids), Vec::new());
            }
        }
        self.history[top.product * CLASSIFICATIONS.len() + top.classification].push(top.id);
        self.docs.len() - docs_before
    }

    /// Chooses product, classification, title, KB, severity and supersedence.
    fn top_level(&mut self, serial: usize) -> TopLevel {
        let product = self.rng.gen_range(0..self.products.len());
        let classification = CLASSIFICATION_WEIGHTS[self.class_picker.sample(&mut self.rng)].0;
        let kb = self.kb(classification);
        let security = classification == SECURITY_UPDATES;
        let msrc = (security && self.rng.gen_bool(0.8)).then(|| {
            SEVERITIES[self.severity_picker.sample(&mut self.rng)]
                .0
                .to_owned()
        });
        let bulletin = (security && self.rng.gen_bool(0.3)).then(|| {
            let year = self.clock.year() % 100;
            format!("MS{year:02}-{:03}", self.rng.gen_range(1..200))
        });
        let title = self.title(product, classification, kb.as_deref(), serial);
        let superseded = self.superseded(product, classification);
        let detectoids = self.pick_detectoids(product);
        TopLevel {
            id: self.new_id(),
            product,
            classification,
            title,
            kb,
            bulletin,
            msrc,
            superseded,
            detectoids,
            expired: self.rng.gen_bool(0.03),
        }
    }

    fn kb(&mut self, classification: usize) -> Option<String> {
        if classification == DEFINITION_UPDATES {
            return Some(DEFINITION_KB.to_owned());
        }
        if !self.rng.gen_bool(0.9) {
            return None;
        }
        self.next_kb += self.rng.gen_range(1..=37);
        Some(self.next_kb.to_string())
    }

    fn title(&mut self, product: usize, classification: usize, kb: Option<&str>, serial: usize) -> String {
        let product = &self.products[product].title;
        let month = format!("{:04}-{:02}", self.clock.year(), self.clock.month());
        let base = match classification {
            SECURITY_UPDATES => format!("{month} Security Update for {product}"),
            CRITICAL_UPDATES => format!("Critical Update for {product}"),
            DEFINITION_UPDATES => format!(
                "Security Intelligence Update for {product} (Version 1.{}.0)",
                400 + serial
            ),
            UPDATE_ROLLUPS => format!("{month} Cumulative Update for {product}"),
            FEATURE_PACKS => format!("Feature Pack for {product}"),
            SERVICE_PACKS => format!("Service Pack {} for {product}", 1 + serial % 3),
            TOOLS => format!("Tools & Utilities Update for {product}"),
            UPGRADES => format!(
                "Feature update to {product}, version {:02}H2",
                self.clock.year() % 100
            ),
            UPDATES if self.rng.gen_bool(0.3) => {
                format!("{month} .NET Framework 3.5 & 4.8.1 Update for {product}")
            }
            _ => format!("{month} Update for {product}"),
        };
        match kb {
            Some(kb) => format!("{base} (KB{kb})"),
            None => format!("{base} #{serial}"),
        }
    }

    /// Sometimes supersedes the one or two latest updates of the same product and classification.
    fn superseded(&mut self, product: usize, classification: usize) -> Vec<Uuid> {
        let earlier = &self.history[product * CLASSIFICATIONS.len() + classification];
        if earlier.is_empty() || !self.rng.gen_bool(0.35) {
            return Vec::new();
        }
        let count = self.rng.gen_range(1..=2).min(earlier.len());
        earlier[earlier.len() - count..].iter().rev().copied().collect()
    }

    fn pick_detectoids(&mut self, product: usize) -> Vec<Uuid> {
        let own = &self.products[product].detectoids;
        let count = self.rng.gen_range(0..=2).min(own.len());
        let start = self.rng.gen_range(0..own.len().max(1));
        (0..count).map(|i| own[(start + i) % own.len()]).collect()
    }

    /// Member leaves of a bundle, pushed before the bundle itself.
    fn push_members(&mut self, top: &TopLevel, count: usize) -> Vec<Uuid> {
        const ARCHES: [&str; 3] = ["x64", "x86", "ARM64"];
        let mut ids = Vec::with_capacity(count);
        for n in 0..count {
            let member = TopLevel {
                id: self.new_id(),
                title: format!("{} ({} component)", top.title, ARCHES[n % ARCHES.len()]),
                kb: None,
                bulletin: None,
                msrc: None,
                superseded: Vec::new(),
                detectoids: top.detectoids.clone(),
                ..*top
            };
            let files = self.files(&member);
            self.push_software(&member, (200, 200), Role::Member, files);
            ids.push(member.id);
        }
        ids
    }

    /// Pushes revision `revision` of `top`; `newest` is the update's latest revision number.
    fn push_software(
        &mut self,
        top: &TopLevel,
        (revision, newest): (u32, u32),
        role: Role<'_>,
        files: Vec<SynthFile>,
    ) {
        let product = self.products[top.product].id;
        let classification = CLASSIFICATIONS[top.classification].0;
        // The older revision of a twice-published update came out a few days earlier.
        let created = self.clock - chrono::Duration::days(i64::from(newest - revision));
        let spec = SoftwareSpec {
            id: top.id,
            revision,
            title: &top.title,
            created,
            expired: top.expired,
            role,
            product,
            classification,
            detectoids: &top.detectoids,
            superseded: &top.superseded,
            msrc: top.msrc.as_deref(),
            kb: top.kb.as_deref(),
            bulletin: top.bulletin.as_deref(),
            files: &files,
            publisher: UPDATE_PUBLISHER,
        };
        let xml = render::software(&spec);
        let (kind, bundled) = match role {
            Role::Bundle(members) => (SynthKind::Bundle, members.to_vec()),
            Role::Standalone | Role::Member => (SynthKind::Software, Vec::new()),
        };
        self.docs.push(SynthDoc {
            update_id: top.id,
            revision,
            kind,
            xml,
            title: top.title.clone(),
            products: vec![product],
            classifications: vec![classification],
            files,
            expired: top.expired,
            superseded: top.superseded.clone(),
            bundled,
            msrc_severity: top.msrc.clone(),
            kb: top.kb.clone(),
        });
    }

    /// One file, or two for a fifth of the leaves, named after the update.
    fn files(&mut self, top: &TopLevel) -> Vec<SynthFile> {
        let count = 1 + usize::from(self.rng.gen_bool(0.2));
        let stem = file_stem(&self.products[top.product].title, top.kb.as_deref(), top.id);
        (0..count)
            .map(|n| {
                let name = if n == 0 {
                    format!("{stem}.exe")
                } else {
                    format!("{stem}-express{n}.exe")
                };
                self.file(name, top.classification)
            })
            .collect()
    }

    fn file(&mut self, name: String, classification: usize) -> SynthFile {
        let size = self.file_size();
        let seed = self.rng.gen();
        let (sha1, sha256) = payload::digests(seed, size);
        let mu_url = self.mu_url(&name, classification, &sha1);
        SynthFile {
            sha1,
            sha256,
            name,
            size,
            mu_url,
            seed,
        }
    }

    /// Log-scale and skewed small: a power-of-two band (the lower of two uniform picks), then
    /// uniform inside it. Most files are a few KiB, a few approach `max_file_size`, which keeps
    /// hashing a 100,000-update catalog cheap.
    fn file_size(&mut self) -> u64 {
        let max = self.opts.max_file_size;
        if max <= MIN_FILE_SIZE {
            return self.rng.gen_range(0..=max);
        }
        let bands = MIN_FILE_SIZE.ilog2()..=max.ilog2();
        let band = self.rng.gen_range(bands.clone()).min(self.rng.gen_range(bands));
        let low = 1u64 << band;
        let high = (low << 1).min(max);
        self.rng.gen_range(low..=high.max(low))
    }

    /// `<base>/<c|d>/msdownload/update/software/<class>/<yyyy>/<mm>/<stem>_<sha1hex>.<ext>`,
    /// the form real `MUUrl`s take (docs/protocol.md §8.5).
    fn mu_url(&mut self, name: &str, classification: usize, sha1: &[u8; 20]) -> String {
        let class = match classification {
            SECURITY_UPDATES => "secu",
            CRITICAL_UPDATES => "crup",
            DEFINITION_UPDATES => "defu",
            FEATURE_PACKS => "ftpk",
            _ => "updt",
        };
        let shard = if self.rng.gen_bool(0.5) { 'c' } else { 'd' };
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "exe"));
        format!(
            "{}/{shard}/msdownload/update/software/{class}/{:04}/{:02}/{}_{}.{ext}",
            self.opts.content_base_url.trim_end_matches('/'),
            self.clock.year(),
            self.clock.month(),
            stem.to_ascii_lowercase(),
            hex(sha1),
        )
    }
}

fn weights(values: impl Iterator<Item = u32>) -> WeightedIndex<u32> {
    WeightedIndex::new(values.collect::<Vec<_>>()).expect("constant weights are positive")
}

fn fixed_time(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn product_entry(index: usize) -> (String, usize) {
    match PRODUCTS.get(index) {
        Some((title, family)) => ((*title).to_owned(), *family),
        None => (format!("Synthetic Product {index}"), index % FAMILIES.len()),
    }
}

/// A file name stem such as `windows11-kb5001234-x64`; updates without a KB use their id.
fn file_stem(product: &str, kb: Option<&str>, id: Uuid) -> String {
    let slug: String = product
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    match kb {
        Some(kb) => format!("{slug}-kb{kb}-x64"),
        None => format!("{slug}-{}-x64", &id.simple().to_string()[..8]),
    }
}
