//! `--device auto|cpu|gpu` through the real binary. Without the `cuda` feature: `auto` and `cpu`
//! code on the CPU silently, `gpu` is one clear error. With it (`cargo test --features cuda
//! --test device_cli`), on a machine without a usable GPU: `auto` says why in one line and
//! codes on the CPU (a fake driver with no device; no driver at all), `gpu` is an error. The
//! archive bytes are the same whatever the device.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Two small RGB images and a grey one (PNM), and a text file.
fn tree(root: &Path) {
    let d = root.join("in");
    fs::create_dir_all(&d).unwrap();
    for (i, (w, h, grey)) in [(16usize, 12usize, false), (9, 20, false), (10, 7, true)]
        .into_iter()
        .enumerate()
    {
        let c = if grey { 1 } else { 3 };
        let jitter = noise(w * h * c, i as u64);
        let mut f = format!("P{}\n{w} {h}\n255\n", if grey { 5 } else { 6 }).into_bytes();
        f.extend((0..w * h * c).map(|k| ((k / c % w) * 9 + (k / c / w) * 4) as u8 + jitter[k] % 5));
        fs::write(
            d.join(format!("img{i}.{}", if grey { "pgm" } else { "ppm" })),
            f,
        )
        .unwrap();
    }
    fs::write(d.join("notes.txt"), b"not an image\n").unwrap();
}

fn run(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("bsar runs")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `create`, `verify` and `extract` with `device` (extra environment `env`): the archive bytes,
/// and stderr of each command. Extraction must give the tree back.
fn round_trip(dir: &Path, device: &str, env: &[(&str, &Path)]) -> (Vec<u8>, Vec<String>) {
    let name = format!("{device}.bsar");
    let out = dir.join(format!("out-{device}"));
    let mut errs = Vec::new();
    for args in [
        vec!["create", "-q", &name, "in", "--device", device],
        vec!["verify", "-q", &name, "--device", device],
        vec![
            "extract",
            "-q",
            &name,
            "-C",
            out.to_str().unwrap(),
            "--device",
            device,
        ],
    ] {
        let o = run(dir, &args, env);
        assert!(o.status.success(), "bsar {args:?}: {}", stderr(&o));
        errs.push(stderr(&o));
    }
    assert_same_tree(&dir.join("in"), &out.join("in"));
    (fs::read(dir.join(&name)).unwrap(), errs)
}

#[cfg(not(feature = "cuda"))]
#[test]
fn without_the_cuda_feature_gpu_is_refused_and_the_cpu_serves() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    tree(dir);
    let (cpu, errs) = round_trip(dir, "cpu", &[]);
    assert!(errs.iter().all(|e| e.is_empty()), "{errs:?}");
    let (auto, errs) = round_trip(dir, "auto", &[]);
    assert!(
        errs.iter().all(|e| e.is_empty()),
        "auto is silent: {errs:?}"
    );
    assert!(auto == cpu, "--device auto and cpu give the same archive");
    let want = "bsar: error: --device gpu: this bsar was built without the cuda feature";
    for args in [
        &["create", "gpu.bsar", "in", "--device", "gpu"][..],
        &["verify", "cpu.bsar", "--device", "gpu"],
        &["extract", "cpu.bsar", "-C", "x", "--device", "gpu"],
    ] {
        let e = fails(dir, args);
        assert!(e.starts_with(want), "{args:?}: {e}");
    }
    assert!(!dir.join("gpu.bsar").exists(), "no archive is left behind");
    assert!(!dir.join("x").exists(), "nothing is extracted");
    let e = fails(
        dir,
        &[
            "create", "z.bsar", "in", "--scheme", "zstd", "--device", "gpu",
        ],
    );
    assert!(e.starts_with(want), "{e}");
}

/// With the feature and a stand-in driver that has no device (as tests/gpu.rs builds it).
#[cfg(feature = "cuda")]
#[test]
fn with_the_cuda_feature_and_no_device_auto_falls_back_and_gpu_fails() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    tree(dir);
    let lib = dir.join("driver");
    fs::create_dir_all(&lib).unwrap();
    fs::write(
        lib.join("fake.c"),
        "int cuInit(unsigned f) { return 0; }\nint cuDeviceGetCount(int *c) { *c = 0; return 0; }\n",
    )
    .unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(lib.join("libcuda.so.1"))
        .arg(lib.join("fake.c"))
        .status();
    assert!(
        matches!(built, Ok(s) if s.success()),
        "{cc} builds the fake driver"
    );
    let env = [("LD_LIBRARY_PATH", lib.as_path())];
    let (cpu, errs) = round_trip(dir, "cpu", &env);
    assert!(
        errs.iter().all(|e| e.is_empty()),
        "cpu does not probe: {errs:?}"
    );
    let (auto, errs) = round_trip(dir, "auto", &env);
    for e in &errs {
        assert_eq!(e, "bsar: no CUDA device; coding on the CPU\n");
    }
    assert!(auto == cpu, "the same archive");
    for args in [
        &["create", "gpu.bsar", "in", "--device", "gpu"][..],
        &["extract", "cpu.bsar", "-C", "x", "--device", "gpu"],
    ] {
        let o = run(dir, args, &env);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o), "bsar: error: --device gpu: no CUDA device\n");
    }
    assert!(!dir.join("gpu.bsar").exists() && !dir.join("x").exists());
}

/// With the feature where there is no driver at all (skipped loudly where one is installed).
#[cfg(feature = "cuda")]
#[test]
fn with_the_cuda_feature_and_no_driver_auto_says_so() {
    let has_driver = Command::new("sh")
        .args(["-c", "ldconfig -p | grep -q 'libcuda.so.1 '"])
        .status()
        .is_ok_and(|s| s.success())
        || Path::new("/usr/local/nvidia/lib64/libcuda.so.1").exists();
    if has_driver {
        eprintln!("SKIPPED: a CUDA driver is installed here");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    tree(dir);
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let env = [("LD_LIBRARY_PATH", empty.as_path())];
    let o = run(dir, &["create", "-q", "a.bsar", "in"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.starts_with("bsar: no CUDA driver (") && e.ends_with("); coding on the CPU\n"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    let o = run(dir, &["create", "b.bsar", "in", "--device", "gpu"], &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("bsar: error: --device gpu: no CUDA driver ("));
}
