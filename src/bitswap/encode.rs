//! Encoding a chunk's images as one long bits-back stream (`stream.rs` has the stream's shared
//! parts and the decoder): the context code's forward pass, the sample decision and model choice
//! (`choice.rs` decides on the figures measured here), then the patches coded backwards, each by
//! bits-back or by the cheaper direct code, whichever costs less.

use crate::ans::{cost_q16, Stack, Q16};
use crate::bitswap::choice;
use crate::bitswap::nets::{CpuNets, Nets};
use crate::bitswap::patches::{self, Grid, PatchPos};
use crate::bitswap::predictive;
use crate::bitswap::scheme::{PatchCoder, Precisions, Scheme};
use crate::bitswap::stream::{
    check_shapes, grid, mode_cost, push_mode, stored, DirectCode, Mode, Planes, Policy, StreamError,
};
use crate::context::{self, ContextModel, ImageCoder};
use crate::model::Model;

/// Encodes `images` onto a fresh stack and returns it.
pub fn encode(
    models: &[&Model],
    scheme: Scheme,
    prec: Precisions,
    policy: Policy,
    images: &[Planes],
) -> Result<Stack, StreamError> {
    encode_with(&CpuNets::SINGLE, models, scheme, prec, policy, images)
}

/// [`encode`] with the nets run by `nets` (the bytes are the same whoever runs them).
pub fn encode_with(
    nets: &dyn Nets,
    models: &[&Model],
    scheme: Scheme,
    prec: Precisions,
    policy: Policy,
    images: &[Planes],
) -> Result<Stack, StreamError> {
    encode_with_code(
        nets,
        models,
        scheme,
        prec,
        policy,
        images,
        DirectCode::LATEST,
    )
}

/// Samples of a chunk whose context-code intervals the encoder keeps from its forward pass;
/// beyond them, an image's intervals are recomputed from a snapshot of the state (8 bytes a
/// sample: 64 MiB).
const RECORD_SAMPLES: usize = 1 << 23;

/// One image's context-code intervals in coding order, and where each patch's begin.
pub(super) struct Recorded {
    pub(super) intervals: Vec<(u32, u32)>,
    pub(super) starts: Vec<usize>,
}

/// Runs the context model over one image in the stream's order (patches in raster order), from
/// `model`'s state, and returns the intervals of every sample.
pub(super) fn run_context(
    model: &mut ContextModel,
    img: &Planes,
    patch: usize,
    precision: u32,
) -> Recorded {
    let g = Grid {
        width: img.width,
        height: img.height,
        patch,
    };
    let mut coder = ImageCoder::new(img.width, img.height, img.channels, patch, precision);
    let mut samples = img.samples.clone();
    let mut intervals = Vec::with_capacity(samples.len());
    let mut starts = Vec::with_capacity(g.count() + 1);
    for k in 0..g.count() {
        starts.push(intervals.len());
        coder.code_patch(model, &mut samples, &g.pos(k), |d, v| {
            intervals.push(d.interval(v));
            v
        });
    }
    starts.push(intervals.len());
    Recorded { intervals, starts }
}

/// Either image's recorded intervals or the state to recompute them from.
enum Forward {
    Recorded(Recorded),
    /// Boxed: version 4's state is some kilobytes.
    Snapshot(Box<ContextModel>),
}

/// The direct (non-bits-back) coding of one patch, priced and then pushed.
pub(super) enum Direct<'a> {
    Patch(predictive::Intervals),
    Context(&'a [(u32, u32)], u32),
}

impl Direct<'_> {
    fn cost(&self) -> Q16 {
        match self {
            Direct::Patch(iv) => iv.cost(),
            Direct::Context(iv, p) => iv.iter().map(|&(_, f)| cost_q16(f, *p)).sum(),
        }
    }

    /// Pushes the samples in reverse coding order, so the decoder pops them in coding order.
    pub(super) fn push(&self, stack: &mut Stack) {
        match self {
            Direct::Patch(iv) => iv.push(stack, 0),
            Direct::Context(iv, p) => {
                for &(start, freq) in iv.iter().rev() {
                    stack.push(0, start, freq, *p);
                }
            }
        }
    }
}

