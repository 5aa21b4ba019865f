//! Round trips through the rANS stack: random models, lanes and precisions;
//! steps against sequential pushes; bits-back from an empty stack.

use bsar::ans::{Categorical, Distribution, Stack, Uniform, HEAD_MIN};
use proptest::prelude::*;

/// splitmix64: a tiny deterministic generator so that one proptest seed
/// drives a whole scenario (fast to generate, replayable on failure).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random table of `n` frequencies >= 1 summing to 2^p, often very skewed.
fn random_table(rng: &mut Rng, n: usize, p: u32) -> Vec<u32> {
    let total = 1u64 << p;
    assert!(n as u64 <= total);
    let weights: Vec<u64> = (0..n)
        .map(|_| 1 + (rng.below(1 << 20) >> rng.below(20)))
        .collect();
    let sum: u64 = weights.iter().sum();
    let spare = total - n as u64;
    let mut freqs: Vec<u64> = weights
        .iter()
        .map(|&w| 1 + (spare as u128 * w as u128 / sum as u128) as u64)
        .collect();
    let short = total - freqs.iter().sum::<u64>();
    let i = rng.below(n as u64) as usize;
    freqs[i] += short;
    freqs.into_iter().map(|f| f as u32).collect()
}

/// A random model at precision `p` with 1 to 300 symbols.
fn random_model(rng: &mut Rng, p: u32) -> Categorical {
    let n = 1 + rng.below((1u64 << p).min(300)) as usize;
    Categorical::new(&random_table(rng, n, p), p).unwrap()
}

fn sample(rng: &mut Rng, d: &Categorical) -> u32 {
    d.find(rng.below(1 << d.precision()) as u32).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any mix of models (precisions 1..=31), lanes and symbols decodes back
    /// exactly, through serialisation, and leaves the initial state.
    #[test]
    fn ans_symbols_round_trip(seed: u64, lanes in 1usize..40, count in 0usize..3000) {
        let mut rng = Rng(seed);
        let models: Vec<Categorical> = (0..8)
            .map(|_| {
                let p = 1 + rng.below(31) as u32;
                random_model(&mut rng, p)
            }).collect();
        let mut ops = Vec::with_capacity(count);
        let mut stack = Stack::new(lanes);
        for _ in 0..count {
            let lane = rng.below(lanes as u64) as usize;
            let m = rng.below(models.len() as u64) as usize;
            let symbol = sample(&mut rng, &models[m]);
            stack.push_symbol(lane, &models[m], symbol);
            ops.push((lane, m, symbol));
        }
        prop_assert_eq!(stack.borrowed(), 0);
        let mut dec = Stack::from_bytes(&stack.to_bytes()).unwrap();
        prop_assert_eq!(&dec, &stack);
        for &(lane, m, symbol) in ops.iter().rev() {
            prop_assert_eq!(dec.pop_symbol(lane, &models[m]), symbol);
        }
        prop_assert_eq!(dec.check_initial(), Ok(0));
        prop_assert!(dec.tail().is_empty());
    }

    /// `push_step` is byte-identical to pushing lanes 0..n-1 in order, and to
    /// the GPU formulation of spec/ans.md 3.5 (flags, prefix sum, scatter).
    #[test]
    fn ans_steps_equal_sequential_pushes(seed: u64, lanes in 1usize..300, steps in 1usize..40) {
        let mut rng = Rng(seed);
        let p = 1 + rng.below(31) as u32;
        let mut by_step = Stack::new(lanes);
        let mut by_lane = Stack::new(lanes);
        let mut heads = vec![HEAD_MIN; lanes];
        let mut tail: Vec<u32> = Vec::new();
        let mut history = Vec::new();
        for _ in 0..steps {
            let m = random_model(&mut rng, p);
            let syms: Vec<u32> = (0..lanes).map(|_| sample(&mut rng, &m)).collect();
            let iv: Vec<(u32, u32)> = syms.iter().map(|&s| m.interval(s)).collect();
            by_step.push_step(&iv, p);
            for (lane, &(start, freq)) in iv.iter().enumerate() {
                by_lane.push(lane, start, freq, p);
            }
            // Reference: renormalise flags first, then words at tail_len + rank.
            let flags: Vec<bool> = (0..lanes).map(|l| heads[l] >> (64 - p) >= iv[l].1 as u64).collect();
            let base = tail.len();
            tail.resize(base + flags.iter().filter(|&&f| f).count(), 0);
            let mut rank = 0;
            for l in 0..lanes {
                let mut x = heads[l];
                if flags[l] {
                    tail[base + rank] = x as u32;
                    rank += 1;
                    x >>= 32;
                }
                let f = iv[l].1 as u64;
                heads[l] = ((x / f) << p) + x % f + iv[l].0 as u64;
            }
            history.push((m, syms));
        }
        prop_assert_eq!(by_step.to_bytes(), by_lane.to_bytes());
        prop_assert_eq!(by_step.heads(), &heads[..]);
        prop_assert_eq!(by_step.tail(), &tail[..]);

        // pop_step (descending lanes) undoes push_step; sequential pops in
        // descending lane order must agree with it word for word.
        let mut cums = vec![0u32; lanes];
        for (m, syms) in history.iter().rev() {
            by_step.peek_step(p, &mut cums);
            let found: Vec<(u32, u32, u32)> = cums.iter().map(|&c| m.find(c)).collect();
            prop_assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), syms.clone());
            let iv: Vec<(u32, u32)> = found.iter().map(|f| (f.1, f.2)).collect();
            by_step.pop_step(&iv, p);
            for lane in (0..lanes).rev() {
                prop_assert_eq!(by_lane.pop_symbol(lane, m), syms[lane]);
            }
            prop_assert_eq!(&by_step, &by_lane);
        }
        prop_assert_eq!(by_step.check_initial(), Ok(0));
    }

    /// Bits-back on a fresh stack: the encoder pops latents it does not have
    /// (borrowing supply words), the decoder runs everything backwards and ends
    /// in the initial state, holding exactly the borrowed supply words.
    #[test]
    fn ans_bits_back_from_an_empty_stack(seed: u64, lanes in 1usize..9, items in 1usize..200) {
        let mut rng = Rng(seed);
        let data: Vec<(usize, u32)> = (0..items).map(|_| (rng.below(lanes as u64) as usize, rng.below(64) as u32)).collect();
        let coder = ToyLatentModel::new(seed);
        let mut enc = Stack::new(lanes);
        for &(lane, x) in &data {
            coder.encode(&mut enc, lane, x);
        }
        prop_assert!(enc.borrowed() > 0, "the first pop must borrow");
        let bytes = enc.to_bytes();
        let mut dec = Stack::from_bytes(&bytes).unwrap();
        for &(lane, x) in data.iter().rev() {
            prop_assert_eq!(coder.decode(&mut dec, lane), x);
        }
        prop_assert_eq!(dec.check_initial(), Ok(enc.borrowed() as usize));

        // A flipped bit is caught: wrong data or a failed final check.
        let mut bad = bytes.clone();
        let at = rng.below(bad.len() as u64) as usize;
        bad[at] ^= 1 << rng.below(8);
        if let Ok(mut dec) = Stack::from_bytes(&bad) {
            let mut same = true;
            for &(lane, x) in data.iter().rev() {
                same &= coder.decode(&mut dec, lane) == x;
            }
            prop_assert!(!same || dec.check_initial().is_err(), "corruption went unnoticed");
        }
    }
}

