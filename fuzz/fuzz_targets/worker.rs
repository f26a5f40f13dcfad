//! The worker protocol: any bytes as a worker's input stream (first byte: Arrow IPC or lines), served against the
//! reference index of `testdata/refs`. Needs `--features arrow`.
#![no_main]

#[path = "../../tests/fuzz_logic/mod.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic, caught or not. The Arrow reader panics on some out-of-range
        // offsets and the worker catches those by design (`worker::guarded`, a `protocol` error), so panics raised
        // inside the Arrow crates unwind to that catch; any other panic still aborts and is a finding.
        let aborting = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_arrow = info.location().is_some_and(|l| l.file().contains("/arrow-"));
            if !in_arrow {
                aborting(info);
            }
        }));
    },
    |data: &[u8]| logic::worker(data)
);
