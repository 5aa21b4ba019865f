//! Byte layout of a sealed stack (spec/ans.md section 4). The container stores
//! the total length, so nothing here records its own size or version.

use super::{AnsError, Stack, HEAD_MIN, MAX_LANES};

/// Bytes a head takes: 5 to 8, the fewest that hold it (it is at least 2^32).
#[inline]
fn head_bytes(head: u64) -> usize {
    8 - (head.leading_zeros() / 8) as usize
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

impl Stack {
    /// Exact length of `to_bytes()`, computed without serialising.
    pub fn serialized_len(&self) -> usize {
        let lanes = self.lanes();
        let heads: usize = self.heads.iter().map(|&h| head_bytes(h)).sum();
        varint_len(lanes as u64) + lanes.div_ceil(4) + heads + 4 * self.tail.len()
    }

    /// Seals the stack: lane count, head sizes, heads, tail (spec/ans.md 4).
    /// The borrowed-word counter is not part of the data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.serialized_len());
        let mut v = self.lanes() as u64;
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        for group in self.heads.chunks(4) {
            let mut b = 0u8;
            for (i, &h) in group.iter().enumerate() {
                b |= ((head_bytes(h) - 5) as u8) << (2 * i);
            }
            out.push(b);
        }
        for &h in &self.heads {
            out.extend_from_slice(&h.to_le_bytes()[..head_bytes(h)]);
        }
        for &w in &self.tail {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads a sealed stack, checking every rule of spec/ans.md 4.2. Allocates
    /// at most in proportion to `bytes.len()`; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Stack, AnsError> {
        let (lanes, mut pos) = read_lane_count(bytes)?;
        let sizes_len = lanes.div_ceil(4);
        // Every head takes at least 5 bytes: refuse before allocating anything.
        if (bytes.len() - pos) / 5 < lanes || bytes.len() - pos - 5 * lanes < sizes_len {
            return Err(AnsError::Truncated("heads"));
        }
        let sizes = &bytes[pos..pos + sizes_len];
        pos += sizes_len;
        let used_bits = 2 * (lanes % 4);
        if used_bits != 0 && sizes[sizes_len - 1] >> used_bits != 0 {
            return Err(AnsError::BadPadding);
        }
        let mut heads = Vec::with_capacity(lanes);
        for lane in 0..lanes {
            let n = 5 + ((sizes[lane / 4] >> (2 * (lane % 4))) & 3) as usize;
            let field = bytes
                .get(pos..pos + n)
                .ok_or(AnsError::Truncated("heads"))?;
            pos += n;
            let mut le = [0u8; 8];
            le[..n].copy_from_slice(field);
            let head = u64::from_le_bytes(le);
            // Minimal size: the last byte is nonzero; this also gives head >= 2^32.
            if field[n - 1] == 0 {
                return Err(AnsError::BadHead { lane });
            }
            debug_assert!(head >= HEAD_MIN);
            heads.push(head);
        }
        let rest = &bytes[pos..];
        if !rest.len().is_multiple_of(4) {
            return Err(AnsError::RaggedTail { len: rest.len() });
        }
        let tail = rest
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        Ok(Stack {
            heads,
            tail,
            borrowed: 0,
            journal: None,
        })
    }
}

/// LEB128, at most 4 bytes, minimal, value in `1..=MAX_LANES`.
fn read_lane_count(bytes: &[u8]) -> Result<(usize, usize), AnsError> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(4) {
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            // A multi-byte varint ending in 0 has a shorter form.
            if (i > 0 && b == 0) || v == 0 || v > MAX_LANES as u64 {
                return Err(AnsError::BadLaneCount);
            }
            return Ok((v as usize, i + 1));
        }
    }
    if bytes.len() < 4 {
        Err(AnsError::Truncated("lane count"))
    } else {
        Err(AnsError::BadLaneCount)
    }
}
