//! Bit-Swap coding measurements: coded rate against the model's negative ELBO, the chunk-length
//! curve, random access in real archives, and coding speed. Four tables, all from one run.
//!
//!     cargo build --release && cargo run --release --example bench_bitswap -- [--quick]
//!
//! Data: the MNIST test split (`mnist/t10k-images-idx3-ubyte.gz`, 10,000 images, 28x28 grey) for
//! the shipped `gray-mnist` model and `cifar10-sample` (2,000 PNGs, 32x32 RGB) for `rgb-photos`
//! and `rgb-fast`, all from ../shared/data, which only the project's machines have: without it
//! the benchmark says so and exits with status 2.
//!
//! Sizes (sized for about 15 minutes on a shared 2-core machine; see `main` to raise them):
//! - full: MNIST chunks 100 x 1, 100 x 10, 20 x 100, 2 x 1000 images; CIFAR (first 1,000 files)
//!   50 x 1, 50 x 10, 10 x 100; random-access archives of the first 4,096 MNIST test images;
//!   speed on 512 images per model;
//! - `--rate-only`: tables 1 and 2 only.
//! - `--quick` (a smoke check, noisy figures): MNIST 10 x 1, 10 x 10, 5 x 100, 1 x 1000; CIFAR
//!   10 x 1, 10 x 10, 2 x 100; archives of 1,000 images; speed on 256 (CIFAR 200) images.
//!
//! 1. Rate against the ELBO. Chunks are coded with `bsar::bitswap::encode` (both schemes, the
//!    default precisions) and measured as `Stack::to_bytes().len()`: the rANS message only, not
//!    the chunk header (5 + 32 bytes + 1 byte per image + 4) nor the container. The reference is
//!    the model's *discretised* negative ELBO on the same images, computed with the very integer
//!    tables the coder uses: per patch, z1 ~ q(z1|x), z_{i+1} ~ q(z_{i+1}|z_i) sampled by drawing
//!    a uniform integer in [0, 2^p) from a seeded PRNG and finding its bin, then
//!    sum(-log2(freq/2^p)) of x|z1, z_i|z_{i+1}, z_L (top prior) minus the same for every q term
//!    (one sample per patch). That is what bits-back coding achieves on average with no initial
//!    bits, so coded - nELBO is the per-chunk overhead (initial bits, final head, serialisation).
//!    "initial bits" is `32 * Stack::borrowed()` after encoding.
//! 2. The chunk-length curve on MNIST: the same numbers as bits/dim per images-per-chunk.
//! 3. Random access: all MNIST test images are written as PNGs and archived by the real binary
//!    (target/release/bsar, 2 threads) at several `--chunk-images`; then `bsar extract ARCHIVE
//!    MEMBER` is timed (median of 3, whole process) for the first, middle and last image of the
//!    archive's second chunk. A `--scheme zstd` archive is the baseline (process start, no model).
//! 4. Speed: images/s and MB/s of pixel samples for library encode and decode (Bit-Swap, chunks
//!    of 256 images) on 1 thread and on 2 threads (chunks in parallel); decode is checked to
//!    return the input.
//!
//! Every table names its data set and image count. Chunks are coded two at a time (this is a
//! 2-core machine) except in the one-thread speed rows.

use bsar::ans::Stack;
use bsar::bitswap::patches::{self, Grid};
use bsar::bitswap::{self, Planes, PlanesShape, Policy, Precisions, Scheme};
use bsar::codec::bitswap::DEFAULT_PRECISIONS;
use bsar::model::{LogisticBins, Model, Net};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

const THREADS: usize = 2;

// ---- data --------------------------------------------------------------------------------------

fn shared_data() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    d.is_dir().then_some(d)
}

fn planes(width: usize, height: usize, channels: usize, samples: Vec<u8>) -> Planes {
    Planes {
        width,
        height,
        channels,
        samples,
        model: 0,
    }
}

fn load_mnist(data: &Path, limit: usize) -> Vec<Planes> {
    let gz = std::fs::read(data.join("mnist/t10k-images-idx3-ubyte.gz")).expect("read MNIST");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut bytes)
        .expect("gunzip MNIST");
    let n = (u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize).min(limit);
    (0..n)
        .map(|i| planes(28, 28, 1, bytes[16 + i * 784..16 + (i + 1) * 784].to_vec()))
        .collect()
}

