//! bsar against classical lossless codecs on real image data sets: one table of bits per
//! dimension and MB/s (create and extract), every tool measured in the same run.
//!
//!     cargo build --release && cargo run --release --example bench_datasets -- [SET...] [--quick]
//!
//! SET is `mnist` (MNIST test split, 10,000 images), `cifar` (cifar10-sample, 2,000), `photos`
//! (photos-eval, 18) or `grey` (photos-eval converted to grey as Pillow's `convert('L')` does,
//! written by this benchmark); default all four. The data come from ../shared/data, which only
//! the project's machines have: without it the benchmark says so and exits with status 2.
//! Tools: optipng, cwebp/dwebp, cjxl/djxl, gzip, bzip2, xz, zstd (Debian: `apt-get install optipng
//! webp libjxl-tools xz-utils bzip2 zstd`); a missing tool is reported and its rows skipped.
//! Per-image codecs run on 2 worker threads, as bsar does on this 2-core machine.
//! `--quick` skips JPEG-XL effort 9 (slow on full-size photos); `--bsar-only` runs only the bsar
//! rows (for a quick rerun after a codec change).
//! `--model NAME` adds a second bsar row that uses that model (`bsar create --model NAME`).
//! The `bsar` row is the default archive, every PNG restored byte for byte; the `bsar
//! --pixels-only` row restores pixels only: their difference is the cost of byte exactness.
//! JPEG sets are measured by `bench_jpeg`.
//! Each table also has a row for each competing shipped model alone (every patch by bits-back, in process:
//! the model's coding cost on the set) and one for bsar's context code alone (spec/context.md), run in-process
//! over the same images in chunks of 512 as the archive codes small images: its exact rate (sum of
//! -log2(freq / 2^20) over the samples, no container, no bits-back) and its speed on one thread
//! (create: model and intervals; extract: model and search).

#[path = "shared/pillow_grey.rs"]
mod pillow;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Set {
    name: &'static str,
    label: String,
    /// Image files (PNG) written or found for the per-image tools and for bsar.
    files: Vec<PathBuf>,
    /// Raw samples, all images concatenated, for the byte-stream archivers.
    raw: PathBuf,
    samples: u64,
}

struct Row {
    tool: String,
    bytes: u64,
    create_s: f64,
    extract_s: Option<f64>,
}

fn shared_data() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = here.join("../shared/data");
    d.is_dir().then_some(d)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn");
    if !out.status.success() {
        panic!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr));
    }
}

fn decode_png(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    buf
}

fn write_png(path: &Path, w: u32, h: u32, color: png::ColorType, data: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(data).unwrap();
}

fn mnist(data: &Path, work: &Path) -> Set {
    let gz = std::fs::read(data.join("mnist/t10k-images-idx3-ubyte.gz")).unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut bytes)
        .unwrap();
    let n = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let dir = work.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..n {
        let img = &bytes[16 + i * 784..16 + (i + 1) * 784];
        let f = dir.join(format!("{i:05}.png"));
        write_png(&f, 28, 28, png::ColorType::Grayscale, img);
        files.push(f);
    }
    let raw = work.join("mnist.raw");
    std::fs::write(&raw, &bytes[16..16 + n * 784]).unwrap();
    Set {
        name: "mnist",
        label: format!("MNIST test split ({n} images, 28x28 grey)"),
        files,
        raw,
        samples: (n * 784) as u64,
    }
}

fn png_folder(name: &'static str, dir: &Path, what: &str, work: &Path) -> Set {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut raw = Vec::new();
    for f in &files {
        raw.extend(decode_png(f));
    }
    let raw_path = work.join(format!("{name}.raw"));
    std::fs::write(&raw_path, &raw).unwrap();
    let label = format!("{what} ({} images)", files.len());
    Set {
        name,
        label,
        files,
        raw: raw_path,
        samples: raw.len() as u64,
    }
}

