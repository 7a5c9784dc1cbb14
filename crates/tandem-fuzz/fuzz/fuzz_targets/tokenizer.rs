//! libFuzzer target `tokenizer`: see `tandem_fuzz::tokenizer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tandem_fuzz::tokenizer(data));
