//! Element skeletons with every value masked: names, nesting, order and attribute names only.
//! Used to hold a server's answer against a reference answer (a real capture or a template
//! known to work with Windows) without caring about ids, dates or cookies.

use crate::xml::Element;

/// The local names of an element's children, in order.
pub fn child_names(element: &Element) -> Vec<&str> {
    element.children.iter().map(|c| c.name.as_str()).collect()
}

/// Every element path under `element` (`a/b/c`), with `@attr` entries for attribute names.
pub fn paths(element: &Element) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    collect_paths(element, "", &mut out);
    out
}

fn collect_paths(element: &Element, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    let here = if prefix.is_empty() {
        element.name.clone()
    } else {
        format!("{prefix}/{}", element.name)
    };
    for (name, _) in &element.attrs {
        out.insert(format!("{here}/@{name}"));
    }
    for child in &element.children {
        collect_paths(child, &here, out);
    }
    out.insert(here);
}

/// A copy of `element` in which every descendant named `group` is replaced by its children:
/// for grouping elements such as `AtLeastOne`, which the update schema allows around the same
/// identities.
pub fn without_groups(element: &Element, group: &str) -> Element {
    let mut children = Vec::new();
    for child in &element.children {
        let child = without_groups(child, group);
        if child.name == group {
            children.extend(child.children);
        } else {
            children.push(child);
        }
    }
    Element {
        children,
        ..element.clone()
    }
}

/// Whether `reference`'s skeleton is found in `actual`: same name, every attribute name of the
/// reference present, and the reference's children found, in the same order, among `actual`'s
/// (extra children in `actual` are allowed). Below elements named in `opaque` nothing is compared.
/// Returns the path of the first reference element not found.
pub fn embeds(reference: &Element, actual: &Element, opaque: &[&str]) -> Result<(), String> {
    if reference.name != actual.name {
        return Err(format!(
            "<{}> where <{}> was expected",
            actual.name, reference.name
        ));
    }
    for (name, _) in &reference.attrs {
        if actual.attr(name).is_none() {
            return Err(format!("{}/@{name}", reference.name));
        }
    }
    if opaque.contains(&reference.name.as_str()) {
        return Ok(());
    }
    let mut candidates = actual.children.iter();
    for wanted in &reference.children {
        let found = candidates
            .by_ref()
            .any(|candidate| candidate.name == wanted.name && embeds(wanted, candidate, opaque).is_ok());
        if !found {
            let inner = actual
                .children
                .iter()
                .filter(|c| c.name == wanted.name)
                .find_map(|c| embeds(wanted, c, opaque).err())
                .unwrap_or_else(|| wanted.name.clone());
            return Err(format!("{}/{inner}", reference.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(xml: &str) -> Element {
        Element::parse(xml).expect("well-formed")
    }

    #[test]
    fn embedding_needs_names_order_and_attributes_but_not_values() {
        let reference = tree(r#"<a><b x="1"/><c><d/></c></a>"#);
        assert!(embeds(
            &reference,
            &tree(r#"<a><b x="9" y="2"/><e/><c><d>t</d></c></a>"#),
            &[]
        )
        .is_ok());
        assert!(embeds(&reference, &tree(r#"<a><c><d/></c><b x="1"/></a>"#), &[]).is_err());
        assert!(embeds(&reference, &tree(r#"<a><b/><c><d/></c></a>"#), &[]).is_err());
        let missing = embeds(&reference, &tree(r#"<a><b x="1"/><c><z/></c></a>"#), &[]);
        assert_eq!(missing, Err("a/c/d".to_owned()));
        assert!(embeds(&reference, &tree(r#"<a><b x="1"/><c><z/></c></a>"#), &["c"]).is_ok());
    }

    #[test]
    fn groups_are_looked_through_and_paths_list_attributes() {
        let grouped = tree(r#"<r><B><AtLeastOne><I id="1"/><I id="2"/></AtLeastOne></B></r>"#);
        let flat = without_groups(&grouped, "AtLeastOne");
        assert_eq!(flat, tree(r#"<r><B><I id="1"/><I id="2"/></B></r>"#));
        let listed: Vec<String> = paths(&flat).into_iter().collect();
        assert_eq!(listed, ["r", "r/B", "r/B/I", "r/B/I/@id"]);
        assert_eq!(child_names(&flat.children[0]), ["I", "I"]);
    }
}
