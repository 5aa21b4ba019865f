//! Chunk version 4's least-squares stages (spec/context.md 3.4, 3.5): a sub-predictor whose
//! weights over twelve or fewer neighbours are re-fitted to the chunk as it is coded, and a
//! stacking stage that replaces the blend by a fitted combination of the blend and every
//! sub-prediction, one fit per group of similar samples.
//!
//! Why: the blend (predictor.rs) follows the locally best sub-predictor but cannot combine
//! them; photographs are mostly smooth texture, where a fitted linear rule over many
//! neighbours and predictors does better than any one of them.

use super::ols::{Learning, Ols, MAX_TAPS};
use super::predictor::{Reference, SUBS};
use super::stats::ACTIVITY_BUCKETS;

/// The neighbour predictor's fit: a short memory (about 100 samples, a few rows of a patch).
pub const NEIGHBOUR: Learning = Learning {
    decay: 0.99,
    ridge: 64.0,
    solve_every: 2,
};
/// The stacking stage's fit: a long memory (about 2,000 samples).
pub const STACK: Learning = Learning {
    decay: 0.9995,
    ridge: 64.0,
    solve_every: 8,
};

/// Stacking groups per class: four activity ranges, each split by the second context.
const ACTIVITY_GROUPS: usize = 4;
const SECOND_SPLIT: usize = 3;
const GROUPS: usize = ACTIVITY_GROUPS * 2;

/// A sample's learning weight is `OMEGA_HALF / (OMEGA_HALF + activity)`: busy regions, where
/// errors are large and noisy, teach the fits less.
const OMEGA_HALF: f64 = 100.0;

/// The neighbours of the first channel's predictor, as `(rows up, columns right)`: N, NW, NE,
/// NN, WW, NNE, NNW, NWW, NEE, NNWW. The other channels use the first five, then the reference
/// channel's steps, and B also R's.
pub const NEIGHBOUR_OFFSETS: [(usize, isize); 10] = [
    (1, 0),
    (1, -1),
    (1, 1),
    (2, 0),
    (0, -2),
    (2, 1),
    (2, -1),
    (1, -2),
    (1, 2),
    (2, -2),
];

/// The least-squares state of a chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct LeastSquares {
    /// Per class, the neighbour predictor.
    neighbour: [Ols; 3],
    /// Per class and group, the stacking stage; it starts as the blend alone.
    stack: Vec<Ols>,
    /// The depth's shift (spec/context.md 7): bounds scale by `2^shift`, ridges by `4^shift`.
    shift: u32,
}

/// What one sample's least-squares stages computed, kept until its value is known.
pub struct Pending {
    taps: [i32; MAX_TAPS],
    count: usize,
    stack_taps: [i32; MAX_TAPS],
    stack_count: usize,
    group: usize,
    omega: f64,
}

impl LeastSquares {
    /// The stages at the start of a chunk of samples of `bits - 8 = shift`.
    pub fn new(shift: u32) -> LeastSquares {
        let mut blend_only = [0.0; MAX_TAPS];
        blend_only[0] = 1.0;
        LeastSquares {
            neighbour: std::array::from_fn(|_| Ols::new([0.0; MAX_TAPS])),
            stack: vec![Ols::new(blend_only); 3 * GROUPS],
            shift,
        }
    }

    /// `8192 * 2^shift`: the bound of a fitted correction.
    fn bound(&self) -> f64 {
        (8192u32 << self.shift) as f64
    }

    /// `4^shift`, exactly.
    fn ridge_scale(&self) -> f64 {
        (1u64 << (2 * self.shift)) as f64
    }

    /// The neighbour predictor's taps and its prediction (1/8 units, within
    /// `[-4096, 6144] * 2^shift`).
    /// `own(dy, dx)` is the channel's value at that offset minus W, 0 where it is not known;
    /// `r_steps` is R's value minus its W and minus its N (used for B, class 2).
    pub fn neighbour_prediction(
        &self,
        class: usize,
        w: i32,
        own: impl Fn(usize, isize) -> i32,
        reference: Option<&Reference>,
        r_steps: [i32; 2],
    ) -> (i32, Pending) {
        let mut taps = [0i32; MAX_TAPS];
        let own_count = if class == 0 {
            NEIGHBOUR_OFFSETS.len()
        } else {
            5
        };
        for (t, &(dy, dx)) in taps.iter_mut().zip(&NEIGHBOUR_OFFSETS[..own_count]) {
            *t = own(dy, dx);
        }
        let mut count = own_count;
        if let Some(r) = reference {
            let mut put = |v: i32| {
                taps[count] = v;
                count += 1;
            };
            for v in [r.x - r.w, r.x - r.n, r.x - r.ne, r.x - r.nw] {
                put(v);
            }
            if class == 2 {
                r_steps.iter().for_each(|&v| put(v));
            }
        }
        let fitted = self.neighbour[class].predict(&taps, count, self.bound());
        let prediction = (w + fitted).clamp(-4096 << self.shift, 6144 << self.shift);
        let pending = Pending {
            taps,
            count,
            stack_taps: [0; MAX_TAPS],
            stack_count: 0,
            group: 0,
            omega: 1.0,
        };
        (prediction, pending)
    }

    /// The stacking stage: the final prediction (1/8 units, within `[0, max]`) from the blend
    /// and the first `subs` sub-predictions `p`, for a sample of `class` whose activity
    /// (before quantisation) is `activity`, in activity bucket `bucket` and second-context
    /// bucket `second`.
    #[allow(clippy::too_many_arguments)]
    pub fn stack_prediction(
        &self,
        pending: &mut Pending,
        class: usize,
        w: i32,
        blend: i32,
        p: &[i32; SUBS],
        subs: usize,
        (activity, bucket, second): (u32, usize, usize),
        max: i32,
    ) -> i32 {
        let t = &mut pending.stack_taps;
        t[0] = blend - w;
        for (tk, &pk) in t[1..].iter_mut().zip(&p[..subs]) {
            *tk = pk - w;
        }
        pending.stack_count = subs + 1;
        let range = bucket * ACTIVITY_GROUPS / ACTIVITY_BUCKETS;
        pending.group = (class * ACTIVITY_GROUPS + range) * 2 + (second >= SECOND_SPLIT) as usize;
        pending.omega = OMEGA_HALF / (OMEGA_HALF + activity as f64);
        let fitted = self.stack[pending.group].predict(&pending.stack_taps, subs + 1, self.bound());
        (w + fitted).clamp(0, max)
    }

    /// Learns the sample's value `v8` (1/8 units) in both stages; `w` is its W neighbour.
    pub fn learn(&mut self, class: usize, pending: &Pending, w: i32, v8: i32) {
        let y = v8 - w;
        let ridge = self.ridge_scale();
        let n = &mut self.neighbour[class];
        n.learn(
            &pending.taps,
            pending.count,
            y,
            pending.omega,
            NEIGHBOUR,
            ridge,
        );
        let s = &mut self.stack[pending.group];
        s.learn(
            &pending.stack_taps,
            pending.stack_count,
            y,
            pending.omega,
            STACK,
            ridge,
        );
    }
}

impl Default for LeastSquares {
    fn default() -> Self {
        LeastSquares::new(0)
    }
}
