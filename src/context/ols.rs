//! Least-squares prediction (spec/context.md 3.3): linear weights that minimise the decayed,
//! weighted squared error over the earlier samples that reached the same predictor, re-solved
//! every few samples. The context code uses two kinds: one over the sample's neighbours (a
//! sub-predictor), and one over the sub-predictions themselves (the stacking stage).
//!
//! Binary64 arithmetic, each operation in the order written here. Rust contracts nothing into
//! fused multiply-adds and reassociates nothing, and +, -, *, / are correctly rounded, so every
//! machine computes the same bits.

/// Taps at most.
pub const MAX_TAPS: usize = 16;

/// How a predictor learns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Learning {
    /// Decay per learnt sample: a sample `k` samples old counts `decay^k`.
    pub decay: f64,
    /// Added to the diagonal before each solve, in (1/8 unit)^2: keeps flat regions solvable.
    pub ridge: f64,
    /// Samples between two solves: the weights used are at most this many samples stale.
    pub solve_every: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ols {
    /// Decayed, weighted `sum t t^T`; only `a[i][j]` for `j <= i` is kept.
    a: [[f64; MAX_TAPS]; MAX_TAPS],
    /// Decayed, weighted `sum t y`.
    b: [f64; MAX_TAPS],
    /// The weights of the last solve.
    w: [f64; MAX_TAPS],
    /// Samples learnt since the last solve.
    pending: u32,
}

impl Ols {
    /// A predictor with the initial weights `w` (before its first solve).
    pub fn new(w: [f64; MAX_TAPS]) -> Ols {
        Ols {
            a: [[0.0; MAX_TAPS]; MAX_TAPS],
            b: [0.0; MAX_TAPS],
            w,
            pending: 0,
        }
    }

    /// `floor(sum_j w_j t_j)` (summed in order of `j`), within `[-bound, bound]`: a correction
    /// to add to a base value, 1/8 units.
    #[inline]
    pub fn predict(&self, t: &[i32; MAX_TAPS], n: usize, bound: f64) -> i32 {
        let mut s = 0.0f64;
        for (&w, &t) in self.w[..n].iter().zip(&t[..n]) {
            s += w * t as f64;
        }
        // floor, exactly, without a libm call: truncate, then step down below zero.
        let s = s.clamp(-bound, bound);
        let t = s as i32;
        t - ((t as f64) > s) as i32
    }

    /// Learns one sample: taps `t`, target `y`, weight `omega` in (0, 1]; re-solves the weights
    /// every `how.solve_every` samples.
    ///
    /// Each entry is `decay * a + (t_i omega) t_j`, as the spec writes it. Why rows are
    /// updated past the diagonal, up to a multiple of four: so that the loop runs over whole
    /// vectors. Entries above the diagonal are never read (the solve overwrites them before
    /// it reads them), and every entry is computed alone, so the lower triangle's bits are
    /// the same as a loop that stops at the diagonal.
    #[inline]
    /// `ridge_scale` multiplies `how.ridge` (`4^shift` at a deeper depth, spec/context.md 7).
    pub fn learn(
        &mut self,
        t: &[i32; MAX_TAPS],
        n: usize,
        y: i32,
        omega: f64,
        how: Learning,
        ridge_scale: f64,
    ) {
        let tf: [f64; MAX_TAPS] = t.map(|v| v as f64);
        let decay = how.decay;
        for i in 0..n {
            let ti = tf[i] * omega;
            let end = (i + 1).next_multiple_of(4).min(MAX_TAPS);
            for (a, &tj) in self.a[i][..end].iter_mut().zip(&tf[..end]) {
                *a = decay * *a + ti * tj;
            }
            self.b[i] = decay * self.b[i] + ti * (y as f64);
        }
        self.pending += 1;
        if self.pending >= how.solve_every {
            self.pending = 0;
            self.solve(n, how.ridge * ridge_scale);
        }
    }

