//! What the IPC targets share: decode the bytes as mapmean decodes a mapped
//! file, then average every Float32 column. Any outcome but a panic (or a
//! crash) is fine: errors are the expected answer to most inputs.

use arrow_buffer::Buffer;
use mapmean::engine::state_of_arrays;
use mapmean::ipc::IpcData;

pub fn decode_and_average(bytes: &[u8]) {
    // Buffer::from copies into a 64-byte aligned allocation, as a mapping is
    // page-aligned; the offsets inside are whatever the input says.
    let buffer = Buffer::from(bytes);
    let Ok(data) = IpcData::open(buffer, "fuzz") else {
        return;
    };
    let names: Vec<String> = data
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for name in [None]
        .into_iter()
        .chain(names.iter().map(|n| Some(n.as_str())))
    {
        if let Ok(column) = data.float32_column(name) {
            let one = state_of_arrays(column.chunks(), Some(1));
            let two = state_of_arrays(column.chunks(), Some(2));
            // Exactness: the thread count never changes the state.
            assert_eq!(one.ok(), two.ok());
        }
    }
}
