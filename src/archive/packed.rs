//! The index is stored compressed: member tables of image datasets are long and repetitive
//! (similar paths, equal sizes and modes), and uncompressed they cost more than the coded pixels
//! of small images (about 80 bytes per MNIST member against about 120 bytes of coded pixels).
//!
//! Stored form (`spec/format.md` section 4): `raw_length (u64 LE) | one zstd frame`, the frame
//! decompressing to exactly `raw_length` bytes.

use super::error::{Error, Result};
use std::io::Read;

/// zstd level for the index: it is written once and small next to the chunks.
const LEVEL: i32 = 19;
/// A raw index may be at most this many times its stored size (plus `SLACK`): a bound on what a
/// hostile archive can make a reader allocate. Real indexes compress 5-30 fold.
const MAX_RATIO: u64 = 4096;
const SLACK: u64 = 1 << 20;
/// And never more than this.
const MAX_RAW: u64 = 1 << 32;

pub fn pack_index(raw: &[u8]) -> Vec<u8> {
    let frame = zstd::bulk::compress(raw, LEVEL).expect("zstd compresses any input in memory");
    let mut out = Vec::with_capacity(8 + frame.len());
    out.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    out.extend_from_slice(&frame);
    out
}

pub fn unpack_index(stored: &[u8]) -> Result<Vec<u8>> {
    let bad = |why: String| Error::Corrupt(format!("index is damaged: {why}"));
    let Some((len, frame)) = stored.split_first_chunk::<8>() else {
        return Err(bad("shorter than its length field".into()));
    };
    let raw_len = u64::from_le_bytes(*len);
    let bound = (stored.len() as u64)
        .saturating_mul(MAX_RATIO)
        .saturating_add(SLACK)
        .min(MAX_RAW);
    if raw_len > bound {
        return Err(bad(format!(
            "claims {raw_len} bytes unpacked, more than {bound}"
        )));
    }
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(|e| bad(format!("zstd: {e}")))?
        .single_frame();
    decoder
        .window_log_max(27)
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
        let stored = pack_index(&raw);
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
}
