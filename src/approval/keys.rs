//! The keys a baseline document knows where, read off the serde shapes `parse` reads it into
//! (so the lists cannot drift from them), and the known key closest to an unknown one: a
//! misspelt `ApproveAfterDay` is reported as "did you mean ApproveAfterDays?". Pure.

use super::parse::{
    RawApprovalRules, RawBaseline, RawFilter, RawFilterGroup, RawRule, RawWindow, IGNORED_BASELINE_FIELDS,
    IGNORED_WINDOW_FIELDS,
};
use serde::de::{DeserializeOwned, Visitor};

/// How alike (0–1, see `model::closest_names`) a known key must be to be suggested.
const MIN_SIMILARITY: f64 = 0.7;

/// The known key closest to the unknown key at `path` in a baseline document, judged among
/// the keys of the object it sits in (a rule, a filter, the baseline …).
pub(super) fn baseline_suggestion(path: &str) -> Option<String> {
    let (parent, key) = split(path);
    let mut known: Vec<&str> = match parent {
        "PatchRules" => fields_of::<RawRule>().to_vec(),
        "PatchFilters" => fields_of::<RawFilter>().to_vec(),
        "PatchFilterGroup" | "GlobalFilters" => fields_of::<RawFilterGroup>().to_vec(),
        "ApprovalRules" => fields_of::<RawApprovalRules>().to_vec(),
        _ => fields_of::<RawBaseline>()
            .iter()
            .chain(IGNORED_BASELINE_FIELDS)
            .copied()
            .collect(),
    };
    if parent == "PatchRules" {
        known.push("EnableNonSecurity");
    }
    closest(key, known)
}

/// The known key closest to an unknown key of a `[[maintenance_window]]`.
pub(super) fn window_suggestion(path: &str) -> Option<String> {
    let (_, key) = split(path);
    closest(
        key,
        fields_of::<RawWindow>()
            .iter()
            .chain(IGNORED_WINDOW_FIELDS)
            .copied(),
    )
}

fn closest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    crate::model::closest_names(key, known, 1, MIN_SIMILARITY).pop()
}

/// (the name of the object holding the last key, without its index; the last key).
fn split(path: &str) -> (&str, &str) {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let parent = parent.rsplit('.').next().unwrap_or("");
    let parent = parent.split_once('[').map_or(parent, |(name, _)| name);
    (parent, key)
}

/// The field names serde's derive hands `deserialize_struct` for `T`, as the document spells
/// them (renames applied).
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut capture = FieldNames(&[]);
    let _ = T::deserialize(&mut capture);
    capture.0
}

/// A deserializer that only listens for a struct's field names, then stops.
struct FieldNames(&'static [&'static str]);

impl<'de> serde::Deserializer<'de> for &mut FieldNames {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only a struct names its fields"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(serde::de::Error::custom("fields noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_read_off_the_serde_shapes_as_documents_spell_them() {
        assert_eq!(
            fields_of::<RawFilter>(),
            ["Key", "Values"],
            "PascalCase renames applied"
        );
        assert!(fields_of::<RawBaseline>().contains(&"ApprovedPatchesComplianceLevel"));
    }

    #[test]
    fn a_misspelt_key_is_matched_among_the_keys_of_its_own_object() {
        let suggest = baseline_suggestion;
        assert_eq!(
            suggest("ApprovalRules.PatchRules[0].ApproveAfterDay").as_deref(),
            Some("ApproveAfterDays")
        );
        assert_eq!(
            suggest("ApprovalRules.PatchRules[2].complianceLevel").as_deref(),
            Some("ComplianceLevel")
        );
        assert_eq!(
            suggest("GlobalFilters.PatchFilters[0].Value").as_deref(),
            Some("Values")
        );
        assert_eq!(suggest("RejectedPatch").as_deref(), Some("RejectedPatches"));
        assert_eq!(
            suggest("Sorces").as_deref(),
            Some("Sources"),
            "ignored AWS keys count"
        );
        assert_eq!(
            suggest("ApprovalRules.PatchRules[0].Name"),
            None,
            "a baseline key is no rule key"
        );
        assert_eq!(suggest("Colour"), None, "nothing alike");
        assert_eq!(window_suggestion("Shedule").as_deref(), Some("Schedule"));
    }
}
