//! Arbitrary bytes turned into a small tree of files (names, sizes, and contents that often are,
//! or nearly are, PNM and PNG images: odd whitespace, comments ended by CR, maxvals other than 255,
//! trailers, truncations, text chunks), written by the library's writer as `bsar create` would,
//! and read back with the reader's code. Shared by the writer's fuzz target
//! (`fuzz/fuzz_targets/writer.rs`) and its property test (`tests/writer_roundtrip.rs`).
#![allow(dead_code)]

use bsar::archive::{
    write_archive, Archive, ChunkBounds, Content, Kind, Loaded, MemberSpec, Source, WriteOptions,
};
use bsar::bitswap::Scheme;
use bsar::codec::bitswap::{BitswapCodec, DEFAULT_PRECISIONS};
use bsar::codec::{Registry, CODEC_BITSWAP, CODEC_ZSTD};
use std::sync::Arc;

/// zstd (level 3, for speed), and Bit-Swap with the RGB fixture model and a small random grey
/// model: every channel count has a model, as in `bsar create`.
pub fn registry() -> Registry {
    use crate::model_support::{tiny_fixture, tiny_grey};
    let mut r = Registry::with_defaults(3);
    let rgb = Arc::new(tiny_fixture());
    let grey = Arc::new(tiny_grey(5, 512));
    r.register(Box::new(BitswapCodec::new(
        vec![rgb, grey],
        Scheme::BitSwap,
        DEFAULT_PRECISIONS,
    )));
    r
}

pub struct TreeFile {
    pub path: Vec<u8>,
    pub bytes: Vec<u8>,
}

/// Reads the input a byte at a time; past its end, zeros.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// The directories every tree has (its files lie in them or at the top).
pub const DIRS: [&str; 2] = ["a", "a/b"];

/// Small JPEG fixtures: grey baseline, colour progressive.
const JPEGS: [&[u8]; 2] = [
    include_bytes!("../fixtures/exact/jpeg/grey.jpg"),
    include_bytes!("../fixtures/exact/jpeg/progressive.jpg"),
];

/// The largest image side the trees hold. The writer's cost is the context code's, a fixed
/// amount a sample, so under the fuzzer (`cfg(fuzzing)`) images stay at most 20 pixels a side,
/// which still spans whole and partial 8x8 patches of the tiny models: about four times the
/// runs a second of 40, the property test's side.
const MAX_SIDE: u8 = if cfg!(fuzzing) { 20 } else { 40 };

pub fn tree_from_bytes(data: &[u8]) -> Vec<TreeFile> {
    let mut input = Input { data, pos: 0 };
    let n = input.byte() % 8 + 1;
    (0..n)
        .map(|i| {
            let path = match input.byte() % 3 {
                0 => format!("f{i}"),
                1 => format!("a/f{i}"),
                _ => format!("a/b/f{i}"),
            };
            let bytes = match input.byte() % 7 {
                0 => {
                    let len = input.byte() as usize * 3;
                    input.take(len)
                }
                1 | 2 => pnm(&mut input),
                3 | 4 => png(&mut input),
                5 => {
                    // A real JPEG (the Lepton codec's), sometimes damaged.
                    let mut f = JPEGS[input.byte() as usize % JPEGS.len()].to_vec();
                    if input.byte() & 1 == 0 {
                        mangle(&mut f, &mut input);
                    }
                    f
                }
                _ => {
                    let mut f = if input.byte() & 1 == 0 {
                        pnm(&mut input)
                    } else {
                        png(&mut input)
                    };
                    mangle(&mut f, &mut input);
                    f
                }
            };
            TreeFile {
                path: path.into_bytes(),
                bytes,
            }
        })
        .collect()
}

/// A binary PNM whose header uses every separator Netpbm allows, sometimes with another maxval,
/// followed by a trailer (sometimes long and compressible).
fn pnm(input: &mut Input) -> Vec<u8> {
    const SEPARATORS: [&[u8]; 7] = [
        b" ",
        b"\n",
        b"\x0b",
        b"\t\r\n",
        b"\n# comment\r",
        b"\x0c# x\n ",
        b"\r",
    ];
    let channels = if input.byte() & 1 == 0 { 1 } else { 3 };
    let (w, h) = (input.byte() % MAX_SIDE + 1, input.byte() % MAX_SIDE + 1);
    let maxval = match input.byte() % 8 {
        0 => input.byte() as u32 + 1,
        // Two bytes a sample (the deep-image codec's).
        1 => 256 + input.byte() as u32 * 256,
        _ => 255,
    };
    let mut f = format!("P{}", if channels == 1 { 5 } else { 6 }).into_bytes();
    for field in [w as u32, h as u32, maxval] {
        f.extend_from_slice(SEPARATORS[input.byte() as usize % SEPARATORS.len()]);
        f.extend_from_slice(field.to_string().as_bytes());
    }
    f.push(b" \n\t\x0b\x0c\r"[input.byte() as usize % 6]);
    let samples = content(input, w as usize, h as usize, channels);
    if maxval > 255 {
        f.extend(widen(input, &samples));
    } else {
        f.extend(samples);
    }
    match input.byte() % 4 {
        0 => {}
        1 => {
            let n = input.byte() as usize;
            f.extend(input.take(n));
        }
        2 => {
            let (fill, n) = (input.byte(), input.byte() as usize * 1024);
            f.extend(std::iter::repeat(fill).take(n));
        }
        _ => f.extend_from_slice(b"\n"),
    }
    f
}