/// photos-eval in grey: each RGB sample converted as Pillow's `convert('L')` does,
/// `(19595 R + 38470 G + 7471 B + 0x8000) >> 16`, and written as a grey PNG.
fn grey_folder(dir: &Path, work: &Path) -> Set {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    let out = work.join("grey");
    std::fs::create_dir_all(&out).unwrap();
    let mut files = Vec::new();
    let mut raw = Vec::new();
    for f in &inputs {
        let (w, h, c, px) = decode_png_shape(f);
        assert!(c >= 3, "{}: not RGB", f.display());
        let grey: Vec<u8> = px.chunks_exact(c).map(pillow::pillow_grey).collect();
        let g = out.join(f.file_name().unwrap());
        write_png(&g, w, h, png::ColorType::Grayscale, &grey);
        raw.extend_from_slice(&grey);
        files.push(g);
    }
    let raw_path = work.join("grey.raw");
    std::fs::write(&raw_path, &raw).unwrap();
    Set {
        name: "grey",
        label: format!(
            "photos-eval in grey ({} images, Pillow convert('L'))",
            files.len()
        ),
        files,
        raw: raw_path,
        samples: raw.len() as u64,
    }
}

/// Width, height, samples per pixel and the samples of an 8-bit PNG.
fn decode_png_shape(path: &Path) -> (u32, u32, usize, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let c = info.color_type.samples();
    (info.width, info.height, c, buf)
}

/// A shipped model's held-out nELBO as its JSON records it (`train.heldout_nelbo_bpd`).
fn heldout_nelbo(name: &str) -> Option<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{name}.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    v["train"]["heldout_nelbo_bpd"].as_f64()
}

/// An image's width, height, colour planes (1 or 3) and colour samples.
type Image = (usize, usize, usize, Vec<u8>);

/// Every image of the set, decoded once for the in-process rows.
fn colour_planes(set: &Set) -> Vec<Image> {
    set.files
        .iter()
        .map(|f| {
            let (w, h, c, px) = decode_png_shape(f);
            let colour = if c >= 3 { 3 } else { 1 };
            let px = px
                .chunks_exact(c)
                .flat_map(|p| p[..colour].to_vec())
                .collect();
            (w as usize, h as usize, colour, px)
        })
        .collect()
}

/// A shipped model alone on the set's images: every patch by bits-back (no context code, no
/// patch code, no choice), in chunks of 512 images, one thread, encoding only. What the model
/// itself codes at, initial bits included once per chunk: its coding cost on this set, which is
/// its discretised negative ELBO plus those initial bits. Returns the row and the model's name.
fn models_alone(images: &[Image]) -> Vec<(Row, String)> {
    let colour = images[0].2;
    // Every shipped model that competes for the set's chunks (none supersedes it).
    bsar::shipped::all()
        .unwrap()
        .iter()
        .filter(|e| e.model.config().channels == colour && e.superseded_by.is_none())
        .map(|e| model_alone(images, e))
        .collect()
}

fn model_alone(images: &[Image], entry: &bsar::shipped::Entry) -> (Row, String) {
    use bsar::bitswap::{Planes, Policy, Precisions, Scheme};
    let model: &bsar::model::Model = &entry.model;
    let prec = Precisions {
        pixel: 20,
        latent: 20,
    };
    let (mut bytes, mut create_s) = (0u64, 0f64);
    for chunk in images.chunks(512) {
        let planes: Vec<Planes> = chunk
            .iter()
            .map(|(w, h, c, px)| Planes {
                width: *w,
                height: *h,
                channels: *c,
                samples: px.clone(),
                model: 0,
            })
            .collect();
        let t = Instant::now();
        let stack = bsar::bitswap::encode(
            &[model],
            Scheme::BitSwap,
            prec,
            Policy::BitsBackOnly,
            &planes,
        )
        .unwrap();
        create_s += t.elapsed().as_secs_f64();
        bytes += stack.to_bytes().len() as u64;
    }
    let row = Row {
        tool: format!(
            "bsar model {} alone: every patch by bits-back (no container, 1 thread)",
            entry.name
        ),
        bytes,
        create_s,
        extract_s: None,
    };
    (row, entry.name.to_string())
}

