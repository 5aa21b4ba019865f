//! The prediction of one sample (spec/context.md 3): several sub-predictors blended by their
//! recent errors at the neighbouring positions (after JPEG-XL's self-correcting weighted
//! predictor, with sharper weights), and, for colour channels after the first, sub-predictors
//! that carry the reference channel's local differences over to this channel.
//!
//! Everything is in 1/8 sample units and integer arithmetic (`>>` on signed values is an
//! arithmetic shift, i.e. floor division by a power of two).

/// Sub-predictor slots: the first channel uses 12, the others 8 (3 own, 5 from the reference),
/// and each two more for the adaptive linear predictors (mod.rs) and, in version 4, one for the
/// least-squares predictor (least_squares.rs).
pub const SUBS: usize = 15;

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
/// `x`: about `(12 * 2^16 / (x + 1))^2`. The division uses the top 6 bits of `x + 1`; the
/// square makes the blend follow the locally best sub-predictor more closely than `1/x` would.
#[inline(always)]
fn weight(x: u32) -> u64 {
    let shift = (31 - (x + 1).leading_zeros()).saturating_sub(5);
    let w = (4 + ((12 * RECIPROCAL[(x >> shift) as usize]) >> shift)) as u64 >> 8;
    w * w + 1
}

/// What one channel's prediction needs at one pixel: its neighbours' values (1/8 units) and
/// their true errors `te` (blend minus value), and each sub-predictor's neighbourhood error.
pub struct Inputs {
    pub n: i32,
    pub w: i32,
    pub nw: i32,
    pub ne: i32,
    pub nn: i32,
    pub ww: i32,
    pub te_n: i32,
    pub te_w: i32,
    pub te_nw: i32,
    pub te_ne: i32,
    pub te_nn: i32,
    pub te_ww: i32,
    /// Per sub-predictor slot: its absolute errors at N, W, NW, NE, plus half those at NN and WW.
    pub err: [u32; SUBS],
}

/// The reference channel at the same pixel: its value and its neighbours (1/8 units).
pub struct Reference {
    pub x: i32,
    pub n: i32,
    pub w: i32,
    pub nw: i32,
    pub ne: i32,
}

/// The sub-predictions of a channel and how many slots it uses: without a reference (the first
/// channel), 12 from the channel itself; with one, the first 3 of those and 5 that add the
/// channel's local difference to the reference channel's value at the pixel.
#[inline(always)]
pub fn subpredictions(i: &Inputs, r: Option<&Reference>) -> ([i32; SUBS], usize) {
    let mut p = [0i32; SUBS];
    p[0] = i.w + i.ne - i.n;
    p[1] = i.n - (((i.te_w + i.te_n + i.te_ne) * 16) >> 5);
    p[2] = i.w - (((i.te_w + i.te_n + i.te_nw) * 10) >> 5);
    let Some(r) = r else {
        p[3] = i.n - ((i.te_nw * 7 + i.te_n * 7 + i.te_ne * 7) >> 5);
        p[4] = i.w + i.n - i.nw;
        p[5] = if i.nw >= i.w.max(i.n) {
            i.w.min(i.n)
        } else if i.nw <= i.w.min(i.n) {
            i.w.max(i.n)
        } else {
            i.w + i.n - i.nw
        };
        p[6] = (i.w + i.ne) >> 1;
        p[7] = 2 * i.n - i.nn;
        p[8] = 2 * i.w - i.ww;
        p[9] = i.ne;
        p[10] = (i.w + i.n) >> 1;
        p[11] = (i.w + i.nw) >> 1;
        return (p, 12);
    };
    p[3] = r.x + i.n - r.n;
    p[4] = r.x + i.w - r.w;
    p[5] = r.x + (i.w + i.n - i.nw) - (r.w + r.n - r.nw);
    p[6] = r.x + i.ne - r.ne;
    p[7] = r.x + ((i.n + i.w - r.n - r.w) >> 1);
    (p, 8)
}

/// Blends the first `count` sub-predictions by their weights: `floor((sum w p + W/2) / W)`,
/// and returns it with the blend's expected error `floor(sum w err / W)`. The first channel's
/// blend is kept within the range of W, N and NE when the neighbours' errors agree in sign
/// (as JPEG-XL does). At a deeper depth the weights see the errors shifted down by `shift`
/// (spec/context.md 7), as an 8-bit image of the same look would have them.
#[inline(always)]
pub fn blend(i: &Inputs, p: &[i32; SUBS], count: usize, first: bool, shift: u32) -> (i32, u32) {
    let (mut num, mut den, mut err) = (0i64, 0i64, 0u64);
    for (&pk, &ek) in p.iter().zip(&i.err).take(count) {
        let wk = weight(ek >> shift);
        num += wk as i64 * pk as i64;
        den += wk as i64;
        err += wk * ek as u64;
    }
    let mut b = (num + den / 2).div_euclid(den) as i32;
    if first && ((i.te_n ^ i.te_w) | (i.te_n ^ i.te_nw)) > 0 {
        let lo = i.w.min(i.n).min(i.ne);
        let hi = i.w.max(i.n).max(i.ne);
        b = b.clamp(lo, hi);
    }
    (b, (err / den as u64) as u32)
}

/// The local activity: recent absolute errors around the sample (the nearest counted twice)
/// averaged with the blend's expected error.
#[inline(always)]
pub fn activity(i: &Inputs, expected: u32) -> u32 {
    let recent = 2 * i.te_n.unsigned_abs()
        + 2 * i.te_w.unsigned_abs()
        + i.te_nw.unsigned_abs()
        + i.te_ne.unsigned_abs()
        + i.te_nn.unsigned_abs()
        + i.te_ww.unsigned_abs();
    (recent.min(1 << 24) + (expected.min(1 << 24) * 8 / 5)) / 2
}

/// The spread (max - min) of the first `count` sub-predictions: with the first channel's first
/// 7, the second context dimension where there is no reference channel.
#[inline(always)]
pub fn spread(p: &[i32; SUBS], count: usize) -> u32 {
    let (mut lo, mut hi) = (p[0], p[0]);
    for &v in &p[1..count] {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (hi - lo) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_fall_with_error() {
        let mut last = u64::MAX;
        for x in 0..5000 {
            let w = weight(x);
            assert!(w <= last, "{x}");
            last = w;
        }
        assert!(weight(1 << 20) >= 1);
    }
}
