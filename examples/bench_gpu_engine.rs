//! The model engine's forward passes on the GPU against the CPU engine (a benchmark, not a
//! test).
//!
//!     cargo run --release --features cuda --example bench_gpu_engine [-- MODEL BATCH]
//!
//! Data: random 8-bit patches and random latent bins (the nets' speed does not depend on the
//! values); MODEL names a shipped model, read from models/ (default rgb-fast), BATCH the patches per pass (default
//! 4096). Each of the 2L nets runs once on the batch (the GPU's time: raw outputs, left on the
//! device; the CPU's: `Model::run` on all cores with its fastest kernels, logistic parameters
//! included, on a batch of 64). The means are compared bit for bit on the CPU's batch.
//! `BSAR_BENCH_HOST=1` runs the GPU side on the host emulation (to check this program without a
//! GPU; its speed means nothing).

use bsar::gpu::engine::Engine;
use bsar::gpu::{probe, HostKernels, Kernels};
use bsar::model::{Model, Net};
use std::time::Instant;

struct Inputs {
    nets: Vec<(Net, Vec<f32>)>,
}

fn inputs(m: &Model, batch: usize) -> Inputs {
    let c = m.config();
    let mut state = 1u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let l = c.latent_layers;
    let nets = (0..l)
        .map(Net::Q)
        .chain((0..l).map(Net::P))
        .map(|net| {
            let input = if net == Net::Q(0) {
                let px: Vec<u8> = (0..batch * c.patch * c.patch * c.channels)
                    .map(|_| next() as u8)
                    .collect();
                m.input_from_pixels(&px, batch)
            } else {
                let g = c.grid();
                let bins: Vec<u16> = (0..batch * g * g * c.latent_channels)
                    .map(|_| (next() % c.latent_bins as u64) as u16)
                    .collect();
                m.input_from_bins(&bins, batch)
            };
            (net, input)
        })
        .collect();
    Inputs { nets }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map(String::as_str).unwrap_or("rgb-fast");
    let batch: usize = args.get(1).map_or(4096, |b| b.parse().expect("BATCH"));
    // Read from models/ (run from the repository root), not through bsar::shipped: embedding
    // every model would make the binary too large to stage for the GPU check (cuda/stage.sh).
    let read = |ext: &str| {
        let path = format!("models/{name}.{ext}");
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run from the repository root)"))
    };
    let m = &bsar::model::Model::load(&read("json"), &read("safetensors")).expect("model loads");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_batch = batch.min(64);
    let cpu_in = inputs(m, cpu_batch);
    let t = Instant::now();
    let cpu_out: Vec<Vec<f32>> = cpu_in
        .nets
        .iter()
        .map(|(net, x)| m.run(*net, x, cpu_batch, threads).mu)
        .collect();
    let cpu_rate = cpu_batch as f64 / t.elapsed().as_secs_f64();
    let mmac = m.macs_per_patch() as f64 / 1e6;
    println!(
        "{name}: {mmac:.0} MMAC per patch, all {} nets",
        2 * m.config().latent_layers
    );
    println!("{:<52} {:>12} {:>12}", "engine", "patches/s", "GMAC/s");
    println!(
        "{:<52} {:>12.1} {:>12.1}",
        format!("CPU, {threads} threads, batch {cpu_batch}"),
        cpu_rate,
        cpu_rate * mmac / 1e3
    );
    let host = std::env::var("BSAR_BENCH_HOST").is_ok_and(|v| v == "1");
    let run = |k: &dyn Fn() -> (f64, usize, String)| {
        let (rate, same, what) = k();
        println!("{:<52} {:>12.1} {:>12.1}", what, rate, rate * mmac / 1e3);
        println!(
            "GPU/CPU: {:.0}x; outputs bit-identical to the CPU engine: {same} values",
            rate / cpu_rate
        );
    };
    let measure = |k: &dyn KernelsDyn, batch: usize| -> (f64, usize, String) {
        k.go(m, batch, &cpu_in, &cpu_out)
    };
    if host {
        return run(&|| measure(&HostKernels, cpu_batch.min(2)));
    }
    match probe() {
        Ok(g) => run(&|| measure(&g, batch)),
        Err(e) => println!("GPU: not measured: {e}"),
    }
}

/// The GPU side, for any kernel implementation.
trait KernelsDyn {
    fn go(
        &self,
        m: &Model,
        batch: usize,
        cpu_in: &Inputs,
        cpu_out: &[Vec<f32>],
    ) -> (f64, usize, String);
}

impl<K: Kernels> KernelsDyn for K {
    fn go(
        &self,
        m: &Model,
        batch: usize,
        cpu_in: &Inputs,
        cpu_out: &[Vec<f32>],
    ) -> (f64, usize, String) {
        let e = Engine::new(self, m).unwrap();
        // Bit identity on the CPU's batch (or its first patches).
        let mut same = 0;
        for ((net, x), want) in cpu_in.nets.iter().zip(cpu_out) {
            let (cin, _) = m.net_channels(*net);
            let g = m.config().grid();
            let b = (x.len() / (g * g * cin)).min(batch);
            let got = e.run(*net, &x[..b * g * g * cin], b).unwrap().mu;
            let n = got.len();
            assert!(
                got.iter()
                    .zip(&want[..n])
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{net:?}: GPU and CPU differ"
            );
            same += n;
        }
        let big = inputs(m, batch);
        let dev: Vec<(Net, K::Buf<f32>)> = big
            .nets
            .iter()
            .map(|(net, x)| (*net, self.upload(x).unwrap()))
            .collect();
        let mut best = 0f64;
        for _ in 0..3 {
            self.synchronize().unwrap();
            let t = Instant::now();
            for (net, x) in &dev {
                let raw = e.run_raw_on(*net, x, batch).unwrap();
                drop(raw);
            }
            self.synchronize().unwrap();
            best = best.max(batch as f64 / t.elapsed().as_secs_f64());
        }
        (best, same, format!("{}, batch {batch}", self.describe()))
    }
}