fn load_cifar(data: &Path, limit: usize) -> Vec<Planes> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("cifar10-sample"))
        .expect("cifar10-sample")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.truncate(limit);
    files
        .iter()
        .map(|f| {
            let file = std::fs::File::open(f).unwrap();
            let mut reader = png::Decoder::new(std::io::BufReader::new(file))
                .read_info()
                .unwrap();
            let mut buf = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut buf).unwrap();
            assert!(
                info.color_type == png::ColorType::Rgb && info.bit_depth == png::BitDepth::Eight,
                "{f:?}: not 8-bit RGB"
            );
            buf.truncate(info.buffer_size());
            planes(info.width as usize, info.height as usize, 3, buf)
        })
        .collect()
}

fn dims(images: &[Planes]) -> u64 {
    images.iter().map(|p| p.samples.len() as u64).sum()
}

// ---- CPU time (the machine is shared: wall times alone would mislead) ------------------------

/// `(own, children)` CPU seconds of this process so far, from /proc/self/stat (Linux).
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 ("state").
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = clock_ticks();
    let at = |k: usize| f.get(k - 3).copied().unwrap_or(0.0) / tick;
    (at(14) + at(15), at(16) + at(17))
}

fn clock_ticks() -> f64 {
    static TICK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICK.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- parallel helper ---------------------------------------------------------------------------

/// Runs `job(i)` for `i in 0..n` on `threads` threads; results in index order, and the wall time.
fn par<T: Send>(n: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> (Vec<T>, f64) {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = job(i);
                out.lock().unwrap()[i] = Some(r);
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    (
        out.into_inner()
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap())
            .collect(),
        secs,
    )
}

// ---- the discretised negative ELBO -------------------------------------------------------------

/// SplitMix64: a small seeded generator, enough for Monte Carlo samples of q.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in [0, 2^p).
    fn below_pow2(&mut self, p: u32) -> u32 {
        (self.next() >> (64 - p)) as u32
    }
}

/// Bits of an interval of `freq` out of `2^p`.
fn cost(freq: u32, p: u32) -> f64 {
    p as f64 - (freq as f64).log2()
}

/// Samples a latent tensor from `bins(j)` for every j; returns the bins and the total cost
/// (-log2 of the sample's probability under those tables).
fn sample<'a>(
    n: usize,
    p: u32,
    rng: &mut Rng,
    bins: impl Fn(usize) -> LogisticBins<'a>,
) -> (Vec<u16>, f64) {
    let mut z = vec![0u16; n];
    let mut bits = 0.0;
    for (j, zj) in z.iter_mut().enumerate() {
        let (sym, _, freq) = bins(j).find(rng.below_pow2(p));
        *zj = sym as u16;
        bits += cost(freq, p);
    }
    (z, bits)
}

/// Bits of `z` under `bins(j)`.
fn score<'a>(z: &[u16], p: u32, bins: impl Fn(usize) -> LogisticBins<'a>) -> f64 {
    z.iter()
        .enumerate()
        .map(|(j, &s)| cost(bins(j).interval(s as u32).1, p))
        .sum()
}

/// One-sample discretised negative ELBO of an image, in bits, with the coder's integer tables.
fn nelbo_bits(model: &Model, prec: Precisions, img: &Planes, seed: u64) -> f64 {
    let cfg = model.config();
    let (pp, ch, layers) = (cfg.patch, cfg.channels, cfg.latent_layers);
    let n = (pp / 2) * (pp / 2) * cfg.latent_channels;
    let (pz, px) = (prec.latent, prec.pixel);
    let edges = model.latent_edges();
    let g = Grid {
        width: img.width,
        height: img.height,
        patch: pp,
    };
    let mut rng = Rng(seed);
    let mut patch = vec![0u8; pp * pp * ch];
    let mut bits = 0.0;
    for k in 0..g.count() {
        let pos = g.pos(k);
        patches::extract(&img.samples, &g, ch, &pos, &mut patch);
        let q0 = model.run(Net::Q(0), &model.input_from_pixels(&patch, 1), 1, 1);
        let (z1, q_bits) = sample(n, pz, &mut rng, |j| q0.bins(j, edges, pz));
        bits -= q_bits;
        let p0 = model.run(Net::P(0), &model.input_from_bins(&z1, 1), 1, 1);
        // Only real samples are coded; padding is rebuilt, never pushed.
        for y in 0..pos.real_h {
            for x in 0..pos.real_w {
                for c in 0..ch {
                    let i = model.squeezed_index(y, x, c);
                    let d = LogisticBins::pixel(p0.mu[i], p0.inv_s[i], px);
                    bits += cost(d.interval(patch[(y * pp + x) * ch + c] as u32).1, px);
                }
            }
        }
        let mut below = z1;
        for i in 1..layers {
            let q = model.run(Net::Q(i), &model.input_from_bins(&below, 1), 1, 1);
            let (above, q_bits) = sample(n, pz, &mut rng, |j| q.bins(j, edges, pz));
            bits -= q_bits;
            let p = model.run(Net::P(i), &model.input_from_bins(&above, 1), 1, 1);
            bits += score(&below, pz, |j| p.bins(j, edges, pz));
            below = above;
        }
        bits += score(&below, pz, |_| model.top_prior(pz));
    }
    bits
}

