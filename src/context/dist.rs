//! The context code's per-sample distribution: a discretised logistic over the `2^depth` sample
//! values (256 for 8-bit images), centred on a prediction in 1/8 units, with a fixed-point inverse
//! scale (spec/context.md 5 and 7).
//!
//! Integers only: the logistic CDF comes from the integer table `T` of spec/model.md 4.5, indexed
//! by an integer argument, so no floating-point operation is involved anywhere.

use crate::model::{logistic_table, TABLE_LEN};

/// Largest table argument magnitude, `16 * 65536` (the table covers `t` in `[-16, 16]`).
const T_MAX: u64 = 1 << 20;

/// Fractional bits of a prediction.
pub const PRED_BITS: u32 = 3;
/// Largest prediction of an 8-bit sample: 255 in 1/8 units.
pub const PRED_MAX: i32 = 255 << PRED_BITS;
/// Fractional bits of an 8-bit sample's inverse scale; a deeper sample's has `shift` more.
pub const INV_SCALE_BITS: u32 = 16;

/// The sample depth the context code works at (spec/context.md 7): `bits` from 8 to 16, and
/// `shift = bits - 8`, by which every quantity measured in sample units is scaled so that a
/// deep image sees the contexts, weights and bounds an 8-bit image of the same look would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depth {
    shift: u32,
}

impl Depth {
    /// 8-bit samples: the depth of every Bit-Swap chunk.
    pub const EIGHT: Depth = Depth { shift: 0 };

    /// Samples of `bits` bits (at most 16); fewer than 8 count as 8.
    pub fn new(bits: u32) -> Depth {
        assert!(bits <= 16, "sample depth {bits} above 16");
        Depth {
            shift: bits.saturating_sub(8),
        }
    }

    pub fn bits(self) -> u32 {
        8 + self.shift
    }

    /// `bits - 8`.
    pub fn shift(self) -> u32 {
        self.shift
    }

    /// How many values a sample takes: `2^bits`.
    pub fn values(self) -> u32 {
        256 << self.shift
    }

    /// The largest prediction, `(2^bits - 1)` in 1/8 units.
    pub fn pred_max(self) -> i32 {
        ((self.values() - 1) << PRED_BITS) as i32
    }
}

/// Weight of the narrow logistic in the mixture, in 1/256.
const NARROW_WEIGHT: u64 = 230;
/// Scale of the wide logistic over the narrow one's, in 1/256.
const WIDE_RATIO: u64 = 640;

/// The integer logistic CDF (spec/model.md 4.5's `T`, interpolated) at the edge `v - 1/2`, for
/// a centre `pred` (1/8 units) and inverse scale `inv_scale` (Q16).
/// `inv_scale` has `INV_SCALE_BITS + shift` fractional bits.
#[inline(always)]
fn logistic(table: &[u32; TABLE_LEN], pred: i32, v: u32, inv_scale: u32, shift: u32) -> u64 {
    // Edge minus centre in 1/16 units: 16 v - 8 - 2 pred.
    let d = 16 * v as i64 - 8 - 2 * pred as i64;
    // |t| * 65536 = |d| / 16 * inv_scale / 2^shift, truncated (toward zero), at most 16 * 65536.
    let m = ((d.unsigned_abs() * inv_scale as u64) >> (4 + shift)).min(T_MAX);
    let u = if d < 0 { T_MAX - m } else { T_MAX + m };
    let (j, f) = ((u >> 6) as usize, u & 63);
    let lo = table[j] as u64;
    if f == 0 {
        lo
    } else {
        lo + (((table[j + 1] as u64 - lo) * f) >> 6)
    }
}

/// The distribution of one sample: symbol `v` in `0..2^bits` gets `[C(v), C(v+1))` out of
/// `2^precision`, with `C(0) = 0`, `C(2^bits) = 2^precision` and every frequency at least 1
/// (so `precision > bits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dist {
    /// Centre in 1/8 sample units, `0..=depth.pred_max()`.
    pub pred: i32,
    /// `2^(16 + shift) / s` for the logistic scale `s` in sample units.
    pub inv_scale: u32,
    pub precision: u32,
    pub depth: Depth,
}

impl Dist {
    /// `G` at the edge between values `v - 1` and `v` (at `v - 1/2`), in `0..2^31`: a mixture of
    /// the logistic of scale `s` (weight 230/256) and one of scale `2.5 s` (26/256), whose
    /// heavier tail fits the residuals that a context's mean error does not foresee.
    #[inline(always)]
    fn g(&self, table: &[u32; TABLE_LEN], v: u32) -> u64 {
        let wide = (self.inv_scale as u64 * 256 / WIDE_RATIO) as u32;
        let shift = self.depth.shift;
        (NARROW_WEIGHT * logistic(table, self.pred, v, self.inv_scale, shift)
            + (256 - NARROW_WEIGHT) * logistic(table, self.pred, v, wide, shift))
            >> 8
    }

