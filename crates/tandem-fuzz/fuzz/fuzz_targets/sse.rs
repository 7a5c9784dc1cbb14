//! libFuzzer target `sse`: see `tandem_fuzz::sse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tandem_fuzz::sse(data));
