//! Writing an archive: plan chunks, encode them on all threads, write them in order, then the
//! index and the trailer. Output bytes depend only on the input and the options, never on timing.

use super::error::{show_path, Error, Result};
use super::format::{encode_header, encode_trailer, Trailer, HEADER_LEN};
use super::index::{encode_index, ChunkEntry, Content, Geometry, Kind, MemberEntry, NO_CHUNK};
use super::plan::{plan_chunks, ChunkBounds};
use crate::codec::{CodecError, Image, Payload, Registry};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A member to store, as the caller found it. Content is fetched through `Source` when its chunk
/// is encoded, so that only a few chunks' worth of input is in memory at once.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    /// File size as seen when listing; the loaded content must have this length.
    pub size: u64,
    pub link: Vec<u8>,
    /// The file looks like an image an image codec may take: it is planned into image chunks.
    pub image: bool,
}

/// A file's content as fetched for its chunk, with the image geometry found in it (if any).
pub struct Loaded {
    pub bytes: Vec<u8>,
    pub geometry: Geometry,
    /// The decoded pixels and the wrapper that rebuilds the file around them, when the file is
    /// an image that may be stored as pixels (content kind 1).
    pub pixels: Option<(Image, Vec<u8>)>,
}

/// Fetches the content of file member `index` (an index into the spec list).
pub trait Source: Sync {
    fn load(&self, index: usize) -> std::result::Result<Loaded, String>;
}

#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Codec tried first for every chunk of bytes.
    pub codec: u8,
    /// Codec used when the first one answers `CodecError::Unsupported`.
    pub fallback: u8,
    pub bounds: ChunkBounds,
    /// Codec for chunks of images stored as pixels; `None` stores images as bytes.
    pub image_codec: Option<u8>,
    /// Bounds on image chunks (input bytes are pixel bytes).
    pub image_bounds: ChunkBounds,
    pub threads: usize,
    /// Image chunks handed to the image codec at once (`Codec::encode_chunks`, which may batch
    /// work across them, on a GPU say). 0 or 1: each chunk on its own on `threads` threads.
    /// The archive bytes do not depend on it.
    pub group: usize,
}

/// What was written, for summaries.
#[derive(Clone, Debug)]
pub struct WriteReport {
    pub members: Vec<MemberEntry>,
    pub chunks: Vec<ChunkEntry>,
    /// Total archive length in bytes.
    pub archive_len: u64,
}

struct Encoded {
    codec: u8,
    bytes: Vec<u8>,
    sizes: Vec<u64>,
    crcs: Vec<u32>,
    geometries: Vec<Geometry>,
    /// Per item: `Some(wrapper)` when stored as pixels.
    wrappers: Vec<Option<Vec<u8>>>,
    /// Input bytes (file sizes), for progress.
    input: u64,
}

