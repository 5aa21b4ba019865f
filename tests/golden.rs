//! Archives outlive library versions (issue #11): byte-exact PNG members are rebuilt by zlib,
//! fdeflate, miniz_oxide and preflate-rs, JPEG members by lepton_jpeg, all pinned. A dependency
//! upgrade that changes what they produce must fail here, not orphan archives:
//! - `tests/golden/exact-1.2.bsar` to `exact-1.6.bsar`, written by bsar 0.1 (formats 1.2 to
//!   1.6; 1.5 and 1.6 with Bit-Swap chunk version 4) from
//!   tests/fixtures/exact, must extract to the fixtures byte for byte, for ever
//!   (decoders);
//! - `levels-*-1.7.bsar` (levels and tiles), `palette-1.8.bsar` (palette and sub-8-bit PNGs,
//!   the levels code) and `deep-1.9.bsar` (16-bit PNGs and PNMs, codec 4), likewise for their
//!   fixtures;
//! - `tests/golden/records.txt` holds the SHA-256 of each fixture's byte-exact PNG record and
//!   Lepton data: what this build writes must be what was written then (encoders).
//!
//! To add fixtures: `BSAR_WRITE_GOLDEN=1 cargo test --release --test golden`, which rewrites
//! both files (and says so), then commit them. An old golden archive is never rewritten.

mod common;

use common::ok;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn writing() -> bool {
    std::env::var_os("BSAR_WRITE_GOLDEN").is_some()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// One line per fixture: its path under tests/fixtures/exact, and the SHA-256 of the record
/// (PNG) or Lepton data (JPEG) this build makes for it, or "bytes" where it makes none.
fn records() -> String {
    let root = here().join("fixtures/exact");
    let mut out = String::new();
    for sub in ["png", "jpeg"] {
        for p in files(&root.join(sub)) {
            let bytes = fs::read(&p).unwrap();
            let made = if sub == "png" {
                bsar::imageio::decode_exact(&bytes).map(|(_, w)| w.to_bytes())
            } else {
                bsar::codec::lepton::lepton_encode(&bytes)
            };
            let digest = made.map_or("bytes".to_string(), |m| {
                Sha256::digest(&m)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            });
            let name = p.strip_prefix(&root).unwrap().display();
            out.push_str(&format!("{name} {digest}\n"));
        }
    }
    out
}

#[test]
fn this_build_writes_the_records_it_wrote_then() {
    let path = here().join("golden/records.txt");
    let now = records();
    if writing() {
        fs::write(&path, &now).unwrap();
        eprintln!("golden: wrote {}", path.display());
        return;
    }
    let then = fs::read_to_string(&path).unwrap();
    for (a, b) in then.lines().zip(now.lines()) {
        assert_eq!(
            a, b,
            "a reconstruction library writes other bytes than it did: pin it back, or give its \
             new output a new record tag (spec/format.md 4.5.1, 6.2)"
        );
    }
    assert_eq!(
        then.lines().count(),
        now.lines().count(),
        "fixtures added or removed"
    );
}

#[test]
fn the_golden_archives_extract_to_the_fixtures() {
    // 1.2: Lepton chunks of format 1 (each item whole); 1.3: format 2 (headers in one frame);
    // 1.4: the packed member table (spec/format.md 4.8); 1.6: byte-exact PNG members without a
    // CRC of their own.
    for name in [
        "exact-1.2.bsar",
        "exact-1.3.bsar",
        "exact-1.4.bsar",
        "exact-1.5.bsar",
        "exact-1.6.bsar",
    ] {
        golden_archive_extracts(&here().join("golden").join(name));
    }
}

/// Format 1.7: the level and tile fixtures (tests/fixtures/levels) at each level. Both archives
/// hold tiled chunks (Bit-Swap chunk version 5, spec/bitswap.md 2.1) for the two images wider or
/// taller than 2048 pixels, whose tiles are version 3 at the fast level.
#[test]
fn the_level_golden_archives_extract_to_their_fixtures() {
    let fixtures = here().join("fixtures/levels");
    for (level, tile_versions) in [("fast", &[3u8][..]), ("default", &[3, 4])] {
        let golden = here()
            .join("golden")
            .join(format!("levels-{level}-1.7.bsar"));
        if writing() && !golden.exists() {
            let (g, dir) = (golden.to_str().unwrap(), here().join("fixtures"));
            ok(&dir, &["create", "-q", "--level", level, g, "levels"]);
            eprintln!("golden: wrote {}", golden.display());
        }
        let t = tempfile::tempdir().unwrap();
        ok(t.path(), &["verify", "-q", golden.to_str().unwrap()]);
        ok(t.path(), &["extract", "-q", golden.to_str().unwrap()]);
        for p in files(&fixtures)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
        {
            let back = t.path().join("levels").join(p.file_name().unwrap());
            assert!(
                fs::read(p).unwrap() == fs::read(&back).unwrap(),
                "{}",
                back.display()
            );
        }
        let bytes = fs::read(&golden).unwrap();
        let bitswap: Vec<&[u8]> = common::chunk_table(&bytes)
            .into_iter()
            .filter(|c| c.2 == 2)
            .map(|(off, len, _)| &bytes[off..off + len])
            .collect();
        let tiled: Vec<&&[u8]> = bitswap.iter().filter(|c| c[0] == 5).collect();
        assert_eq!(tiled.len(), 2, "{level}: two tiled chunks");
        for c in tiled {
            let mut pos = 3;
            while pos < c.len() {
                let len = u32::from_le_bytes(c[pos..pos + 4].try_into().unwrap()) as usize;
                assert!(
                    tile_versions.contains(&c[pos + 4]),
                    "{level}: tile version {}",
                    c[pos + 4]
                );
                pos += 4 + len;
            }
        }
    }
}

/// Format 1.8: palette and 1, 2 and 4-bit PNGs, interlaced or not, label maps and masks
/// (tests/fixtures/palette) as pixels, rebuilt byte for byte; the images of few values are coded
/// by the levels code (spec/levels.md), which the chunks' flags name (bit 4).
#[test]
fn the_palette_golden_archive_extracts_to_its_fixtures() {
    let fixtures = here().join("fixtures/palette");
    let golden = here().join("golden/palette-1.8.bsar");
    if writing() && !golden.exists() {
        let (g, dir) = (golden.to_str().unwrap(), here().join("fixtures"));
        ok(&dir, &["create", "-q", g, "palette"]);
        eprintln!("golden: wrote {}", golden.display());
    }
    let g = golden.to_str().unwrap();
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), &["verify", "-q", g]);
    ok(t.path(), &["extract", "-q", g]);
    let pngs = files(&fixtures);
    for p in &pngs {
        let back = t.path().join("palette").join(p.file_name().unwrap());
        assert!(
            fs::read(p).unwrap() == fs::read(&back).unwrap(),
            "{}",
            back.display()
        );
    }
    let listing = String::from_utf8(ok(t.path(), &["list", "-l", g]).stdout).unwrap();
    let coded = listing.lines().filter(|l| l.contains(" bitswap+ ")).count();
    assert_eq!(coded, pngs.len(), "every fixture as pixels:\n{listing}");
    let bytes = fs::read(&golden).unwrap();
    let levelled = common::chunk_table(&bytes)
        .into_iter()
        .filter(|c| c.2 == 2)
        .any(|(off, _, _)| {
            let chunk = &bytes[off..];
            let flags_at = 5 + 32 * chunk[4] as usize;
            let flags = match chunk[flags_at] {
                0 => &chunk[flags_at + 1..flags_at + 2],
                _ => &chunk[flags_at + 1..flags_at + 1 + pngs.len()],
            };
            flags.iter().any(|f| f & 0x10 != 0)
        });
    assert!(levelled, "some images are coded by the levels code");
}

