//! The AWS names `[sync] products` and `classifications` may use besides WSUS titles and GUIDs
//! (docs/baselines.md §2.3): AWS `PRODUCT` names, product families, AWS `CLASSIFICATION`
//! values, each with the category ids it stands for in a catalog's category tree. `catalog`
//! resolves configured names with this table; `upstream` builds it here and passes it in.

use super::catalog_facts::product_families;
use super::vocabulary;
use crate::model::{CategoryType, UpdateRecord};
use uuid::Uuid;

/// (name, category type, ids) for every AWS name that means something in `categories` (the
/// catalog's category records; other records are ignored):
///
/// - an AWS `PRODUCT` of the built-in alias table → the catalog's products with that GUID or
///   WSUS title (a name whose product the catalog lacks is left out, so it fails as unknown
///   with suggestions rather than sync nothing);
/// - a product family title (`Windows`, `Office`, …) → every product of that family;
/// - an AWS `CLASSIFICATION` value (`SecurityUpdates`) → its classification GUID.
pub fn sync_aliases(categories: &[UpdateRecord]) -> Vec<(String, CategoryType, Vec<Uuid>)> {
    let products: Vec<&UpdateRecord> = categories
        .iter()
        .filter(|r| r.category_type == Some(CategoryType::Product))
        .collect();
    let mut aliases = aws_products(&products);
    aliases.extend(families(categories));
    aliases.extend(
        vocabulary::CLASSIFICATIONS
            .iter()
            .map(|(aws, _, id)| (aws.to_string(), CategoryType::UpdateClassification, vec![*id])),
    );
    aliases
}

/// Built-in AWS product names with the products they name (several WSUS products may share
/// one AWS name, e.g. the two `Windows10` products).
fn aws_products(products: &[&UpdateRecord]) -> Vec<(String, CategoryType, Vec<Uuid>)> {
    let mut aliases: Vec<(String, CategoryType, Vec<Uuid>)> = Vec::new();
    for (title, guid, aws) in vocabulary::PRODUCT_ALIASES {
        let ids: Vec<Uuid> = products
            .iter()
            .filter(|p| Some(p.identity.update_id) == *guid || p.title.eq_ignore_ascii_case(title))
            .map(|p| p.identity.update_id)
            .collect();
        match aliases.iter_mut().find(|(name, _, _)| name == aws) {
            Some((_, _, known)) => known.extend(ids),
            None => aliases.push((aws.to_string(), CategoryType::Product, ids)),
        }
    }
    aliases.retain(|(_, _, ids)| !ids.is_empty());
    aliases
}

/// Product family titles with the products of each, in catalog order.
fn families(categories: &[UpdateRecord]) -> Vec<(String, CategoryType, Vec<Uuid>)> {
    let family_of = product_families(categories);
    let mut aliases: Vec<(String, CategoryType, Vec<Uuid>)> = Vec::new();
    for product in categories {
        let Some(family) = family_of.get(&product.identity.update_id) else {
            continue;
        };
        match aliases.iter_mut().find(|(name, _, _)| name == family) {
            Some((_, _, ids)) => ids.push(product.identity.update_id),
            None => aliases.push((
                family.clone(),
                CategoryType::Product,
                vec![product.identity.update_id],
            )),
        }
    }
    aliases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Prerequisite, UpdateIdentity, UpdateType};

    fn category(n: u128, kind: CategoryType, title: &str, parent: Option<u128>) -> UpdateRecord {
        let identity = UpdateIdentity {
            update_id: Uuid::from_u128(n),
            revision: 1,
        };
        let mut record = UpdateRecord::new(identity, UpdateType::Category);
        record.category_type = Some(kind);
        record.title = title.into();
        record.prerequisites = parent
            .map(|p| Prerequisite::AtLeastOne {
                ids: vec![Uuid::from_u128(p)],
                is_category: true,
            })
            .into_iter()
            .collect();
        record
    }

    fn ids_of<'a>(aliases: &'a [(String, CategoryType, Vec<Uuid>)], name: &str) -> Option<&'a [Uuid]> {
        aliases
            .iter()
            .find(|(alias, _, _)| alias == name)
            .map(|(_, _, ids)| ids.as_slice())
    }

    #[test]
    fn aws_products_families_and_classifications_name_catalog_categories() {
        let server_2022 = 0x71718f13_7324_4b0f_8f9e_2ca9dc978e53;
        let categories = vec![
            category(1, CategoryType::ProductFamily, "Windows", None),
            category(2, CategoryType::ProductFamily, "Office", None),
            category(
                server_2022,
                CategoryType::Product,
                "Microsoft Server operating system-21H2",
                Some(1),
            ),
            category(11, CategoryType::Product, "Windows 11", Some(1)),
            category(20, CategoryType::Product, "Office 2016", Some(2)),
        ];
        let aliases = sync_aliases(&categories);
        let id = Uuid::from_u128;
        assert_eq!(
            ids_of(&aliases, "WindowsServer2022"),
            Some(&[id(server_2022)][..])
        );
        assert_eq!(ids_of(&aliases, "Windows11"), Some(&[id(11)][..]), "by title");
        assert_eq!(ids_of(&aliases, "Windows"), Some(&[id(server_2022), id(11)][..]));
        assert_eq!(ids_of(&aliases, "Office"), Some(&[id(20)][..]));
        let security = id(0x0fa1201d_4330_4fa8_8ae9_b877473b6441);
        assert_eq!(ids_of(&aliases, "SecurityUpdates"), Some(&[security][..]));
        assert_eq!(ids_of(&aliases, "Windows7"), None, "not in this catalog");
    }
}
