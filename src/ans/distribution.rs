//! Models as values: anything that maps symbols to integer intervals out of
//! `2^precision` and back.

use super::{AnsError, MAX_PRECISION};

/// A discrete distribution quantised to integer frequencies that sum to
/// `2^precision()`, every codable symbol having frequency at least 1.
pub trait Distribution {
    /// The precision `p` in `1..=31`; intervals lie in `[0, 2^p)`.
    fn precision(&self) -> u32;
    /// `(start, freq)` of `symbol`. May panic on a symbol outside the alphabet
    /// (the encoder's symbols come from the program, not from a file).
    fn interval(&self, symbol: u32) -> (u32, u32);
    /// `(symbol, start, freq)` of the interval containing `cum`, for any
    /// `cum < 2^precision()`. Must never panic for such `cum`.
    fn find(&self, cum: u32) -> (u32, u32, u32);
}

fn check_precision(precision: u32) -> Result<(), AnsError> {
    if (1..=MAX_PRECISION).contains(&precision) {
        Ok(())
    } else {
        Err(AnsError::BadPrecision(precision))
    }
}

/// A categorical distribution over symbols `0..n` given by a frequency table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Categorical {
    precision: u32,
    /// `cdf[s]` = sum of the frequencies of symbols below `s`; `cdf[n] = 2^p`.
    cdf: Vec<u32>,
}

impl Categorical {
    /// Builds the distribution; the frequencies must all be at least 1 and sum
    /// to exactly `2^precision`.
    pub fn new(freqs: &[u32], precision: u32) -> Result<Categorical, AnsError> {
        check_precision(precision)?;
        if freqs.is_empty() {
            return Err(AnsError::BadDistribution("no symbols"));
        }
        if freqs.contains(&0) {
            return Err(AnsError::BadDistribution("a frequency is zero"));
        }
        let total = 1u64 << precision;
        // Reserve only after the cheap checks, and never more than 2^p + 1 entries.
        if freqs.len() as u64 > total {
            return Err(AnsError::BadDistribution("more symbols than 2^precision"));
        }
        let mut cdf = Vec::with_capacity(freqs.len() + 1);
        let mut sum = 0u64;
        cdf.push(0);
        for &f in freqs {
            sum += f as u64;
            if sum > total {
                return Err(AnsError::BadDistribution(
                    "frequencies sum above 2^precision",
                ));
            }
            cdf.push(sum as u32);
        }
        if sum != total {
            return Err(AnsError::BadDistribution(
                "frequencies sum below 2^precision",
            ));
        }
        Ok(Categorical { precision, cdf })
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.cdf.len() - 1
    }

    /// Always false: a distribution has at least one symbol.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Distribution for Categorical {
    #[inline]
    fn precision(&self) -> u32 {
        self.precision
    }

    #[inline]
    fn interval(&self, symbol: u32) -> (u32, u32) {
        let s = symbol as usize;
        let start = self.cdf[s];
        (start, self.cdf[s + 1] - start)
    }

    #[inline]
    fn find(&self, cum: u32) -> (u32, u32, u32) {
        // Number of symbols whose end is <= cum, i.e. the index of the symbol
        // containing cum. The min() only matters for cum >= 2^p (a caller bug).
        let s = self.cdf[1..]
            .partition_point(|&end| end <= cum)
            .min(self.len() - 1);
        let start = self.cdf[s];
        (s as u32, start, self.cdf[s + 1] - start)
    }
}

/// `n` symbols as evenly as integers allow: with `base = 2^p / n` and
/// `extra = 2^p mod n`, symbols `0..extra` get `base + 1`, the rest `base`.
/// Exact (every symbol `2^-log2 n`) when `n` is a power of two, e.g. `bits(k)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uniform {
    precision: u32,
    n: u32,
    base: u32,
    extra: u32,
}

impl Uniform {
    /// `n` symbols, `1 <= n <= 2^precision`.
    pub fn new(n: u32, precision: u32) -> Result<Uniform, AnsError> {
        check_precision(precision)?;
        let total = 1u64 << precision;
        if n == 0 || n as u64 > total {
            return Err(AnsError::BadDistribution(
                "uniform needs 1 <= n <= 2^precision",
            ));
        }
        let base = (total / n as u64) as u32;
        let extra = (total % n as u64) as u32;
        Ok(Uniform {
            precision,
            n,
            base,
            extra,
        })
    }

    /// `k` raw bits: `2^k` symbols at precision `k`, `1 <= k <= 31`.
    pub fn bits(k: u32) -> Result<Uniform, AnsError> {
        check_precision(k)?;
        Uniform::new(1 << k, k)
    }

    /// Number of symbols.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Always false: a distribution has at least one symbol.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Distribution for Uniform {
    #[inline]
    fn precision(&self) -> u32 {
        self.precision
    }

    #[inline]
    fn interval(&self, symbol: u32) -> (u32, u32) {
        assert!(symbol < self.n, "symbol {symbol} outside 0..{}", self.n);
        let wide = self.base + 1;
        if symbol < self.extra {
            (symbol * wide, wide)
        } else {
            // Fits u32: it is below 2^p <= 2^31.
            (
                self.extra * wide + (symbol - self.extra) * self.base,
                self.base,
            )
        }
    }

    #[inline]
    fn find(&self, cum: u32) -> (u32, u32, u32) {
        let wide = self.base + 1;
        let split = self.extra * wide;
        let s = if cum < split {
            cum / wide
        } else {
            (self.extra + (cum - split) / self.base).min(self.n - 1)
        };
        let (start, freq) = self.interval(s);
        (s, start, freq)
    }
}
