//! Engine benchmark: patches/s and GMAC/s for the full set of 2L nets per patch, scalar vs SIMD,
//! 1 vs 2 threads, with PyTorch CPU on the same model and machine in the same run.
//!
//!     cargo run --release --example bench_engine -- [MODEL.json MODEL.safetensors] [--batch B]
//!
//! Without a model, a random-weights model of the reference RGB shape is written to a temporary
//! folder (so PyTorch loads exactly the same files). The torch column needs `python3` with
//! torch and safetensors; it is skipped with a loud note when they are missing.

use bsar::model::{pixel_edges, KernelPath, LogisticBins, Model, Net};
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut batch = 16usize;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--batch" {
            batch = it
                .next()
                .and_then(|b| b.parse().ok())
                .unwrap_or_else(|| fail("--batch needs a number"));
        } else {
            files.push(a.clone());
        }
    }
    let tmp = std::env::temp_dir().join(format!("bsar-bench-{}", std::process::id()));
    let (json_path, st_path, what) = match files.as_slice() {
        [j, s] => (j.clone(), s.clone(), format!("model {j}")),
        [] => {
            std::fs::create_dir_all(&tmp)
                .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", tmp.display())));
            let (j, s) = random_model::write(&tmp);
            (
                j,
                s,
                "random-weights model (C=3, P=32, L=4, Cz=8, W=64, R=2)".to_string(),
            )
        }
        _ => fail("usage: bench_engine [MODEL.json MODEL.safetensors] [--batch B]"),
    };
    let read =
        |p: &str| std::fs::read(p).unwrap_or_else(|e| fail(&format!("cannot read {p}: {e}")));
    let model =
        Model::load(&read(&json_path), &read(&st_path)).unwrap_or_else(|e| fail(&e.to_string()));
    let c = model.config().clone();
    let macs = model.macs_per_patch() as f64;
    println!("bsar engine benchmark: {what}");
    println!(
        "  {} nets, grid {}x{}, width {}, {} res blocks; {:.1} MMAC per patch; batch {batch}",
        2 * c.latent_layers,
        c.grid(),
        c.grid(),
        c.width,
        c.res_blocks,
        macs / 1e6
    );
    println!(
        "  AVX2+FMA available: {}; AVX-512F available: {}; default path: {:?}",
        KernelPath::Avx2.is_available(),
        KernelPath::Avx512.is_available(),
        KernelPath::detect()
    );

    // Inputs: random pixels for q0, random bins for the others.
    let mut seed = 0x1234_5678u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let l = c.latent_layers;
    let nets: Vec<Net> = (0..l).map(Net::Q).chain((0..l).map(Net::P)).collect();
    let make_inputs = |b: usize, next: &mut dyn FnMut() -> u64| -> Vec<Vec<f32>> {
        let g = c.grid();
        nets.iter()
            .map(|&n| {
                if n == Net::Q(0) {
                    let px: Vec<u8> = (0..b * c.patch * c.patch * c.channels)
                        .map(|_| next() as u8)
                        .collect();
                    model.input_from_pixels(&px, b)
                } else {
                    let bins: Vec<u16> = (0..b * g * g * c.latent_channels)
                        .map(|_| (next() % c.latent_bins as u64) as u16)
                        .collect();
                    model.input_from_bins(&bins, b)
                }
            })
            .collect()
    };

    println!();
    println!("| implementation | threads | batch | patches/s | GMAC/s |");
    println!("|---|---|---|---|---|");
    let mut reference: Option<Vec<Vec<u32>>> = None;
    let mut identical = true;
    let all_inputs = make_inputs(batch, &mut next);
    for (path, name) in [
        (KernelPath::Scalar, "bsar scalar (f32::mul_add)"),
        (KernelPath::Avx2, "bsar AVX2+FMA"),
        (KernelPath::Avx512, "bsar AVX-512"),
    ] {
        if !path.is_available() {
            println!("| {name} | - | - | unavailable on this CPU | - |");
            continue;
        }
        // The portable scalar path is slow on baseline x86-64 (mul_add is a libm call): small batch.
        let b = if path == KernelPath::Scalar { 1 } else { batch };
        let inputs: Vec<Vec<f32>> = all_inputs
            .iter()
            .map(|x| x[..x.len() / batch * b].to_vec())
            .collect();
        for threads in [1usize, 2] {
            let run_all = || -> Vec<Vec<u32>> {
                nets.iter()
                    .zip(&inputs)
                    .map(|(&n, x)| {
                        model
                            .run_with(n, x, b, threads, path)
                            .mu
                            .iter()
                            .map(|v| v.to_bits())
                            .collect()
                    })
                    .collect()
            };
            let first = run_all();
            // Identity across paths/threads, on the first image only (batch sizes differ).
            let head: Vec<Vec<u32>> = first.iter().map(|v| v[..v.len() / b].to_vec()).collect();
            match &reference {
                None => reference = Some(head),
                Some(r) => identical &= *r == head,
            }
            let (n, el) = time_loop(
                Duration::from_secs_f64(if path == KernelPath::Scalar { 3.0 } else { 2.0 }),
                || {
                    run_all();
                },
            );
            let pps = (n * b) as f64 / el;
            println!(
                "| {name} | {threads} | {b} | {pps:.1} | {:.2} |",
                pps * macs / 1e9
            );
        }
    }
    for threads in [1usize, 2] {
        match torch(&json_path, &st_path, batch, threads) {
            Ok((pps, ver)) => println!(
                "| PyTorch {ver} CPU (conv2d, no_grad) | {threads} | {batch} | {pps:.1} | {:.2} |",
                pps * macs / 1e9
            ),
            Err(e) => println!("| PyTorch CPU | {threads} | {batch} | SKIPPED: {e} | - |"),
        }
    }
    println!();
    println!(
        "first-image outputs identical across scalar/AVX2/AVX-512 and 1/2 threads: {}",
        if identical {
            "yes"
        } else {
            "NO (determinism bug)"
        }
    );

    // Frequency-table speed: interval() (encode) and find() (decode) per symbol.
    let edges = model.latent_edges();
    let mut acc = 0u64;
    let (n, el) = time_loop(Duration::from_millis(500), || {
        for k in 0..1000u32 {
            let b = LogisticBins::new(edges, (k as f32) * 1e-3 - 0.5, 3.0, 16);
            acc += b.interval(k % 1024).1 as u64 + b.find(k * 61).0 as u64;
        }
    });
    println!(
        "latent table (1024 bins, p=16): {:.0} ns per interval+find",
        el / (n as f64 * 1000.0) * 1e9
    );
    let (n, el) = time_loop(Duration::from_millis(500), || {
        for k in 0..1000u32 {
            let b = LogisticBins::pixel((k as f32) * 1e-3 - 0.5, 50.0, 16);
            acc += b.interval(k % 256).1 as u64 + b.find(k * 61).0 as u64;
        }
    });
    println!(
        "pixel table (256 bins, p=16): {:.0} ns per interval+find  (checksum {acc})",
        el / (n as f64 * 1000.0) * 1e9
    );
    let _ = pixel_edges();
    let _ = std::fs::remove_dir_all(&tmp);
}

