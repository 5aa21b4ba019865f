//! The Bit-Swap image path through the real binary and the shipped models: a small folder of
//! PNG (every 8-bit colour type, odd sizes, ancillary chunks), a palette PNG, PNM, an image bsar
//! must store as bytes (16-bit) and a text file. Extraction gives PNM and the palette PNG back
//! byte for byte and the other PNGs pixel for pixel with every ancillary chunk; archives do not depend on threads or the SIMD path;
//! damage to a Bit-Swap chunk is reported on one line naming the chunk.
//!
//! Images are kept small: the shipped RGB model takes about 20 ms per 32x32 patch.

mod common;
mod model_support;
#[path = "../examples/shared/pillow_grey.rs"]
mod pillow;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// xorshift-perturbed smooth gradient, `channels` samples per pixel; alpha (channel 1 of grey+alpha,
/// 3 of RGBA) is a different ramp so it varies.
fn pixels(w: u32, h: u32, channels: u8, seed: u64) -> Vec<u8> {
    let n = (w * h) as usize;
    let jitter = noise(n * channels as usize, seed);
    let mut out = Vec::with_capacity(n * channels as usize);
    for i in 0..n {
        let (x, y) = ((i as u32 % w) as i32, (i as u32 / w) as i32);
        for c in 0..channels as usize {
            let alpha = (channels == 2 && c == 1) || (channels == 4 && c == 3);
            let v = if alpha {
                (x * 13 + y * 7) % 256
            } else {
                60 + x * 120 / w as i32
                    + y * 60 / h as i32
                    + 10 * c as i32
                    + (jitter[i * channels as usize + c] % 9) as i32
                    - 4
            };
            out.push(v.clamp(0, 255) as u8);
        }
    }
    out
}

fn colour(channels: u8) -> png::ColorType {
    match channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    }
}

fn write_png(path: &Path, w: u32, h: u32, channels: u8, seed: u64, text: Option<(&str, &str)>) {
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, w, h);
        enc.set_color(colour(channels));
        enc.set_depth(png::BitDepth::Eight);
        if let Some((k, v)) = text {
            enc.add_text_chunk(k.into(), v.into()).unwrap();
        }
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&pixels(w, h, channels, seed)).unwrap();
    }
    fs::write(path, bytes).unwrap();
}

/// A raw PNG chunk (length, type, data, CRC).
fn raw_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    c.extend_from_slice(&h.finalize().to_be_bytes());
    c
}

/// The chunks of a PNG file other than IHDR, IDAT and IEND, each with whether it came before
/// the image data.
fn ancillary_chunks(bytes: &[u8]) -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 8;
    let mut seen_idat = false;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let end = pos + 12 + len;
        match kind {
            b"IDAT" => seen_idat = true,
            b"IHDR" | b"IEND" => {}
            _ => out.push((!seen_idat, bytes[pos..end].to_vec())),
        }
        pos = end;
    }
    out
}

/// Decodes a PNG with no transformations: (width, height, colour type, bit depth, samples).
fn png_pixels(bytes: &[u8]) -> (u32, u32, png::ColorType, png::BitDepth, Vec<u8>) {
    let mut d = png::Decoder::new(bytes);
    d.set_transformations(png::Transformations::IDENTITY);
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let f = r.next_frame(&mut buf).unwrap();
    buf.truncate(f.buffer_size());
    (f.width, f.height, f.color_type, f.bit_depth, buf)
}

/// Files that must come back byte for byte, and PNGs that must come back pixel for pixel.
struct Folder {
    exact: Vec<&'static str>,
    pixel: Vec<&'static str>,
    images: Vec<&'static str>,
    fallback: Vec<&'static str>,
}

