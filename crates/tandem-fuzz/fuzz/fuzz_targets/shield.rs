//! libFuzzer target `shield`: see `tandem_fuzz::shield`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tandem_fuzz::shield(data));
