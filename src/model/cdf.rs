//! Integer frequency tables for discretised logistics (spec/model.md §4.5-4.6).
//!
//! Only integer arithmetic and two f32 operations per edge (`(e - mu) * inv_s`) happen here, so
//! the encoder and the decoder (CPU or GPU) compute the same frequencies bit for bit.

use super::exp::exp_f64;
use std::sync::OnceLock;

/// Number of entries of the logistic table `T`: `t = j/1024 - 16` for `j` in `0..=32768`.
pub const TABLE_LEN: usize = 32769;
/// The logistic argument is clamped to `[-T_CLAMP, T_CLAMP]` before the table lookup.
pub const T_CLAMP: f32 = 16.0;
/// CRC-32 (ISO-HDLC, as crc32fast) of the table as little-endian u32s; published in the spec.
pub const TABLE_CRC32: u32 = 0x558D_3FF6;
/// Number of pixel values (bins) of the pixel distribution.
pub const PIXEL_BINS: usize = 256;
/// The largest precision supported: `2^p` must fit a u32.
pub const MAX_PRECISION: u32 = 31;

/// The table `T[j] ~= 2^31 F(j/1024 - 16)`, built once per process by the exact recipe of §4.5.
pub fn logistic_table() -> &'static [u32; TABLE_LEN] {
    static TABLE: OnceLock<Box<[u32; TABLE_LEN]>> = OnceLock::new();
    TABLE.get_or_init(build_logistic_table)
}

fn build_logistic_table() -> Box<[u32; TABLE_LEN]> {
    let mut t = Box::new([0u32; TABLE_LEN]);
    const MID: usize = 16384;
    for j in MID..TABLE_LEN {
        let x = (j - MID) as f64 / 1024.0; // exact
        let a = exp_f64(-x);
        let v = 2147483648.0 / (1.0 + a);
        t[j] = (v + 0.5).floor() as u32;
    }
    for j in 0..MID {
        t[j] = (1u32 << 31) - t[2 * MID - j];
    }
    t
}

/// The 255 interior pixel edges `e_k = (2k - 1)/255 - 1`, `k` in `1..=255`, computed as
/// `((2k - 1) as f32) / 255.0 - 1.0` (§4.6).
pub fn pixel_edges() -> &'static [f32; PIXEL_BINS - 1] {
    static EDGES: OnceLock<[f32; PIXEL_BINS - 1]> = OnceLock::new();
    EDGES.get_or_init(|| {
        let mut e = [0f32; PIXEL_BINS - 1];
        for (i, e) in e.iter_mut().enumerate() {
            let k = i as u32 + 1;
            *e = (2 * k - 1) as f32 / 255.0 - 1.0;
        }
        e
    })
}

/// `G(e)` of §4.5: the integer logistic CDF at edge `e`, in `0..2^31`.
#[inline(always)]
fn integer_logistic(table: &[u32; TABLE_LEN], e: f32, mu: f32, inv_s: f32) -> u64 {
    let t = (e - mu) * inv_s;
    // NaN fails the first comparison and becomes -16 (a defined, valid outcome).
    let t = if t >= -T_CLAMP { t } else { -T_CLAMP };
    let t = if t <= T_CLAMP { t } else { T_CLAMP };
    let u = (t * 65536.0) as i32; // exact scaling, truncation toward zero
    let v = (u + 16 * 65536) as u32; // 0..=2^21
    let (j, f) = ((v >> 6) as usize, v & 63);
    let lo = table[j];
    if f == 0 {
        lo as u64
    } else {
        lo as u64 + (((table[j + 1] - lo) as u64 * f as u64) >> 6)
    }
}

/// A logistic `(mu, inv_s)` discretised into `edges.len() + 1` ordered bins, quantised to integer
/// frequencies summing to `2^precision`, every bin at least 1. Cheap to build; every method is
/// evaluated on demand (no table is materialised).
#[derive(Clone, Copy, Debug)]
pub struct LogisticBins<'a> {
    table: &'static [u32; TABLE_LEN],
    edges: &'a [f32],
    mu: f32,
    inv_s: f32,
    precision: u32,
    /// `2^p - n`: the mass shared out by the logistic (each bin first gets 1).
    spread: u64,
}

impl<'a> LogisticBins<'a> {
    /// `edges` are the interior edges, non-decreasing. Any `mu`, `inv_s` (even NaN or infinite)
    /// give a valid table; the engine always supplies finite `inv_s > 0`.
    ///
    /// # Panics
    /// If `precision > 31` or `2^precision < edges.len() + 1` (a caller bug, not bad data).
    #[inline]
    pub fn new(edges: &'a [f32], mu: f32, inv_s: f32, precision: u32) -> Self {
        let n = edges.len() as u64 + 1;
        assert!(
            precision <= MAX_PRECISION && (1u64 << precision) >= n,
            "precision {precision} cannot hold {n} bins"
        );
        LogisticBins {
            table: logistic_table(),
            edges,
            mu,
            inv_s,
            precision,
            spread: (1u64 << precision) - n,
        }
    }

    /// The pixel distribution over 256 values (§2, §4.6).
    #[inline]
    pub fn pixel(mu: f32, inv_s: f32, precision: u32) -> LogisticBins<'static> {
        LogisticBins::new(pixel_edges(), mu, inv_s, precision)
    }

    /// The top prior `p(z_L)`: standard logistic (`mu = 0`, `inv_s = 1` exactly) over latent bins.
    #[inline]
    pub fn top_prior(latent_edges: &'a [f32], precision: u32) -> Self {
        LogisticBins::new(latent_edges, 0.0, 1.0, precision)
    }

    #[inline]
    pub fn precision(&self) -> u32 {
        self.precision
    }

    /// Number of symbols (bins).
    #[inline]
    pub fn symbols(&self) -> u32 {
        self.edges.len() as u32 + 1
    }

    /// Cumulative frequency `C(i)` for `i` in `0..=n` (`C(0) = 0`, `C(n) = 2^p`).
    #[inline]
    pub fn cdf(&self, i: u32) -> u32 {
        let n = self.edges.len() as u32 + 1;
        if i == 0 {
            return 0;
        }
        if i >= n {
            return 1u32 << self.precision;
        }
        let g = integer_logistic(self.table, self.edges[i as usize - 1], self.mu, self.inv_s);
        i + ((g * self.spread) >> 31) as u32
    }

    /// `(start, freq)` of `symbol` (`symbol < n`; larger values are clamped to the last bin).
    #[inline]
    pub fn interval(&self, symbol: u32) -> (u32, u32) {
        let s = symbol.min(self.symbols() - 1);
        let start = self.cdf(s);
        (start, self.cdf(s + 1) - start)
    }

    /// The symbol whose interval holds `cum` (`cum < 2^p`), as `(symbol, start, freq)`.
    #[inline]
    pub fn find(&self, cum: u32) -> (u32, u32, u32) {
        let (mut lo, mut hi) = (0u32, self.symbols());
        let (mut c_lo, mut c_hi) = (0u32, 1u32 << self.precision);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let c = self.cdf(mid);
            if c <= cum {
                lo = mid;
                c_lo = c;
            } else {
                hi = mid;
                c_hi = c;
            }
        }
        (lo, c_lo, c_hi - c_lo)
    }
}
