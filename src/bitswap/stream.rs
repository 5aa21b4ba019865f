//! A chunk's images as one long bits-back stream.
//!
//! Every image is cut into patches (raster order within an image, images in chunk order); the
//! patches are encoded in reverse so that the decoder meets them first to last and can stop after
//! the last patch of the image it was asked for.
//!
//! Each patch is coded by bits-back or by a direct code that needs no bits back: the context
//! code (`crate::context`, version 3) or the predictive patch code (`predictive.rs`); a mode
//! symbol after it (in encoding order) tells the decoder which. The encoder chooses by trying
//! bits-back and rolling it back when a direct code is cheaper: that is how the first patches
//! seed the stack instead of paying initial bits (spec/bitswap.md 3.4). The context code's
//! state learns every patch, whatever its mode (3.5).
//!
//! This file holds what both directions share (planes, modes, the chunk version's direct code)
//! and the decoder; `encode.rs` the encoder.

use crate::ans::{cost_q16, Stack, Q16, Q16_ONE};
use crate::bitswap::nets::{CpuNets, Nets};
use crate::bitswap::patches::{self, Grid};
use crate::bitswap::predictive;
use crate::bitswap::scheme::{PatchCoder, Precisions, Scheme};
use crate::context::{self, ContextModel, ImageCoder};
use crate::model::Model;
use std::fmt;

/// The colour planes of one image as the stream codes them (alpha is coded elsewhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planes {
    pub width: usize,
    pub height: usize,
    /// 1 (grey) or 3 (RGB): the channel count of the model that codes it.
    pub channels: usize,
    /// Row-major, interleaved samples.
    pub samples: Vec<u8>,
    /// Index of the model (in the chunk's model list) that codes this image.
    pub model: usize,
}

/// Shape of an image to decode, as the chunk header and the member table give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanesShape {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub model: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// A pop needed more words than the stream holds: the data are damaged.
    Exhausted { image: usize },
    /// The whole stream decoded, but the coder did not end in its initial state.
    NotAtStart,
    /// The image shape does not fit its model.
    Shape { image: usize, why: String },
    /// The engine running the nets failed (a device error): nothing about the data.
    Engine { image: usize, why: String },
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Exhausted { image } => {
                write!(
                    f,
                    "coded stream ends too early (image {image} of the chunk)"
                )
            }
            StreamError::NotAtStart => write!(f, "coded stream has trailing or damaged data"),
            StreamError::Shape { image, why } => write!(f, "image {image} of the chunk: {why}"),
            StreamError::Engine { image, why } => {
                write!(f, "image {image} of the chunk: model engine: {why}")
            }
        }
    }
}

impl std::error::Error for StreamError {}

/// How the encoder chooses each patch's mode. Any choice decodes: the mode is in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Every patch by bits-back (initial bits paid from the supply): for measurements.
    BitsBackOnly,
    /// The predictive code only for patches whose bits-back coding would read initial bits
    /// from the supply and would cost more, then bits-back throughout: seeding only, so the rate
    /// shows the model itself.
    Seed,
    /// Whichever code is cheaper, patch by patch, among the patches of models that a sample of
    /// the chunk shows to pay for bits-back (`choice.rs`); the others take the direct codes
    /// without running a net. The default.
    Cheapest,
    /// Whichever code is cheaper, trying bits-back on every patch: for measurements (what the
    /// sample's decision gives up, if anything).
    TryEveryPatch,
}

/// The mode symbol: precision and the width of the bits-back interval `[0, BITS_BACK)`; the
/// direct modes share the rest. Bits-back is the common case, so it costs under 0.1 bit.
const MODE_PRECISION: u32 = 16;
const MODE_BITS_BACK: u32 = 61_440;
/// Version 3 splits the direct interval: the context code below this, the patch code above.
const MODE_CONTEXT_END: u32 = 63_488;

/// How one patch is coded (spec/bitswap.md 3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    BitsBack,
    /// The context code (version 3 only).
    Context,
    /// The predictive patch code (version 2's only direct code; version 3's second one).
    Patch,
}