/// Writes a whole archive to `out`. `progress` is called with the input bytes of each chunk as
/// it is written.
pub fn write_archive(
    out: &mut dyn Write,
    specs: &[MemberSpec],
    source: &dyn Source,
    registry: &Registry,
    opts: &WriteOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<WriteReport> {
    let mut members: Vec<MemberEntry> = specs
        .iter()
        .map(entry_without_content)
        .collect::<Result<_>>()?;
    let plan = plan_all(specs, opts);
    let io = |e: std::io::Error| Error::Io(format!("writing archive: {e}"));
    out.write_all(&encode_header()).map_err(io)?;
    let mut offset = HEADER_LEN as u64;
    let mut chunks = Vec::with_capacity(plan.len());
    let threads = opts.threads.max(1);
    // Encode a window of chunks at a time: enough to keep every thread busy (or to fill the
    // codec's batches), bounded in memory.
    let window_len = if opts.group > 1 {
        opts.group
    } else {
        threads * 2
    };
    for window in plan.chunks(window_len) {
        let encoded = if opts.group > 1 {
            encode_group(window, source, specs, registry, opts, threads)
        } else {
            encode_window(window, source, specs, registry, opts, threads)
        };
        for (items, enc) in window.iter().zip(encoded) {
            let enc = enc?;
            let chunk_index = chunks.len() as u32;
            for (pos, &m) in items.iter().enumerate() {
                let e = &mut members[m];
                e.chunk = chunk_index;
                e.position = pos as u32;
                e.size = enc.sizes[pos];
                e.crc = enc.crcs[pos];
                e.geometry = enc.geometries[pos];
                if let Some(w) = &enc.wrappers[pos] {
                    e.content = Content::Pixels;
                    e.wrapper = w.clone();
                }
            }
            out.write_all(&enc.bytes).map_err(io)?;
            chunks.push(ChunkEntry {
                offset,
                len: enc.bytes.len() as u64,
                crc: crc32fast::hash(&enc.bytes),
                item_count: items.len() as u32,
                codec: enc.codec,
            });
            offset += enc.bytes.len() as u64;
            progress(enc.input);
        }
    }
    let index = super::packed::pack_index(&encode_index(&chunks, &members));
    let trailer = Trailer {
        index_offset: offset,
        index_len: index.len() as u64,
        index_crc: crc32fast::hash(&index),
    };
    out.write_all(&index).map_err(io)?;
    out.write_all(&encode_trailer(&trailer)).map_err(io)?;
    out.flush().map_err(io)?;
    let archive_len = offset + index.len() as u64 + super::format::TRAILER_LEN as u64;
    Ok(WriteReport {
        members,
        chunks,
        archive_len,
    })
}

fn entry_without_content(s: &MemberSpec) -> Result<MemberEntry> {
    let bad = |what: &str| Error::Invalid(format!("'{}': {what}", show_path(&s.path)));
    if s.path.is_empty() || s.path.len() > super::index::MAX_PATH {
        return Err(bad("path is empty or too long to store"));
    }
    if s.link.len() > super::index::MAX_PATH {
        return Err(bad("symlink target is too long to store"));
    }
    let (size, crc) = match s.kind {
        Kind::Symlink if s.link.is_empty() => return Err(bad("symlink has an empty target")),
        Kind::Symlink => (s.link.len() as u64, crc32fast::hash(&s.link)),
        _ => (0, 0),
    };
    Ok(MemberEntry {
        path: s.path.clone(),
        kind: s.kind,
        content: Content::Bytes,
        mode: s.mode & 0o7777,
        mtime_sec: s.mtime_sec,
        mtime_nsec: s.mtime_nsec.min(999_999_999),
        size,
        crc,
        chunk: NO_CHUNK,
        position: 0,
        geometry: Geometry::default(),
        link: if s.kind == Kind::Symlink {
            s.link.clone()
        } else {
            Vec::new()
        },
        wrapper: Vec::new(),
    })
}

/// Plans image files and other files into separate chunks (an image chunk's codec takes only
/// images), then orders all chunks by their first member, so the file follows archive order.
fn plan_all(specs: &[MemberSpec], opts: &WriteOptions) -> Vec<Vec<usize>> {
    let content = |s: &MemberSpec| s.kind == Kind::File && s.size > 0;
    let is_image = |s: &MemberSpec| opts.image_codec.is_some() && s.image;
    let sizes = |images: bool| -> Vec<Option<u64>> {
        specs
            .iter()
            .map(|s| (content(s) && is_image(s) == images).then_some(s.size))
            .collect()
    };
    let mut plan = plan_chunks(&sizes(false), opts.bounds);
    plan.extend(plan_chunks(&sizes(true), opts.image_bounds));
    plan.sort_by_key(|c| c[0]);
    plan
}

/// Runs `f(i)` for every `i < n` on up to `threads` threads; results in order.
fn par_map<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.min(n) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let r = f(i);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item is mapped")
        })
        .collect()
}

fn encode_window(
    window: &[Vec<usize>],
    source: &dyn Source,
    specs: &[MemberSpec],
    registry: &Registry,
    opts: &WriteOptions,
    threads: usize,
) -> Vec<Result<Encoded>> {
    par_map(window.len(), threads, |i| {
        encode_chunk(&window[i], source, specs, registry, opts)
    })
}

