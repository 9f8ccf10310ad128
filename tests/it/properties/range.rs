//! HTTP ranges (`content::range`): arbitrary headers never panic and every range granted lies
//! in the file; a well-formed range set written in any of its equivalent forms (spaces, empty
//! list elements, leading zeros, open and suffix ranges, overlaps, any order) gets the same
//! answer as the canonical form of the bytes it asks for, worked out here independently;
//! `If-Range` matches only a strong tag or date equal to ours.

use super::{bodies, cases};
use proptest::prelude::*;
use wucache::content::range::{if_range_matches, parse_range, RangeRequest, MAX_RANGES};

/// One range spec, as its numbers.
#[derive(Debug, Clone, Copy)]
enum Spec {
    /// `first-last`, `first <= last`.
    Closed(u64, u64),
    /// `first-`.
    Open(u64),
    /// `-length`.
    Suffix(u64),
}

/// A number near the interesting points of a file of `size` bytes.
fn position(size: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..size.max(1),
        1 => Just(size),
        1 => Just(size.saturating_sub(1)),
        1 => size..=size.saturating_add(100),
        1 => Just(u64::MAX),
    ]
}

fn spec(size: u64) -> impl Strategy<Value = Spec> {
    prop_oneof![
        3 => (position(size), position(size)).prop_map(|(a, b)| Spec::Closed(a.min(b), a.max(b))),
        1 => position(size).prop_map(Spec::Open),
        1 => position(size).prop_map(Spec::Suffix),
    ]
}

/// The bytes a spec asks for in a file of `size` bytes, inclusive; `None` if none.
fn resolve(spec: Spec, size: u64) -> Option<(u64, u64)> {
    match spec {
        Spec::Closed(first, _) | Spec::Open(first) if first >= size => None,
        Spec::Closed(first, last) => Some((first, last.min(size - 1))),
        Spec::Open(first) => Some((first, size - 1)),
        Spec::Suffix(0) => None,
        Spec::Suffix(length) => Some((size - length.min(size), size - 1)),
    }
}

/// RFC 9110's answer (`Some(empty)` is a 416; an empty file has no satisfiable range), with
/// the amplification rule (more than `MAX_RANGES` specs, or several ranges adding up to more
/// than the file, get the whole file: `None`), as canonical ranges: sorted, merged where they
/// overlap or touch.
fn expected(specs: &[Spec], size: u64) -> Option<Vec<(u64, u64)>> {
    if size == 0 {
        return Some(Vec::new());
    }
    if specs.len() > MAX_RANGES {
        return None;
    }
    let mut ranges: Vec<(u64, u64)> = specs.iter().filter_map(|s| resolve(*s, size)).collect();
    let total: u128 = ranges.iter().map(|(a, b)| u128::from(b - a) + 1).sum();
    if ranges.len() > 1 && total > u128::from(size) {
        return None;
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Some(merged)
}

/// How a number is written: plain, with leading zeros.
fn write_number(n: u64, zeros: usize) -> String {
    format!("{}{n}", "0".repeat(zeros))
}

/// A spec as a client might write it.
fn write_spec(spec: Spec, zeros: usize) -> String {
    match spec {
        Spec::Closed(a, b) => format!("{}-{}", write_number(a, zeros), write_number(b, zeros)),
        Spec::Open(a) => format!("{}-", write_number(a, zeros)),
        Spec::Suffix(n) => format!("-{}", write_number(n, zeros)),
    }
}

/// Specs for one size, and how to write them: unit case, whitespace around elements, empty
/// list elements, leading zeros.
fn header_case() -> impl Strategy<Value = (u64, Vec<Spec>, Vec<(usize, &'static str)>, &'static str)> {
    prop_oneof![Just(0u64), 1u64..64, 1u64..10_000_000, Just(u64::MAX)].prop_flat_map(|size| {
        (
            Just(size),
            proptest::collection::vec(spec(size), 1..20),
            proptest::collection::vec(
                (
                    0usize..3,
                    prop_oneof![Just(""), Just(" "), Just("\t "), Just(", ")],
                ),
                20,
            ),
            prop_oneof![Just("bytes="), Just("Bytes ="), Just("BYTES= ")],
        )
    })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_headers_grant_only_ranges_in_the_file(data in proptest::collection::vec(any::<u8>(), 0..96)) {
        bodies::range(&data);
    }

    #[test]
    fn arbitrary_text_after_the_unit_grants_only_ranges_in_the_file(
        set in "[0-9, \t-]{0,40}",
        size in prop_oneof![Just(0u64), 0u64..1000, any::<u64>()],
    ) {
        bodies::check_range(&format!("bytes={set}"), size);
    }

    #[test]
    fn any_form_of_a_range_set_gets_the_answer_of_its_canonical_form(
        (size, specs, styles, unit) in header_case(),
    ) {
        let elements: Vec<String> = specs
            .iter()
            .zip(&styles)
            .map(|(spec, (zeros, space))| format!("{space}{}{space}", write_spec(*spec, *zeros)))
            .collect();
        let header = format!("{unit}{}", elements.join(","));
        let answer = bodies::check_range(&header, size);
        let expected = match expected(&specs, size) {
            None => RangeRequest::Whole,
            Some(ranges) if ranges.is_empty() => RangeRequest::Unsatisfiable,
            Some(ranges) => {
                let canonical: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
                let canonical = parse_range(Some(&format!("bytes={}", canonical.join(","))), size);
                // The canonical ranges' lengths are the model's, so the granted bytes are.
                let lengths: Vec<u64> = match &canonical {
                    RangeRequest::Single(r) => vec![r.length()],
                    RangeRequest::Multi(rs) => rs.iter().map(|r| r.length()).collect(),
                    other => panic!("the canonical form of {ranges:?} reads as {other:?}"),
                };
                let model: Vec<u64> = ranges.iter().map(|(a, b)| b - a + 1).collect();
                prop_assert_eq!(lengths, model);
                canonical
            }
        };
        prop_assert_eq!(answer, expected, "{}", header);
    }

    #[test]
    fn if_range_matches_only_an_equal_strong_tag_or_date(
        tag in "[A-Za-z0-9]{1,16}",
        other in "[A-Za-z0-9]{1,16}",
        date in "[A-Za-z0-9:, ]{1,29}",
        space in prop_oneof![Just(""), Just(" "), Just("\t")],
    ) {
        let ours = format!("\"{tag}\"");
        let padded = format!("{space}{ours}{space}");
        let weak = format!("W/{ours}");
        prop_assert!(if_range_matches(&padded, &ours, &date));
        prop_assert!(!if_range_matches(&weak, &ours, &date));
        prop_assert!(!if_range_matches(&ours, &weak, &date));
        prop_assert_eq!(if_range_matches(&format!("\"{other}\""), &ours, &date), other == tag);
        let date = date.trim_matches([' ', '\t']).to_string();
        prop_assume!(!date.is_empty() && !date.starts_with("W/"));
        prop_assert!(if_range_matches(&date, &ours, &date));
        prop_assert!(!if_range_matches("", &ours, ""));
    }
}
