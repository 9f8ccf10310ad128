//! The config file (`Config::from_toml`): arbitrary text never panics and is refused naming
//! its origin, or loads into a config that validates; the sample `config/wucache.toml` with
//! any of its keys left out still means the defaults; an unknown key anywhere is refused by
//! its path; a key given a wrong value is refused with a message that names it (as the key at
//! fault, or as the reason another key is); the sample cut short at any byte loads or is
//! refused.

use super::{bodies, cases, fixture};
use proptest::prelude::*;
use wucache::config::{Config, ConfigError};

/// TOML values that are wrong for most keys: out of range, wrong type, wrong unit, deep.
pub(super) fn hostile_toml_value() -> impl Strategy<Value = String> {
    let fixed = [
        "-1",
        "0",
        "99999999999999999999",
        "9223372036854775807",
        "1e400",
        "nan",
        "-inf",
        "\"-1s\"",
        "\"0s\"",
        "\"99999999999999999999y\"",
        "\"1.5\"",
        "\"\"",
        "\" \"",
        "\"🦀\"",
        "true",
        "[]",
        "[1, \"a\"]",
        "{}",
        "{ a = 1 }",
        "\"999999999999999999999G\"",
        "\"-5G\"",
        "\"18446744073709551615\"",
        "1979-05-27T07:32:00Z",
        "'''multi\nline'''",
        "\"http://\"",
        "\"ftp://x\"",
        "\"0.0.0.0:0\"",
        "\"[::1]:99999\"",
        "\"256.0.0.1:80\"",
        "\"\\u0000\"",
    ];
    prop_oneof![
        8 => proptest::sample::select(fixed.to_vec()).prop_map(str::to_string),
        1 => (1usize..3000).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        1 => Just(format!("\"{}\"", "a".repeat(10_000))),
        1 => "[a-z0-9\" .:-]{0,16}",
    ]
}

/// The sample config's lines, and for each `key = value` line its dotted key.
fn sample() -> (Vec<String>, Vec<Option<String>>) {
    let text = fixture("/config/wucache.toml");
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut section = String::new();
    let keys = lines
        .iter()
        .map(|line| {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
                return None;
            }
            let (key, _) = line.split_once('=').filter(|_| !line.starts_with('#'))?;
            Some(format!("{section}.{}", key.trim()))
        })
        .collect();
    (lines, keys)
}

fn load(lines: &[String]) -> Result<Config, ConfigError> {
    Config::from_toml(&lines.join("\n"), "t")
}

#[test]
fn the_sample_has_keys_in_every_section() {
    let (_, keys) = sample();
    let keys: Vec<String> = keys.into_iter().flatten().collect();
    assert!(keys.len() > 40, "{keys:?}");
    for section in [
        "server",
        "admin",
        "tls",
        "upstream",
        "sync",
        "storage",
        "content",
        "baselines",
    ] {
        assert!(
            keys.iter().any(|k| k.starts_with(&format!("{section}."))),
            "{section}"
        );
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_text_loads_and_validates_or_is_refused_naming_its_origin(
        data in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        bodies::config(&data);
    }

    #[test]
    fn toml_shaped_text_loads_and_validates_or_is_refused_naming_its_origin(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("[server]".to_string()),
                Just("[content]".to_string()),
                Just("[sync]".to_string()),
                ("[a-z_]{1,20}", hostile_toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
            ],
            0..8,
        ),
    ) {
        bodies::config(lines.join("\n").as_bytes());
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn the_sample_with_any_keys_left_out_means_the_defaults(keep in proptest::collection::vec(any::<bool>(), 128)) {
        let (lines, keys) = sample();
        let kept: Vec<String> = lines
            .into_iter()
            .zip(&keys)
            .enumerate()
            .filter(|(i, (_, key))| key.is_none() || keep[i % keep.len()])
            .map(|(_, (line, _))| line)
            .collect();
        prop_assert_eq!(load(&kept).unwrap(), Config::default());
    }

    #[test]
    fn an_unknown_key_anywhere_is_refused_by_its_path(after in any::<usize>(), name in "[a-z]{1,8}_[a-z]{1,8}") {
        let (mut lines, _) = sample();
        let at = after % (lines.len() + 1);
        lines.insert(at, format!("{name} = 1"));
        let section = lines[..at]
            .iter()
            .rev()
            .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')));
        let path = match section {
            Some(section) => format!("{section}.{name}"),
            None => name.clone(),
        };
        let err = load(&lines).unwrap_err();
        prop_assert_eq!(err.to_string(), format!("config t: unknown key `{}`", path));
    }

    #[test]
    fn a_key_given_a_wrong_value_is_refused_with_a_message_naming_it(which in any::<usize>(), value in hostile_toml_value()) {
        let (mut lines, keys) = sample();
        let key_lines: Vec<usize> = (0..lines.len()).filter(|&i| keys[i].is_some()).collect();
        let line = key_lines[which % key_lines.len()];
        let key = keys[line].clone().unwrap();
        let name = lines[line].split_once('=').unwrap().0.trim().to_string();
        lines[line] = format!("{name} = {value}");
        let text = lines.join("\n");
        bodies::config(text.as_bytes());
        if let Err(err) = Config::from_toml(&text, "t") {
            let message = err.to_string();
            let toml_syntax = matches!(&err, ConfigError::Invalid { key, .. } if key.is_empty() || key == ".");
            prop_assert!(
                toml_syntax || message.contains(&key),
                "{} = {}: {}", key, value, message
            );
        }
    }
}

/// `text` without its comment and blank lines (cutting inside a comment tests nothing).
pub(super) fn without_comments(text: &str) -> String {
    let lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    lines.collect::<Vec<_>>().join("\n")
}

#[test]
fn the_sample_cut_short_anywhere_loads_or_is_refused() {
    let text = without_comments(&fixture("/config/wucache.toml"));
    assert_eq!(Config::from_toml(&text, "t").unwrap(), Config::default());
    for end in (0..=text.len()).filter(|&end| text.is_char_boundary(end)) {
        bodies::config(&text.as_bytes()[..end]);
    }
}
