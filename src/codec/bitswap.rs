//! Codec 2: images coded as one bits-back stream per chunk (spec/bitswap.md).
//!
//! This file owns the chunk layout (header, per-image flags, alpha block); the bits-back
//! procedure itself lives in `crate::bitswap`.

use super::tiles::{self, MAX_TILE_THREADS, TILE_SIDE, TILE_SIDE_MIN, VERSION_TILED};
use super::{ChunkToDecode, Codec, CodecError, Image, ItemShape, Payload, CODEC_BITSWAP};
use crate::ans::Stack;
use crate::bitswap::batch::{decode_batch, encode_batch, DecodeJob, EncodeJob};
use crate::bitswap::{
    self, CpuNets, DirectCode, Encoded, Nets, Planes, PlanesShape, Policy, Precisions, Scheme,
};
use crate::context;
use crate::levels::{self, Levels, LevelsModel};
use crate::model::{short_id, Model};
use std::sync::{Arc, OnceLock};

/// Version 2 added the per-patch mode symbol and the predictive code (spec/bitswap.md 3.4);
/// version 3 replaced the predictive code by the context code (spec/context.md); version 4's
/// context code adds least-squares prediction (spec/context.md 3.4, 3.5). All three are read;
/// versions 3 and 4 are written, as `bitswap::encode_chunk` chooses (spec/bitswap.md 3.4).
/// Version 5 holds one large image as tiles, each a chunk of version 2 to 4 (`tiles.rs`).
const VERSION: u8 = 4;
const VERSION_PATCH_CODE: u8 = 2;
const VERSION_WEIGHTED_CONTEXT: u8 = 3;

/// The version byte of a chunk coded with `code`: 3 or 4 (the encoder chooses, `encode_chunk`).
fn version_of(code: DirectCode) -> u8 {
    match code {
        DirectCode::Patch => VERSION_PATCH_CODE,
        DirectCode::Context(context::Version::V3) => VERSION_WEIGHTED_CONTEXT,
        DirectCode::Context(context::Version::V4) => VERSION,
    }
}

/// The direct code of a chunk version the reader accepts.
fn direct_code_of(version: u8) -> Option<DirectCode> {
    match version {
        VERSION_PATCH_CODE => Some(DirectCode::Patch),
        VERSION_WEIGHTED_CONTEXT => Some(DirectCode::Context(context::Version::V3)),
        VERSION => Some(DirectCode::Context(context::Version::V4)),
        _ => None,
    }
}
/// Models one chunk may use (two bits of the per-image flags).
const MAX_MODELS: usize = 4;
/// Forms of the flags field: one byte shared by every image, or one byte per image.
const FLAGS_SHARED: u8 = 0;
const FLAGS_EACH: u8 = 1;
const ALPHA_NONE: u8 = 0;
const ALPHA_OPAQUE: u8 = 1;
const ALPHA_PLANE: u8 = 2;
/// Flags bit 4: the image's colour planes are coded by the levels code (`spec/levels.md`), in the
/// chunk's levels block, not in the stream. Bits 5 to 7 are zero.
const LEVELS: u8 = 1 << 4;
const FLAGS_UNUSED: u8 = 0xE0;
/// zstd level for alpha planes: they are rare and small next to the colour planes.
const ALPHA_LEVEL: i32 = 19;

/// Default table precisions: high enough that the "+1 per bin" floor of the integer CDF costs
/// under 0.1% of the rate (spec/bitswap.md).
pub const DEFAULT_PRECISIONS: Precisions = Precisions {
    pixel: 20,
    latent: 20,
};

/// Supplies the codec's models on first use (parsing models costs time that listing an archive
/// should not pay).
pub type ModelLoader = Box<dyn Fn() -> Result<Vec<Arc<Model>>, String> + Send + Sync>;

/// The Bit-Swap codec over a set of models, in order of preference. Encoding names, for each
/// image, the first model whose channel count matches the image's colour planes, and lets every
/// other model of the same channels and patch size compete for its images, chunk by chunk, on a
/// sample (`bitswap::stream::encode_chunk`: the cheapest is kept, the first on a tie); the chunk
/// header lists only the models that coded it. Decoding finds models by id.
pub struct BitswapCodec {
    loader: ModelLoader,
    models: OnceLock<Result<Vec<Arc<Model>>, String>>,
    scheme: Scheme,
    precisions: Precisions,
    policy: Policy,
    /// The newest context code a chunk may use (the level's choice, `with_context`).
    newest: context::Version,
    /// Threads a tiled image's tiles are coded and decoded on (`with_threads`).
    threads: usize,
    /// The side of the tiles written (`tiles::TILE_SIDE`; `with_tile_side`).
    tile_side: u32,
    /// Where `encode_chunks` / `decode_chunks` run the nets, batched across the chunks
    /// (`bitswap::batch`); `None`: one chunk after the other, as `encode_chunk` does.
    batch: Option<Batching>,
}

/// The engine of the batch coder and the most inputs of one net pass.
struct Batching {
    nets: Arc<dyn Nets + Send>,
    max_batch: usize,
}

fn corrupt(msg: impl Into<String>) -> CodecError {
    CodecError::Corrupt(msg.into())
}

/// A stream error as the codec reports it: an engine failure is not the data's fault (and must
/// not make the writer fall back to another codec); anything else is `other`.
fn stream_error(e: bitswap::StreamError, other: fn(String) -> CodecError) -> CodecError {
    match e {
        bitswap::StreamError::Engine { .. } => CodecError::Internal(e.to_string()),
        e => other(e.to_string()),
    }
}

