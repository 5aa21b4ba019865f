//! The context code: a causal, adaptive model of every sample of an image (spec/context.md).
//!
//! Each sample gets a prediction from its already known neighbours (predictor.rs), across patch
//! borders, refined in chunk version 4 by least-squares fits to the chunk so far
//! (least_squares.rs over ols.rs), and a discretised logistic (dist.rs) whose bias and scale
//! come from error statistics learned over every earlier sample of the chunk (stats.rs). The Bit-Swap stream uses it to code
//! the patches it wins and to seed the stack; every patch, whatever its mode, teaches it.
//!
//! Samples are visited in the stream's order: patches in raster order, the real samples of a
//! patch in raster order, and at each pixel the channels in coding order (G, R, B for colour).
//! A sample may use any sample visited before it: the rows above its patch, the patches to its
//! left, and the earlier samples of its own patch.

mod dist;
mod least_squares;
mod ols;
mod predictor;
mod stats;

pub use dist::{Depth, Dist, PRED_BITS, PRED_MAX};
pub use stats::Stats;

use crate::bitswap::patches::{Grid, PatchPos};
use least_squares::LeastSquares;
use predictor::{Inputs, Reference, SUBS};

/// Channel coding order at a pixel: grey alone; colour G first, then R and B, each with G as
/// its reference channel.
fn order(channels: usize) -> &'static [usize] {
    if channels == 1 {
        &[0]
    } else {
        &[1, 0, 2]
    }
}

/// A sample the context code reads and writes: a byte (every Bit-Swap chunk) or a 16-bit word
/// (codec 4's deep images).
pub trait Sample: Copy {
    fn value(self) -> u32;
    /// `v` below `2^16` (below `2^8` for a byte): the coder only gives values of its depth.
    fn from_value(v: u32) -> Self;
}

impl Sample for u8 {
    #[inline(always)]
    fn value(self) -> u32 {
        self as u32
    }

    #[inline(always)]
    fn from_value(v: u32) -> Self {
        v as u8
    }
}

impl Sample for u16 {
    #[inline(always)]
    fn value(self) -> u32 {
        self as u32
    }

    #[inline(always)]
    fn from_value(v: u32) -> Self {
        v as u16
    }
}

/// The adaptive state of one chunk: created fresh for each chunk, carried from image to image.
#[derive(Clone, Debug, PartialEq)]
pub struct ContextModel {
    pub stats: Stats,
    /// Per class, the adaptive linear predictor's weights (Q14), spec/context.md 3.2.
    pub lms: [[i32; LMS_TAPS]; 3],
    /// The same with a smaller step: slower to follow, steadier.
    pub lms_slow: [[i32; LMS_TAPS]; 3],
    /// Chunk version 4's least-squares stages; `None` in version 3.
    pub least_squares: Option<LeastSquares>,
    /// The depth of the samples it models.
    pub depth: Depth,
}

/// The context code's versions, named by the Bit-Swap chunk versions that use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Sub-predictors, two LMS predictors and their blend (spec/context.md 3.1 to 3.3).
    V3,
    /// Version 3 plus a least-squares sub-predictor and the stacking stage (3.4, 3.5).
    V4,
}

/// Taps of the adaptive linear predictor: N, NW, NE, NN, WW, each minus W; then, with a
/// reference channel, its value minus its W, N, NE and NW (zero for the first channel).
pub const LMS_TAPS: usize = 9;
/// Its step sizes: `2048 / 2^14` and `512 / 2^14`, normalised LMS steps of 1/8 and 1/32.
const LMS_STEP: i64 = 2048;
const LMS_SLOW_STEP: i64 = 512;
/// Bound of each weight (Q14): +-8.
const LMS_BOUND: i64 = 1 << 17;

fn lms_taps(i: &Inputs, r: Option<&Reference>) -> [i32; LMS_TAPS] {
    // The reference channel's steps at this pixel: how its value departs from its neighbours.
    let (c0, c1, c2, c3) = match r {
        Some(r) => (r.x - r.w, r.x - r.n, r.x - r.ne, r.x - r.nw),
        None => (0, 0, 0, 0),
    };
    [
        i.n - i.w,
        i.nw - i.w,
        i.ne - i.w,
        i.nn - i.w,
        i.ww - i.w,
        c0,
        c1,
        c2,
        c3,
    ]
}

