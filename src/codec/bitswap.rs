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
            [Payload::Image(img)] if tiles::writes_tiles(img.width, img.height, self.tile_side) => {
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
                if tiles::writes_tiles(img.width, img.height, self.tile_side))
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
    /// with smooth ones is charged its own bits, not theirs. Alpha planes count at 8 bits a sample.
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
        let Ok(chunk) = self.prepare(available, items) else {
            return sizes();
        };
        let weights: Vec<u64> = chunk
            .planes
            .iter()
            .zip(items)
            .zip(&chunk.alpha_modes)
            .map(|((planes, item), &alpha_mode)| {
                let patch = chunk.models[planes.model].config().patch;
                let colour =
                    bitswap::estimate::predictive_cost(planes, patch, self.precisions.pixel);
                let alpha = if alpha_mode == ALPHA_PLANE {
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
        let decoded = bitswap::decode_with_code(
            &bitswap::CpuNets::SINGLE,
            &c.job.models,
            c.job.scheme,
            c.job.prec,
            c.job.stack,
            &c.job.shapes,
            upto,
            c.job.code,
        )
        .map_err(|e| stream_error(e, CodecError::Corrupt))?;
        Ok(assemble(decoded, shapes, &c.flags, &c.alpha))
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
                    jobs.push(c.job);
                    rest.push(Ok((c.flags, c.alpha)));
                }
                Err(e) => rest.push(Err(e)),
            }
        }
        let mut decoded = decode_batch(&*b.nets, b.max_batch, jobs).into_iter();
        rest.into_iter()
            .zip(chunks)
            .map(|(r, c)| {
                let (flags, alpha) = r?;
                let planes = decoded
                    .next()
                    .expect("one result per job")
                    .map_err(|e| stream_error(e, CodecError::Corrupt))?;
                Ok(assemble(planes, c.shapes, &flags, &alpha))
            })
            .collect()
    }
}

impl BitswapCodec {
    /// A chunk of whole images (chunk versions 3 and 4).
    fn encode_untiled(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let available = self.models()?;
        let chunk = self.prepare(available, items)?;
        let encoded = bitswap::encode_chunk(
            &CpuNets::SINGLE,
            &chunk.models,
            (self.scheme, self.precisions, self.policy),
            &chunk.planes,
            &chunk.candidates,
            self.newest,
        )
        .map_err(|e| stream_error(e, CodecError::Unsupported))?;
        self.finish(chunk, encoded)
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
        let mut prepared: Vec<Result<ToEncode, CodecError>> = chunks
            .iter()
            .map(|items| self.prepare(available, items))
            .collect();
        let jobs: Vec<EncodeJob> = prepared
            .iter()
            .flatten()
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
                let chunk = p?;
                let encoded = stacks
                    .next()
                    .expect("one stack per job")
                    .map_err(|e| stream_error(e, CodecError::Unsupported))?;
                self.finish(chunk, encoded)
            })
            .collect()
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
            pixels: image.into_inner().unwrap_or_else(|e| e.into_inner()),
        })
    }
}

/// A chunk parsed and checked, ready for the stream decoder.
struct ToDecode<'m> {
    job: DecodeJob<'m>,
    /// One flags byte per image.
    flags: Vec<u8>,
    alpha: Vec<u8>,
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
        let mut alpha_len = 0u64;
        for (i, (shape, &flag)) in shapes.iter().zip(&header.flags).enumerate() {
            let ItemShape::Image {
                width,
                height,
                channels,
            } = *shape
            else {
                return Err(corrupt(format!(
                    "item {i} of a Bit-Swap chunk is not an image"
                )));
            };
            let (colour, has_alpha) = split_channels(channels)
                .ok_or_else(|| corrupt(format!("item {i}: {channels} channels")))?;
            let (slot, mode) = ((flag & 3) as usize, flag >> 2);
            if slot >= models.len() || mode > ALPHA_PLANE || (mode != ALPHA_NONE) != has_alpha {
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
        Ok(ToDecode {
            job: DecodeJob {
                models,
                scheme,
                prec: precisions,
                stack,
                shapes: plane_shapes,
                upto,
                code: header.code,
            },
            flags: header.flags,
            alpha,
        })
    }
}

