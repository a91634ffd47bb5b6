//! The kernel over arbitrary values and validity bitmaps: every instruction
//! set gives bitwise the state of the portable reference.
#![no_main]

use mapmean::kernel::arch::Isa;
use mapmean::kernel::{blocks, reference, Validity};
use mapmean::MeanState;

libfuzzer_sys::fuzz_target!(
    init: {
        // libfuzzer-sys's panic hook aborts on every panic, even one that
        // mapmean catches and turns into an error (as it does for panics
        // inside arrow-ipc). A panic that escapes still aborts: the harness
        // catches it and calls abort.
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
    // Layout: [bit offset][has bitmap][value count: 2 bytes][values][bitmap]
    let [offset, has_bitmap, n0, n1, rest @ ..] = data else {
        return;
    };
    let offset = usize::from(offset % 64);
    let wanted = usize::from(u16::from_le_bytes([*n0, *n1]));
    let count = wanted.min(rest.len() / 4);
    let values: Vec<f32> = rest[..4 * count]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // The bitmap: whatever bytes follow, cycled to cover offset + count bits.
    let tail = &rest[4 * count..];
    let needed = (offset + count).div_ceil(8);
    let bits: Vec<u8> = if tail.is_empty() {
        vec![0xA5; needed]
    } else {
        tail.iter().copied().cycle().take(needed).collect()
    };
    let validity = (has_bitmap & 1 == 1).then_some(Validity {
        bits: &bits,
        offset,
    });

    let mut want = MeanState::default();
    reference::update(&mut want, &values, validity);
    for isa in Isa::supported() {
        let mut got = MeanState::default();
        blocks::update_with(isa, &mut got, &values, validity);
        assert_eq!(got, want, "{isa:?}");
        assert_eq!(got.finish().map(f64::to_bits), want.finish().map(f64::to_bits));
    }
    // Split anywhere, merged: the same state.
    let cut = count / 3;
    let mut a = MeanState::default();
    blocks::update_with(Isa::detect(), &mut a, &values[..cut], validity);
    let mut b = MeanState::default();
    blocks::update_with(
        Isa::detect(),
        &mut b,
        &values[cut..],
        validity.map(|v| v.shifted(cut)),
    );
    a.merge(&b);
    assert_eq!(a, want);
});
