//! The GPU kernels (`--features cuda`) against the CPU reference, bit for bit.
//!
//! Each check is written once over `bsar::gpu::Kernels` and runs twice:
//! - on the host emulation (the same CUDA source compiled as C++): always, no GPU needed;
//! - on a CUDA device when one is present; otherwise the `device_*` tests print
//!   `SKIPPED: no CUDA device: <reason>` to stderr and pass.
#![cfg(feature = "cuda")]

mod model_support;

use bsar::ans::{Categorical, Stack};
use bsar::gpu::engine::Engine;
use bsar::gpu::rans::{Intervals, Streams};
use bsar::gpu::{probe, Gpu, HostKernels, Kernels};
use bsar::model::{elu_f32, exp_f32, KernelPath, LogisticBins, Model, Net};
use model_support::*;
use std::sync::Arc;

// Embedded, so that the test binary runs on another machine (cuda/check.sh) as it is.
const FIXTURE_JSON: &[u8] = include_bytes!("fixtures/model-tiny.json");
const FIXTURE_WEIGHTS: &[u8] = include_bytes!("fixtures/model-tiny.safetensors");

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The device, or `None` after saying loudly why the test is skipped. With
/// `BSAR_REQUIRE_GPU=1` (cuda/check.sh) a missing device fails the test instead.
fn device() -> Option<Gpu> {
    match probe() {
        Ok(g) => {
            eprintln!("running on {}", g.name());
            Some(g)
        }
        Err(e) if std::env::var("BSAR_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("BSAR_REQUIRE_GPU=1 but no CUDA device: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no CUDA device: {e}");
            None
        }
    }
}

// ---------------------------------------------------------------- rANS

/// Random intervals for `n` streams x `count` symbols at `precision`, symbol-major, with
/// frequencies from 1 to the whole range (so that both renormalising and not happen).
fn random_intervals(rng: &mut Rng, n: usize, count: usize, p: u32) -> (Vec<u32>, Vec<u32>) {
    let top = 1u64 << p;
    let (mut start, mut freq) = (Vec::new(), Vec::new());
    for _ in 0..n * count {
        let f = match rng.next_u64() % 4 {
            0 => 1,
            1 => 1 + rng.next_u64() % 16,
            2 => 1 + rng.next_u64() % top,
            _ => top - rng.next_u64() % (top / 2 + 1).max(1),
        }
        .clamp(1, top);
        let s = rng.next_u64() % (top - f + 1);
        start.push(s as u32);
        freq.push(f as u32);
    }
    (start, freq)
}

/// Pushes random intervals on many streams, seals them, and compares with `ans::Stack`; then
/// pops them back (down to the supply words: popping more than was pushed) and compares heads,
/// tails and borrowed words. Returns the number of streams checked.
fn check_rans_push_pop<K: Kernels>(k: &K, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let mut checked = 0;
    for &(n, count, p) in &[
        (1usize, 1usize, 1u32),
        (7, 50, 31),
        (257, 40, 16),
        (1000, 24, 8),
        (64, 300, 24),
    ] {
        let (start, freq) = random_intervals(&mut rng, n, count, p);
        let iv = Intervals::upload(k, n, p, &start, &freq).unwrap();
        let mut streams = Streams::new(k, n, count + 1).unwrap();
        streams.push(k, &iv).unwrap();
        let got = streams.to_stacks(k).unwrap();
        let mut cpu: Vec<Stack> = (0..n).map(|_| Stack::new(1)).collect();
        for (s, st) in cpu.iter_mut().enumerate() {
            for t in 0..count {
                st.push(0, start[t * n + s], freq[t * n + s], p);
            }
        }
        for s in 0..n {
            assert_eq!(
                got[s].to_bytes(),
                cpu[s].to_bytes(),
                "push: stream {s} of {n}, p={p}"
            );
        }
        // Pop twice what was pushed: the second half reads supply words (bits-back's start).
        streams.pop(k, &iv).unwrap();
        streams.pop(k, &iv).unwrap();
        for (s, st) in cpu.iter_mut().enumerate() {
            for _ in 0..2 {
                for t in (0..count).rev() {
                    st.pop(0, start[t * n + s], freq[t * n + s], p);
                }
            }
        }
        let got = streams.to_stacks(k).unwrap();
        let borrowed = streams.borrowed(k).unwrap();
        for s in 0..n {
            assert_eq!(
                got[s].to_bytes(),
                cpu[s].to_bytes(),
                "pop: stream {s} of {n}, p={p}"
            );
            assert_eq!(borrowed[s], cpu[s].borrowed(), "borrowed words: stream {s}");
        }
        checked += n;
    }
    checked
}

