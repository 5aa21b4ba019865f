//! The Lepton chunk decoder (JPEG files, spec/format.md 6.2) on arbitrary bytes, laid out as for
//! zstd_chunk: the first byte picks how many items the chunk is said to hold (1..=8) and which to
//! decode up to, then a u16 length per item, then the chunk. Nothing may panic or allocate past
//! the decode budget the promised lengths give (spec/format.md 6.3); a successful decode returns exactly the promised items, and a chunk the
//! decoder takes must pass `check_chunk` too. Seeds: both chunk formats (1, each item whole; 2,
//! headers in one frame).
//!     cargo +nightly fuzz run lepton_chunk fuzz/seeds/lepton_chunk
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;
#[path = "../../tests/fuzz_framing/mod.rs"]
mod fuzz_framing;

/// Every allocation counted: a decode past its budget (spec/format.md 6.3) aborts the run.
#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

use bsar::codec::lepton::LeptonCodec;
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
    let codec = LeptonCodec::new(3);
    let budget = codec.decode_budget(chunk.len() as u64, &shapes);
    let (decoded, _) = budget_support::within("lepton_chunk decode", budget, || {
        codec.decode_chunk(chunk, &shapes, upto)
    });
    if let Ok(items) = decoded {
        assert_eq!(items.len(), upto + 1);
        for (item, shape) in items.iter().zip(&shapes) {
            assert!(shape.matches(item));
        }
        let (checked, _) = budget_support::within("lepton_chunk check", budget, || {
            codec.check_chunk(chunk, &shapes)
        });
        checked.expect("a chunk that decodes passes its check");
    }
});