/// Colour planes of an image with `channels` samples per pixel, and whether it has alpha.
fn split_channels(channels: u8) -> Option<(usize, bool)> {
    match channels {
        1 => Some((1, false)),
        2 => Some((1, true)),
        3 => Some((3, false)),
        4 => Some((3, true)),
        _ => None,
    }
}

/// Checks precisions against the spec's ranges and the models' bins: `2^p_z` must hold every latent
/// bin, or the frequency tables cannot give each bin its floor of 1 (`LogisticBins::new` asserts
/// it). The header's ranges alone (p_z >= 12) do not ensure this for a model with over 4096 bins.
fn check_precisions(p: Precisions, models: &[&Model]) -> Result<(), String> {
    if !(8..=24).contains(&p.pixel) || !(12..=24).contains(&p.latent) {
        return Err(format!(
            "invalid precisions (pixel {}, latent {})",
            p.pixel, p.latent
        ));
    }
    if let Some(m) = models
        .iter()
        .find(|m| (1u64 << p.latent) < m.config().latent_bins as u64)
    {
        return Err(format!(
            "latent precision {} cannot hold the {} latent bins of model {}",
            p.latent,
            m.config().latent_bins,
            short_id(&m.id())
        ));
    }
    Ok(())
}

impl BitswapCodec {
    /// A codec over `models`, in order of preference.
    pub fn new(models: Vec<Arc<Model>>, scheme: Scheme, precisions: Precisions) -> BitswapCodec {
        let models = OnceLock::from(Ok(models));
        BitswapCodec {
            loader: Box::new(|| Ok(Vec::new())),
            models,
            scheme,
            precisions,
            policy: Policy::Cheapest,
            newest: context::Version::V4,
            threads: 1,
            tile_side: TILE_SIDE,
            batch: None,
        }
    }

    /// A codec whose models come from `loader` the first time a chunk is coded.
    pub fn lazy(loader: ModelLoader, scheme: Scheme, precisions: Precisions) -> BitswapCodec {
        BitswapCodec {
            loader,
            models: OnceLock::new(),
            scheme,
            precisions,
            policy: Policy::Cheapest,
            newest: context::Version::V4,
            threads: 1,
            tile_side: TILE_SIDE,
            batch: None,
        }
    }

    /// Codes groups of chunks (`encode_chunks`, `decode_chunks`) in lockstep, with every net
    /// pass batched across them on `nets`, at most `max_batch` inputs a pass. The bytes are those
    /// of `encode_chunk`.
    pub fn with_batching(mut self, nets: Arc<dyn Nets + Send>, max_batch: usize) -> BitswapCodec {
        self.batch = Some(Batching {
            nets,
            max_batch: max_batch.max(1),
        });
        self
    }

    /// How the encoder chooses between bits-back and the predictive code per patch (decoding
    /// reads the choice from the stream, whatever the policy).
    pub fn with_policy(mut self, policy: Policy) -> BitswapCodec {
        self.policy = policy;
        self
    }

    /// The newest context code a chunk may use: `V3` codes every chunk as version 3, a third
    /// of version 4's decoding time for a few percent more bytes (the fast level); `V4`, the
    /// default, lets the encoder choose (`bitswap::encode_chunk`).
    pub fn with_context(mut self, newest: context::Version) -> BitswapCodec {
        self.newest = newest;
        self
    }

    /// Codes and decodes the tiles of a large image on up to `threads` threads (at most
    /// `tiles::MAX_TILE_THREADS`). The bytes do not depend on it.
    pub fn with_threads(mut self, threads: usize) -> BitswapCodec {
        self.threads = threads.max(1);
        self
    }

    /// Writes tiles of `side` (clamped to what a reader accepts) instead of `tiles::TILE_SIDE`:
    /// for tests and fuzz seeds, which need tiled chunks of small images.
    pub fn with_tile_side(mut self, side: u32) -> BitswapCodec {
        self.tile_side = side.clamp(tiles::TILE_SIDE_MIN, tiles::TILE_SIDE_MAX);
        self
    }

    fn models(&self) -> Result<&[Arc<Model>], CodecError> {
        let models = self.models.get_or_init(|| (self.loader)());
        models
            .as_deref()
            .map_err(|e| CodecError::Internal(e.clone()))
    }
}

/// Splits interleaved samples into colour planes and an alpha plane.
fn split_alpha(img: &Image, colour: usize) -> (Vec<u8>, Vec<u8>) {
    let n = img.channels as usize;
    let pixels = img.pixels.chunks_exact(n);
    let rgb = pixels
        .clone()
        .flat_map(|p| p[..colour].iter().copied())
        .collect();
    let alpha = pixels.map(|p| p[colour]).collect();
    (rgb, alpha)
}

fn join_alpha(colour: &[u8], alpha: &[u8], c: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(colour.len() + alpha.len());
    for (px, &a) in colour.chunks_exact(c).zip(alpha) {
        out.extend_from_slice(px);
        out.push(a);
    }
    out
}

impl Codec for BitswapCodec {
    fn id(&self) -> u8 {
        CODEC_BITSWAP
    }

