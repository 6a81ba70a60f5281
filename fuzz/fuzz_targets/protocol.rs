//! Any bytes as a client or hub message: see `termcall_hub::fuzzing::protocol`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| termcall_hub::fuzzing::protocol(data));
