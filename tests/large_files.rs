//! Large files that are not images stream through zstd in pieces (issue #33, item 3): their
//! chunk's CRC and content CRC are checked as they pass, and a damaged one is named and leaves no
//! file behind. Incompressible data is stored in raw blocks (item 5). Through the real binary;
//! the memory bound is in `large_files_memory.rs`.

mod common;

use common::{noise, ok};
use std::fs;

/// Text-like bytes (16 symbols of noise) then noise: compressible, then not.
fn mixed(len: usize, seed: u64) -> Vec<u8> {
    let mut v: Vec<u8> = noise(len, seed);
    for b in &mut v[..len / 2] {
        *b = b'a' + (*b & 15);
    }
    v
}

#[test]
fn a_damaged_streamed_member_is_named_and_leaves_no_file() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("src")).unwrap();
    fs::write(r.join("src/a.txt"), b"before\n").unwrap();
    fs::write(r.join("src/big.bin"), mixed(40 << 20, 3)).unwrap();
    ok(r, &["create", "-q", "t.bsar", "src"]);
    let mut bytes = fs::read(r.join("t.bsar")).unwrap();
    // The archive is mostly the big member's chunk: its middle is inside it.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(r.join("bad.bsar"), &bytes).unwrap();
    let err = common::fails_damaged(r, &["extract", "-q", "bad.bsar", "-C", "x"]);
    assert!(err.contains("src/big.bin"), "{err}");
    assert!(err.contains("CRC mismatch"), "{err}");
    assert!(
        !r.join("x/src/big.bin").exists(),
        "a damaged member was left"
    );
    assert_eq!(fs::read(r.join("x/src/a.txt")).unwrap(), b"before\n");
    let err = common::fails_damaged(r, &["verify", "-q", "bad.bsar"]);
    assert!(err.contains("src/big.bin"), "{err}");
}

#[test]
fn incompressible_files_are_found_by_the_probe_and_coded_fast() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("src")).unwrap();
    // 48 MiB of noise: level 19 would take some 20 seconds to find nothing to save; the probe
    // sends it to level 1 (`codec::zstd`'s tests check the choice).
    let data = noise(48 << 20, 11);
    fs::write(r.join("src/noise.bin"), &data).unwrap();
    fs::write(r.join("src/small-noise.bin"), noise(3 << 20, 12)).unwrap();
    ok(r, &["create", "-q", "--zstd-level", "19", "t.bsar", "src"]);
    let archive = fs::metadata(r.join("t.bsar")).unwrap().len();
    let input = (48u64 << 20) + (3 << 20);
    // Raw blocks: 3 bytes a 128 KiB block, plus the index.
    assert!(archive < input + input / 1000 + 4096, "{archive} bytes");
    ok(r, &["extract", "-q", "t.bsar", "-C", "x"]);
    assert!(fs::read(r.join("x/src/noise.bin")).unwrap() == data);
}
