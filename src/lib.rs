//! bsar: a lossless archiver for image datasets.
//!
//! Layers, top to bottom (a lower layer never imports a higher one):
//! files -> archive (container, index, CRC) -> codec (zstd | bitswap | lepton)
//!       -> bitswap (scheme) + context and levels (adaptive coders) -> model (engine) + ans (coder)
//!
//! Here: `cli` is the files layer (walking, extracting, the command line), `archive` the
//! container, `codec` the chunk coders.

pub mod ans;
pub mod archive;
pub mod bitswap;
pub mod cli;
pub mod codec;
pub mod context;
/// GPU coding with CUDA (`--features cuda`).
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod imageio;
pub mod levels;
pub mod model;
pub mod shipped;
