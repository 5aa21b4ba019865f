//! The Bit-Swap chunk decoder (codec 2) on arbitrary bytes, with the tiny fixture models (RGB,
//! 8x8 patches, two latent layers; one of them with the local-linear pixel likelihood, whose
//! pixels the decoder pops in raster order, spec/model.md 5). The first byte picks how many images the chunk is said to
//! hold (1..=4) and which to decode up to; then three bytes per image give its width and height
//! (1..=40, so one input stays fast) and channel count (1..=4); the rest is the chunk, whose own
//! header chooses the scheme and precisions. Nothing may panic or allocate past the decode budget
//! (spec/format.md 6.3), and a successful decode must return exactly the promised images.
//!
//! Input: [count/upto][w h c] x count [chunk bytes...]
//!     cargo +nightly fuzz run bitswap_chunk corpus/bitswap_chunk seeds/bitswap_chunk
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;
#[path = "../../tests/fuzz_framing/mod.rs"]
mod fuzz_framing;

/// Every allocation counted: a decode past its budget (spec/format.md 6.3) aborts the run.
#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

use bsar::bitswap::Scheme;
use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
use bsar::codec::Codec;
use bsar::model::Model;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn codec() -> &'static BitswapCodec {
    static CODEC: OnceLock<BitswapCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let model = Model::load(
            include_bytes!("../../tests/fixtures/model-tiny.json"),
            include_bytes!("../../tests/fixtures/model-tiny.safetensors"),
        )
        .expect("the fixture model loads");
        let local = Model::load(
            include_bytes!("../../tests/fixtures/model-tiny-local.json"),
            include_bytes!("../../tests/fixtures/model-tiny-local.safetensors"),
        )
        .expect("the local fixture model loads");
        // The scheme and precisions given here only matter for encoding; a chunk names its
        // models by id, so both are there for the decoder to find.
        BitswapCodec::new(
            vec![Arc::new(model), Arc::new(local)],
            Scheme::BitSwap,
            DEFAULT_PRECISIONS,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(fuzz_framing::Framed {
        shapes,
        upto,
        chunk,
    }) = fuzz_framing::image_items(data)
    else {
        return;
    };
    let budget = codec().decode_budget(chunk.len() as u64, &shapes);
    let (decoded, _) = budget_support::within("bitswap_chunk decode", budget, || {
        codec().decode_chunk(chunk, &shapes, upto)
    });
    if let Ok(items) = decoded {
        assert_eq!(items.len(), upto + 1);
        for (item, shape) in items.iter().zip(&shapes) {
            assert!(shape.matches(item));
        }
    }
});
