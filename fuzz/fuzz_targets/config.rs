//! libFuzzer entry for the `config` target (see docs/fuzzing.md); built by `scripts/fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::config(data));
