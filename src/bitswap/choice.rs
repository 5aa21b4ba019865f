//! Whether a chunk's patches of one model should try bits-back at all, decided on a sample.
//!
//! Trying bits-back on a patch runs the model's nets, which is nearly all of the encoder's time;
//! where the direct codes win anyway (natural photographs under today's models: the context code
//! is the stronger coder there), trying every patch only to roll it back makes `create` slow for
//! nothing. So before coding a chunk, the encoder codes a sample of the model's patches by
//! bits-back on a scratch stack and weighs what that saves against what it costs:
//!
//! - the *savings*: over the sampled patches, their direct costs minus what the per-patch choice
//!   would have paid (the cheaper of bits-back and direct, patch by patch, as the encoder does);
//! - the *initial bits*: what the first bits-back patch of a chunk reads from the supply, which
//!   the chunk pays once.
//!
//! Bits-back is tried on the whole chunk only if the savings, scaled from the sample to the
//! chunk's patch count, exceed the initial bits. Every figure is an integer cost (1/65536 bits,
//! or whole stored bits), so every machine decides the same way; the decision is the encoder's
//! alone (the stream's mode symbols say what each patch got, whatever was decided).

use crate::ans::{supply_word, Stack, Q16, Q16_ONE};

/// Patches of a model's share of a chunk that are coded by bits-back before deciding (plus one
/// more, on a fresh stack, to measure the initial bits). Few enough to cost a small share of a
/// chunk's net passes; enough to see a model that wins on most patches.
pub const SAMPLE_PATCHES: usize = 16;

/// What the sample showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Try bits-back on every patch of the chunk.
    pub pays: bool,
    /// Patches sampled.
    pub sampled: usize,
    /// Direct cost minus the per-patch choice's cost over the sample (1/65536 bits).
    pub savings: Q16,
    /// The sampled patches' direct costs (1/65536 bits).
    pub direct: Q16,
    /// Bits the first bits-back patch read from the supply.
    pub initial_bits: u64,
}

/// The indices (in chunk order) of the patches sampled among `n`: at most [`SAMPLE_PATCHES`],
/// evenly spread, each the middle of its stretch.
pub fn sample(n: usize) -> Vec<usize> {
    let s = n.min(SAMPLE_PATCHES);
    (0..s).map(|j| (2 * j + 1) * n / (2 * s)).collect()
}

/// Decides for a model with `n` patches in the chunk. `direct[j]` is the direct cost of sampled
/// patch `j` (mode symbol included); `trial(stack, j)` codes sampled patch `j` by bits-back onto
/// `stack`, mode symbol included. `pop_bound` bounds the bits one bits-back patch pops (the
/// scratch stack is filled with that many pseudo-random bits first, so that a sampled patch gets
/// its bits back as it would in the middle of a chunk).
pub fn decide(
    n: usize,
    direct: &[Q16],
    pop_bound: u64,
    mut trial: impl FnMut(&mut Stack, usize) -> Result<(), String>,
) -> Result<Verdict, String> {
    let sampled = direct.len();
    if sampled == 0 {
        return Ok(Verdict {
            pays: false,
            sampled,
            savings: 0,
            direct: 0,
            initial_bits: 0,
        });
    }
    // The initial bits: the first sampled patch on a fresh stack, as the chunk's first
    // bits-back patch would be.
    let mut fresh = Stack::new(1);
    trial(&mut fresh, 0)?;
    let initial_bits = 32 * fresh.borrowed();
    // A stack that already holds data, as in a chunk's middle.
    let mut scratch = Stack::new(1);
    for k in 0..pop_bound.div_ceil(16) + 4 {
        scratch.push(0, supply_word(k) & 0xFFFF, 1, 16);
    }
    let mut chosen: Q16 = 0;
    for (j, &d) in direct.iter().enumerate() {
        let before = scratch.bit_len() * Q16_ONE;
        let cp = scratch.checkpoint();
        trial(&mut scratch, j)?;
        let bits_back = (scratch.bit_len() * Q16_ONE).saturating_sub(before);
        // The encoder's own rule: bits-back unless a direct code is strictly cheaper.
        if d < bits_back {
            scratch.rollback(cp);
            chosen += d;
        } else {
            scratch.commit();
            chosen += bits_back;
        }
    }
    let direct_sum = direct.iter().sum::<Q16>();
    let savings = direct_sum.saturating_sub(chosen);
    // savings * n / sampled > initial bits, in integers.
    let pays = savings > 0
        && u128::from(savings) * n as u128
            > u128::from(initial_bits) * u128::from(Q16_ONE) * sampled as u128;
    Ok(Verdict {
        pays,
        sampled,
        savings,
        direct: direct_sum,
        initial_bits,
    })
}