/// Encodes symbols of a random categorical distribution, then decodes them with the CDF search
/// kernel: the symbols come back and the streams end where `ans::Stack` ends.
fn check_rans_decode<K: Kernels>(k: &K, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let (n, count, p, nsym) = (513usize, 64usize, 15u32, 300usize);
    let mut freqs = vec![1u32; nsym];
    let mut left = (1u32 << p) - nsym as u32;
    while left > 0 {
        let take = (1 + rng.next_u64() % 64).min(left as u64) as u32;
        freqs[(rng.next_u64() % 7 % nsym as u64) as usize * 41 % nsym] += take;
        left -= take;
    }
    let dist = Categorical::new(&freqs, p).unwrap();
    let mut cdf = vec![0u32];
    for f in &freqs {
        cdf.push(cdf.last().unwrap() + f);
    }
    let syms: Vec<u32> = (0..n * count)
        .map(|_| (rng.next_u64() % nsym as u64) as u32)
        .collect();
    let start: Vec<u32> = syms.iter().map(|&s| cdf[s as usize]).collect();
    let freq: Vec<u32> = syms.iter().map(|&s| freqs[s as usize]).collect();
    let iv = Intervals::upload(k, n, p, &start, &freq).unwrap();
    let mut streams = Streams::new(k, n, count).unwrap();
    streams.push(k, &iv).unwrap();
    let cdf_dev = k.upload(&cdf).unwrap();
    let mut out = k.zeros::<u32>(n * count).unwrap();
    streams.pop_cdf(k, &cdf_dev, p, count, &mut out).unwrap();
    assert_eq!(
        k.download(&out).unwrap()[..n * count],
        syms[..],
        "decoded symbols"
    );
    let got = streams.to_stacks(k).unwrap();
    for (s, st) in got.iter().enumerate() {
        let mut cpu = Stack::new(1);
        for t in 0..count {
            cpu.push_symbol(0, &dist, syms[t * n + s]);
        }
        for t in (0..count).rev() {
            assert_eq!(cpu.pop_symbol(0, &dist), syms[t * n + s]);
        }
        assert_eq!(st.to_bytes(), cpu.to_bytes(), "stream {s} after decoding");
        assert!(
            st.check_initial().is_ok(),
            "stream {s} back to its initial state"
        );
    }
    n
}

#[test]
fn host_rans_push_pop_equal_ans_stack() {
    let n = check_rans_push_pop(&HostKernels, 1);
    eprintln!("host emulation: {n} streams byte-identical to ans::Stack");
}

#[test]
fn host_rans_decode_with_cdf_search() {
    let n = check_rans_decode(&HostKernels, 2);
    eprintln!("host emulation: {n} streams decoded");
}

#[test]
fn rans_rejects_bad_intervals_and_full_tails() {
    let k = HostKernels;
    assert!(
        Intervals::upload(&k, 1, 8, &[0], &[0]).is_err(),
        "zero frequency"
    );
    assert!(
        Intervals::upload(&k, 1, 8, &[200], &[57]).is_err(),
        "past 2^p"
    );
    assert!(
        Intervals::upload(&k, 2, 8, &[0], &[1]).is_err(),
        "count not a multiple"
    );
    // Symbols of probability 1/256 add 8 bits each: 64 pushes leave 16 words in the tail.
    let iv = Intervals::upload(&k, 1, 8, &[0; 64], &[1; 64]).unwrap();
    let mut small = Streams::new(&k, 1, 3).unwrap();
    small.push(&k, &iv).unwrap();
    let e = small.to_stacks(&k).unwrap_err().to_string();
    assert!(e.contains("tail full"), "{e}");
    let mut roomy = Streams::new(&k, 1, 16).unwrap();
    roomy.push(&k, &iv).unwrap();
    let mut cpu = Stack::new(1);
    for _ in 0..64 {
        cpu.push(0, 0, 1, 8);
    }
    assert_eq!(cpu.tail().len(), 16);
    assert_eq!(roomy.to_stacks(&k).unwrap()[0].to_bytes(), cpu.to_bytes());
}