/// An image chunk's payloads (pixels) and the wrappers that rebuild their files.
type ImageItems = (Vec<Payload>, Vec<Option<Vec<u8>>>);
type Coded = std::result::Result<Vec<u8>, CodecError>;
/// A loaded chunk, its images if the image codec took them, and what that codec made of them.
type Slot = (Result<LoadedChunk>, Option<ImageItems>, Option<Coded>);

/// Encodes a window with every image chunk handed to the image codec in one call; loading,
/// and chunks stored as bytes, run on `threads` threads. Same results as `encode_window`.
fn encode_group(
    window: &[Vec<usize>],
    source: &dyn Source,
    specs: &[MemberSpec],
    registry: &Registry,
    opts: &WriteOptions,
    threads: usize,
) -> Vec<Result<Encoded>> {
    let n = window.len();
    let mut loaded = par_map(n, threads, |i| load_chunk(&window[i], source, specs));
    let images: Vec<Option<ImageItems>> = loaded
        .iter_mut()
        .map(|l| l.as_mut().ok().and_then(|l| take_images(l, opts)))
        .collect();
    let which: Vec<usize> = (0..n).filter(|&i| images[i].is_some()).collect();
    let mut coded: Vec<Option<Coded>> = (0..n).map(|_| None).collect();
    if let (Some(id), false) = (opts.image_codec, which.is_empty()) {
        let results = match registry.get(id) {
            Some(codec) => {
                let refs: Vec<Vec<&Payload>> = which
                    .iter()
                    .map(|&i| {
                        images[i]
                            .as_ref()
                            .map_or(Vec::new(), |m| m.0.iter().collect())
                    })
                    .collect();
                codec.encode_chunks(&refs)
            }
            None => which.iter().map(|_| Err(not_in_build(id))).collect(),
        };
        for (&i, r) in which.iter().zip(results) {
            coded[i] = Some(r);
        }
    }
    // Each chunk finished as `encode_chunk` would; the byte coding runs on the threads.
    let slots: Vec<Mutex<Option<Slot>>> = loaded
        .into_iter()
        .zip(images)
        .zip(coded)
        .map(|((l, m), c)| Mutex::new(Some((l, m, c))))
        .collect();
    par_map(n, threads, |i| {
        let (l, images, coded) = slots[i]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("each chunk is finished once");
        let l = l?;
        if let (Some((payloads, wrappers)), Some(r)) = (images, coded) {
            match r {
                Ok(bytes) => return Ok(image_encoded(l, &payloads, wrappers, opts, bytes)),
                Err(CodecError::Unsupported(_)) => {}
                Err(e) => return Err(failed(&l, e)),
            }
        }
        bytes_encoded(l, registry, opts)
    })
}

/// A chunk's members, loaded.
struct LoadedChunk {
    loaded: Vec<Loaded>,
    input: u64,
    geometries: Vec<Geometry>,
    /// The first member's path, for messages.
    first: String,
}

fn load_chunk(items: &[usize], source: &dyn Source, specs: &[MemberSpec]) -> Result<LoadedChunk> {
    let mut loaded = Vec::with_capacity(items.len());
    for &m in items {
        let path = show_path(&specs[m].path);
        let l = source
            .load(m)
            .map_err(|e| Error::Io(format!("reading '{path}': {e}")))?;
        if l.bytes.len() as u64 != specs[m].size {
            return Err(Error::Io(format!(
                "'{path}' changed size while being archived ({} bytes, then {})",
                specs[m].size,
                l.bytes.len()
            )));
        }
        loaded.push(l);
    }
    Ok(LoadedChunk {
        input: loaded.iter().map(|l| l.bytes.len() as u64).sum(),
        geometries: loaded.iter().map(|l| l.geometry).collect(),
        loaded,
        first: show_path(&specs[items[0]].path),
    })
}

