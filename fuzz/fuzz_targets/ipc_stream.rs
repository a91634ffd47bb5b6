//! Arbitrary bytes opened as an Arrow IPC stream (messages in sequence).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(
    init: {
        // libfuzzer-sys's panic hook aborts on every panic, even one that
        // mapmean catches and turns into an error (as it does for panics
        // inside arrow-ipc). A panic that escapes still aborts: the harness
        // catches it and calls abort.
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
    common::decode_and_average(data);
});
