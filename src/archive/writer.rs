//! Writing an archive: plan chunks, encode them on all threads, write them in order, then the
//! index and the trailer. Output bytes depend only on the input and the options, never on timing.

use super::error::{show_path, Error, Result};
use super::format::{encode_header, encode_trailer, Trailer, HEADER_LEN};
use super::index::{
    encode_index, file_checked, ChunkEntry, Content, Geometry, Kind, MemberEntry, NO_CHUNK,
    WRITTEN_LAYOUT,
};
use super::limits::{MAX_CHUNKS, MAX_CHUNK_ITEMS, MAX_MEMBERS, MAX_PATH, MAX_WRAPPER};
use super::par::par_map;
use super::plan::{plan_chunks, ChunkBounds};
use crate::codec::{CodecError, Image, Payload, Registry, SeekRead};
use std::io::Write;
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
    /// The image has samples of more than 8 bits: it is planned into chunks of the deep-image
    /// codec, if any, else with the other images (whose codec stores it as bytes).
    pub deep: bool,
    /// The file looks like a JPEG file: it is planned into chunks of the JPEG codec, if any.
    pub jpeg: bool,
    /// The file is planned into a chunk of its own: an image so large that the image codec
    /// codes it in tiles (`codec::tiles::writes_tiles`), which it does for a chunk of one image.
    pub alone: bool,
}

/// A file's content as fetched for its chunk, with the image geometry found in it (if any).
pub struct Loaded {
    pub bytes: Vec<u8>,
    /// What the file's image header states, recorded for a member stored as bytes (listings,
    /// bits per dimension). A member stored as pixels records its raster's own geometry instead.
    pub geometry: Geometry,
    /// The decoded pixels and the wrapper that rebuilds the file around them, when the file is
    /// an image that may be stored as pixels (content kind 1).
    pub pixels: Option<(Image, Vec<u8>)>,
}

/// Fetches the content of file member `index` (an index into the spec list).
pub trait Source: Sync {
    fn load(&self, index: usize) -> std::result::Result<Loaded, String>;
    /// The content of file member `index`, to be read from its start, for a member that is
    /// streamed (`WriteOptions::stream_from`). The default loads it whole.
    fn open(&self, index: usize) -> std::result::Result<Box<dyn SeekRead + '_>, String> {
        Ok(Box::new(std::io::Cursor::new(self.load(index)?.bytes)))
    }
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
    /// Codec for chunks of images of more than 8 bits a sample (`MemberSpec::deep`), which
    /// `image_bounds` also bound; `None` plans them with the other images.
    pub deep_codec: Option<u8>,
    /// Bounds on image chunks (input bytes are pixel bytes).
    pub image_bounds: ChunkBounds,
    /// Codec for chunks of JPEG files (stored as bytes, `bounds` apply); `None` stores them
    /// with `codec`. Where it declines a chunk (`CodecError::Unsupported`), `codec` stores it.
    pub jpeg_codec: Option<u8>,
    pub threads: usize,
    /// Image chunks handed to the image codec at once (`Codec::encode_chunks`, which may batch
    /// work across them, on a GPU say). 0 or 1: each chunk on its own on `threads` threads.
    /// The archive bytes do not depend on it.
    pub group: usize,
    /// Other files (not images nor JPEGs) of this many bytes or more are streamed: each alone in
    /// its chunk, read and coded by the bytes codec as it goes (`Codec::encode_stream`) and
    /// written straight out, never whole in memory. 0: never.
    pub stream_from: u64,
}

/// What was written, for summaries.
#[derive(Clone, Debug)]
pub struct WriteReport {
    pub members: Vec<MemberEntry>,
    pub chunks: Vec<ChunkEntry>,
    /// Total archive length in bytes.
    pub archive_len: u64,
}

