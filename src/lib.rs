//! bsar: a lossless archiver for image datasets.
//!
//! Layers, top to bottom (a lower layer never imports a higher one):
//! files -> archive (container, index, CRC) -> codec (zstd | bitswap)
//!       -> bitswap (scheme) -> model (engine) + ans (coder)

pub mod ans;
pub mod model;
pub mod imageio;
