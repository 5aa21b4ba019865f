//! The files layer: the command line, walking directories, and restoring members to disk.

mod args;
mod create;
mod device;
mod extract;
mod list;
mod models;
mod open;
pub mod paths;
mod progress;
mod select;
mod summary;
mod verify;
mod walk;

pub use args::{Cli, Command};
pub use create::load_member;

/// A failure of a command, shown as one `bsar: error: ...` line.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<crate::archive::Error> for CliError {
    fn from(e: crate::archive::Error) -> Self {
        CliError(e.to_string())
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// The codecs a reader needs: zstd, and Bit-Swap over every shipped model (loaded only when a
/// Bit-Swap chunk is decoded), batching groups of chunks on `engine` when there is one.
pub(crate) fn reading_registry(engine: &device::Engine) -> crate::codec::Registry {
    use crate::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
    let mut r = crate::codec::Registry::default();
    let loader = Box::new(|| {
        let all = crate::shipped::all().map_err(|e| e.to_string())?;
        Ok(all.iter().map(|e| e.model.clone()).collect())
    });
    // The scheme and precisions of a chunk are read from the chunk itself when decoding.
    let scheme = crate::bitswap::Scheme::BitSwap;
    let mut codec = BitswapCodec::lazy(loader, scheme, DEFAULT_PRECISIONS);
    if let Some(nets) = engine {
        codec = codec.with_batching(nets.clone(), device::GPU_MAX_BATCH);
    }
    r.register(Box::new(codec));
    r
}

/// Chunks read at once: a group for the batch coder, or one at a time.
pub(crate) fn reading_group(engine: &device::Engine) -> usize {
    if engine.is_some() {
        device::GPU_CHUNKS
    } else {
        1
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Create(a) => create::run(a),
        Command::Extract(a) => extract::run(a),
        Command::List(a) => list::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Models => models::run(),
    }
}
