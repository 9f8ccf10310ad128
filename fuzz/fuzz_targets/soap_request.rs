//! libFuzzer target: `wucache_fuzz::soap_request` (see `src/lib.rs` for what it asserts).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wucache_fuzz::soap_request(data));
