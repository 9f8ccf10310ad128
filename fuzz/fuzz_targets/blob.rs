//! libFuzzer target: `wucache_fuzz::blob` (see `src/lib.rs` for what it asserts).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wucache_fuzz::blob(data));