/// Samples of a `w x h` image: usually a gradient with a little noise, which image codecs code
/// better than zstd (as on photographs), sometimes plain noise or a flat ramp, which they do not.
fn content(input: &mut Input, w: usize, h: usize, channels: usize) -> Vec<u8> {
    let n = w * h * channels;
    match input.byte() % 4 {
        0 => input.take(n),
        1 => {
            let base = input.byte();
            (0..n)
                .map(|i| base.wrapping_add((i / channels % w) as u8))
                .collect()
        }
        _ => {
            let (dx, dy) = (input.byte() % 9, input.byte() % 9);
            (0..n)
                .map(|i| {
                    let (x, y, c) = ((i / channels) % w, i / channels / w, i % channels);
                    let v = x * dx as usize + y * dy as usize + c * 40;
                    (v as u8).wrapping_add(input.byte() % 4)
                })
                .collect()
        }
    }
}

/// 8-bit samples as 16-bit ones, big-endian: widened as PNG tools do (`v * 257`), or with
/// noise in the low byte.
fn widen(input: &mut Input, samples: &[u8]) -> Vec<u8> {
    let noisy = input.byte() & 1 == 0;
    samples
        .iter()
        .flat_map(|&v| [v, if noisy { input.byte() } else { v }])
        .collect()
}

/// An 8 or 16-bit PNG of 1 to 4 channels, sometimes with a text chunk, at any compression
/// setting.
fn png(input: &mut Input) -> Vec<u8> {
    let channels = input.byte() % 4 + 1;
    let (w, h) = (
        (input.byte() % MAX_SIDE) as u32 + 1,
        (input.byte() % MAX_SIDE) as u32 + 1,
    );
    let colour = match channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    let mut pixels = content(input, w as usize, h as usize, channels as usize);
    let deep = input.byte() % 4 == 0;
    if deep {
        pixels = widen(input, &pixels);
    }
    let text = input.byte() & 1 == 0;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(colour);
    enc.set_depth(if deep {
        png::BitDepth::Sixteen
    } else {
        png::BitDepth::Eight
    });
    // Every deflate path of the byte-exact record: fdeflate (Fast), miniz (Default, Best).
    enc.set_compression(match input.byte() % 3 {
        0 => png::Compression::Fast,
        1 => png::Compression::Default,
        _ => png::Compression::Best,
    });
    if text {
        enc.add_text_chunk("Comment".into(), "kept".into())
            .expect("a valid text chunk");
    }
    let mut writer = enc.write_header().expect("a valid header");
    writer.write_image_data(&pixels).expect("the right length");
    writer.finish().expect("finishes");
    out
}

/// Damage near the edges of a format: truncation, trailing bytes, a flipped byte.
fn mangle(f: &mut Vec<u8>, input: &mut Input) {
    let at = input.byte() as usize * 7 % f.len().max(1);
    match input.byte() % 3 {
        0 => f.truncate(at),
        1 => {
            let n = input.byte() as usize % 16 + 1;
            f.extend(input.take(n));
        }
        _ => {
            if let Some(b) = f.get_mut(at) {
                *b ^= input.byte() | 1;
            }
        }
    }
}

