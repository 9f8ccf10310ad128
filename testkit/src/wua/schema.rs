//! Reading answer elements the way the published WSDL declares them: every complex type is an
//! `xs:sequence`, so its children must come in the declared order, each as often as its
//! `minOccurs`/`maxOccurs` allow, and nothing else may appear. A reply that a .NET-style reader
//! would reject is an error here too, rather than silently read.

use uuid::Uuid;

use super::WuaError;
use crate::xml::Element;

/// How often a sequence member may occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occurs {
    /// `minOccurs="1" maxOccurs="1"`.
    One,
    /// `minOccurs="0" maxOccurs="1"`.
    Optional,
    /// `minOccurs="0" maxOccurs="unbounded"`.
    Many,
}

/// Checks that `element`'s children follow `sequence` (names in declared order).
pub(crate) fn check_sequence(
    element: &Element,
    path: &str,
    sequence: &[(&str, Occurs)],
) -> Result<(), WuaError> {
    let mut children = element.children.iter().peekable();
    for (name, occurs) in sequence {
        let mut seen = 0;
        while children.peek().is_some_and(|child| child.name == *name) {
            children.next();
            seen += 1;
        }
        match (occurs, seen) {
            (Occurs::One, 0) => return Err(WuaError::Missing(join(path, name))),
            (Occurs::One | Occurs::Optional, 2..) => {
                return Err(WuaError::Shape {
                    path: join(path, name),
                    found: format!("{seen} occurrences"),
                })
            }
            _ => {}
        }
    }
    match children.next() {
        Some(extra) => Err(WuaError::Shape {
            path: path.to_owned(),
            found: format!("unexpected or misplaced <{}>", extra.name),
        }),
        None => Ok(()),
    }
}

/// `parent/name`.
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// The element must have this local name.
pub(crate) fn expect_name(element: &Element, name: &str) -> Result<(), WuaError> {
    if element.name == name {
        return Ok(());
    }
    Err(WuaError::Shape {
        path: name.to_owned(),
        found: format!("<{}>", element.name),
    })
}

/// The child that a checked sequence says is there.
pub(crate) fn required<'a>(element: &'a Element, name: &str, path: &str) -> Result<&'a Element, WuaError> {
    element
        .child(name)
        .ok_or_else(|| WuaError::Missing(join(path, name)))
}

/// A child's trimmed text, when the child is present.
pub(crate) fn text_of(element: &Element, name: &str) -> Option<String> {
    element.child(name).map(|child| child.trimmed().to_owned())
}

/// A required child's trimmed text.
pub(crate) fn required_text(element: &Element, name: &str, path: &str) -> Result<String, WuaError> {
    Ok(required(element, name, path)?.trimmed().to_owned())
}

/// An `xs:boolean` (`true`, `false`, `1`, `0`).
pub(crate) fn boolean(element: &Element, path: &str) -> Result<bool, WuaError> {
    match element.trimmed() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(invalid(path, other)),
    }
}

/// A required boolean child.
pub(crate) fn required_bool(element: &Element, name: &str, path: &str) -> Result<bool, WuaError> {
    boolean(required(element, name, path)?, &join(path, name))
}

/// An optional boolean child.
pub(crate) fn optional_bool(element: &Element, name: &str, path: &str) -> Result<Option<bool>, WuaError> {
    element
        .child(name)
        .map(|child| boolean(child, &join(path, name)))
        .transpose()
}

/// An `xs:int` (or other number) in an element's text.
pub(crate) fn number<T: std::str::FromStr>(element: &Element, path: &str) -> Result<T, WuaError> {
    let text = element.trimmed();
    text.parse().map_err(|_| invalid(path, text))
}

/// A required numeric child.
pub(crate) fn required_number<T: std::str::FromStr>(
    element: &Element,
    name: &str,
    path: &str,
) -> Result<T, WuaError> {
    number(required(element, name, path)?, &join(path, name))
}

/// The items of an `ArrayOfX` child (absent = empty): every child must be an `item` element.
pub(crate) fn array<'a>(
    element: &'a Element,
    name: &str,
    item: &str,
    path: &str,
) -> Result<Vec<&'a Element>, WuaError> {
    let Some(array) = element.child(name) else {
        return Ok(Vec::new());
    };
    let path = join(path, name);
    check_sequence(array, &path, &[(item, Occurs::Many)])?;
    Ok(array.children.iter().collect())
}

/// An `ArrayOfInt` child (items `int`).
pub(crate) fn int_array(element: &Element, name: &str, path: &str) -> Result<Vec<i32>, WuaError> {
    let path = join(path, name);
    array(element, name, "int", "")?
        .into_iter()
        .map(|item| number(item, &path))
        .collect()
}

/// An `ArrayOfGuid` child (items `guid`).
pub(crate) fn guid_array(element: &Element, name: &str, path: &str) -> Result<Vec<Uuid>, WuaError> {
    let path = join(path, name);
    array(element, name, "guid", "")?
        .into_iter()
        .map(|item| guid(item.trimmed(), &path))
        .collect()
}

/// A GUID in any letter case.
pub(crate) fn guid(text: &str, path: &str) -> Result<Uuid, WuaError> {
    Uuid::parse_str(text).map_err(|_| invalid(path, text))
}

pub(crate) fn invalid(path: &str, value: &str) -> WuaError {
    WuaError::Invalid {
        path: path.to_owned(),
        value: value.chars().take(80).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(xml: &str) -> Element {
        Element::parse(xml).expect("well-formed")
    }

    const COOKIE: [(&str, Occurs); 2] = [("Expiration", Occurs::One), ("EncryptedData", Occurs::Optional)];

    #[test]
    fn sequences_follow_the_declared_order_and_counts() {
        let ok = element("<c><Expiration/><EncryptedData/></c>");
        assert!(check_sequence(&ok, "c", &COOKIE).is_ok());
        assert!(check_sequence(&element("<c><Expiration/></c>"), "c", &COOKIE).is_ok());
        let missing = check_sequence(&element("<c><EncryptedData/></c>"), "c", &COOKIE);
        assert!(matches!(missing, Err(WuaError::Missing(path)) if path == "c/Expiration"));
        let swapped = element("<c><EncryptedData/><Expiration/></c>");
        assert!(check_sequence(&swapped, "c", &COOKIE).is_err());
        let twice = element("<c><Expiration/><Expiration/></c>");
        assert!(check_sequence(&twice, "c", &COOKIE).is_err());
        let extra = element("<c><Expiration/><Other/></c>");
        assert!(check_sequence(&extra, "c", &COOKIE).is_err());
    }

    #[test]
    fn values_and_arrays_are_read_strictly() {
        let el = element("<r><a>true</a><b> 0 </b><n>-7</n><ids><int>1</int><int>2</int></ids><bad><long>1</long></bad></r>");
        assert!(required_bool(&el, "a", "r").unwrap());
        assert!(!required_bool(&el, "b", "r").unwrap());
        assert!(required_bool(&el, "n", "r").is_err());
        assert_eq!(required_number::<i32>(&el, "n", "r").unwrap(), -7);
        assert_eq!(int_array(&el, "ids", "r").unwrap(), vec![1, 2]);
        assert_eq!(int_array(&el, "absent", "r").unwrap(), Vec::<i32>::new());
        assert!(int_array(&el, "bad", "r").is_err());
        assert!(optional_bool(&el, "absent", "r").unwrap().is_none());
    }
}
