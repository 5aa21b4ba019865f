//! The local-linear pixel likelihood `p(x | z1, context)` (spec/model.md §5).
//!
//! p0 runs once per patch, from z1 alone, and gives every sample eight numbers: a mean offset,
//! a log-scale and six coefficients. The sample's mean is its MED prediction plus the offset
//! plus the coefficients times its causal neighbours in the patch, which the decoder has
//! decoded by then. So the net says how this digit's strokes run and the neighbours say where
//! this stroke's edge is: neither has to carry what the other knows.
//!
//! Every step is a single IEEE f32 operation in a fixed order (no fused multiply-add), so the
//! encoder, the decoder and the trainer (`train/bsar_train/local.py`) compute the same means.

use super::cdf::LogisticBins;
use super::{sample_value as unit, Logistic, Model};

/// Means are clamped to `[-MU_LIMIT, MU_LIMIT]` (a NaN becomes `-MU_LIMIT`).
pub const MU_LIMIT: f32 = 2.0;

/// The causal neighbours of sample `(y, x, c)` of a patch: `[W, N, NW, NE, MED, PREV]`, by the
/// patch-local rules of spec §5.2. Reads only samples before it in raster order, inside the
/// patch's real columns `0 .. real_w`.
fn neighbours(
    patch: &[u8],
    p: usize,
    ch: usize,
    real_w: usize,
    y: usize,
    x: usize,
    c: usize,
) -> [f32; 6] {
    let at = |yy: usize, xx: usize| unit(patch[(yy * p + xx) * ch + c]);
    let (w, n, nw, ne) = match (y, x) {
        (0, 0) => (0.0, 0.0, 0.0, 0.0),
        (0, _) => {
            let w = at(0, x - 1);
            (w, w, w, w)
        }
        (_, 0) => {
            let n = at(y - 1, 0);
            let ne = if 1 < real_w { at(y - 1, 1) } else { n };
            (n, n, n, ne)
        }
        _ => {
            let n = at(y - 1, x);
            let ne = if x + 1 < real_w { at(y - 1, x + 1) } else { n };
            (at(y, x - 1), n, at(y - 1, x - 1), ne)
        }
    };
    let (hi, lo) = (w.max(n), w.min(n));
    let med = if nw >= hi {
        lo
    } else if nw <= lo {
        hi
    } else {
        (w + n) - nw
    };
    let prev = if c > 0 {
        unit(patch[(y * p + x) * ch + c - 1])
    } else {
        0.0
    };
    [w, n, nw, ne, med, prev]
}

/// p0's outputs for one patch, read as the local-linear likelihood.
pub struct LocalLinear<'a> {
    model: &'a Model,
    p0: &'a Logistic,
}

impl<'a> LocalLinear<'a> {
    /// `p0`: p0's output for one patch (`Cout = 16C`).
    pub fn new(model: &'a Model, p0: &'a Logistic) -> LocalLinear<'a> {
        LocalLinear { model, p0 }
    }

    /// Where sample `(y, x, c)` reads group 0 of either half of p0's output (spec §5.1);
    /// group `j` is `4C j` further.
    fn index(&self, y: usize, x: usize, c: usize) -> usize {
        let cfg = self.model.config();
        let c4 = 4 * cfg.channels;
        ((y / 2) * cfg.grid() + x / 2) * 4 * c4 + c * 4 + (y % 2) * 2 + (x % 2)
    }

    /// The mean of sample `(y, x, c)` given the patch's samples before it (spec §5.3).
    pub fn mean(&self, patch: &[u8], real_w: usize, y: usize, x: usize, c: usize) -> f32 {
        let cfg = self.model.config();
        let (p, ch) = (cfg.patch, cfg.channels);
        let (base, c4) = (self.index(y, x, c), 4 * ch);
        let group = |half: &[f32], j: usize| half[base + j * c4];
        let (mh, lh) = (&self.p0.mu, &self.p0.ls);
        let coeffs = [
            group(mh, 1),
            group(mh, 2),
            group(mh, 3),
            group(lh, 1),
            group(lh, 2),
            group(lh, 3),
        ];
        let nb = neighbours(patch, p, ch, real_w, y, x, c);
        let mut t = group(mh, 0);
        for (a, v) in coeffs.iter().zip(nb) {
            t += a * v;
        }
        let mu = nb[4] + t;
        if mu > MU_LIMIT {
            MU_LIMIT
        } else if mu >= -MU_LIMIT {
            mu
        } else {
            -MU_LIMIT
        }
    }

    /// The distribution of sample `(y, x, c)` over the 256 pixel values.
    pub fn bins(
        &self,
        patch: &[u8],
        real_w: usize,
        (y, x, c): (usize, usize, usize),
        precision: u32,
    ) -> LogisticBins<'static> {
        let mu = self.mean(patch, real_w, y, x, c);
        LogisticBins::pixel(mu, self.p0.inv_s[self.index(y, x, c)], precision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_follow_the_edge_rules() {
        // A 3x3 grey patch with distinct values; real_w 3.
        let v: Vec<u8> = (0..9).map(|i| 10 * i as u8 + 5).collect();
        let u = |i: usize| unit(v[i]);
        let nb = |y, x| neighbours(&v, 3, 1, 3, y, x, 0);
        assert_eq!(nb(0, 0)[..4], [0.0; 4]);
        assert_eq!(nb(0, 2)[..4], [u(1); 4]);
        assert_eq!(nb(1, 0)[..4], [u(0), u(0), u(0), u(1)]);
        assert_eq!(nb(1, 1)[..4], [u(3), u(1), u(0), u(2)]);
        // The right column: NE falls back to N; with real_w 2, so does column 1.
        assert_eq!(nb(2, 2)[3], u(5));
        assert_eq!(neighbours(&v, 3, 1, 2, 1, 1, 0)[3], u(1));
    }

    #[test]
    fn med_is_the_median_edge_detector_and_prev_the_channel_before() {
        // RGB pixel row: W = (0, 0) and N = (.., ..) chosen so that NW >= max(W, N).
        let (p, ch) = (2, 3);
        let mut v = vec![0u8; p * p * ch];
        v[0] = 250; // NW, channel 0
        v[ch] = 100; // N (0, 1)
        v[2 * ch] = 40; // W (1, 0)
        v[3 * ch] = 7; // the sample itself, channel 0
        v[3 * ch + 1] = 9;
        let nb = neighbours(&v, p, ch, p, 1, 1, 0);
        assert_eq!(nb[4], unit(40).min(unit(100)));
        assert_eq!(nb[5], 0.0);
        assert_eq!(neighbours(&v, p, ch, p, 1, 1, 1)[5], unit(7));
        assert_eq!(neighbours(&v, p, ch, p, 1, 1, 2)[5], unit(9));
    }
}