/// The members `bsar create` would list for `files`: the directories, then the files, each
/// planned as an image when its first bytes look like one (as `bsar create` decides).
pub fn specs(files: &[TreeFile]) -> Vec<MemberSpec> {
    let dirs = DIRS.iter().map(|d| MemberSpec {
        path: d.as_bytes().to_vec(),
        kind: Kind::Dir,
        mode: 0o755,
        mtime_sec: 0,
        mtime_nsec: 0,
        size: 0,
        link: Vec::new(),
        image: false,
        deep: false,
        jpeg: false,
        alone: false,
    });
    let files = files.iter().map(|f| MemberSpec {
        path: f.path.clone(),
        kind: Kind::File,
        mode: 0o644,
        mtime_sec: 1_700_000_000,
        mtime_nsec: 5,
        size: f.bytes.len() as u64,
        link: Vec::new(),
        image: !f.bytes.is_empty()
            && bsar::imageio::looks_storable(&f.bytes[..f.bytes.len().min(512)]),
        deep: bsar::cli::deep_image(&f.bytes[..f.bytes.len().min(512)]),
        jpeg: bsar::imageio::looks_jpeg(&f.bytes),
        alone: bsar::cli::alone_in_chunk(&f.bytes[..f.bytes.len().min(512)]),
    });
    dirs.chain(files).collect()
}

struct Tree<'a>(&'a [TreeFile]);

impl Source for Tree<'_> {
    fn load(&self, index: usize) -> Result<Loaded, String> {
        let f = &self.0[index - DIRS.len()];
        let image = bsar::imageio::looks_storable(&f.bytes[..f.bytes.len().min(512)]);
        // Both ways of storing images in every tree: byte-exact (the default) and pixels only.
        let fidelity = if index % 2 == 0 {
            bsar::imageio::Fidelity::Bytes
        } else {
            bsar::imageio::Fidelity::Pixels
        };
        Ok(bsar::cli::load_member(f.bytes.clone(), image, fidelity))
    }
}

/// Writes `files` with `registry` (bytes with zstd, images with its Bit-Swap codec when
/// `images`), checks that the reader opens what was written, then restores every member and
/// requires its original bytes, or for a PNG stored pixels-only the same pixels and chunks.
/// Files at even positions are loaded byte-exact (the default), the others pixels-only.
/// Writes on `threads` threads. Returns the archive.
pub fn round_trip(
    files: &[TreeFile],
    registry: &Registry,
    images: bool,
    threads: usize,
) -> Vec<u8> {
    let specs = specs(files);
    let opts = WriteOptions {
        codec: CODEC_ZSTD,
        fallback: CODEC_ZSTD,
        bounds: ChunkBounds {
            max_bytes: 4096,
            max_items: 3,
        },
        image_codec: images.then_some(CODEC_BITSWAP),
        deep_codec: images.then_some(bsar::codec::CODEC_DEEP),
        image_bounds: ChunkBounds {
            max_bytes: 1 << 20,
            max_items: 4,
        },
        jpeg_codec: Some(bsar::codec::CODEC_LEPTON),
        threads,
        group: 0,
        // Files of 2 KiB and more (not images nor JPEGs) take the streamed path.
        stream_from: 2048,
    };
    let mut out = Vec::new();
    write_archive(&mut out, &specs, &Tree(files), registry, &opts, &|_| {})
        .expect("the writer takes any tree of plain files");
    let archive = Archive::parse(&out).expect("what the writer wrote opens");
    archive
        .check_chunks(registry)
        .expect("what the writer wrote has sound chunks");
    for (mi, m) in archive.members().iter().enumerate() {
        if m.kind != Kind::File {
            continue;
        }
        let f = files
            .iter()
            .find(|f| f.path == m.path)
            .expect("every member is a file of the tree");
        let content = archive
            .read_member(mi, registry)
            .unwrap_or_else(|e| panic!("member '{}' reads back: {e}", m.shown()));
        if m.content == Content::Bytes {
            assert_eq!(content, f.bytes, "'{}' comes back byte for byte", m.shown());
            continue;
        }
        let rebuilt = bsar::imageio::rebuild(&m.wrapper, m.image_header(), content)
            .unwrap_or_else(|e| panic!("'{}' rebuilds: {e}", m.shown()));
        let wrapper = bsar::imageio::Wrapper::from_bytes(&m.wrapper).unwrap();
        if wrapper.byte_exact() {
            assert_eq!(rebuilt, f.bytes, "'{}' comes back byte for byte", m.shown());
        } else {
            let (a, wa) = bsar::imageio::decode(&f.bytes).expect("the original decodes");
            let (b, wb) = bsar::imageio::decode(&rebuilt).expect("the rebuilt file decodes");
            assert_eq!(a, b, "'{}' comes back pixel for pixel", m.shown());
            let chunks = |w: bsar::imageio::Wrapper| match w {
                bsar::imageio::Wrapper::Png { before, after, .. } => (before, after),
                w => panic!("a PNG wrapper, not {}", w.format_name()),
            };
            assert_eq!(chunks(wa), chunks(wb), "'{}' keeps its chunks", m.shown());
        }
    }
    out
}
