//! The deep-image codec's decoder (codec 4, spec/format.md 6.4) on arbitrary bytes. Framed by
//! `tests/fuzz_framing::deep_items`: the first byte picks how many images the chunk holds
//! (1..=4) and which to decode up to, three bytes an image its width, height (1..=40), channels
//! and depth, then the chunk. Nothing may panic or allocate past the codec's decode budget
//! (spec/format.md 6.3); `check_chunk` refuses what a whole decode refuses; and what decodes
//! codes again to a chunk that decodes to the same images.
//!
//! Input: [count/upto][w h c|depth] x count [chunk bytes...]
//!     cargo +nightly fuzz run deep_chunk corpus/deep_chunk seeds/deep_chunk
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;
#[path = "../../tests/fuzz_framing/mod.rs"]
mod fuzz_framing;

#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

use bsar::codec::deep::DeepCodec;
use bsar::codec::{Codec, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(f) = fuzz_framing::deep_items(data) else {
        return;
    };
    let codec = DeepCodec;
    let budget = codec.decode_budget(f.chunk.len() as u64, &f.shapes);
    let (out, _) = budget_support::within("deep decode", budget, || {
        codec.decode_chunk(f.chunk, &f.shapes, f.upto)
    });
    let last = f.shapes.len() - 1;
    let (whole, _) = budget_support::within("deep decode", budget, || {
        codec.decode_chunk(f.chunk, &f.shapes, last)
    });
    let checked = codec.check_chunk(f.chunk, &f.shapes);
    if whole.is_ok() {
        assert!(
            checked.is_ok(),
            "check_chunk refuses a chunk that decodes: {checked:?}"
        );
    }
    if let Ok(images) = out {
        assert_eq!(images.len(), f.upto + 1);
        for (img, s) in images.iter().zip(&f.shapes) {
            assert!(s.matches(img), "an image of the promised shape");
        }
        let refs: Vec<&Payload> = images.iter().collect();
        let again = codec
            .encode_chunk(&refs)
            .expect("decoded images code again");
        let shapes = &f.shapes[..=f.upto];
        let back = codec
            .decode_chunk(&again, shapes, f.upto)
            .expect("and decode");
        assert!(back == images, "decode(encode(images)) == images");
    }
});
