//! The two layouts of the member table (spec/format.md 4.2 rows, 4.8 packed): this bsar writes
//! the packed one and announces it in the header; it reads both, each only under its own
//! feature bit.

mod common;

use bsar::archive::index::{parse_index, Layout};
use common::{build_archive, fails_damaged, file_member, header, ok, zstd_chunk};
use std::fs;
use std::path::PathBuf;

fn seed(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds/index")
        .join(name);
    fs::read(p).unwrap()
}

#[test]
fn the_fuzz_seeds_hold_the_same_members_in_every_layout() {
    let (packed, rows, checked) = (seed("packed.bin"), seed("rows.bin"), seed("checked.bin"));
    let offset = |s: &[u8]| u64::from_le_bytes(s[..8].try_into().unwrap());
    let a = parse_index(&packed[8..], offset(&packed), Layout::Packed).unwrap();
    let b = parse_index(&rows[8..], offset(&rows), Layout::Rows).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.members.len(), 6);
    assert!(packed.len() < rows.len());
    // Format 1.6: the image is a byte-exact PNG there, and only it goes without a CRC.
    let c = parse_index(&checked[8..], offset(&checked), Layout::Checked).unwrap();
    assert_eq!(c.members.len(), 6);
    let without: Vec<_> = c.members.iter().filter(|m| m.crc.is_none()).collect();
    assert_eq!(without.len(), 1);
    assert_eq!(without[0].path, b"d/img.png");
    assert_eq!(c.members[..2], a.members[..2]);
    assert_eq!(c.members[3..], a.members[3..]);
}

fn index_magic(archive: &[u8]) -> Vec<u8> {
    let t = &archive[archive.len() - 32..];
    let at = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(t[8..16].try_into().unwrap()) as usize;
    zstd::stream::decode_all(&archive[at + 8..at + len]).unwrap()[..4].to_vec()
}

/// The archive with its header's feature bits set to `features` (and the header CRC made right).
fn with_features(archive: &[u8], features: u16) -> Vec<u8> {
    let mut a = archive.to_vec();
    a[10..12].copy_from_slice(&features.to_le_bytes());
    let crc = crc32fast::hash(&a[..12]);
    a[12..16].copy_from_slice(&crc.to_le_bytes());
    a
}

#[test]
fn create_writes_format_1_9_with_a_packed_index() {
    let t = tempfile::tempdir().unwrap();
    let tree = t.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("a.txt"), b"hello").unwrap();
    fs::write(tree.join("sub/b.bin"), common::noise(3000, 7)).unwrap();
    fs::write(tree.join("empty"), b"").unwrap();
    std::os::unix::fs::symlink("a.txt", tree.join("link")).unwrap();
    ok(t.path(), &["create", "-q", "x.bsar", "tree"]);
    let archive = fs::read(t.path().join("x.bsar")).unwrap();
    assert_eq!(
        archive[8..12],
        [1, 9, 3, 0],
        "version 1.9, feature bits 0 and 1"
    );
    assert_eq!(index_magic(&archive), b"BSI3");
    ok(t.path(), &["verify", "-q", "x.bsar"]);
    fs::create_dir(t.path().join("out")).unwrap();
    ok(
        t.path().join("out").as_path(),
        &["extract", "-q", "../x.bsar"],
    );
    common::assert_same_tree(&tree, &t.path().join("out/tree"));

    // The same archive under other feature bits claims another layout (rows, or the packed
    // table of 1.5): refused as damaged, not misread. Bit 1 means nothing without bit 0.
    for (features, says) in [(0, "index magic"), (1, "index magic"), (2, "feature bit 1")] {
        fs::write(
            t.path().join("other.bsar"),
            with_features(&archive, features),
        )
        .unwrap();
        let err = fails_damaged(t.path(), &["verify", "other.bsar"]);
        assert!(err.contains(says), "features {features}: {err}");
    }
}

#[test]
fn a_row_index_under_the_packed_bit_is_refused_and_without_it_read() {
    let t = tempfile::tempdir().unwrap();
    let content = b"data";
    let members = [file_member("f", content, 0, 0)];
    let rows = build_archive(&header(1, 3, 0), &[zstd_chunk(&[content])], &members);
    fs::write(t.path().join("rows.bsar"), rows).unwrap();
    ok(t.path(), &["verify", "-q", "rows.bsar"]);
    let flagged = build_archive(&header(1, 4, 1), &[zstd_chunk(&[content])], &members);
    fs::write(t.path().join("flagged.bsar"), flagged).unwrap();
    let err = fails_damaged(t.path(), &["list", "flagged.bsar"]);
    assert!(err.contains("index magic"), "{err}");
}