    fn name(&self) -> &str {
        self.scheme.name()
    }

    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        match items {
            [Payload::Image(img)]
                if img.depth == 8 && tiles::writes_tiles(img.width, img.height, self.tile_side) =>
            {
                self.encode_tiled(img)
            }
            _ => self.encode_untiled(items),
        }
    }

    fn encode_chunks(&self, chunks: &[Vec<&Payload>]) -> Vec<Result<Vec<u8>, CodecError>> {
        // Tiled images are coded by `encode_chunk` (their tiles on the threads); the rest may
        // be batched.
        let tiled = |c: &Vec<&Payload>| {
            matches!(c.as_slice(), [Payload::Image(img)]
                if img.depth == 8 && tiles::writes_tiles(img.width, img.height, self.tile_side))
        };
        if self.batch.is_none() || !chunks.iter().any(tiled) {
            return self.encode_untiled_chunks(chunks);
        }
        let rest: Vec<Vec<&Payload>> = chunks.iter().filter(|c| !tiled(c)).cloned().collect();
        let mut rest = self.encode_untiled_chunks(&rest).into_iter();
        chunks
            .iter()
            .map(|c| {
                if tiled(c) {
                    self.encode_chunk(c)
                } else {
                    rest.next().expect("one result per chunk")
                }
            })
            .collect()
    }

    /// Shares by each image's predictive-code cost (`bitswap::estimate`), which follows what an
    /// image costs in the stream far better than its size does: a noisy image sharing a chunk
    /// with smooth ones is charged its own bits, not theirs. An image of few values is weighed
    /// by the cost of the code that took it (levels or context, both measured by `prepare`).
    /// Alpha planes count at 8 bits a sample.
    fn item_shares(&self, items: &[&Payload], coded_len: u64) -> Vec<u64> {
        let sizes = || {
            let s: Vec<u64> = items.iter().map(|p| p.len() as u64).collect();
            super::shares(coded_len, &s)
        };
        // One image (a tiled one above all) has the whole chunk: no need to weigh it.
        if items.len() == 1 {
            return vec![coded_len];
        }
        let Ok(available) = self.models() else {
            return sizes();
        };
        let Ok(chunk) = self.prepare(available, items, self.policy == Policy::Cheapest) else {
            return sizes();
        };
        let mut stream_costs = chunk.planes.iter().map(|planes| {
            let patch = chunk.models[planes.model].config().patch;
            bitswap::estimate::predictive_cost(planes, patch, self.precisions.pixel)
        });
        let weights: Vec<u64> = chunk
            .images
            .iter()
            .zip(items)
            .map(|(image, item)| {
                // The context code's cost, where it was measured, is closer to what the stream
                // charges than the predictive code's estimate.
                let colour = match &image.choice {
                    Choice::Levels(_, cost) => *cost,
                    Choice::Stream(measured) => {
                        let estimate = stream_costs.next().expect("one per stream image");
                        measured.unwrap_or(estimate)
                    }
                };
                let alpha = if image.alpha_mode == ALPHA_PLANE {
                    let Payload::Image(img) = item else {
                        unreachable!()
                    };
                    (img.width as u64 * img.height as u64 * 8) << 16
                } else {
                    0
                };
                colour + alpha
            })
            .collect();
        super::shares(coded_len, &weights)
    }

    /// 16 bytes a sample (the planes decoded, the patches and the context code's per-sample
    /// state; measured at 4.2 on a 1280x800 photograph and 1.8 on 512 MNIST digits), 8 bytes a
    /// byte of the chunk (the rANS message as 32-bit words, and its growth as bits come back),
    /// and 32 MiB for the nets' activations and the context code's fixed tables.
    ///
    /// A chunk of one image that a reader could find tiled (wider or taller than the smallest
    /// tile side) may also hold the image itself while its tiles decode, up to
    /// `MAX_TILE_THREADS` tiles' fixed tables at once, and one item's overhead per tile.
    fn decode_budget(&self, data_len: u64, shapes: &[ItemShape]) -> u64 {
        let decoded = super::decoded_total(shapes);
        let base = decoded
            .saturating_mul(16)
            .saturating_add(data_len.saturating_mul(8))
            .saturating_add(32 << 20)
            .saturating_add(super::ITEM_OVERHEAD.saturating_mul(shapes.len() as u64));
        match shapes {
            [ItemShape::Image { width, height, .. }]
                if tiles::needs_tiles(*width, *height, TILE_SIDE_MIN) =>
            {
                let tiles = tiles::max_tiles(*width, *height);
                base.saturating_add(decoded)
                    .saturating_add((MAX_TILE_THREADS as u64 - 1) << 25)
                    .saturating_add(super::ITEM_OVERHEAD.saturating_mul(tiles))
            }
            _ => base,
        }
    }

    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError> {
        if data.first() == Some(&VERSION_TILED) {
            let (t, channels) = parse_tiled(data, shapes)?;
            return t.tiles.iter().try_for_each(|&(tile, bytes)| {
                self.check_chunk(bytes, &[tile_shape(tile, channels)])
            });
        }
        let available = self.models()?;
        // Everything `decode_chunk` checks before the stream decoder runs.
        let last = shapes.len().saturating_sub(1);
        self.parse(available, data, shapes, last).map(|_| ())
    }

    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        if data.first() == Some(&VERSION_TILED) {
            super::check_upto(upto, shapes.len())?;
            return self
                .decode_tiled(data, shapes)
                .map(|img| vec![Payload::Image(img)]);
        }
        let available = self.models()?;
        let c = self.parse(available, data, shapes, upto)?;
        let decoded = match c.job.shapes.is_empty() {
            true => Vec::new(),
            false => bitswap::decode_with_code(
                &bitswap::CpuNets::SINGLE,
                &c.job.models,
                c.job.scheme,
                c.job.prec,
                c.job.stack,
                &c.job.shapes,
                c.job.upto,
                c.job.code,
            )
            .map_err(|e| stream_error(e, CodecError::Corrupt))?,
        };
        assemble(decoded, &c.rest, shapes, upto)
    }

    fn decode_chunks(&self, chunks: &[ChunkToDecode]) -> Vec<Result<Vec<Payload>, CodecError>> {
        let tiled = |c: &ChunkToDecode| c.data.first() == Some(&VERSION_TILED);
        let Some(b) = self.batch.as_ref().filter(|_| !chunks.iter().any(tiled)) else {
            // Tiled chunks decode their tiles on the threads (and with a batch engine, the
            // chunks of a group that holds one go one by one: a large image's tiles are work
            // enough).
            return chunks
                .iter()
                .map(|c| self.decode_chunk(c.data, c.shapes, c.upto))
                .collect();
        };
        let available = match self.models() {
            Ok(a) => a,
            Err(e) => return chunks.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut parsed: Vec<Result<ToDecode, CodecError>> = chunks
            .iter()
            .map(|c| self.parse(available, c.data, c.shapes, c.upto))
            .collect();
        let mut jobs = Vec::new();
        let mut rest = Vec::new();
        for p in parsed.drain(..) {
            match p {
                Ok(c) => {
                    // A chunk whose images are all coded by levels has no stream to decode.
                    let streamed = !c.job.shapes.is_empty();
                    if streamed {
                        jobs.push(c.job);
                    }
                    rest.push(Ok((c.rest, streamed)));
                }
                Err(e) => rest.push(Err(e)),
            }
        }
        let mut decoded = decode_batch(&*b.nets, b.max_batch, jobs).into_iter();
        rest.into_iter()
            .zip(chunks)
            .map(|(r, c)| {
                let (rest, streamed) = r?;
                let planes = match streamed {
                    true => decoded
                        .next()
                        .expect("one result per job")
                        .map_err(|e| stream_error(e, CodecError::Corrupt))?,
                    false => Vec::new(),
                };
                assemble(planes, &rest, c.shapes, c.upto)
            })
            .collect()
    }
}

