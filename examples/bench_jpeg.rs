//! bsar on JPEG data sets against zstd and xz on the same files: archive size as a share of the
//! input, and create and extract MB/s of input, every tool measured in the same run.
//!
//!     cargo build --release && cargo run --release --example bench_jpeg -- [QUALITY...]
//!
//! Each set is photos-train (309 photographs) and photos-eval (18) from ../shared/data, saved as
//! JPEG by Pillow at QUALITY (default 75 and 95; 4:2:0, standard Huffman tables, as
//! `Image.save(f, quality=Q)` writes). The byte-stream tools compress the files concatenated (a
//! tar without headers). Needs python3 with Pillow, xz and zstd; the data only the project's
//! machines have: without it the benchmark says so and exits with status 2. Every extracted tree
//! is compared with the input, byte for byte.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Row {
    tool: String,
    bytes: u64,
    create_s: f64,
    extract_s: f64,
}

fn run(cmd: &mut Command) {
    let out = cmd.stderr(Stdio::piped()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the set's JPEG files under `dir` with Pillow.
fn make_set(data: &Path, dir: &Path, quality: u32) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let script = format!(
        "import glob, os, sys\nfrom PIL import Image\n\
         for sub in ('photos-train', 'photos-eval'):\n\
         \x20   for f in sorted(glob.glob(os.path.join(sys.argv[1], sub, '*.png'))):\n\
         \x20       out = os.path.join(sys.argv[2], sub + '-' + os.path.basename(f)[:-4] + '.jpg')\n\
         \x20       Image.open(f).convert('RGB').save(out, quality={quality})\n"
    );
    run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(data)
        .arg(dir));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn bsar(bin: &Path, dir: &Path, work: &Path) -> Row {
    let archive = work.join("set.bsar");
    let t = Instant::now();
    run(Command::new(bin)
        .current_dir(dir.parent().unwrap())
        .args(["create", "-q"])
        .arg(&archive)
        .arg(dir.file_name().unwrap()));
    let create_s = t.elapsed().as_secs_f64();
    let back = work.join("back");
    let _ = std::fs::remove_dir_all(&back);
    std::fs::create_dir_all(&back).unwrap();
    let t = Instant::now();
    run(Command::new(bin)
        .args(["extract", "-q"])
        .arg(&archive)
        .arg("-C")
        .arg(&back));
    let extract_s = t.elapsed().as_secs_f64();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let again = back
            .join(dir.file_name().unwrap())
            .join(p.file_name().unwrap());
        assert!(
            std::fs::read(&p).unwrap() == std::fs::read(&again).unwrap(),
            "{} does not come back byte for byte",
            p.display()
        );
    }
    Row {
        tool: "bsar".into(),
        bytes: std::fs::metadata(&archive).unwrap().len(),
        create_s,
        extract_s,
    }
}

fn stream(tool: &str, args: &[&str], joined: &Path, work: &Path) -> Row {
    let out = work.join(format!("set.{tool}"));
    let t = Instant::now();
    run(Command::new(tool)
        .args(args)
        .arg("-c")
        .arg(joined)
        .stdout(std::fs::File::create(&out).unwrap()));
    let create_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    run(Command::new(tool)
        .args(["-d", "-c"])
        .arg(&out)
        .stdout(Stdio::null()));
    Row {
        tool: format!("{tool} {}", args.join(" ")),
        bytes: std::fs::metadata(&out).unwrap().len(),
        create_s,
        extract_s: t.elapsed().as_secs_f64(),
    }
}

fn main() {
    let qualities: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a JPEG quality, 1..=100"))
        .collect();
    let qualities = if qualities.is_empty() {
        vec![75, 95]
    } else {
        qualities
    };
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = here.join("../shared/data");
    if !data.is_dir() {
        eprintln!("bench_jpeg: SKIPPED: ../shared/data is not here (only the project's machines have the data sets)");
        std::process::exit(2);
    }
    let bin = here.join("target/release/bsar");
    assert!(
        bin.exists(),
        "build the release binary first: cargo build --release"
    );
    let tmp = tempfile::tempdir().unwrap();
    println!(
        "bsar JPEG benchmark on {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for q in qualities {
        let work = tmp.path().join(format!("q{q}"));
        let dir = work.join(format!("jpeg-q{q}"));
        let files = make_set(&data, &dir, q);
        let joined = work.join("joined");
        let mut all = Vec::new();
        for f in &files {
            all.extend(std::fs::read(f).unwrap());
        }
        std::fs::write(&joined, &all).unwrap();
        let input = all.len() as f64;
        let rows = [
            bsar(&bin, &dir, &work),
            stream("zstd", &["-19", "-q"], &joined, &work),
            stream("xz", &["-9e", "-T1"], &joined, &work),
        ];
        println!(
            "\nphotos-train + photos-eval as Pillow JPEG quality {q} ({} files, {} bytes)",
            files.len(),
            all.len()
        );
        println!("| tool | bytes | % of input | create MB/s | extract MB/s |");
        println!("|---|---:|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {} | {:.2}% | {:.2} | {:.2} |",
                r.tool,
                r.bytes,
                100.0 * r.bytes as f64 / input,
                input / 1e6 / r.create_s,
                input / 1e6 / r.extract_s
            );
        }
    }
}