/// The context code alone over the set's images, in chunks of 512 (`bsar create`'s default
/// `--chunk-images`; its `--chunk-pixels` ends chunks of larger images sooner), colour planes only: its exact coded size and its one-thread times.
fn context_code(images: &[Image]) -> Row {
    use bsar::context::{ContextModel, ImageCoder, Version};
    const P: u32 = 20;
    let (mut bits, mut create_s, mut extract_s) = (0f64, 0f64, 0f64);
    for chunk in images.chunks(512) {
        let t = Instant::now();
        let mut model = ContextModel::new(Version::V4);
        let mut intervals = Vec::new();
        for (w, h, c, px) in chunk {
            // The patch grid of the image's model: 32 for RGB, 28 for grey (the shipped ones).
            let patch = if *c == 3 { 32 } else { 28 };
            let mut coder = ImageCoder::new(*w, *h, *c, patch, P);
            let mut img = px.clone();
            coder.code_image(&mut model, &mut img, |d, v| {
                intervals.push(d.interval(v));
                v
            });
        }
        create_s += t.elapsed().as_secs_f64();
        bits += intervals
            .iter()
            .map(|&(_, f)| P as f64 - (f as f64).log2())
            .sum::<f64>();
        let t = Instant::now();
        let mut model = ContextModel::new(Version::V4);
        let mut it = intervals.iter();
        for (w, h, c, px) in chunk {
            let patch = if *c == 3 { 32 } else { 28 };
            let mut coder = ImageCoder::new(*w, *h, *c, patch, P);
            let mut img = vec![0u8; px.len()];
            coder.code_image(&mut model, &mut img, |d, _| d.find(it.next().unwrap().0).0);
            assert_eq!(&img, px, "the context code decodes what it coded");
        }
        extract_s += t.elapsed().as_secs_f64();
    }
    Row {
        tool: "bsar context code alone (no container, 1 thread)".into(),
        bytes: (bits / 8.0).ceil() as u64,
        create_s,
        extract_s: Some(extract_s),
    }
}

/// Runs `job(i)` for every file on 2 threads; returns the wall time.
fn per_file(n: usize, job: impl Fn(usize) + Sync) -> f64 {
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                job(i);
            });
        }
    });
    t.elapsed().as_secs_f64()
}

fn image_codec(
    set: &Set,
    work: &Path,
    tool: &str,
    ext: &str,
    enc: &(dyn Fn(&Path, &Path) -> Command + Sync),
    dec: Option<&(dyn Fn(&Path, &Path) -> Command + Sync)>,
) -> Row {
    let dir = work.join(format!("{}-{}", set.name, tool.replace(' ', "_")));
    let back = dir.join("back");
    std::fs::create_dir_all(&back).unwrap();
    let out = |i: usize| dir.join(format!("{i:05}.{ext}"));
    let create_s = per_file(set.files.len(), |i| run(&mut enc(&set.files[i], &out(i))));
    let bytes = (0..set.files.len())
        .map(|i| std::fs::metadata(out(i)).unwrap().len())
        .sum();
    let extract_s = dec.map(|dec| {
        per_file(set.files.len(), |i| {
            run(&mut dec(&out(i), &back.join(format!("{i:05}.png"))))
        })
    });
    Row {
        tool: tool.into(),
        bytes,
        create_s,
        extract_s,
    }
}

fn stream_codec(set: &Set, work: &Path, tool: &str, args: &[&str], dargs: &[&str]) -> Row {
    let out = work.join(format!("{}.{}", set.name, tool.split(' ').next().unwrap()));
    let t = Instant::now();
    let file = std::fs::File::create(&out).unwrap();
    let status = Command::new(tool.split(' ').next().unwrap())
        .args(args)
        .arg("-c")
        .arg(&set.raw)
        .stdout(file)
        .status()
        .unwrap();
    assert!(status.success(), "{tool} failed");
    let create_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let status = Command::new(tool.split(' ').next().unwrap())
        .args(dargs)
        .arg("-c")
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{tool} -d failed");
    Row {
        tool: tool.into(),
        bytes: std::fs::metadata(&out).unwrap().len(),
        create_s,
        extract_s: Some(t.elapsed().as_secs_f64()),
    }
}