fn make_folder(root: &Path) -> Folder {
    let d = root.join("data");
    fs::create_dir_all(&d).unwrap();
    write_png(&d.join("grey.png"), 12, 10, 1, 1, None);
    write_png(&d.join("grey-alpha.png"), 9, 7, 2, 2, None);
    write_png(&d.join("rgb-33x35.png"), 33, 35, 3, 3, None);
    write_png(&d.join("rgba.png"), 17, 5, 4, 4, None);
    write_png(&d.join("one.png"), 1, 1, 3, 5, None);
    write_png(&d.join("tall.png"), 1, 40, 1, 6, None);
    // Ancillary chunks before the image data (tEXt from the encoder) and after it (spliced in).
    write_png(
        &d.join("text.png"),
        8,
        8,
        3,
        7,
        Some(("Comment", "kept by bsar")),
    );
    let mut t = fs::read(d.join("text.png")).unwrap();
    let iend = t.len() - 12;
    t.splice(
        iend..iend,
        raw_chunk(b"tEXt", b"Author\0after the image data"),
    );
    fs::write(d.join("text.png"), t).unwrap();
    // PNM with comments: restored byte for byte.
    let mut pgm = b"P5\n# a comment\n10 6\n# another\n255\n".to_vec();
    pgm.extend(pixels(10, 6, 1, 8));
    fs::write(d.join("grey.pgm"), pgm).unwrap();
    let mut ppm = b"P6 # rgb\n7 9 255\n".to_vec();
    ppm.extend(pixels(7, 9, 3, 9));
    ppm.extend_from_slice(b"trailing bytes");
    fs::write(d.join("rgb.ppm"), ppm).unwrap();
    // A 16-bit PNG goes to the deep-image codec (codec 4), a palette PNG is coded (its
    // indices); both are rebuilt byte for byte.
    let mut deep = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut deep, 15, 12);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Sixteen);
        let mut wr = enc.write_header().unwrap();
        let ramp: Vec<u8> = (0..15 * 12u32)
            .flat_map(|i| ((i % 15 * 3000 + i / 15 * 1100 + i * 7 % 13) as u16).to_be_bytes())
            .collect();
        wr.write_image_data(&ramp).unwrap();
    }
    fs::write(d.join("deep16.png"), deep).unwrap();
    let mut pal = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut pal, 6, 6);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(vec![0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&(0..36).map(|i| (i % 4) as u8).collect::<Vec<u8>>())
            .unwrap();
    }
    fs::write(d.join("palette.png"), pal).unwrap();
    fs::write(d.join("notes.txt"), "labels: cat, dog\n".repeat(20)).unwrap();
    Folder {
        exact: vec![
            "grey.pgm",
            "rgb.ppm",
            "deep16.png",
            "palette.png",
            "notes.txt",
        ],
        pixel: vec![
            "grey.png",
            "grey-alpha.png",
            "rgb-33x35.png",
            "rgba.png",
            "one.png",
            "tall.png",
            "text.png",
        ],
        images: vec![
            "grey.png",
            "grey-alpha.png",
            "rgb-33x35.png",
            "rgba.png",
            "one.png",
            "tall.png",
            "text.png",
            "grey.pgm",
            "rgb.ppm",
            "palette.png",
            "deep16.png",
        ],
        fallback: vec!["notes.txt"],
    }
}

fn assert_extracted(root: &Path, out: &Path, f: &Folder) {
    for name in &f.exact {
        let (a, b) = (root.join("data").join(name), out.join("data").join(name));
        assert!(
            fs::read(&a).unwrap() == fs::read(&b).unwrap(),
            "{name} is not byte-identical"
        );
    }
    for name in &f.pixel {
        let a = fs::read(root.join("data").join(name)).unwrap();
        let b = fs::read(out.join("data").join(name)).unwrap();
        assert_eq!(png_pixels(&a), png_pixels(&b), "{name}: pixels differ");
        assert_eq!(
            ancillary_chunks(&a),
            ancillary_chunks(&b),
            "{name}: ancillary chunks differ"
        );
    }
    let text = ancillary_chunks(&fs::read(out.join("data/text.png")).unwrap());
    assert_eq!(text.len(), 2, "text.png keeps both tEXt chunks");
    assert!(
        text[0].0 && !text[1].0,
        "one before the image data, one after"
    );
}

fn extract(root: &Path, archive: &str, dir: &str) -> std::path::PathBuf {
    let out = root.join(dir);
    fs::create_dir_all(&out).unwrap();
    ok(root, &["extract", archive, "-C", dir, "-q"]);
    out
}

