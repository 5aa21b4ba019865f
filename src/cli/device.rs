//! `--device`: where the image models run. On a GPU, Bit-Swap chunks are coded in groups, with
//! every net pass batched across the chunks of a group (`bitswap::batch`); on the CPU, each
//! chunk on a thread of its own. Either way the archive bytes are the same.

use super::args::Device;
use super::{CliError, CliResult};
use crate::bitswap::Nets;
use std::sync::Arc;

/// Bit-Swap chunks coded together on a GPU (one thread each for their CPU work).
pub const GPU_CHUNKS: usize = 256;
/// The most patches of one net pass on a GPU.
pub const GPU_MAX_BATCH: usize = 2048;

/// The engine that codes chunks in groups, or `None` for the CPU path.
pub type Engine = Option<Arc<dyn Nets + Send>>;

/// Resolves `--device`. `auto` without a usable GPU says why in one line on stderr and picks
/// the CPU; `gpu` without one is an error.
pub fn choose(device: Device) -> CliResult<Engine> {
    match device {
        Device::Cpu => Ok(None),
        Device::Auto | Device::Gpu => open(device),
    }
}

#[cfg(feature = "cuda")]
fn open(device: Device) -> CliResult<Engine> {
    match crate::codec::gpu::open_gpu() {
        Ok(nets) => Ok(Some(Arc::new(nets))),
        Err(e) if device == Device::Gpu => Err(CliError(format!("--device gpu: {e}"))),
        Err(e) => {
            eprintln!("bsar: {e}; coding on the CPU");
            Ok(None)
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn open(device: Device) -> CliResult<Engine> {
    if device == Device::Gpu {
        return Err(CliError(
            "--device gpu: this bsar was built without the cuda feature \
             (cargo build --release --features cuda)"
                .into(),
        ));
    }
    Ok(None)
}