fn bsar(set: &Set, work: &Path, bin: &Path, extra: &[String]) -> Row {
    let dir = set.files[0].parent().unwrap();
    let archive = work.join(format!("{}.bsar", set.name));
    let _ = std::fs::remove_file(&archive);
    let t = Instant::now();
    // Store the folder itself, as a user would: by its name, from its parent.
    let (parent, name) = (dir.parent().unwrap(), dir.file_name().unwrap());
    run(Command::new(bin)
        .current_dir(parent)
        .arg("create")
        .args(extra)
        .arg(&archive)
        .arg(name));
    let create_s = t.elapsed().as_secs_f64();
    let back = work.join(format!("{}-bsar-back", set.name));
    let _ = std::fs::remove_dir_all(&back);
    std::fs::create_dir_all(&back).unwrap();
    let t = Instant::now();
    run(Command::new(bin)
        .arg("extract")
        .arg(&archive)
        .arg("-C")
        .arg(&back));
    let extract_s = t.elapsed().as_secs_f64();
    let label = if extra.is_empty() {
        "bsar".to_string()
    } else {
        format!("bsar {}", extra.join(" "))
    };
    Row {
        tool: label,
        bytes: std::fs::metadata(&archive).unwrap().len(),
        create_s,
        extract_s: Some(extract_s),
    }
}