#[test]
fn mixed_folder_round_trips_and_lists_its_codecs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let f = make_folder(root);
    ok(root, &["create", "a.bsar", "data", "-q"]);
    ok(root, &["verify", "a.bsar", "-q"]);
    let out = extract(root, "a.bsar", "out");
    assert_extracted(root, &out, &f);

    let listing = String::from_utf8(ok(root, &["list", "-l", "a.bsar"]).stdout).unwrap();
    for name in f.images.iter().chain(&f.fallback) {
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!("data/{name}")))
            .unwrap_or_else(|| panic!("{name} not listed:\n{listing}"));
        let codec = line.split_whitespace().nth(5).unwrap();
        // '+' marks members restored byte-identical by rebuilding the file (PNGs, by default).
        let want = if !f.images.contains(name) {
            "zstd"
        } else if name.starts_with("deep") {
            "deep+"
        } else if name.ends_with(".png") {
            "bitswap+"
        } else {
            "bitswap"
        };
        assert_eq!(codec, want, "{line}");
    }
}

#[test]
fn bbans_round_trips_and_differs_from_bitswap() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let f = make_folder(root);
    ok(
        root,
        &["create", "b.bsar", "data", "--scheme", "bbans", "-q"],
    );
    ok(
        root,
        &["create", "s.bsar", "data", "--scheme", "bitswap", "-q"],
    );
    ok(root, &["verify", "b.bsar", "-q"]);
    let out = extract(root, "b.bsar", "out");
    assert_extracted(root, &out, &f);
    assert_ne!(
        fs::read(root.join("b.bsar")).unwrap(),
        fs::read(root.join("s.bsar")).unwrap()
    );
}

#[test]
fn archive_bytes_do_not_depend_on_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    make_folder(root);
    // Several Bit-Swap chunks, so that threads really code chunks side by side.
    for j in ["1", "2", "3"] {
        let name = format!("j{j}.bsar");
        ok(
            root,
            &[
                "create",
                &name,
                "data",
                "-q",
                "--chunk-images",
                "2",
                "-j",
                j,
            ],
        );
    }
    let j1 = fs::read(root.join("j1.bsar")).unwrap();
    assert!(chunk_table(&j1).iter().filter(|c| c.2 == 2).count() >= 4);
    for j in ["2", "3"] {
        assert!(
            j1 == fs::read(root.join(format!("j{j}.bsar"))).unwrap(),
            "-j 1 and -j {j} differ"
        );
    }
}

/// Runs bsar with the scalar kernels forced (the engine reads BSAR_FORCE_SCALAR once per process,
/// so only a subprocess can switch paths).
fn scalar(root: &Path, args: &[&str]) {
    let out = Command::new(BIN)
        .args(args)
        .env("BSAR_FORCE_SCALAR", "1")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scalar bsar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn archive_bytes_do_not_depend_on_the_simd_path() {
    // The scalar kernels are much slower than the SIMD ones (seconds per patch on this machine's
    // shared cores): two one-patch images, one per shipped default model.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("small")).unwrap();
    write_png(&root.join("small/rgba.png"), 9, 7, 4, 11, None);
    let mut pgm = b"P5\n6 5\n255\n".to_vec();
    pgm.extend(pixels(6, 5, 1, 12));
    fs::write(root.join("small/grey.pgm"), pgm).unwrap();
    ok(root, &["create", "simd.bsar", "small", "-q"]);
    scalar(root, &["create", "scalar.bsar", "small", "-q"]);
    let simd = fs::read(root.join("simd.bsar")).unwrap();
    assert_eq!(chunk_table(&simd).iter().filter(|c| c.2 == 2).count(), 1);
    assert!(
        simd == fs::read(root.join("scalar.bsar")).unwrap(),
        "BSAR_FORCE_SCALAR=1 changes the archive"
    );
    // The scalar path decodes what the SIMD path encoded, bit for bit (verify checks every CRC).
    scalar(root, &["verify", "simd.bsar", "-q"]);
}

#[test]
fn a_damaged_bitswap_chunk_fails_verify_naming_the_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    make_folder(root);
    ok(
        root,
        &["create", "a.bsar", "data", "-q", "--chunk-images", "4"],
    );
    let good = fs::read(root.join("a.bsar")).unwrap();
    let chunks = chunk_table(&good);
    let bitswap: Vec<usize> = (0..chunks.len()).filter(|&i| chunks[i].2 == 2).collect();
    assert!(bitswap.len() >= 2, "{chunks:?}");
    for &ci in &bitswap {
        let (off, len, _) = chunks[ci];
        // The header, the middle and the last byte of the coded stream.
        for at in [off + 1, off + len / 2, off + len - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            fs::write(root.join("bad.bsar"), &bad).unwrap();
            let err = fails_damaged(root, &["verify", "bad.bsar", "-q"]);
            assert!(
                err.contains(&format!("chunk {ci} ")),
                "byte {at} of chunk {ci}: {err}"
            );
            // Extraction reports it too (tests/trust.rs checks the other members come back).
            let _ = fs::remove_dir_all(root.join("x"));
            fs::create_dir_all(root.join("x")).unwrap();
            let err = fails_damaged(root, &["extract", "bad.bsar", "-C", "x", "-q"]);
            assert!(err.contains(&format!("chunk {ci} ")), "{err}");
        }
    }
}

