//! Bits-back coding of image sequences: Bit-Swap and BB-ANS over the rANS stack, driven by the
//! model engine (spec/bitswap.md).

pub mod batch;
pub mod choice;
pub mod estimate;
mod nets;
pub mod patches;
pub mod predictive;
mod scheme;
mod stream;

pub use nets::{CpuNets, Nets};
pub use scheme::{PatchCoder, Precisions, Scheme};
pub use stream::{
    decode, decode_counting, decode_with, decode_with_code, encode, encode_chunk, encode_with,
    encode_with_code, same_grid, DirectCode, Encoded, ModeCounts, Planes, PlanesShape, Policy,
    StreamError,
};
