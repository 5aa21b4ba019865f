//! The predictive patch code: a patch's pixels coded without bits-back, each under a logistic
//! centred on a prediction from its causal neighbours (spec/bitswap.md 3.6). Version 2's only
//! direct code; in version 3 the second one, beside the context code (`crate::context`), for the
//! patches (MNIST-like digits) where its fitted tables do better.
//!
//! Why a second code in a bits-back stream: bits-back must pop latents before it can push
//! anything, so the first patches an encoder processes find an empty stack and pay "initial
//! bits". Coding them with a code that needs nothing from the stack seeds it with real bits.
//! The same code also serves any patch it codes in fewer bits than the model does.
//!
//! The arithmetic is integers plus three correctly rounded f32 operations per sample, so every
//! conforming implementation computes the same frequencies.

use crate::ans::{cost_q16, Stack, Q16};
use crate::bitswap::patches::PatchPos;
use crate::model::LogisticBins;

/// Activity thresholds: a sample's bucket is the number of them its activity reaches.
const THRESHOLDS: [u32; 10] = [1, 2, 3, 5, 9, 17, 33, 65, 129, 257];

/// Bucket of the first sample of a patch, which has no neighbours.
const FIRST_BUCKET: usize = 10;

/// Logistic scales in pixel units, per activity bucket, fitted by `train/bsar_train/seed_tables.py`
/// and fixed by the spec: grey on MNIST training images, colour on crops of photos-train.
const GREY: [f32; 11] = [
    0.061, 0.148, 0.275, 12.4, 21.2, 27.6, 30.2, 36.0, 43.0, 56.1, 56.1,
];
const COLOUR_FIRST: [f32; 11] = [
    0.871, 0.611, 0.797, 1.36, 2.11, 3.93, 7.31, 12.4, 21.2, 36.0, 51.4,
];
const COLOUR_OTHER: [f32; 11] = [
    0.611, 0.468, 0.611, 0.951, 1.36, 1.93, 2.76, 4.29, 5.6, 6.69, 7.31,
];

/// Reads sample `(y, x, c)` of a padded `P x P x C` patch.
struct View<'a> {
    patch: &'a [u8],
    stride: usize,
    ch: usize,
}

impl View<'_> {
    #[inline]
    fn at(&self, y: usize, x: usize, c: usize) -> i32 {
        self.patch[(y * self.stride + x) * self.ch + c] as i32
    }
}

fn bucket(activity: i32) -> usize {
    THRESHOLDS.iter().filter(|&&t| activity >= t as i32).count()
}

/// Prediction and activity bucket of sample `(y, x, c)` from the already known samples of the
/// same channel (spec/bitswap.md 3.6). Inside the patch: the median edge detector over the left,
/// upper and upper-left neighbours; the first row and column see only one direction, so they
/// predict from it and measure activity along it (times 3, as the inside sums three gradients).
fn predict(v: &View, pos: &PatchPos, y: usize, x: usize, c: usize) -> (i32, usize) {
    if y == 0 && x == 0 {
        return (128, FIRST_BUCKET);
    }
    if y == 0 {
        let w = v.at(0, x - 1, c);
        let ww = if x >= 2 { v.at(0, x - 2, c) } else { w };
        return (w, bucket(3 * (w - ww).abs()));
    }
    if x == 0 {
        let n = v.at(y - 1, 0, c);
        let ne = if pos.real_w > 1 { v.at(y - 1, 1, c) } else { n };
        return (n, bucket(3 * (ne - n).abs()));
    }
    let (w, n, nw) = (v.at(y, x - 1, c), v.at(y - 1, x, c), v.at(y - 1, x - 1, c));
    let ne = if x + 1 < pos.real_w {
        v.at(y - 1, x + 1, c)
    } else {
        n
    };
    let med = if nw >= w.max(n) {
        w.min(n)
    } else if nw <= w.min(n) {
        w.max(n)
    } else {
        w + n - nw
    };
    (
        med,
        bucket((w - nw).abs() + (n - nw).abs() + (ne - n).abs()),
    )
}

/// The most channels a patch has (colour).
const MAX_CHANNELS: usize = 3;

/// The `(m, bucket)` of every channel of pixel `(y, x)`: they depend only on neighbours, so
/// the decoder can compute them before it knows any of the pixel's own samples.
fn pixel_predictions(v: &View, pos: &PatchPos, y: usize, x: usize) -> [(i32, usize); MAX_CHANNELS] {
    let mut out = [(0, 0); MAX_CHANNELS];
    for (c, slot) in out.iter_mut().enumerate().take(v.ch) {
        *slot = predict(v, pos, y, x, c);
    }
    out
}

/// The pixel bins of channel `c`, given its pixel's predictions and, for `c > 0`, the already
/// known sample `prev` of channel `c - 1` (spec/bitswap.md 3.6).
fn sample_bins(
    ch: usize,
    c: usize,
    preds: &[(i32, usize); MAX_CHANNELS],
    prev: i32,
    precision: u32,
) -> LogisticBins<'static> {
    let (med, bucket) = preds[c];
    let (pred, scale) = if ch == 1 {
        (med, GREY[bucket])
    } else if c == 0 {
        (med, COLOUR_FIRST[bucket])
    } else {
        // The previous channel's prediction error corrects this one: colour channels move together.
        let corrected = med + (prev - preds[c - 1].0);
        (corrected.clamp(0, 255), COLOUR_OTHER[bucket])
    };
    let mu = (2 * pred) as f32 / 255.0 - 1.0;
    let inv_s = 127.5f32 / scale;
    LogisticBins::pixel(mu, inv_s, precision)
}