    /// `(a + ridge I) w = b` by an LDL^T factorisation (spec/context.md 3.4 gives the exact
    /// order of operations). Column by column: the pivot `d = m[k][k]`, `r = 1 / d`, the
    /// column `l[i][k] = m[i][k] r`, then every later `m[i][j] -= m[i][k] l[j][k]`, so each
    /// entry's subtractions run in increasing `k` and the rows' updates are independent.
    /// Then `z[i] = b[i] - sum_{k<i} l[i][k] z[k]` in increasing `k`, and from the last `i` down
    /// `w[i] = z[i] r[i] - sum_{k>i} l[k][i] w[k]` in decreasing `k`. Keeps the old weights
    /// where a pivot is not positive.
    ///
    /// Why in place: `l[i][k]` is kept in the upper triangle, `m[k][i]`, which no later step
    /// reads as part of `m`; so the solve needs one copy of `a` and no other table.
    fn solve(&mut self, n: usize, ridge: f64) {
        let mut m = [[0.0f64; MAX_TAPS]; MAX_TAPS];
        m[..n].copy_from_slice(&self.a[..n]);
        for (i, row) in m.iter_mut().enumerate().take(n) {
            row[i] += ridge;
        }
        let mut r = [0.0f64; MAX_TAPS];
        for k in 0..n {
            let d = m[k][k];
            // Not `d <= 0.0`: a NaN pivot must stop the solve too.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            if !(d > 0.0) {
                return;
            }
            r[k] = 1.0 / d;
            let (upper, lower) = m.split_at_mut(k + 1);
            let pivot_row = &mut upper[k];
            for (i, row) in lower[..n - k - 1].iter().enumerate() {
                pivot_row[k + 1 + i] = row[k] * r[k];
            }
            let l = &*pivot_row;
            for (i, row) in lower[..n - k - 1].iter_mut().enumerate() {
                let u = row[k];
                let i = k + 1 + i;
                for (mij, &ljk) in row[k + 1..=i].iter_mut().zip(&l[k + 1..=i]) {
                    *mij -= u * ljk;
                }
            }
        }
        let mut z = self.b;
        for k in 0..n {
            let zk = z[k];
            for (zi, &lik) in z[k + 1..n].iter_mut().zip(&m[k][k + 1..n]) {
                *zi -= lik * zk;
            }
        }
        let mut w = [0.0f64; MAX_TAPS];
        for i in 0..n {
            w[i] = z[i] * r[i];
        }
        for k in (0..n).rev() {
            let wk = w[k];
            for (i, wi) in w[..k].iter_mut().enumerate() {
                *wi -= m[i][k] * wk;
            }
        }
        self.w[..n].copy_from_slice(&w[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOW: Learning = Learning {
        decay: 0.999,
        ridge: 1.0,
        solve_every: 1,
    };

    /// A target that is an exact linear function of the taps is learnt to within rounding.
    #[test]
    fn learns_a_linear_rule() {
        let mut o = Ols::new([0.0; MAX_TAPS]);
        let mut seed = 12345u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            ((seed >> 16) % 512) as i32 - 256
        };
        let rule = [3.0, -1.0, 0.5, 0.25];
        for _ in 0..2000 {
            let mut t = [0i32; MAX_TAPS];
            for v in t.iter_mut().take(4) {
                *v = rnd();
            }
            let y: f64 = (0..4).map(|j| rule[j] * t[j] as f64).sum();
            o.learn(&t, 4, y as i32, 1.0, HOW, 1.0);
        }
        for (j, &r) in rule.iter().enumerate() {
            assert!((o.w[j] - r).abs() < 0.01, "{j}: {} against {r}", o.w[j]);
        }
        // 303 - 10 + 10.5 - 10.25 = 293.25, floored; and below zero, -293.25 floors to -294.
        let t = [101, 10, 21, -41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(o.predict(&t, 4, 8192.0), 293);
        let minus = t.map(|v| -v);
        assert_eq!(o.predict(&minus, 4, 8192.0), -294);
    }

    /// With no information (all taps zero) the solve keeps finite weights and predicts 0.
    #[test]
    fn zero_taps_stay_finite() {
        let mut o = Ols::new([0.0; MAX_TAPS]);
        for _ in 0..100 {
            o.learn(&[0; MAX_TAPS], 16, 77, 1.0, HOW, 1.0);
        }
        assert!(o.w.iter().all(|w| w.is_finite()));
        assert_eq!(o.predict(&[0; MAX_TAPS], 16, 8192.0), 0);
    }
}