// ---------------------------------------------------------------- engine

/// Every net of `m` on a random batch: raw outputs, logistic parameters and integer CDFs equal
/// the Rust engine's bit for bit. Returns the number of values compared.
fn check_engine<K: Kernels>(k: &K, m: &Model, batch: usize, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let e = Engine::new(k, m).unwrap();
    let mut compared = 0;
    for net in all_nets(m) {
        let input = random_net_input(m, net, batch, &mut rng);
        let want = m.run_raw(net, &input, batch, 1, KernelPath::detect());
        let got = e.run_raw(net, &input, batch).unwrap();
        assert_eq!(bits(&got), bits(&want), "{net:?}: raw outputs");
        let lw = m.run(net, &input, batch, 1);
        let lg = e.run(net, &input, batch).unwrap();
        assert_eq!(bits(&lg.mu), bits(&lw.mu), "{net:?}: mu");
        assert_eq!(bits(&lg.ls), bits(&lw.ls), "{net:?}: ls");
        assert_eq!(bits(&lg.inv_s), bits(&lw.inv_s), "{net:?}: inv_s");
        let p = 16;
        let cdfs = e.cdfs(net, &input, batch, p).unwrap();
        let edges: &[f32] = match net {
            Net::P(0) => &bsar::model::pixel_edges()[..],
            _ => m.latent_edges(),
        };
        let nb = edges.len() + 1;
        assert_eq!(cdfs.len(), lw.mu.len() * (nb + 1));
        for d in 0..lw.mu.len() {
            let bins = lw.bins(d, edges, p);
            for j in 0..=nb {
                assert_eq!(
                    cdfs[d * (nb + 1) + j],
                    bins.cdf(j as u32),
                    "{net:?}: C({j}) of {d}"
                );
            }
        }
        compared += got.len() + 3 * lg.mu.len() + cdfs.len();
    }
    compared
}

/// A shipped model read from `models/` at run time (cargo and cuda/check.sh run tests from the
/// repository root): through `bsar::shipped` the binary would embed every model (22 MB), which
/// the staged GPU check has no room for.
fn shipped_model(name: &str) -> Model {
    let read = |ext: &str| {
        let path = format!("models/{name}.{ext}");
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run from the repository root)"))
    };
    Model::load(&read("json"), &read("safetensors")).expect("shipped model loads")
}

fn fixture_model() -> Model {
    Model::load(FIXTURE_JSON, FIXTURE_WEIGHTS).expect("fixture")
}

const SHAPES: [Shape; 2] = [
    Shape {
        channels: 3,
        patch: 16,
        latent_layers: 2,
        latent_channels: 3,
        width: 24,
        res_blocks: 1,
        latent_bins: 1024,
    },
    Shape {
        channels: 1,
        patch: 14,
        latent_layers: 2,
        latent_channels: 1,
        width: 40,
        res_blocks: 2,
        latent_bins: 256,
    },
];

#[test]
fn host_engine_equals_rust_engine_on_the_fixture() {
    let n = check_engine(&HostKernels, &fixture_model(), 4, 3);
    eprintln!("host emulation, fixture model: {n} values bit-identical");
}

#[test]
fn host_engine_equals_rust_engine_on_random_weights() {
    let mut n = 0;
    for (i, s) in SHAPES.iter().enumerate() {
        let f = random_model(*s, 40 + i as u64);
        let m = Model::load(&f.json, &f.safetensors()).unwrap();
        n += check_engine(&HostKernels, &m, 3, 50 + i as u64);
    }
    eprintln!("host emulation, random models: {n} values bit-identical");
}

