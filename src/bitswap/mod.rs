//! Bits-back coding of image sequences: Bit-Swap and BB-ANS over the rANS stack, driven by the
//! model engine (spec/bitswap.md).

pub mod patches;
pub mod predictive;
mod scheme;
mod stream;

pub use scheme::{PatchCoder, Precisions, Scheme};
pub use stream::{decode, encode, Planes, PlanesShape, Policy, StreamError};
