//! Codec id 1: every item is one Zstandard frame (RFC 8878); a chunk is the frames back to back.
//!
//! One frame per item (instead of one frame for the whole chunk) lets a reader skip to item k by
//! walking frame headers, without decompressing the items before it.

use super::{Codec, CodecError, ItemShape, Payload, SeekRead, StreamedItem, CODEC_ZSTD};
use std::io::{Read, SeekFrom, Write};

/// Level used when none is asked for: slow to write, fast to read, as archives are read more often.
pub const DEFAULT_LEVEL: i32 = 19;

/// Largest window a frame may ask for (2^27 = 128 MiB, libzstd's default decoding limit). A hostile
/// frame asking for more is refused instead of making the decoder allocate it.
pub const MAX_WINDOW_LOG: u32 = 27;

/// Smallest window limit: libzstd gives every frame a window of at least 2^10 bytes.
const MIN_WINDOW_LOG: u32 = 10;

/// The largest window a frame of `len` bytes of content may ask for (spec/format.md 6.1): its
/// length rounded up to a power of two, within 2^10 and 2^27. A writer that knows the length
/// never needs more (libzstd shrinks the window to the input), so a frame asking for more is
/// refused, and a small item cannot make the decoder allocate a 128 MiB window.
pub fn max_window_log(len: u64) -> u32 {
    let log = 64 - len.saturating_sub(1).leading_zeros();
    log.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
}

/// What libzstd's streaming decoder allocates for one frame of `len` bytes at most, besides the
/// window: its context, the input block buffer and the output block slack (measured at under
/// 0.4 MiB; spec/format.md 6.3).
pub const FRAME_OVERHEAD: u64 = 1 << 20;

/// The most memory decoding one frame of `len` bytes of content may take, its output included:
/// the output, the window (at most the length rounded up to a power of two), and the decoder's
/// own buffers (spec/format.md 6.3).
pub fn frame_budget(len: u64) -> u64 {
    len.saturating_add(1u64 << max_window_log(len))
        .saturating_add(FRAME_OVERHEAD)
}

/// The most memory `decode_stream` may hold for an item of `len` bytes, what it writes out not
/// counted: one frame's window and decoder, its read buffer and its output piece
/// (spec/format.md 6.3).
pub fn stream_budget(len: u64) -> u64 {
    (1u64 << max_window_log(len)) + FRAME_OVERHEAD + 2 * PIECE as u64 + MAX_FRAME_HEADER as u64
}

/// The decoder grows its output as data arrives, reserving at most this much up front, so a
/// member table that lies about sizes cannot make it allocate memory the data never fills.
const MAX_RESERVE: u64 = 16 << 20;

/// Items of this many bytes or more are streamed: a writer codes them alone in their chunk as it
/// reads them (`Codec::encode_stream`), and a reader writes them out as it decodes them, so that
/// neither holds a large file in memory. Such items are coded at the codec's `large_level`.
pub const STREAM_FROM: u64 = 32 << 20;

/// The longest zstd frame header (RFC 8878 3.1.1: magic, descriptor, window, dictionary id and
/// content size).
const MAX_FRAME_HEADER: usize = 18;

/// Pieces read from a streamed item, and the most a streamed decode holds besides its window.
const PIECE: usize = 1 << 20;

/// The probe for incompressible items: zstd's fastest level on a sample of the item (all of it
/// up to `PROBE_PIECES * PROBE_PIECE` bytes, else that many pieces spread evenly). Where it saves
/// under 1%, no level saves much, and the item is coded at the fastest level: level 19 takes
/// about 200 times longer on random bytes (2.6 MB/s) to give the same frame of raw blocks.
const PROBE_LEVEL: i32 = 1;
const PROBE_PIECES: u64 = 16;
const PROBE_PIECE: u64 = 16 << 10;
/// Items shorter than this are not probed: they cost little at any level.
const PROBE_FROM: u64 = 4 << 10;

pub struct ZstdCodec {
    level: i32,
    /// The level for items of `STREAM_FROM` bytes or more.
    large_level: i32,
}

impl ZstdCodec {
    /// Codes every item at `level` (except those the probe finds incompressible).
    pub fn new(level: i32) -> Self {
        ZstdCodec {
            level,
            large_level: level,
        }
    }