impl BitswapCodec {
    /// A chunk of whole images (chunk versions 3 and 4).
    fn encode_untiled(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let available = self.models()?;
        let mut best: Option<Vec<u8>> = None;
        for chunk in self.variants(available, items)? {
            let encoded = match chunk.planes.is_empty() {
                true => self.no_stream(&chunk),
                false => bitswap::encode_chunk(
                    &CpuNets::SINGLE,
                    &chunk.models,
                    (self.scheme, self.precisions, self.policy),
                    &chunk.planes,
                    &chunk.candidates,
                    self.newest,
                )
                .map_err(|e| stream_error(e, CodecError::Unsupported))?,
            };
            best = shorter(best, self.finish(chunk, encoded)?);
        }
        Ok(best.expect("at least one variant"))
    }

    /// The ways to code a chunk's items, each to be coded in full and the shortest kept (the
    /// first on a tie): every image in the stream; and, where the levels code takes some
    /// images (`choose_codes`), those images by levels. The second is not always shorter: the
    /// choice weighs levels against the context code, and the stream may do better still where
    /// a model pays (bits-back on digits).
    fn variants<'m>(
        &self,
        available: &'m [Arc<Model>],
        items: &[&Payload],
    ) -> Result<Vec<ToEncode<'m>>, CodecError> {
        // A policy that fixes the patches' mode (bits-back only, direct only) is for measuring
        // the stream: the levels code stays out of it.
        let with_levels = self.prepare(available, items, self.policy == Policy::Cheapest)?;
        if with_levels.images.iter().all(|i| i.levels().is_none()) {
            return Ok(vec![with_levels]);
        }
        Ok(vec![self.prepare(available, items, false)?, with_levels])
    }

    /// One large image as tiles (spec/bitswap.md 2.1), each coded as a chunk of its own.
    fn encode_tiled(&self, img: &Image) -> Result<Vec<u8>, CodecError> {
        let ts = tiles::tiles(img.width, img.height, self.tile_side);
        let coded = tiles::run_each(ts.len(), self.threads, |i| {
            let t = ts[i];
            let tile = Payload::Image(Image {
                width: t.width,
                height: t.height,
                channels: img.channels,
                depth: 8,
                pixels: tiles::crop(&img.pixels, img.width, img.channels, t),
            });
            self.encode_untiled(&[&tile])
        });
        let coded = coded.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(tiles::write(self.tile_side, &coded))
    }

    fn encode_untiled_chunks(&self, chunks: &[Vec<&Payload>]) -> Vec<Result<Vec<u8>, CodecError>> {
        let Some(b) = &self.batch else {
            return chunks.iter().map(|c| self.encode_untiled(c)).collect();
        };
        let available = match self.models() {
            Ok(a) => a,
            Err(e) => return chunks.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut prepared: Vec<Result<Vec<ToEncode>, CodecError>> = chunks
            .iter()
            .map(|items| self.variants(available, items))
            .collect();
        let jobs: Vec<EncodeJob> = prepared
            .iter()
            .flatten()
            .flatten()
            .filter(|c| !c.planes.is_empty())
            .map(|c| EncodeJob {
                models: c.models.clone(),
                images: &c.planes,
                candidates: c.candidates.clone(),
            })
            .collect();
        let mut stacks = encode_batch(
            &*b.nets,
            b.max_batch,
            self.scheme,
            self.precisions,
            self.policy,
            self.newest,
            &jobs,
        )
        .into_iter();
        drop(jobs);
        prepared
            .drain(..)
            .map(|p| {
                let mut best = None;
                // Every variant takes its stack, whether or not an earlier one failed.
                let mut failed = None;
                for chunk in p? {
                    let encoded = match chunk.planes.is_empty() {
                        true => Ok(self.no_stream(&chunk)),
                        false => stacks
                            .next()
                            .expect("one stack per job")
                            .map_err(|e| stream_error(e, CodecError::Unsupported)),
                    };
                    match encoded.and_then(|e| self.finish(chunk, e)) {
                        Ok(bytes) => best = shorter(best, bytes),
                        Err(e) => failed = failed.or(Some(e)),
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    None => Ok(best.expect("at least one variant")),
                }
            })
            .collect()
    }
}

/// The shorter of two codings of a chunk, the first on a tie.
fn shorter(best: Option<Vec<u8>>, next: Vec<u8>) -> Option<Vec<u8>> {
    match best {
        Some(b) if b.len() <= next.len() => Some(b),
        _ => Some(next),
    }
}

impl BitswapCodec {
    /// Decodes a whole chunk and counts its patches by mode: how much of it bits-back coded (for
    /// reports such as `bench_datasets`; archives do not store it).
    pub fn mode_counts(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
    ) -> Result<bitswap::ModeCounts, CodecError> {
        if data.first() == Some(&VERSION_TILED) {
            let (t, channels) = parse_tiled(data, shapes)?;
            let mut counts = bitswap::ModeCounts::default();
            for &(tile, bytes) in &t.tiles {
                counts.add(self.mode_counts(bytes, &[tile_shape(tile, channels)])?);
            }
            return Ok(counts);
        }
        let available = self.models()?;
        let c = self.parse(available, data, shapes, shapes.len().saturating_sub(1))?;
        let j = c.job;
        if j.shapes.is_empty() {
            return Ok(bitswap::ModeCounts::default());
        }
        bitswap::decode_counting(
            &bitswap::CpuNets::SINGLE,
            &j.models,
            (j.scheme, j.prec),
            j.stack,
            &j.shapes,
            j.upto,
            j.code,
        )
        .map(|(_, counts)| counts)
        .map_err(|e| stream_error(e, CodecError::Corrupt))
    }
}

/// The one image of a tiled chunk, and its tiles.
fn parse_tiled<'a>(
    data: &'a [u8],
    shapes: &[ItemShape],
) -> Result<(tiles::Tiled<'a>, u8), CodecError> {
    let &[ItemShape::Image {
        width,
        height,
        channels,
        depth: 8,
    }] = shapes
    else {
        return Err(corrupt("a tiled Bit-Swap chunk holds exactly one image"));
    };
    Ok((tiles::parse(data, width, height)?, channels))
}

