//! The index is stored compressed: member tables of image datasets are long and repetitive
//! (similar paths, equal sizes and modes), and uncompressed they cost more than the coded pixels
//! of small images (about 80 bytes per MNIST member against about 120 bytes of coded pixels).
//!
//! Stored form (`spec/format.md` section 4): `raw_length (u64 LE) | one zstd frame`, the frame
//! decompressing to exactly `raw_length` bytes.

use super::error::{Error, Result};
use super::limits::{max_raw_index, INDEX_WINDOW_LOG, MAX_RAW_INDEX};
use std::io::Read;

/// zstd level for the index: it is written once and small next to the chunks.
const LEVEL: i32 = 19;

/// Packs a raw index so that `unpack_index` accepts it. An index that compresses better than the
/// reader's bound allows (only archives of extreme, repetitive metadata do) is stored in a frame
/// of raw blocks instead, which any zstd decoder reads. An index over `MAX_RAW_INDEX` cannot be
/// stored at all.
pub fn pack_index(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.len() as u64 > MAX_RAW_INDEX {
        return Err(Error::Invalid(format!(
            "the index would be {} bytes, more than the {MAX_RAW_INDEX} a reader accepts \
             (split the members over several archives)",
            raw.len()
        )));
    }
    let mut frame = zstd::bulk::compress(raw, LEVEL).expect("zstd compresses any input in memory");
    if raw.len() as u64 > max_raw_index(8 + frame.len() as u64) {
        frame = raw_frame(raw);
    }
    let mut out = Vec::with_capacity(8 + frame.len());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&frame);
    Ok(out)
}

/// A zstd frame (RFC 8878) holding `data` in raw (uncompressed) blocks of at most 128 KiB.
fn raw_frame(data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 1 << 17;
    let mut out = Vec::with_capacity(data.len() + 6 + 3 * (data.len() / BLOCK + 1));
    out.extend_from_slice(&0xFD2F_B528u32.to_le_bytes());
    // Frame header descriptor: no content size, not single-segment, no checksum, no dictionary;
    // then a window descriptor of 2^17 bytes (exponent 7, mantissa 0), the largest block size.
    out.push(0);
    out.push(7 << 3);
    let mut blocks = data.chunks(BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0]); // one empty last raw block
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none() as u32;
        // Block header: last-block bit, type 0 (raw) in bits 1-2, size in bits 3-23.
        let header = last | ((block.len() as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(block);
    }
    out
}

pub fn unpack_index(stored: &[u8]) -> Result<Vec<u8>> {
    let bad = |why: String| Error::Corrupt(format!("index is damaged: {why}"));
    let Some((len, frame)) = stored.split_first_chunk::<8>() else {
        return Err(bad("shorter than its length field".into()));
    };
    let raw_len = u64::from_le_bytes(*len);
    let bound = max_raw_index(stored.len() as u64);
    if raw_len > bound {
        return Err(bad(format!(
            "claims {raw_len} bytes unpacked, more than {bound}"
        )));
    }
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(|e| bad(format!("zstd: {e}")))?
        .single_frame();
    decoder
        .window_log_max(INDEX_WINDOW_LOG)
        .map_err(|e| bad(format!("zstd: {e}")))?;
    let mut raw = Vec::with_capacity(raw_len as usize);
    // One byte past the promise catches an over-long frame without trusting it.
    decoder
        .take(raw_len + 1)
        .read_to_end(&mut raw)
        .map_err(|e| bad(format!("zstd: {e}")))?;
    if raw.len() as u64 != raw_len {
        return Err(bad(format!(
            "unpacks to {} bytes, not {raw_len}",
            raw.len()
        )));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let raw: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let stored = pack_index(&raw).unwrap();
        assert!(stored.len() < raw.len() / 4);
        assert_eq!(unpack_index(&stored).unwrap(), raw);
        // A wrong length, either way, and a bomb's claim are refused.
        for claim in [raw.len() as u64 - 1, raw.len() as u64 + 1, u64::MAX] {
            let mut s = stored.clone();
            s[..8].copy_from_slice(&claim.to_le_bytes());
            assert!(unpack_index(&s).is_err(), "claim {claim}");
        }
        assert!(unpack_index(&stored[..stored.len() - 1]).is_err());
        assert!(unpack_index(&stored[..5]).is_err());
    }

    #[test]
    fn an_index_too_compressible_for_the_bound_is_stored_raw() {
        // 48 MiB of zeros compresses far beyond the reader's 4096:1 bound.
        let raw = vec![0u8; 48 << 20];
        let stored = pack_index(&raw).unwrap();
        assert!(raw.len() as u64 <= max_raw_index(stored.len() as u64));
        assert_eq!(unpack_index(&stored).unwrap(), raw);
        for n in [0usize, 1, (1 << 17) - 1, 1 << 17, (1 << 17) + 1, 300_000] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let frame = raw_frame(&data);
            assert_eq!(
                zstd::stream::decode_all(&frame[..]).unwrap(),
                data,
                "{n} bytes"
            );
        }
    }
}
