//! The writer's round trip as a property: any small tree of files (many of them PNM and PNG
//! images, some nearly so) is written by the library's writer, opens with the reader's code, and
//! every member comes back: byte for byte, or for PNGs stored as pixels, pixel for pixel with its
//! chunks. The fuzz target `writer` runs the same check on arbitrary bytes.

mod model_support;
mod writer_support;

use proptest::prelude::*;
use writer_support::{registry, round_trip, tree_from_bytes};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_tree_reads_back(data in prop::collection::vec(any::<u8>(), 0..1500)) {
        let files = tree_from_bytes(&data);
        let r = registry();
        round_trip(&files, &r, true, 2);
        round_trip(&files, &r, false, 1);
    }
}

/// The trees the property test draws include what broke `create` before: the separators and
/// comment ends that only one of two header parsers took, and long compressible trailers.
#[test]
fn the_generator_reaches_the_hard_cases() {
    let mut kinds = [0usize; 4];
    for seed in 0..400u32 {
        let data: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed * 7919) >> 13) as u8)
            .collect();
        for f in tree_from_bytes(&data) {
            let b = &f.bytes;
            let head = &b[..b.len().min(64)];
            if head.starts_with(b"P") && head.contains(&0x0b) {
                kinds[0] += 1;
            }
            if head.starts_with(b"P") && head.windows(2).any(|w| w == b"\r2" || w[0] == b'\r') {
                kinds[1] += 1;
            }
            if b.len() > 100_000 {
                kinds[2] += 1;
            }
            if b.starts_with(b"\x89PNG") {
                kinds[3] += 1;
            }
        }
    }
    assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
}

/// The round trip covers both contents: some trees keep images as pixels, and some images lose
/// to zstd and are kept as bytes.
#[test]
fn round_trips_store_images_both_ways() {
    let r = registry();
    let (mut pixels, mut deep, mut image_bytes) = (0, 0, 0);
    for seed in 0..60u32 {
        let data: Vec<u8> = (0..900u32)
            .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed * 104729) >> 11) as u8)
            .collect();
        let out = round_trip(&tree_from_bytes(&data), &r, true, 2);
        let archive = bsar::archive::Archive::parse(&out).unwrap();
        for m in archive.members() {
            match m.content {
                bsar::archive::Content::Pixels => pixels += 1,
                bsar::archive::Content::Pixels16 => deep += 1,
                _ if m.geometry.channels > 0 => image_bytes += 1,
                _ => {}
            }
        }
    }
    assert!(
        pixels > 10 && deep > 3 && image_bytes > 10,
        "{pixels} as 8-bit pixels, {deep} as 16-bit, {image_bytes} as bytes"
    );
}