/// What a tile's chunk holds: one image of the tile's size and the image's channels.
fn tile_shape(t: tiles::Tile, channels: u8) -> ItemShape {
    ItemShape::Image {
        width: t.width,
        height: t.height,
        channels,
        depth: 8,
    }
}

impl BitswapCodec {
    /// Decodes the tiles of a tiled chunk on the codec's threads and puts the image together;
    /// the first damaged tile (in raster order) is the error reported.
    fn decode_tiled(&self, data: &[u8], shapes: &[ItemShape]) -> Result<Image, CodecError> {
        let (t, channels) = parse_tiled(data, shapes)?;
        let ItemShape::Image { width, height, .. } = shapes[0] else {
            unreachable!("parse_tiled checked it")
        };
        let n = width as usize * height as usize * channels as usize;
        let image = std::sync::Mutex::new(vec![0u8; n]);
        let results = tiles::run_each(t.tiles.len(), self.threads, |i| {
            let (tile, bytes) = t.tiles[i];
            let mut items = self.decode_chunk(bytes, &[tile_shape(tile, channels)], 0)?;
            let Some(Payload::Image(img)) = items.pop() else {
                return Err(corrupt("a tile decoded to no image"));
            };
            let mut out = image.lock().unwrap_or_else(|e| e.into_inner());
            tiles::paste(&mut out, width, channels, tile, &img.pixels);
            Ok(())
        });
        results.into_iter().collect::<Result<(), CodecError>>()?;
        Ok(Image {
            width,
            height,
            channels,
            depth: 8,
            pixels: image.into_inner().unwrap_or_else(|e| e.into_inner()),
        })
    }
}

/// A chunk parsed and checked, ready for the stream decoder.
struct ToDecode<'m> {
    /// The stream's images (those not coded by levels); no shapes when there are none.
    job: DecodeJob<'m>,
    rest: Rest,
}

/// What a chunk holds besides its stream: everything `assemble` needs.
struct Rest {
    /// One flags byte per image.
    flags: Vec<u8>,
    alpha: Vec<u8>,
    /// The levels block and the shapes of the images it holds, in order.
    levels: Option<(Vec<u8>, Vec<levels::Shape>)>,
}

