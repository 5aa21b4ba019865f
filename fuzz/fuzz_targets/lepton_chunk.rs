//! The Lepton chunk decoder (JPEG files, spec/format.md 6.2) on arbitrary bytes, laid out as for
//! zstd_chunk: the first byte picks how many items the chunk is said to hold (1..=8) and which to
//! decode up to, then a u16 length per item, then the chunk. Nothing may panic or allocate past
//! the promised lengths; a successful decode returns exactly the promised items, and a chunk the
//! decoder takes must pass `check_chunk` too. Seeds: both chunk formats (1, each item whole; 2,
//! headers in one frame).
//!     cargo +nightly fuzz run lepton_chunk fuzz/seeds/lepton_chunk
#![no_main]

use bsar::codec::lepton::LeptonCodec;
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
    let codec = LeptonCodec::new(3);
    if let Ok(items) = codec.decode_chunk(chunk, &shapes, upto) {
        assert_eq!(items.len(), upto + 1);
        for (item, shape) in items.iter().zip(&shapes) {
            assert!(shape.matches(item));
        }
        codec
            .check_chunk(chunk, &shapes)
            .expect("a chunk that decodes passes its check");
    }
});
