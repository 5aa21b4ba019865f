//! Codec id 1: every item is one Zstandard frame (RFC 8878); a chunk is the frames back to back.
//!
//! One frame per item (instead of one frame for the whole chunk) lets a reader skip to item k by
//! walking frame headers, without decompressing the items before it.

use super::{Codec, CodecError, ItemShape, Payload, CODEC_ZSTD};
use std::io::Read;

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

/// The decoder grows its output as data arrives, reserving at most this much up front, so a
/// member table that lies about sizes cannot make it allocate memory the data never fills.
const MAX_RESERVE: u64 = 16 << 20;

pub struct ZstdCodec {
    level: i32,
}

impl ZstdCodec {
    pub fn new(level: i32) -> Self {
        ZstdCodec { level }
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
        let mut compressor = zstd::bulk::Compressor::new(self.level)
            .map_err(|e| CodecError::Internal(format!("zstd level {}: {e}", self.level)))?;
        // The container's CRC already guards the chunk; a second checksum would only cost bytes.
        compressor
            .include_checksum(false)
            .and_then(|_| compressor.include_contentsize(true))
            .map_err(|e| CodecError::Internal(format!("zstd parameters: {e}")))?;
        let mut out = Vec::new();
        for item in items {
            let bytes = match item {
                Payload::Bytes(b) => b.as_slice(),
                // zstd codes any bytes, so pixels are coded as they lie in memory.
                Payload::Image(img) => img.pixels.as_slice(),
            };
            let frame = compressor
                .compress(bytes)
                .map_err(|e| CodecError::Internal(format!("zstd compression: {e}")))?;
            out.extend_from_slice(&frame);
        }
        Ok(out)
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
                } => Payload::Image(super::Image {
                    width,
                    height,
                    channels,
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
    fn huge_promise_is_not_allocated() {
        let c = ZstdCodec::new(3);
        let data = c.encode_chunk(&[&bytes(b"abc")]).unwrap();
        let err = c.decode_chunk(&data, &[ItemShape::Bytes { len: u64::MAX / 2 }], 0);
        assert!(err.is_err());
    }
}