    /// Codes items of `STREAM_FROM` bytes or more at `level` when that is lower.
    pub fn with_large_level(mut self, level: i32) -> Self {
        self.large_level = self.level.min(level);
        self
    }

    /// The level for an item of `len` bytes whose probe sample is `sample`.
    fn item_level(&self, len: u64, sample: &[&[u8]]) -> i32 {
        if incompressible(sample) {
            PROBE_LEVEL.min(self.level)
        } else if len >= STREAM_FROM {
            self.large_level
        } else {
            self.level
        }
    }
}

/// Where the probe's pieces of an item of `len` bytes lie: (offset, length).
fn probe_pieces(len: u64) -> Vec<(u64, u64)> {
    if len < PROBE_FROM {
        Vec::new()
    } else if len <= PROBE_PIECES * PROBE_PIECE {
        vec![(0, len)]
    } else {
        (0..PROBE_PIECES)
            .map(|i| (i * (len - PROBE_PIECE) / (PROBE_PIECES - 1), PROBE_PIECE))
            .collect()
    }
}

/// Whether zstd's fastest level saves under 1% on `sample` (never for an empty sample).
fn incompressible(sample: &[&[u8]]) -> bool {
    let total: u64 = sample.iter().map(|p| p.len() as u64).sum();
    if total == 0 {
        return false;
    }
    let Ok(mut c) = zstd::bulk::Compressor::new(PROBE_LEVEL) else {
        return false;
    };
    let mut coded = 0u64;
    for piece in sample {
        match c.compress(piece) {
            Ok(frame) => coded += frame.len() as u64,
            Err(_) => return false,
        }
    }
    coded * 100 >= total * 99
}

