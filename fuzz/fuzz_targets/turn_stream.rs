//! Any bytes as a TURN client's TCP stream, in chunks of any size: see `termcall_hub::fuzzing::turn_stream`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| termcall_hub::fuzzing::turn_stream(data));