#[test]
fn host_engine_equals_rust_engine_on_the_default_model() {
    let n = check_engine(&HostKernels, &shipped_model("rgb-fast"), 1, 4);
    eprintln!("host emulation, rgb-fast: {n} values bit-identical");
}

/// bsar exp and elu through the elu kernel, on random bit patterns (NaN, infinities and
/// subnormals included) and on edge values.
fn check_elu<K: Kernels>(k: &K, n: usize) -> usize {
    let mut rng = Rng(9);
    let mut v: Vec<f32> = (0..n)
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .collect();
    v.extend([
        0.0,
        -0.0,
        1e-45,
        -1e-45,
        -87.0,
        -87.5,
        88.0,
        88.5,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -1.0,
        -0.5,
        -20.0,
    ]);
    for i in 0..100_000 {
        v.push(-90.0 + i as f32 * 0.0009);
    }
    let src = k.upload(&v).unwrap();
    let mut dst = k.zeros(v.len()).unwrap();
    k.elu(&src, &mut dst).unwrap();
    let got = k.download(&dst).unwrap();
    for (x, g) in v.iter().zip(&got) {
        assert_eq!(
            g.to_bits(),
            elu_f32(*x).to_bits(),
            "elu({x:e}) [{:08x}]",
            x.to_bits()
        );
        if *x <= 0.0 || x.is_nan() {
            assert_eq!(g.to_bits(), (exp_f32(*x) - 1.0).to_bits());
        }
    }
    v.len()
}

#[test]
fn host_exp_and_elu_equal_rust() {
    let n = check_elu(&HostKernels, 1 << 20);
    eprintln!("host emulation: elu/exp on {n} inputs bit-identical");
}

/// Integer CDFs for extreme and non-finite parameters, and the pixel squeeze.
fn check_cdf_extremes<K: Kernels>(k: &K) -> usize {
    let m = fixture_model();
    let e = Engine::new(k, &m).unwrap();
    let specials = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        1e-30,
        1e30,
        -1e30,
        3.5,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        1e-45,
        8.886e6,
    ];
    let mut rng = Rng(11);
    let (mut mu, mut inv_s) = (Vec::new(), Vec::new());
    for &a in &specials {
        for &b in &specials {
            mu.push(a);
            inv_s.push(b);
        }
    }
    for _ in 0..2000 {
        mu.push(f32::from_bits(rng.next_u64() as u32));
        inv_s.push(rng.uniform(100.0).abs());
    }
    let mut compared = 0;
    for (pixel, p) in [(true, 16u32), (true, 8), (false, 12), (false, 31)] {
        let edges: &[f32] = if pixel {
            &bsar::model::pixel_edges()[..]
        } else {
            m.latent_edges()
        };
        let nb = edges.len() + 1;
        let got = e.cdfs_for(pixel, &mu, &inv_s, p).unwrap();
        for d in 0..mu.len() {
            let bins = LogisticBins::new(edges, mu[d], inv_s[d], p);
            for j in 0..=nb {
                assert_eq!(
                    got[d * (nb + 1) + j],
                    bins.cdf(j as u32),
                    "mu={} inv_s={}",
                    mu[d],
                    inv_s[d]
                );
            }
        }
        compared += got.len();
    }
    let px: Vec<u8> = (0..5 * 8 * 8 * 3).map(|_| rng.next_u64() as u8).collect();
    assert_eq!(
        bits(&e.input_from_pixels(&px, 3).unwrap()),
        bits(&m.input_from_pixels(&px, 5)),
        "squeezed input"
    );
    compared
}

#[test]
fn host_cdfs_equal_rust_for_extreme_parameters() {
    let n = check_cdf_extremes(&HostKernels);
    eprintln!("host emulation: {n} CDF values bit-identical");
}

// ---------------------------------------------------------------- on a device