/// The cheaper of the direct codes this version has for patch `k` of an image (mode symbols
/// counted), and its mode. `recorded` holds the image's context-code intervals (version 3).
fn direct_code<'r>(
    recorded: Option<&'r Recorded>,
    (patch, p): (&[u8], usize),
    channels: usize,
    pos: &PatchPos,
    k: usize,
    prec: Precisions,
    code: DirectCode,
) -> (Direct<'r>, Mode) {
    let patch_code = Direct::Patch(predictive::Intervals::of(
        patch, p, channels, pos, prec.pixel,
    ));
    match recorded {
        Some(r) => {
            let context = Direct::Context(&r.intervals[r.starts[k]..r.starts[k + 1]], prec.pixel);
            if patch_code.cost() + mode_cost(Mode::Patch, code)
                < context.cost() + mode_cost(Mode::Context, code)
            {
                (patch_code, Mode::Patch)
            } else {
                (context, Mode::Context)
            }
        }
        None => (patch_code, Mode::Patch),
    }
}

/// What bits-back with model `try_slot` would do for the patches of the images that name model
/// `slot`: [`choice::decide`] over a sample of them. The two models have the same patch size
/// (`same_grid`), so the patches and their direct costs are the same whichever is tried.
#[allow(clippy::too_many_arguments)]
fn choose(
    nets: &dyn Nets,
    models: &[&Model],
    (scheme, prec): (Scheme, Precisions),
    images: &[Planes],
    forward: &[Forward],
    code: DirectCode,
    slot: usize,
    try_slot: usize,
) -> Result<choice::Verdict, StreamError> {
    let model = models[slot];
    debug_assert!(same_grid(model, models[try_slot]));
    let p = model.config().patch;
    // The slot's patches in chunk order, as (image, patch).
    let mut all = Vec::new();
    for (i, img) in images.iter().enumerate() {
        if img.model == slot {
            all.extend((0..grid(img.width, img.height, model).count()).map(|k| (i, k)));
        }
    }
    let picked: Vec<(usize, usize)> = choice::sample(all.len())
        .into_iter()
        .map(|j| all[j])
        .collect();
    let mut sampled = Vec::with_capacity(picked.len());
    let mut direct = Vec::with_capacity(picked.len());
    // An image whose intervals the forward pass did not keep, recomputed once.
    let mut rerun: Option<(usize, Recorded)> = None;
    for &(i, k) in &picked {
        let img = &images[i];
        let g = grid(img.width, img.height, model);
        let pos = g.pos(k);
        let mut patch = vec![0u8; p * p * img.channels];
        patches::extract(&img.samples, &g, img.channels, &pos, &mut patch);
        let recorded = match forward.get(i) {
            Some(Forward::Recorded(r)) => Some(r),
            Some(Forward::Snapshot(m)) => {
                if rerun.as_ref().map(|r| r.0) != Some(i) {
                    rerun = Some((i, run_context(&mut m.clone(), img, p, prec.pixel)));
                }
                rerun.as_ref().map(|r| &r.1)
            }
            None => None,
        };
        let (d, mode) = direct_code(recorded, (&patch, p), img.channels, &pos, k, prec, code);
        direct.push(d.cost() + mode_cost(mode, code));
        sampled.push((patch, pos));
    }
    let tried = models[try_slot];
    let c = tried.config();
    let latents = c.latent_layers * (c.patch / 2) * (c.patch / 2) * c.latent_channels;
    let coder = PatchCoder::new(tried, nets, prec);
    choice::decide(
        all.len(),
        &direct,
        latents as u64 * u64::from(prec.latent),
        |stack, j| {
            let (patch, pos) = &sampled[j];
            coder.encode(scheme, stack, patch, pos)?;
            push_mode(stack, Mode::BitsBack, code);
            Ok(())
        },
    )
    .map_err(|why| StreamError::Engine {
        image: picked.first().map_or(0, |p| p.0),
        why,
    })
}

