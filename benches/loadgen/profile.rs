//! Machine profiles: what a simulated machine is and which non-leaf revisions it evaluates as
//! installed, from the synthetic catalog's own ground truth (the generator's documents, never
//! the server's view of them).
//!
//! In the `fleet` mode (the default) a machine is an OS product, sometimes with one
//! application product, picked from its index over a weighted mix like a real fleet's; it
//! evaluates as installed the company category, the classifications, its products, their
//! families and their detectoids, and nothing else: every other non-leaf revision it is sent
//! is cached as not installed (`OtherCachedUpdateIDs`), as a real client does
//! (docs/protocol.md §4.3). The `all-installed` mode is the worst case: every category and
//! detectoid evaluated as installed, so the server offers the whole catalog.
//!
//! A simplification: a real client evaluates every category (`IsInstalled` `True`) as
//! installed and is kept to its own updates by their detectoids alone; about a third of the
//! synthetic updates name no detectoid, so such a client would be offered those of every
//! product. Here the product categories stand for the machine's applicability too.
//!
//! The prerequisites of every update id, read from the generator's documents, let a session
//! check each revision it is sent: one whose prerequisites its machine does not meet is a
//! server error (§4.4: a prerequisite is satisfied only by an installed non-leaf revision).

use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;
use wucache_testkit::synth::{SynthCatalog, SynthKind};

/// How machines evaluate non-leaf revisions (knob `WUCACHE_LOADGEN_PROFILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Each machine has its own products ([`FLEET`]).
    Fleet,
    /// Every category and detectoid installed on every machine.
    AllInstalled,
}

impl Mode {
    pub(crate) fn parse(name: &str) -> Option<Mode> {
        match name {
            "fleet" => Some(Mode::Fleet),
            "all-installed" => Some(Mode::AllInstalled),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Fleet => "fleet",
            Mode::AllInstalled => "all-installed",
        }
    }
}

/// The fleet's machines by product titles of the synthetic catalog, with their share (out of
/// the weights' sum): mostly Windows 11 desktops, some servers, a few with an application.
const FLEET: [(&[&str], u32); 6] = [
    (&["Windows 11"], 5),
    (&["Windows 11", "Microsoft Defender Antivirus"], 2),
    (&["Windows 11", "Office 2016"], 1),
    (&["Windows Server 2022"], 2),
    (&["Windows Server 2022", "Microsoft SQL Server 2019"], 1),
    (&["Windows 11", "Visual Studio 2022"], 1),
];

/// One kind of machine.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Its products' titles joined with ` + `, or `all-installed`.
    pub(crate) name: String,
    weight: u32,
    /// Update ids of the non-leaf revisions it evaluates as installed.
    installed: HashSet<Uuid>,
}

impl Profile {
    /// Whether the machine evaluates update `id` (a non-leaf revision's) as installed.
    pub(crate) fn installed(&self, id: &Uuid) -> bool {
        self.installed.contains(id)
    }
}

/// Prerequisites per update id, and the profiles machines are given in turn.
#[derive(Debug)]
pub(crate) struct Truth {
    pub(crate) mode: Mode,
    /// Prerequisite clauses (each one satisfied by any of its ids) per update id.
    prerequisites: HashMap<Uuid, Vec<Vec<Uuid>>>,
    profiles: Vec<Arc<Profile>>,
    /// Profile indices, one per unit of weight, interleaved.
    turns: Vec<usize>,
}

/// Why a revision sent to a machine breaks the ground truth.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unmet {
    /// The update id is not in the catalog.
    Unknown,
    /// A prerequisite clause none of whose ids the machine evaluates as installed.
    Prerequisite,
}

impl Truth {
    pub(crate) fn of(catalog: &SynthCatalog, mode: Mode) -> Truth {
        let prerequisites = catalog
            .docs
            .iter()
            .map(|doc| (doc.update_id, prerequisites(&doc.xml)))
            .collect();
        let mut truth = Truth {
            mode,
            prerequisites,
            profiles: Vec::new(),
            turns: Vec::new(),
        };
        truth.profiles = match mode {
            Mode::AllInstalled => vec![Arc::new(all_installed(catalog))],
            Mode::Fleet => truth.fleet(catalog),
        };
        truth.turns = turns(&truth.profiles);
        truth
    }

    /// The profile of machine `index`: the mix spread evenly over consecutive indices.
    pub(crate) fn profile(&self, index: usize) -> Arc<Profile> {
        let turn = self.turns[index % self.turns.len()];
        Arc::clone(&self.profiles[turn])
    }

    /// Checks that `profile`'s machine may be sent a revision of update `id`.
    pub(crate) fn check(&self, profile: &Profile, id: &Uuid) -> Result<(), Unmet> {
        let clauses = self.prerequisites.get(id).ok_or(Unmet::Unknown)?;
        let met = |clause: &Vec<Uuid>| clause.iter().any(|p| profile.installed(p));
        if clauses.iter().all(met) {
            Ok(())
        } else {
            Err(Unmet::Prerequisite)
        }
    }