/// A model's gain over the chunk by its sample: the savings scaled from the sample to the
/// chunk's `n` patches, less the initial bits, all times the sample size (so, in integers, the
/// same scale for every model sampled on the same patches). Zero where bits-back does not pay.
pub fn gain(v: &Verdict, n: usize) -> i128 {
    if !v.pays {
        return 0;
    }
    i128::from(v.savings) * n as i128
        - i128::from(v.initial_bits) * i128::from(Q16_ONE) * v.sampled as i128
}

/// How much more than the model preferred before it another model must gain over a chunk to
/// take its place: 1/16 of the chunk's direct cost (on the scale of [`gain`]). Sixteen patches
/// rank two models well only when they differ by more than the spread of a patch's bits-back
/// cost (its latents are drawn from the stack): on a chunk of 64 MNIST digits, two digit models
/// whose chunks differ by 2% ranked the other way round on the sample. So a model only displaces
/// the one preferred
/// before it when it is clearly better (a digit model against a photograph model, say), and
/// models that are nearly alike keep the order of preference.
pub fn margin(v: &Verdict, n: usize) -> i128 {
    i128::from(v.direct) * n as i128 / 16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a bits-back patch: pops `pop` bits, then pushes `push` bits.
    fn fake(stack: &mut Stack, pop: u32, push: u32) {
        for _ in 0..pop / 16 {
            let v = stack.peek(0, 16);
            stack.pop(0, v, 1, 16);
        }
        for i in 0..push / 16 {
            stack.push(0, i & 0xFFFF, 1, 16);
        }
    }

    #[test]
    fn samples_spread_over_the_chunk() {
        assert_eq!(sample(0), Vec::<usize>::new());
        assert_eq!(sample(3), vec![0, 1, 2]);
        let s = sample(1000);
        assert_eq!(s.len(), SAMPLE_PATCHES);
        assert!(s[0] < 1000 / SAMPLE_PATCHES && *s.last().unwrap() > 1000 - 1000 / SAMPLE_PATCHES);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bits_back_pays_when_its_net_cost_beats_the_direct_code_by_more_than_the_initial_bits() {
        // Net cost 1600 - 800 = 800 bits a patch against 1000 direct: 200 saved a patch, 800
        // initial bits. Over 16 patches (3,200 bits saved) it pays; over 3 (600) it does not.
        let direct = vec![1000 * Q16_ONE; 16];
        let trial = |s: &mut Stack, _: usize| {
            fake(s, 800, 1600);
            Ok(())
        };
        let v = decide(16, &direct, 800, trial).unwrap();
        assert_eq!(v.initial_bits, 800);
        assert!(v.pays && v.savings >= 190 * 16 * Q16_ONE, "{v:?}");
        let v = decide(3, &direct[..3], 800, trial).unwrap();
        assert!(!v.pays, "{v:?}");
        // Scaled from the sample: the same 16 sampled patches stand for 1,000.
        assert!(decide(1000, &direct, 800, trial).unwrap().pays);
    }

    #[test]
    fn bits_back_does_not_pay_when_the_direct_code_is_cheaper() {
        let direct = vec![700 * Q16_ONE; 16];
        let v = decide(10_000, &direct, 800, |s, _| {
            fake(s, 800, 1600);
            Ok(())
        })
        .unwrap();
        assert_eq!(v.savings, 0);
        assert!(!v.pays);
        // A failing net stops the decision with its error.
        assert!(decide(16, &direct, 800, |_, _| Err("engine down".into())).is_err());
    }
}
