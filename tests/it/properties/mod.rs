//! Property tests (proptest) of every parser that reads what others send: the XML reader,
//! client SOAP requests and their handling, MS-WSUSSS answers and the sync that reads them,
//! update documents with their fragments, compressed blobs and Xpress, HTTP ranges, the
//! config file and the baseline files. Inputs are arbitrary bytes, and real fixtures with
//! structured mutations (`mutate`). Each property says what must hold beyond "no panic": an
//! error carries a message, a limit gives its own error, what parses is consistent.
//!
//! Time and memory are bounded by the inputs (a few hundred KiB at most) and the case counts
//! (64–256 per property; `PROPTEST_CASES` raises them all), not asserted. The per-parser
//! checks are the bodies of the fuzz targets (`fuzz/src/lib.rs`), included here so that they
//! are compiled and run on stable.

mod baselines;
mod client_soap;
mod config;
mod mutate;
mod range;
mod update_xml;
mod wsusss;
mod xml;

/// The fuzz targets' bodies (`fuzz/src/lib.rs`); `pub` there because they are that crate's
/// interface.
#[path = "../../../fuzz/src/lib.rs"]
#[allow(unreachable_pub)]
mod bodies;

use proptest::test_runner::Config;

/// A test runner's settings: `cases` cases (or `PROPTEST_CASES`), no regression files written
/// into the source tree (a failure prints its minimal input).
fn cases(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A fixture under `tests/fixtures/` (or, with a leading `/`, under the repository root).
fn fixture(path: &str) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let full = match path.strip_prefix('/') {
        Some(path) => format!("{root}/{path}"),
        None => format!("{root}/tests/fixtures/{path}"),
    };
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The bytes of a fixture under `tests/fixtures/`.
fn fixture_bytes(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Every file of a fixture directory whose name ends with `suffix`, with its name.
fn fixtures_ending(dir: &str, suffix: &str) -> Vec<(String, String)> {
    let full = format!("{}/tests/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&full)
        .unwrap_or_else(|e| panic!("{full}: {e}"))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(suffix))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {dir}/*{suffix}");
    names
        .into_iter()
        .map(|name| {
            let text = fixture(&format!("{dir}/{name}"));
            (name, text)
        })
        .collect()
}
