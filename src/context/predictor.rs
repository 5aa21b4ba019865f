//! The prediction of one sample (spec/context.md 3): several sub-predictors blended by their
//! recent errors at the neighbouring positions (after JPEG-XL's self-correcting weighted
//! predictor), plus, for colour channels after the first, predictors that carry the reference
//! channel's local differences over to this channel.
//!
//! Everything is in 1/8 sample units and integer arithmetic (`>>` on signed values is an
//! arithmetic shift, i.e. floor division by a power of two).

/// Sub-predictors: 5 from the channel itself, 3 from the reference channel.
pub const SUBS: usize = 8;
pub const OWN_SUBS: usize = 5;

/// The most a sub-predictor's weight can be, per sub-predictor (the weight is this over its
/// neighbourhood error).
const MAX_WEIGHT: [u32; SUBS] = [13, 12, 12, 12, 12, 12, 12, 12];

/// `2^24 / (k + 1)` for `k` in `0..64`, the reciprocals the weights use.
const RECIPROCAL: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut k = 0;
    while k < 64 {
        t[k] = (1 << 24) / (k as u32 + 1);
        k += 1;
    }
    t
};

/// Weight of a sub-predictor whose neighbourhood error (sum of absolute errors, 1/8 units) is
/// `x`: about `max * 2^24 / (x + 1)`, with the division done on the top 6 bits of `x`.
#[inline(always)]
fn weight(x: u32, max: u32) -> u32 {
    let shift = (31 - (x + 1).leading_zeros()).saturating_sub(5);
    4 + ((max * RECIPROCAL[(x >> shift) as usize]) >> shift)
}

/// What one channel's prediction needs at one pixel: its neighbours' values (1/8 units) and
/// their true errors `te` (blend minus value), and each sub-predictor's neighbourhood error.
pub struct Inputs {
    pub n: i32,
    pub w: i32,
    pub nw: i32,
    pub ne: i32,
    pub te_n: i32,
    pub te_w: i32,
    pub te_nw: i32,
    pub te_ne: i32,
    pub te_nn: i32,
    pub te_ww: i32,
    /// Per sub-predictor: its absolute errors at N, W, NW and NE, summed.
    pub err: [u32; SUBS],
}

/// The reference channel at the same pixel: its value and its neighbours (1/8 units).
pub struct Reference {
    pub x: i32,
    pub n: i32,
    pub w: i32,
    pub nw: i32,
}

/// The sub-predictions, in order.
#[inline(always)]
pub fn subpredictions(i: &Inputs, r: Option<&Reference>) -> [i32; SUBS] {
    let mut p = [0i32; SUBS];
    p[0] = i.w + i.ne - i.n;
    p[1] = i.n - (((i.te_w + i.te_n + i.te_ne) * 16) >> 5);
    p[2] = i.w - (((i.te_w + i.te_n + i.te_nw) * 10) >> 5);
    p[3] = i.n - ((i.te_nw * 7 + i.te_n * 7 + i.te_ne * 7) >> 5);
    p[4] = i.w + i.n - i.nw;
    if let Some(r) = r {
        p[5] = r.x + i.n - r.n;
        p[6] = r.x + i.w - r.w;
        p[7] = r.x + (i.w + i.n - i.nw) - (r.w + r.n - r.nw);
    }
    p
}

/// Blends the first `count` sub-predictions by their weights: `floor((sum w p + W/2) / W)`.
/// The first channel's blend is then kept within the range of W, N and NE when the
/// neighbours' errors agree in sign (as JPEG-XL does).
#[inline(always)]
pub fn blend(i: &Inputs, p: &[i32; SUBS], count: usize, own_only: bool) -> i32 {
    let mut num = 0i64;
    let mut den = 0i64;
    for k in 0..count {
        let wk = weight(i.err[k], MAX_WEIGHT[k]) as i64;
        num += wk * p[k] as i64;
        den += wk;
    }
    let mut b = (num + den / 2).div_euclid(den) as i32;
    if own_only && ((i.te_n ^ i.te_w) | (i.te_n ^ i.te_nw)) > 0 {
        let lo = i.w.min(i.n).min(i.ne);
        let hi = i.w.max(i.n).max(i.ne);
        b = b.clamp(lo, hi);
    }
    b
}

/// The local activity: recent absolute errors around the sample, the nearest counted twice.
#[inline(always)]
pub fn activity(i: &Inputs) -> u32 {
    (2 * i.te_n.unsigned_abs()
        + 2 * i.te_w.unsigned_abs()
        + i.te_nw.unsigned_abs()
        + i.te_ne.unsigned_abs()
        + i.te_nn.unsigned_abs()
        + i.te_ww.unsigned_abs())
    .min(1 << 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_fall_with_error() {
        let mut last = u32::MAX;
        for x in (0..5000).step_by(7) {
            let w = weight(x, 12);
            assert!(w <= last, "{x}");
            last = w;
        }
        assert_eq!(weight(0, 12), 4 + 12 * (1 << 24));
    }
}