// ---- tables 1 and 2: coded rate against the ELBO -------------------------------------------

/// `chunks` chunks of `len` consecutive images, from image 0.
#[derive(Clone, Copy)]
struct Layout {
    len: usize,
    chunks: usize,
}

/// The scheme and policy pairs of tables 1 and 2: each scheme unseeded (initial bits from the
/// supply) and seeded (predictive code for the first patches only), and the default policy, also
/// with bits-back tried on every patch (no decision on a sample).
const CODINGS: [(Scheme, Policy); 6] = [
    (Scheme::BitSwap, Policy::BitsBackOnly),
    (Scheme::BitSwap, Policy::Seed),
    (Scheme::BbAns, Policy::BitsBackOnly),
    (Scheme::BbAns, Policy::Seed),
    (Scheme::BitSwap, Policy::Cheapest),
    (Scheme::BitSwap, Policy::TryEveryPatch),
];

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::BitsBackOnly => "unseeded",
        Policy::Seed => "seeded",
        Policy::Cheapest => "cheapest",
        Policy::TryEveryPatch => "every patch tried",
    }
}

struct RateRow {
    model: &'static str,
    data: String,
    scheme: Scheme,
    policy: Policy,
    layout: Layout,
    coded_bytes: u64,
    nelbo_bits: f64,
    initial_bits: u64,
    dims: u64,
}

impl RateRow {
    fn coded_bpd(&self) -> f64 {
        self.coded_bytes as f64 * 8.0 / self.dims as f64
    }
    fn nelbo_bpd(&self) -> f64 {
        self.nelbo_bits / self.dims as f64
    }
}

fn rate_rows(
    model_name: &'static str,
    model: &Model,
    data: &str,
    images: &[Planes],
    layouts: &[Layout],
) -> Vec<RateRow> {
    let prec = DEFAULT_PRECISIONS;
    let used = layouts.iter().map(|l| l.len * l.chunks).max().unwrap();
    assert!(
        used <= images.len(),
        "{data}: layouts need {used} images, have {}",
        images.len()
    );
    let (elbo, secs) = par(used, THREADS, |i| {
        nelbo_bits(model, prec, &images[i], 0x5EED_0000 + i as u64)
    });
    eprintln!("  {model_name}: nELBO of {used} images in {secs:.1} s");
    let mut rows = Vec::new();
    for (scheme, policy) in CODINGS {
        for &layout in layouts {
            let (stacks, secs) = par(layout.chunks, THREADS, |c| {
                let chunk = &images[c * layout.len..(c + 1) * layout.len];
                let stack = bitswap::encode(&[model], scheme, prec, policy, chunk).expect("encode");
                (stack.to_bytes().len() as u64, stack.borrowed() * 32)
            });
            let n = layout.len * layout.chunks;
            eprintln!(
                "  {model_name} {} {}: {} x {} images in {secs:.1} s",
                scheme.name(),
                policy_name(policy),
                layout.chunks,
                layout.len
            );
            rows.push(RateRow {
                model: model_name,
                data: data.to_string(),
                scheme,
                policy,
                layout,
                coded_bytes: stacks.iter().map(|s| s.0).sum(),
                nelbo_bits: elbo[..n].iter().sum(),
                initial_bits: stacks.iter().map(|s| s.1).sum(),
                dims: dims(&images[..n]),
            });
        }
    }
    rows
}