/// The patches of `archive`'s Bit-Swap chunks by mode (every chunk decoded once more, in
/// process, with the shipped models).
fn modes(archive: &Path) -> bsar::bitswap::ModeCounts {
    use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
    let data = std::fs::read(archive).unwrap();
    let a = bsar::archive::Archive::parse(&data).unwrap();
    let models = bsar::shipped::all()
        .unwrap()
        .iter()
        .map(|e| e.model.clone())
        .collect();
    let codec = BitswapCodec::new(models, bsar::bitswap::Scheme::BitSwap, DEFAULT_PRECISIONS);
    let mut counts = bsar::bitswap::ModeCounts::default();
    for ci in 0..a.chunk_count() {
        if a.chunk_codec(ci) == bsar::codec::CODEC_BITSWAP {
            let bytes = a.chunk_bytes(ci).unwrap();
            counts.add(codec.mode_counts(bytes, &a.shapes(ci)).unwrap());
        }
    }
    counts
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let bsar_only = args.iter().any(|a| a == "--bsar-only");
    let mut bsar_extra = Vec::new();
    if let Some(i) = args.iter().position(|a| a == "--model") {
        bsar_extra = vec!["--model".to_string(), args[i + 1].clone()];
    }
    let sets: Vec<&str> = args
        .iter()
        .filter(|a| ["mnist", "cifar", "photos", "grey"].contains(&a.as_str()))
        .map(|s| s.as_str())
        .collect();
    let sets = if sets.is_empty() {
        vec!["mnist", "cifar", "photos", "grey"]
    } else {
        sets
    };
    let Some(data) = shared_data() else {
        eprintln!("bench_datasets: SKIPPED: ../shared/data is not here (only the project's machines have the data sets)");
        std::process::exit(2);
    };
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/bsar");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let date = String::from_utf8(
        Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    println!(
        "bsar benchmark, {} on {} cores ({})",
        date.trim(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::ARCH
    );
    for name in sets {
        let set = match name {
            "mnist" => mnist(&data, work),
            "cifar" => png_folder(
                "cifar",
                &data.join("cifar10-sample"),
                "cifar10-sample",
                work,
            ),
            "grey" => grey_folder(&data.join("photos-eval"), work),
            _ => png_folder("photos", &data.join("photos-eval"), "photos-eval", work),
        };
        // The default archive gives every PNG back byte for byte; `--pixels-only` only its
        // pixels: the difference is what byte exactness costs.
        let default = bsar(&set, work, &bin, &[]);
        let m = modes(&work.join(format!("{}.bsar", set.name)));
        let mut rows = vec![
            default,
            bsar(&set, work, &bin, &["--pixels-only".to_string()]),
        ];
        let images = colour_planes(&set);
        rows.push(context_code(&images));
        let alone = models_alone(&images);
        drop(images);
        let model_names: Vec<String> = alone.iter().map(|(_, n)| n.clone()).collect();
        rows.extend(alone.into_iter().map(|(r, _)| r));
        if !bsar_extra.is_empty() {
            rows.push(bsar(&set, work, &bin, &bsar_extra));
        }
        if have("optipng") && !bsar_only {
            rows.push(image_codec(
                &set,
                work,
                "PNG (optipng -o7)",
                "png",
                &|i, o| {
                    let mut c = Command::new("optipng");
                    c.args(["-quiet", "-o7", "-strip", "all", "-out"])
                        .arg(o)
                        .arg(i);
                    c
                },
                None,
            ));
        }
        if have("cwebp") && !bsar_only {
            rows.push(image_codec(
                &set,
                work,
                "WebP (-lossless -z 9 -exact)",
                "webp",
                &|i, o| {
                    let mut c = Command::new("cwebp");
                    c.args(["-quiet", "-lossless", "-z", "9", "-exact", "-mt"])
                        .arg(i)
                        .arg("-o")
                        .arg(o);
                    c
                },
                Some(&|i, o| {
                    let mut c = Command::new("dwebp");
                    c.arg("-quiet").arg(i).arg("-o").arg(o);
                    c
                }),
            ));
        }
        if have("cjxl") && !bsar_only {
            let efforts: &[&str] = if quick { &["7"] } else { &["7", "9"] };
            for e in efforts {
                rows.push(image_codec(
                    &set,
                    work,
                    &format!("JPEG-XL (-d 0 -e {e})"),
                    "jxl",
                    &|i, o| {
                        let mut c = Command::new("cjxl");
                        c.args(["-d", "0", "-e", e, "--quiet"]).arg(i).arg(o);
                        c
                    },
                    Some(&|i, o| {
                        let mut c = Command::new("djxl");
                        c.arg(i).arg(o).arg("--quiet");
                        c
                    }),
                ));
            }
        }
        for (tool, a, d) in [
            ("gzip", vec!["-9"], vec!["-d"]),
            ("bzip2", vec!["-9"], vec!["-d"]),
            ("xz", vec!["-9e", "-T1"], vec!["-d"]),
            ("zstd", vec!["-19", "-q"], vec!["-d", "-q"]),
        ] {
            if have(tool) && !bsar_only {
                let label = format!("{tool} {} (raw samples)", a[0]);
                let mut row = stream_codec(&set, work, tool, &a, &d);
                row.tool = label;
                rows.push(row);
            }
        }
        let mb = set.samples as f64 / 1e6;
        println!(
            "\n{}: {} samples ({:.2} MB raw)",
            set.label, set.samples, mb
        );
        let share = |n: u64| 100.0 * n as f64 / m.total().max(1) as f64;
        println!(
            "patches of the default bsar archive: {} in all; bits-back {:.1}%, context code {:.1}%, \
             predictive patch code {:.1}%",
            m.total(),
            share(m.bits_back),
            share(m.context),
            share(m.patch)
        );
        for model_name in &model_names {
            if let Some(nelbo) = heldout_nelbo(model_name) {
                println!("{model_name}: held-out nELBO {nelbo} bits/dim on its training data's held-out part (its JSON)");
            }
        }
        println!("| tool | bytes | bits/dim | create MB/s | extract MB/s |");
        println!("|---|---:|---:|---:|---:|");
        for r in &rows {
            let ext = r
                .extract_s
                .map(|s| format!("{:.2}", mb / s))
                .unwrap_or_else(|| "-".into());
            println!(
                "| {} | {} | {:.3} | {:.2} | {} |",
                r.tool,
                r.bytes,
                r.bytes as f64 * 8.0 / set.samples as f64,
                mb / r.create_s,
                ext
            );
        }
    }
}
