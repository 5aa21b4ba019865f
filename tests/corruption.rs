//! The corruption matrix: flip one bit, then all bits, in every byte of a small archive, and truncate it at every
//! length. Every damaged archive must be either refused by `bsar verify` with a clear error
//! naming the damaged part (one line, or for damaged chunks, one line per damage and per member
//! it costs, then the error line), or (if verify passes) extract to exactly the original tree.
//! Nothing may panic. The counts are printed (`cargo test --release --test corruption -- --nocapture`).

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

/// A small archive (about 1-2 KB) with every member kind and several chunks.
fn small_tree(root: &Path) {
    let d = root.join("s");
    fs::create_dir_all(d.join("sub/deeper")).unwrap();
    fs::create_dir_all(d.join("empty")).unwrap();
    fs::write(d.join("a.txt"), "alpha\n".repeat(20)).unwrap();
    fs::write(d.join("b.bin"), noise(200, 1)).unwrap();
    fs::write(d.join("sub/c.txt"), "gamma gamma\n".repeat(30)).unwrap();
    fs::write(d.join("sub/deeper/d.bin"), noise(300, 2)).unwrap();
    fs::write(d.join("zero"), b"").unwrap();
    symlink("sub/c.txt", d.join("link")).unwrap();
}

enum Outcome {
    Detected,
    Harmless,
}

fn judge(work: &Path, archive: &[u8], original: &Path, label: &str) -> Outcome {
    fs::write(work.join("bad.bsar"), archive).unwrap();
    let out = Command::new(BIN)
        .args(["verify", "-q", "bad.bsar"])
        .current_dir(work)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // verify found nothing wrong: then the archive must restore the original exactly.
        let dir = work.join("harmless");
        let _ = fs::remove_dir_all(&dir);
        ok(work, &["extract", "-q", "bad.bsar", "-C", "harmless"]);
        assert_same_tree(original, &dir.join("s"));
        return Outcome::Harmless;
    }
    assert_eq!(
        out.status.code(),
        Some(1),
        "{label}: exit {:?}, stderr {err}",
        out.status
    );
    // Damage to the header, trailer or index: one line. To chunks: a line for the damage, one
    // per member it costs, and the error line.
    let last = err.lines().last().unwrap_or_default();
    let one_line = err.starts_with("bsar: error: bad.bsar: ") && err.lines().count() == 1;
    let per_member = err.starts_with("bsar: bad.bsar: chunk ")
        && err.lines().all(|l| l.starts_with("bsar: "))
        && err.contains("bsar: damaged member: ")
        && last.starts_with("bsar: error: bad.bsar: ")
        && last.contains("could not be verified");
    assert!(one_line || per_member, "{label}: {err}");
    let names_part = [
        "header",
        "trailer",
        "index",
        "chunk",
        "member",
        "not a bsar",
        "version",
    ]
    .iter()
    .any(|p| err.contains(p));
    assert!(
        names_part,
        "{label}: message names no part of the archive: {err}"
    );
    Outcome::Detected
}

#[test]
fn every_bit_flip_and_truncation_is_detected_or_harmless() {
    let t = tempfile::tempdir().unwrap();
    small_tree(t.path());
    ok(
        t.path(),
        &[
            "create",
            "-q",
            "good.bsar",
            "s",
            "--chunk-size",
            "400",
            "--zstd-level",
            "3",
        ],
    );
    let good = fs::read(t.path().join("good.bsar")).unwrap();
    assert!(
        good.len() < 4096,
        "archive is {} bytes; the matrix wants a small one",
        good.len()
    );
    let original = t.path().join("s");
    let (mut detected, mut harmless) = (0usize, 0usize);
    // Each byte twice: one bit flipped (bit i mod 8), then all eight bits inverted.
    for i in 0..good.len() {
        for (mask, what) in [(1u8 << (i % 8), "one bit"), (0xFF, "all bits")] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            match judge(
                t.path(),
                &bad,
                &original,
                &format!("{what} of byte {i} flipped"),
            ) {
                Outcome::Detected => detected += 1,
                Outcome::Harmless => harmless += 1,
            }
        }
    }
    let mut truncated = 0usize;
    for len in 0..good.len() {
        match judge(
            t.path(),
            &good[..len],
            &original,
            &format!("truncated to {len}"),
        ) {
            Outcome::Detected => truncated += 1,
            Outcome::Harmless => panic!("truncation to {len} bytes passed verification"),
        }
    }
    println!(
        "corruption matrix: {} byte archive; {} flipped archives: {detected} detected, \
         {harmless} harmless; truncations: {truncated} of {} detected",
        good.len(),
        2 * good.len(),
        good.len()
    );
    assert_eq!(detected + harmless, 2 * good.len());
    assert_eq!(truncated, good.len());
}
