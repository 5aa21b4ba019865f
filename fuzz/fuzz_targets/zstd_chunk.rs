//! The zstd chunk decoder on arbitrary bytes. The first byte picks how many items the chunk is
//! said to hold (1..=8) and which to decode up to; then a u16 length per item; the rest is the
//! chunk. A successful decode must return exactly the promised items.
#![no_main]

use bsar::codec::zstd::ZstdCodec;
use bsar::codec::{Codec, ItemShape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let count = (first & 7) as usize + 1;
    let upto = ((first >> 3) as usize) % count;
    if rest.len() < 2 * count {
        return;
    }
    let (lens, chunk) = rest.split_at(2 * count);
    let shapes: Vec<ItemShape> = lens
        .chunks_exact(2)
        .map(|l| ItemShape::Bytes {
            len: u16::from_le_bytes([l[0], l[1]]) as u64,
        })
        .collect();
    if let Ok(items) = ZstdCodec::new(3).decode_chunk(chunk, &shapes, upto) {
        assert_eq!(items.len(), upto + 1);
        for (item, shape) in items.iter().zip(&shapes) {
            assert!(shape.matches(item));
        }
    }
});