/// One chunk as it is written: its members (indices into the spec list, in item order) and its
/// coded bytes. A planned chunk of images may be written as two (see `finish`).
struct Encoded {
    items: Vec<usize>,
    codec: u8,
    bytes: Vec<u8>,
    sizes: Vec<u64>,
    crcs: Vec<u32>,
    geometries: Vec<Geometry>,
    /// Per item: `Some((sample depth, wrapper))` when stored as pixels.
    wrappers: Vec<Option<(u8, Vec<u8>)>>,
    /// Input bytes (file sizes), for progress.
    input: u64,
}

/// The chunks a planned chunk became.
type Chunks = Result<Vec<Encoded>>;

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
    if specs.len() as u64 > MAX_MEMBERS {
        return Err(Error::Invalid(format!(
            "{} members are more than one archive holds ({MAX_MEMBERS})",
            specs.len()
        )));
    }
    let mut members: Vec<MemberEntry> = specs
        .iter()
        .map(entry_without_content)
        .collect::<Result<_>>()?;
    let plan = plan_all(specs, opts);
    let io = |e: std::io::Error| Error::Io(format!("writing archive: {e}"));
    out.write_all(&encode_header()).map_err(io)?;
    let mut offset = HEADER_LEN as u64;
    let mut chunks: Vec<ChunkEntry> = Vec::with_capacity(plan.len());
    let threads = opts.threads.max(1);
    // Encode a window of chunks at a time: enough to keep every thread busy (or to fill the
    // codec's batches), bounded in memory.
    let window_len = if opts.group > 1 {
        opts.group
    } else {
        threads * 2
    };
    let mut rest = &plan[..];
    while let Some(first) = rest.first() {
        if streamed(first, specs, opts) {
            let mut counted = Counting {
                inner: &mut *out,
                len: 0,
                crc: crc32fast::Hasher::new(),
            };
            let enc = stream_member(first[0], &mut counted, source, specs, registry, opts)?;
            let (len, crc) = (counted.len, counted.crc.finalize());
            record(&mut members, &mut chunks, &enc, offset, len, crc)?;
            offset += len;
            progress(enc.input);
            rest = &rest[1..];
            continue;
        }
        let n = rest
            .iter()
            .take(window_len)
            .take_while(|c| !streamed(c, specs, opts))
            .count();
        let (window, after) = rest.split_at(n);
        rest = after;
        let encoded = if opts.group > 1 {
            encode_group(window, source, specs, registry, opts, threads)
        } else {
            encode_window(window, source, specs, registry, opts, threads)
        };
        for written in encoded {
            for enc in written? {
                let (len, crc) = (enc.bytes.len() as u64, crc32fast::hash(&enc.bytes));
                record(&mut members, &mut chunks, &enc, offset, len, crc)?;
                out.write_all(&enc.bytes).map_err(io)?;
                offset += len;
                progress(enc.input);
            }
        }
    }
    let raw_index = encode_index(&chunks, &members, WRITTEN_LAYOUT);
    check_index(&raw_index, offset, &chunks, &members)?;
    let index = super::packed::pack_index(&raw_index)?;
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

/// Enters chunk `enc`, of `len` bytes with CRC-32 `crc` at `offset`, in the chunk table and
/// its members' entries.
fn record(
    members: &mut [MemberEntry],
    chunks: &mut Vec<ChunkEntry>,
    enc: &Encoded,
    offset: u64,
    len: u64,
    crc: u32,
) -> Result<()> {
    if chunks.len() as u64 >= MAX_CHUNKS {
        return Err(Error::Invalid(format!(
            "more than {MAX_CHUNKS} chunks (use larger chunk bounds)"
        )));
    }
    let chunk_index = chunks.len() as u32;
    for (pos, &m) in enc.items.iter().enumerate() {
        let e = &mut members[m];
        e.chunk = chunk_index;
        e.position = pos as u32;
        e.size = enc.sizes[pos];
        e.geometry = enc.geometries[pos];
        if let Some((depth, w)) = &enc.wrappers[pos] {
            e.content = Content::pixels_of(*depth);
            e.wrapper = w.clone();
        }
        // A byte-exact PNG's file CRC (in its wrapper) checks its pixels.
        e.crc = (!file_checked(WRITTEN_LAYOUT, e.content, &e.wrapper)).then_some(enc.crcs[pos]);
    }
    chunks.push(ChunkEntry {
        offset,
        len,
        crc,
        item_count: enc.items.len() as u32,
        codec: enc.codec,
    });
    Ok(())
}

