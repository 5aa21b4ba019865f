//! Command-line syntax (clap).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "bsar",
    version,
    about = "Lossless archiver for image datasets (Bit-Swap)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create ARCHIVE from PATHs (stored as given; directories recursively, in name order)
    Create(CreateArgs),
    /// Extract all members, or only those named (a directory brings its contents)
    #[command(visible_alias = "x")]
    Extract(ExtractArgs),
    /// List the members of ARCHIVE
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Decode every member and check every CRC
    Verify(VerifyArgs),
    /// List the models built into this bsar
    Models,
}

/// How images are stored.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageCodec {
    /// Bit-Swap: recursive bits-back coding with the shipped models (the default)
    Bitswap,
    /// BB-ANS: plain bits-back coding with the same models (for comparison)
    Bbans,
    /// No image model: images are stored as bytes with zstd
    Zstd,
}

/// `--level`: the library's `codec::Level`, by name.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelArg {
    /// Faster extraction, a few percent larger
    Fast,
    /// The smallest archive
    Default,
}

impl LevelArg {
    pub fn level(self) -> crate::codec::Level {
        match self {
            LevelArg::Fast => crate::codec::Level::Fast,
            LevelArg::Default => crate::codec::Level::Default,
        }
    }
}

/// Where the image models run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The GPU if this bsar has the cuda feature and finds one, else the CPU
    Auto,
    /// The CPU (all cores)
    Cpu,
    /// The GPU; an error if there is none
    Gpu,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    pub archive: PathBuf,
    /// Files and directories to store, by the names given (a leading '/' is removed, as tar does)
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Read the PATHs relative to DIR, as tar's -C (ARCHIVE stays relative to where bsar runs)
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How hard to work: fast (images decode about three times faster, a few percent larger;
    /// other files at zstd level 3) or default (the smallest archive bsar makes; zstd level 19).
    /// Extracting needs no level: every chunk names its coding
    #[arg(short, long, value_enum, default_value_t = LevelArg::Default)]
    pub level: LevelArg,
    /// zstd's level (1-22) for files that are neither images nor JPEGs, instead of the level's
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: Option<i32>,
    /// Input bytes per chunk (small files share a chunk; larger files get their own). Accepts
    /// K, M, G suffixes (powers of 1024)
    #[arg(long, default_value = "4M", value_parser = parse_size)]
    pub chunk_size: u64,
    /// Most members per chunk
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_items: u32,
    /// Encoding threads (default: all cores). The archive bytes do not depend on it
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// How 8-bit images (PNG and PNM) are coded; 16-bit ones go to the context code alone (codec
    /// 4, `deep`) unless this is `zstd`
    #[arg(long, value_enum, default_value_t = ImageCodec::Bitswap)]
    pub scheme: ImageCodec,
    /// The only model for the images of its channel count, by name or id prefix (see `bsar
    /// models`). By default every shipped model competes, chunk by chunk: the encoder keeps
    /// whichever codes a sample of the chunk cheapest (the shipped default on a tie)
    #[arg(long)]
    pub model: Option<String>,
    /// Most images per Bit-Swap chunk: longer chunks spread the chunk's header and initial bits,
    /// and the context code's adaptation, over more images; shorter ones make extracting one
    /// image faster
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_images: u32,
    /// Most input bytes (image file sizes) per Bit-Swap chunk (K, M, G suffixes); an image file at
    /// least this large is alone in its chunk
    #[arg(long, default_value = "1M", value_parser = parse_size)]
    pub chunk_pixels: u64,
    /// Where the image models run (the archive bytes are the same on every device)
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    pub device: Device,
    /// Give back PNG images pixel-identical instead of byte-identical: smaller archives, but
    /// extracted PNG files are re-encoded (same pixels and metadata chunks, other bytes)
    #[arg(long)]
    pub pixels_only: bool,
    /// Replace ARCHIVE if it exists
    #[arg(long)]
    pub overwrite: bool,
    /// No summary line
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// The archive, or a shard manifest (spec/shards.md)
    pub archive: PathBuf,
    /// Members to extract (default: all)
    pub members: Vec<String>,
    /// Directory to extract into (default: current directory)
    #[arg(short = 'C', long = "directory", default_value = ".")]
    pub dir: PathBuf,
    /// Where the image models run (the archive bytes are the same on every device)
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    pub device: Device,
    /// Replace existing files
    #[arg(long)]
    pub overwrite: bool,
    /// Decoding threads (default: all cores). What comes back does not depend on it
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// No summary line
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The archive, or a shard manifest (spec/shards.md)
    pub archive: PathBuf,
    /// Long listing: type, mode, size, stored size, codec, ratio, image geometry
    #[arg(short)]
    pub l: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The archive, or a shard manifest: every shard's size and CRC32 are checked too
    pub archive: PathBuf,
    /// Where the image models run (the archive bytes are the same on every device)
    #[arg(long, value_enum, default_value_t = Device::Auto)]
    pub device: Device,
    /// Decoding threads (default: all cores). What comes back does not depend on it
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// No summary line
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses "4096", "64K", "4M", "1G".
fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 10),
        Some((i, 'M' | 'm')) => (&s[..i], 20),
        Some((i, 'G' | 'g')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 4M)"))?;
    n.checked_shl(shift)
        .filter(|&v| v > 0 && v >> shift == n)
        .ok_or_else(|| format!("'{s}' is out of range"))
}
