//! libFuzzer target `safetensors`: see `tandem_fuzz::safetensors`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tandem_fuzz::safetensors(data));
