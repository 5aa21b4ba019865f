//! Bits-back coding of image sequences: Bit-Swap and BB-ANS over the rANS stack, driven by the
//! model engine (spec/bitswap.md).

pub mod batch;
pub mod choice;
mod encode;
pub mod estimate;
mod nets;
pub mod patches;
pub mod predictive;
mod scheme;
mod stream;

pub use encode::{encode, encode_chunk, encode_with, encode_with_code, same_grid, Encoded};
pub use nets::{CpuNets, Nets};
pub use scheme::{PatchCoder, Precisions, Scheme};
pub use stream::{
    decode, decode_counting, decode_with, decode_with_code, DirectCode, ModeCounts, Planes,
    PlanesShape, Policy, StreamError,
};