#[test]
fn models_lists_the_seven_shipped_models() {
    let tmp = tempfile::tempdir().unwrap();
    let out = String::from_utf8(ok(tmp.path(), &["models"]).stdout).unwrap();
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 7, "{out}");
    for (name, channels) in [
        ("gray-photos", "1"),
        ("rgb-photos", "3"),
        ("rgb-fast", "3"),
        ("gray-mnist", "1"),
        ("gray-mnist-ctx", "1"),
        ("gray-mnist-ctx2", "1"),
        ("gray-mnist-ctx3", "1"),
    ] {
        let row = rows
            .iter()
            .find(|r| r.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name}: {out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1].len(), 16, "id column of {row}");
        assert!(cols[1].bytes().all(|b| b.is_ascii_hexdigit()), "{row}");
        assert_eq!(cols[2], channels, "{row}");
        // Models kept only to read old archives say so; `create` does not offer them.
        let superseded = matches!(name, "gray-mnist" | "gray-mnist-ctx" | "gray-mnist-ctx2");
        assert_eq!(row.contains("superseded by"), superseded, "{row}");
    }
}

#[test]
fn another_rgb_model_round_trips_and_an_unknown_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let f = make_folder(root);
    // The default RGB model is rgb-fast; rgb-photos is the other one.
    ok(
        root,
        &[
            "create",
            "photos.bsar",
            "data",
            "-q",
            "--model",
            "rgb-photos",
        ],
    );
    ok(root, &["create", "fast.bsar", "data", "-q"]);
    // Compare without assert_ne!, whose message would print both archives.
    assert!(
        fs::read(root.join("fast.bsar")).unwrap() != fs::read(root.join("photos.bsar")).unwrap(),
        "--model rgb-photos made the same archive as the default model"
    );
    let out = extract(root, "photos.bsar", "out");
    assert_extracted(root, &out, &f);
    let err = fails(
        root,
        &["create", "x.bsar", "data", "--model", "no-such-model"],
    );
    assert!(err.contains("no-such-model"), "{err}");
    assert!(!root.join("x.bsar").exists());
}

/// The first `n` MNIST training digits (28x28 grey), from ../shared/data, which only the
/// project's machines have.
fn mnist_digits(n: usize) -> Option<Vec<Vec<u8>>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/mnist/train-images-idx3-ubyte.gz");
    let gz = fs::read(path).ok()?;
    let mut idx = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut idx).ok()?;
    Some(
        idx[16..16 + n * 784]
            .chunks(784)
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

/// Writes `images` (width, height, channels, samples) as PNG files `0.png`, `1.png`, ... in `dir`.
fn write_pngs(dir: &Path, images: &[(u32, u32, u8, Vec<u8>)]) {
    fs::create_dir_all(dir).unwrap();
    for (i, (w, h, channels, px)) in images.iter().enumerate() {
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, *w, *h);
            enc.set_color(colour(*channels));
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header().unwrap().write_image_data(px).unwrap();
        }
        fs::write(dir.join(format!("{i}.png")), bytes).unwrap();
    }
}

