//! The module map in `src/lib.rs` stays true: it lists every module the library declares,
//! and no module uses (through a `crate::` path) a module listed after it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules of the `# Layout` doc, in order: its `//! - `name`:` lines.
fn layout_order(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| line.strip_prefix("//! - `"))
        .filter_map(|rest| rest.split_once("`:"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The modules `lib.rs` declares, public or not.
fn declared_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .map(|line| line.trim().trim_start_matches("pub "))
        .filter_map(|line| line.strip_prefix("mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// `src/<name>.rs` and every file under `src/<name>/`.
fn module_files(name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let single = src_dir().join(format!("{name}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let mut dirs = vec![src_dir().join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.map(|e| e.expect("directory entry").path()) {
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// Source without `//` comments (doc comments included), so prose naming a module does
/// not count as using it. String literals are kept: none of them spells `crate::`.
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a source file names through `crate::`: `crate::a::...` and every
/// first segment inside `crate::{a::x, b, ...}`.
fn crate_modules(source: &str) -> BTreeSet<String> {
    let code = without_comments(source);
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => used.extend(group_heads(group)),
            None => used.extend(identifier(rest)),
        }
    }
    used
}

/// The first path segment of each item of a `{...}` group (up to its closing brace).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut at_item_start = true;
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            c if at_item_start && !c.is_whitespace() => {
                at_item_start = false;
                heads.extend(identifier(&group[index..]));
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

#[test]
fn the_layout_lists_every_module_once_and_nothing_else() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let listed = layout_order(&lib);
    let declared = declared_modules(&lib);
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a module is listed twice: {listed:?}");
    assert_eq!(
        unique,
        declared.iter().collect::<BTreeSet<_>>(),
        "the Layout doc and the `pub mod` lines disagree"
    );
}

#[test]
fn no_module_uses_one_listed_after_it() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let order = layout_order(&lib);
    let rank = |name: &str| order.iter().position(|m| m == name);
    let mut violations = Vec::new();
    for (position, module) in order.iter().enumerate() {
        let files = module_files(module);
        assert!(!files.is_empty(), "module `{module}` has no source file");
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for used in crate_modules(&source) {
                match rank(&used) {
                    Some(used_at) if used_at <= position => {}
                    _ => violations.push(format!("{} uses `{used}`", file.display())),
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the Layout order:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_import_reader_sees_paths_groups_and_not_comments() {
    let source = "use crate::model::Hex;\nuse crate::{store::Store, content::{a, b}, self};\n\
                  // crate::cli is only mentioned\nfn f() { crate::upstream::run(); }\n";
    let found: Vec<String> = crate_modules(source).into_iter().collect();
    assert_eq!(found, ["content", "model", "store", "upstream"]);
}