/// The mode symbol's interval at `MODE_PRECISION`, in a chunk whose version uses `code`.
fn mode_interval(mode: Mode, code: DirectCode) -> (u32, u32) {
    const ALL: u32 = 1 << MODE_PRECISION;
    match (mode, code) {
        (Mode::BitsBack, _) => (0, MODE_BITS_BACK),
        (_, DirectCode::Patch) => (MODE_BITS_BACK, ALL - MODE_BITS_BACK),
        (Mode::Context, DirectCode::Context(_)) => {
            (MODE_BITS_BACK, MODE_CONTEXT_END - MODE_BITS_BACK)
        }
        (Mode::Patch, DirectCode::Context(_)) => (MODE_CONTEXT_END, ALL - MODE_CONTEXT_END),
    }
}

pub(super) fn push_mode(stack: &mut Stack, mode: Mode, code: DirectCode) {
    let (start, freq) = mode_interval(mode, code);
    stack.push(0, start, freq, MODE_PRECISION);
}

fn pop_mode(stack: &mut Stack, code: DirectCode) -> Mode {
    let cum = stack.peek(0, MODE_PRECISION);
    let mode = if cum < MODE_BITS_BACK {
        Mode::BitsBack
    } else if matches!(code, DirectCode::Context(_)) && cum < MODE_CONTEXT_END {
        Mode::Context
    } else {
        Mode::Patch
    };
    let (start, freq) = mode_interval(mode, code);
    stack.pop(0, start, freq, MODE_PRECISION);
    mode
}

/// The cost of a mode symbol.
pub(super) fn mode_cost(mode: Mode, code: DirectCode) -> Q16 {
    cost_q16(mode_interval(mode, code).1, MODE_PRECISION)
}

/// Size of the stack's data in 1/65536 bits. Words read from the supply are not data, so the
/// growth of this figure over one patch is what that patch costs, initial bits included.
pub(super) fn stored(stack: &Stack) -> Q16 {
    stack.bit_len() * Q16_ONE
}

pub(super) fn grid(width: usize, height: usize, model: &Model) -> Grid {
    Grid {
        width,
        height,
        patch: model.config().patch,
    }
}

fn check_shape(i: usize, s: PlanesShape, models: &[&Model]) -> Result<(), StreamError> {
    let bad = |why: String| Err(StreamError::Shape { image: i, why });
    let Some(m) = models.get(s.model) else {
        return bad(format!(
            "model index {} is not in the chunk's model list",
            s.model
        ));
    };
    if s.channels != m.config().channels {
        return bad(format!(
            "{} channels, model has {}",
            s.channels,
            m.config().channels
        ));
    }
    if s.width == 0 || s.height == 0 {
        return bad("empty image".into());
    }
    Ok(())
}

/// The code of the patches that are not coded by bits-back; the chunk version says which
/// (spec/bitswap.md 2, 3.5, 3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectCode {
    /// Version 2: the predictive patch code (`predictive.rs`, context inside the patch only,
    /// fixed tables) is the only direct code.
    Patch,
    /// Versions 3 and 4: the context code (`crate::context`: whole-image context, adapted over
    /// the chunk; every patch, whatever its mode, feeds its state) of the chunk's version, and
    /// the patch code beside it.
    Context(context::Version),
}

impl DirectCode {
    /// The code a new chunk is written with.
    pub const LATEST: DirectCode = DirectCode::Context(context::Version::V4);
}

pub(super) fn check_shapes(images: &[Planes], models: &[&Model]) -> Result<(), StreamError> {
    for (i, img) in images.iter().enumerate().rev() {
        let shape = PlanesShape {
            width: img.width,
            height: img.height,
            channels: img.channels,
            model: img.model,
        };
        check_shape(i, shape, models)?;
    }
    Ok(())
}

/// Decodes images `0..=upto` of the stream. When every image is decoded, also checks that the
/// coder is back in its initial state, which catches damage that still decoded to pixels.
pub fn decode(
    models: &[&Model],
    scheme: Scheme,
    prec: Precisions,
    stack: Stack,
    shapes: &[PlanesShape],
    upto: usize,
) -> Result<Vec<Planes>, StreamError> {
    decode_with(&CpuNets::SINGLE, models, scheme, prec, stack, shapes, upto)
}