/// Whether model `b` can code the images of model `a` in its place: same channels, same patch
/// size (so the same patches, and the same context-code run over them).
pub fn same_grid(a: &Model, b: &Model) -> bool {
    a.config().channels == b.config().channels && a.config().patch == b.config().patch
}

/// The encoder's model choice (spec/bitswap.md 3.4, "model choice"): for each slot, the slot
/// whose model codes the images that name it, and per slot whether its patches try bits-back.
/// `candidates[s]` lists the slots that may stand in for `s` (`same_grid`; `s` itself need not
/// be listed). Each candidate codes a sample of the images' patches ([`choose`]); in the order
/// `s`, then the list, a candidate whose bits-back pays takes the place of the best so far when
/// it gains more over the chunk by more than [`choice::margin`] (or when none before it pays).
/// Where none pays, `s` keeps its images and takes the direct codes. Integer costs throughout,
/// so every machine chooses alike.
#[allow(clippy::too_many_arguments)]
fn pick_models(
    nets: &dyn Nets,
    models: &[&Model],
    how: (Scheme, Precisions),
    images: &[Planes],
    forward: &[Forward],
    code: DirectCode,
    candidates: &[Vec<usize>],
) -> Result<(Vec<usize>, Vec<bool>), StreamError> {
    let mut chosen: Vec<usize> = (0..models.len()).collect();
    let mut try_bits_back = vec![false; models.len()];
    for slot in 0..models.len() {
        if !images.iter().any(|img| img.model == slot) {
            continue;
        }
        let others = candidates.get(slot).map_or(&[][..], |c| &c[..]);
        // The best so far: (slot, savings over the chunk net of the initial bits, scaled by
        // the sample size, which is the same for every candidate of one slot).
        let mut best: Option<(usize, i128)> = None;
        let n: usize = images
            .iter()
            .filter(|img| img.model == slot)
            .map(|img| grid(img.width, img.height, models[slot]).count())
            .sum();
        for &t in std::iter::once(&slot).chain(others.iter().filter(|&&t| t != slot)) {
            let v = choose(nets, models, how, images, forward, code, slot, t)?;
            if !v.pays {
                continue;
            }
            let gain = choice::gain(&v, n);
            if best.is_none_or(|(_, b)| gain > b + choice::margin(&v, n)) {
                best = Some((t, gain));
            }
        }
        if let Some((t, _)) = best {
            chosen[slot] = t;
            try_bits_back[t] = true;
        }
    }
    Ok((chosen, try_bits_back))
}

/// [`encode_with`] with the direct code of a given chunk version (version 2's only for tests
/// of old archives).
pub fn encode_with_code(
    nets: &dyn Nets,
    models: &[&Model],
    scheme: Scheme,
    prec: Precisions,
    policy: Policy,
    images: &[Planes],
    code: DirectCode,
) -> Result<Stack, StreamError> {
    encode_inner(
        nets,
        models,
        (scheme, prec, policy),
        images,
        code,
        RECORD_SAMPLES,
    )
}

/// [`encode_with_code`], keeping the intervals of at most `record` samples from the forward
/// pass (the bytes do not depend on it).
pub(super) fn encode_inner(
    nets: &dyn Nets,
    models: &[&Model],
    (scheme, prec, policy): (Scheme, Precisions, Policy),
    images: &[Planes],
    code: DirectCode,
    record: usize,
) -> Result<Stack, StreamError> {
    check_shapes(images, models)?;
    let forward = match code {
        DirectCode::Context(version) => forward_pass(models, prec, images, version, record),
        DirectCode::Patch => Vec::new(),
    };
    // Which models' patches try bits-back at all.
    let (chosen, try_bits_back) = if policy == Policy::Cheapest {
        pick_models(nets, models, (scheme, prec), images, &forward, code, &[])?
    } else {
        ((0..models.len()).collect(), vec![true; models.len()])
    };
    code_chunk(
        nets,
        models,
        (scheme, prec, policy),
        images,
        forward,
        (&chosen, &try_bits_back),
        code,
    )
}

