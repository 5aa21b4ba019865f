//! The lockstep batch coder (`bitswap::batch`) against the sequential one (`bitswap::encode` /
//! `decode`): the same bytes and the same images for mixes of chunks (sizes, grey and RGB models
//! in one batch, 1..N chunks, both schemes, every policy, decoding only a prefix), with the net
//! passes really batched across chunks, and engine failures reported, never hung on.

mod common;
mod model_support;

use bsar::ans::Stack;
use bsar::bitswap::batch::{decode_batch, encode_batch, DecodeJob, EncodeJob};
use bsar::bitswap::{self, CpuNets, Nets, Planes, PlanesShape, Policy, Precisions, Scheme};
use bsar::model::{Logistic, Model, Net};
use common::noise;
use model_support::tiny_fixture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const PREC: Precisions = Precisions {
    pixel: 16,
    latent: 18,
};
const SCHEMES: [Scheme; 2] = [Scheme::BitSwap, Scheme::BbAns];
const POLICIES: [Policy; 4] = [
    Policy::BitsBackOnly,
    Policy::Seed,
    Policy::Cheapest,
    Policy::TryEveryPatch,
];

fn tiny_grey() -> Model {
    model_support::tiny_grey(7, 512)
}

/// A `w x h` image for model slot `model` with `channels` colour planes: smooth with a little
/// noise for even seeds (bits-back wins), pure noise for odd seeds (the predictive code may).
fn planes(w: usize, h: usize, channels: usize, model: usize, seed: u64) -> Planes {
    let n = w * h * channels;
    let jitter = noise(n, seed);
    let samples = (0..n)
        .map(|i| {
            if seed % 2 == 1 {
                return jitter[i];
            }
            let (x, y, c) = ((i / channels) % w, (i / channels) / w, i % channels);
            (x * 9 + y * 4 + c * 40 + (jitter[i] % 5) as usize) as u8
        })
        .collect();
    Planes {
        width: w,
        height: h,
        channels,
        samples,
        model,
    }
}

fn shapes(images: &[Planes]) -> Vec<PlanesShape> {
    images
        .iter()
        .map(|p| PlanesShape {
            width: p.width,
            height: p.height,
            channels: p.channels,
            model: p.model,
        })
        .collect()
}

/// A chunk of mixed images. `models` lists the chunk's model slots: `[rgb]`, `[grey]`, or both
/// (so that one batch holds chunks of different model lists and slot numbers).
struct Chunk<'m> {
    models: Vec<&'m Model>,
    images: Vec<Planes>,
}

/// `n` chunks of varied length, image sizes and models, from `seed`.
fn chunks<'m>(n: usize, seed: u64, rgb: &'m Model, grey: &'m Model) -> Vec<Chunk<'m>> {
    let sizes = [(8, 8), (13, 5), (1, 1), (9, 17), (16, 8), (3, 30), (8, 9)];
    (0..n)
        .map(|c| {
            let s = seed as usize + c * 3;
            let kind = s % 3;
            let models: Vec<&Model> = match kind {
                0 => vec![rgb],
                1 => vec![grey],
                _ => vec![grey, rgb],
            };
            let count = 1 + (s * 7) % 4;
            let images = (0..count)
                .map(|i| {
                    let (w, h) = sizes[(s + i * 5) % sizes.len()];
                    let slot = if kind == 2 { (s + i) % 2 } else { 0 };
                    let ch = models[slot].config().channels;
                    planes(w, h, ch, slot, (seed + 31 * c as u64 + i as u64) % 7)
                })
                .collect();
            Chunk { models, images }
        })
        .collect()
}

/// A chunk's stream bytes and the direct code (chunk version) the encoder chose.
type Coded = (Vec<u8>, bitswap::DirectCode);

fn encode_sequential(c: &Chunk, scheme: Scheme, policy: Policy) -> Coded {
    let e = bitswap::encode_chunk(
        &CpuNets::SINGLE,
        &c.models,
        (scheme, PREC, policy),
        &c.images,
        &[],
        bsar::context::Version::V4,
    )
    .expect("sequential encode");
    (e.stack.to_bytes(), e.code)
}

fn encode_batched(
    nets: &dyn Nets,
    max_batch: usize,
    cs: &[Chunk],
    scheme: Scheme,
    policy: Policy,
) -> Vec<Coded> {
    let jobs: Vec<EncodeJob> = cs
        .iter()
        .map(|c| EncodeJob {
            models: c.models.clone(),
            images: &c.images,
            candidates: Vec::new(),
        })
        .collect();
    encode_batch(
        nets,
        max_batch,
        scheme,
        PREC,
        policy,
        bsar::context::Version::V4,
        &jobs,
    )
    .into_iter()
    .map(|r| {
        let e = r.expect("batch encode");
        (e.stack.to_bytes(), e.code)
    })
    .collect()
}

/// Counts net passes and records the largest batch, running them on the CPU engine.
struct Counting {
    passes: AtomicUsize,
    largest: AtomicUsize,
    seen: Mutex<Vec<usize>>,
}