impl BitswapCodec {
    /// Parses the header, finds the models, and checks everything against the member table's
    /// shapes before anything is allocated.
    fn parse<'m>(
        &self,
        available: &'m [Arc<Model>],
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<ToDecode<'m>, CodecError> {
        super::check_upto(upto, shapes.len())?;
        let header = Header::parse(data, shapes.len())?;
        let scheme = Scheme::from_id(header.scheme)
            .ok_or_else(|| corrupt(format!("unknown scheme {}", header.scheme)))?;
        let precisions = Precisions {
            pixel: header.pixel_precision as u32,
            latent: header.latent_precision as u32,
        };
        let mut models = Vec::with_capacity(header.model_ids.len());
        for id in &header.model_ids {
            let m = available
                .iter()
                .find(|m| &m.id()[..] == *id)
                .ok_or_else(|| {
                    CodecError::Unsupported(format!(
                        "chunk needs model {}, which this bsar does not have",
                        short_id(id)
                    ))
                })?;
            models.push(&**m);
        }
        check_precisions(precisions, &models)
            .map_err(|e| corrupt(format!("Bit-Swap chunk: {e}")))?;
        // Shapes and flags must agree before anything is allocated.
        let mut plane_shapes = Vec::with_capacity(shapes.len());
        let mut level_shapes = Vec::new();
        let mut stream_upto = 0;
        let mut alpha_len = 0u64;
        for (i, (shape, &flag)) in shapes.iter().zip(&header.flags).enumerate() {
            let ItemShape::Image {
                width,
                height,
                channels,
                depth: 8,
            } = *shape
            else {
                return Err(corrupt(format!(
                    "item {i} of a Bit-Swap chunk is not an image"
                )));
            };
            let (colour, has_alpha) = split_channels(channels)
                .ok_or_else(|| corrupt(format!("item {i}: {channels} channels")))?;
            let (slot, mode) = ((flag & 3) as usize, flag >> 2 & 3);
            if flag & FLAGS_UNUSED != 0
                || slot >= models.len()
                || mode > ALPHA_PLANE
                || (mode != ALPHA_NONE) != has_alpha
            {
                return Err(corrupt(format!("item {i}: invalid flags {flag:#04x}")));
            }
            if models[slot].config().channels != colour {
                return Err(corrupt(format!(
                    "item {i}: model does not match its channels"
                )));
            }
            if mode == ALPHA_PLANE {
                alpha_len += width as u64 * height as u64;
            }
            if flag & LEVELS != 0 {
                level_shapes.push(levels::Shape {
                    width: width as usize,
                    height: height as usize,
                    channels: colour,
                });
                continue;
            }
            if i <= upto {
                stream_upto = plane_shapes.len();
            }
            plane_shapes.push(PlanesShape {
                width: width as usize,
                height: height as usize,
                channels: colour,
                model: slot,
            });
        }
        let alpha = if header.alpha.is_empty() {
            Vec::new()
        } else {
            let cap = usize::try_from(alpha_len).map_err(|_| corrupt("alpha planes too large"))?;
            zstd::bulk::decompress(header.alpha, cap)
                .map_err(|e| corrupt(format!("alpha block: {e}")))?
        };
        if alpha.len() as u64 != alpha_len {
            return Err(corrupt("alpha block does not match the images"));
        }
        let stack =
            Stack::from_bytes(header.message).map_err(|e| corrupt(format!("coded stream: {e}")))?;
        // Chunks code on lane 0 of a one-lane stack (spec/bitswap.md); an extra lane left at its
        // initial head would pass the end-of-stream check, so refuse it here.
        if stack.lanes() != 1 {
            return Err(corrupt(format!(
                "coded stream has {} lanes, not 1",
                stack.lanes()
            )));
        }
        // With every image coded by levels, the stream is empty (spec/bitswap.md 2).
        if plane_shapes.is_empty() && stack.check_initial() != Ok(0) {
            return Err(corrupt("coded stream: data but no image to decode"));
        }
        Ok(ToDecode {
            job: DecodeJob {
                models,
                scheme,
                prec: precisions,
                stack,
                shapes: plane_shapes,
                upto: stream_upto,
                code: header.code,
            },
            rest: Rest {
                flags: header.flags,
                alpha,
                levels: header.levels.map(|b| (b.to_vec(), level_shapes)),
            },
        })
    }
}

/// Items `0..=upto` as payloads: the stream's decoded images and the levels block's, in item
/// order, alpha joined back.
fn assemble(
    decoded: Vec<Planes>,
    rest: &Rest,
    shapes: &[ItemShape],
    upto: usize,
) -> Result<Vec<Payload>, CodecError> {
    let wanted = rest.flags[..=upto]
        .iter()
        .filter(|&&f| f & LEVELS != 0)
        .count();
    let mut levelled = match (&rest.levels, wanted) {
        (Some((block, level_shapes)), 1..) => {
            levels::decode(block, level_shapes, wanted - 1).map_err(|e| corrupt(e.to_string()))?
        }
        _ => Vec::new(),
    }
    .into_iter();
    let mut decoded = decoded.into_iter();
    let mut alpha_at = 0;
    let mut out = Vec::with_capacity(upto + 1);
    for (shape, &flag) in shapes.iter().zip(&rest.flags).take(upto + 1) {
        let ItemShape::Image {
            width,
            height,
            channels,
            ..
        } = *shape
        else {
            unreachable!()
        };
        let (colour, _) = split_channels(channels).expect("checked by parse");
        let samples = match flag & LEVELS {
            0 => decoded.next().expect("the stream's images").samples,
            _ => levelled.next().expect("the levels block's images"),
        };
        let n = width as usize * height as usize;
        let pixels = match flag >> 2 & 3 {
            ALPHA_NONE => samples,
            ALPHA_OPAQUE => join_alpha(&samples, &vec![255; n], colour),
            _ => {
                let a = &rest.alpha[alpha_at..alpha_at + n];
                alpha_at += n;
                join_alpha(&samples, a, colour)
            }
        };
        out.push(Payload::Image(Image {
            width,
            height,
            channels,
            depth: 8,
            pixels,
        }));
    }
    Ok(out)
}

/// A chunk's images ready for the stream, and what its header needs.
struct ToEncode<'m> {
    /// The candidate models: those the images name first, then those that may stand in for them.
    models: Vec<&'m Model>,
    /// The stream's images: those the levels code does not take.
    planes: Vec<Planes>,
    /// Per slot of `models`, the slots that may code its images in its place.
    candidates: Vec<Vec<usize>>,
    /// Every image, in item order.
    images: Vec<ToCode>,
    alpha_planes: Vec<u8>,
}

/// How one image of a chunk is coded.
struct ToCode {
    /// `ALPHA_NONE`, `ALPHA_OPAQUE` or `ALPHA_PLANE`.
    alpha_mode: u8,
    /// The slot of the model it names.
    slot: usize,
    choice: Choice,
}

/// Which code takes an image's colour planes, and what it costs where that was measured.
enum Choice {
    /// The stream, with the context code's cost where the levels code was weighed against it
    /// (1/65536 bits).
    Stream(Option<u64>),
    /// The levels code: the levels, and their cost with the table (1/65536 bits).
    Levels(Levels, u64),
}

