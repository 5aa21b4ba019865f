//! The integer CDF of spec/model.md §4.5-4.6: the logistic table is exactly the published one,
//! and every table is valid (all bins >= 1, exact sums) even for extreme or broken parameters.

use bsar::model::{logistic_table, pixel_edges, LogisticBins, TABLE_CRC32, TABLE_LEN};

#[test]
fn logistic_table_matches_the_published_crc() {
    let t = logistic_table();
    let mut bytes = Vec::with_capacity(TABLE_LEN * 4);
    for v in t.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let crc = crc32fast::hash(&bytes);
    assert_eq!(crc, TABLE_CRC32, "table CRC is {crc:#010x}");
    // Spot values the spec quotes.
    assert_eq!(t[16384], 1 << 30);
    assert_eq!((t[0], t[TABLE_LEN - 1]), (SPEC_T0, SPEC_TLAST));
}

const SPEC_T0: u32 = 242;
const SPEC_TLAST: u32 = 2_147_483_406;

#[test]
fn logistic_table_is_monotone_symmetric_and_accurate() {
    let t = logistic_table();
    assert!(
        t.windows(2).all(|w| w[0] <= w[1]),
        "table must be non-decreasing"
    );
    assert!(
        t[8192..24577].windows(2).all(|w| w[0] < w[1]),
        "strictly increasing for |t| <= 8"
    );
    for j in 0..TABLE_LEN {
        assert_eq!(t[j] + t[TABLE_LEN - 1 - j], 1 << 31, "symmetry at {j}");
        let x = j as f64 / 1024.0 - 16.0;
        let want = 2f64.powi(31) / (1.0 + (-x).exp()); // platform exp: fine for a test reference
        assert!(
            (t[j] as f64 - want).abs() <= 0.5 + 1e-6,
            "T[{j}] = {} vs {want}",
            t[j]
        );
    }
}

/// Checks every invariant a coder relies on, exhaustively over the symbols.
fn assert_valid(b: &LogisticBins, what: &str) {
    let n = b.symbols();
    let total = 1u64 << b.precision();
    let mut sum = 0u64;
    for s in 0..n {
        let (start, freq) = b.interval(s);
        assert!(freq >= 1, "{what}: symbol {s} has zero frequency");
        assert_eq!(start as u64, sum, "{what}: intervals not contiguous at {s}");
        sum += freq as u64;
        // find() inverts interval() at both ends of the interval.
        assert_eq!(
            b.find(start),
            (s, start, freq),
            "{what}: find(start) of {s}"
        );
        assert_eq!(
            b.find(start + freq - 1),
            (s, start, freq),
            "{what}: find(end) of {s}"
        );
    }
    assert_eq!(sum, total, "{what}: frequencies do not sum to 2^p");
    assert_eq!(b.cdf(0), 0);
    assert_eq!(b.cdf(n) as u64, total);
}

fn latent_edges(n: usize) -> Vec<f32> {
    (1..n)
        .map(|i| ((i as f64) / ((n - i) as f64)).ln() as f32)
        .collect()
}

const MUS: [f32; 12] = [
    0.0,
    0.3,
    -0.999,
    1.0,
    1e-30,
    -5.0,
    40.0,
    -1e6,
    3e38,
    f32::MAX,
    f32::INFINITY,
    f32::NEG_INFINITY,
];
const INV_S: [f32; 9] = [1.0, 1e-30, 1.5e-38, 0.1, 10.0, 403.4, 8.9e6, 1e30, f32::MAX];

#[test]
fn pixel_tables_are_valid_for_extreme_parameters() {
    for &mu in MUS.iter().chain(&[f32::NAN]) {
        for &inv_s in INV_S.iter().chain(&[f32::NAN, 0.0, f32::INFINITY]) {
            for p in [8u32, 12, 16, 24, 31] {
                let b = LogisticBins::pixel(mu, inv_s, p);
                assert_valid(&b, &format!("pixel mu={mu} inv_s={inv_s} p={p}"));
            }
        }
    }
}

#[test]
fn latent_tables_are_valid_for_extreme_parameters() {
    let edges = latent_edges(1024);
    for &mu in MUS.iter().chain(&[f32::NAN]) {
        for &inv_s in &INV_S {
            for p in [10u32, 16, 20] {
                let b = LogisticBins::new(&edges, mu, inv_s, p);
                assert_valid(&b, &format!("latent mu={mu} inv_s={inv_s} p={p}"));
            }
        }
    }
}

#[test]
fn tables_follow_the_distribution() {
    // A sharp pixel logistic centred on value 100 puts most mass there; the top prior over
    // equal-mass latent bins is (almost) uniform.
    let e = pixel_edges();
    assert_eq!(e[0], 1.0f32 / 255.0 - 1.0);
    assert_eq!(e[254], 509.0f32 / 255.0 - 1.0);
    let mu = 100.0f32 / 127.5 - 1.0;
    let b = LogisticBins::pixel(mu, 1.0 / 0.002, 16);
    let (_, f100) = b.interval(100);
    let f = |t: f64| 1.0 / (1.0 + (-t).exp());
    let half = (1.0f64 / 255.0) / 0.002;
    let want = 1.0 + (65536.0 - 256.0) * (f(half) - f(-half));
    assert!(
        (f100 as f64 - want).abs() < 3.0,
        "freq of the mode {f100}, want {want}"
    );
    let edges = latent_edges(1024);
    let top = LogisticBins::top_prior(&edges, 16);
    for s in 0..1024 {
        let (_, f) = top.interval(s);
        assert!((f as i64 - 64).abs() <= 1, "top prior bin {s} has {f}");
    }
}

#[test]
fn precision_must_hold_every_bin() {
    let edges = latent_edges(1024);
    assert!(std::panic::catch_unwind(|| LogisticBins::new(&edges, 0.0, 1.0, 9)).is_err());
    assert!(std::panic::catch_unwind(|| LogisticBins::new(&edges, 0.0, 1.0, 32)).is_err());
    assert_valid(&LogisticBins::new(&edges, 0.0, 1.0, 10), "p = log2(n)");
}