/// Format 1.9: 16-bit PNGs (grey, grey+alpha, RGB, RGBA) and PNMs of maxval 1023, 4095 and
/// 65535 (tests/fixtures/deep) as 16-bit pixels (content kind 2) in a chunk of codec 4, and a PNM
/// of maxval 200 as 8-bit pixels, all rebuilt byte for byte.
#[test]
fn the_deep_golden_archive_extracts_to_its_fixtures() {
    let fixtures = here().join("fixtures/deep");
    let golden = here().join("golden/deep-1.9.bsar");
    if writing() && !golden.exists() {
        let (g, dir) = (golden.to_str().unwrap(), here().join("fixtures"));
        ok(&dir, &["create", "-q", g, "deep"]);
        eprintln!("golden: wrote {}", golden.display());
    }
    let g = golden.to_str().unwrap();
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), &["verify", "-q", g]);
    ok(t.path(), &["extract", "-q", g]);
    let all = files(&fixtures);
    for p in &all {
        let back = t.path().join("deep").join(p.file_name().unwrap());
        assert!(
            fs::read(p).unwrap() == fs::read(&back).unwrap(),
            "{}",
            back.display()
        );
    }
    let listing = String::from_utf8(ok(t.path(), &["list", "-l", g]).stdout).unwrap();
    let deep = listing
        .lines()
        .filter(|l| l.contains(" deep ") || l.contains(" deep+ "))
        .count();
    let sixteen = all
        .iter()
        .filter(|p| !p.to_str().unwrap().contains("maxval200"))
        .count();
    assert_eq!(deep, sixteen, "every 16-bit fixture in codec 4:\n{listing}");
    let bytes = fs::read(&golden).unwrap();
    assert!(common::chunk_table(&bytes).iter().any(|c| c.2 == 4));
}

fn golden_archive_extracts(golden: &Path) {
    if writing() && !golden.exists() {
        let fixtures = here().join("fixtures");
        ok(
            &fixtures,
            &["create", "-q", golden.to_str().unwrap(), "exact"],
        );
        eprintln!("golden: wrote {}", golden.display());
    }
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), &["verify", "-q", golden.to_str().unwrap()]);
    ok(t.path(), &["extract", "-q", golden.to_str().unwrap()]);
    for sub in ["png", "jpeg"] {
        for p in files(&here().join("fixtures/exact").join(sub)) {
            let name = p.file_name().unwrap();
            let back = t.path().join("exact").join(sub).join(name);
            assert!(
                fs::read(&p).unwrap() == fs::read(&back).unwrap(),
                "{} comes back from the golden archive byte for byte",
                back.display()
            );
        }
    }
    // The listing names how each PNG was stored then: byte-exact members stay byte-exact.
    let listing =
        String::from_utf8(ok(t.path(), &["list", "-l", golden.to_str().unwrap()]).stdout).unwrap();
    assert!(
        listing.contains("bitswap+") && listing.contains("lepton"),
        "{listing}"
    );
}