/// A compressor per level, made when first needed.
struct Compressors(Vec<(i32, zstd::bulk::Compressor<'static>)>);

impl Compressors {
    fn get(&mut self, level: i32) -> Result<&mut zstd::bulk::Compressor<'static>, CodecError> {
        if let Some(i) = self.0.iter().position(|(l, _)| *l == level) {
            return Ok(&mut self.0[i].1);
        }
        let mut c = zstd::bulk::Compressor::new(level)
            .map_err(|e| CodecError::Internal(format!("zstd level {level}: {e}")))?;
        // The container's CRC already guards the chunk; a second checksum would only cost bytes.
        c.include_checksum(false)
            .and_then(|_| c.include_contentsize(true))
            .map_err(|e| CodecError::Internal(format!("zstd parameters: {e}")))?;
        self.0.push((level, c));
        Ok(&mut self.0.last_mut().expect("just pushed").1)
    }
}

/// Counts and hashes what passes through a reader.
struct Hashing<'r> {
    inner: &'r mut dyn SeekRead,
    len: u64,
    crc: crc32fast::Hasher,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.len += n as u64;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

impl Codec for ZstdCodec {
    fn id(&self) -> u8 {
        CODEC_ZSTD
    }

    fn name(&self) -> &str {
        "zstd"
    }

    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let mut compressors = Compressors(Vec::new());
        let mut out = Vec::new();
        for item in items {
            let bytes = match item {
                Payload::Bytes(b) => b.as_slice(),
                // zstd codes any bytes, so pixels are coded as they lie in memory.
                Payload::Image(img) => img.pixels.as_slice(),
            };
            let sample: Vec<&[u8]> = probe_pieces(bytes.len() as u64)
                .into_iter()
                .map(|(at, len)| &bytes[at as usize..(at + len) as usize])
                .collect();
            let level = self.item_level(bytes.len() as u64, &sample);
            let frame = compressors
                .get(level)?
                .compress(bytes)
                .map_err(|e| CodecError::Internal(format!("zstd compression: {e}")))?;
            out.extend_from_slice(&frame);
        }
        Ok(out)
    }

    /// One frame, written as it is made; the frame states its content size, so its window is
    /// what `max_window_log(len)` allows (libzstd sizes it from the pledged size).
    fn encode_stream(
        &self,
        len: u64,
        input: &mut dyn SeekRead,
        out: &mut dyn Write,
    ) -> Result<StreamedItem, CodecError> {
        let io = |e: std::io::Error| CodecError::Internal(format!("reading the item: {e}"));
        let mut pieces = Vec::new();
        for (at, n) in probe_pieces(len) {
            let mut piece = Vec::with_capacity(n as usize);
            input.seek(SeekFrom::Start(at)).map_err(io)?;
            (&mut *input).take(n).read_to_end(&mut piece).map_err(io)?;
            pieces.push(piece);
        }
        input.seek(SeekFrom::Start(0)).map_err(io)?;
        let sample: Vec<&[u8]> = pieces.iter().map(|p| p.as_slice()).collect();
        let level = self.item_level(len, &sample);
        drop(pieces);
        let failed = |e: std::io::Error| CodecError::Internal(format!("zstd compression: {e}"));
        let mut encoder = zstd::stream::write::Encoder::new(out, level).map_err(failed)?;
        encoder.include_checksum(false).map_err(failed)?;
        encoder.include_contentsize(true).map_err(failed)?;
        encoder.set_pledged_src_size(Some(len)).map_err(failed)?;
        let mut hashing = Hashing {
            inner: input,
            len: 0,
            crc: crc32fast::Hasher::new(),
        };
        let mut buf = vec![0u8; PIECE];
        loop {
            let n = hashing.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            if hashing.len > len {
                break;
            }
            encoder.write_all(&buf[..n]).map_err(failed)?;
        }
        if hashing.len != len {
            // Not `len` bytes after all: the frame is left unfinished, which the caller refuses.
            return Ok(StreamedItem {
                len: hashing.len,
                crc: 0,
            });
        }
        encoder.finish().map_err(failed)?;
        Ok(StreamedItem {
            len,
            crc: hashing.crc.finalize(),
        })
    }

    fn decode_stream(
        &self,
        data: &mut dyn Read,
        shape: ItemShape,
        out: &mut dyn Write,
    ) -> Result<(), CodecError> {
        let expected = shape.decoded_len();
        let corrupt = |e: String| CodecError::Corrupt(format!("item 0: {e}"));
        // The frame header (at most 18 bytes) is checked before the decoder sees the frame.
        let mut header = Vec::with_capacity(MAX_FRAME_HEADER);
        (&mut *data)
            .take(MAX_FRAME_HEADER as u64)
            .read_to_end(&mut header)
            .map_err(|e| corrupt(format!("reading the chunk: {e}")))?;
        if header.is_empty() {
            return Err(corrupt("missing zstd frame (chunk ends early)".into()));
        }
        check_frame_header(&header, expected).map_err(corrupt)?;
        let mut input = std::io::BufReader::with_capacity(PIECE, header.as_slice().chain(data));
        let mut decoder = zstd::stream::read::Decoder::with_buffer(&mut input)
            .map_err(|e| corrupt(format!("zstd decoder: {e}")))?
            .single_frame();
        decoder
            .window_log_max(max_window_log(expected))
            .map_err(|e| corrupt(format!("zstd decoder: {e}")))?;
        let mut buf = vec![0u8; PIECE];
        let mut done = 0u64;
        loop {
            let n = decoder
                .read(&mut buf)
                .map_err(|e| corrupt(format!("zstd data damaged: {e}")))?;
            if n == 0 {
                break;
            }
            done += n as u64;
            if done > expected {
                return Err(corrupt(format!(
                    "decodes to more than the {expected} bytes the member table says"
                )));
            }
            out.write_all(&buf[..n])
                .map_err(|e| CodecError::Internal(format!("writing the item: {e}")))?;
        }
        if done != expected {
            return Err(corrupt(format!(
                "decodes to {done} bytes, the member table says {expected}"
            )));
        }
        drop(decoder);
        let mut stray = [0u8; 1];
        match input.read(&mut stray) {
            Ok(0) => Ok(()),
            Ok(_) => Err(CodecError::Corrupt(
                "stray bytes after the last of 1 frames".into(),
            )),
            Err(e) => Err(corrupt(format!("reading the chunk: {e}"))),
        }
    }

    fn streams(&self, shape: ItemShape) -> bool {
        matches!(shape, ItemShape::Bytes { len } if len >= STREAM_FROM)
    }

    /// Frames are decoded one at a time: the outputs kept, plus one frame's window and buffers.
    fn decode_budget(&self, _data_len: u64, shapes: &[ItemShape]) -> u64 {
        let frame = shapes
            .iter()
            .map(|s| frame_budget(s.decoded_len()) - s.decoded_len())
            .max()
            .unwrap_or(0);
        super::decoded_total(shapes)
            .saturating_add(frame)
            .saturating_add(super::ITEM_OVERHEAD.saturating_mul(shapes.len() as u64))
    }

    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError> {
        for (i, (frame, shape)) in frames(data, shapes.len())?
            .into_iter()
            .zip(shapes)
            .enumerate()
        {
            check_frame_header(frame, shape.decoded_len())
                .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
        }
        Ok(())
    }

    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        super::check_upto(upto, shapes.len())?;
        // Walking every frame header (cheap) even past `upto` keeps the check that the chunk holds
        // exactly as many frames as the member table says, whatever is asked.
        let frames = frames(data, shapes.len())?;
        let mut out = Vec::with_capacity(upto + 1);
        for (i, (frame, shape)) in frames.into_iter().zip(shapes).take(upto + 1).enumerate() {
            let bytes = decode_frame(frame, shape.decoded_len())
                .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
            out.push(match *shape {
                ItemShape::Bytes { .. } => Payload::Bytes(bytes),
                ItemShape::Image {
                    width,
                    height,
                    channels,
                    depth,
                } => Payload::Image(super::Image {
                    width,
                    height,
                    channels,
                    depth,
                    pixels: bytes,
                }),
            });
        }
        Ok(out)
    }
}