/// [`decode`] with the nets run by `nets`.
pub fn decode_with(
    nets: &dyn Nets,
    models: &[&Model],
    scheme: Scheme,
    prec: Precisions,
    stack: Stack,
    shapes: &[PlanesShape],
    upto: usize,
) -> Result<Vec<Planes>, StreamError> {
    decode_with_code(
        nets,
        models,
        scheme,
        prec,
        stack,
        shapes,
        upto,
        DirectCode::LATEST,
    )
}

/// [`decode_with`] for a chunk whose direct code is `code` (its version's).
#[allow(clippy::too_many_arguments)]
pub fn decode_with_code(
    nets: &dyn Nets,
    models: &[&Model],
    scheme: Scheme,
    prec: Precisions,
    stack: Stack,
    shapes: &[PlanesShape],
    upto: usize,
    code: DirectCode,
) -> Result<Vec<Planes>, StreamError> {
    decode_counting(nets, models, (scheme, prec), stack, shapes, upto, code).map(|(p, _)| p)
}

/// How many patches a stream coded in each mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModeCounts {
    pub bits_back: u64,
    pub context: u64,
    pub patch: u64,
}

impl ModeCounts {
    pub fn add(&mut self, o: ModeCounts) {
        self.bits_back += o.bits_back;
        self.context += o.context;
        self.patch += o.patch;
    }

    pub fn total(&self) -> u64 {
        self.bits_back + self.context + self.patch
    }
}

/// [`decode_with_code`], also counting the patches of each mode (for reports).
pub fn decode_counting(
    nets: &dyn Nets,
    models: &[&Model],
    (scheme, prec): (Scheme, Precisions),
    mut stack: Stack,
    shapes: &[PlanesShape],
    upto: usize,
    code: DirectCode,
) -> Result<(Vec<Planes>, ModeCounts), StreamError> {
    let mut counts = ModeCounts::default();
    // Count only this pass's reads past the end (the encoder's own count may come along).
    stack.clear_borrowed();
    let mut out = Vec::with_capacity(upto + 1);
    // The context code's state: fresh for the chunk, carried over its images.
    let mut context = ContextModel::new(match code {
        DirectCode::Context(version) => version,
        DirectCode::Patch => context::Version::V3, // unused: version 2 has no context code
    });
    let px = prec.pixel;
    for (i, &s) in shapes.iter().enumerate().take(upto + 1) {
        check_shape(i, s, models)?;
        let model = models[s.model];
        let coder = PatchCoder::new(model, nets, prec);
        let g = grid(s.width, s.height, model);
        let mut samples = vec![0u8; s.width * s.height * s.channels];
        let mut image_coder = matches!(code, DirectCode::Context(_))
            .then(|| ImageCoder::new(s.width, s.height, s.channels, g.patch, px));
        for k in 0..g.count() {
            let pos = g.pos(k);
            let mode = pop_mode(&mut stack, code);
            match mode {
                Mode::BitsBack => counts.bits_back += 1,
                Mode::Context => counts.context += 1,
                Mode::Patch => counts.patch += 1,
            }
            match (&mut image_coder, mode) {
                (Some(ic), Mode::Context) => {
                    ic.code_patch(&mut context, &mut samples, &pos, |d, _| {
                        let (v, start, freq) = d.find(stack.peek(0, px));
                        stack.pop(0, start, freq, px);
                        v
                    });
                }
                (ic, m) => {
                    let patch = if m == Mode::Patch {
                        let mut patch = vec![0u8; g.patch * g.patch * s.channels];
                        predictive::decode(
                            &mut stack, 0, &mut patch, g.patch, s.channels, &pos, px,
                        );
                        patch
                    } else {
                        coder
                            .decode(scheme, &mut stack, &pos)
                            .map_err(|why| StreamError::Engine { image: i, why })?
                    };
                    patches::insert(&mut samples, &g, s.channels, &pos, &patch);
                    // One state, every patch: the context model learns the other modes' patches.
                    if let Some(ic) = ic {
                        ic.code_patch(&mut context, &mut samples, &pos, |_, v| v);
                    }
                }
            }
            // A valid stream never pops past what the encoder pushed (see spec/bitswap.md).
            if stack.borrowed() > 0 {
                return Err(StreamError::Exhausted { image: i });
            }
        }
        out.push(Planes {
            width: s.width,
            height: s.height,
            channels: s.channels,
            samples,
            model: s.model,
        });
    }
    if upto + 1 == shapes.len() && stack.check_initial().is_err() {
        return Err(StreamError::NotAtStart);
    }
    Ok((out, counts))
}