fn time_loop(min: Duration, mut f: impl FnMut()) -> (usize, f64) {
    let start = Instant::now();
    let mut n = 0;
    while n == 0 || start.elapsed() < min {
        f();
        n += 1;
    }
    (n, start.elapsed().as_secs_f64())
}

fn torch(json: &str, st: &str, batch: usize, threads: usize) -> Result<(f64, String), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/train/bench/torch_bench.py");
    let out = Command::new("python3")
        .args([
            script,
            json,
            st,
            &batch.to_string(),
            &threads.to_string(),
            "2.0",
        ])
        .output()
        .map_err(|e| format!("cannot run python3 ({e})"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").to_string();
        return Err(format!(
            "torch benchmark failed (is torch installed? pip install torch safetensors): {last}"
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("bad output from torch_bench.py ({e})"))?;
    Ok((
        v["patches_per_s"].as_f64().unwrap_or(0.0),
        v["torch"].as_str().unwrap_or("?").to_string(),
    ))
}

fn fail(msg: &str) -> ! {
    eprintln!("bench_engine: {msg}");
    std::process::exit(2);
}

/// Writes a random-weights model of the reference RGB shape (spec §3 layout).
mod random_model {
    use safetensors::{tensor::TensorView, Dtype};
    use std::path::Path;

    pub fn write(dir: &Path) -> (String, String) {
        let (c, l, cz, w, r, n) = (3usize, 4usize, 8usize, 64usize, 2usize, 1024usize);
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut uni = |a: f32| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
        };
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut conv = |t: &mut Vec<_>, name: String, cout: usize, cin: usize| {
            let a = (3.0 / (9.0 * cin as f32)).sqrt();
            let wv: Vec<u8> = (0..cout * cin * 9)
                .flat_map(|_| uni(a).to_le_bytes())
                .collect();
            let bv: Vec<u8> = (0..cout).flat_map(|_| uni(0.1).to_le_bytes()).collect();
            t.push((format!("{name}.weight"), vec![cout, cin, 3, 3], wv));
            t.push((format!("{name}.bias"), vec![cout], bv));
        };
        for i in 0..l {
            for (kind, cin, cout) in [
                ("q", if i == 0 { 4 * c } else { cz }, cz),
                ("p", cz, if i == 0 { 4 * c } else { cz }),
            ] {
                let name = format!("{kind}{i}");
                conv(&mut tensors, format!("{name}.in"), w, cin);
                for b in 0..r {
                    conv(&mut tensors, format!("{name}.res{b}.conv1"), w, w);
                    conv(&mut tensors, format!("{name}.res{b}.conv2"), w, w);
                }
                conv(&mut tensors, format!("{name}.out"), 2 * cout, w);
            }
        }
        let edges: Vec<u8> = (1..n)
            .flat_map(|i| ((i as f64 / (n - i) as f64).ln() as f32).to_le_bytes())
            .collect();
        let centres: Vec<u8> = (0..n)
            .flat_map(|i| {
                (((i as f64 + 0.5) / (n as f64 - i as f64 - 0.5)).ln() as f32).to_le_bytes()
            })
            .collect();
        tensors.push(("latent.edges".into(), vec![n - 1], edges));
        tensors.push(("latent.centres".into(), vec![n], centres));
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(k, s, b)| {
                (
                    k.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let st = safetensors::tensor::serialize(views, &None).unwrap();
        let json = format!(
            r#"{{"format": "bsar-model", "version": 1, "name": "bench-random", "channels": {c}, "patch": 32,
"latent_layers": {l}, "latent_channels": {cz}, "width": {w}, "res_blocks": {r}, "latent_bins": {n},
"min_log_scale_latent": -2.3026, "min_log_scale_pixel": -6.0, "train": {{}}}}"#
        );
        let (jp, sp) = (dir.join("bench.json"), dir.join("bench.safetensors"));
        std::fs::write(&jp, json).expect("write bench json");
        std::fs::write(&sp, st).expect("write bench safetensors");
        (
            jp.to_string_lossy().into_owned(),
            sp.to_string_lossy().into_owned(),
        )
    }
}