fn print_rate_table(rows: &[RateRow]) {
    println!("\n## 1. Coded rate against the model's discretised negative ELBO (same images)\n");
    println!("Coded = rANS message bytes from `bitswap::encode` (initial bits included, chunk header excluded); nELBO = one-sample");
    println!(
        "discretised negative ELBO with the coder's integer tables (p_x = {}, p_z = {}).\n",
        DEFAULT_PRECISIONS.pixel, DEFAULT_PRECISIONS.latent
    );
    println!("Policies: unseeded = every patch by bits-back, initial bits read from the supply; seeded = the predictive code");
    println!("for the first patches until bits-back is cheaper (the rate then shows the model); cheapest = bsar's default, the");
    println!("cheaper code for every patch (it can beat the nELBO where the predictive code beats the model).\n");
    println!("| model | data (images coded) | scheme | policy | images/chunk | chunks | coded bpd | nELBO bpd | coded/nELBO | overhead B/chunk | initial bits/chunk |");
    println!("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let chunks = r.layout.chunks as f64;
        let overhead = (r.coded_bytes as f64 - r.nelbo_bits / 8.0) / chunks;
        println!(
            "| {} | {} ({}) | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.1} | {:.0} |",
            r.model,
            r.data,
            r.layout.len * r.layout.chunks,
            r.scheme.name(),
            policy_name(r.policy),
            r.layout.len,
            r.layout.chunks,
            r.coded_bpd(),
            r.nelbo_bpd(),
            r.coded_bpd() / r.nelbo_bpd(),
            overhead,
            r.initial_bits as f64 / chunks,
        );
    }
}

fn print_curve(rows: &[RateRow]) {
    println!("\n## 2. Chunk-length curve: gray-mnist on the MNIST test split\n");
    println!("Rate against the nELBO; unseeded/seeded as in table 1.\n");
    println!("| images/chunk | chunks | images | nELBO bpd | bitswap seeded bpd | bitswap seeded | bitswap unseeded | bbans seeded | bbans unseeded |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mnist: Vec<&RateRow> = rows.iter().filter(|r| r.model == "gray-mnist").collect();
    let find = |len: usize, scheme: Scheme, policy: Policy| {
        mnist
            .iter()
            .find(|r| r.scheme == scheme && r.policy == policy && r.layout.len == len)
            .unwrap()
    };
    let pct = |r: &RateRow| 100.0 * (r.coded_bpd() / r.nelbo_bpd() - 1.0);
    for bs in mnist
        .iter()
        .filter(|r| r.scheme == Scheme::BitSwap && r.policy == Policy::Seed)
    {
        let len = bs.layout.len;
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {:+.2}% | {:+.2}% | {:+.2}% | {:+.2}% |",
            len,
            bs.layout.chunks,
            len * bs.layout.chunks,
            bs.nelbo_bpd(),
            bs.coded_bpd(),
            pct(bs),
            pct(find(len, Scheme::BitSwap, Policy::BitsBackOnly)),
            pct(find(len, Scheme::BbAns, Policy::Seed)),
            pct(find(len, Scheme::BbAns, Policy::BitsBackOnly)),
        );
    }
}

// ---- table 3: random access through the real binary -----------------------------------------

fn write_png(path: &Path, img: &Planes) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(file),
        img.width as u32,
        img.height as u32,
    );
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .unwrap()
        .write_image_data(&img.samples)
        .unwrap();
}

/// Runs bsar; returns (wall s, CPU s of the bsar process).
fn run_bsar(bin: &Path, cwd: &Path, args: &[&str]) -> (f64, f64) {
    let cpu0 = cpu_times().1;
    let t = Instant::now();
    let out = Command::new(bin)
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn bsar");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "bsar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (secs, cpu_times().1 - cpu0)
}

/// Median of 3 runs, by wall time and by CPU time separately.
fn median3(mut f: impl FnMut() -> (f64, f64)) -> (f64, f64) {
    let runs = [f(), f(), f()];
    let mut wall = runs.map(|r| r.0);
    let mut cpu = runs.map(|r| r.1);
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[1], cpu[1])
}

