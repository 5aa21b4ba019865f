//! `create`, `extract` and `verify` hold a few megabytes of a large file that is not an image,
//! whatever its size (issue #33, item 3): it streams through zstd in pieces. Peak memory of the
//! real binary from wait4's rusage, against the same commands on a one-file tree, in the same
//! run. Alone in its test binary, which holds little memory itself: a forked child starts with
//! its parent's resident pages, and rusage counts them.

mod common;

use common::BIN;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `bsar ARGS` in `cwd` and returns (success, stderr, peak resident KiB).
fn run_measured(cwd: &Path, args: &[&str]) -> (bool, String, i64) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bsar starts");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet waited for; status and usage are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (success, stderr, usage.ru_maxrss)
}

/// Writes `mib` MiB of text-like bytes then noise to `path`, a MiB at a time; returns its CRC-32.
fn write_large(path: &Path, mib: u64) -> u32 {
    let mut f = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut crc = crc32fast::Hasher::new();
    for i in 0..mib {
        let mut piece = common::noise(1 << 20, i + 1);
        if i < mib / 2 {
            for b in &mut piece {
                *b = b'a' + (*b & 15);
            }
        }
        crc.update(&piece);
        f.write_all(&piece).unwrap();
    }
    f.flush().unwrap();
    crc.finalize()
}

fn crc_of(path: &Path) -> u32 {
    let mut f = fs::File::open(path).unwrap();
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return crc.finalize();
        }
        crc.update(&buf[..n]);
    }
}

#[test]
fn a_large_file_streams_in_bounded_memory_and_comes_back_whole() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("src")).unwrap();
    fs::create_dir_all(r.join("tiny")).unwrap();
    fs::write(r.join("tiny/a.txt"), b"hello\n").unwrap();
    let crc = write_large(&r.join("src/big.bin"), 160);
    fs::write(r.join("src/small.txt"), b"small file beside it\n").unwrap();

    // What bsar holds for a one-file tree: its tables and models.
    let (done, err, base_create) = run_measured(r, &["create", "-q", "tiny.bsar", "tiny"]);
    assert!(done, "{err}");
    let (done, err, base_extract) = run_measured(r, &["extract", "-q", "tiny.bsar", "-C", "t"]);
    assert!(done, "{err}");

    let (done, err, create) = run_measured(r, &["create", "-q", "-j2", "big.bsar", "src"]);
    assert!(done, "{err}");
    let (done, err, extract) = run_measured(r, &["extract", "-q", "big.bsar", "-C", "x"]);
    assert!(done, "{err}");
    let (done, err, verify) = run_measured(r, &["verify", "-q", "big.bsar"]);
    assert!(done, "{err}");
    assert_eq!(crc_of(&r.join("x/src/big.bin")), crc);
    assert_eq!(
        fs::read(r.join("x/src/small.txt")).unwrap(),
        b"small file beside it\n"
    );
    println!(
        "peak KiB: create {create} (one-file tree {base_create}), extract {extract} \
         ({base_extract}), verify {verify}"
    );
    // Holding the 160 MiB file whole, or its chunk's pages, would pass these bounds.
    let bound = 64 << 10;
    assert!(create < base_create + bound, "create: {create} KiB");
    assert!(extract < base_extract + bound, "extract: {extract} KiB");
    assert!(verify < base_extract + bound, "verify: {verify} KiB");
    // The compressible half is compressed.
    let archive = fs::metadata(r.join("big.bsar")).unwrap().len();
    assert!(archive < (160 << 20) * 4 / 5, "{archive} bytes");
}
