//! Arbitrary bytes opened as an Arrow IPC file (footer first).
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
    // Inputs without the file magic are tried with it, so that the fuzzer
    // reaches the footer and batch decoding rather than the magic check.
    if data.starts_with(b"ARROW1") {
        common::decode_and_average(data);
    } else {
        let mut file = b"ARROW1\0\0".to_vec();
        file.extend_from_slice(data);
        file.extend_from_slice(b"ARROW1");
        common::decode_and_average(&file);
    }
});
