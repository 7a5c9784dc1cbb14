//! libFuzzer target `verify`: see `tandem_fuzz::verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tandem_fuzz::verify(data));