/// The chunk's `count` frames, found from their headers only; nothing may follow the last.
fn frames(data: &[u8], count: usize) -> Result<Vec<&[u8]>, CodecError> {
    let mut out = Vec::with_capacity(count.min(data.len()));
    let mut pos = 0usize;
    for i in 0..count {
        let len =
            frame_len(&data[pos..]).map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
        out.push(&data[pos..pos + len]);
        pos += len;
    }
    if pos != data.len() {
        return Err(CodecError::Corrupt(format!(
            "{} stray bytes after the last of {count} frames",
            data.len() - pos
        )));
    }
    Ok(out)
}

/// The length of the zstd frame at the start of `data`, read from its headers only.
pub(super) fn frame_len(data: &[u8]) -> Result<usize, String> {
    if data.is_empty() {
        return Err("missing zstd frame (chunk ends early)".to_string());
    }
    match zstd::zstd_safe::find_frame_compressed_size(data) {
        Ok(n) if n > 0 && n <= data.len() => Ok(n),
        Ok(_) => Err("bad zstd frame length".to_string()),
        Err(code) => Err(format!(
            "bad zstd frame: {}",
            zstd::zstd_safe::get_error_name(code)
        )),
    }
}

/// Checks what a frame's header states against the item it must hold, without decoding it: its
/// content size, where present, must be the promised size, and its window no larger than
/// `max_window_log(expected)` allows (spec/format.md 6.1). The writer runs it on what it wrote,
/// so it never keeps a frame its reader refuses.
pub(super) fn check_frame_header(frame: &[u8], expected: u64) -> Result<(), String> {
    if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(frame) {
        if n != expected {
            return Err(format!(
                "frame holds {n} bytes, the member table says {expected}"
            ));
        }
    }
    match frame_window(frame) {
        Some(w) if w > 1u64 << max_window_log(expected) => Err(format!(
            "zstd frame asks for a {w}-byte window, more than a {expected}-byte item may"
        )),
        _ => Ok(()),
    }
}

/// The window a frame's header asks for (RFC 8878 3.1.1.1: the frame content size for a
/// single-segment frame, else the window descriptor), or `None` if the header is not there.
fn frame_window(frame: &[u8]) -> Option<u64> {
    if frame.get(..4)? != [0x28, 0xB5, 0x2F, 0xFD] {
        return None;
    }
    let descriptor = *frame.get(4)?;
    if descriptor & 0x20 == 0 {
        let w = *frame.get(5)?;
        let base = 1u64 << (10 + (w >> 3));
        return Some(base + (base / 8) * u64::from(w & 7));
    }
    // Single segment: the window is the content size, at least libzstd's 2^10.
    let size = zstd::zstd_safe::get_frame_content_size(frame).ok()??;
    Some(size.max(1 << MIN_WINDOW_LOG))
}

/// Decompresses one frame that must yield exactly `expected` bytes.
pub(super) fn decode_frame(frame: &[u8], expected: u64) -> Result<Vec<u8>, String> {
    let out = decode_frame_within(frame, expected)?;
    if out.len() as u64 != expected {
        return Err(format!(
            "decodes to {}{} bytes, the member table says {expected}",
            out.len(),
            if out.len() as u64 > expected { "+" } else { "" }
        ));
    }
    Ok(out)
}

