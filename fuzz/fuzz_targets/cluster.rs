//! Any bytes as a script against two hubs of one cluster: see `termcall_hub::fuzzing::cluster`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| termcall_hub::fuzzing::cluster(data));
