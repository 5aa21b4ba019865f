//! `list`, `verify` and `extract` take a shard manifest (spec/shards.md) in place of an archive:
//! every shard in manifest order, named members found across shards, and a damaged or missing
//! shard named. Through the real binary; manifests written by the library's writer.

mod common;

use common::{bsar, fails, noise, ok};
use std::fs;
use std::path::PathBuf;

/// Three shards of a tree (each `bsar create`d from its own part) and their manifest.
fn sharded(root: &std::path::Path) -> PathBuf {
    for part in 0..3 {
        let d = root.join(format!("data/part{part}"));
        fs::create_dir_all(&d).unwrap();
        for i in 0..4 {
            fs::write(
                d.join(format!("{i}.bin")),
                noise(500 + i * 10, part * 10 + i as u64),
            )
            .unwrap();
        }
        fs::create_dir_all(root.join("out")).unwrap();
        let shard = format!("../out/s-{part}.bsar");
        ok(
            &root.join("data"),
            &["create", "-q", &shard, &format!("part{part}")],
        );
    }
    let shards: Vec<PathBuf> = (0..3)
        .map(|p| root.join(format!("out/s-{p}.bsar")))
        .collect();
    let manifest = root.join("out/manifest.json");
    bsar::cli::manifest::write(&manifest, &shards).unwrap();
    manifest
}

#[test]
fn the_cli_reads_a_manifest_like_one_archive() {
    let t = tempfile::tempdir().unwrap();
    let manifest = sharded(t.path());
    let text = fs::read_to_string(&manifest).unwrap();
    assert!(
        text.contains("\"format\": \"bsar-shards\"") && text.contains("s-2.bsar"),
        "{text}"
    );
    let names = String::from_utf8(ok(t.path(), &["list", "out/manifest.json"]).stdout).unwrap();
    assert_eq!(names.lines().count(), 15, "{names}"); // 3 x (directory + 4 files)
    assert!(names.starts_with("part0\n") && names.trim_end().ends_with("part2/3.bin"));
    let long =
        String::from_utf8(ok(t.path(), &["list", "-l", "out/manifest.json"]).stdout).unwrap();
    assert_eq!(
        long.lines().filter(|l| l.starts_with("type ")).count(),
        1,
        "one header"
    );
    ok(t.path(), &["verify", "-q", "out/manifest.json"]);
    ok(t.path(), &["extract", "-q", "out/manifest.json", "-C", "x"]);
    for part in ["part0", "part1", "part2"] {
        common::assert_same_tree(
            &t.path().join("data").join(part),
            &t.path().join("x").join(part),
        );
    }
    // Named members are found in whichever shard holds them.
    ok(
        t.path(),
        &[
            "extract",
            "-q",
            "out/manifest.json",
            "part1/2.bin",
            "part2",
            "-C",
            "y",
        ],
    );
    assert!(t.path().join("y/part1/2.bin").exists() && t.path().join("y/part2/3.bin").exists());
    assert!(!t.path().join("y/part0").exists());
    let err = fails(
        t.path(),
        &["extract", "out/manifest.json", "nope", "-C", "z"],
    );
    assert!(err.contains("'nope': not found in any shard"), "{err}");
    assert!(!t.path().join("z").exists(), "nothing written");
}

#[test]
fn a_damaged_or_missing_shard_is_named() {
    let t = tempfile::tempdir().unwrap();
    sharded(t.path());
    let victim = t.path().join("out/s-1.bsar");
    let mut bytes = fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&victim, &bytes).unwrap();
    let out = bsar(t.path(), &["verify", "-q", "out/manifest.json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("s-1.bsar is damaged: CRC32"), "{err}");
    assert!(
        err.trim_end().ends_with("1 of 3 shards are damaged"),
        "{err}"
    );
    fs::write(&victim, &bytes[..mid]).unwrap();
    let err = fails(t.path(), &["list", "out/manifest.json"]);
    assert!(
        err.contains("s-1.bsar is damaged") && err.contains("the manifest says"),
        "{err}"
    );
    fs::remove_file(&victim).unwrap();
    let err = fails(t.path(), &["extract", "out/manifest.json", "-C", "x"]);
    assert!(err.contains("s-1.bsar"), "{err}");
    // A manifest that names a shard outside its directory is refused.
    fs::write(
        t.path().join("out/evil.json"),
        r#"{"format": "bsar-shards", "version": 1, "shards": [{"name": "../data/part0/0.bin", "members": 1, "bytes": 1, "crc32": "00000000"}]}"#,
    )
    .unwrap();
    let err = fails(t.path(), &["list", "out/evil.json"]);
    assert!(err.contains("not a valid shard manifest"), "{err}");
}
