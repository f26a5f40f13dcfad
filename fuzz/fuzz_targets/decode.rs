//! Decoding and fingerprinting: any bytes as a listing photo.
#![no_main]

#[path = "../../tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::decode(data));
