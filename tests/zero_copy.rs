//! Decoded arrays point into the mapping; inputs that cannot be used in place
//! are still decoded correctly.

mod common;

use arrow_array::Array;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_ipc::CompressionType;
use common::{batch, sample, write};
use mapmean::engine::state_of_arrays;
use mapmean::ipc::{IpcData, IpcFormat};
use mapmean::source::MappedFile;
use mapmean::MeanState;

fn reference_state(batches: &[arrow_array::RecordBatch]) -> MeanState {
    let mut state = MeanState::default();
    for b in batches {
        let x = b.column(0).as_any().downcast_ref().unwrap();
        mapmean::kernel::reference::update(
            &mut state,
            arrow_array::Float32Array::values(x),
            mapmean::kernel::validity_of(x),
        );
    }
    state
}

#[test]
fn value_buffers_and_bitmaps_lie_inside_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    for format in [IpcFormat::File, IpcFormat::Stream] {
        let path = dir.path().join(format!("{format:?}.arrow"));
        let batches: Vec<_> = (0..4)
            .map(|i| batch(sample(10_000 + i, i as u32)))
            .collect();
        write(&path, &batches, format);

        let file = MappedFile::open(&path).unwrap();
        let range = file.address_range();
        let data = IpcData::open(file.buffer().clone(), "test").unwrap();
        assert_eq!(data.format(), format);
        let column = data.float32_column(Some("x")).unwrap();
        assert_eq!(column.chunks().len(), 4);
        for chunk in column.chunks() {
            let values = chunk.values().inner();
            let start = values.as_ptr() as usize;
            assert!(
                range.contains(&start) && start + values.len() <= range.end,
                "{format:?}"
            );
            let nulls = chunk.nulls().expect("the sample has nulls");
            let bits = nulls.buffer().as_ptr() as usize;
            assert!(
                range.contains(&bits),
                "{format:?} validity bitmap was copied"
            );
        }
        let state = state_of_arrays(column.chunks(), None).unwrap();
        assert_eq!(state, reference_state(&batches));
    }
}

#[test]
fn compressed_bodies_are_decoded_correctly() {
    let batches: Vec<_> = (0..3).map(|i| batch(sample(5000, i))).collect();
    for codec in [CompressionType::LZ4_FRAME, CompressionType::ZSTD] {
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(codec))
            .unwrap();
        let mut bytes = Vec::new();
        let mut writer =
            FileWriter::try_new_with_options(&mut bytes, &batches[0].schema(), options).unwrap();
        for b in &batches {
            writer.write(b).unwrap();
        }
        writer.finish().unwrap();
        drop(writer);
        let data = IpcData::open(Buffer::from_vec(bytes), "compressed").unwrap();
        let column = data.float32_column(Some("x")).unwrap();
        let state = state_of_arrays(column.chunks(), Some(2)).unwrap();
        assert_eq!(state, reference_state(&batches), "{codec:?}");
    }
}

#[test]
fn misaligned_input_is_copied_and_correct() {
    let batches = vec![batch(sample(3001, 9))];
    for format in [IpcFormat::File, IpcFormat::Stream] {
        let bytes = common::bytes(&batches, format);
        // Shift the whole image by one byte so every buffer is misaligned.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        let buffer = Buffer::from_vec(shifted).slice(1);
        assert_eq!(buffer.as_ptr() as usize % 4, 1);
        let data = IpcData::open(buffer, "misaligned").unwrap();
        let column = data.float32_column(Some("x")).unwrap();
        let state = state_of_arrays(column.chunks(), None).unwrap();
        assert_eq!(state, reference_state(&batches), "{format:?}");
    }
}