/// Whether planned chunk `items` is a member to stream (`WriteOptions::stream_from`).
fn streamed(items: &[usize], specs: &[MemberSpec], opts: &WriteOptions) -> bool {
    let s = &specs[items[0]];
    opts.stream_from > 0
        && items.len() == 1
        && s.size >= opts.stream_from
        && !s.image
        && !s.jpeg
        && class(s, opts) == Class::Bytes
}

/// Counts and hashes what is written through it.
struct Counting<'w> {
    inner: &'w mut dyn Write,
    len: u64,
    crc: crc32fast::Hasher,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Streams member `m` alone into a chunk of the bytes codec, written to `out` as it is coded.
/// Its chunk entry comes from what passed through `out`; the returned `Encoded` holds no bytes.
fn stream_member(
    m: usize,
    out: &mut dyn Write,
    source: &dyn Source,
    specs: &[MemberSpec],
    registry: &Registry,
    opts: &WriteOptions,
) -> Result<Encoded> {
    let path = show_path(&specs[m].path);
    let size = specs[m].size;
    let mut input = source
        .open(m)
        .map_err(|e| Error::Io(format!("reading '{path}': {e}")))?;
    let codec = registry
        .get(opts.codec)
        .ok_or_else(|| Error::Io(format!("'{path}': {}", not_in_build(opts.codec))))?;
    let item = codec
        .encode_stream(size, &mut *input, out)
        .map_err(|e| Error::Io(format!("encoding '{path}': {e}")))?;
    if item.len != size {
        return Err(Error::Io(format!(
            "'{path}' changed size while being archived ({size} bytes, then {}{})",
            item.len,
            if item.len > size { "+" } else { "" }
        )));
    }
    Ok(Encoded {
        items: vec![m],
        codec: opts.codec,
        bytes: Vec::new(),
        sizes: vec![item.len],
        crcs: vec![item.crc],
        geometries: vec![Geometry::default()],
        wrappers: vec![None],
        input: size,
    })
}

/// The reader's own parser on the index about to be written: it must accept it and give back
/// the very entries (the packed form leaves out what the rules imply, so an entry that broke a
/// rule would come back changed).
fn check_index(
    raw: &[u8],
    offset: u64,
    chunks: &[ChunkEntry],
    members: &[MemberEntry],
) -> Result<()> {
    let parsed = super::index::parse_index(raw, offset, WRITTEN_LAYOUT).map_err(|e| {
        Error::Invalid(format!(
            "bsar would write an index it cannot read ({e}); the archive was not created"
        ))
    })?;
    if parsed.chunks != chunks || parsed.members != members {
        return Err(Error::Invalid(
            "bsar would write an index that reads back differently; the archive was not created"
                .into(),
        ));
    }
    Ok(())
}