impl ToCode {
    fn levels(&self) -> Option<&Levels> {
        match &self.choice {
            Choice::Levels(l, _) => Some(l),
            Choice::Stream(_) => None,
        }
    }
}

impl BitswapCodec {
    /// Splits the items into colour planes and alpha, names each image's model and the
    /// candidates that may stand in for it, and checks the precisions against the models.
    /// With `levels`, an image of few distinct values goes to the levels code where that costs
    /// less than the context code would (`choose_codes`).
    fn prepare<'m>(
        &self,
        available: &'m [Arc<Model>],
        items: &[&Payload],
        levels: bool,
    ) -> Result<ToEncode<'m>, CodecError> {
        let mut used: Vec<usize> = Vec::new();
        let mut alpha_modes = Vec::with_capacity(items.len());
        let mut slots = Vec::with_capacity(items.len());
        let mut planes = Vec::with_capacity(items.len());
        let mut alpha_planes = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Payload::Image(img) = item else {
                return Err(CodecError::Unsupported(format!("item {i} is not an image")));
            };
            if img.depth != 8 {
                return Err(CodecError::Unsupported(format!(
                    "item {i} has {}-bit samples (codec 4 codes those)",
                    img.depth
                )));
            }
            let unsupported =
                || CodecError::Unsupported(format!("no model for {} channels", img.channels));
            let (colour, has_alpha) = split_channels(img.channels).ok_or_else(unsupported)?;
            let model = available
                .iter()
                .position(|m| m.config().channels == colour)
                .ok_or_else(unsupported)?;
            let slot = match used.iter().position(|&m| m == model) {
                Some(s) => s,
                None => {
                    used.push(model);
                    used.len() - 1
                }
            };
            let (samples, alpha_mode) = if has_alpha {
                let (rgb, alpha) = split_alpha(img, colour);
                if alpha.iter().all(|&a| a == 255) {
                    (rgb, ALPHA_OPAQUE)
                } else {
                    alpha_planes.extend_from_slice(&alpha);
                    (rgb, ALPHA_PLANE)
                }
            } else {
                (img.pixels.clone(), ALPHA_NONE)
            };
            alpha_modes.push(alpha_mode);
            slots.push(slot);
            planes.push(Planes {
                width: img.width as usize,
                height: img.height as usize,
                channels: colour,
                samples,
                model: slot,
            });
        }
        let choices = match levels {
            true => self.choose_codes(&planes, available, &used),
            false => planes.iter().map(|_| Choice::Stream(None)).collect(),
        };
        let images: Vec<ToCode> = alpha_modes
            .into_iter()
            .zip(slots)
            .zip(choices)
            .map(|((alpha_mode, slot), choice)| ToCode {
                alpha_mode,
                slot,
                choice,
            })
            .collect();
        let mut levelled = images.iter().map(|i| i.levels().is_some());
        planes.retain(|_| !levelled.next().expect("one per image"));
        // Every other available model of a named one's grid competes for its images.
        let named = used.len();
        let mut candidates = vec![Vec::new(); named];
        for (slot, c) in candidates.iter_mut().enumerate() {
            let first = &available[used[slot]];
            for (m, other) in available.iter().enumerate() {
                if !used[..named].contains(&m) && bitswap::same_grid(first, other) {
                    let s = used.iter().position(|&u| u == m).unwrap_or_else(|| {
                        used.push(m);
                        used.len() - 1
                    });
                    c.push(s);
                }
            }
        }
        candidates.resize(used.len(), Vec::new());
        let models: Vec<&Model> = used.iter().map(|&m| &*available[m]).collect();
        check_precisions(self.precisions, &models).map_err(CodecError::Unsupported)?;
        Ok(ToEncode {
            models,
            planes,
            candidates,
            images,
            alpha_planes,
        })
    }

    /// Which code takes each image's colour planes. An image of few enough distinct values
    /// goes to the levels code where that costs less than the context code would in the
    /// chunk's stream: both are measured image by image in item order, each with the state the
    /// images before it left (the context code learns only the stream's images, the levels code
    /// only its own). Chunks without such images cost nothing to decide.
    fn choose_codes(
        &self,
        planes: &[Planes],
        available: &[Arc<Model>],
        used: &[usize],
    ) -> Vec<Choice> {
        let levels: Vec<Option<Levels>> = planes
            .iter()
            .map(|p| Levels::of(p.width, p.height, p.channels, &p.samples))
            .collect();
        if levels.iter().all(Option::is_none) {
            return planes.iter().map(|_| Choice::Stream(None)).collect();
        }
        let mut context = context::ContextModel::new(self.newest);
        let mut state = LevelsModel::default();
        let prec = self.precisions.pixel;
        planes
            .iter()
            .zip(levels)
            .map(|(p, l)| {
                let patch = available[used[p.model]].config().patch;
                let dims = (p.width, p.height, p.channels);
                let Some(l) = l else {
                    context::image_cost(&mut context, dims, patch, prec, &p.samples);
                    return Choice::Stream(None);
                };
                let mut after = state.clone();
                let cost =
                    levels::cost(&mut after, &l) + ((levels::table_len(&l) as u64 * 8) << 16);
                let mut learnt = context.clone();
                let direct = context::image_cost(&mut learnt, dims, patch, prec, &p.samples);
                if cost < direct {
                    state = after;
                    Choice::Levels(l, cost)
                } else {
                    context = learnt;
                    Choice::Stream(Some(direct))
                }
            })
            .collect()
    }

    /// What `bitswap::encode_chunk` gives for a chunk without stream images: an empty stream,
    /// each model standing for itself.
    fn no_stream(&self, chunk: &ToEncode) -> Encoded {
        Encoded {
            stack: Stack::new(1),
            code: match self.newest {
                context::Version::V3 => DirectCode::Context(context::Version::V3),
                context::Version::V4 => DirectCode::LATEST,
            },
            chosen: (0..chunk.models.len()).collect(),
        }
    }

    /// The chunk bytes: header (listing only the models that coded the chunk, in the order they
    /// first code an image), alpha block, levels block, coded stream.
    fn finish(&self, chunk: ToEncode, encoded: Encoded) -> Result<Vec<u8>, CodecError> {
        let Encoded {
            stack,
            code,
            chosen,
        } = encoded;
        let ToEncode {
            models: candidates,
            images,
            alpha_planes,
            ..
        } = chunk;
        let mut coded: Vec<usize> = Vec::new();
        let flags: Vec<u8> = images
            .iter()
            .map(|image| {
                let m = chosen[image.slot];
                let slot = coded.iter().position(|&c| c == m).unwrap_or_else(|| {
                    coded.push(m);
                    coded.len() - 1
                });
                let levels = if image.levels().is_some() { LEVELS } else { 0 };
                slot as u8 | image.alpha_mode << 2 | levels
            })
            .collect();
        let models: Vec<&Model> = coded.iter().map(|&m| candidates[m]).collect();
        let mut out = vec![
            version_of(code),
            self.scheme.id(),
            self.precisions.pixel as u8,
        ];
        out.push(self.precisions.latent as u8);
        out.push(models.len() as u8);
        for m in &models {
            out.extend_from_slice(&m.id());
        }
        // Images of a chunk nearly always share their flags: then one byte says so.
        if flags.windows(2).all(|w| w[0] == w[1]) && !flags.is_empty() {
            out.extend_from_slice(&[FLAGS_SHARED, flags[0]]);
        } else {
            out.push(FLAGS_EACH);
            out.extend_from_slice(&flags);
        }
        let alpha = if alpha_planes.is_empty() {
            Vec::new()
        } else {
            zstd::bulk::compress(&alpha_planes, ALPHA_LEVEL)
                .map_err(|e| CodecError::Internal(e.to_string()))?
        };
        out.extend_from_slice(&(alpha.len() as u32).to_le_bytes());
        out.extend_from_slice(&alpha);
        let levelled: Vec<&Levels> = images.iter().filter_map(ToCode::levels).collect();
        if !levelled.is_empty() {
            let block = levels::encode(&levelled);
            let len = u32::try_from(block.len())
                .map_err(|_| CodecError::Unsupported("levels block over 4 GiB".into()))?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&block);
        }
        out.extend_from_slice(&stack.to_bytes());
        Ok(out)
    }
}

