//! The scan path: any bytes as a file in a listing folder, walked, fingerprinted and searched.
#![no_main]

#[path = "../../tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::scan(data));