fn random_access(bin: &Path, images: &[Planes], chunk_lens: &[usize]) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let dir = work.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, img) in images.iter().enumerate() {
        write_png(&dir.join(format!("{i:05}.png")), img);
    }
    let n = images.len();
    let samples = dims(images) as f64;
    println!("\n## 3. Random access: `bsar extract ARCHIVE MEMBER` on MNIST test split archives ({n} images)\n");
    println!("Archives made by target/release/bsar (-j 2). Member k is image k; the timed members are the first, middle and last");
    println!("image of the archive's second chunk. Times are whole-process wall ms (CPU ms of the bsar process), median of 3.");
    println!("bpd counts every archive byte (member table, names, PNG wrappers, index) over the pixel samples.\n");
    println!("| archive | chunks | archive bytes | bpd (whole archive) | create s wall (CPU) | extract first ms | middle ms | last ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut configs: Vec<(String, Vec<String>, usize)> = chunk_lens
        .iter()
        .map(|&c| {
            (
                format!("bitswap --chunk-images {c}"),
                vec!["--chunk-images".into(), c.to_string()],
                c,
            )
        })
        .collect();
    let base = chunk_lens[chunk_lens.len() / 2];
    configs.push((
        "zstd (baseline, no model)".into(),
        vec!["--scheme".into(), "zstd".into()],
        base,
    ));
    for (label, extra, c) in configs {
        let archive = "a.bsar";
        let mut args: Vec<&str> = vec!["create", "-q", "-j", "2", "--overwrite"];
        args.extend(extra.iter().map(|s| s.as_str()));
        args.extend([archive, "mnist"]);
        let (create_s, create_cpu) = run_bsar(bin, work, &args);
        let bytes = std::fs::metadata(work.join(archive)).unwrap().len();
        let chunk = if n >= 2 * c { 1 } else { 0 };
        let members = [chunk * c, chunk * c + c / 2, (chunk * c + c - 1).min(n - 1)];
        let ms: Vec<String> = members
            .iter()
            .map(|&m| {
                let name = format!("mnist/{m:05}.png");
                let (wall, cpu) = median3(|| {
                    run_bsar(
                        bin,
                        work,
                        &["extract", "-q", "--overwrite", archive, &name, "-C", "out"],
                    )
                });
                format!("{:.0} ({:.0})", 1000.0 * wall, 1000.0 * cpu)
            })
            .collect();
        // The extracted member must be the image (extraction is lossless).
        let back = std::fs::read(work.join(format!("out/mnist/{:05}.png", members[2]))).unwrap();
        let orig = std::fs::read(dir.join(format!("{:05}.png", members[2]))).unwrap();
        assert_eq!(back, orig, "{label}: extracted member differs");
        let chunks = if label.starts_with("zstd") {
            "-".to_string()
        } else {
            n.div_ceil(c).to_string()
        };
        println!(
            "| {label} | {chunks} | {bytes} | {:.4} | {create_s:.1} ({create_cpu:.1}) | {} | {} | {} |",
            bytes as f64 * 8.0 / samples,
            ms[0],
            ms[1],
            ms[2]
        );
    }
}

// ---- table 4: speed --------------------------------------------------------------------------

fn speed(
    model_name: &str,
    model: &Model,
    data: &str,
    images: &[Planes],
    chunk: usize,
) -> Vec<String> {
    let prec = DEFAULT_PRECISIONS;
    let chunks: Vec<&[Planes]> = images.chunks(chunk).collect();
    let mb = dims(images) as f64 / 1e6;
    let n = images.len() as f64;
    let mut rows = Vec::new();
    for threads in [1, THREADS] {
        let cpu0 = cpu_times().0;
        let (stacks, enc_s) = par(chunks.len(), threads, |c| {
            bitswap::encode(&[model], Scheme::BitSwap, prec, Policy::Cheapest, chunks[c])
                .expect("encode")
                .to_bytes()
        });
        let enc_cpu = cpu_times().0 - cpu0;
        let cpu0 = cpu_times().0;
        let (_, dec_s) = par(chunks.len(), threads, |c| {
            let shapes: Vec<PlanesShape> = chunks[c]
                .iter()
                .map(|p| PlanesShape {
                    width: p.width,
                    height: p.height,
                    channels: p.channels,
                    model: 0,
                })
                .collect();
            let stack = Stack::from_bytes(&stacks[c]).unwrap();
            let back = bitswap::decode(
                &[model],
                Scheme::BitSwap,
                prec,
                stack,
                &shapes,
                shapes.len() - 1,
            )
            .expect("decode");
            assert!(
                back.iter()
                    .zip(chunks[c])
                    .all(|(a, b)| a.samples == b.samples),
                "{model_name}: decode differs"
            );
        });
        let dec_cpu = cpu_times().0 - cpu0;
        rows.push(format!(
            "| {model_name} | {data} ({}) | {threads} | {:.1} | {:.4} | {:.1} | {:.4} | {:.1} | {:.1} |",
            images.len(),
            n / enc_s,
            mb / enc_s,
            n / dec_s,
            mb / dec_s,
            n / enc_cpu,
            n / dec_cpu
        ));
    }
    rows
}

