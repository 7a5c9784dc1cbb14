//! libFuzzer target `seal`: see `tandem_fuzz::seal`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tandem_fuzz::seal(data));