/// `w + floor(sum a_j t_j / 2^14)`, within `[-4096, 6144] * 2^shift`.
#[inline(always)]
fn lms_predict(a: &[i32; LMS_TAPS], taps: &[i32; LMS_TAPS], w: i32, shift: u32) -> i32 {
    let acc: i64 = taps.iter().zip(a).map(|(&t, &k)| t as i64 * k as i64).sum();
    (w as i64 + (acc >> 14)).clamp(-4096 << shift, 6144 << shift) as i32
}

/// `sum t_j^2 + 256 * 4^shift`, the normalisation of the LMS step.
#[inline(always)]
fn lms_norm(taps: &[i32; LMS_TAPS], shift: u32) -> i64 {
    taps.iter().map(|&t| t as i64 * t as i64).sum::<i64>() + (256 << (2 * shift))
}

/// The normalised LMS update after an error `e = v8 - prediction`.
#[inline(always)]
fn lms_learn(a: &mut [i32; LMS_TAPS], taps: &[i32; LMS_TAPS], norm: i64, e: i32, step: i64) {
    let g = ((e as i64 * step) << 16) / norm;
    for (k, &t) in a.iter_mut().zip(taps) {
        *k = (*k as i64 + ((g * t as i64) >> 16)).clamp(-LMS_BOUND, LMS_BOUND) as i32;
    }
}

impl ContextModel {
    /// The state at the start of a chunk of 8-bit images coded with `version`.
    pub fn new(version: Version) -> ContextModel {
        ContextModel::with_depth(version, Depth::EIGHT)
    }

    /// The state at the start of a chunk of samples of `depth` coded with `version`.
    pub fn with_depth(version: Version, depth: Depth) -> ContextModel {
        let scale_factor = match version {
            Version::V3 => stats::SCALE_FACTOR_V3,
            Version::V4 => stats::SCALE_FACTOR_V4,
        };
        ContextModel {
            stats: Stats::new(scale_factor, depth),
            lms: [[1 << 14, -(1 << 14), 0, 0, 0, 0, 0, 0, 0]; 3],
            lms_slow: [[1 << 14, -(1 << 14), 0, 0, 0, 0, 0, 0, 0]; 3],
            least_squares: match version {
                Version::V3 => None,
                Version::V4 => Some(LeastSquares::new(depth.shift())),
            },
            depth,
        }
    }
}

/// What the context code costs for `samples` (a `width x height` image of `channels`, 1 or 3)
/// coded after the images `model` has learnt, in `patch x patch` patches at `precision`, in
/// 1/65536 bits; `model` learns the image. A yardstick an encoder holds other codes against.
pub fn image_cost(
    model: &mut ContextModel,
    (width, height, channels): (usize, usize, usize),
    patch: usize,
    precision: u32,
    samples: &[u8],
) -> crate::ans::Q16 {
    let mut coder = ImageCoder::new(width, height, channels, patch, precision);
    let mut image = samples.to_vec();
    let mut total = 0;
    coder.code_image(model, &mut image, |dist, v| {
        // A value the code cannot give (no frequency, at a low precision) costs the most.
        total += crate::ans::cost_q16(dist.interval(v).1.max(1), precision);
        v
    });
    total
}

/// One image being coded: the recent rows of errors, for the neighbours of the next samples.
pub struct ImageCoder {
    width: usize,
    height: usize,
    ch: usize,
    patch: usize,
    /// Rows kept: a patch row and the two rows above it.
    ring: usize,
    /// True error (blend minus value) per `(row mod ring, x, c)`.
    te: Vec<i32>,
    /// Absolute error per `(row mod ring, x, c, sub-predictor)`.
    se: Vec<u32>,
    precision: u32,
}

