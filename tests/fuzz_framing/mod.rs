//! How the chunk fuzz targets read their input, in one place: the targets (fuzz/fuzz_targets),
//! the tests that decode their seeds; examples/make_fuzz_seeds.rs writes it.

// Each user takes the framing of its own targets.
#![allow(dead_code)]

use bsar::codec::ItemShape;

/// One chunk to decode: the item shapes the member table would state, the last item wanted,
/// and the chunk's bytes.
pub struct Framed<'a> {
    pub shapes: Vec<ItemShape>,
    pub upto: usize,
    pub chunk: &'a [u8],
}

/// `zstd_chunk` and `lepton_chunk`: a byte whose low 3 bits are the item count less one and
/// whose high 5 bits pick the last item wanted (modulo the count), a u16 length per item, then
/// the chunk.
pub fn byte_items(data: &[u8]) -> Option<Framed<'_>> {
    let (&first, rest) = data.split_first()?;
    let count = (first & 7) as usize + 1;
    let (lens, chunk) = rest.split_at_checked(2 * count)?;
    let shapes = lens
        .chunks_exact(2)
        .map(|l| ItemShape::Bytes {
            len: u16::from_le_bytes([l[0], l[1]]) as u64,
        })
        .collect();
    Some(Framed {
        shapes,
        upto: ((first >> 3) as usize) % count,
        chunk,
    })
}

/// `bitswap_chunk`: a byte whose low 2 bits are the image count less one and whose high 6 bits
/// pick the last image wanted (modulo the count), three bytes an image (width and height, each
/// 1..=40 so one input stays fast, and channels 1..=4, each taken modulo its range), then the
/// chunk.
pub fn image_items(data: &[u8]) -> Option<Framed<'_>> {
    framed_images(data, |_| 8)
}

/// The framing of `image_items` and `deep_items`: each image's sample depth from its third byte.
fn framed_images(data: &[u8], depth: impl Fn(u8) -> u8) -> Option<Framed<'_>> {
    let (&first, rest) = data.split_first()?;
    let count = (first & 3) as usize + 1;
    let (dims, chunk) = rest.split_at_checked(3 * count)?;
    let shapes = dims
        .chunks_exact(3)
        .map(|d| ItemShape::Image {
            width: (d[0] % 40) as u32 + 1,
            height: (d[1] % 40) as u32 + 1,
            channels: d[2] % 4 + 1,
            depth: depth(d[2]),
        })
        .collect();
    Some(Framed {
        shapes,
        upto: ((first >> 2) as usize) % count,
        chunk,
    })
}

/// `deep_chunk`: as `image_items`, with the third byte of an image giving its channels (low 2
/// bits, plus one) and its sample depth (bit 2 set: 8 bits, else 16).
pub fn deep_items(data: &[u8]) -> Option<Framed<'_>> {
    framed_images(data, |c| if c & 4 != 0 { 8 } else { 16 })
}
