//! The files layer: the command line, walking directories, and restoring members to disk.

mod args;
mod create;
mod device;
mod extract;
pub mod interrupt;
mod list;
pub mod manifest;
mod models;
mod open;
pub mod paths;
mod progress;
mod reading;
mod select;
mod summary;
mod verify;
mod walk;

pub use args::{Cli, Command};
pub use create::load_member;
pub use summary::file_size;

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
/// Whether a file that starts with `head` is an image so large that the image codec tiles it
/// (`codec::tiles::writes_tiles`): the writer then plans it alone into its chunk.
pub fn alone_in_chunk(head: &[u8]) -> bool {
    use crate::codec::tiles::{writes_tiles, TILE_SIDE};
    crate::imageio::probe(head).is_some_and(|h| writes_tiles(h.width, h.height, TILE_SIDE))
}

/// Whether a file that starts with `head` is an image of more than 8 bits a sample, which the
/// writer plans into chunks of the deep-image codec.
pub fn deep_image(head: &[u8]) -> bool {
    crate::imageio::probe(head).is_some_and(|h| h.depth > 8)
}

/// The codecs a reader needs; a tiled image's tiles decode on `threads` threads.
pub(crate) fn reading_registry(engine: &device::Engine, threads: usize) -> crate::codec::Registry {
    use crate::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
    let mut r = crate::codec::Registry::default();
    let loader = Box::new(|| {
        let all = crate::shipped::all().map_err(|e| e.to_string())?;
        Ok(all.iter().map(|e| e.model.clone()).collect())
    });
    // The scheme and precisions of a chunk are read from the chunk itself when decoding.
    let scheme = crate::bitswap::Scheme::BitSwap;
    let mut codec = BitswapCodec::lazy(loader, scheme, DEFAULT_PRECISIONS).with_threads(threads);
    if let Some(nets) = engine {
        codec = codec.with_batching(nets.clone(), device::GPU_MAX_BATCH);
    }
    r.register(Box::new(codec));
    r
}

/// The codecs a reader of archives needs (zstd, and Bit-Swap with every shipped model), on the CPU,
/// a tiled image's tiles on every core.
pub fn reader_registry() -> crate::codec::Registry {
    reading_registry(
        &None,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    )
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Create(a) => create::run(a),
        Command::Extract(a) if manifest::is_manifest(&a.archive) => extract_shards(a),
        Command::Extract(a) => extract::run(a),
        Command::List(a) if manifest::is_manifest(&a.archive) => {
            let (m, paths) = manifest::read(&a.archive)?;
            for (i, (s, p)) in m.shards.iter().zip(paths).enumerate() {
                manifest::check_shard(&p, s, false)?;
                let one = args::ListArgs { archive: p, l: a.l };
                list::run_one(&one, i == 0)?;
            }
            Ok(())
        }
        Command::List(a) => list::run(a),
        Command::Verify(a) if manifest::is_manifest(&a.archive) => verify_shards(a),
        Command::Verify(a) => verify::run(a),
        Command::Models => models::run(),
    }
}

/// `verify` on a manifest: every shard's size, CRC32 and member count, then the shard itself.
/// Like chunks, a damaged shard does not stop the others from being checked.
fn verify_shards(a: args::VerifyArgs) -> CliResult<()> {
    let (m, paths) = manifest::read(&a.archive)?;
    let mut damaged = 0;
    for (s, p) in m.shards.iter().zip(paths) {
        let r = manifest::check_shard(&p, s, true).and_then(|()| {
            let members = verify::verify(args::VerifyArgs {
                archive: p.clone(),
                device: a.device,
                threads: a.threads,
                quiet: a.quiet,
            })?;
            if members != s.members {
                return Err(CliError(format!(
                    "shard {} is damaged: {members} members, the manifest says {}",
                    p.display(),
                    s.members
                )));
            }
            Ok(())
        });
        if let Err(e) = r {
            eprintln!("bsar: {e}");
            damaged += 1;
        }
    }
    if damaged > 0 {
        return Err(CliError(format!(
            "{}: {damaged} of {} shards are damaged",
            a.archive.display(),
            m.shards.len()
        )));
    }
    Ok(())
}

/// `extract` on a manifest: each shard in turn, with the named members found in it (a name found
/// in no shard is refused before anything is written).
fn extract_shards(a: args::ExtractArgs) -> CliResult<()> {
    let (m, paths) = manifest::read(&a.archive)?;
    let mut wanted: Vec<Vec<String>> = vec![Vec::new(); paths.len()];
    let mut found = vec![false; a.members.len()];
    for ((s, p), names) in m.shards.iter().zip(&paths).zip(&mut wanted) {
        manifest::check_shard(p, s, false)?;
        if a.members.is_empty() {
            continue;
        }
        let map = open::map_archive(p)?;
        let archive = crate::archive::Archive::parse(&map)
            .map_err(|e| CliError(format!("{}: {e}", p.display())))?;
        for (n, f) in a.members.iter().zip(&mut found) {
            if select::selects_any(archive.members(), n)? {
                names.push(n.clone());
                *f = true;
            }
        }
    }
    if let Some(i) = found.iter().position(|f| !f) {
        return Err(CliError(format!(
            "'{}': not found in any shard of {}",
            a.members[i],
            a.archive.display()
        )));
    }
    for (p, names) in paths.into_iter().zip(wanted) {
        if !a.members.is_empty() && names.is_empty() {
            continue;
        }
        extract::run(args::ExtractArgs {
            archive: p,
            members: names,
            dir: a.dir.clone(),
            device: a.device,
            overwrite: a.overwrite,
            threads: a.threads,
            quiet: a.quiet,
        })?;
    }
    Ok(())
}
