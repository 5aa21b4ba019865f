//! The levels code's decoder (`spec/levels.md` 3) on arbitrary bytes, without a Bit-Swap chunk
//! around it. Framed as `bitswap_chunk` (`tests/fuzz_framing`): the first byte picks how many
//! images the block holds (1..=4) and which to decode up to, three bytes an image its width,
//! height (1..=40) and channels (1 or 2: one sample a value; 3 or 4: three), then the block.
//! Nothing may panic or allocate past the chunk's decode budget (spec/format.md 6.3: 16 bytes a
//! sample), and a decode returns exactly the images asked for, with values from their tables.
//!
//! Input: [count/upto][w h c] x count [block bytes...]
//!     cargo +nightly fuzz run levels_block corpus/levels_block seeds/levels_block
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;
#[path = "../../tests/fuzz_framing/mod.rs"]
mod fuzz_framing;

#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

use bsar::codec::ItemShape;
use bsar::levels::{decode, Shape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(f) = fuzz_framing::image_items(data) else {
        return;
    };
    let shapes: Vec<Shape> = f
        .shapes
        .iter()
        .map(|s| match *s {
            ItemShape::Image {
                width,
                height,
                channels,
                ..
            } => Shape {
                width: width as usize,
                height: height as usize,
                channels: if channels <= 2 { 1 } else { 3 },
            },
            _ => unreachable!("image items"),
        })
        .collect();
    let samples: u64 = shapes
        .iter()
        .map(|s| (s.width * s.height * s.channels) as u64)
        .sum();
    let budget = samples * 16 + (1 << 20) + f.chunk.len() as u64 * 8;
    let (out, _) =
        budget_support::within("levels decode", budget, || decode(f.chunk, &shapes, f.upto));
    if let Ok(images) = out {
        assert_eq!(images.len(), f.upto + 1);
        for (img, s) in images.iter().zip(&shapes) {
            assert_eq!(img.len(), s.width * s.height * s.channels);
        }
    }
});
