//! Information content of an interval in fixed point, with integers only.
//!
//! An encoder that chooses between two codings by their cost must choose the same way on every
//! machine, or the same input would give different archives. Platform `log2` may differ in the
//! last bit between libraries; this integer version cannot.

/// Fractional bits of a [`Q16`] cost.
pub const Q16_ONE: u64 = 1 << 16;

/// A cost in 1/65536 bits.
pub type Q16 = u64;

/// `log2(x)` in 1/65536 units, rounded down (up to one unit low per squaring step), for
/// `x >= 1`: the integer part from the leading zeros, the fraction by repeated squaring of the
/// mantissa in Q31.
pub fn log2_q16(x: u32) -> Q16 {
    assert!(x >= 1, "log2 of 0");
    let e = 31 - x.leading_zeros();
    // Mantissa x / 2^e in [1, 2), as Q31: in [2^31, 2^32).
    let mut m = (x as u64) << (31 - e);
    let mut frac = 0u64;
    for _ in 0..16 {
        m = (m * m) >> 31; // below 2^64: m < 2^32
        frac <<= 1;
        if m >= 1 << 32 {
            m >>= 1;
            frac |= 1;
        }
    }
    ((e as u64) << 16) | frac
}

/// `-log2(freq / 2^precision)` in 1/65536 bits: what pushing a symbol of that frequency costs.
pub fn cost_q16(freq: u32, precision: u32) -> Q16 {
    ((precision as u64) << 16) - log2_q16(freq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_on_powers_of_two_and_close_elsewhere() {
        for e in 0..31 {
            assert_eq!(log2_q16(1 << e), (e as u64) << 16);
        }
        for x in [3u32, 5, 7, 1000, 65_535, 1_000_003, u32::MAX] {
            let exact = (x as f64).log2() * Q16_ONE as f64;
            let got = log2_q16(x) as f64;
            assert!(
                got <= exact + 1e-6 && exact - got < 20.0,
                "{x}: {got} vs {exact}"
            );
        }
        assert_eq!(cost_q16(1 << 19, 20), Q16_ONE);
    }
}
