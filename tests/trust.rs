//! Every archive `bsar create` writes reads back whole (issue: create used to succeed and leave
//! archives that bsar itself refused to open), the CLI follows tar's conventions (absolute paths,
//! `-C`, going on past damage), `list -l` shows file sizes, and no image costs more than its file
//! stored with zstd. All through the real binary.

mod common;

use common::{assert_same_tree, bsar, noise, ok};
use std::fs;
use std::path::Path;

/// Creates, lists, verifies and extracts `src` (a directory under `root`), and requires the
/// extracted tree to equal it byte for byte. Returns the `list -l` output.
fn round_trip(root: &Path, src: &str, create_args: &[&str]) -> String {
    let mut args = vec!["create", "-q", "t.bsar", src];
    args.extend_from_slice(create_args);
    ok(root, &args);
    let listing = String::from_utf8(ok(root, &["list", "-l", "t.bsar"]).stdout).unwrap();
    ok(root, &["verify", "-q", "t.bsar"]);
    ok(root, &["extract", "-q", "t.bsar", "-C", "out"]);
    assert_same_tree(&root.join(src), &root.join("out").join(src));
    fs::remove_file(root.join("t.bsar")).unwrap();
    fs::remove_dir_all(root.join("out")).unwrap();
    listing
}

/// A smooth image with a little noise, like a photograph: the image codec beats zstd on it.
fn photo_like(w: usize, h: usize, c: usize, seed: u64) -> Vec<u8> {
    let jitter = noise(w * h * c, seed);
    (0..w * h * c)
        .map(|i| {
            let (x, y, ch) = ((i / c) % w, i / c / w, i % c);
            (40 + x * 120 / w + y * 60 / h + 20 * ch + jitter[i] as usize % 7) as u8
        })
        .collect()
}

fn png(w: u32, h: u32, channels: u8, pixels: &[u8]) -> Vec<u8> {
    let colour = [
        png::ColorType::Grayscale,
        png::ColorType::GrayscaleAlpha,
        png::ColorType::Rgb,
        png::ColorType::Rgba,
    ][channels as usize - 1];
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(colour);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(pixels).unwrap();
    wr.finish().unwrap();
    out
}

fn pgm(header: &[u8], pixels: &[u8], trailer: &[u8]) -> Vec<u8> {
    [header, pixels, trailer].concat()
}

/// The listing's columns for member `path`: (size, stored, codec).
fn listed(listing: &str, path: &str) -> (u64, f64, String) {
    let line = listing
        .lines()
        .find(|l| l.ends_with(&format!(" {path}")))
        .unwrap_or_else(|| panic!("{path} not listed:\n{listing}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        f[2].parse().unwrap(),
        f[3].trim_start_matches('~').parse().unwrap(),
        f[5].trim_end_matches(['*', '+']).to_string(),
    )
}

#[test]
fn headers_the_two_parsers_disagreed_on_now_read_back() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    let px = photo_like(40, 30, 1, 1);
    fs::write(d.join("a.pgm"), pgm(b"P5\x0b40 30\n255\n", &px, b"")).unwrap();
    fs::write(
        d.join("b.pgm"),
        pgm(b"P5\n# comment\r40 30\n255\n", &px, b""),
    )
    .unwrap();
    fs::write(d.join("text.txt"), b"an innocent text file\n").unwrap();
    let listing = round_trip(t.path(), "d", &[]);
    // Both are images to bsar now, with the geometry of their rasters.
    for name in ["d/a.pgm", "d/b.pgm"] {
        let line = listing.lines().find(|l| l.ends_with(name)).unwrap();
        assert!(line.contains("40x30x1"), "{line}");
    }
}

#[test]
fn trailers_past_the_readers_limits_read_back() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    let px = photo_like(16, 16, 1, 2);
    // A trailer over the 16 MiB a wrapper may hold, and a compressible one that made the
    // packed index unpack past the reader's bound.
    let random = noise((16 << 20) + 100, 3);
    fs::write(d.join("big.pgm"), pgm(b"P5\n16 16\n255\n", &px, &random)).unwrap();
    let zeros = vec![0u8; 15 << 20];
    fs::write(d.join("zeros.pgm"), pgm(b"P5\n16 16\n255\n", &px, &zeros)).unwrap();
    fs::write(d.join("text.txt"), b"kept\n").unwrap();
    let listing = round_trip(t.path(), "d", &[]);
    for name in ["d/big.pgm", "d/zeros.pgm"] {
        assert_eq!(listed(&listing, name).2, "zstd", "{listing}");
    }
}

#[test]
fn an_overflowing_header_is_stored_as_bytes() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    // 2^32 x 2^32: the fields wrapped to 0 samples before.
    fs::write(
        d.join("wrap.ppm"),
        b"P6\n4294967296 4294967296\n255\n\x01\x02\x03",
    )
    .unwrap();
    fs::write(
        d.join("max.ppm"),
        b"P6\n4294967295 4294967295\n255\n\x01\x02\x03",
    )
    .unwrap();
    let listing = round_trip(t.path(), "d", &[]);
    for name in ["d/wrap.ppm", "d/max.ppm"] {
        let line = listing.lines().find(|l| l.ends_with(name)).unwrap();
        assert!(line.contains(" zstd ") && !line.contains("x3 "), "{line}");
    }
}

