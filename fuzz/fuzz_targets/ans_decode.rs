//! Fuzz the rANS decoding path: arbitrary bytes as a sealed stack, then pops
//! under a distribution derived from the input. Nothing may panic, and every
//! accepted stack must re-serialise to the same bytes (canonical encoding).
//!
//! Input: [p][n][n x 2 weight bytes][stack bytes...]
//!     cargo +nightly fuzz run ans_decode

#![no_main]

use bsar::ans::{Categorical, Stack, HEAD_MIN};
use libfuzzer_sys::fuzz_target;

/// A valid table from weights: every symbol at least 1, sum exactly 2^p.
fn normalised(weights: &[u16], p: u32) -> Vec<u32> {
    let total = 1u64 << p;
    let n = weights.len().min(total as usize).max(1);
    let w: Vec<u64> = (0..n)
        .map(|i| *weights.get(i).unwrap_or(&1) as u64 + 1)
        .collect();
    let sum: u64 = w.iter().sum();
    let spare = total - n as u64;
    let mut f: Vec<u64> = w.iter().map(|&x| 1 + spare * x / sum).collect();
    f[0] += total - f.iter().sum::<u64>();
    f.into_iter().map(|x| x as u32).collect()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let p = 1 + (data[0] as u32) % 31;
    let n = 1 + data[1] as usize;
    let rest = &data[2..];
    let table_len = (2 * n).min(rest.len());
    let weights: Vec<u16> = rest[..table_len]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    let stream = &rest[table_len..];

    // Hostile tables must be refused cleanly; fall back to a valid one.
    let raw: Vec<u32> = weights.iter().map(|&w| w as u32).collect();
    let model = Categorical::new(&raw, p)
        .or_else(|_| Categorical::new(&normalised(&weights, p), p))
        .expect("normalised table must be valid");

    let Ok(mut stack) = Stack::from_bytes(stream) else {
        return;
    };
    assert_eq!(stack.to_bytes(), stream, "accepted bytes must be canonical");
    let lanes = stack.lanes();
    for i in 0..4096usize {
        let lane = i % lanes;
        let s = stack.pop_symbol(lane, &model);
        assert!((s as usize) < model.len());
        assert!(stack.heads()[lane] >= HEAD_MIN);
        if stack.tail().is_empty() && stack.borrowed() > 64 {
            break;
        }
    }
    let _ = stack.check_initial();
});
