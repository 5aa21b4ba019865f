//! The codec seam: how the container hands the contents of one chunk to a coder and gets it back.
//!
//! A chunk is one independently decodable coded stream holding one or more items (one item per
//! member). The container (`crate::archive`) knows nothing of how a codec works: it names the codec
//! by its one-byte id, passes the items in archive order, and on reading passes what its member
//! table says about each item (`ItemShape`) so that a codec never allocates more than the table
//! promises. This module never imports the container.

pub mod bitswap;
pub mod deep;
/// The Bit-Swap codec's nets on a GPU (`--features cuda`).
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod lepton;
mod level;
mod registry;
pub mod tiles;
pub mod zstd;

pub use level::Level;
pub use registry::Registry;

use std::fmt;
use std::io::{Read, Seek, Write};

/// An item's bytes read from a file as they are coded (`Codec::encode_stream`): read in order,
/// with seeks allowed for sampling.
pub trait SeekRead: Read + Seek {}
impl<T: Read + Seek> SeekRead for T {}

/// What `Codec::encode_stream` read: its length and CRC-32, which the member table records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamedItem {
    pub len: u64,
    pub crc: u32,
}

/// Codec id 0 is reserved for "stored" (no compression); not shipped in format 1.0.
pub const CODEC_STORED: u8 = 0;
/// Codec id 1: each item is one Zstandard frame (RFC 8878).
pub const CODEC_ZSTD: u8 = 1;
/// Codec id 2: reserved for the Bit-Swap codec.
pub const CODEC_BITSWAP: u8 = 2;
/// Codec id 3: JPEG files recompressed by Lepton, restored byte for byte.
pub const CODEC_LEPTON: u8 = 3;
/// Codec id 4: images of more than 8 bits a sample, coded by the context code alone.
pub const CODEC_DEEP: u8 = 4;

/// An image, row-major, channels interleaved: one byte a sample, or for a 16-bit image two,
/// big-endian as in PNG and PNM (`pixels.len() == width * height * channels * depth / 8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    pub channels: u8,
    /// Bits a sample takes in `pixels`: 8 or 16.
    pub depth: u8,
    pub pixels: Vec<u8>,
}

/// Bytes a sample of `depth` bits takes in an item's pixels: 1 at depth 8, 2 at 16.
pub fn sample_bytes(depth: u8) -> u64 {
    depth.div_ceil(8) as u64
}

/// One item of a chunk: either opaque bytes (restored byte for byte) or decoded pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Bytes(Vec<u8>),
    Image(Image),
}

/// What the member table promises about an item, given to the decoder before it decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemShape {
    Bytes {
        len: u64,
    },
    Image {
        width: u32,
        height: u32,
        channels: u8,
        /// 8 or 16 (content kinds 1 and 2, spec/format.md 4.3).
        depth: u8,
    },
}

impl ItemShape {
    /// The decoded size of the item in bytes (saturating, so hostile geometry cannot overflow).
    pub fn decoded_len(&self) -> u64 {
        match *self {
            ItemShape::Bytes { len } => len,
            ItemShape::Image {
                width,
                height,
                channels,
                depth,
            } => (width as u64)
                .saturating_mul(height as u64)
                .saturating_mul(channels as u64)
                .saturating_mul(sample_bytes(depth)),
        }
    }

    /// Whether `payload` is exactly what this shape promised.
    pub fn matches(&self, payload: &Payload) -> bool {
        match (*self, payload) {
            (ItemShape::Bytes { len }, Payload::Bytes(b)) => b.len() as u64 == len,
            (
                ItemShape::Image {
                    width,
                    height,
                    channels,
                    depth,
                },
                Payload::Image(img),
            ) => {
                img.width == width
                    && img.height == height
                    && img.channels == channels
                    && img.depth == depth
                    && img.pixels.len() as u64 == self.decoded_len()
            }
            _ => false,
        }
    }
}

/// Why a codec could not encode or decode a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The codec does not take this kind of item (e.g. Bit-Swap given non-image bytes, or an
    /// image geometry it has no model for). The writer then falls back to another codec.
    Unsupported(String),
    /// The coded data is damaged or does not match the promised shapes.
    Corrupt(String),
    /// Anything else (e.g. the underlying library failed to allocate its context).
    Internal(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Unsupported(m) => write!(f, "unsupported input: {m}"),
            CodecError::Corrupt(m) => write!(f, "{m}"),
            CodecError::Internal(m) => write!(f, "codec failure: {m}"),
        }
    }
}

impl std::error::Error for CodecError {}

impl Payload {
    /// The shape a member table states for this item.
    pub fn shape(&self) -> ItemShape {
        match self {
            Payload::Bytes(b) => ItemShape::Bytes {
                len: b.len() as u64,
            },
            Payload::Image(i) => ItemShape::Image {
                width: i.width,
                height: i.height,
                channels: i.channels,
                depth: i.depth,
            },
        }
    }