/// A chunk's stream, the direct code (so the chunk version) it was coded with, and which
/// models coded it.
#[derive(Debug)]
pub struct Encoded {
    pub stack: Stack,
    pub code: DirectCode,
    /// Per slot of the model list, the slot whose model coded the images that name it (itself,
    /// unless the model choice put another in its place).
    pub chosen: Vec<usize>,
}

/// Encodes `images` as a new chunk, choosing its version (spec/bitswap.md 3.4, "the chunk
/// version"): under `Policy::Cheapest`, the sample decision runs with version 3's context
/// code; if it has any model try bits-back, the nets code most patches and the chunk is coded
/// as version 3, whose context code costs a third of version 4's time (every patch feeds it);
/// otherwise every patch takes a direct code and the chunk is coded as version 4, whose context
/// code compresses better. A chunk coded as version 3 is also coded as version 4 with direct
/// codes only, and the shorter of the two messages is kept. Other policies code version 4.
/// `newest` is the newest context code the chunk may use: with `Version::V3` (the fast level)
/// every chunk is version 3, and version 4's pass is not run.
/// Under `Policy::Cheapest` the models
/// are chosen too: `candidates[s]` lists the slots whose models may code the images that name
/// slot `s` in its place (`pick_models`); other policies keep every image's model.
pub fn encode_chunk(
    nets: &dyn Nets,
    models: &[&Model],
    (scheme, prec, policy): (Scheme, Precisions, Policy),
    images: &[Planes],
    candidates: &[Vec<usize>],
    newest: context::Version,
) -> Result<Encoded, StreamError> {
    let identity: Vec<usize> = (0..models.len()).collect();
    let v3 = DirectCode::Context(context::Version::V3);
    if policy != Policy::Cheapest {
        let code = match newest {
            context::Version::V3 => v3,
            context::Version::V4 => DirectCode::LATEST,
        };
        let stack = encode_with_code(nets, models, scheme, prec, policy, images, code)?;
        return Ok(Encoded {
            stack,
            code,
            chosen: identity,
        });
    }
    check_shapes(images, models)?;
    for (s, c) in candidates.iter().enumerate() {
        if let Some(&t) = c.iter().find(|&&t| !same_grid(models[s], models[t])) {
            return Err(StreamError::Shape {
                image: 0,
                why: format!("model {t} cannot stand in for model {s}: another patch grid"),
            });
        }
    }
    let forward = forward_pass(models, prec, images, context::Version::V3, RECORD_SAMPLES);
    let (chosen, try_bits_back) = pick_models(
        nets,
        models,
        (scheme, prec),
        images,
        &forward,
        v3,
        candidates,
    )?;
    let how = (scheme, prec, policy);
    if newest == context::Version::V3 {
        // The fast level: version 3 whatever the sample decided, in one pass.
        let stack = code_chunk(
            nets,
            models,
            how,
            images,
            forward,
            (&chosen, &try_bits_back),
            v3,
        )?;
        return Ok(Encoded {
            stack,
            code: v3,
            chosen,
        });
    }
    let with_bits_back = if try_bits_back.iter().any(|&t| t) {
        let stack = code_chunk(
            nets,
            models,
            how,
            images,
            forward,
            (&chosen, &try_bits_back),
            v3,
        )?;
        Some(Encoded {
            stack,
            code: v3,
            chosen,
        })
    } else {
        drop(forward);
        None
    };
    let code = DirectCode::LATEST;
    let forward = forward_pass(models, prec, images, context::Version::V4, RECORD_SAMPLES);
    let none = vec![false; models.len()];
    let stack = code_chunk(nets, models, how, images, forward, (&identity, &none), code)?;
    let direct = Encoded {
        stack,
        code,
        chosen: identity,
    };
    // Sixteen patches can have bits-back pay under version 3's context code where the whole
    // chunk is cheaper in version 4 with no bits back (grey photographs under the natural-grey
    // model: 1% larger). Both are coded and the shorter message kept, version 4 on a tie.
    Ok(match with_bits_back {
        Some(b) if b.stack.serialized_len() < direct.stack.serialized_len() => b,
        _ => direct,
    })
}