// ---- main --------------------------------------------------------------------------------------

fn find_model(name: &str) -> &'static Model {
    let entry = bsar::shipped::find(name)
        .expect("load shipped models")
        .unwrap_or_else(|| panic!("no shipped model {name}"));
    &entry.model
}

fn main() {
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let rate_only = std::env::args().skip(1).any(|a| a == "--rate-only");
    let Some(data) = shared_data() else {
        eprintln!("bench_bitswap: SKIPPED: ../shared/data is not here (only the project's machines have the data sets)");
        std::process::exit(2);
    };
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/bsar");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );

    // Sizes fit a shared 2-core machine in about 15 minutes; raise them where cores are free.
    let (mnist_n, cifar_n, access_n) = if quick {
        (1000, 200, 1000)
    } else {
        (10_000, 1024, 4096)
    };
    let l = |len, chunks| Layout { len, chunks };
    let (mnist_layouts, cifar_layouts, access, speed_n) = if quick {
        (
            vec![l(1, 10), l(10, 10), l(100, 5), l(1000, 1)],
            vec![l(1, 10), l(10, 10), l(100, 2)],
            vec![64, 256],
            256,
        )
    } else {
        (
            vec![l(1, 100), l(10, 100), l(100, 20), l(1000, 2)],
            vec![l(1, 50), l(10, 50), l(100, 10)],
            vec![64, 256, 1024],
            512,
        )
    };
    let mnist = load_mnist(&data, mnist_n);
    let cifar = load_cifar(&data, cifar_n);
    let date = String::from_utf8(
        Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    println!(
        "# bench_bitswap{}, {} on {} cores ({})",
        if quick { " --quick" } else { "" },
        date.trim(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::ARCH
    );
    println!(
        "Load average at start: {} (2-core machine; other jobs may share it).",
        loadavg()
    );
    println!(
        "Data: MNIST test split ({} images, 28x28 grey), cifar10-sample ({} images, 32x32 RGB).",
        mnist.len(),
        cifar.len()
    );

    let t = Instant::now();
    let mut rows = rate_rows(
        "gray-mnist",
        find_model("gray-mnist"),
        "MNIST test",
        &mnist,
        &mnist_layouts,
    );
    for name in ["rgb-photos", "rgb-fast"] {
        rows.extend(rate_rows(
            name,
            find_model(name),
            "cifar10-sample",
            &cifar,
            &cifar_layouts,
        ));
    }
    eprintln!("tables 1-2: {:.0} s", t.elapsed().as_secs_f64());
    print_rate_table(&rows);
    print_curve(&rows);
    if rate_only {
        return;
    }

    let t = Instant::now();
    random_access(&bin, &mnist[..access_n], &access);
    eprintln!("table 3: {:.0} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let chunk = 256.min(speed_n / 2);
    println!("\n## 4. Speed: library Bit-Swap encode and decode, chunks of {chunk} images (decode checked)\n");
    println!("MB/s counts pixel samples (bytes). 2 threads = two chunks coded at once. img/CPU-s divides by the process's");
    println!("CPU seconds instead of wall seconds: it shows the per-core rate when other jobs share the machine.\n");
    println!("| model | data (images) | threads | encode img/s | encode MB/s | decode img/s | decode MB/s | encode img/CPU-s | decode img/CPU-s |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut speed_rows = speed(
        "gray-mnist",
        find_model("gray-mnist"),
        "MNIST test",
        &mnist[..speed_n],
        chunk,
    );
    for name in ["rgb-photos", "rgb-fast"] {
        speed_rows.extend(speed(
            name,
            find_model(name),
            "cifar10-sample",
            &cifar[..speed_n.min(cifar.len())],
            chunk,
        ));
    }
    for r in speed_rows {
        println!("{r}");
    }
    eprintln!("table 4: {:.0} s", t.elapsed().as_secs_f64());
    println!("\nLoad average at end: {}", loadavg());
}
