//! The one error type of the rANS layer.
//!
//! Every variant renders as a single line without a trailing period, so that the
//! layers above can prefix it ("chunk 3: ans: ...") ripgrep-style.

use std::fmt;

/// What went wrong while building a model or reading a serialised stack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnsError {
    /// A precision outside `1..=MAX_PRECISION`.
    BadPrecision(u32),
    /// A frequency table or symbol count that cannot form a distribution.
    BadDistribution(&'static str),
    /// The serialised stack ends before the part named here is complete.
    Truncated(&'static str),
    /// The serialised lane count is zero, too large, or not minimally encoded.
    BadLaneCount,
    /// A serialised head is below 2^32 or not minimally encoded.
    BadHead { lane: usize },
    /// Unused bits of the head-length bytes are not zero.
    BadPadding,
    /// The tail section is not a whole number of 32-bit words.
    RaggedTail { len: usize },
    /// After decoding everything, the stack is not back in its initial state.
    NotInitial(&'static str),
}

impl fmt::Display for AnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnsError::BadPrecision(p) => {
                write!(f, "precision {p} is outside 1..={}", super::MAX_PRECISION)
            }
            AnsError::BadDistribution(why) => write!(f, "invalid distribution: {why}"),
            AnsError::Truncated(part) => write!(f, "stack data truncated in the {part}"),
            AnsError::BadLaneCount => write!(f, "invalid lane count in stack header"),
            AnsError::BadHead { lane } => write!(f, "invalid head for lane {lane}"),
            AnsError::BadPadding => write!(f, "nonzero padding bits in head lengths"),
            AnsError::RaggedTail { len } => {
                write!(
                    f,
                    "tail of {len} bytes is not a whole number of 32-bit words"
                )
            }
            AnsError::NotInitial(why) => {
                write!(
                    f,
                    "stream did not decode to the initial state ({why}): data is corrupt"
                )
            }
        }
    }
}

impl std::error::Error for AnsError {}