/// The predictive code's intervals for the real samples of a padded `P x P x C` patch, in raster
/// order `(y, x, c)`: computed once, then priced and pushed.
pub struct Intervals {
    out: Vec<(u32, u32)>,
    precision: u32,
}

impl Intervals {
    pub fn of(patch: &[u8], stride: usize, ch: usize, pos: &PatchPos, precision: u32) -> Intervals {
        let v = View { patch, stride, ch };
        let mut out = Vec::with_capacity(pos.real_h * pos.real_w * ch);
        for y in 0..pos.real_h {
            for x in 0..pos.real_w {
                let preds = pixel_predictions(&v, pos, y, x);
                for c in 0..ch {
                    let prev = if c > 0 { v.at(y, x, c - 1) } else { 0 };
                    let d = sample_bins(ch, c, &preds, prev, precision);
                    out.push(d.interval(v.at(y, x, c) as u32));
                }
            }
        }
        Intervals { out, precision }
    }

    /// What pushing them costs, in 1/65536 bits (integers, so the encoder's choice is the same
    /// on every machine).
    pub fn cost(&self) -> Q16 {
        self.out
            .iter()
            .map(|&(_, freq)| cost_q16(freq, self.precision))
            .sum()
    }

    /// Pushes the samples in descending raster order, so the decoder pops them in raster order
    /// and always knows a sample's neighbours before the sample.
    pub fn push(&self, stack: &mut Stack, lane: usize) {
        for &(start, freq) in self.out.iter().rev() {
            stack.push(lane, start, freq, self.precision);
        }
    }
}

/// Pops the real samples in raster order into the padded patch (padding is not rebuilt here).
pub fn decode(
    stack: &mut Stack,
    lane: usize,
    patch: &mut [u8],
    stride: usize,
    ch: usize,
    pos: &PatchPos,
    precision: u32,
) {
    for y in 0..pos.real_h {
        for x in 0..pos.real_w {
            let view = View {
                patch: &*patch,
                stride,
                ch,
            };
            let preds = pixel_predictions(&view, pos, y, x);
            for c in 0..ch {
                let at = (y * stride + x) * ch + c;
                let prev = if c > 0 { patch[at - 1] as i32 } else { 0 };
                let d = sample_bins(ch, c, &preds, prev, precision);
                let (sym, start, freq) = d.find(stack.peek(lane, precision));
                stack.pop(lane, start, freq, precision);
                patch[at] = sym as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(h: usize, w: usize) -> PatchPos {
        PatchPos {
            top: 0,
            left: 0,
            real_h: h,
            real_w: w,
        }
    }

    #[test]
    fn round_trips_every_shape_and_channel_count() {
        let mut seed = 99u32;
        for ch in [1usize, 3] {
            for (h, w) in [(1, 1), (1, 7), (7, 1), (5, 9), (8, 8)] {
                let stride = 8;
                let patch: Vec<u8> = (0..stride * stride * ch)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (seed >> 24) as u8
                    })
                    .collect();
                let p = pos(h, w);
                let mut s = Stack::new(1);
                let iv = Intervals::of(&patch, stride, ch, &p, 20);
                iv.push(&mut s, 0);
                let bits = s.bit_len() as f64;
                let cost = iv.cost() as f64 / 65536.0;
                assert!((bits - cost).abs() < 2.0, "{bits} vs {cost}");
                let mut back = vec![0u8; patch.len()];
                decode(&mut s, 0, &mut back, stride, ch, &p, 20);
                for y in 0..h {
                    for x in 0..w {
                        for c in 0..ch {
                            let i = (y * stride + x) * ch + c;
                            assert_eq!(back[i], patch[i], "ch {ch} {h}x{w} at ({y},{x},{c})");
                        }
                    }
                }
                assert_eq!(s.check_initial(), Ok(0));
            }
        }
    }

    #[test]
    fn cost_follows_how_predictable_a_patch_is() {
        let stride = 16;
        let bpd = |patch: &[u8]| {
            Intervals::of(patch, stride, 3, &pos(16, 16), 20).cost() as f64 / 65536.0 / 768.0
        };
        let flat = vec![77u8; stride * stride * 3];
        // A horizontal ramp, the same in every channel.
        let ramp: Vec<u8> = (0..stride * stride * 3)
            .map(|i| ((i / 3) % stride * 4) as u8)
            .collect();
        let mut seed = 5u32;
        let noise: Vec<u8> = (0..stride * stride * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            })
            .collect();
        let (f, r, n) = (bpd(&flat), bpd(&ramp), bpd(&noise));
        // The tables are fitted to photos, so even a flat patch keeps some doubt.
        assert!(f < 2.0, "flat patch: {f} bits/sample");
        assert!(f < r && r < 4.0, "ramp: {r} bits/sample (flat {f})");
        assert!(n > 7.0, "noise: {n} bits/sample");
    }
}