/// A toy latent-variable model with the shape of Bit-Swap's: x in 0..64,
/// z in 0..16, q(z|x), p(x|z), p(z), each a fixed random table.
struct ToyLatentModel {
    q: Vec<Categorical>,
    px: Vec<Categorical>,
    pz: Categorical,
}

impl ToyLatentModel {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0x5eed);
        let mut table = |n, p| Categorical::new(&random_table(&mut rng, n, p), p).unwrap();
        let q = (0..64).map(|_| table(16, 12)).collect();
        let px = (0..16).map(|_| table(64, 16)).collect();
        let pz = table(16, 10);
        ToyLatentModel { q, px, pz }
    }
    fn encode(&self, s: &mut Stack, lane: usize, x: u32) {
        let z = s.pop_symbol(lane, &self.q[x as usize]);
        s.push_symbol(lane, &self.px[z as usize], x);
        s.push_symbol(lane, &self.pz, z);
    }
    fn decode(&self, s: &mut Stack, lane: usize) -> u32 {
        let z = s.pop_symbol(lane, &self.pz);
        let x = s.pop_symbol(lane, &self.px[z as usize]);
        s.push_symbol(lane, &self.q[x as usize], z);
        x
    }
}

#[test]
fn ans_uniform_raw_bits_round_trip_for_every_width() {
    let mut s = Stack::new(3);
    let mut rng = Rng(7);
    let mut pushed = Vec::new();
    for k in 1..=31u32 {
        for n in [1u32, 2, 3, 1000, 1 << k] {
            let n = n.min(1 << k);
            let u = Uniform::new(n, k).unwrap();
            let v = rng.below(n as u64) as u32;
            let lane = (k as usize) % 3;
            s.push_symbol(lane, &u, v);
            pushed.push((lane, u, v));
        }
        let b = Uniform::bits(k).unwrap();
        let v = (rng.next() as u32) & ((1u32 << k) - 1);
        s.push_symbol(0, &b, v);
        pushed.push((0, b, v));
    }
    for (lane, u, v) in pushed.into_iter().rev() {
        assert_eq!(s.pop_symbol(lane, &u), v);
    }
    assert_eq!(s.check_initial(), Ok(0));
}