/// The encoder chooses each Bit-Swap chunk's version (spec/bitswap.md 3.4): where no patch
/// tries bits-back (smooth colour images, which the context code codes for almost nothing),
/// version 4; where the sample decision has bits-back pay (MNIST digits under the digit model),
/// version 3, whose context code is cheaper to run beside the nets. Both come back byte for
/// byte. (Clean synthetic strokes do not do for digits: the context code beats the model on
/// them.)
#[test]
fn the_chunk_version_follows_the_sample_decision() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let smooth: Vec<(u32, u32, u8, Vec<u8>)> =
        (0..3).map(|i| (40, 33, 3, pixels(40, 33, 3, i))).collect();
    let mut sets = vec![("smooth", smooth, 4u8)];
    match mnist_digits(300) {
        Some(d) => sets.push(("digits", d.into_iter().map(|p| (28, 28, 1, p)).collect(), 3)),
        None => eprintln!("SKIPPED the digits half: ../shared/data/mnist is not here"),
    }
    for (dir, images, want) in sets {
        write_pngs(&root.join(dir), &images);
        let archive = format!("{dir}.bsar");
        ok(root, &["create", &archive, dir, "-q"]);
        let bytes = fs::read(root.join(&archive)).unwrap();
        let versions: Vec<u8> = chunk_table(&bytes)
            .iter()
            .filter(|c| c.2 == 2)
            .map(|&(off, _, _)| bytes[off])
            .collect();
        assert!(
            !versions.is_empty() && versions.iter().all(|&v| v == want),
            "{dir}: {versions:?}"
        );
        let out = extract(root, &archive, &format!("x-{dir}"));
        for i in 0..images.len() {
            let name = format!("{i}.png");
            let got = fs::read(out.join(dir).join(&name)).unwrap();
            assert!(
                got == fs::read(root.join(dir).join(&name)).unwrap(),
                "{dir}/{name}"
            );
        }
    }
}

/// Model choice by cost (issue #13): by default every shipped model of an image's channel count
/// that no other supersedes codes a sample of each chunk, and the chunk then has the very bytes
/// it has when the model kept is the only one (`--model`). On MNIST digits the default digit
/// model is kept, and its archive must be the smallest of the digit models' (the superseded ones
/// included, named by `--model`). Where no model pays (smooth colour images, which the context
/// code codes for almost nothing), the default model keeps its place.
#[test]
fn each_chunk_is_coded_by_the_shipped_model_that_costs_least() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let create = |dir: &str, name: &str, model: Option<&str>| create_with(root, dir, name, model);
    let smooth: Vec<(u32, u32, u8, Vec<u8>)> =
        (0..3).map(|i| (40, 33, 3, pixels(40, 33, 3, i))).collect();
    write_pngs(&root.join("smooth"), &smooth);
    let auto = create("smooth", "smooth.bsar", None);
    assert!(auto == create("smooth", "smooth-fast.bsar", Some("rgb-fast")));
    assert!(auto != create("smooth", "smooth-photos.bsar", Some("rgb-photos")));

    let Some(digits) = mnist_digits(200) else {
        eprintln!("SKIPPED the digits half: ../shared/data/mnist is not here");
        return;
    };
    let digits: Vec<_> = digits.into_iter().map(|p| (28, 28, 1, p)).collect();
    write_pngs(&root.join("digits"), &digits);
    let auto = create("digits", "digits.bsar", None);
    let pinned: Vec<(&str, Vec<u8>)> = [
        "gray-mnist-ctx3",
        "gray-photos",
        "gray-mnist-ctx2",
        "gray-mnist-ctx",
        "gray-mnist",
    ]
    .into_iter()
    .map(|m| (m, create("digits", &format!("{m}.bsar"), Some(m))))
    .collect();
    // The first of the smallest: on a tie the order of preference keeps the earlier model.
    let smallest = pinned.iter().min_by_key(|(_, b)| b.len()).unwrap();
    assert!(auto == smallest.1, "{}", sizes(&auto, &pinned));
    assert_one_pinned_is(&auto, &pinned);
    assert_extracts_byte_for_byte(root, "digits.bsar", "digits", digits.len());
}

/// `bsar create NAME DIR` in `root`, with `--model` where given; the archive's bytes.
fn create_with(root: &Path, dir: &str, name: &str, model: Option<&str>) -> Vec<u8> {
    let mut args = vec!["create", name, dir, "-q"];
    if let Some(m) = model {
        args.extend(["--model", m]);
    }
    ok(root, &args);
    fs::read(root.join(name)).unwrap()
}

