//! rANS alone on the GPU against the CPU coder (a benchmark, not a test).
//!
//!     cargo run --release --features cuda --example bench_gpu_rans [-- STREAMS SYMBOLS]
//!
//! Data: synthetic pixel-like symbols (a 256-symbol discretised logistic, mean 128, scale 8,
//! about 5 bits per symbol) at precision 16; no files needed. The GPU codes STREAMS independent
//! one-lane streams (default 2^20) of SYMBOLS symbols each (default 64), one thread per stream;
//! the CPU codes the same symbols with `ans::Stack` on one core (a 2^21-symbol prefix: the rate
//! does not depend on the count). Decoding searches the CDF for every symbol on both sides.
//! The GPU's sealed streams are compared with the CPU's for a sample of streams.
//! `BSAR_BENCH_HOST=1` runs the GPU side on the host emulation instead (to check this program
//! without a GPU; its speed means nothing).

use bsar::ans::{Categorical, Stack};
use bsar::gpu::rans::{Intervals, Streams};
use bsar::gpu::{probe, HostKernels, Kernels};
use std::time::Instant;

const P: u32 = 16;

fn pixel_cdf() -> Vec<u32> {
    let cdf = |v: f64| 1.0 / (1.0 + (-(v - 128.0) / 8.0).exp());
    let spare = (1u64 << P) - 256;
    let mut f: Vec<u32> = (0..256)
        .map(|k| {
            let lo = if k == 0 { 0.0 } else { cdf(k as f64 - 0.5) };
            let hi = if k == 255 { 1.0 } else { cdf(k as f64 + 0.5) };
            1 + ((hi - lo) * spare as f64) as u32
        })
        .collect();
    f[128] += (1u32 << P) - f.iter().sum::<u32>();
    let mut c = vec![0u32];
    for v in f {
        c.push(c.last().unwrap() + v);
    }
    c
}

/// Symbols drawn from the distribution itself (SplitMix64 uniforms through the CDF).
fn symbols(cdf: &[u32], n: usize) -> Vec<u32> {
    let mut state = 0x5EEDu64;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let u = ((z ^ (z >> 31)) >> 48) as u32;
            (cdf.partition_point(|&c| c <= u) - 1) as u32
        })
        .collect()
}

fn cpu(cdf: &[u32], syms: &[u32]) -> (f64, f64) {
    let freqs: Vec<u32> = cdf.windows(2).map(|w| w[1] - w[0]).collect();
    let dist = Categorical::new(&freqs, P).unwrap();
    let mut best = (0f64, 0f64);
    for _ in 0..3 {
        let mut st = Stack::new(1);
        let t = Instant::now();
        for &s in syms {
            st.push_symbol(0, &dist, s);
        }
        let enc = syms.len() as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut check = 0u64;
        for _ in syms {
            check += st.pop_symbol(0, &dist) as u64;
        }
        let dec = syms.len() as f64 / t.elapsed().as_secs_f64();
        assert_eq!(check, syms.iter().map(|&s| s as u64).sum::<u64>());
        best = (best.0.max(enc), best.1.max(dec));
    }
    best
}

fn gpu<K: Kernels>(g: &K, cdf: &[u32], syms: &[u32], n: usize, count: usize) -> (f64, f64, usize) {
    let start: Vec<u32> = syms.iter().map(|&s| cdf[s as usize]).collect();
    let freq: Vec<u32> = syms
        .iter()
        .map(|&s| cdf[s as usize + 1] - cdf[s as usize])
        .collect();
    let iv = Intervals::upload(g, n, P, &start, &freq).unwrap();
    let cdf_dev = g.upload(cdf).unwrap();
    let mut out = g.zeros::<u32>(n * count).unwrap();
    let cap = count * P as usize / 32 + 2;
    let mut best = (0f64, 0f64);
    let mut streams = None;
    for _ in 0..5 {
        let mut st = Streams::new(g, n, cap).unwrap();
        g.synchronize().unwrap();
        let t = Instant::now();
        st.push(g, &iv).unwrap();
        g.synchronize().unwrap();
        let enc = (n * count) as f64 / t.elapsed().as_secs_f64();
        let sealed = st.to_stacks(g).unwrap();
        let t = Instant::now();
        st.pop_cdf(g, &cdf_dev, P, count, &mut out).unwrap();
        g.synchronize().unwrap();
        let dec = (n * count) as f64 / t.elapsed().as_secs_f64();
        best = (best.0.max(enc), best.1.max(dec));
        streams = Some(sealed);
    }
    assert_eq!(
        g.download(&out).unwrap()[..n * count],
        syms[..],
        "GPU decode"
    );
    // The sealed streams equal the CPU coder's, for a sample of streams.
    let sealed = streams.unwrap();
    let freqs: Vec<u32> = cdf.windows(2).map(|w| w[1] - w[0]).collect();
    let dist = Categorical::new(&freqs, P).unwrap();
    let sample: Vec<usize> = (0..n).step_by((n / 1000).max(1)).collect();
    for &s in &sample {
        let mut st = Stack::new(1);
        for t in 0..count {
            st.push_symbol(0, &dist, syms[t * n + s]);
        }
        assert_eq!(sealed[s].to_bytes(), st.to_bytes(), "stream {s}");
    }
    (best.0, best.1, sample.len())
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("usage: bench_gpu_rans [STREAMS SYMBOLS]"))
        .collect();
    let n = args.first().copied().unwrap_or(1 << 20);
    let count = args.get(1).copied().unwrap_or(64);
    let cdf = pixel_cdf();
    let syms = symbols(&cdf, n * count);
    let cpu_syms = &syms[..syms.len().min(1 << 21)];
    let (ce, cd) = cpu(&cdf, cpu_syms);
    println!("rANS, 256-symbol pixel-like distribution, precision {P}");
    println!(
        "{:<44} {:>14} {:>14}",
        "coder", "encode sym/s", "decode sym/s"
    );
    println!(
        "{:<44} {:>14.3e} {:>14.3e}",
        format!(
            "CPU ans::Stack, 1 lane, 1 core ({} symbols)",
            cpu_syms.len()
        ),
        ce,
        cd
    );
    let host = std::env::var("BSAR_BENCH_HOST").is_ok_and(|v| v == "1");
    let run = |g: &dyn Fn() -> (f64, f64, usize), name: String| {
        let (ge, gd, checked) = g();
        println!(
            "{:<44} {:>14.3e} {:>14.3e}",
            format!("{name}, {n} streams x {count}"),
            ge,
            gd
        );
        println!(
            "GPU/CPU: encode {:.0}x, decode {:.0}x; sealed streams equal to ans::Stack: {checked} of {checked} sampled",
            ge / ce,
            gd / cd
        );
    };
    if host {
        let k = HostKernels;
        return run(&|| gpu(&k, &cdf, &syms, n, count), k.describe());
    }
    match probe() {
        Ok(g) => run(&|| gpu(&g, &cdf, &syms, n, count), g.describe()),
        Err(e) => println!("GPU: not measured: {e}"),
    }
}
