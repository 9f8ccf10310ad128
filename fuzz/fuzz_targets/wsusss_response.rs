//! libFuzzer target: `wucache_fuzz::wsusss_response` (see `src/lib.rs` for what it asserts).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wucache_fuzz::wsusss_response(data));