/// A position among the neighbours: the sample's pixel index and its slot in the error rows.
#[derive(Clone, Copy)]
struct At {
    pixel: usize,
    slot: usize,
}

/// The sample positions a pixel's prediction reads (after substitution at borders).
struct Neighbours {
    n: At,
    w: At,
    nw: At,
    ne: At,
    nn: At,
    ww: At,
}

impl ImageCoder {
    /// The bytes `ImageCoder::new(width, height, channels, patch, _)` allocates: its rows of
    /// errors, for decoders' budgets (saturating).
    pub fn memory(width: usize, height: usize, channels: usize, patch: usize) -> u64 {
        let ring = (patch as u64 + 2).min(height.max(1) as u64);
        ring.saturating_mul(width as u64)
            .saturating_mul(channels as u64)
            .saturating_mul(4 * (1 + SUBS as u64))
    }

    /// An image of `width x height` pixels of `channels` (1 or 3) samples, cut into patches of
    /// `patch x patch`; samples coded at `precision` bits.
    pub fn new(width: usize, height: usize, channels: usize, patch: usize, precision: u32) -> Self {
        let ring = (patch + 2).min(height.max(1));
        ImageCoder {
            width,
            height,
            ch: channels,
            patch,
            ring,
            te: vec![0; ring * width * channels],
            se: vec![0; ring * width * channels * SUBS],
            precision,
        }
    }

    fn at(&self, y: usize, x: usize) -> At {
        At {
            pixel: y * self.width + x,
            slot: (y % self.ring) * self.width + x,
        }
    }

    /// Neighbours of pixel `(y, x)` in the patch `pos`, or `None` for the image's first pixel.
    /// Unknown positions are replaced: above the first row by W, left of the first column by
    /// N, NE by N where NE is right of the current patch (not decoded yet) or of the image.
    fn neighbours(&self, pos: &PatchPos, y: usize, x: usize) -> Option<Neighbours> {
        if y == 0 && x == 0 {
            return None;
        }
        if y == 0 {
            let w = self.at(0, x - 1);
            let ww = if x > 1 { self.at(0, x - 2) } else { w };
            return Some(Neighbours {
                n: w,
                w,
                nw: w,
                ne: w,
                nn: w,
                ww,
            });
        }
        let ne_known = x + 1 < self.width && (y - 1 < pos.top || x + 1 < pos.left + pos.real_w);
        let n = self.at(y - 1, x);
        let ne = if ne_known { self.at(y - 1, x + 1) } else { n };
        let nn = if y > 1 { self.at(y - 2, x) } else { n };
        if x == 0 {
            return Some(Neighbours {
                n,
                w: n,
                nw: n,
                ne,
                nn,
                ww: n,
            });
        }
        let w = self.at(y, x - 1);
        Some(Neighbours {
            n,
            w,
            nw: self.at(y - 1, x - 1),
            ne,
            nn,
            ww: if x > 1 { self.at(y, x - 2) } else { w },
        })
    }

    /// The prediction inputs of channel `c` at a pixel with neighbours `nb`.
    /// `slots`: how many slots the channel's class blends (the others' errors stay 0).
    /// The image's first pixel sees every neighbour at half the range, `2^(bits-1)`.
    #[inline(always)]
    fn inputs<S: Sample>(
        &self,
        image: &[S],
        nb: &Option<Neighbours>,
        c: usize,
        (slots, depth): (usize, Depth),
    ) -> Inputs {
        let Some(nb) = nb else {
            let mid = (depth.values() as i32 / 2) << PRED_BITS;
            return Inputs {
                n: mid,
                w: mid,
                nw: mid,
                ne: mid,
                nn: mid,
                ww: mid,
                te_n: 0,
                te_w: 0,
                te_nw: 0,
                te_ne: 0,
                te_nn: 0,
                te_ww: 0,
                err: [0; SUBS],
            };
        };
        let ch = self.ch;
        let v = |a: At| (image[a.pixel * ch + c].value() as i32) << PRED_BITS;
        let te = |a: At| self.te[a.slot * ch + c];
        let mut err = [0u32; SUBS];
        let row = |a: At| &self.se[(a.slot * ch + c) * SUBS..][..SUBS];
        let (n, w, nw, ne, nn, ww) = (
            row(nb.n),
            row(nb.w),
            row(nb.nw),
            row(nb.ne),
            row(nb.nn),
            row(nb.ww),
        );
        for k in 0..slots {
            err[k] = n[k] + w[k] + nw[k] + ne[k] + (nn[k] + ww[k]) / 2;
        }
        Inputs {
            n: v(nb.n),
            w: v(nb.w),
            nw: v(nb.nw),
            ne: v(nb.ne),
            nn: v(nb.nn),
            ww: v(nb.ww),
            te_n: te(nb.n),
            te_w: te(nb.w),
            te_nw: te(nb.nw),
            te_ne: te(nb.ne),
            te_nn: te(nb.nn),
            te_ww: te(nb.ww),
            err,
        }
    }

