//! The zstd chunk decoder on arbitrary bytes. The first byte picks how many items the chunk is
//! said to hold (1..=8) and which to decode up to; then a u16 length per item; the rest is the
//! chunk. A successful decode must return exactly the promised items, and no decode may allocate
//! past its budget.
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;

/// Every allocation counted: a decode past its budget (spec/format.md 6.3) aborts the run.
#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

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
    let codec = ZstdCodec::new(3);
    let budget = codec.decode_budget(chunk.len() as u64, &shapes);
    let (decoded, _) = budget_support::within("zstd_chunk decode", budget, || {
        codec.decode_chunk(chunk, &shapes, upto)
    });
    if let Ok(items) = decoded {
        assert_eq!(items.len(), upto + 1);
        for (item, shape) in items.iter().zip(&shapes) {
            assert!(shape.matches(item));
        }
    }
});