/// The chunk header, borrowed from the chunk bytes.
struct Header<'a> {
    /// The direct code of the chunk's version.
    code: DirectCode,
    scheme: u8,
    pixel_precision: u8,
    latent_precision: u8,
    model_ids: Vec<&'a [u8]>,
    /// One flags byte per image (expanded from the shared form).
    flags: Vec<u8>,
    alpha: &'a [u8],
    /// The levels block, when an image's flags name it.
    levels: Option<&'a [u8]>,
    message: &'a [u8],
}

impl<'a> Header<'a> {
    fn parse(data: &'a [u8], items: usize) -> Result<Header<'a>, CodecError> {
        let short = || corrupt("Bit-Swap chunk header is truncated");
        let fixed = data.get(..5).ok_or_else(short)?;
        // A later version may lay the header out differently: refuse it before reading on.
        let Some(code) = direct_code_of(fixed[0]) else {
            return Err(corrupt(format!(
                "Bit-Swap chunk version {} is not supported (this bsar reads versions \
                 {VERSION_PATCH_CODE} to {VERSION})",
                fixed[0]
            )));
        };
        let count = fixed[4] as usize;
        if count == 0 || count > MAX_MODELS {
            return Err(corrupt(format!("Bit-Swap chunk lists {count} models")));
        }
        let mut pos = 5;
        let ids = data.get(pos..pos + 32 * count).ok_or_else(short)?;
        pos += 32 * count;
        let form = *data.get(pos).ok_or_else(short)?;
        pos += 1;
        let flags = match form {
            FLAGS_SHARED => {
                let f = *data.get(pos).ok_or_else(short)?;
                pos += 1;
                vec![f; items]
            }
            FLAGS_EACH => {
                let f = data.get(pos..pos + items).ok_or_else(short)?.to_vec();
                pos += items;
                f
            }
            _ => {
                return Err(corrupt(format!(
                    "Bit-Swap chunk flags form {form} is unknown"
                )))
            }
        };
        let alpha_len = u32::from_le_bytes(
            data.get(pos..pos + 4)
                .ok_or_else(short)?
                .try_into()
                .unwrap(),
        ) as usize;
        pos += 4;
        let alpha = data
            .get(pos..pos.saturating_add(alpha_len))
            .ok_or_else(short)?;
        pos += alpha_len;
        // The levels block is there when an image is coded by levels.
        let levels = if flags.iter().any(|f| f & LEVELS != 0) {
            let len = u32::from_le_bytes(
                data.get(pos..pos + 4)
                    .ok_or_else(short)?
                    .try_into()
                    .unwrap(),
            ) as usize;
            pos += 4;
            let block = data.get(pos..pos.saturating_add(len)).ok_or_else(short)?;
            pos += len;
            Some(block)
        } else {
            None
        };
        Ok(Header {
            code,
            scheme: fixed[1],
            pixel_precision: fixed[2],
            latent_precision: fixed[3],
            model_ids: ids.chunks_exact(32).collect(),
            flags,
            alpha,
            levels,
            message: &data[pos..],
        })
    }
}
