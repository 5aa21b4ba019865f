//! Hostile and unusual archives, crafted byte by byte from spec/format.md: path traversal,
//! symlink tricks, versions and features this reader must refuse, absurd sizes. Also the
//! create-side refusals, and that a failed create leaves nothing under the target name.

mod common;
#[path = "fuzz_framing/mod.rs"]
mod fuzz_framing;
use common::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap();
}

/// A file member, stored in chunk 0, at `path`, plus the other members given.
fn archive_with(path: &str, content: &[u8], others: &[RawMember]) -> Vec<u8> {
    let mut members = vec![file_member(path, content, 0, 0)];
    members.extend_from_slice(others);
    build_archive(&header(1, 0, 0), &[zstd_chunk(&[content])], &members)
}

#[test]
fn the_hand_built_archive_is_valid() {
    // Guards the helpers: without this, every refusal below could be a builder bug.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "a.bsar",
        &archive_with(
            "dir/x.txt",
            b"fine",
            &[dir_member("dir"), symlink_member("dir/l", "x.txt")],
        ),
    );
    ok(t.path(), &["verify", "a.bsar"]);
    ok(t.path(), &["extract", "a.bsar", "-C", "out"]);
    assert_eq!(fs::read(t.path().join("out/dir/x.txt")).unwrap(), b"fine");
    assert_eq!(
        fs::read_link(t.path().join("out/dir/l")).unwrap(),
        Path::new("x.txt")
    );
}

#[test]
fn traversal_paths_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let abs = t.path().join("abs-victim");
    let abs = abs.to_str().unwrap();
    for path in ["../x", "a/../../x", abs, "a//b", "./a"] {
        write(t.path(), "h.bsar", &archive_with(path, b"evil", &[]));
        for args in [
            &["extract", "h.bsar", "-C", "out"][..],
            &["verify", "h.bsar"],
        ] {
            let err = fails(t.path(), args);
            assert!(
                err.contains("member") && (err.contains("refusing") || err.contains("unsafe")),
                "{path}: {err}"
            );
        }
        assert!(
            !t.path().join("x").exists() && !Path::new(abs).exists(),
            "{path} escaped"
        );
        // Paths are checked before anything is written: not even the target directory is made.
        assert!(
            !t.path().join("out").exists(),
            "{path}: extraction started before the refusal"
        );
    }
}