#[cfg(test)]
mod tests {
    use super::super::encode::{encode, encode_inner, encode_with, run_context, Direct};
    use super::*;
    use crate::bitswap::choice;

    fn tiny() -> Model {
        Model::load(
            include_bytes!("../../tests/fixtures/model-tiny.json"),
            include_bytes!("../../tests/fixtures/model-tiny.safetensors"),
        )
        .expect("fixture model loads")
    }

    /// A model whose pixels see their neighbours (spec/model.md 5) codes and decodes every patch
    /// shape, edge patches included, with both schemes: the decoder meets each sample after the
    /// neighbours its distribution reads.
    #[test]
    fn a_model_with_pixel_context_round_trips_on_edge_patches() {
        let model = Model::load(
            include_bytes!("../../tests/fixtures/model-tiny-local.json"),
            include_bytes!("../../tests/fixtures/model-tiny-local.safetensors"),
        )
        .expect("fixture model loads");
        assert_eq!(
            model.config().pixel_context,
            crate::model::PixelContext::LocalLinear
        );
        let prec = Precisions {
            pixel: 20,
            latent: 20,
        };
        let (w, h) = (13, 11);
        let samples: Vec<u8> = (0..w * h * 3)
            .map(|i| ((i / 3 % w) * 17 + (i / 3 / w) * 9 + (i % 3) * 40 + i * i % 7) as u8)
            .collect();
        let img = Planes {
            width: w,
            height: h,
            channels: 3,
            samples,
            model: 0,
        };
        let shape = PlanesShape {
            width: w,
            height: h,
            channels: 3,
            model: 0,
        };
        for scheme in [Scheme::BitSwap, Scheme::BbAns] {
            let stack = encode(
                &[&model],
                scheme,
                prec,
                Policy::BitsBackOnly,
                &[img.clone()],
            )
            .expect("encode");
            let back = decode(&[&model], scheme, prec, stack, &[shape], 0).expect("decode");
            assert_eq!(back[0], img, "{scheme:?}");
        }
    }

    /// A version 3 stream built by hand, one patch in each direct mode: the patch code's patch
    /// first, then a context-code patch whose distributions assume the context state learnt the
    /// first patch (one state, every patch). The decoder must return both.
    #[test]
    fn the_context_state_learns_patches_of_the_other_modes() {
        let model = tiny();
        let p = model.config().patch;
        let prec = Precisions {
            pixel: 20,
            latent: 20,
        };
        let (w, h) = (2 * p, p);
        let samples: Vec<u8> = (0..w * h * 3)
            .map(|i| ((i / 3 % w) * 5 + (i / 3 / w) * 3 + (i % 3) * 30) as u8)
            .collect();
        let img = Planes {
            width: w,
            height: h,
            channels: 3,
            samples: samples.clone(),
            model: 0,
        };
        let g = grid(w, h, &model);
        // The decoder's order: patch 0 (patch code), then patch 1 (context code).
        let rec = run_context(
            &mut ContextModel::new(context::Version::V4),
            &img,
            p,
            prec.pixel,
        );
        let mut buf = vec![0u8; p * p * 3];
        let pos0 = g.pos(0);
        patches::extract(&samples, &g, 3, &pos0, &mut buf);
        let first = predictive::Intervals::of(&buf, p, 3, &pos0, prec.pixel);
        // Encode backwards: patch 1, its mode, patch 0, its mode.
        let mut stack = Stack::new(1);
        Direct::Context(&rec.intervals[rec.starts[1]..rec.starts[2]], prec.pixel).push(&mut stack);
        push_mode(&mut stack, Mode::Context, DirectCode::LATEST);
        first.push(&mut stack, 0);
        push_mode(&mut stack, Mode::Patch, DirectCode::LATEST);
        let shape = PlanesShape {
            width: w,
            height: h,
            channels: 3,
            model: 0,
        };
        let out = decode(&[&model], Scheme::BitSwap, prec, stack, &[shape], 0).unwrap();
        assert_eq!(out[0].samples, samples);
    }