impl Counting {
    fn new() -> Counting {
        Counting {
            passes: AtomicUsize::new(0),
            largest: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Nets for Counting {
    fn run(&self, m: &Model, net: Net, input: &[f32], batch: usize) -> Result<Logistic, String> {
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.largest.fetch_max(batch, Ordering::Relaxed);
        self.seen.lock().unwrap().push(batch);
        CpuNets { threads: 2 }.run(m, net, input, batch)
    }
}

#[test]
fn batch_encode_and_decode_equal_the_sequential_coder() {
    let (rgb, grey) = (tiny_fixture(), tiny_grey());
    let mut checked = 0;
    for (round, n) in [1usize, 2, 5, 9].into_iter().enumerate() {
        let cs = chunks(n, round as u64 * 11, &rgb, &grey);
        for scheme in SCHEMES {
            for policy in POLICIES {
                let want: Vec<Coded> = cs
                    .iter()
                    .map(|c| encode_sequential(c, scheme, policy))
                    .collect();
                // Unbounded passes, and passes split in parts of 3 inputs.
                for max_batch in [usize::MAX, 3] {
                    let got =
                        encode_batched(&CpuNets { threads: 2 }, max_batch, &cs, scheme, policy);
                    assert_eq!(
                        got, want,
                        "{n} chunks, {scheme:?}, {policy:?}, max {max_batch}"
                    );
                }
                // Decode every chunk fully, and each one also only up to its first image.
                for upto_first in [false, true] {
                    let jobs: Vec<DecodeJob> = cs
                        .iter()
                        .zip(&want)
                        .map(|(c, (bytes, code))| DecodeJob {
                            models: c.models.clone(),
                            scheme,
                            prec: PREC,
                            stack: Stack::from_bytes(bytes).unwrap(),
                            shapes: shapes(&c.images),
                            upto: if upto_first { 0 } else { c.images.len() - 1 },
                            code: *code,
                        })
                        .collect();
                    let got = decode_batch(&CpuNets { threads: 2 }, 4, jobs);
                    for ((c, (bytes, code)), g) in cs.iter().zip(&want).zip(got) {
                        let upto = if upto_first { 0 } else { c.images.len() - 1 };
                        let seq = bitswap::decode_with_code(
                            &CpuNets::SINGLE,
                            &c.models,
                            scheme,
                            PREC,
                            Stack::from_bytes(bytes).unwrap(),
                            &shapes(&c.images),
                            upto,
                            *code,
                        )
                        .expect("sequential decode");
                        let g = g.expect("batch decode");
                        assert_eq!(g, seq, "{scheme:?} {policy:?} upto {upto}");
                        assert_eq!(g, c.images[..=upto], "the images come back");
                    }
                }
                checked += n;
            }
        }
    }
    eprintln!("{checked} chunks: batch coder byte-identical to the sequential one");
}

/// Chunks of the same shape step together: every pass holds every chunk (bounded by
/// `max_batch`), so there are as many passes as one chunk alone would make.
#[test]
fn net_passes_are_batched_across_chunks() {
    let rgb = tiny_fixture();
    let n = 6;
    let cs: Vec<Chunk> = (0..n)
        .map(|c| Chunk {
            models: vec![&rgb],
            images: vec![planes(16, 8, 3, 0, 2 * c as u64), planes(8, 8, 3, 0, 4)],
        })
        .collect();
    let one = Counting::new();
    encode_batched(&one, 64, &cs[..1], Scheme::BitSwap, Policy::BitsBackOnly);
    let alone = one.passes.load(Ordering::Relaxed);
    // Three patches, four nets each (two latent layers).
    assert_eq!(alone, 12);
    let all = Counting::new();
    let got = encode_batched(&all, 64, &cs, Scheme::BitSwap, Policy::BitsBackOnly);
    assert_eq!(
        all.passes.load(Ordering::Relaxed),
        alone,
        "passes for {n} chunks"
    );
    assert_eq!(all.largest.load(Ordering::Relaxed), n);
    assert!(all.seen.lock().unwrap().iter().all(|&b| b == n));
    for (c, g) in cs.iter().zip(&got) {
        assert_eq!(
            *g,
            encode_sequential(c, Scheme::BitSwap, Policy::BitsBackOnly)
        );
    }
    let capped = Counting::new();
    encode_batched(&capped, 4, &cs, Scheme::BitSwap, Policy::BitsBackOnly);
    assert_eq!(capped.largest.load(Ordering::Relaxed), 4);
    assert_eq!(capped.passes.load(Ordering::Relaxed), 2 * alone);
}

/// An engine that fails after `ok` passes.
struct Failing {
    ok: usize,
    calls: AtomicUsize,
}

impl Nets for Failing {
    fn run(&self, m: &Model, net: Net, input: &[f32], batch: usize) -> Result<Logistic, String> {
        if self.calls.fetch_add(1, Ordering::Relaxed) >= self.ok {
            return Err("device lost".into());
        }
        CpuNets::SINGLE.run(m, net, input, batch)
    }
}

#[test]
fn an_engine_failure_fails_every_waiting_chunk_and_nothing_hangs() {
    let (rgb, grey) = (tiny_fixture(), tiny_grey());
    let cs = chunks(4, 3, &rgb, &grey);
    for ok in [0, 5] {
        let nets = Failing {
            ok,
            calls: AtomicUsize::new(0),
        };
        let jobs: Vec<EncodeJob> = cs
            .iter()
            .map(|c| EncodeJob {
                models: c.models.clone(),
                images: &c.images,
                candidates: Vec::new(),
            })
            .collect();
        let out = encode_batch(
            &nets,
            8,
            Scheme::BitSwap,
            PREC,
            Policy::Cheapest,
            bsar::context::Version::V4,
            &jobs,
        );
        assert_eq!(out.len(), 4);
        for r in out {
            let e = r.expect_err("the engine failed").to_string();
            assert!(e.contains("model engine: device lost"), "{e}");
        }
    }
    // No chunks: nothing to do, no hang.
    assert!(encode_batch(
        &CpuNets::SINGLE,
        8,
        Scheme::BitSwap,
        PREC,
        Policy::Cheapest,
        bsar::context::Version::V4,
        &[]
    )
    .is_empty());
}