#[test]
fn symlink_tricks_are_refused() {
    let t = tempfile::tempdir().unwrap();
    // Links that lead out of the target directory.
    for target in ["../..", "/etc", "sub/../../x"] {
        write(
            t.path(),
            "h.bsar",
            &archive_with("f", b"x", &[symlink_member("esc", target)]),
        );
        let err = fails(t.path(), &["extract", "h.bsar", "-C", "out"]);
        assert!(
            err.contains("'esc'") && err.contains("symlink"),
            "{target}: {err}"
        );
    }
    // A link inside the archive, then a member written through it.
    let m = [dir_member("d"), symlink_member("d2", "d")];
    let mut members = m.to_vec();
    members.push(file_member("d2/x", b"through", 0, 0));
    write(
        t.path(),
        "h.bsar",
        &build_archive(&header(1, 0, 0), &[zstd_chunk(&[b"through"])], &members),
    );
    let err = fails(t.path(), &["extract", "h.bsar", "-C", "out2"]);
    assert!(err.contains("d2/x") && err.contains("symlink"), "{err}");
    assert!(!t.path().join("out2/d/x").exists());
    // A symlink already in the target directory, pointing outside.
    fs::create_dir_all(t.path().join("out3")).unwrap();
    fs::create_dir_all(t.path().join("outside")).unwrap();
    symlink(t.path().join("outside"), t.path().join("out3/evil")).unwrap();
    write(t.path(), "h.bsar", &archive_with("evil/x", b"through", &[]));
    let err = fails(t.path(), &["extract", "h.bsar", "-C", "out3"]);
    assert!(err.contains("symlink"), "{err}");
    assert!(!t.path().join("outside/x").exists());
    // --overwrite replaces a symlink in the way; it never writes through it.
    fs::write(t.path().join("outside/victim"), b"precious").unwrap();
    symlink(t.path().join("outside/victim"), t.path().join("out3/f")).unwrap();
    write(t.path(), "h.bsar", &archive_with("f", b"new", &[]));
    fails(t.path(), &["extract", "h.bsar", "-C", "out3"]);
    ok(
        t.path(),
        &["extract", "h.bsar", "-C", "out3", "--overwrite"],
    );
    assert_eq!(
        fs::read(t.path().join("outside/victim")).unwrap(),
        b"precious"
    );
    assert_eq!(fs::read(t.path().join("out3/f")).unwrap(), b"new");
    assert!(!fs::symlink_metadata(t.path().join("out3/f"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn create_refuses_unsafe_inputs_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("w");
    fs::create_dir_all(base.join("tree")).unwrap();
    fs::write(t.path().join("up.txt"), b"up").unwrap();
    for (args, needle) in [
        (vec!["create", "a.bsar", "../up.txt"], ".."),
        (vec!["create", "a.bsar", "missing"], "missing"),
        (vec!["create", "a.bsar", "tree", "tree"], "twice"),
    ] {
        let err = fails(&base, &args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    symlink("/etc", base.join("tree/etc-link")).unwrap();
    let err = fails(&base, &["create", "a.bsar", "tree"]);
    assert!(
        err.contains("etc-link") && err.contains("absolute"),
        "{err}"
    );
    // No archive and no temporary file remain.
    let left: Vec<String> = fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["tree".to_string()]);
}

#[test]
fn unknown_versions_features_codecs_and_content_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let content = b"data";
    let members = [file_member("f", content, 0, 0)];
    let chunk = || zstd_chunk(&[content]);
    write(
        t.path(),
        "v2.bsar",
        &build_archive(&header(2, 0, 0), &[chunk()], &members),
    );
    let err = fails(t.path(), &["list", "v2.bsar"]);
    assert!(err.contains("version 2.0 is not supported"), "{err}");
    write(
        t.path(),
        "feat.bsar",
        &build_archive(&header(1, 0, 0x0004), &[chunk()], &members),
    );
    let err = fails(t.path(), &["verify", "feat.bsar"]);
    assert!(err.contains("features"), "{err}");
    // Codec 2 (reserved for Bit-Swap) is named, and the index is still listable.
    let mut c = chunk();
    c.codec = 9;
    write(
        t.path(),
        "codec.bsar",
        &build_archive(&header(1, 0, 0), &[c], &members),
    );
    ok(t.path(), &["list", "codec.bsar"]);
    let err = fails_damaged(t.path(), &["verify", "codec.bsar"]);
    assert!(
        err.contains("chunk 0") && err.contains("codec 9 (codec#9)") && err.contains("'f'"),
        "{err}"
    );
    // A Bit-Swap chunk that holds something else names the chunk and its member.
    let mut c = chunk();
    c.codec = 2;
    write(
        t.path(),
        "bitswap.bsar",
        &build_archive(&header(1, 0, 0), &[c], &members),
    );
    let err = fails_damaged(t.path(), &["verify", "bitswap.bsar"]);
    assert!(
        err.contains("chunk 0") && err.contains("'f'") && err.contains("cannot be decoded"),
        "{err}"
    );
    // Content kind 7 is undefined.
    let mut m = members.to_vec();
    m[0].content = 7;
    write(
        t.path(),
        "pix.bsar",
        &build_archive(&header(1, 0, 0), &[chunk()], &m),
    );
    let err = fails(t.path(), &["list", "pix.bsar"]);
    assert!(err.contains("content kind 7"), "{err}");
}

#[test]
fn absurd_sizes_give_clear_errors_quickly() {
    let t = tempfile::tempdir().unwrap();
    let content = b"abc";
    // A member claiming an exabyte, backed by a 3-byte frame.
    let mut m = file_member("huge", content, 0, 0);
    m.size = 1 << 60;
    write(
        t.path(),
        "big.bsar",
        &build_archive(&header(1, 0, 0), &[zstd_chunk(&[content])], &[m]),
    );
    let start = std::time::Instant::now();
    let err = fails_damaged(t.path(), &["extract", "big.bsar", "-C", "out"]);
    assert!(err.contains("'huge'"), "{err}");
    assert!(start.elapsed().as_secs() < 10);
    // A zstd bomb whose real output is far beyond what the member table says.
    let zeros = vec![0u8; 50 << 20];
    let m = file_member("bomb", &zeros[..10], 0, 0);
    write(
        t.path(),
        "bomb.bsar",
        &build_archive(&header(1, 0, 0), &[zstd_chunk(&[&zeros])], &[m]),
    );
    let err = fails_damaged(t.path(), &["verify", "bomb.bsar"]);
    assert!(err.contains("'bomb'"), "{err}");
    // Counts that cannot fit: patch the member count of a valid archive's (unpacked) index,
    // repack it and fix up the trailer.
    let a = simple_archive("f", content);
    let n = a.len();
    let index_offset = u64::from_le_bytes(a[n - 32..n - 24].try_into().unwrap()) as usize;
    let mut raw = zstd::stream::decode_all(&a[index_offset + 8..n - 32]).unwrap();
    raw[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut index = (raw.len() as u64).to_le_bytes().to_vec();
    index.extend(zstd::bulk::compress(&raw, 3).unwrap());
    let mut a = a[..index_offset].to_vec();
    a.extend(&index);
    let mut trailer = (index_offset as u64).to_le_bytes().to_vec();
    trailer.extend((index.len() as u64).to_le_bytes());
    trailer.extend(crc32fast::hash(&index).to_le_bytes());
    let trailer_crc = crc32fast::hash(&trailer);
    trailer.extend(trailer_crc.to_le_bytes());
    trailer.extend(b"BSAR_END");
    a.extend(trailer);
    write(t.path(), "count.bsar", &a);
    let err = fails(t.path(), &["list", "count.bsar"]);
    assert!(
        err.contains("index") && err.contains("member count"),
        "{err}"
    );
}

#[test]
fn not_an_archive() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "junk", &noise(5000, 9));
    let err = fails(t.path(), &["list", "junk"]);
    assert!(err.contains("not a bsar archive"), "{err}");
    write(t.path(), "empty", b"");
    fails(t.path(), &["verify", "empty"]);
    let err = fails(t.path(), &["extract", "nonexistent.bsar"]);
    assert!(err.contains("nonexistent.bsar"), "{err}");
}

/// The Lepton chunk of fuzz finding lepton_chunk-oom-1865ca47 (its first byte and three u16
/// lengths are the fuzz target's framing): a header whose JPEG header has a frame header but no
/// scan header, which made lepton_jpeg 0.5.8 size a buffer from never-computed component sizes
/// (u32::MAX blocks wide) and abort the process on a 550 GB allocation.
fn oom_finding() -> (Vec<u64>, Vec<u8>) {
    let data = include_bytes!("fixtures/hostile/lepton_chunk-oom-1865ca47");
    let f = fuzz_framing::byte_items(data).unwrap();
    let lens = f.shapes.iter().map(|s| s.decoded_len()).collect();
    (lens, f.chunk.to_vec())
}

#[test]
fn the_lepton_oom_finding_is_refused_before_the_library_sees_it() {
    use bsar::codec::{lepton::LeptonCodec, Codec, ItemShape};
    let (lens, chunk) = oom_finding();
    let shapes: Vec<ItemShape> = lens.iter().map(|&len| ItemShape::Bytes { len }).collect();
    let codec = LeptonCodec::new(3);
    for upto in 0..shapes.len() {
        let err = codec.decode_chunk(&chunk, &shapes, upto).unwrap_err();
        assert!(err.to_string().contains("scan header"), "{err}");
    }
}

#[test]
fn a_hostile_lepton_chunk_with_correct_crcs_costs_only_its_members() {
    // An archive as a crafty writer would make it: every CRC right, one chunk hostile, between
    // two sound ones. Extraction restores every other member, names each lost one, exits 1.
    let t = tempfile::tempdir().unwrap();
    let (lens, hostile) = oom_finding();
    let (before, after) = (b"restored before".as_slice(), b"and after".as_slice());
    let mut members = vec![file_member("before.txt", before, 0, 0)];
    for (i, &len) in lens.iter().enumerate() {
        let mut m = file_member(&format!("photo{i}.jpg"), &[], 1, i as u32);
        m.size = len;
        members.push(m);
    }
    members.push(file_member("after.txt", after, 2, 0));
    let lepton = RawChunk {
        codec: 3,
        bytes: hostile,
        items: lens.len() as u32,
    };
    let chunks = [zstd_chunk(&[before]), lepton, zstd_chunk(&[after])];
    write(
        t.path(),
        "h.bsar",
        &build_archive(&header(1, 3, 0), &chunks, &members),
    );
    for threads in ["1", "2"] {
        let out = format!("out{threads}");
        let err = fails_damaged(t.path(), &["extract", "h.bsar", "-C", &out, "-j", threads]);
        for i in 0..lens.len() {
            assert!(err.contains(&format!("photo{i}.jpg")), "{err}");
        }
        assert!(
            !err.contains("before.txt") && !err.contains("after.txt"),
            "{err}"
        );
        assert!(err.contains("scan header"), "{err}");
        let out = t.path().join(out);
        assert_eq!(fs::read(out.join("before.txt")).unwrap(), before);
        assert_eq!(fs::read(out.join("after.txt")).unwrap(), after);
        assert!(!out.join("photo0.jpg").exists());
    }
    let err = fails_damaged(t.path(), &["verify", "h.bsar"]);
    assert!(
        err.contains("photo0.jpg") && !err.contains("after.txt"),
        "{err}"
    );
}
