//! Round trips through the real binary: whole trees, determinism, random access, listings.

mod common;
use common::*;
use std::fs;

#[test]
fn realistic_tree_round_trips() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    let out = ok(
        t.path(),
        &[
            "create",
            "a.bsar",
            "data",
            "--chunk-size",
            "64K",
            "--zstd-level",
            "3",
        ],
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("members") && summary.contains("bits/dim"),
        "{summary}"
    );
    ok(t.path(), &["verify", "a.bsar"]);
    ok(t.path(), &["extract", "a.bsar", "-C", "out"]);
    assert_same_tree(&t.path().join("data"), &t.path().join("out/data"));
    // The archive holds nothing beyond the tree.
    let names: Vec<_> = fs::read_dir(t.path().join("out")).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn same_tree_same_bytes_whatever_the_thread_count() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    let mut archives = Vec::new();
    for (name, threads) in [
        ("t1.bsar", "1"),
        ("t2.bsar", "2"),
        ("t5.bsar", "5"),
        ("again.bsar", "1"),
    ] {
        ok(
            t.path(),
            &[
                "create",
                name,
                "data",
                "--chunk-size",
                "2K",
                "--zstd-level",
                "3",
                "-j",
                threads,
                "-q",
            ],
        );
        archives.push(fs::read(t.path().join(name)).unwrap());
    }
    for (i, a) in archives.iter().enumerate() {
        let diff = a.iter().zip(&archives[0]).position(|(x, y)| x != y);
        assert!(
            a.len() == archives[0].len() && diff.is_none(),
            "archive {i} differs at {diff:?}, lengths {} {}",
            a.len(),
            archives[0].len()
        );
    }
    // Small chunks really did make many chunks (so the thread count had work to split).
    let listing = ok(t.path(), &["list", "-l", "t1.bsar"]);
    let chunks: std::collections::HashSet<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(6).map(str::to_string))
        .filter(|c| c != "-")
        .collect();
    assert!(chunks.len() >= 5, "only {} chunks", chunks.len());
}

/// Chunks are decoded on every core, ahead of the writing (src/cli/reading.rs): what comes
/// back, and what a damaged archive reports, must not depend on the thread count.
#[test]
fn extract_and_verify_give_the_same_whatever_the_thread_count() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    ok(
        t.path(),
        &[
            "create",
            "a.bsar",
            "data",
            "--chunk-size",
            "2K",
            "--zstd-level",
            "3",
            "-q",
        ],
    );
    for j in ["1", "2", "7"] {
        let out = format!("out{j}");
        ok(t.path(), &["extract", "-q", "-j", j, "a.bsar", "-C", &out]);
        assert_same_tree(&t.path().join("data"), &t.path().join(out).join("data"));
        ok(t.path(), &["verify", "-q", "-j", j, "a.bsar"]);
    }
    // Damage two chunks apart: every thread count names the same members, in the same order.
    let mut data = fs::read(t.path().join("a.bsar")).unwrap();
    let n = data.len();
    for at in [n / 5, n / 2] {
        data[at] ^= 0x55;
    }
    fs::write(t.path().join("bad.bsar"), &data).unwrap();
    let reports: Vec<(String, String)> = ["1", "2", "7"]
        .iter()
        .map(|j| {
            let verify = fails_damaged(t.path(), &["verify", "-j", j, "bad.bsar"]);
            let dir = format!("bad{j}");
            let extract = fails_damaged(t.path(), &["extract", "-j", j, "bad.bsar", "-C", &dir]);
            (verify, extract)
        })
        .collect();
    assert!(reports[0].0.lines().count() >= 3, "{}", reports[0].0);
    for r in &reports[1..] {
        assert_eq!(r, &reports[0]);
    }
    // What could be restored was, with either thread count.
    assert_same_tree(&t.path().join("bad1/data"), &t.path().join("bad7/data"));
    // No threads is a usage error (clap's exit status 2), not a hang.
    let out = bsar(t.path(), &["verify", "-j", "0", "a.bsar"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--threads"), "{err}");
}

#[test]
fn one_member_extracts_alone() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    ok(t.path(), &["create", "a.bsar", "data", "--zstd-level", "3"]);
    let want = "data/train/dogs/007.bin";
    ok(t.path(), &["extract", "a.bsar", want, "-C", "one"]);
    assert_eq!(
        fs::read(t.path().join("one").join(want)).unwrap(),
        fs::read(t.path().join(want)).unwrap()
    );
    let dogs: Vec<_> = fs::read_dir(t.path().join("one/data/train/dogs"))
        .unwrap()
        .collect();
    assert_eq!(dogs.len(), 1, "only the named member is extracted");
    assert!(!t.path().join("one/data/big.bin").exists());
    // A directory name brings everything under it.
    ok(
        t.path(),
        &["extract", "a.bsar", "data/train/cats/", "-C", "cats"],
    );
    assert_same_tree(
        &t.path().join("data/train/cats"),
        &t.path().join("cats/data/train/cats"),
    );
    // A name not in the archive is an error.
    let err = fails(t.path(), &["extract", "a.bsar", "data/nope", "-C", "x"]);
    assert!(
        err.contains("data/nope") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn listing_shows_members_and_details() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    ok(t.path(), &["create", "a.bsar", "data", "--zstd-level", "3"]);
    let plain = String::from_utf8(ok(t.path(), &["list", "a.bsar"]).stdout).unwrap();
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines[0], "data");
    assert!(lines.contains(&"data/ünïcødé/日本語/ファイル.txt"));
    // Stable order: directory entries sorted by name bytes.
    let cats: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("data/train/cats/"))
        .collect();
    let mut sorted = cats.clone();
    sorted.sort();
    assert_eq!(cats, sorted);
    let long = String::from_utf8(ok(t.path(), &["list", "-l", "a.bsar"]).stdout).unwrap();
    let big = long.lines().find(|l| l.ends_with(" data/big.bin")).unwrap();
    assert!(big.contains("5242880") && big.contains("zstd"), "{big}");
    let img = long
        .lines()
        .find(|l| l.ends_with("data/train/img.pgm"))
        .unwrap();
    assert!(img.contains("16x8x1"), "{img}");
    let link = long.lines().find(|l| l.contains("first-cat")).unwrap();
    assert!(
        link.starts_with('l') && link.ends_with("-> cats/000.txt"),
        "{link}"
    );
}

#[test]
fn current_directory_and_existing_files() {
    let t = tempfile::tempdir().unwrap();
    make_tree(t.path());
    let data = t.path().join("data");
    // "." stores the contents under their own names; the archive being written is not stored.
    ok(
        &data,
        &["create", "self.bsar", ".", "-q", "--zstd-level", "1"],
    );
    let plain = String::from_utf8(ok(&data, &["list", "self.bsar"]).stdout).unwrap();
    assert!(
        plain.lines().any(|l| l == "big.bin") && !plain.contains("self.bsar"),
        "{plain}"
    );
    // Existing files are kept unless --overwrite.
    ok(
        t.path(),
        &["create", "a.bsar", "data", "-q", "--zstd-level", "1"],
    );
    ok(t.path(), &["extract", "a.bsar", "-C", "out", "-q"]);
    fs::write(t.path().join("out/data/empty.txt"), b"mine").unwrap();
    let err = fails(t.path(), &["extract", "a.bsar", "-C", "out"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        fs::read(t.path().join("out/data/empty.txt")).unwrap(),
        b"mine"
    );
    ok(
        t.path(),
        &["extract", "a.bsar", "-C", "out", "--overwrite", "-q"],
    );
    assert_same_tree(&data, &t.path().join("out/data"));
}
