use sha2::{Digest, Sha256};

/// The checked-in PTX was generated from the kernel sources as they are now: its first line
/// records their SHA-256 (computed as cuda/build-ptx.py does). Regenerate with
/// `python3 cuda/build-ptx.py` after editing a kernel.
#[test]
fn kernels_ptx_matches_sources() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/gpu/kernels");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cu") || n.ends_with(".h"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "kernel sources: {names:?}");
    let mut h = Sha256::new();
    for n in &names {
        h.update(n.as_bytes());
        h.update([0]);
        h.update(std::fs::read(format!("{dir}/{n}")).unwrap());
        h.update([0]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let first = super::PTX.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!("// bsar-kernels-sha256: {hex}"),
        "src/gpu/kernels/bsar.ptx is stale: run python3 cuda/build-ptx.py"
    );
    for kernel in [
        "rans_push",
        "rans_pop",
        "rans_pop_cdf",
        "conv3x3",
        "elu",
        "logistic_cdf",
    ] {
        assert!(
            super::PTX.contains(&format!(".entry {kernel}(")),
            "{kernel} missing"
        );
    }
    assert!(
        super::PTX.contains("\n.version 8.0\n"),
        "PTX ISA pinned to 8.0"
    );
}

/// Without a driver the probe answers with one line, and never panics.
#[test]
fn probe_gives_a_device_or_one_line() {
    match super::probe() {
        Ok(g) => eprintln!("CUDA device: {}", g.name()),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
            eprintln!("SKIPPED: no CUDA device: {msg}");
        }
    }
}
