//! rANS stack coder with interleaved lanes (byte-level specification:
//! spec/ans.md).
//!
//! A [`Stack`] holds one 64-bit head per lane and one shared tail of 32-bit
//! words. Symbols are pushed and popped as integer intervals of `2^precision`,
//! either raw (`push`, `peek` + `pop`) or through a [`Distribution`]
//! (`push_symbol`, `pop_symbol`). Popping from an empty stack is defined (it
//! reads the pseudo-random supply words of spec/ans.md 3.4), which is what bits-back coding needs.

mod cost;
mod distribution;
mod error;
mod serial;
mod stack;

pub use cost::{cost_q16, log2_q16, Q16, Q16_ONE};
pub use distribution::{Categorical, Distribution, Uniform};
pub use error::AnsError;
pub use stack::{supply_word, Checkpoint, Stack};

/// Largest supported precision: frequencies and `2^precision` fit a `u32`.
pub const MAX_PRECISION: u32 = 31;

/// Every head lies in `[HEAD_MIN, 2^64)`; a fresh lane holds exactly `HEAD_MIN`.
pub const HEAD_MIN: u64 = 1 << 32;

/// Most lanes a stack may have (bounds allocation on hostile input).
pub const MAX_LANES: usize = 1 << 24;

#[cfg(test)]
mod tests;
