//! Pure catalog rules that need more than one document: which categories an update belongs to
//! (products and classifications from its prerequisite clauses, docs/protocol.md §9), what bundle
//! members inherit from their bundle, and how configured product/classification names map to
//! category ids. Uses only `model`: names from other vocabularies (the AWS product and
//! classification names) come in as an alias table from the caller, see `Aliases`.

use crate::model::{CategoryType, UpdateRecord};
use std::collections::HashMap;
use uuid::Uuid;

/// Category id → its type, for the categories the store holds.
pub(crate) type CategoryTypes = HashMap<Uuid, CategoryType>;

/// Fills `products` and `classifications` from the update's prerequisite clauses.
///
/// `IsCategory="true"` clauses are authoritative. Documents without any (hidden bundles,
/// bundle members) may name their product and classification in plain `AtLeastOne` clauses;
/// those count only where every id in the clause is a known product or classification.
pub(crate) fn assign_categories(record: &mut UpdateRecord, categories: &CategoryTypes) {
    if record.update_type.is_config() {
        return;
    }
    let has_category_clauses = record.category_clause_ids(true).next().is_some();
    let ids: Vec<Uuid> = if has_category_clauses {
        record.category_clause_ids(true).collect()
    } else {
        record
            .category_clause_ids(false)
            .filter(|id| match categories.get(id) {
                Some(kind) => matches!(kind, CategoryType::Product | CategoryType::UpdateClassification),
                None => crate::model::is_known_classification(id),
            })
            .collect()
    };
    let (products, classifications) = split_by_type(&ids, categories);
    record.products = products.into();
    record.classifications = classifications.into();
}

/// Splits category ids into (products, classifications). An id the category sync has not
/// seen is a classification when it is one of Microsoft's published classification GUIDs,
/// else a product.
fn split_by_type(ids: &[Uuid], categories: &CategoryTypes) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut products = Vec::new();
    let mut classifications = Vec::new();
    for id in ids {
        let is_classification = match categories.get(id) {
            Some(kind) => *kind == CategoryType::UpdateClassification,
            None => crate::model::is_known_classification(id),
        };
        let target = if is_classification {
            &mut classifications
        } else {
            &mut products
        };
        if !target.contains(id) {
            target.push(*id);
        }
    }
    (products, classifications)
}

/// Gives a bundle member the bundle's products and classifications where it has none of its
/// own. Returns true when the member changed.
pub(crate) fn inherit_from_bundle(member: &mut UpdateRecord, bundle: &UpdateRecord) -> bool {
    let mut changed = false;
    for (own, theirs) in [
        (&mut member.products, &bundle.products),
        (&mut member.classifications, &bundle.classifications),
    ] {
        if own.is_empty() && !theirs.is_empty() {
            own.clone_from(theirs);
            changed = true;
        }
    }
    changed
}

/// A configured name that matched nothing, with the closest names that would have matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is neither a GUID nor the name of a known {kind}{}", did_you_mean(.suggestions))]
pub struct UnknownCategory {
    /// The name as configured.
    pub name: String,
    /// `product` or `classification`.
    pub kind: &'static str,
    /// The closest known titles and other names, closest first (at most three).
    pub suggestions: Vec<String>,
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
    format!("; did you mean {}?", quoted.join(", "))
}

/// Other names configured products and classifications may go by: (name, category type, the
/// category ids it stands for). `catalog` has no vocabulary of its own; the caller passes it
/// in (`upstream` passes the AWS Patch Manager names and product families that `approval`
/// derives from the category tree), so this module still uses only `model`.
pub(crate) type Aliases = [Alias];

/// One other name: (name, category type, the category ids it stands for).
pub(crate) type Alias = (String, CategoryType, Vec<Uuid>);

/// A stored category: (id, type, title).
pub(crate) type KnownCategory = (Uuid, CategoryType, String);