fn sizes(auto: &[u8], pinned: &[(&str, Vec<u8>)]) -> String {
    let sizes: Vec<(&str, usize)> = pinned.iter().map(|(m, b)| (*m, b.len())).collect();
    format!("auto {} bytes; pinned {sizes:?}", auto.len())
}

/// The default archive is byte for byte the archive of exactly one model named by `--model`.
fn assert_one_pinned_is(auto: &[u8], pinned: &[(&str, Vec<u8>)]) {
    let same = pinned.iter().filter(|(_, b)| b == auto).count();
    assert!(same == 1, "{}", sizes(auto, pinned));
}

/// Extracting `archive` gives back the `n` files `0.png` .. of `root/dir` byte for byte.
fn assert_extracts_byte_for_byte(root: &Path, archive: &str, dir: &str, n: usize) {
    let out = extract(root, archive, &format!("x-{dir}"));
    for i in 0..n {
        let name = format!("{i}.png");
        assert!(
            fs::read(out.join(dir).join(&name)).unwrap()
                == fs::read(root.join(dir).join(&name)).unwrap(),
            "{dir}/{name}"
        );
    }
}

/// Grey photographs are coded by cost, not by channel count (issue #13): on grey conversions of
/// the photo crops in `tests/fixtures/train-images` (Pillow's `convert('L')`), the default archive is
/// the smallest of the grey models' archives (each model the only one, `--model`: the digit model,
/// which every grey image used to get, and the natural-grey model), and exactly one of them. Where
/// neither model's bits-back pays, the context code codes every patch and the shipped default
/// (the digit model) is only named in the chunk.
#[test]
fn grey_photographs_go_to_whichever_grey_model_costs_least() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let grey: Vec<(u32, u32, u8, Vec<u8>)> = grey_fixture_crops()
        .into_iter()
        .map(|(w, h, px)| (w, h, 1, px))
        .collect();
    assert!(grey.len() >= 8);
    write_pngs(&root.join("grey"), &grey);
    let create = |name: &str, model: Option<&str>| create_with(root, "grey", name, model);
    let auto = create("auto.bsar", None);
    let pinned: Vec<(&str, Vec<u8>)> = ["gray-mnist-ctx3", "gray-photos"]
        .into_iter()
        .map(|m| (m, create(&format!("{m}.bsar"), Some(m))))
        .collect();
    let least = pinned.iter().map(|(_, b)| b.len()).min().unwrap();
    assert!(auto.len() == least, "{}", sizes(&auto, &pinned));
    assert_one_pinned_is(&auto, &pinned);
    assert_extracts_byte_for_byte(root, "auto.bsar", "grey", grey.len());
}

/// The grey conversions of the photo crops in `tests/fixtures/train-images` (Pillow's
/// `convert('L')`, as photos-eval in grey), as (width, height, samples).
fn grey_fixture_crops() -> Vec<(u32, u32, Vec<u8>)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/train-images");
    let mut files: Vec<_> = fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let mut r = png::Decoder::new(std::io::BufReader::new(fs::File::open(f).unwrap()))
                .read_info()
                .unwrap();
            let mut buf = vec![0; r.output_buffer_size()];
            let info = r.next_frame(&mut buf).unwrap();
            assert_eq!(info.color_type, png::ColorType::Rgb, "{f:?}");
            let luma = buf[..info.buffer_size()]
                .chunks_exact(3)
                .map(pillow::pillow_grey)
                .collect();
            (info.width, info.height, luma)
        })
        .collect()
}

/// A grey model with random weights on the digits' 28x28 patch grid: its bits-back never pays.
fn random_digit_grid_model() -> bsar::model::Model {
    let shape = model_support::Shape {
        channels: 1,
        patch: 28,
        latent_layers: 2,
        latent_channels: 1,
        width: 8,
        res_blocks: 1,
        latent_bins: 1024,
    };
    let f = model_support::random_model(shape, 7);
    bsar::model::Model::load(&f.json, &f.safetensors()).unwrap()
}

