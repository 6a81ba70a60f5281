//! Any bytes as a script of six fake clients against the hub: see `termcall_hub::fuzzing::hub`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| termcall_hub::fuzzing::hub(data));