#[test]
fn device_rans_equals_ans_stack() {
    let Some(g) = device() else { return };
    let n = check_rans_push_pop(&g, 1) + check_rans_decode(&g, 2);
    eprintln!("{}: {n} streams byte-identical to ans::Stack", g.name());
}

#[test]
fn device_engine_equals_rust_engine() {
    let Some(g) = device() else { return };
    let mut n = check_engine(&g, &fixture_model(), 4, 3);
    for (i, s) in SHAPES.iter().enumerate() {
        let f = random_model(*s, 40 + i as u64);
        let m = Model::load(&f.json, &f.safetensors()).unwrap();
        n += check_engine(&g, &m, 3, 50 + i as u64);
    }
    n += check_engine(&g, &shipped_model("rgb-fast"), 16, 4);
    n += check_elu(&g, 1 << 22) + check_cdf_extremes(&g);
    eprintln!("{}: {n} values bit-identical to the Rust engine", g.name());
}

// ---------------------------------------------------------------- the driver shim

/// A stand-in for libcuda.so.1: cuInit succeeds, there are no devices, and cuParamSetf (a
/// driver function with a float argument) checks that its arguments arrive intact.
const FAKE_DRIVER: &str = r#"
int cuInit(unsigned flags) { return flags == 0 ? 0 : 1; }
int cuDeviceGetCount(int *count) { *count = 0; return 0; }
int cuParamSetf(void *f, int offset, float value) {
    return (f == (void *)0x1234 && offset == 7 && value == 2.5f) ? 0 : 1;
}
"#;

/// Runs only as the child of `shim_loads_the_driver_at_first_use` (it sets the variable).
#[test]
fn shim_child() {
    if std::env::var_os("BSAR_SHIM_CHILD").is_none() {
        return;
    }
    // The very first driver call goes through the shim's slow path (dlopen, dlsym), which must
    // leave the float argument in xmm0 and the others in their registers.
    let r = unsafe { cust::sys::cuParamSetf(0x1234 as _, 7, 2.5) };
    println!("cuParamSetf: {r:?}");
    match probe() {
        Ok(g) => println!("probe: device {}", g.name()),
        Err(e) => println!("probe: {e}"),
    }
}