/// The chunk version by cost (spec/bitswap.md 3.4): a chunk whose sample has bits-back pay is
/// kept as version 3 only where that message is shorter than version 4's with direct codes
/// alone, which is what a model that never pays gets (random weights on the same grid). So on
/// every set the chunk is the shorter of the two, byte for byte: MNIST digits keep version 3
/// (bits-back wins by far there), and a chunk of version 4 is the direct-only one.
#[test]
fn a_chunk_is_the_shorter_of_version_3_with_bits_back_and_version_4_direct() {
    use bsar::bitswap::{encode_chunk, encode_with_code, CpuNets, DirectCode, Planes, Policy};
    use bsar::codec::bitswap::DEFAULT_PRECISIONS;
    use bsar::context::Version;
    let model = |name: &str| bsar::shipped::find(name).unwrap().unwrap().model.clone();
    let random = random_digit_grid_model();
    let planes = |imgs: Vec<(u32, u32, Vec<u8>)>| -> Vec<Planes> {
        imgs.into_iter()
            .map(|(w, h, samples)| Planes {
                width: w as usize,
                height: h as usize,
                channels: 1,
                samples,
                model: 0,
            })
            .collect()
    };
    let mut sets = vec![("grey photo crops", planes(grey_fixture_crops()))];
    match mnist_digits(64) {
        Some(d) => sets.push((
            "digits",
            planes(d.into_iter().map(|p| (28, 28, p)).collect()),
        )),
        None => eprintln!("SKIPPED the digits set: ../shared/data/mnist is not here"),
    }
    let how = (
        bsar::bitswap::Scheme::BitSwap,
        DEFAULT_PRECISIONS,
        Policy::Cheapest,
    );
    let nets = &CpuNets::SINGLE;
    for (what, images) in &sets {
        let direct = encode_chunk(nets, &[&random], how, images, &[], Version::V4).unwrap();
        assert_eq!(direct.code, DirectCode::Context(Version::V4), "{what}");
        let direct = direct.stack.to_bytes();
        for name in ["gray-mnist-ctx3", "gray-photos"] {
            let m = model(name);
            let got = encode_chunk(nets, &[&m], how, images, &[], Version::V4).unwrap();
            let v3 = encode_with_code(
                nets,
                &[&m],
                how.0,
                how.1,
                how.2,
                images,
                DirectCode::Context(Version::V3),
            )
            .unwrap()
            .to_bytes();
            let (got_len, v3_len) = (got.stack.serialized_len(), v3.len());
            eprintln!(
                "{what}, {name}: {got_len} bytes (version 3: {v3_len}, version 4 direct: {})",
                direct.len()
            );
            if v3_len < direct.len() {
                assert_eq!(got.code, DirectCode::Context(Version::V3), "{what}, {name}");
                assert!(got.stack.to_bytes() == v3, "{what}, {name}");
            } else {
                assert_eq!(got.code, DirectCode::Context(Version::V4), "{what}, {name}");
                assert!(got.stack.to_bytes() == direct, "{what}, {name}");
            }
            if *what == "digits" && name == "gray-mnist-ctx3" {
                assert_eq!(got.code, DirectCode::Context(Version::V3));
            }
        }
    }
}

/// The same choice at the codec level, where the order of preference can be turned around: a
/// model that does not pay (random weights, on the digits' 28x28 grid) listed first must give
/// way to one that does, and the chunk is then byte for byte that model's alone; two digit models
/// nearly alike keep the order of preference, whichever comes first (`choice::margin`).
#[test]
fn a_model_that_does_not_pay_gives_way_to_one_that_does() {
    use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
    use bsar::codec::{Codec, Image, Payload};
    use std::sync::Arc;
    let Some(digits) = mnist_digits(64) else {
        eprintln!("SKIPPED: ../shared/data/mnist is not here");
        return;
    };
    let model = |name: &str| bsar::shipped::find(name).unwrap().unwrap().model.clone();
    let (strong, close) = (model("gray-mnist-ctx2"), model("gray-mnist"));
    let random = Arc::new(random_digit_grid_model());
    let items: Vec<Payload> = digits
        .into_iter()
        .map(|pixels| {
            Payload::Image(Image {
                width: 28,
                height: 28,
                channels: 1,
                depth: 8,
                pixels,
            })
        })
        .collect();
    let refs: Vec<&Payload> = items.iter().collect();
    let code = |models: Vec<Arc<bsar::model::Model>>| {
        BitswapCodec::new(models, bsar::bitswap::Scheme::BitSwap, DEFAULT_PRECISIONS)
            .encode_chunk(&refs)
            .unwrap()
    };
    let alone = code(vec![strong.clone()]);
    let random_alone = code(vec![random.clone()]);
    assert!(alone.len() < random_alone.len());
    assert!(code(vec![random.clone(), strong.clone()]) == alone);
    assert!(code(vec![random, close.clone(), strong.clone()]) == code(vec![close.clone()]));
    assert!(code(vec![strong, close]) == alone);
}