    /// Past the memory bound, the encoder recomputes an image's intervals from a snapshot of the
    /// state: the same bytes as keeping them.
    #[test]
    fn recomputed_intervals_give_the_same_bytes() {
        let model = tiny();
        let images: Vec<Planes> = (0..3)
            .map(|k| Planes {
                width: 11 + k,
                height: 9,
                channels: 3,
                samples: (0..(11 + k) * 9 * 3)
                    .map(|i| ((i * 7 + k * 13) % 256) as u8)
                    .collect(),
                model: 0,
            })
            .collect();
        let prec = Precisions {
            pixel: 20,
            latent: 20,
        };
        let run = |record| {
            let s = encode_inner(
                &CpuNets::SINGLE,
                &[&model],
                (Scheme::BitSwap, prec, Policy::Cheapest),
                &images,
                DirectCode::LATEST,
                record,
            )
            .unwrap();
            s.to_bytes()
        };
        let kept = run(usize::MAX);
        assert_eq!(run(0), kept);
        assert_eq!(run(300), kept);
    }

    /// Counts net passes, running them on the CPU.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Nets for Counting {
        fn run(
            &self,
            m: &Model,
            net: crate::model::Net,
            input: &[f32],
            batch: usize,
        ) -> Result<crate::model::Logistic, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            CpuNets::SINGLE.run(m, net, input, batch)
        }
    }

    /// Where the sample shows that bits-back does not pay (smooth images, which the context code
    /// codes for almost nothing, under an untrained model), the default policy runs the nets on
    /// the sample only; trying every patch runs them on every patch and codes the same modes.
    /// Both decode to the images.
    #[test]
    fn a_chunk_where_bits_back_does_not_pay_runs_the_nets_on_the_sample_only() {
        let model = tiny();
        let p = model.config().patch;
        let prec = Precisions {
            pixel: 16,
            latent: 18,
        };
        let images: Vec<Planes> = (0..3)
            .map(|k| Planes {
                width: 4 * p,
                height: 3 * p,
                channels: 3,
                samples: (0..12 * p * p * 3)
                    .map(|i| ((i / 3 % (4 * p)) + (i / 3 / (4 * p)) + k * 20 + i % 3) as u8)
                    .collect(),
                model: 0,
            })
            .collect();
        let shapes: Vec<PlanesShape> = images
            .iter()
            .map(|i| PlanesShape {
                width: i.width,
                height: i.height,
                channels: 3,
                model: 0,
            })
            .collect();
        let patches = 36;
        let mut passes = Vec::new();
        for policy in [Policy::Cheapest, Policy::TryEveryPatch] {
            let nets = Counting(Default::default());
            let stack =
                encode_with(&nets, &[&model], Scheme::BitSwap, prec, policy, &images).unwrap();
            let (out, counts) = decode_counting(
                &CpuNets::SINGLE,
                &[&model],
                (Scheme::BitSwap, prec),
                Stack::from_bytes(&stack.to_bytes()).unwrap(),
                &shapes,
                2,
                DirectCode::LATEST,
            )
            .unwrap();
            assert_eq!(out, images, "{policy:?}");
            assert_eq!(counts.total(), patches);
            assert_eq!(counts.bits_back, 0, "{policy:?}");
            passes.push(nets.0.into_inner());
        }
        // Every bits-back patch runs the same number of nets.
        let per_patch = passes[1] / patches as usize;
        assert!(
            per_patch > 0 && passes[1] % patches as usize == 0,
            "{passes:?}"
        );
        assert_eq!(
            passes[0],
            per_patch * (choice::SAMPLE_PATCHES + 1),
            "{passes:?}"
        );
    }

    #[test]
    fn mode_intervals_tile_the_range() {
        for code in [DirectCode::Patch, DirectCode::LATEST] {
            let modes: &[Mode] = match code {
                DirectCode::Patch => &[Mode::BitsBack, Mode::Patch],
                DirectCode::Context(_) => &[Mode::BitsBack, Mode::Context, Mode::Patch],
            };
            let mut at = 0;
            for &m in modes {
                let (start, freq) = mode_interval(m, code);
                assert_eq!(start, at);
                at += freq;
                let mut s = Stack::new(1);
                push_mode(&mut s, m, code);
                assert_eq!(pop_mode(&mut s, code), m);
            }
            assert_eq!(at, 1 << MODE_PRECISION);
        }
    }
}
