//! libFuzzer entry for the `url_classify` target (see docs/fuzzing.md); built by `scripts/fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis_fuzz::url_classify(data));