#[test]
fn absolute_paths_lose_their_leading_slash_like_tar() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src/imgs");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f.txt"), b"hello").unwrap();
    let work = t.path().join("work");
    fs::create_dir(&work).unwrap();
    let abs = src.to_str().unwrap();
    let out = ok(&work, &["create", "-q", "a.bsar", abs]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "bsar: removing leading '/' from member names",
        "{err}"
    );
    let names = String::from_utf8(ok(&work, &["list", "a.bsar"]).stdout).unwrap();
    let rel = abs.trim_start_matches('/');
    assert_eq!(names, format!("{rel}\n{rel}/f.txt\n"));
    ok(&work, &["extract", "-q", "a.bsar", "-C", "out"]);
    assert_eq!(
        fs::read(work.join("out").join(rel).join("f.txt")).unwrap(),
        b"hello"
    );
    // '..' stays refused, absolute or not.
    let up = format!("{abs}/../imgs");
    common::fails(&work, &["create", "b.bsar", &up]);
    assert!(!work.join("b.bsar").exists());
}

#[test]
fn create_minus_c_reads_paths_from_a_directory() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("data/imgs")).unwrap();
    fs::write(t.path().join("data/imgs/a.txt"), b"a").unwrap();
    fs::write(t.path().join("data/labels.csv"), b"a,1\n").unwrap();
    ok(
        t.path(),
        &["create", "-q", "-C", "data", "a.bsar", "imgs", "labels.csv"],
    );
    let names = String::from_utf8(ok(t.path(), &["list", "a.bsar"]).stdout).unwrap();
    assert_eq!(names, "imgs\nimgs/a.txt\nlabels.csv\n");
    assert!(
        t.path().join("a.bsar").exists(),
        "the archive is relative to where bsar runs"
    );
    let err = common::fails(t.path(), &["create", "-C", "nowhere", "b.bsar", "imgs"]);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn a_damaged_chunk_costs_only_its_members() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    for (i, name) in ["a.bin", "b.bin", "c.bin"].iter().enumerate() {
        fs::write(d.join(name), noise(6000, i as u64)).unwrap();
    }
    ok(
        t.path(),
        &["create", "-q", "--chunk-size", "4K", "x.bsar", "d"],
    );
    let mut bytes = fs::read(t.path().join("x.bsar")).unwrap();
    let chunk1 = {
        let a = bsar::archive::Archive::parse(&bytes).unwrap();
        assert_eq!(a.index.chunks.len(), 3);
        a.index.chunks[1].clone()
    };
    bytes[(chunk1.offset + chunk1.len / 2) as usize] ^= 0x40;
    fs::write(t.path().join("x.bsar"), &bytes).unwrap();
    for cmd in [
        vec!["extract", "-q", "x.bsar", "-C", "out"],
        vec!["verify", "-q", "x.bsar"],
    ] {
        let out = bsar(t.path(), &cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(
            err.contains("chunk 1") && err.contains("damaged member: d/b.bin"),
            "{err}"
        );
        assert!(!err.contains("a.bin") && !err.contains("c.bin"), "{err}");
        let last = err.lines().last().unwrap();
        assert!(
            last.starts_with("bsar: error: x.bsar: 1 member could not be"),
            "{last}"
        );
    }
    for name in ["a.bin", "c.bin"] {
        assert_eq!(
            fs::read(t.path().join("out/d").join(name)).unwrap(),
            fs::read(d.join(name)).unwrap()
        );
    }
    assert!(!t.path().join("out/d/b.bin").exists());
}

#[test]
fn list_shows_file_sizes_and_no_image_costs_more_than_zstd() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    fs::create_dir(&d).unwrap();
    let files = [
        ("photo.png", png(64, 48, 3, &photo_like(64, 48, 3, 4))),
        ("grey.png", png(64, 48, 1, &photo_like(64, 48, 1, 5))),
        ("noise.png", png(64, 48, 1, &noise(64 * 48, 6))),
        (
            "noise.ppm",
            pgm(b"P6\n40 40\n255\n", &noise(40 * 40 * 3, 7), b""),
        ),
        (
            "flat.ppm",
            pgm(b"P6\n40 40\n255\n", &[9u8; 40 * 40 * 3], b""),
        ),
    ];
    for (name, bytes) in &files {
        fs::write(d.join(name), bytes).unwrap();
    }
    // One image a chunk: each member's stored size is then exact, not a share.
    ok(
        t.path(),
        &["create", "-q", "--chunk-images", "1", "once.bsar", "d"],
    );
    let archive = fs::read(t.path().join("once.bsar")).unwrap();
    let listing = round_trip(t.path(), "d", &["--chunk-images", "1"]);
    for (name, bytes) in &files {
        let (size, stored, codec) = listed(&listing, &format!("d/{name}"));
        assert_eq!(
            size,
            bytes.len() as u64,
            "{name}: the file's size\n{listing}"
        );
        let zstd = zstd::bulk::compress(bytes, 19).unwrap().len() as f64;
        assert!(
            stored <= zstd,
            "{name}: {stored} stored, zstd {zstd}\n{listing}"
        );
        // The photograph-like image is worth coding; noise as a PNM, which zstd stores at
        // about its size, is not.
        match *name {
            "photo.png" => assert_eq!(codec, "bitswap", "{name}\n{listing}"),
            "noise.ppm" => assert!(stored >= bytes.len() as f64 * 0.95, "{name}\n{listing}"),
            _ => {}
        }
    }
    let a = bsar::archive::Archive::parse(&archive).unwrap();
    assert_eq!(a.index.chunks.len(), files.len());
}
