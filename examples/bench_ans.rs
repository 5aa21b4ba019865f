//! rANS engine throughput and per-lane overhead (a benchmark, not a test).
//!
//!     cargo run --release --example bench_ans
//!
//! Data: synthetic pixel-like symbols (256-symbol discretised logistics of
//! various scales, sampled from their own quantised tables); no files needed.

use bsar::ans::{Categorical, Distribution, Stack};
use std::hint::black_box;
use std::time::Instant;

const SYMBOLS: usize = 1 << 21;

fn pixel_model(p: u32, mu: f64, scale: f64) -> Categorical {
    let cdf = |v: f64| 1.0 / (1.0 + (-(v - mu) / scale).exp());
    let spare = (1u64 << p) - 256;
    let mut f: Vec<u32> = (0..256)
        .map(|k| {
            let lo = if k == 0 { 0.0 } else { cdf(k as f64 - 0.5) };
            let hi = if k == 255 { 1.0 } else { cdf(k as f64 + 0.5) };
            1 + ((hi - lo) * spare as f64) as u32
        })
        .collect();
    let short = (1u32 << p) - f.iter().sum::<u32>();
    f[mu.round().clamp(0.0, 255.0) as usize] += short;
    Categorical::new(&f, p).unwrap()
}

struct Workload {
    p: u32,
    models: Vec<Categorical>,
    picks: Vec<(u16, u32)>,     // (model, symbol)
    intervals: Vec<(u32, u32)>, // the same symbols as (start, freq)
    info_bits: f64,
}

fn workload(p: u32) -> Workload {
    let models: Vec<Categorical> = (0..64)
        .map(|i| pixel_model(p, 4.0 * i as f64, [0.6, 2.0, 6.0, 20.0][i % 4]))
        .collect();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut picks = Vec::with_capacity(SYMBOLS);
    let mut intervals = Vec::with_capacity(SYMBOLS);
    let mut info_bits = 0.0;
    for _ in 0..SYMBOLS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let m = (rng >> 58) as usize;
        let (s, start, freq) = models[m].find((rng as u32) & ((1 << p) - 1));
        info_bits += p as f64 - (freq as f64).log2();
        picks.push((m as u16, s));
        intervals.push((start, freq));
    }
    Workload {
        p,
        models,
        picks,
        intervals,
        info_bits,
    }
}

fn rate(t: Instant) -> f64 {
    SYMBOLS as f64 / t.elapsed().as_secs_f64() / 1e6
}

/// Returns Msymbols/s for: push cat, pop cat, push raw, pop raw, push_step,
/// pop_step; and the serialised size.
fn run(w: &Workload, lanes: usize) -> ([f64; 6], usize) {
    let p = w.p;
    let mut r = [0.0; 6];

    let t = Instant::now();
    let mut s = Stack::new(lanes);
    for chunk in w.picks.chunks(lanes) {
        for (lane, &(m, sym)) in chunk.iter().enumerate() {
            s.push_symbol(lane, &w.models[m as usize], sym);
        }
    }
    r[0] = rate(t);
    let sealed = s.to_bytes();

    let t = Instant::now();
    let mut check = 0u32;
    for chunk in w.picks.chunks(lanes).rev() {
        for (lane, &(m, _)) in chunk.iter().enumerate().rev() {
            check = check
                .wrapping_mul(31)
                .wrapping_add(s.pop_symbol(lane, &w.models[m as usize]));
        }
    }
    r[1] = rate(t);
    let want = w
        .picks
        .iter()
        .rev()
        .fold(0u32, |c, &(_, sym)| c.wrapping_mul(31).wrapping_add(sym));
    assert_eq!(check, want, "decoded symbols differ");
    assert_eq!(s.check_initial(), Ok(0));

    let t = Instant::now();
    for chunk in w.intervals.chunks(lanes) {
        for (lane, &(start, freq)) in chunk.iter().enumerate() {
            s.push(lane, start, freq, p);
        }
    }
    r[2] = rate(t);
    let t = Instant::now();
    let mut acc = 0u32;
    for chunk in w.intervals.chunks(lanes).rev() {
        for (lane, &(start, freq)) in chunk.iter().enumerate().rev() {
            acc ^= s.peek(lane, p);
            s.pop(lane, start, freq, p);
        }
    }
    r[3] = rate(t);
    black_box(acc);
    assert_eq!(s.check_initial(), Ok(0));

    let t = Instant::now();
    for chunk in w.intervals.chunks_exact(lanes) {
        s.push_step(chunk, p);
    }
    r[4] = rate(t);
    let t = Instant::now();
    for chunk in w.intervals.chunks_exact(lanes).rev() {
        s.pop_step(chunk, p);
    }
    r[5] = rate(t);
    assert_eq!(s.check_initial(), Ok(0));
    (r, sealed.len())
}

fn main() {
    println!("bsar rANS engine: {SYMBOLS} symbols per cell, Msymbols/s (single thread)");
    println!("cat = Categorical via push_symbol/pop_symbol (binary search find); raw = (start, freq) calls");
    println!();
    println!("| p  | lanes | push cat | pop cat | push raw | pop raw | push_step | pop_step | sealed bytes | overhead bytes/lane |");
    println!("|----|-------|----------|---------|----------|---------|-----------|----------|--------------|---------------------|");
    for p in [16u32, 24] {
        let w = workload(p);
        for lanes in [1usize, 4, 32, 256] {
            let (r, sealed) = run(&w, lanes);
            let overhead = (sealed as f64 - w.info_bits / 8.0) / lanes as f64;
            println!(
                "| {p} | {lanes:>5} | {:>8.1} | {:>7.1} | {:>8.1} | {:>7.1} | {:>9.1} | {:>8.1} | {sealed:>12} | {overhead:>19.2} |",
                r[0], r[1], r[2], r[3], r[4], r[5]
            );
        }
    }
    println!();
    println!(
        "overhead = sealed bytes - information content (sum of -log2 freq/2^p) / 8, per lane."
    );
    println!("A fresh (unused) lane costs 5.25 bytes; see spec/ans.md 4.");
}