/// Resolves configured names (GUIDs, titles, other names from `aliases`, or `all`) against
/// the catalog's categories of `wanted` type. `known` lists (id, type, title) of every stored
/// category. For classifications `all` also covers Microsoft's published list, whether synced
/// or not. A name that matches nothing is an error listing the closest known names.
pub(crate) fn resolve_names(
    names: &[String],
    wanted: CategoryType,
    known: &[KnownCategory],
    aliases: &Aliases,
) -> Result<Vec<Uuid>, UnknownCategory> {
    let of_type = || known.iter().filter(|(_, t, _)| *t == wanted);
    let aliases_of_type = || aliases.iter().filter(|(_, t, _)| *t == wanted);
    let mut ids = Vec::new();
    for name in names {
        let name = name.trim();
        if name.eq_ignore_ascii_case("all") {
            ids.extend(of_type().map(|(id, _, _)| *id));
            if wanted == CategoryType::UpdateClassification {
                ids.extend(
                    crate::model::CLASSIFICATIONS
                        .iter()
                        .filter_map(|(_, id)| Uuid::parse_str(id).ok()),
                );
            }
            continue;
        }
        let found = Uuid::parse_str(name).ok().map(|id| vec![id]).or_else(|| {
            of_type()
                .find(|(_, _, title)| title.eq_ignore_ascii_case(name))
                .map(|(id, _, _)| vec![*id])
        });
        let found = found.or_else(|| {
            aliases_of_type()
                .find(|(alias, _, _)| alias.eq_ignore_ascii_case(name))
                .map(|(_, _, ids)| ids.clone())
        });
        let found = found.or_else(|| fallback_classification(name, wanted).map(|id| vec![id]));
        match found {
            Some(found) => ids.extend(found),
            None => {
                let candidates = of_type()
                    .map(|(_, _, title)| title.as_str())
                    .chain(aliases_of_type().map(|(alias, _, _)| alias.as_str()))
                    .chain(fallback_titles(wanted));
                return Err(UnknownCategory {
                    name: name.to_string(),
                    kind: kind_name(wanted),
                    suggestions: crate::model::closest_names(name, candidates, SUGGESTIONS, 0.0),
                });
            }
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// How many names a "did you mean" lists.
const SUGGESTIONS: usize = 3;

/// Classification titles that resolve before any category sync (see `fallback_classification`).
fn fallback_titles<'a>(wanted: CategoryType) -> impl Iterator<Item = &'a str> {
    let titles: &[(&str, &str)] = if wanted == CategoryType::UpdateClassification {
        crate::model::CLASSIFICATIONS
    } else {
        &[]
    };
    titles.iter().map(|(title, _)| *title)
}

/// Classification titles resolve even before the first category sync: the GUIDs are fixed.
fn fallback_classification(name: &str, wanted: CategoryType) -> Option<Uuid> {
    (wanted == CategoryType::UpdateClassification)
        .then(|| crate::model::classification_by_title(name))
        .flatten()
}

fn kind_name(kind: CategoryType) -> &'static str {
    match kind {
        CategoryType::UpdateClassification => "classification",
        CategoryType::Product => "product",
        _ => "category",
    }
}

/// What a downstream server asked GetRevisionIdList for (MS-WSUSSS `ServerSyncFilter`).
#[derive(Debug, Clone, Default)]
pub(crate) struct DownstreamFilter<'a> {
    /// The categories phase: categories, classifications and detectoids.
    pub(crate) get_config: bool,
    /// Products with their `Delta`.
    pub(crate) products: &'a [(Uuid, bool)],
    /// Classifications with their `Delta`.
    pub(crate) classifications: &'a [(Uuid, bool)],
    /// A language asked with `Delta=false` (list everything matching again).
    pub(crate) language_resend: bool,
}

/// The revisions a WSUS upstream lists for `filter` (docs/protocol.md §8.2, observed on WSUS):
/// the categories phase lists every category, classification and detectoid; the updates
/// phase lists each software or driver update in ≥1 listed product **and** ≥1 listed
/// classification (one list without the other: nothing; neither: everything), with the
/// members of listed bundles. With `since` (the local id an anchor recorded), only revisions
/// stored since — except that an id asked with `Delta=false` lists its updates again.
/// Expired revisions are listed as WSUS lists them. Sorted by local id.
pub(crate) fn downstream_revisions(
    records: &[UpdateRecord],
    filter: &DownstreamFilter<'_>,
    since: Option<i32>,
) -> Vec<crate::model::UpdateIdentity> {
    let is_new = |record: &UpdateRecord| since.is_none_or(|since| record.local_id >= since);
    let mut chosen: Vec<&UpdateRecord> = if filter.get_config {
        records
            .iter()
            .filter(|r| r.update_type.is_config() && is_new(r))
            .collect()
    } else {
        let listed = records
            .iter()
            .filter(|r| !r.update_type.is_config())
            .filter_map(|r| matching(r, filter).map(|resend| (r, resend)))
            .filter(|(r, resend)| *resend || is_new(r))
            .map(|(r, _)| r);
        with_bundle_members(records, listed.collect())
    };
    chosen.sort_by_key(|r| r.local_id);
    chosen.dedup_by_key(|r| r.local_id);
    chosen.into_iter().map(|r| r.identity).collect()
}

/// `Some(resend)` when `record` matches the filter, `resend` true when a matching id (or a
/// language) was asked with `Delta=false`.
fn matching(record: &UpdateRecord, filter: &DownstreamFilter<'_>) -> Option<bool> {
    match (filter.products.is_empty(), filter.classifications.is_empty()) {
        (true, true) => return Some(filter.language_resend),
        (true, false) | (false, true) => return None,
        (false, false) => {}
    }
    let hits = |asked: &[(Uuid, bool)], held: &[Uuid]| -> Vec<bool> {
        asked
            .iter()
            .filter(|(id, _)| held.contains(id))
            .map(|(_, delta)| *delta)
            .collect()
    };
    let products = hits(filter.products, &record.products);
    let classifications = hits(filter.classifications, &record.classifications);
    if products.is_empty() || classifications.is_empty() {
        return None;
    }
    let resend = filter.language_resend || products.iter().chain(&classifications).any(|delta| !delta);
    Some(resend)
}

/// `listed` and, transitively, the latest revisions of the members of listed bundles.
fn with_bundle_members<'a>(
    records: &'a [UpdateRecord],
    listed: Vec<&'a UpdateRecord>,
) -> Vec<&'a UpdateRecord> {
    let by_id: HashMap<Uuid, &UpdateRecord> = records.iter().map(|r| (r.identity.update_id, r)).collect();
    let mut seen: std::collections::HashSet<Uuid> = listed.iter().map(|r| r.identity.update_id).collect();
    let mut out = listed;
    let mut next = 0;
    while next < out.len() {
        let bundle = out[next];
        next += 1;
        for member in &bundle.bundled {
            if seen.insert(member.update_id) {
                if let Some(record) = by_id.get(&member.update_id) {
                    out.push(record);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Prerequisite, UpdateIdentity, UpdateType};

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn software(prerequisites: Vec<Prerequisite>) -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: id(99),
            revision: 1,
        };
        UpdateRecord {
            prerequisites: prerequisites.into(),
            ..UpdateRecord::new(identity, UpdateType::Software)
        }
    }

    fn categories() -> CategoryTypes {
        HashMap::from([
            (id(1), CategoryType::Product),
            (id(2), CategoryType::UpdateClassification),
            (id(3), CategoryType::Company),
        ])
    }

    #[test]
    fn is_category_clauses_decide() {
        let mut record = software(vec![
            Prerequisite::Required(id(50)),
            Prerequisite::AtLeastOne {
                ids: vec![id(2)],
                is_category: true,
            },
            Prerequisite::AtLeastOne {
                ids: vec![id(1)],
                is_category: true,
            },
        ]);
        assign_categories(&mut record, &categories());
        assert_eq!(record.products, vec![id(1)].into());
        assert_eq!(record.classifications, vec![id(2)].into());
    }

    #[test]
    fn unknown_ids_are_classifications_only_when_microsoft_publishes_them() {
        let security = Uuid::parse_str("0fa1201d-4330-4fa8-8ae9-b877473b6441").unwrap();
        let mut record = software(vec![
            Prerequisite::AtLeastOne {
                ids: vec![security],
                is_category: true,
            },
            Prerequisite::AtLeastOne {
                ids: vec![id(42)],
                is_category: true,
            },
        ]);
        assign_categories(&mut record, &CategoryTypes::new());
        assert_eq!(record.classifications, vec![security].into());
        assert_eq!(record.products, vec![id(42)].into());
    }

    #[test]
    fn hidden_bundles_use_plain_clauses_naming_known_categories() {
        let mut record = software(vec![
            Prerequisite::AtLeastOne {
                ids: vec![id(2)],
                is_category: false,
            },
            Prerequisite::AtLeastOne {
                ids: vec![id(1)],
                is_category: false,
            },
            Prerequisite::AtLeastOne {
                ids: vec![id(77)],
                is_category: false,
            },
        ]);
        assign_categories(&mut record, &categories());
        assert_eq!(record.products, vec![id(1)].into());
        assert_eq!(record.classifications, vec![id(2)].into());
    }

    #[test]
    fn members_inherit_only_what_they_lack() {
        let mut bundle = software(vec![]);
        bundle.products = vec![id(1)].into();
        bundle.classifications = vec![id(2)].into();
        let mut member = software(vec![]);
        member.products = vec![id(5)].into();
        assert!(inherit_from_bundle(&mut member, &bundle));
        assert_eq!(member.products, vec![id(5)].into());
        assert_eq!(member.classifications, vec![id(2)].into());
        assert!(!inherit_from_bundle(&mut member, &bundle));
    }

    #[test]
    fn names_resolve_by_guid_title_or_all() {
        let known = vec![
            (id(1), CategoryType::Product, "Windows 11".to_string()),
            (id(4), CategoryType::Product, "Office".to_string()),
        ];
        let ids = resolve_names(&["windows 11".into()], CategoryType::Product, &known, &[]).unwrap();
        assert_eq!(ids, vec![id(1)]);
        let all = resolve_names(&["all".into()], CategoryType::Product, &known, &[]).unwrap();
        assert_eq!(all, vec![id(1), id(4)]);
        let err = resolve_names(&["Windows 95".into()], CategoryType::Product, &known, &[]).unwrap_err();
        assert_eq!(err.kind, "product");
        let security = resolve_names(
            &["Security Updates".into()],
            CategoryType::UpdateClassification,
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(security[0].to_string(), "0fa1201d-4330-4fa8-8ae9-b877473b6441");
    }

    /// What `upstream` passes in: AWS names and product families (here by hand).
    fn aws_aliases() -> Vec<(String, CategoryType, Vec<Uuid>)> {
        vec![
            ("WindowsServer2022".into(), CategoryType::Product, vec![id(7)]),
            ("Windows".into(), CategoryType::Product, vec![id(1), id(7)]),
            (
                "SecurityUpdates".into(),
                CategoryType::UpdateClassification,
                vec![id(2)],
            ),
        ]
    }

    fn server_catalog() -> Vec<(Uuid, CategoryType, String)> {
        vec![
            (id(1), CategoryType::Product, "Windows 11".to_string()),
            (
                id(7),
                CategoryType::Product,
                "Microsoft Server operating system-21H2".to_string(),
            ),
            (id(8), CategoryType::Product, "Windows Server 2019".to_string()),
            (id(9), CategoryType::Product, "Office 2016".to_string()),
        ]
    }

    #[test]
    fn an_aws_product_name_resolves_to_its_wsus_product() {
        let ids = resolve_names(
            &["WindowsServer2022".into()],
            CategoryType::Product,
            &server_catalog(),
            &aws_aliases(),
        )
        .unwrap();
        assert_eq!(ids, vec![id(7)]);
    }

    #[test]
    fn a_product_family_resolves_to_every_product_in_it() {
        let ids = resolve_names(
            &["windows".into(), "Office 2016".into()],
            CategoryType::Product,
            &server_catalog(),
            &aws_aliases(),
        )
        .unwrap();
        assert_eq!(ids, vec![id(1), id(7), id(9)]);
    }

    #[test]
    fn aliases_of_the_other_kind_do_not_resolve() {
        let err = resolve_names(
            &["SecurityUpdates".into()],
            CategoryType::Product,
            &server_catalog(),
            &aws_aliases(),
        )
        .unwrap_err();
        assert_eq!(err.kind, "product");
        let ids = resolve_names(
            &["SecurityUpdates".into()],
            CategoryType::UpdateClassification,
            &[],
            &aws_aliases(),
        )
        .unwrap();
        assert_eq!(ids, vec![id(2)]);
    }

    #[test]
    fn an_unknown_name_suggests_the_closest_titles_and_aws_names() {
        let err = resolve_names(
            &["Windows Server 2022".into()],
            CategoryType::Product,
            &server_catalog(),
            &aws_aliases(),
        )
        .unwrap_err();
        assert_eq!(err.suggestions[0], "WindowsServer2022");
        assert_eq!(err.suggestions[1], "Windows Server 2019");
        assert_eq!(err.suggestions.len(), 3);
        let message = err.to_string();
        assert!(
            message.starts_with("`Windows Server 2022` is neither a GUID nor the name of a known product; did you mean `WindowsServer2022`, `Windows Server 2019`"),
            "{message}"
        );
        let err = resolve_names(
            &["Security Update".into()],
            CategoryType::UpdateClassification,
            &[],
            &aws_aliases(),
        )
        .unwrap_err();
        assert_eq!(err.suggestions[0], "Security Updates", "{err}");
    }

    fn listed(local_id: i32, products: &[u128], classes: &[u128], bundled: &[u128]) -> UpdateRecord {
        UpdateRecord {
            local_id,
            products: products.iter().map(|n| id(*n)).collect(),
            classifications: classes.iter().map(|n| id(*n)).collect(),
            bundled: bundled
                .iter()
                .map(|n| UpdateIdentity {
                    update_id: id(*n),
                    revision: 1,
                })
                .collect(),
            ..UpdateRecord::new(
                UpdateIdentity {
                    update_id: id(1000 + local_id as u128),
                    revision: 1,
                },
                UpdateType::Software,
            )
        }
    }

    fn local_ids(list: &[UpdateIdentity]) -> Vec<u128> {
        list.iter().map(|i| i.update_id.as_u128() - 1000).collect()
    }

    #[test]
    fn downstream_filters_follow_what_wsus_was_seen_to_do() {
        let mut member = listed(4, &[], &[], &[]);
        member.identity.update_id = id(77);
        let mut category = listed(5, &[], &[], &[]);
        category.update_type = UpdateType::Category;
        let records = vec![
            listed(1, &[1], &[2], &[]),
            listed(2, &[1], &[20], &[]),
            listed(3, &[10], &[2], &[77]),
            member,
            category,
        ];
        let both = DownstreamFilter {
            products: &[(id(1), false), (id(10), false)],
            classifications: &[(id(2), false)],
            ..DownstreamFilter::default()
        };
        // In a listed product and a listed classification; bundle 3 brings its member 77.
        let got = downstream_revisions(&records, &both, None);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].update_id, id(77));
        // One list without the other: nothing. Neither: every update (no categories).
        let one = DownstreamFilter {
            products: &[(id(1), false)],
            ..DownstreamFilter::default()
        };
        assert!(downstream_revisions(&records, &one, None).is_empty());
        assert_eq!(
            downstream_revisions(&records, &DownstreamFilter::default(), None).len(),
            4
        );
        // The categories phase lists categories only.
        let config = DownstreamFilter {
            get_config: true,
            ..DownstreamFilter::default()
        };
        assert_eq!(local_ids(&downstream_revisions(&records, &config, None)), vec![5]);
        assert!(downstream_revisions(&records, &config, Some(6)).is_empty());
        // Since an anchor: Delta=true lists only what is new, Delta=false everything again.
        let delta = DownstreamFilter {
            products: &[(id(1), true)],
            classifications: &[(id(2), true), (id(20), true)],
            ..DownstreamFilter::default()
        };
        assert_eq!(
            local_ids(&downstream_revisions(&records, &delta, Some(2))),
            vec![2]
        );
        let resend = DownstreamFilter {
            products: &[(id(1), false)],
            classifications: &[(id(2), true), (id(20), true)],
            ..DownstreamFilter::default()
        };
        assert_eq!(
            local_ids(&downstream_revisions(&records, &resend, Some(2))),
            vec![1, 2]
        );
        let language = DownstreamFilter {
            language_resend: true,
            ..delta.clone()
        };
        assert_eq!(
            local_ids(&downstream_revisions(&records, &language, Some(2))),
            vec![1, 2]
        );
    }
}
