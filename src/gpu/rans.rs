//! Many independent rANS streams coded at once, one GPU thread per stream (spec/ans.md; the
//! kernels are in `kernels/rans.cu`). A stream is a one-lane `ans::Stack`: its bytes, sealed
//! by [`Streams::to_stacks`], are exactly those of the CPU coder given the same operations.
//!
//! Symbols are given symbol-major: symbol `t` of stream `s` is at index `t * n + s`.

use super::host::check_intervals;
use super::kernels::{fail, GpuResult, Kernels, RansShape};
use crate::ans::{Stack, HEAD_MIN};

/// `n` streams on the device of `K`, each with a tail of up to `cap` words.
pub struct Streams<K: Kernels> {
    n: usize,
    cap: usize,
    heads: K::Buf<u64>,
    tail: K::Buf<u32>,
    tail_len: K::Buf<u32>,
    borrowed: K::Buf<u64>,
    status: K::Buf<u32>,
}

/// Intervals already on the device, for repeated launches (benchmarks).
pub struct Intervals<K: Kernels> {
    pub count: usize,
    pub precision: u32,
    start: K::Buf<u32>,
    freq: K::Buf<u32>,
}

impl<K: Kernels> Intervals<K> {
    /// Checks every interval (`freq >= 1`, `start + freq <= 2^precision`) and uploads them.
    pub fn upload(
        k: &K,
        n: usize,
        precision: u32,
        start: &[u32],
        freq: &[u32],
    ) -> GpuResult<Intervals<K>> {
        if n == 0 || start.len() != freq.len() || start.len() % n != 0 {
            return Err(fail(
                "intervals: lengths do not match the stream count".into(),
            ));
        }
        if !(1..=31).contains(&precision) {
            return Err(fail(format!("precision {precision} outside 1..=31")));
        }
        check_intervals(start, freq, precision)?;
        Ok(Intervals {
            count: start.len() / n,
            precision,
            start: k.upload(start)?,
            freq: k.upload(freq)?,
        })
    }
}

impl<K: Kernels> Streams<K> {
    /// `n` fresh streams (every head 2^32, empty tails, nothing borrowed).
    pub fn new(k: &K, n: usize, cap: usize) -> GpuResult<Streams<K>> {
        if n == 0 || n > u32::MAX as usize || cap > u32::MAX as usize {
            return Err(fail(format!("{n} streams of {cap} words: out of range")));
        }
        let words = n
            .checked_mul(cap)
            .ok_or_else(|| fail("tail size overflows".into()))?;
        Ok(Streams {
            n,
            cap,
            heads: k.upload(&vec![HEAD_MIN; n])?,
            tail: k.zeros(words)?,
            tail_len: k.zeros(n)?,
            borrowed: k.zeros(n)?,
            status: k.zeros(n)?,
        })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn shape(&self, count: usize, precision: u32, nsym: usize) -> RansShape {
        RansShape {
            n: self.n,
            count,
            precision,
            cap: self.cap,
            nsym,
        }
    }

    /// Pushes symbol `t = 0, 1, ..` of every stream, in that order.
    pub fn push(&mut self, k: &K, iv: &Intervals<K>) -> GpuResult<()> {
        let s = self.shape(iv.count, iv.precision, 0);
        k.rans_push(
            s,
            &iv.start,
            &iv.freq,
            &mut self.heads,
            &mut self.tail,
            &mut self.tail_len,
            &mut self.status,
        )
    }

    /// Undoes `push` of the same intervals (pops `t = count-1, .., 0`).
    pub fn pop(&mut self, k: &K, iv: &Intervals<K>) -> GpuResult<()> {
        let s = self.shape(iv.count, iv.precision, 0);
        k.rans_pop(
            s,
            &iv.start,
            &iv.freq,
            &mut self.heads,
            &self.tail,
            &mut self.tail_len,
            &mut self.borrowed,
        )
    }

    /// Decodes `count` symbols per stream under the categorical `cdf` (`cdf[0] = 0`, strictly
    /// rising to `cdf[nsym] = 2^precision`) into `sym`, symbol-major, in push order.
    pub fn pop_cdf(
        &mut self,
        k: &K,
        cdf: &K::Buf<u32>,
        precision: u32,
        count: usize,
        sym: &mut K::Buf<u32>,
    ) -> GpuResult<()> {
        let nsym = K::len(cdf).saturating_sub(1);
        let s = self.shape(count, precision, nsym);
        k.rans_pop_cdf(
            s,
            cdf,
            sym,
            &mut self.heads,
            &self.tail,
            &mut self.tail_len,
            &mut self.borrowed,
        )
    }

    /// Supply words each stream has read under an empty tail (spec/ans.md 3.4).
    pub fn borrowed(&self, k: &K) -> GpuResult<Vec<u64>> {
        k.download(&self.borrowed)
    }

    /// Each stream as a one-lane `ans::Stack` (its sealed bytes are the stream's). Fails if a
    /// push found a tail full.
    pub fn to_stacks(&self, k: &K) -> GpuResult<Vec<Stack>> {
        let status = k.download(&self.status)?;
        if let Some(s) = status.iter().take(self.n).position(|&v| v != 0) {
            return Err(fail(format!(
                "stream {s}: tail full ({} words); give the streams more room",
                self.cap
            )));
        }
        let heads = k.download(&self.heads)?;
        let lens = k.download(&self.tail_len)?;
        let tail = k.download(&self.tail)?;
        (0..self.n)
            .map(|s| {
                let words = (0..lens[s] as usize).map(|w| tail[w * self.n + s]);
                Stack::from_bytes(&seal_one_lane(heads[s], words))
                    .map_err(|e| fail(format!("stream {s}: {e}")))
            })
            .collect()
    }
}

/// The sealed bytes (spec/ans.md 4.1) of a one-lane stack.
fn seal_one_lane(head: u64, tail: impl Iterator<Item = u32>) -> Vec<u8> {
    let size = (8 - head.leading_zeros() as usize / 8).max(5);
    let mut out = vec![1u8, (size - 5) as u8];
    out.extend_from_slice(&head.to_le_bytes()[..size]);
    for w in tail {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}
