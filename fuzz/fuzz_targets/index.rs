//! Opening an index file (any header and records, with a valid footer) and searching it.
#![no_main]

#[path = "../../tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::index(data));