/// The decoded images as payloads, alpha joined back.
fn assemble(
    decoded: Vec<Planes>,
    shapes: &[ItemShape],
    flags: &[u8],
    alpha: &[u8],
) -> Vec<Payload> {
    let mut alpha_at = 0;
    let mut out = Vec::with_capacity(decoded.len());
    for ((planes, shape), &flag) in decoded.into_iter().zip(shapes).zip(flags) {
        let ItemShape::Image {
            width,
            height,
            channels,
        } = *shape
        else {
            unreachable!()
        };
        let n = width as usize * height as usize;
        let pixels = match flag >> 2 {
            ALPHA_NONE => planes.samples,
            ALPHA_OPAQUE => join_alpha(&planes.samples, &vec![255; n], planes.channels),
            _ => {
                let a = &alpha[alpha_at..alpha_at + n];
                alpha_at += n;
                join_alpha(&planes.samples, a, planes.channels)
            }
        };
        out.push(Payload::Image(Image {
            width,
            height,
            channels,
            pixels,
        }));
    }
    out
}

/// A chunk's images ready for the stream, and what its header needs.
struct ToEncode<'m> {
    /// The candidate models: those the images name first, then those that may stand in for them.
    models: Vec<&'m Model>,
    planes: Vec<Planes>,
    /// Per slot of `models`, the slots that may code its images in its place.
    candidates: Vec<Vec<usize>>,
    /// Per image: `ALPHA_NONE`, `ALPHA_OPAQUE` or `ALPHA_PLANE`.
    alpha_modes: Vec<u8>,
    alpha_planes: Vec<u8>,
}

impl BitswapCodec {
    /// Splits the items into colour planes and alpha, names each image's model and the
    /// candidates that may stand in for it, and checks the precisions against the models.
    fn prepare<'m>(
        &self,
        available: &'m [Arc<Model>],
        items: &[&Payload],
    ) -> Result<ToEncode<'m>, CodecError> {
        let mut used: Vec<usize> = Vec::new();
        let mut alpha_modes = Vec::with_capacity(items.len());
        let mut planes = Vec::with_capacity(items.len());
        let mut alpha_planes = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Payload::Image(img) = item else {
                return Err(CodecError::Unsupported(format!("item {i} is not an image")));
            };
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
            planes.push(Planes {
                width: img.width as usize,
                height: img.height as usize,
                channels: colour,
                samples,
                model: slot,
            });
        }
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
            alpha_modes,
            alpha_planes,
        })
    }

    /// The chunk bytes: header (listing only the models that coded the chunk, in the order they
    /// first code an image), alpha block, coded stream.
    fn finish(&self, chunk: ToEncode, encoded: Encoded) -> Result<Vec<u8>, CodecError> {
        let Encoded {
            stack,
            code,
            chosen,
        } = encoded;
        let ToEncode {
            models: candidates,
            planes,
            alpha_modes,
            alpha_planes,
            ..
        } = chunk;
        let mut coded: Vec<usize> = Vec::new();
        let flags: Vec<u8> = planes
            .iter()
            .zip(&alpha_modes)
            .map(|(p, &alpha_mode)| {
                let m = chosen[p.model];
                let slot = coded.iter().position(|&c| c == m).unwrap_or_else(|| {
                    coded.push(m);
                    coded.len() - 1
                });
                slot as u8 | alpha_mode << 2
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
        Ok(Header {
            code,
            scheme: fixed[1],
            pixel_precision: fixed[2],
            latent_precision: fixed[3],
            model_ids: ids.chunks_exact(32).collect(),
            flags,
            alpha,
            message: &data[pos..],
        })
    }
}