    /// Cumulative frequency `C(v)`, `v` in `0..=2^bits`.
    #[inline(always)]
    pub fn cdf(&self, v: u32) -> u32 {
        if v == 0 {
            return 0;
        }
        let values = self.depth.values();
        if v >= values {
            return 1 << self.precision;
        }
        let spread = (1u64 << self.precision) - values as u64;
        v + ((self.g(logistic_table(), v) * spread) >> 31) as u32
    }

    /// `(start, freq)` of value `v < 2^bits`.
    #[inline]
    pub fn interval(&self, v: u32) -> (u32, u32) {
        let start = self.cdf(v);
        (start, self.cdf(v + 1) - start)
    }

    /// The value whose interval holds `cum < 2^precision`, as `(value, start, freq)`. Searches
    /// outward from the prediction, where the value nearly always is, then bisects.
    #[inline]
    pub fn find(&self, cum: u32) -> (u32, u32, u32) {
        let values = self.depth.values();
        let guess = (((self.pred + 4) >> PRED_BITS).max(0) as u32).min(values - 1);
        let at = self.cdf(guess);
        // Bracket: C(lo) <= cum < C(hi).
        let (mut lo, mut c_lo, mut hi, mut c_hi);
        if at <= cum {
            (lo, c_lo) = (guess, at);
            let mut step = 1;
            loop {
                let h = (lo + step).min(values);
                let c = self.cdf(h);
                if c > cum {
                    (hi, c_hi) = (h, c);
                    break;
                }
                (lo, c_lo) = (h, c);
                step *= 2;
            }
        } else {
            (hi, c_hi) = (guess, at);
            let mut step = 1;
            loop {
                let l = hi.saturating_sub(step);
                let c = self.cdf(l);
                if c <= cum {
                    (lo, c_lo) = (l, c);
                    break;
                }
                (hi, c_hi) = (l, c);
                step *= 2;
            }
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            let c = self.cdf(mid);
            if c <= cum {
                (lo, c_lo) = (mid, c);
            } else {
                (hi, c_hi) = (mid, c);
            }
        }
        (lo, c_lo, c_hi - c_lo)
    }
}

impl crate::ans::Distribution for Dist {
    fn precision(&self) -> u32 {
        self.precision
    }

    fn interval(&self, symbol: u32) -> (u32, u32) {
        Dist::interval(self, symbol)
    }

    fn find(&self, cum: u32) -> (u32, u32, u32) {
        Dist::find(self, cum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_sum_and_are_positive_and_find_inverts() {
        for &(pred, inv_scale) in &[
            (0, 1u32 << 20),
            (PRED_MAX, 1 << 20),
            (1000, 1 << 16),
            (3, 300),
            (2040, 1),
            (777, u32::MAX),
        ] {
            let d = Dist {
                pred,
                inv_scale,
                precision: 16,
                depth: Depth::EIGHT,
            };
            let mut sum = 0;
            for v in 0..=255u32 {
                let (s, f) = d.interval(v);
                assert!(f >= 1);
                assert_eq!(s, sum);
                sum += f;
                assert_eq!(d.find(s), (v, s, f));
                assert_eq!(d.find(s + f - 1), (v, s, f));
            }
            assert_eq!(sum, 1 << 16);
        }
    }

    /// At 16 bits every one of the 65,536 values has a frequency, they sum to `2^precision`,
    /// and `find` inverts `interval`, for sharp and wide distributions anywhere in the range.
    #[test]
    fn sixteen_bit_frequencies_sum_and_find_inverts() {
        let depth = Depth::new(16);
        for &(pred, inv_scale) in &[
            (0, 1u32 << 28),
            (depth.pred_max(), 1 << 20),
            (300_000, 1 << 16),
            (123_457, 3),
            (7, 1 << 12),
        ] {
            let d = Dist {
                pred,
                inv_scale,
                precision: 24,
                depth,
            };
            let mut sum = 0;
            for v in 0..65536u32 {
                let (s, f) = d.interval(v);
                assert!(f >= 1);
                assert_eq!(s, sum);
                sum += f;
                if v % 97 == 0 || (s..s + f).contains(&d.cdf((pred as u32 >> 3).min(65535))) {
                    assert_eq!(d.find(s), (v, s, f));
                    assert_eq!(d.find(s + f - 1), (v, s, f));
                }
            }
            assert_eq!(sum, 1 << 24);
        }
    }
}