    /// The channel-`c` value at `dy` rows up and `dx` columns right of `(y, x)` minus `w`, or
    /// 0 where that sample is not known yet or outside the image (spec/context.md 3.4).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn known_minus_w<S: Sample>(
        &self,
        image: &[S],
        pos: &PatchPos,
        (y, x): (usize, usize),
        c: usize,
        w: i32,
        (dy, dx): (usize, isize),
    ) -> i32 {
        let xx = x as isize + dx;
        if dy > y || xx < 0 || xx as usize >= self.width || (dy == 0 && dx >= 0) {
            return 0;
        }
        let (yy, xx) = (y - dy, xx as usize);
        // Rows of the current patch row are known only up to the patch's right edge.
        if yy >= pos.top && xx >= pos.left + pos.real_w {
            return 0;
        }
        ((image[(yy * self.width + xx) * self.ch + c].value() as i32) << PRED_BITS) - w
    }

    /// Runs the model over the real samples of patch `pos` in coding order. For each sample,
    /// `code(dist, value)` gets the sample's distribution and the value now in `image` (the
    /// encoder's sample) and returns the sample's value (the decoder's, once decoded), which is
    /// written to `image` and learnt from. `image` is the whole image, row-major interleaved, of
    /// samples of `model.depth`.
    pub fn code_patch<S: Sample>(
        &mut self,
        model: &mut ContextModel,
        image: &mut [S],
        pos: &PatchPos,
        mut code: impl FnMut(&Dist, u32) -> u32,
    ) {
        let ch = self.ch;
        let order = order(ch);
        let depth = model.depth;
        let shift = depth.shift();
        let pred_max = depth.pred_max();
        for y in pos.top..pos.top + pos.real_h {
            for x in pos.left..pos.left + pos.real_w {
                let nb = self.neighbours(pos, y, x);
                let here = self.at(y, x);
                let mut reference: Option<Reference> = None;
                let mut ref_residual = 0u32;
                let mut r_steps = [0i32; 2];
                for (class, &c) in order.iter().enumerate() {
                    // Sub-predictor slots: 12 or 8 fixed ones, two LMS, and in version 4 the
                    // least-squares one.
                    let ls = model.least_squares.as_ref();
                    let slots = if class == 0 { 14 } else { 10 } + ls.is_some() as usize;
                    let inp = self.inputs(image, &nb, c, (slots, depth));
                    let (mut p, mut subs) = predictor::subpredictions(&inp, reference.as_ref());
                    // The adaptive linear predictors, fast then slow, in the class's last slots.
                    let taps = lms_taps(&inp, reference.as_ref());
                    let lms_pred = lms_predict(&model.lms[class], &taps, inp.w, shift);
                    p[subs] = lms_pred;
                    subs += 1;
                    let slow_pred = lms_predict(&model.lms_slow[class], &taps, inp.w, shift);
                    p[subs] = slow_pred;
                    subs += 1;
                    let mut pending = ls.map(|ls| {
                        let own =
                            |dy, dx| self.known_minus_w(image, pos, (y, x), c, inp.w, (dy, dx));
                        let (pred, pending) =
                            ls.neighbour_prediction(class, inp.w, own, reference.as_ref(), r_steps);
                        p[subs] = pred;
                        subs += 1;
                        pending
                    });
                    let (blend, expected) = predictor::blend(&inp, &p, subs, class == 0, shift);
                    let mut blend = blend.clamp(0, pred_max);
                    // At a deeper depth, measured as an 8-bit image of the same look would be.
                    let raw_activity = predictor::activity(&inp, expected) >> shift;
                    // The image's first pixel has no neighbours to measure: the top bucket.
                    let activity = match nb {
                        Some(_) => stats::activity_bucket(raw_activity),
                        None => stats::ACTIVITY_BUCKETS - 1,
                    };
                    // The second context dimension: how much the sub-predictors disagree for
                    // the first channel, the reference channel's residual for the others.
                    let second = if class == 0 {
                        stats::ref_bucket((predictor::spread(&p, 7) >> shift) / 8)
                    } else {
                        stats::ref_bucket(ref_residual >> shift)
                    };
                    if let (Some(ls), Some(pending)) = (ls, pending.as_mut()) {
                        let buckets = (raw_activity, activity, second);
                        blend = ls.stack_prediction(
                            pending, class, inp.w, blend, &p, subs, buckets, pred_max,
                        );
                    }
                    let ctx = stats::context_index(class, activity, second);
                    let (bias, inv_scale) = model.stats.params(ctx);
                    let pred = (blend + bias).clamp(0, pred_max);
                    let dist = Dist {
                        pred,
                        inv_scale,
                        precision: self.precision,
                        depth,
                    };
                    let at = here.pixel * ch + c;
                    let value = code(&dist, image[at].value());
                    image[at] = S::from_value(value);
                    let v8 = (value as i32) << PRED_BITS;
                    // Learn: this sample's errors become its neighbours' inputs.
                    let slot = here.slot * ch + c;
                    self.te[slot] = blend - v8;
                    let se = &mut self.se[slot * SUBS..][..SUBS];
                    for (e, &pk) in se.iter_mut().zip(&p).take(subs) {
                        *e = (pk - v8).unsigned_abs();
                    }
                    model.stats.update(ctx, v8 - blend, (v8 - pred).abs());
                    let norm = lms_norm(&taps, shift);
                    lms_learn(&mut model.lms[class], &taps, norm, v8 - lms_pred, LMS_STEP);
                    let slow = &mut model.lms_slow[class];
                    lms_learn(slow, &taps, norm, v8 - slow_pred, LMS_SLOW_STEP);
                    if let (Some(ls), Some(pending)) = (model.least_squares.as_mut(), &pending) {
                        ls.learn(class, pending, inp.w, v8);
                    }
                    if class == 1 {
                        r_steps = [v8 - inp.w, v8 - inp.n];
                    }
                    if class == 0 {
                        ref_residual = (v8 - pred).unsigned_abs();
                        reference = Some(match &nb {
                            Some(nb) => {
                                let r =
                                    |a: At| (image[a.pixel * ch + c].value() as i32) << PRED_BITS;
                                Reference {
                                    x: v8,
                                    n: r(nb.n),
                                    w: r(nb.w),
                                    nw: r(nb.nw),
                                    ne: r(nb.ne),
                                }
                            }
                            None => Reference {
                                x: v8,
                                n: inp.n,
                                w: inp.w,
                                nw: inp.nw,
                                ne: inp.ne,
                            },
                        });
                    }
                }
            }
        }
    }

    /// [`ImageCoder::code_patch`] over every patch of the image, in the stream's order (patches
    /// in raster order): the context code alone over a whole image.
    pub fn code_image<S: Sample>(
        &mut self,
        model: &mut ContextModel,
        image: &mut [S],
        mut code: impl FnMut(&Dist, u32) -> u32,
    ) {
        let g = Grid {
            width: self.width,
            height: self.height,
            patch: self.patch,
        };
        for k in 0..g.count() {
            self.code_patch(model, image, &g.pos(k), &mut code);
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }
}
