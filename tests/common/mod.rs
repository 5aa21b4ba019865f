//! Helpers shared by the integration tests: running the real binary, building realistic trees,
//! comparing trees, and writing archives byte by byte from `spec/format.md` (independently of the
//! library's writer) so tests can craft hostile archives.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_bsar");

/// Runs `bsar ARGS` in `cwd`.
pub fn bsar(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("bsar runs")
}

/// Runs `bsar ARGS` in `cwd` and fails the test unless it succeeds.
pub fn ok(cwd: &Path, args: &[&str]) -> Output {
    let out = bsar(cwd, args);
    assert!(
        out.status.success(),
        "bsar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `bsar ARGS`, expects failure with one `bsar: error:` line (no panic), returns that line.
pub fn fails(cwd: &Path, args: &[&str]) -> String {
    let out = bsar(cwd, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "bsar {args:?}: expected exit 1, stderr: {err}"
    );
    assert!(
        err.starts_with("bsar: error: "),
        "bsar {args:?}: stderr: {err}"
    );
    assert_eq!(
        err.lines().count(),
        1,
        "bsar {args:?}: more than one line: {err}"
    );
    err
}

/// Runs `bsar ARGS` on a damaged archive, expects exit 1 with the damage reported (lines that
/// all start `bsar: `, the last one `bsar: error: `, no panic), and returns all of stderr.
pub fn fails_damaged(cwd: &Path, args: &[&str]) -> String {
    let out = bsar(cwd, args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "bsar {args:?}: stderr: {err}");
    assert!(
        err.lines().all(|l| l.starts_with("bsar: ")),
        "bsar {args:?}: {err}"
    );
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("bsar: error: "), "bsar {args:?}: {err}");
    err
}

/// Deterministic pseudo-random bytes (xorshift), so trees are reproducible without a rand crate.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// A tree like a small dataset: nested directories, empty files and directories, a file of
/// several MB, unicode names, symlinks, a PGM image, varied modes and mtimes.
pub fn make_tree(root: &Path) {
    let d = root.join("data");
    fs::create_dir_all(d.join("train/cats")).unwrap();
    fs::create_dir_all(d.join("train/dogs")).unwrap();
    fs::create_dir_all(d.join("empty dir")).unwrap();
    fs::create_dir_all(d.join("ünïcødé/日本語")).unwrap();
    for i in 0..12 {
        let text = format!("cat {i}\n").repeat(50 + i * 13);
        fs::write(d.join(format!("train/cats/{i:03}.txt")), text).unwrap();
        fs::write(
            d.join(format!("train/dogs/{i:03}.bin")),
            noise(300 + i * 77, i as u64),
        )
        .unwrap();
    }
    fs::write(d.join("empty.txt"), b"").unwrap();
    fs::write(
        d.join("ünïcødé/日本語/ファイル.txt"),
        "こんにちは\n".repeat(10),
    )
    .unwrap();
    // Several MB, half compressible.
    let mut big = noise(3 << 20, 7);
    big.extend(std::iter::repeat(b'z').take(2 << 20));
    fs::write(d.join("big.bin"), big).unwrap();
    let mut pgm = b"P5\n16 8\n255\n".to_vec();
    pgm.extend(noise(128, 3));
    fs::write(d.join("train/img.pgm"), pgm).unwrap();
    symlink("cats/000.txt", d.join("train/first-cat")).unwrap();
    symlink("../big.bin", d.join("train/big-link")).unwrap();
    fs::set_permissions(
        d.join("train/cats/001.txt"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::set_permissions(
        d.join("train/dogs/002.bin"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000_000, 123_456_789);
    let f = fs::File::options()
        .write(true)
        .open(d.join("train/cats/000.txt"))
        .unwrap();
    f.set_modified(old).unwrap();
}

/// Asserts two trees hold the same entries: types, contents, link targets, modes and mtimes
/// (mtimes of files only; symlink mtimes are not restored, see the spec).
pub fn assert_same_tree(a: &Path, b: &Path) {
    let ma = fs::symlink_metadata(a).unwrap();
    let mb = fs::symlink_metadata(b).unwrap_or_else(|e| panic!("{}: {e}", b.display()));
    assert_eq!(ma.file_type(), mb.file_type(), "{}", b.display());
    if ma.file_type().is_symlink() {
        assert_eq!(
            fs::read_link(a).unwrap(),
            fs::read_link(b).unwrap(),
            "{}",
            b.display()
        );
        return;
    }
    assert_eq!(
        ma.mode() & 0o777,
        mb.mode() & 0o777,
        "mode of {}",
        b.display()
    );
    if ma.is_file() {
        assert!(
            fs::read(a).unwrap() == fs::read(b).unwrap(),
            "content of {}",
            b.display()
        );
        assert_eq!(
            (ma.mtime(), ma.mtime_nsec()),
            (mb.mtime(), mb.mtime_nsec()),
            "mtime of {}",
            b.display()
        );
        return;
    }
    assert_eq!(
        (ma.mtime(), ma.mtime_nsec()),
        (mb.mtime(), mb.mtime_nsec()),
        "mtime of {}",
        b.display()
    );
    let names = |p: &Path| {
        let mut v: Vec<_> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let (na, nb) = (names(a), names(b));
    assert_eq!(na, nb, "entries of {}", b.display());
    for n in na {
        assert_same_tree(&a.join(&n), &b.join(&n));
    }
}

// ---- Writing archives from the spec, by hand ----

pub const KIND_FILE: u8 = 0;
pub const KIND_DIR: u8 = 1;
pub const KIND_SYMLINK: u8 = 2;
pub const NO_CHUNK: u32 = u32::MAX;

/// One member table entry, field by field as in spec/format.md.
#[derive(Clone, Debug)]
pub struct RawMember {
    pub path: Vec<u8>,
    pub kind: u8,
    pub content: u8,
    pub mode: u32,
    pub mtime: i64,
    pub size: u64,
    pub crc: u32,
    pub chunk: u32,
    pub position: u32,
    pub link: Vec<u8>,
}

pub fn file_member(path: &str, content: &[u8], chunk: u32, position: u32) -> RawMember {
    RawMember {
        path: path.as_bytes().to_vec(),
        kind: KIND_FILE,
        content: 0,
        mode: 0o644,
        mtime: 1_600_000_000,
        size: content.len() as u64,
        crc: crc32fast::hash(content),
        chunk,
        position,
        link: Vec::new(),
    }
}

pub fn dir_member(path: &str) -> RawMember {
    RawMember {
        kind: KIND_DIR,
        size: 0,
        crc: 0,
        chunk: NO_CHUNK,
        ..file_member(path, b"", 0, 0)
    }
}

pub fn symlink_member(path: &str, target: &str) -> RawMember {
    RawMember {
        kind: KIND_SYMLINK,
        mode: 0o777,
        size: target.len() as u64,
        crc: crc32fast::hash(target.as_bytes()),
        chunk: NO_CHUNK,
        link: target.as_bytes().to_vec(),
        ..file_member(path, b"", 0, 0)
    }
}

/// A chunk: codec id, coded bytes, item count.
pub struct RawChunk {
    pub codec: u8,
    pub bytes: Vec<u8>,
    pub items: u32,
}

/// A zstd chunk (codec 1): one frame per item.
pub fn zstd_chunk(items: &[&[u8]]) -> RawChunk {
    let mut bytes = Vec::new();
    for it in items {
        bytes.extend(zstd::bulk::compress(it, 3).unwrap());
    }
    RawChunk {
        codec: 1,
        bytes,
        items: items.len() as u32,
    }
}

/// Header with the given version and feature bits; CRC computed.
pub fn header(major: u8, minor: u8, features: u16) -> Vec<u8> {
    let mut h = b"\x89BSAR\r\n\x1a".to_vec();
    h.push(major);
    h.push(minor);
    h.extend(features.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h.extend(crc.to_le_bytes());
    h
}

/// A whole archive from parts, following spec/format.md.
pub fn build_archive(header_bytes: &[u8], chunks: &[RawChunk], members: &[RawMember]) -> Vec<u8> {
    let mut out = header_bytes.to_vec();
    let mut table = Vec::new();
    for c in chunks {
        table.extend((out.len() as u64).to_le_bytes());
        table.extend((c.bytes.len() as u64).to_le_bytes());
        table.extend(crc32fast::hash(&c.bytes).to_le_bytes());
        table.extend(c.items.to_le_bytes());
        table.push(c.codec);
        table.extend([0u8; 7]);
        out.extend(&c.bytes);
    }
    let mut index = b"BSIX".to_vec();
    index.extend((chunks.len() as u32).to_le_bytes());
    index.extend((members.len() as u32).to_le_bytes());
    index.extend(table);
    for m in members {
        index.extend((m.path.len() as u16).to_le_bytes());
        index.extend(&m.path);
        index.push(m.kind);
        index.push(m.content);
        index.extend(m.mode.to_le_bytes());
        index.extend(m.mtime.to_le_bytes());
        index.extend(0u32.to_le_bytes());
        index.extend(m.size.to_le_bytes());
        index.extend(m.crc.to_le_bytes());
        index.extend(m.chunk.to_le_bytes());
        index.extend(m.position.to_le_bytes());
        index.extend([0u8; 9]); // width, height, channels: no image
        index.extend((m.link.len() as u16).to_le_bytes());
        index.extend(&m.link);
    }
    // The index is stored as its raw length and one zstd frame (spec/format.md section 4).
    let mut packed = (index.len() as u64).to_le_bytes().to_vec();
    packed.extend(zstd::bulk::compress(&index, 3).unwrap());
    let index = packed;
    let index_offset = out.len() as u64;
    out.extend(&index);
    let mut trailer = Vec::new();
    trailer.extend(index_offset.to_le_bytes());
    trailer.extend((index.len() as u64).to_le_bytes());
    trailer.extend(crc32fast::hash(&index).to_le_bytes());
    let crc = crc32fast::hash(&trailer);
    trailer.extend(crc.to_le_bytes());
    trailer.extend(b"BSAR_END");
    out.extend(trailer);
    out
}

/// A valid archive built by hand, one file in one chunk.
pub fn simple_archive(path: &str, content: &[u8]) -> Vec<u8> {
    build_archive(
        &header(1, 0, 0),
        &[zstd_chunk(&[content])],
        &[file_member(path, content, 0, 0)],
    )
}

/// The chunk table of an archive (spec/format.md 3, 4, 4.1): (offset, length, codec) per chunk.
pub fn chunk_table(archive: &[u8]) -> Vec<(usize, usize, u8)> {
    let t = &archive[archive.len() - 32..];
    let index = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    // The stored index is its raw length and one zstd frame (spec/format.md 4).
    let ix = zstd::stream::decode_all(&archive[index + 8..archive.len() - 32]).unwrap();
    // Packed (BSI2, format 1.4; BSI3, 1.6) or in rows (BSIX): the chunk table comes first.
    assert!([b"BSI3", b"BSI2", b"BSIX"].contains(&&ix[0..4].try_into().unwrap()));
    let count = u32::from_le_bytes(ix[4..8].try_into().unwrap()) as usize;
    (0..count)
        .map(|i| {
            let e = &ix[12 + 32 * i..12 + 32 * (i + 1)];
            (
                u64::from_le_bytes(e[0..8].try_into().unwrap()) as usize,
                u64::from_le_bytes(e[8..16].try_into().unwrap()) as usize,
                e[24],
            )
        })
        .collect()
}