    /// The profiles and their shares, e.g. `Windows 11 5/12, ...`.
    pub(crate) fn describe(&self) -> String {
        let total: u32 = self.profiles.iter().map(|p| p.weight).sum();
        let shares: Vec<String> = self
            .profiles
            .iter()
            .map(|p| format!("{} {}/{total}", p.name, p.weight))
            .collect();
        format!("{}: {}", self.mode.name(), shares.join(", "))
    }

    /// The [`FLEET`] profiles whose products the catalog has; one per product when it has
    /// none of them.
    fn fleet(&self, catalog: &SynthCatalog) -> Vec<Arc<Profile>> {
        let by_title: HashMap<&str, Uuid> = catalog
            .docs
            .iter()
            .filter(|d| d.kind == SynthKind::Product)
            .map(|d| (d.title.as_str(), d.update_id))
            .collect();
        let mut profiles: Vec<(Vec<&str>, u32)> = FLEET
            .iter()
            .filter(|(titles, _)| titles.iter().all(|t| by_title.contains_key(t)))
            .map(|(titles, weight)| (titles.to_vec(), *weight))
            .collect();
        if profiles.is_empty() {
            profiles = by_title.keys().map(|t| (vec![*t], 1)).collect();
            profiles.sort_unstable();
        }
        profiles
            .into_iter()
            .map(|(titles, weight)| {
                let products: Vec<Uuid> = titles.iter().map(|t| by_title[t]).collect();
                Arc::new(Profile {
                    name: titles.join(" + "),
                    weight,
                    installed: self.evaluate(catalog, &products),
                })
            })
            .collect()
    }

    /// The non-leaf update ids a machine with `products` evaluates as installed: the company,
    /// the classifications, the products, the families they sit under, their detectoids.
    fn evaluate(&self, catalog: &SynthCatalog, products: &[Uuid]) -> HashSet<Uuid> {
        let families: HashSet<Uuid> = products
            .iter()
            .flat_map(|p| self.prerequisites.get(p).into_iter().flatten().flatten())
            .copied()
            .collect();
        let mine = |doc: &wucache_testkit::synth::SynthDoc| match doc.kind {
            SynthKind::Company | SynthKind::Classification => true,
            SynthKind::ProductFamily => families.contains(&doc.update_id),
            SynthKind::Product => products.contains(&doc.update_id),
            SynthKind::Detectoid => doc.products.iter().all(|p| products.contains(p)),
            SynthKind::Software | SynthKind::Bundle => false,
        };
        catalog
            .docs
            .iter()
            .filter(|d| mine(d))
            .map(|d| d.update_id)
            .collect()
    }
}

/// Every category and detectoid installed.
fn all_installed(catalog: &SynthCatalog) -> Profile {
    Profile {
        name: Mode::AllInstalled.name().into(),
        weight: 1,
        installed: catalog
            .docs
            .iter()
            .filter(|d| d.kind.is_config())
            .map(|d| d.update_id)
            .collect(),
    }
}

/// Profile indices, each as often as its weight, spread out (smooth weighted round robin), so
/// that consecutive machines are of different kinds and any stretch of the fleet has the mix.
fn turns(profiles: &[Arc<Profile>]) -> Vec<usize> {
    let total: i64 = profiles.iter().map(|p| i64::from(p.weight)).sum();
    let mut current = vec![0i64; profiles.len()];
    let mut turns = Vec::new();
    for _ in 0..total {
        for (credit, profile) in current.iter_mut().zip(profiles) {
            *credit += i64::from(profile.weight);
        }
        let Some(best) = (0..current.len()).max_by_key(|i| (current[*i], std::cmp::Reverse(*i))) else {
            break;
        };
        current[best] -= total;
        turns.push(best);
    }
    if turns.is_empty() {
        turns.push(0);
    }
    turns
}

/// A document's `Relationships/Prerequisites` as clauses: a bare `UpdateIdentity` is a clause
/// of one, an `AtLeastOne` a clause of its members (docs/protocol.md §4.2).
fn prerequisites(xml: &str) -> Vec<Vec<Uuid>> {
    let mut reader = Reader::from_str(xml);
    let (mut inside, mut group) = (false, None::<Vec<Uuid>>);
    let mut clauses = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                b"Prerequisites" => inside = true,
                b"AtLeastOne" if inside => group = Some(Vec::new()),
                _ => {}
            },
            Ok(Event::Empty(e)) if inside && e.local_name().as_ref() == b"UpdateIdentity" => {
                let Some(id) = update_id(&e) else { continue };
                match group.as_mut() {
                    Some(members) => members.push(id),
                    None => clauses.push(vec![id]),
                }
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"Prerequisites" => break,
                b"AtLeastOne" if inside => clauses.extend(group.take()),
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    clauses
}

fn update_id(start: &quick_xml::events::BytesStart<'_>) -> Option<Uuid> {
    let attr = start.try_get_attribute("UpdateID").ok()??;
    Uuid::parse_str(std::str::from_utf8(&attr.value).ok()?).ok()
}
