//! Images of more than 8 bits a sample through the command line: 16-bit PNGs (grey, grey+alpha,
//! RGB, RGBA) and PNMs of maxval above 255 (tests/fixtures/deep) are stored as 16-bit pixels
//! (content kind 2) in chunks of the deep-image codec (codec 4, spec/format.md 6.4), beside 8-bit
//! images in Bit-Swap chunks, and come back byte for byte; a PNM of maxval below 255 is an 8-bit
//! image; an image the codec cannot beat zstd on is stored as bytes.

mod common;

use common::{fails_damaged, ok};
use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("png" | "ppm" | "pgm")
            )
        })
        .collect();
    v.sort();
    v
}

/// `bsar list -l`'s rows: (codec column, path).
fn listing(dir: &Path, archive: &str) -> Vec<(String, String)> {
    let out = String::from_utf8(ok(dir, &["list", "-l", archive]).stdout).unwrap();
    out.lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[5].to_string(), f[f.len() - 1].to_string())
        })
        .collect()
}

fn copy_fixtures(to: &Path) -> Vec<PathBuf> {
    fs::create_dir_all(to).unwrap();
    let mut out = Vec::new();
    for p in images(&fixtures().join("deep")) {
        let dest = to.join(p.file_name().unwrap());
        fs::copy(&p, &dest).unwrap();
        out.push(dest);
    }
    out
}

#[test]
fn sixteen_bit_images_are_coded_by_the_deep_codec_and_come_back_byte_for_byte() {
    let t = tempfile::tempdir().unwrap();
    let files = copy_fixtures(&t.path().join("in/deep"));
    // 8-bit images beside them, planned into Bit-Swap chunks.
    for p in images(&fixtures().join("palette")).into_iter().take(3) {
        fs::copy(&p, t.path().join("in").join(p.file_name().unwrap())).unwrap();
    }
    for extra in [&[][..], &["--pixels-only"][..], &["--threads", "3"][..]] {
        let a = t.path().join("a.bsar");
        let a = a.to_str().unwrap();
        let mut args = vec!["create", "-q", "--overwrite"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[a, "in"]);
        ok(t.path(), &args);
        let rows = listing(t.path(), a);
        for f in &files {
            let name = format!("in/deep/{}", f.file_name().unwrap().to_str().unwrap());
            let (codec, _) = rows.iter().find(|(_, p)| *p == name).expect("listed");
            let deep = !name.contains("maxval200");
            let want = if deep { "deep" } else { "bitswap" };
            assert!(
                codec.trim_end_matches('+') == want,
                "{name}: {codec}, wanted {want} ({extra:?})"
            );
        }
        assert!(rows
            .iter()
            .any(|(c, p)| !p.contains("deep/") && c.starts_with("bitswap")));
        ok(t.path(), &["verify", "-q", a]);
        let out = t.path().join("out");
        let _ = fs::remove_dir_all(&out);
        ok(t.path(), &["extract", "-q", a, "-C", out.to_str().unwrap()]);
        for f in &files {
            let back = out.join("in/deep").join(f.file_name().unwrap());
            assert!(
                fs::read(f).unwrap() == fs::read(&back).unwrap(),
                "{}",
                back.display()
            );
        }
    }
}

#[test]
fn the_deep_codec_codes_smaller_than_zstd_and_png() {
    let t = tempfile::tempdir().unwrap();
    let files = copy_fixtures(&t.path().join("in"));
    ok(t.path(), &["create", "-q", "a.bsar", "in"]);
    ok(
        t.path(),
        &["create", "-q", "--scheme", "zstd", "z.bsar", "in"],
    );
    let inputs: u64 = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    let a = fs::metadata(t.path().join("a.bsar")).unwrap().len();
    let z = fs::metadata(t.path().join("z.bsar")).unwrap().len();
    assert!(a * 10 < z * 7, "deep {a} bytes, zstd {z}");
    assert!(a * 10 < inputs * 6, "deep {a} bytes, the files {inputs}");
}

#[test]
fn a_sixteen_bit_image_of_noise_is_stored_as_bytes() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("in")).unwrap();
    let (w, h) = (40u32, 30u32);
    let mut f = format!("P6\n{w} {h}\n65535\n").into_bytes();
    f.extend(common::noise((w * h * 6) as usize, 7));
    fs::write(t.path().join("in/noise.ppm"), &f).unwrap();
    ok(t.path(), &["create", "-q", "a.bsar", "in"]);
    let rows = listing(t.path(), "a.bsar");
    assert_eq!(rows[0].0, "zstd", "{rows:?}");
    ok(t.path(), &["extract", "-q", "a.bsar", "-C", "out"]);
    assert_eq!(fs::read(t.path().join("out/in/noise.ppm")).unwrap(), f);
}

#[test]
fn a_damaged_deep_chunk_is_reported_and_not_written() {
    let t = tempfile::tempdir().unwrap();
    copy_fixtures(&t.path().join("in"));
    ok(t.path(), &["create", "-q", "a.bsar", "in"]);
    let mut bytes = fs::read(t.path().join("a.bsar")).unwrap();
    let (off, len, _) = common::chunk_table(&bytes)
        .into_iter()
        .find(|c| c.2 == bsar::codec::CODEC_DEEP)
        .expect("a deep chunk");
    bytes[off + len / 2] ^= 0x20;
    fs::write(t.path().join("bad.bsar"), &bytes).unwrap();
    let err = fails_damaged(t.path(), &["verify", "bad.bsar"]);
    assert!(err.contains("chunk"), "{err}");
}
