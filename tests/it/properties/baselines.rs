//! Baselines (`approval`): arbitrary text never panics and is refused with a message; the AWS
//! JSON fixtures with a field removed or given a wrong value (deep nesting included) load or
//! are refused naming a path on the way to that field; the sample `baselines.toml` with keys left
//! out, wrong values or cut short loads or is refused with a message.

use super::config::{hostile_toml_value, without_comments};
use super::{bodies, cases, fixture, fixtures_ending};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use wucache::approval::{Baseline, BaselineSet};

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_text_is_loaded_or_refused_with_a_message(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        bodies::baselines(&data);
    }
}

/// Where a value sits in a JSON document: keys and indices from the root.
type JsonPath = Vec<Value>;

/// Every path in `value`, the root first.
fn paths(value: &Value) -> Vec<JsonPath> {
    let mut out = vec![Vec::new()];
    let children: Vec<(Value, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (json!(k), v)).collect(),
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (json!(i), v)).collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        out.extend(paths(child).into_iter().map(|mut path| {
            path.insert(0, step.clone());
            path
        }));
    }
    out
}

fn at_mut<'a>(value: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |value, step| match step {
        Value::String(key) => value.get_mut(key.as_str()),
        Value::Number(index) => value.get_mut(index.as_u64()? as usize),
        _ => None,
    })
}

/// A path as the loader writes it: `ApprovalRules.PatchRules[0].ApproveAfterDays`.
fn dotted(path: &[Value]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Value::String(key) if out.is_empty() => out.push_str(key),
            Value::String(key) => {
                out.push('.');
                out.push_str(key);
            }
            other => out.push_str(&format!("[{other}]")),
        }
    }
    out
}

/// A JSON value that is wrong for most fields.
fn hostile_json() -> impl Strategy<Value = Value> {
    let fixed = vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5),
        json!(""),
        json!(" "),
        json!("not-a-date"),
        json!("9999-99-99"),
        json!("KB"),
        json!("*"),
        json!([]),
        json!([null]),
        json!({}),
        json!({"Key": "PRODUCT"}),
        json!("x".repeat(10_000)),
    ];
    prop_oneof![
        6 => proptest::sample::select(fixed),
        1 => (1usize..300).prop_map(|depth| (0..depth).fold(json!(1), |inner, _| json!([inner]))),
        1 => "[A-Za-z0-9_*-]{0,12}".prop_map(Value::String),
    ]
}

/// One change to a JSON document.
#[derive(Debug, Clone)]
enum JsonChange {
    Remove(usize),
    Replace(usize, Value),
}

#[test]
fn aws_json_with_a_wrong_field_is_loaded_or_refused_naming_a_path_to_it() {
    let mut documents: Vec<Value> = fixtures_ending("baselines", ".json")
        .into_iter()
        .map(|(_, text)| serde_json::from_str(&text).unwrap())
        .collect();
    documents.push(serde_json::from_str(&fixture("/config/baselines/os-and-apps.json")).unwrap());
    // The BaselineOverride array has no Name, so it loads only with an id from a TOML file.
    documents.retain(|document| Baseline::from_json(&document.to_string()).is_ok());
    assert!(
        documents.len() >= 4,
        "{} AWS JSON fixtures load alone",
        documents.len()
    );
    let change = prop_oneof![
        any::<usize>().prop_map(JsonChange::Remove),
        (any::<usize>(), hostile_json()).prop_map(|(at, v)| JsonChange::Replace(at, v)),
    ];
    let refused = std::cell::Cell::new(0);
    TestRunner::new(cases(256))
        .run(&(0..documents.len(), change), |(document, change)| {
            let mut value = documents[document].clone();
            let all = paths(&value);
            let (JsonChange::Remove(at) | JsonChange::Replace(at, _)) = &change;
            let path = all[at % all.len()].clone();
            match &change {
                JsonChange::Remove(_) => {
                    let Some((last, parent)) = path.split_last() else {
                        return Ok(());
                    };
                    match (at_mut(&mut value, parent), last) {
                        (Some(Value::Object(map)), Value::String(key)) => drop(map.remove(key.as_str())),
                        (Some(Value::Array(items)), Value::Number(i)) => {
                            drop(items.remove(i.as_u64().unwrap() as usize))
                        }
                        _ => {}
                    }
                }
                JsonChange::Replace(_, new) => *at_mut(&mut value, &path).unwrap() = new.clone(),
            }
            let text = value.to_string();
            bodies::baselines(text.as_bytes());
            if let Err(err) = Baseline::from_json(&text) {
                refused.set(refused.get() + 1);
                let changed = dotted(&path);
                // The root `Type` says the document is a CloudFormation resource; without it
                // the document is read as another form, and refused for what that form lacks.
                let shape = changed == "Type";
                if let Some(named) = err.path().filter(|p| !p.is_empty() && !shape) {
                    let related = changed.starts_with(named) || named.starts_with(&changed);
                    prop_assert!(
                        related,
                        "changed `{}`, refused naming `{}`: {}",
                        changed,
                        named,
                        err
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(refused.get() > 0, "no change was refused");
}

/// The sample baseline file's lines.
fn sample_lines() -> Vec<String> {
    fixture("/config/baselines/baselines.toml")
        .lines()
        .map(str::to_string)
        .collect()
}

fn read_sample_json(path: &str) -> Result<String, String> {
    match path {
        "os-and-apps.json" | "baselines/os-and-apps.json" | "config/baselines/os-and-apps.json" => {
            Ok(fixture("/config/baselines/os-and-apps.json"))
        }
        other => Err(format!("{other}: not a sample file")),
    }
}

#[test]
fn the_sample_baseline_file_loads() {
    let text = sample_lines().join("\n");
    BaselineSet::from_toml(&text, &read_sample_json).unwrap();
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn the_sample_with_keys_left_out_or_wrong_values_loads_or_is_refused_with_a_message(
        keep in proptest::collection::vec(prop_oneof![4 => Just(None), 1 => Just(Some(None)), 1 => hostile_toml_value().prop_map(|v| Some(Some(v)))], 256),
    ) {
        let lines: Vec<String> = sample_lines()
            .into_iter()
            .zip(keep.iter().cycle())
            .filter_map(|(line, change)| {
                let key = line.split_once(" = ").map(|(k, _)| k.to_string()).filter(|k| !k.contains(['#', '[', '{', '"']));
                match (key, change) {
                    (Some(_), Some(None)) => None,
                    (Some(key), Some(Some(value))) => Some(format!("{key} = {value}")),
                    _ => Some(line),
                }
            })
            .collect();
        let text = lines.join("\n");
        if let Err(err) = BaselineSet::from_toml(&text, &read_sample_json) {
            bodies::assert_message(&err);
        }
    }
}

/// The sample cut short at `end` (rounded down to a character boundary) loads or is refused
/// with a message.
fn load_cut(text: &str, end: usize) {
    let end = (0..=end.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    if let Err(err) = BaselineSet::from_toml(&text[..end], &read_sample_json) {
        bodies::assert_message(&err);
    }
}

/// Every line end, and random bytes (every byte would be 4,479 parses of up to 4 KiB of TOML:
/// seven seconds in a debug build).
#[test]
fn the_sample_baseline_file_cut_short_loads_or_is_refused() {
    let text = without_comments(&sample_lines().join("\n"));
    BaselineSet::from_toml(&text, &read_sample_json).unwrap();
    for (end, _) in text.match_indices('\n') {
        load_cut(&text, end);
    }
    TestRunner::new(cases(256))
        .run(&(0..=text.len()), |end| {
            load_cut(&text, end);
            Ok(())
        })
        .unwrap();
}
