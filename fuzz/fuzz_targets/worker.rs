//! The worker protocol: any bytes as a worker's input stream (first byte: Arrow IPC or lines), served against the
//! reference index of `testdata/refs`. Needs `--features arrow`.
#![no_main]

#[path = "../../tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::worker(data));
