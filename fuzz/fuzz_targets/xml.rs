//! libFuzzer target: `wucache_fuzz::xml` (see `src/lib.rs` for what it asserts).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wucache_fuzz::xml(data));