/// `--level fast` codes every image chunk as version 3 (the context code without least squares)
/// and other files at zstd level 3, where the default writes version 4 and level 19; `--zstd-level`
/// sets zstd's level alone. Both extract byte for byte, with no flag.
#[test]
fn levels_choose_the_chunk_version_and_the_zstd_level() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let images: Vec<(u32, u32, u8, Vec<u8>)> =
        (0..3).map(|i| (40, 33, 3, pixels(40, 33, 3, i))).collect();
    write_pngs(&root.join("imgs"), &images);
    // Text that zstd's levels 3 and 19 code to different sizes.
    let text: String = (0..4000)
        .map(|i| format!("line {} of {}\n", i * 7 % 1000, i % 13))
        .collect();
    fs::write(root.join("imgs/notes.txt"), &text).unwrap();
    let mut sizes = Vec::new();
    for (name, args, want) in [
        ("fast.bsar", vec!["--level", "fast"], 3u8),
        ("default.bsar", vec![], 4),
        ("zstd3.bsar", vec!["--zstd-level", "3"], 4),
    ] {
        let mut a = vec!["create", name, "imgs", "-q"];
        a.extend(args);
        ok(root, &a);
        let bytes = fs::read(root.join(name)).unwrap();
        let chunks = chunk_table(&bytes);
        let versions: Vec<u8> = chunks
            .iter()
            .filter(|c| c.2 == 2)
            .map(|c| bytes[c.0])
            .collect();
        assert!(
            !versions.is_empty() && versions.iter().all(|&v| v == want),
            "{name}: {versions:?}"
        );
        let text_chunk = chunks.iter().find(|c| c.2 == 1).expect("a zstd chunk");
        sizes.push(text_chunk.1);
        let out = extract(root, name, &format!("x-{name}"));
        assert_same_tree(&root.join("imgs"), &out.join("imgs"));
    }
    // fast and --zstd-level 3 code the text alike, and differently from level 19.
    assert_eq!(sizes[0], sizes[2]);
    assert_ne!(sizes[0], sizes[1]);
    // No level by another name: a usage error (clap's status 2), and no archive.
    let out = bsar(root, &["create", "max.bsar", "imgs", "--level", "max"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("'max'"), "{err}");
    assert!(!root.join("max.bsar").exists());
}

/// An image wider than twice the tile side (spec/bitswap.md 2.1) is coded as tiles: one chunk of
/// version 5, whose bytes do not depend on the thread count, extracted byte for byte on one
/// thread and on several.
#[test]
fn a_large_image_is_one_tiled_chunk_whatever_the_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let side = bsar::codec::tiles::TILE_SIDE;
    let w = 2 * side + 1;
    write_pngs(
        &root.join("big"),
        &[
            (w, 12, 1, pixels(w, 12, 1, 9)),
            (w, 5, 3, pixels(w, 5, 3, 4)),
        ],
    );
    let mut archives = Vec::new();
    for j in ["1", "3"] {
        let name = format!("j{j}.bsar");
        ok(root, &["create", "-j", j, &name, "big", "-q"]);
        archives.push(fs::read(root.join(&name)).unwrap());
        for x in ["1", "2"] {
            let out = root.join(format!("x-{j}-{x}"));
            fs::create_dir_all(&out).unwrap();
            ok(
                root,
                &["extract", "-j", x, &name, "-C", out.to_str().unwrap(), "-q"],
            );
            assert_same_tree(&root.join("big"), &out.join("big"));
        }
        ok(root, &["verify", "-j", "2", &name, "-q"]);
    }
    assert_eq!(archives[0], archives[1], "the archive depends on -j");
    let bytes = &archives[0];
    let versions: Vec<u8> = chunk_table(bytes)
        .iter()
        .filter(|c| c.2 == 2)
        .map(|c| bytes[c.0])
        .collect();
    assert_eq!(versions, vec![5, 5]);
}
