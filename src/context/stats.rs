//! Adaptive error statistics per context (spec/context.md 4): what the chunk has taught the
//! model so far. They persist from image to image of a chunk and start afresh in every chunk.

use super::dist::{Depth, INV_SCALE_BITS, PRED_BITS};

/// Activity buckets (the quantised local error, `activity_bucket`).
pub const ACTIVITY_BUCKETS: usize = 40;
/// Buckets of the reference channel's residual at the same pixel (colour channels after the
/// first).
pub const REF_BUCKETS: usize = 6;
/// Channel classes: the first channel coded (grey, or G), then the two others.
pub const CLASSES: usize = 3;
pub const CONTEXTS: usize = CLASSES * ACTIVITY_BUCKETS * REF_BUCKETS;

/// When a context's count reaches this, its sums and count are halved: recent samples weigh more.
const HALVE_AT: i32 = 256;
/// A fresh context's count and its prior mean absolute error (1/8 units) per activity bucket.
const PRIOR_COUNT: i32 = 4;
/// Scale of the logistic against the context's mean absolute error, in 1/256: version 3's, and
/// version 4's (tuned for its stacked predictions on training images).
pub const SCALE_FACTOR_V3: u64 = 150;
pub const SCALE_FACTOR_V4: u64 = 160;
/// Bounds of the inverse scale (Q16 at 8 bits): scales from 1/16 to 256 sample units; at a
/// deeper depth (Q(16 + shift)), from 1/16 to `256 * 2^shift` sample units.
const INV_SCALE_MIN: u64 = 1 << (INV_SCALE_BITS - 8);
const INV_SCALE_MAX: u64 = 1 << (INV_SCALE_BITS + 4);

/// The statistics of one context: sums over the samples it has seen (with halving).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// Sum of `|v - pred|` (after the bias correction), 1/8 units.
    pub abs_sum: i32,
    /// Sum of `v - blend` (before the bias correction), 1/8 units.
    pub err_sum: i32,
    pub count: i32,
}

/// Every context of a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub ctx: Vec<Context>,
    /// The version's scale factor (`SCALE_FACTOR_V3` or `SCALE_FACTOR_V4`).
    scale_factor: u64,
    /// The depth's shift (spec/context.md 7).
    shift: u32,
}

/// The lower edge of activity bucket `q` (the inverse of `activity_bucket`), 1/8 units summed
/// over the activity's weights.
fn bucket_floor(q: usize) -> u32 {
    if q < 4 {
        q as u32
    } else {
        let (l, m) = ((q - 4) / 4 + 2, (q - 4) % 4);
        (4 + m as u32) << (l - 2)
    }
}

/// Quantises an activity on a log scale with four buckets per octave.
#[inline]
pub fn activity_bucket(a: u32) -> usize {
    let q = if a < 4 {
        a as usize
    } else {
        let l = 31 - a.leading_zeros();
        let m = (a >> (l - 2)) & 3;
        4 + (l as usize - 2) * 4 + m as usize
    };
    q.min(ACTIVITY_BUCKETS - 1)
}

/// The reference channel's absolute residual (1/8 units), quantised.
#[inline]
pub fn ref_bucket(r: u32) -> usize {
    match r {
        0..=3 => 0,
        4..=11 => 1,
        12..=23 => 2,
        24..=47 => 3,
        48..=95 => 4,
        _ => 5,
    }
}

#[inline]
pub fn context_index(class: usize, activity: usize, reference: usize) -> usize {
    (class * ACTIVITY_BUCKETS + activity) * REF_BUCKETS + reference
}

impl Stats {
    /// The statistics at the start of a chunk of samples of `depth`.
    pub fn new(scale_factor: u64, depth: Depth) -> Stats {
        let shift = depth.shift();
        let mut ctx = Vec::with_capacity(CONTEXTS);
        for _class in 0..CLASSES {
            for q in 0..ACTIVITY_BUCKETS {
                for r in 0..REF_BUCKETS {
                    // The activity sums about 8 neighbour errors: its eighth is a mean error.
                    let from_activity = (bucket_floor(q) / 8).max(2) as i32;
                    let from_ref = [1, 4, 9, 18, 36, 72][r];
                    let mean = from_activity.max(from_ref / 2) << shift;
                    ctx.push(Context {
                        abs_sum: mean * PRIOR_COUNT,
                        err_sum: 0,
                        count: PRIOR_COUNT,
                    });
                }
            }
        }
        Stats {
            ctx,
            scale_factor,
            shift,
        }
    }

    /// The bias correction (1/8 units) and inverse scale (Q16) of context `i`.
    #[inline]
    pub fn params(&self, i: usize) -> (i32, u32) {
        let c = self.ctx[i];
        let bias = c.err_sum / c.count;
        // s = SCALE_FACTOR/256 * abs_sum / (8 count); inv_scale = 2^(16 + shift) / s.
        let num = (c.count as u64) << (INV_SCALE_BITS + self.shift + PRED_BITS + 8);
        let den = self.scale_factor * c.abs_sum as u64 + 1;
        let inv = (num / den).clamp(INV_SCALE_MIN, INV_SCALE_MAX << self.shift);
        (bias, inv as u32)
    }

    /// Learns one sample: `err` = value - blend, `abs` = |value - corrected prediction|.
    #[inline]
    pub fn update(&mut self, i: usize, err: i32, abs: i32) {
        let c = &mut self.ctx[i];
        c.abs_sum += abs;
        c.err_sum += err;
        c.count += 1;
        if c.count >= HALVE_AT {
            c.abs_sum >>= 1;
            // Toward zero, so that halving does not drift the bias.
            c.err_sum /= 2;
            c.count >>= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_floors_invert_them() {
        let mut last = 0;
        for a in 0..100_000u32 {
            let q = activity_bucket(a);
            assert!(q >= last);
            last = q;
        }
        for q in 0..ACTIVITY_BUCKETS - 1 {
            assert_eq!(activity_bucket(bucket_floor(q)), q);
        }
    }
}
