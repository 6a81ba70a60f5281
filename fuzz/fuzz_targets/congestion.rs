//! Congestion control (estimators and pacer) against any script: see `termcall_congestion::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| termcall_congestion::fuzzing::run(data));