/// The `cuda` build starts without libcuda.so.1 (this test binary has no DT_NEEDED on it, and
/// runs here) and loads it at first use: with a fake driver on LD_LIBRARY_PATH, calls reach it
/// with their arguments, and the probe reports its answer (no devices) in one line.
#[test]
fn shim_loads_the_driver_at_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("fake.c");
    std::fs::write(&src, FAKE_DRIVER).unwrap();
    let lib = dir.path().join("libcuda.so.1");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = std::process::Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status();
    if !matches!(built, Ok(s) if s.success()) {
        eprintln!("SKIPPED: no C compiler ({cc}) to build a fake driver");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shim_child", "--nocapture", "--test-threads=1"])
        .env("BSAR_SHIM_CHILD", "1")
        .env("LD_LIBRARY_PATH", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {text}");
    assert!(text.contains("cuParamSetf: CUDA_SUCCESS"), "{text}");
    assert!(text.contains("probe: no CUDA device\n"), "{text}");
}

// ---------------------------------------------------------------- the codec on an engine

mod codec_on_engine {
    use super::*;
    use bsar::bitswap::Scheme;
    use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
    use bsar::codec::gpu::EngineNets;
    use bsar::codec::{ChunkToDecode, Codec, Image, ItemShape, Payload};
    use std::sync::Arc;

    /// Chunks of smooth and noisy RGB and grey images, sizes around the patch size `p`.
    fn chunks(n: usize, p: u32, seed: u64) -> Vec<Vec<Payload>> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|c| {
                (0..1 + c % 3)
                    .map(|i| {
                        let (w, h) = (1 + (rng.next_u64() % (2 * p as u64)) as u32, p + i as u32);
                        let ch = if (c + i) % 4 == 3 { 1u8 } else { 3 };
                        let smooth = rng.next_u64() % 3 != 0;
                        let pixels = (0..(w * h) as usize * ch as usize)
                            .map(|k| {
                                let r = rng.next_u64() as u8;
                                if smooth {
                                    ((k / ch as usize) as u32 % w * 5) as u8 + r % 6
                                } else {
                                    r
                                }
                            })
                            .collect();
                        Payload::Image(Image {
                            width: w,
                            height: h,
                            channels: ch,
                            depth: 8,
                            pixels,
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn shapes(items: &[Payload]) -> Vec<ItemShape> {
        items.iter().map(Payload::shape).collect()
    }

    /// The codec with its nets batched on `nets` codes every chunk to the CPU codec's bytes;
    /// chunks made by either decode with the other. Returns the chunks checked.
    pub fn check(
        nets: Arc<dyn bsar::bitswap::Nets + Send>,
        models: Vec<Arc<Model>>,
        p: u32,
    ) -> usize {
        let data = chunks(9, p, 77);
        let refs: Vec<Vec<&Payload>> = data.iter().map(|c| c.iter().collect()).collect();
        let mut n = 0;
        for scheme in [Scheme::BitSwap, Scheme::BbAns] {
            let cpu = BitswapCodec::new(models.clone(), scheme, DEFAULT_PRECISIONS);
            let dev = BitswapCodec::new(models.clone(), scheme, DEFAULT_PRECISIONS)
                .with_batching(nets.clone(), 64);
            let made_on_dev = dev.encode_chunks(&refs);
            let shapes: Vec<Vec<ItemShape>> = data.iter().map(|c| shapes(c)).collect();
            let mut made_on_cpu = Vec::new();
            for (c, got) in refs.iter().zip(made_on_dev) {
                let want = cpu.encode_chunk(c).unwrap();
                assert!(got.unwrap() == want, "{scheme:?}: chunk bytes differ");
                made_on_cpu.push(want);
            }
            // Made on the CPU, decoded on the device (a group) and the other way round.
            let requests: Vec<ChunkToDecode> = made_on_cpu
                .iter()
                .zip(&shapes)
                .map(|(d, s)| ChunkToDecode {
                    data: d,
                    shapes: s,
                    upto: s.len() - 1,
                })
                .collect();
            for ((r, c), req) in dev
                .decode_chunks(&requests)
                .into_iter()
                .zip(&data)
                .zip(&requests)
            {
                assert_eq!(&r.unwrap(), c, "{scheme:?}: decoded on the device");
                let back = cpu.decode_chunk(req.data, req.shapes, req.upto).unwrap();
                assert_eq!(&back, c, "{scheme:?}: decoded on the CPU");
                n += 1;
            }
        }
        n
    }

    pub fn fixture_models() -> Vec<Arc<Model>> {
        let f = random_model(SHAPES[1], 3);
        vec![
            Arc::new(fixture_model()),
            Arc::new(Model::load(&f.json, &f.safetensors()).unwrap()),
        ]
    }

    static HOST: HostKernels = HostKernels;

    #[test]
    fn host_batch_codec_equals_the_cpu_codec() {
        let n = check(Arc::new(EngineNets::new(&HOST)), fixture_models(), 8);
        eprintln!("host emulation: {n} chunks coded by the batch codec byte-identical, both ways");
    }
}

#[test]
fn device_batch_codec_equals_the_cpu_codec() {
    let Some(g) = device() else { return };
    let name = g.name().to_string();
    drop(g);
    let nets = Arc::new(bsar::codec::gpu::open_gpu().expect("the device opens again"));
    let mut n = codec_on_engine::check(nets.clone(), codec_on_engine::fixture_models(), 8);
    let shipped = vec![
        Arc::new(shipped_model("rgb-fast")),
        Arc::new(shipped_model("gray-mnist")),
        Arc::new(shipped_model("gray-mnist-ctx")),
        Arc::new(shipped_model("gray-mnist-ctx2")),
        Arc::new(shipped_model("gray-mnist-ctx3")),
        Arc::new(shipped_model("gray-photos")),
    ];
    n += codec_on_engine::check(nets, shipped, 32);
    eprintln!("{name}: {n} chunks coded on the GPU byte-identical to the CPU's, both ways");
}