    /// Bytes in the item: its length, or its pixels'.
    pub fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Image(i) => i.pixels.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `total` split in proportion to `weights`, rounding down (all to the first item when every
/// weight is 0).
pub fn shares(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| w as u128).sum();
    if sum == 0 {
        return (0..weights.len())
            .map(|i| if i == 0 { total } else { 0 })
            .collect();
    }
    weights
        .iter()
        .map(|&w| (total as u128 * w as u128 / sum) as u64)
        .collect()
}

/// The decoded bytes of all `shapes` together (saturating), the `S` of spec/format.md 6.3.
pub fn decoded_total(shapes: &[ItemShape]) -> u64 {
    shapes
        .iter()
        .map(|s| s.decoded_len())
        .fold(0, u64::saturating_add)
}

/// What a decoder may spend on bookkeeping for each item of a chunk, whatever its size (its
/// place in the lists a decoder keeps, an empty payload): part of every codec's
/// `Codec::decode_budget` (spec/format.md 6.3).
pub const ITEM_OVERHEAD: u64 = 256;

/// Refuses a request for an item past the end of a chunk: the `Codec::decode_chunk` contract
/// promises exactly `upto + 1` items, which a shorter chunk cannot give.
pub(crate) fn check_upto(upto: usize, items: usize) -> Result<(), CodecError> {
    if upto >= items {
        return Err(CodecError::Corrupt(format!(
            "item {upto} asked of a chunk of {items} items"
        )));
    }
    Ok(())
}

/// One chunk to decode, for [`Codec::decode_chunks`] (the arguments of `decode_chunk`).
#[derive(Clone, Copy, Debug)]
pub struct ChunkToDecode<'a> {
    pub data: &'a [u8],
    pub shapes: &'a [ItemShape],
    pub upto: usize,
}

/// A chunk coder. Implementations must be deterministic: the same items give the same bytes on
/// every machine and thread count, because archives are compared byte for byte.
pub trait Codec: Send + Sync {
    /// The id written into the chunk table (see `spec/format.md`, "Codec ids").
    fn id(&self) -> u8;
    /// A short lower-case name shown by `bsar list -l`.
    fn name(&self) -> &str;
    /// Codes `items` (in archive order) as one stream. Any per-chunk parameters the codec needs
    /// (a model id, say) go at the front of the returned bytes; the container treats them as opaque.
    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError>;
    /// Decodes items `0..=upto` of a chunk. `shapes` holds one entry per item of the chunk, as the
    /// member table states; a decoder must refuse data that disagrees with them and must not
    /// allocate more than they promise. Returns exactly `upto + 1` payloads.
    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError>;
    /// The most memory, in bytes, that `decode_chunk(data, shapes, upto)` may hold allocated at
    /// once for a chunk of `data_len` bytes, whatever those bytes are and whatever `upto` is
    /// (spec/format.md 6.3). It depends only on what the chunk table and the member table state,
    /// so it is known before decoding; every decode path, the libraries' included, stays within
    /// it by construction, and the fuzz targets hold each decode to it with a counting allocator.
    fn decode_budget(&self, data_len: u64, shapes: &[ItemShape]) -> u64;
    /// Checks a chunk's structure against the item shapes without decoding its items: headers,
    /// parameters, models, and the framing of its items, as `decode_chunk` would find them. The
    /// writer runs it on what it wrote, so that it never leaves a chunk its reader refuses to open.
    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError>;
    /// Each item's share of `coded_len`, the length of what `encode_chunk(items)` returned: what
    /// the writer charges each item when it compares the chunk with storing every file as bytes.
    /// The default shares in proportion to the items' sizes; a codec whose items cost unequal
    /// amounts per byte should say better. Must be deterministic, like the bytes.
    fn item_shares(&self, items: &[&Payload], coded_len: u64) -> Vec<u64> {
        let sizes: Vec<u64> = items.iter().map(|p| p.len() as u64).collect();
        shares(coded_len, &sizes)
    }
    /// Codes several chunks at once (a codec may batch work across them, on a GPU say); result
    /// `i` must be what `encode_chunk(chunks[i])` returns, byte for byte. The default codes them
    /// one after the other.
    fn encode_chunks(&self, chunks: &[Vec<&Payload>]) -> Vec<Result<Vec<u8>, CodecError>> {
        chunks.iter().map(|c| self.encode_chunk(c)).collect()
    }
    /// Codes one item (a file of `len` bytes, which `input` reads from its start) as a whole
    /// chunk of one item, written to `out` as it is made, in memory that does not grow with `len`.
    /// Returns what it read: where `input` does not hold `len` bytes, a length that is not `len`
    /// (the chunk is then unfinished, and the caller must fail). A codec that cannot stream
    /// answers `Unsupported` before writing anything.
    fn encode_stream(
        &self,
        len: u64,
        input: &mut dyn SeekRead,
        out: &mut dyn Write,
    ) -> Result<StreamedItem, CodecError> {
        let _ = (len, input, out);
        Err(CodecError::Unsupported(format!(
            "{} does not stream",
            self.name()
        )))
    }
    /// Decodes a chunk of one item of `shape`, which `data` reads to its end, writing the item to
    /// `out` as it is decoded, in memory that does not grow with its length (nor with the
    /// chunk's); refuses an item longer or shorter than the shape, and bytes after it. What it
    /// wrote before finding damage must be thrown away by the caller.
    fn decode_stream(
        &self,
        data: &mut dyn Read,
        shape: ItemShape,
        out: &mut dyn Write,
    ) -> Result<(), CodecError> {
        let _ = (data, shape, out);
        Err(CodecError::Unsupported(format!(
            "{} does not stream",
            self.name()
        )))
    }
    /// Whether `decode_stream` decodes a chunk of one item of `shape` (a reader then streams it
    /// rather than hold it whole).
    fn streams(&self, shape: ItemShape) -> bool {
        let _ = shape;
        false
    }
    /// Decodes several chunks at once; result `i` is what `decode_chunk` returns for `chunks[i]`.
    fn decode_chunks(&self, chunks: &[ChunkToDecode]) -> Vec<Result<Vec<Payload>, CodecError>> {
        chunks
            .iter()
            .map(|c| self.decode_chunk(c.data, c.shapes, c.upto))
            .collect()
    }
}
