//! The zstd chunk decoder on arbitrary bytes. The first byte picks how many items the chunk is
//! said to hold (1..=8) and which to decode up to; then a u16 length per item; the rest is the
//! chunk. A successful decode must return exactly the promised items, and no decode may allocate
//! past its budget. A chunk of one item is also decoded as a stream (`Codec::decode_stream`, how
//! large files are read), within its own budget, and where both decodes succeed they agree.
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;
#[path = "../../tests/fuzz_framing/mod.rs"]
mod fuzz_framing;

/// Every allocation counted: a decode past its budget (spec/format.md 6.3) aborts the run.
#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

use bsar::codec::zstd::ZstdCodec;
use bsar::codec::Codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(fuzz_framing::Framed {
        shapes,
        upto,
        chunk,
    }) = fuzz_framing::byte_items(data)
    else {
        return;
    };
    let codec = ZstdCodec::new(3);
    let budget = codec.decode_budget(chunk.len() as u64, &shapes);
    let (decoded, _) = budget_support::within("zstd_chunk decode", budget, || {
        codec.decode_chunk(chunk, &shapes, upto)
    });
    if let Ok(items) = &decoded {
        assert_eq!(items.len(), upto + 1);
        for (item, shape) in items.iter().zip(&shapes) {
            assert!(shape.matches(item));
        }
    }
    if let [shape] = shapes.as_slice() {
        let len = shape.decoded_len();
        // What it writes out is the caller's: here a vector, which may grow to twice the item.
        let budget = bsar::codec::zstd::stream_budget(len) + 2 * len + (1 << 20);
        let (streamed, _) = budget_support::within("zstd_chunk stream", budget, || {
            let mut out = Vec::new();
            codec
                .decode_stream(&mut &chunk[..], *shape, &mut out)
                .map(|_| out)
        });
        if let Ok(out) = streamed {
            assert_eq!(out.len() as u64, len);
            if let Ok(items) = decoded {
                assert!(shape.matches(&items[0]));
                let bsar::codec::Payload::Bytes(bytes) = &items[0] else {
                    panic!("a bytes item");
                };
                assert!(*bytes == out, "the two decodes disagree");
            }
        }
    }
});