fn entry_without_content(s: &MemberSpec) -> Result<MemberEntry> {
    let bad = |what: &str| Error::Invalid(format!("'{}': {what}", show_path(&s.path)));
    if s.path.is_empty() || s.path.len() > MAX_PATH {
        return Err(bad("path is empty or too long to store"));
    }
    if s.link.len() > MAX_PATH {
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
        crc: Some(crc),
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

/// What kind of chunk a member is planned into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Bytes,
    Image,
    Deep,
    Jpeg,
}

fn class(s: &MemberSpec, opts: &WriteOptions) -> Class {
    if opts.deep_codec.is_some() && s.image && s.deep {
        Class::Deep
    } else if opts.image_codec.is_some() && s.image {
        Class::Image
    } else if opts.jpeg_codec.is_some() && s.jpeg {
        Class::Jpeg
    } else {
        Class::Bytes
    }
}

/// Plans image files, JPEG files and other files into separate chunks (an image chunk's codec
/// takes only images, the JPEG codec only files), then orders all chunks by their first member,
/// so the file follows archive order.
fn plan_all(specs: &[MemberSpec], opts: &WriteOptions) -> Vec<Vec<usize>> {
    let content = |s: &MemberSpec| s.kind == Kind::File && s.size > 0;
    let streams =
        |s: &MemberSpec| opts.stream_from > 0 && s.size >= opts.stream_from && !s.image && !s.jpeg;
    let sizes = |c: Class| -> Vec<Option<u64>> {
        specs
            .iter()
            // A size no bound admits anything beside: the member is alone in its chunk.
            .map(|s| {
                (content(s) && class(s, opts) == c).then_some(if s.alone || streams(s) {
                    u64::MAX
                } else {
                    s.size
                })
            })
            .collect()
    };
    let capped = |b: ChunkBounds| ChunkBounds {
        max_items: b.max_items.min(MAX_CHUNK_ITEMS as usize),
        ..b
    };
    let mut plan = plan_chunks(&sizes(Class::Bytes), capped(opts.bounds));
    plan.extend(plan_chunks(&sizes(Class::Image), capped(opts.image_bounds)));
    plan.extend(plan_chunks(&sizes(Class::Deep), capped(opts.image_bounds)));
    plan.extend(plan_chunks(&sizes(Class::Jpeg), capped(opts.bounds)));
    plan.sort_by_key(|c| c[0]);
    plan
}

fn encode_window(
    window: &[Vec<usize>],
    source: &dyn Source,
    specs: &[MemberSpec],
    registry: &Registry,
    opts: &WriteOptions,
    threads: usize,
) -> Vec<Chunks> {
    par_map(window.len(), threads, |i| {
        encode_chunk(&window[i], source, specs, registry, opts)
    })
}

fn encode_chunk(
    items: &[usize],
    source: &dyn Source,
    specs: &[MemberSpec],
    registry: &Registry,
    opts: &WriteOptions,
) -> Chunks {
    let mut l = load_chunk(items, source, specs, opts)?;
    let images = candidates(&mut l, opts);
    let coded = images
        .as_ref()
        .map(|c| code_images(&c.payloads, registry, &l));
    finish(l, images, coded, registry, opts)
}

type Coded = std::result::Result<Vec<u8>, CodecError>;
/// A loaded chunk, its images if any may be stored as pixels, and what the image codec made of them.
type Slot = (Result<LoadedChunk>, Option<Candidates>, Option<Coded>);

/// Encodes a window with every image chunk handed to the image codec in one call; loading,
/// and chunks stored as bytes, run on `threads` threads. Same results as `encode_window`.
fn encode_group(
    window: &[Vec<usize>],
    source: &dyn Source,
    specs: &[MemberSpec],
    registry: &Registry,
    opts: &WriteOptions,
    threads: usize,
) -> Vec<Chunks> {
    let n = window.len();
    let mut loaded = par_map(n, threads, |i| load_chunk(&window[i], source, specs, opts));
    let images: Vec<Option<Candidates>> = loaded
        .iter_mut()
        .map(|l| l.as_mut().ok().and_then(|l| candidates(l, opts)))
        .collect();
    // The chunks for the image codec go to it at once; those for the deep-image codec are coded
    // as `finish` gets them.
    let which: Vec<usize> = (0..n)
        .filter(|&i| {
            images[i].is_some()
                && loaded[i]
                    .as_ref()
                    .is_ok_and(|l| l.image_codec == opts.image_codec)
        })
        .collect();
    let mut coded: Vec<Option<Coded>> = (0..n).map(|_| None).collect();
    if let (Some(id), false) = (opts.image_codec, which.is_empty()) {
        let results = match registry.get(id) {
            Some(codec) => {
                let refs: Vec<Vec<&Payload>> = which
                    .iter()
                    .map(|&i| {
                        images[i]
                            .as_ref()
                            .map_or(Vec::new(), |c| c.payloads.iter().collect())
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
        let coded = match (&images, coded) {
            (Some(c), None) => Some(code_images(&c.payloads, registry, &l)),
            (_, coded) => coded,
        };
        finish(l, images, coded, registry, opts)
    })
}

/// A chunk's members, loaded.
struct LoadedChunk {
    /// The members (indices into the spec list), in item order.
    items: Vec<usize>,
    loaded: Vec<Loaded>,
    input: u64,
    /// The first member's path, for messages.
    first: String,
    /// The codec tried first for the members stored as bytes (the JPEG codec for a chunk of
    /// JPEG files), before `WriteOptions::codec`.
    bytes_codec: u8,
    /// The codec for its images stored as pixels: the deep-image codec for a chunk of deep
    /// images, else the image codec (`None`: none are).
    image_codec: Option<u8>,
}

fn load_chunk(
    items: &[usize],
    source: &dyn Source,
    specs: &[MemberSpec],
    opts: &WriteOptions,
) -> Result<LoadedChunk> {
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
        items: items.to_vec(),
        input: loaded.iter().map(|l| l.bytes.len() as u64).sum(),
        loaded,
        first: show_path(&specs[items[0]].path),
        bytes_codec: match (class(&specs[items[0]], opts), opts.jpeg_codec) {
            (Class::Jpeg, Some(id)) => id,
            _ => opts.codec,
        },
        image_codec: match class(&specs[items[0]], opts) {
            Class::Deep => opts.deep_codec,
            _ => opts.image_codec,
        },
    })
}

fn not_in_build(id: u8) -> CodecError {
    CodecError::Internal(format!("codec {id} is not in this build"))
}

fn failed(l: &LoadedChunk, e: CodecError) -> Error {
    Error::Io(format!("encoding the chunk starting at '{}': {e}", l.first))
}

/// The members of a loaded chunk that may be stored as pixels: decoded images whose wrapper
/// the reader accepts (`MAX_WRAPPER`). The others are stored as bytes.
struct Candidates {
    /// Positions in the loaded chunk.
    which: Vec<usize>,
    payloads: Vec<Payload>,
    wrappers: Vec<Vec<u8>>,
}

fn candidates(l: &mut LoadedChunk, opts: &WriteOptions) -> Option<Candidates> {
    let id = l.image_codec?;
    // The image codec takes 8-bit samples only; the deep-image codec takes both depths.
    let takes = |i: &Image| i.depth == 8 || Some(id) == opts.deep_codec;
    let mut c = Candidates {
        which: Vec::new(),
        payloads: Vec::new(),
        wrappers: Vec::new(),
    };
    for (pos, loaded) in l.loaded.iter_mut().enumerate() {
        if loaded
            .pixels
            .as_ref()
            .is_some_and(|(i, w)| w.len() <= MAX_WRAPPER && takes(i))
        {
            let (image, wrapper) = loaded.pixels.take().expect("checked");
            c.which.push(pos);
            c.payloads.push(Payload::Image(image));
            c.wrappers.push(wrapper);
        }
    }
    (!c.which.is_empty()).then_some(c)
}

fn code_images(payloads: &[Payload], registry: &Registry, l: &LoadedChunk) -> Coded {
    let id = l.image_codec.expect("only called with an image codec");
    let codec = registry.get(id).ok_or_else(|| not_in_build(id))?;
    let refs: Vec<&Payload> = payloads.iter().collect();
    codec.encode_chunk(&refs)
}

// Never worse than storing: an image stored as pixels costs its share of the coded chunk (as the
// image codec attributes it, `Codec::item_shares`) plus its wrapper, which the index holds. Each
// image is compared with its file stored as bytes by the bytes codec; the images that lose are
// stored as bytes in a chunk of their own, and the rest, coded again without them, must still
// beat storing all of them as bytes, or the whole chunk is stored as bytes.

/// Keeps the elements of `v` whose flag in `keep` (one per element) is true.
fn retain_flagged<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut k = keep.iter();
    v.retain(|_| *k.next().expect("one flag per element"));
}

/// The whole loaded chunk stored as bytes.
fn all_bytes(l: &LoadedChunk, registry: &Registry, opts: &WriteOptions) -> Chunks {
    let all: Vec<usize> = (0..l.loaded.len()).collect();
    Ok(vec![bytes_encoded(l, &all, registry, opts)?])
}

/// The image codec's bytes, or `None` where it declined the images (they are then stored as
/// bytes); any other failure fails the archive.
fn accepted(coded: Coded, l: &LoadedChunk) -> Result<Option<Vec<u8>>> {
    match coded {
        Ok(b) => Ok(Some(b)),
        Err(CodecError::Unsupported(_)) => Ok(None),
        Err(e) => Err(failed(l, e)),
    }
}

/// The chunks a loaded chunk becomes, given its candidate images and what the image codec made
/// of them.
fn finish(
    l: LoadedChunk,
    images: Option<Candidates>,
    coded: Option<Coded>,
    registry: &Registry,
    opts: &WriteOptions,
) -> Chunks {
    let (Some(mut c), Some(coded)) = (images, coded) else {
        return all_bytes(&l, registry, opts);
    };
    let Some(mut bytes) = accepted(coded, &l)? else {
        return all_bytes(&l, registry, opts);
    };
    let mut stored: Vec<u64> = c
        .which
        .iter()
        .map(|&pos| stored_size(&l, pos, registry, opts))
        .collect::<Result<_>>()?;
    let keep = pays_per_image(bytes.len() as u64, &c, &stored, registry, l.image_codec);
    if keep.contains(&false) {
        retain_flagged(&mut c.which, &keep);
        retain_flagged(&mut c.payloads, &keep);
        retain_flagged(&mut c.wrappers, &keep);
        retain_flagged(&mut stored, &keep);
        if c.which.is_empty() {
            return all_bytes(&l, registry, opts);
        }
        let Some(recoded) = accepted(code_images(&c.payloads, registry, &l), &l)? else {
            return all_bytes(&l, registry, opts);
        };
        bytes = recoded;
    }
    split(l, c, bytes, &stored, registry, opts)
}

/// For each candidate image, whether its share of the coded chunk (as the image codec
/// attributes it) plus its wrapper costs no more than storing its file as bytes (`stored`).
fn pays_per_image(
    coded_len: u64,
    c: &Candidates,
    stored: &[u64],
    registry: &Registry,
    image_codec: Option<u8>,
) -> Vec<bool> {
    let refs: Vec<&Payload> = c.payloads.iter().collect();
    let shares = match image_codec.and_then(|id| registry.get(id)) {
        Some(codec) => codec.item_shares(&refs, coded_len),
        None => crate::codec::shares(coded_len, &vec![1; refs.len()]),
    };
    shares
        .iter()
        .zip(&c.wrappers)
        .zip(stored)
        .map(|((&share, w), &s)| share + w.len() as u64 <= s)
        .collect()
}

/// The coded images as one chunk and the other members as bytes in another, or everything as
/// bytes when the images together cost more than storing them.
fn split(
    l: LoadedChunk,
    c: Candidates,
    coded: Vec<u8>,
    stored: &[u64],
    registry: &Registry,
    opts: &WriteOptions,
) -> Chunks {
    let image_cost = coded.len() as u64 + c.wrappers.iter().map(|w| w.len() as u64).sum::<u64>();
    if image_cost > stored.iter().sum::<u64>() {
        return all_bytes(&l, registry, opts);
    }
    let rest: Vec<usize> = (0..l.loaded.len())
        .filter(|p| !c.which.contains(p))
        .collect();
    let images_first = rest.first().is_none_or(|&r| c.which[0] < r);
    let (sizes, crcs) = c.payloads.iter().map(size_and_crc).unzip();
    let image_chunk = Encoded {
        items: c.which.iter().map(|&p| l.items[p]).collect(),
        codec: l.image_codec.expect("an image codec coded it"),
        bytes: coded,
        sizes,
        crcs,
        // The geometry of a member stored as pixels is its raster's: the shape of its item.
        geometries: c.payloads.iter().map(geometry_of).collect(),
        wrappers: c
            .payloads
            .iter()
            .zip(c.wrappers)
            .map(|(p, w)| match p {
                Payload::Image(i) => Some((i.depth, w)),
                Payload::Bytes(_) => None,
            })
            .collect(),
        input: 0,
    };
    let mut out = vec![image_chunk];
    if !rest.is_empty() {
        out.push(bytes_encoded(&l, &rest, registry, opts)?);
    }
    if !images_first {
        out.reverse();
    }
    for (i, e) in out.iter_mut().enumerate() {
        e.input = if i == 0 { l.input } else { 0 };
    }
    Ok(out)
}

fn geometry_of(p: &Payload) -> Geometry {
    match p {
        Payload::Image(i) => Geometry {
            width: i.width,
            height: i.height,
            channels: i.channels,
        },
        Payload::Bytes(_) => Geometry::default(),
    }
}

/// What the member at `pos` costs stored as bytes, by the codec that would store it.
fn stored_size(
    l: &LoadedChunk,
    pos: usize,
    registry: &Registry,
    opts: &WriteOptions,
) -> Result<u64> {
    let payload = Payload::Bytes(l.loaded[pos].bytes.clone());
    let (_, bytes) = bytes_chunk(&[&payload], opts.codec, registry, opts)
        .map_err(|e| Error::Io(format!("encoding the chunk starting at '{}': {e}", l.first)))?;
    Ok(bytes.len() as u64)
}

/// `payloads` coded by `first`, or where it declines by the bytes codec, or where that declines
/// by the fallback.
fn bytes_chunk(
    payloads: &[&Payload],
    first: u8,
    registry: &Registry,
    opts: &WriteOptions,
) -> std::result::Result<(u8, Vec<u8>), CodecError> {
    let run = |id: u8| -> std::result::Result<Vec<u8>, CodecError> {
        let codec = registry.get(id).ok_or_else(|| not_in_build(id))?;
        codec.encode_chunk(payloads)
    };
    let mut last = None;
    for id in [first, opts.codec, opts.fallback] {
        if last == Some(id) {
            continue;
        }
        last = Some(id);
        match run(id) {
            Err(CodecError::Unsupported(_)) if id != opts.fallback => continue,
            r => return Ok((id, r?)),
        }
    }
    unreachable!("the fallback answers")
}

/// The members at positions `which` of a loaded chunk, stored as bytes in one chunk.
fn bytes_encoded(
    l: &LoadedChunk,
    which: &[usize],
    registry: &Registry,
    opts: &WriteOptions,
) -> Result<Encoded> {
    let payloads: Vec<Payload> = which
        .iter()
        .map(|&p| Payload::Bytes(l.loaded[p].bytes.clone()))
        .collect();
    let refs: Vec<&Payload> = payloads.iter().collect();
    let (codec, bytes) = bytes_chunk(&refs, l.bytes_codec, registry, opts)
        .map_err(|e| Error::Io(format!("encoding the chunk starting at '{}': {e}", l.first)))?;
    let (sizes, crcs) = payloads.iter().map(size_and_crc).unzip();
    Ok(Encoded {
        items: which.iter().map(|&p| l.items[p]).collect(),
        codec,
        bytes,
        sizes,
        crcs,
        geometries: which.iter().map(|&p| l.loaded[p].geometry).collect(),
        wrappers: vec![None; which.len()],
        input: l.input,
    })
}

/// The restored content's size and CRC32 as the member table records them (pixels for images).
fn size_and_crc(p: &Payload) -> (u64, u32) {
    let content = match p {
        Payload::Bytes(b) => b,
        Payload::Image(i) => &i.pixels,
    };
    (content.len() as u64, crc32fast::hash(content))
}