/// The context code adapts in decoder order (first image first), but the stack is coded last
/// image first: run the model forward once, keeping every sample's interval (or, past a memory
/// bound of `record` samples, the state at the image's start), then code backwards.
fn forward_pass(
    models: &[&Model],
    prec: Precisions,
    images: &[Planes],
    version: context::Version,
    record: usize,
) -> Vec<Forward> {
    let mut forward = Vec::new();
    let mut model = ContextModel::new(version);
    let mut kept = 0;
    for img in images {
        let patch = models[img.model].config().patch;
        if kept + img.samples.len() <= record {
            kept += img.samples.len();
            forward.push(Forward::Recorded(run_context(
                &mut model, img, patch, prec.pixel,
            )));
        } else {
            forward.push(Forward::Snapshot(Box::new(model.clone())));
            run_context(&mut model, img, patch, prec.pixel);
        }
    }
    forward
}

/// Codes the chunk backwards, given the forward pass, the model that codes the images of each
/// slot (`chosen`, of the same patch grid), and which models try bits-back.
fn code_chunk(
    nets: &dyn Nets,
    models: &[&Model],
    (scheme, prec, policy): (Scheme, Precisions, Policy),
    images: &[Planes],
    mut forward: Vec<Forward>,
    (chosen, try_bits_back): (&[usize], &[bool]),
    code: DirectCode,
) -> Result<Stack, StreamError> {
    let mut stack = Stack::new(1);
    // Under `Policy::Seed`, the direct code is tried only until bits-back first wins.
    let mut seeding = policy != Policy::BitsBackOnly;
    for (i, img) in images.iter().enumerate().rev() {
        let slot = chosen[img.model];
        let model = models[slot];
        let coder = PatchCoder::new(model, nets, prec);
        let engine = |why| StreamError::Engine { image: i, why };
        let g = grid(img.width, img.height, model);
        let p = g.patch;
        let recorded = match forward.pop() {
            Some(Forward::Recorded(r)) => Some(r),
            Some(Forward::Snapshot(mut m)) => Some(run_context(&mut m, img, p, prec.pixel)),
            None => None,
        };
        let mut patch = vec![0u8; p * p * img.channels];
        for k in (0..g.count()).rev() {
            let pos = g.pos(k);
            patches::extract(&img.samples, &g, img.channels, &pos, &mut patch);
            let (direct, direct_mode) = direct_code(
                recorded.as_ref(),
                (&patch, p),
                img.channels,
                &pos,
                k,
                prec,
                code,
            );
            if !try_bits_back[slot] {
                direct.push(&mut stack);
                push_mode(&mut stack, direct_mode, code);
                continue;
            }
            // While seeding, bits-back is a trial that the direct code may undo.
            let trial = seeding.then(|| (stored(&stack), stack.borrowed(), stack.checkpoint()));
            coder
                .encode(scheme, &mut stack, &patch, &pos)
                .map_err(engine)?;
            push_mode(&mut stack, Mode::BitsBack, code);
            let Some((before, borrowed, cp)) = trial else {
                continue;
            };
            // The stack never shrinks over a patch plus its mode symbol (both push more than
            // they pop); saturate anyway rather than trust it.
            let bits_back = stored(&stack).saturating_sub(before);
            let needed_supply = stack.borrowed() > borrowed;
            let direct_cost = direct.cost() + mode_cost(direct_mode, code);
            // `Seed` takes the direct code only where bits-back needed initial bits.
            let per_patch = policy != Policy::Seed;
            if direct_cost < bits_back && (per_patch || needed_supply) {
                stack.rollback(cp);
                direct.push(&mut stack);
                push_mode(&mut stack, direct_mode, code);
            } else {
                stack.commit();
                seeding = per_patch;
            }
        }
    }
    Ok(stack)
}
