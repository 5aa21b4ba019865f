//! The context code alone (spec/context.md): its rate and speed on folders of PNG images, coded
//! as chunks the way the Bit-Swap stream codes them (patches in raster order, adaptive state
//! carried over the images of a chunk), with no bits-back and no container.
//!
//!     cargo run --release --example context_rate -- [--grey] [--v2] [--v3] [--limit N] [--chunk N] [--patch P] DIR...
//!
//! Prints, per folder: images, samples, bits/dim (exact frequencies: sum of -log2(freq/2^20)),
//! and encode (model + intervals) and decode (model + search) MB/s of samples on one thread.
//! `--v3` also prints the rate of chunk version 3's context code (no least-squares stages).
//! `--v2` also prints the rate of chunk version 2's predictive patch code (patches alone).
//! `--grey` converts RGB images to grey first as Pillow's `convert('L')` does
//! (`(19595 R + 38470 G + 7471 B + 0x8000) >> 16`).

#[path = "shared/pillow_grey.rs"]
mod pillow;

use bsar::bitswap::estimate::predictive_cost;
use bsar::bitswap::Planes;
use bsar::context::{ContextModel, ImageCoder, Version};
use pillow::pillow_grey;
use std::path::PathBuf;
use std::time::Instant;

const PRECISION: u32 = 20;

struct Img {
    w: usize,
    h: usize,
    c: usize,
    px: Vec<u8>,
}

fn load(path: &PathBuf, grey: bool) -> Option<Img> {
    let bytes = std::fs::read(path).ok()?;
    let (r, _) = bsar::imageio::decode(&bytes)?;
    let (w, h, c) = (r.width as usize, r.height as usize, r.channels as usize);
    let colour = if c >= 3 { 3 } else { 1 };
    let mut px = Vec::with_capacity(w * h * colour);
    for p in r.pixels.chunks_exact(c) {
        px.extend_from_slice(&p[..colour]);
    }
    if grey && colour == 3 {
        let g = px.chunks_exact(3).map(pillow_grey).collect();
        return Some(Img { w, h, c: 1, px: g });
    }
    Some(Img {
        w,
        h,
        c: colour,
        px,
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut grey, mut limit, mut chunk, mut patch) = (false, usize::MAX, 256usize, 0usize);
    let mut v2 = false;
    let mut versions = vec![Version::V4];
    let mut dirs = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--grey" => grey = true,
            "--v2" => v2 = true,
            "--v3" => versions = vec![Version::V3, Version::V4],
            "--limit" => limit = args.next().unwrap().parse().unwrap(),
            "--chunk" => chunk = args.next().unwrap().parse().unwrap(),
            "--patch" => patch = args.next().unwrap().parse().unwrap(),
            d => dirs.push(PathBuf::from(d)),
        }
    }
    // The patch grid: `--patch`, or that of the shipped models (28 for grey, 32 for RGB).
    let patch_of = |img: &Img| match (patch, img.c) {
        (0, 1) => 28,
        (0, _) => 32,
        (p, _) => p,
    };
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        files.sort();
        files.truncate(limit);
        let imgs: Vec<Img> = files.iter().filter_map(|f| load(f, grey)).collect();
        let samples: usize = imgs.iter().map(|i| i.px.len()).sum();
        if v2 {
            // The version-2 predictive patch code, for comparison: patches coded alone.
            let mut q16 = 0u64;
            for img in &imgs {
                let planes = Planes {
                    width: img.w,
                    height: img.h,
                    channels: img.c,
                    samples: img.px.clone(),
                    model: 0,
                };
                q16 += predictive_cost(&planes, patch_of(img), PRECISION);
            }
            println!(
                "{} (v2 predictive code): {:.4} bits/dim",
                dir.display(),
                q16 as f64 / 65536.0 / samples as f64
            );
        }
        for version in versions.clone() {
            let (mut bits, mut enc_s, mut dec_s) = (0f64, 0f64, 0f64);
            for group in imgs.chunks(chunk) {
                // Encode: model + intervals.
                let t = Instant::now();
                let mut model = ContextModel::new(version);
                let mut intervals: Vec<(u32, u32)> = Vec::with_capacity(samples);
                for img in group {
                    let mut coder = ImageCoder::new(img.w, img.h, img.c, patch_of(img), PRECISION);
                    let mut px = img.px.clone();
                    coder.code_image(&mut model, &mut px, |d, v| {
                        intervals.push(d.interval(v));
                        v
                    });
                }
                enc_s += t.elapsed().as_secs_f64();
                bits += intervals
                    .iter()
                    .map(|&(_, f)| PRECISION as f64 - (f as f64).log2())
                    .sum::<f64>();
                // Decode: model + search of the value from its start.
                let t = Instant::now();
                let mut model = ContextModel::new(version);
                let mut it = intervals.iter();
                for img in group {
                    let mut coder = ImageCoder::new(img.w, img.h, img.c, patch_of(img), PRECISION);
                    let mut px = vec![0u8; img.px.len()];
                    coder.code_image(&mut model, &mut px, |d, _| {
                        let &(s, _) = it.next().unwrap();
                        d.find(s).0
                    });
                    assert_eq!(px, img.px, "decode mismatch");
                }
                dec_s += t.elapsed().as_secs_f64();
            }
            println!(
            "{}{} (context code {version:?}): {} images, {} samples: {:.4} bits/dim; encode {:.2} MB/s, decode {:.2} MB/s",
            dir.display(),
            if grey { " (grey)" } else { "" },
            imgs.len(),
            samples,
            bits / samples as f64,
            samples as f64 / enc_s / 1e6,
            samples as f64 / dec_s / 1e6
        );
        }
    }
}
