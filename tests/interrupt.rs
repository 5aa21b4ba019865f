//! Interrupted runs clean up (issue #33, item 4): SIGINT, SIGTERM or SIGHUP during `create` leaves
//! no temporary archive beside the target and no archive under its name; during `extract` it leaves
//! no incomplete member file. The process dies of the signal, so a shell sees 128 + its number.
//! Through the real binary, signalled with kill(1).

mod common;

use common::{noise, BIN};
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes that zstd's level 19 works on for a while: 4 bits of noise per byte.
fn slow_to_compress(len: usize, seed: u64) -> Vec<u8> {
    noise(len, seed)
        .into_iter()
        .map(|b| b'a' + (b & 15))
        .collect()
}

fn spawn(cwd: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bsar starts")
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".bsar-tmp-")
        })
        .collect()
}

/// Polls `ready` until it holds, failing the test after a minute.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// Waits for `child` and requires it to have died of signal `number` (after cleaning up).
fn died_of(child: Child, number: i32) {
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(number),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_interrupted_create_leaves_no_temporary_file_and_no_archive() {
    for (name, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        let root = tempfile::tempdir().unwrap();
        let src = root.path().join("src");
        fs::create_dir(&src).unwrap();
        for i in 0..4 {
            fs::write(src.join(format!("f{i}.txt")), slow_to_compress(8 << 20, i)).unwrap();
        }
        let out = root.path().join("out");
        fs::create_dir(&out).unwrap();
        let child = spawn(
            root.path(),
            &["create", "-q", "--zstd-level", "19", "out/t.bsar", "src"],
        );
        wait_for("the temporary archive", || !temporaries(&out).is_empty());
        std::thread::sleep(Duration::from_millis(100));
        signal(&child, name);
        died_of(child, number);
        assert_eq!(temporaries(&out), Vec::<PathBuf>::new(), "SIG{name}");
        assert!(!out.join("t.bsar").exists(), "SIG{name}: a partial archive");
    }
}

#[test]
fn an_interrupted_extract_leaves_no_incomplete_member() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    fs::create_dir(&src).unwrap();
    // Large members that decode fast, so that most of the time goes on writing them.
    let contents: Vec<Vec<u8>> = (0..24u8)
        .map(|i| {
            let mut v = vec![i; 24 << 20];
            v[..4096].copy_from_slice(&noise(4096, i as u64));
            v
        })
        .collect();
    for (i, c) in contents.iter().enumerate() {
        fs::write(src.join(format!("f{i:02}.bin")), c).unwrap();
    }
    common::ok(
        root.path(),
        &["create", "-q", "--zstd-level", "1", "t.bsar", "src"],
    );
    fs::remove_dir_all(&src).unwrap();
    let child = spawn(root.path(), &["extract", "-q", "-j1", "t.bsar", "-C", "x"]);
    let dir = root.path().join("x/src");
    wait_for("the first member", || {
        fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some())
    });
    signal(&child, "INT");
    died_of(child, 2);
    let mut complete = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let i: usize = name[1..3].parse().unwrap();
        assert!(
            fs::read(&path).unwrap() == contents[i],
            "{name} was left incomplete"
        );
        complete += 1;
    }
    assert!(
        complete < contents.len(),
        "the run ended before the signal came; the test proves nothing"
    );
}