/// Decodes one frame to at most `cap` bytes, or one byte more when it holds more (so the caller
/// sees that it does without the frame ever making it allocate beyond its bound).
pub(super) fn decode_frame_within(frame: &[u8], cap: u64) -> Result<Vec<u8>, String> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(|e| format!("zstd decoder: {e}"))?
        .single_frame();
    decoder
        .window_log_max(max_window_log(cap))
        .map_err(|e| format!("zstd decoder: {e}"))?;
    let mut out = Vec::with_capacity(cap.min(MAX_RESERVE) as usize);
    // Reading one byte past the bound is how an over-long frame is caught without trusting it.
    decoder
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("zstd data damaged: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[u8]) -> Payload {
        Payload::Bytes(v.to_vec())
    }

    #[test]
    fn round_trip_and_prefix_decode() {
        let items = [bytes(b"hello"), bytes(b""), bytes(&[7u8; 10_000])];
        let refs: Vec<&Payload> = items.iter().collect();
        let c = ZstdCodec::new(3);
        let data = c.encode_chunk(&refs).unwrap();
        let shapes: Vec<ItemShape> = [5u64, 0, 10_000]
            .iter()
            .map(|&len| ItemShape::Bytes { len })
            .collect();
        assert_eq!(c.decode_chunk(&data, &shapes, 2).unwrap(), items.to_vec());
        assert_eq!(
            c.decode_chunk(&data, &shapes, 0).unwrap(),
            vec![bytes(b"hello")]
        );
    }

    #[test]
    fn refuses_wrong_sizes_and_frame_counts() {
        let c = ZstdCodec::new(3);
        let data = c.encode_chunk(&[&bytes(b"abc")]).unwrap();
        assert!(c
            .decode_chunk(&data, &[ItemShape::Bytes { len: 2 }], 0)
            .is_err());
        assert!(c
            .decode_chunk(&data, &[ItemShape::Bytes { len: 4 }], 0)
            .is_err());
        let two = [ItemShape::Bytes { len: 3 }, ItemShape::Bytes { len: 3 }];
        assert!(c.decode_chunk(&data, &two, 0).is_err());
        assert!(c.check_chunk(&data, &[ItemShape::Bytes { len: 3 }]).is_ok());
        assert!(c
            .check_chunk(&data, &[ItemShape::Bytes { len: 4 }])
            .is_err());
        assert!(c.check_chunk(&data, &two).is_err());
        let mut extra = data.clone();
        extra.push(0);
        assert!(c
            .check_chunk(&extra, &[ItemShape::Bytes { len: 3 }])
            .is_err());
        assert!(c
            .decode_chunk(&extra, &[ItemShape::Bytes { len: 3 }], 0)
            .is_err());
    }

    #[test]
    fn the_probe_sends_noise_to_the_fastest_level_and_large_items_to_the_large_level() {
        let c = ZstdCodec::new(19).with_large_level(9);
        let noise: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ (i >> 7) as u8)
            .collect();
        let pieces = |bytes: &[u8]| -> Vec<Vec<u8>> {
            probe_pieces(bytes.len() as u64)
                .into_iter()
                .map(|(at, n)| bytes[at as usize..(at + n) as usize].to_vec())
                .collect()
        };
        let random = {
            let mut s = 0x2545_f491_4f6c_dd1du64;
            (0..1 << 20)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 32) as u8
                })
                .collect::<Vec<u8>>()
        };
        let text: Vec<u8> = random.iter().map(|b| b'a' + (b & 15)).collect();
        let level = |bytes: &[u8], len: u64| {
            let p = pieces(bytes);
            let refs: Vec<&[u8]> = p.iter().map(|v| v.as_slice()).collect();
            c.item_level(len, &refs)
        };
        assert_eq!(level(&random, 1 << 20), PROBE_LEVEL);
        assert_eq!(level(&random, STREAM_FROM), PROBE_LEVEL);
        assert_eq!(level(&text, 1 << 20), 19);
        assert_eq!(level(&text, STREAM_FROM), 9);
        assert_eq!(level(&noise, 1 << 20), 19, "patterned bytes compress");
        // Short items are not probed.
        assert_eq!(level(&random[..1000], 1000), 19);
        assert_eq!(probe_pieces(100).len(), 0);
        assert_eq!(
            probe_pieces(PROBE_PIECES * PROBE_PIECE),
            vec![(0, PROBE_PIECES * PROBE_PIECE)]
        );
        let spread = probe_pieces(1 << 30);
        assert_eq!(spread.len() as u64, PROBE_PIECES);
        assert_eq!(spread[0].0, 0);
        assert_eq!(spread.last().unwrap().0 + PROBE_PIECE, 1 << 30);
        // A codec asked for level 3 throughout keeps it for large items.
        assert_eq!(ZstdCodec::new(3).with_large_level(9).large_level, 3);
        // Noise coded at the fastest level still round-trips, in raw blocks.
        let data = ZstdCodec::new(19).encode_chunk(&[&bytes(&random)]).unwrap();
        assert!(data.len() < random.len() + 64);
        let shape = [ItemShape::Bytes { len: 1 << 20 }];
        assert_eq!(
            c.decode_chunk(&data, &shape, 0).unwrap(),
            vec![bytes(&random)]
        );
    }

    #[test]
    fn a_streamed_item_decodes_both_ways_and_refuses_what_the_table_does_not_say() {
        let c = ZstdCodec::new(3);
        let item: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
            .collect();
        let len = item.len() as u64;
        let mut chunk = Vec::new();
        let got = c
            .encode_stream(len, &mut std::io::Cursor::new(&item), &mut chunk)
            .unwrap();
        assert_eq!(
            got,
            StreamedItem {
                len,
                crc: crc32fast::hash(&item)
            }
        );
        let shape = ItemShape::Bytes { len };
        c.check_chunk(&chunk, &[shape]).unwrap();
        assert_eq!(
            c.decode_chunk(&chunk, &[shape], 0).unwrap(),
            vec![bytes(&item)]
        );
        let mut out = Vec::new();
        c.decode_stream(&mut chunk.as_slice(), shape, &mut out)
            .unwrap();
        assert!(out == item);
        // The same chunk from encode_chunk streams too.
        let bulk = c.encode_chunk(&[&bytes(&item)]).unwrap();
        let mut out = Vec::new();
        c.decode_stream(&mut bulk.as_slice(), shape, &mut out)
            .unwrap();
        assert!(out == item);

        let refuses = |data: &[u8], len: u64| {
            c.decode_stream(&mut &data[..], ItemShape::Bytes { len }, &mut Vec::new())
                .is_err()
        };
        assert!(refuses(&chunk, len - 1));
        assert!(refuses(&chunk, len + 1));
        assert!(refuses(&chunk[..chunk.len() - 1], len));
        assert!(refuses(&[], len));
        let mut stray = chunk.clone();
        stray.push(0);
        assert!(refuses(&stray, len));
        let mut two = chunk.clone();
        two.extend_from_slice(&chunk);
        assert!(refuses(&two, len));
        let mut damaged = chunk.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 0xFF;
        assert!(
            refuses(&damaged, len) || {
                // Damage zstd cannot see (in a raw literal) is the CRCs' to catch.
                let mut out = Vec::new();
                c.decode_stream(&mut damaged.as_slice(), shape, &mut out)
                    .unwrap();
                out != item
            }
        );

        // An input that is not the promised length leaves the chunk unfinished and says so.
        let short = c
            .encode_stream(len + 5, &mut std::io::Cursor::new(&item), &mut Vec::new())
            .unwrap();
        assert_eq!(short.len, len);
        let long = c
            .encode_stream(len - 5, &mut std::io::Cursor::new(&item), &mut Vec::new())
            .unwrap();
        assert!(long.len > len - 5);
        assert!(c.streams(ItemShape::Bytes { len: STREAM_FROM }));
        assert!(!c.streams(ItemShape::Bytes {
            len: STREAM_FROM - 1
        }));
    }

    #[test]
    fn huge_promise_is_not_allocated() {
        let c = ZstdCodec::new(3);
        let data = c.encode_chunk(&[&bytes(b"abc")]).unwrap();
        let err = c.decode_chunk(&data, &[ItemShape::Bytes { len: u64::MAX / 2 }], 0);
        assert!(err.is_err());
    }
}