fn not_in_build(id: u8) -> CodecError {
    CodecError::Internal(format!("codec {id} is not in this build"))
}

fn failed(l: &LoadedChunk, e: CodecError) -> Error {
    Error::Io(format!("encoding the chunk starting at '{}': {e}", l.first))
}

/// Images go to the image codec as pixels when every item decoded: their payloads and wrappers.
fn take_images(l: &mut LoadedChunk, opts: &WriteOptions) -> Option<ImageItems> {
    if opts.image_codec.is_none() || !l.loaded.iter().all(|l| l.pixels.is_some()) {
        return None;
    }
    Some(
        l.loaded
            .iter_mut()
            .map(|l| {
                let (img, w) = l.pixels.take().unwrap();
                (Payload::Image(img), Some(w))
            })
            .unzip(),
    )
}

fn image_encoded(
    l: LoadedChunk,
    images: &[Payload],
    wrappers: Vec<Option<Vec<u8>>>,
    opts: &WriteOptions,
    bytes: Vec<u8>,
) -> Encoded {
    let (sizes, crcs) = images.iter().map(size_and_crc).unzip();
    Encoded {
        codec: opts.image_codec.expect("an image codec coded it"),
        bytes,
        sizes,
        crcs,
        geometries: l.geometries,
        wrappers,
        input: l.input,
    }
}

/// The chunk stored as bytes, with the fallback codec if the first refuses.
fn bytes_encoded(l: LoadedChunk, registry: &Registry, opts: &WriteOptions) -> Result<Encoded> {
    let items = l.loaded.len();
    let payloads: Vec<Payload> = l
        .loaded
        .into_iter()
        .map(|l| Payload::Bytes(l.bytes))
        .collect();
    let (sizes, crcs) = payloads.iter().map(size_and_crc).unzip();
    let run = |id: u8| -> std::result::Result<Vec<u8>, CodecError> {
        let codec = registry.get(id).ok_or_else(|| not_in_build(id))?;
        let refs: Vec<&Payload> = payloads.iter().collect();
        codec.encode_chunk(&refs)
    };
    let (codec, result) = match run(opts.codec) {
        Err(CodecError::Unsupported(_)) if opts.fallback != opts.codec => {
            (opts.fallback, run(opts.fallback))
        }
        r => (opts.codec, r),
    };
    let bytes = result
        .map_err(|e| Error::Io(format!("encoding the chunk starting at '{}': {e}", l.first)))?;
    Ok(Encoded {
        codec,
        bytes,
        sizes,
        crcs,
        geometries: l.geometries,
        wrappers: vec![None; items],
        input: l.input,
    })
}

fn encode_chunk(
    items: &[usize],
    source: &dyn Source,
    specs: &[MemberSpec],
    registry: &Registry,
    opts: &WriteOptions,
) -> Result<Encoded> {
    let mut l = load_chunk(items, source, specs)?;
    // Images go to the image codec as pixels when every item decoded; anything else, or a chunk
    // the image codec refuses, is stored as bytes.
    if let Some((images, wrappers)) = take_images(&mut l, opts) {
        let id = opts.image_codec.expect("take_images checked it");
        let r = registry
            .get(id)
            .ok_or_else(|| not_in_build(id))
            .and_then(|c| {
                let refs: Vec<&Payload> = images.iter().collect();
                c.encode_chunk(&refs)
            });
        match r {
            Ok(bytes) => return Ok(image_encoded(l, &images, wrappers, opts, bytes)),
            Err(CodecError::Unsupported(_)) => {}
            Err(e) => return Err(failed(&l, e)),
        }
    }
    bytes_encoded(l, registry, opts)
}

/// The restored content's size and CRC32 as the member table records them (pixels for images).
fn size_and_crc(p: &Payload) -> (u64, u32) {
    let content = match p {
        Payload::Bytes(b) => b,
        Payload::Image(i) => &i.pixels,
    };
    (content.len() as u64, crc32fast::hash(content))
}
