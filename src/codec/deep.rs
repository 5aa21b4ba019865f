//! Codec 4: images of more than 8 bits a sample (16-bit PNG and PNM), coded by the context code
//! alone, at the depth their samples really use (spec/format.md 6.4).
//!
//! No model knows such images, so there is no bits-back stream: each plane of each image (its
//! colour or grey samples, then its alpha) is first mapped to codes of as few bits as give every
//! sample back (a 16-bit file made from 8 or 12-bit data uses only 8 or 12), then coded in
//! 32 x 32 patches by the context code at that depth, with one adaptive state per kind of plane
//! carried across the chunk. The rANS message is cut into segments of about 2^20 samples at
//! patch-row boundaries, so that the encoder, which must push a segment's symbols in reverse,
//! holds one segment's intervals rather than the chunk's.

use super::{Codec, CodecError, Image, ItemShape, Payload, CODEC_DEEP, ITEM_OVERHEAD};
use crate::ans::Stack;
use crate::bitswap::patches::Grid;
use crate::context::{self, ContextModel, Depth, ImageCoder};

/// Chunk format 1, the only one.
const FORMAT: u8 = 1;
/// The context code version the chunk's samples use (spec/context.md: version 4).
const CONTEXT_V4: u8 = 4;
/// Patch side: the context code visits samples patch by patch, as in a Bit-Swap stream.
const PATCH: usize = 32;
/// Precision of every sample's distribution: 12 bits above the deepest sample's 16, so that
/// the floor of one frequency a value costs little (spec/context.md 5).
const PRECISION: u32 = 28;
/// A segment closes after the patch row in which it reaches this many samples.
const SEGMENT_SAMPLES: u64 = 1 << 20;
/// Bytes of a plane's mapping in the chunk header: kind, bits, shift.
const MAPPING_BYTES: usize = 3;

fn corrupt(msg: impl Into<String>) -> CodecError {
    CodecError::Corrupt(msg.into())
}

/// How a plane's samples come from its codes (spec/format.md 6.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// 0: `value = code << shift`; 1: `code`'s `bits` repeated from the top bit down, as 8-bit
    /// data is widened to 16 bits (`code * 257`); 2: `code` scaled to the full range and rounded,
    /// `round(code * (2^depth - 1) / (2^bits - 1))`, as Netpbm widens a PNM of maxval `2^bits - 1`;
    /// 3: `table[code]`, the plane's distinct values in increasing order.
    pub kind: u8,
    /// Bits of a code, 1 to the sample depth.
    pub bits: u8,
    /// Kind 0's shift; 0 for the others.
    pub shift: u8,
    /// Kind 3's values; empty for the others.
    pub table: Vec<u16>,
}

impl Mapping {
    const SHIFT: u8 = 0;
    const REPLICATE: u8 = 1;
    const SCALE: u8 = 2;
    const TABLE: u8 = 3;

    /// Reads a mapping at `*at` (moving past it), checked against a sample depth of `depth` bits.
    fn parse(data: &[u8], at: &mut usize, depth: u8) -> Result<Mapping, CodecError> {
        let cut = || corrupt("deep chunk: the header is cut short");
        let b = data.get(*at..*at + MAPPING_BYTES).ok_or_else(cut)?;
        *at += MAPPING_BYTES;
        let mut m = Mapping {
            kind: b[0],
            bits: b[1],
            shift: b[2],
            table: Vec::new(),
        };
        let bad = |m: &Mapping| {
            corrupt(format!(
                "deep chunk: plane mapping {}/{}/{} does not fit {depth}-bit samples",
                m.kind, m.bits, m.shift
            ))
        };
        let fits = match m.kind {
            Mapping::SHIFT => m.bits >= 1 && m.bits as u32 + m.shift as u32 <= depth as u32,
            Mapping::REPLICATE | Mapping::SCALE | Mapping::TABLE => {
                m.bits >= 1 && m.bits <= depth && m.shift == 0
            }
            _ => false,
        };
        if !fits {
            return Err(bad(&m));
        }
        if m.kind == Mapping::TABLE {
            let n = data.get(*at..*at + 2).ok_or_else(cut)?;
            let n = u16::from_le_bytes([n[0], n[1]]) as usize + 1;
            *at += 2;
            // The fewest bits that number the values: ceil(log2 n), at least 1.
            if table_bits(n) != m.bits {
                return Err(bad(&m));
            }
            // Each value takes at least a byte: the table costs at most twice its bytes.
            if data.len() - *at < n {
                return Err(cut());
            }
            m.table.reserve_exact(n);
            let mut v = 0u64;
            for i in 0..n {
                let step = read_varint(data, at).ok_or_else(cut)?;
                v = if i == 0 { step } else { v + step };
                if (i > 0 && step == 0) || v >= 1 << depth {
                    return Err(corrupt(
                        "deep chunk: a value table that does not increase within the depth",
                    ));
                }
                m.table.push(v as u16);
            }
        }
        Ok(m)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.kind, self.bits, self.shift]);
        if self.kind == Mapping::TABLE {
            out.extend_from_slice(&((self.table.len() - 1) as u16).to_le_bytes());
            let mut last = 0;
            for (i, &v) in self.table.iter().enumerate() {
                write_varint(out, if i == 0 { v } else { v - last } as u64);
                last = v;
            }
        }
    }

    /// How many codes there are: `2^bits`, or a table's length.
    fn codes(&self) -> u32 {
        match self.kind {
            Mapping::TABLE => self.table.len() as u32,
            _ => 1 << self.bits,
        }
    }

    /// The sample of `depth` bits code `c` (below `codes()`) stands for.
    fn value(&self, c: u32, depth: u8) -> u32 {
        match self.kind {
            Mapping::SHIFT => c << self.shift,
            Mapping::REPLICATE => replicate(c, self.bits as u32, depth as u32),
            Mapping::SCALE => scale(c, self.bits as u32, depth as u32),
            _ => self.table[c as usize] as u32,
        }
    }

    /// The code of sample `v`, if this mapping gives `v` back.
    fn code(&self, v: u32, depth: u8) -> Option<u32> {
        let c = match self.kind {
            Mapping::SHIFT => v >> self.shift,
            Mapping::REPLICATE => v >> (depth - self.bits),
            Mapping::SCALE => scale(v, depth as u32, self.bits as u32),
            _ => return self.table.binary_search(&(v as u16)).ok().map(|c| c as u32),
        };
        (c < self.codes() && self.value(c, depth) == v).then_some(c)
    }

    /// The mapping of fewest bits that gives back every one of `samples`: the shift by their
    /// common trailing zero bits, the replication of their top bits or the scaling, in that
    /// order on a tie; or the table of their distinct values, where it numbers them in at least
    /// two bits fewer and costs at most 1/8 bit a sample (16 bits a value, 128 samples a value).
    fn choose(samples: &[u16], depth: u8) -> Mapping {
        let or = samples.iter().fold(0u32, |a, &v| a | v as u32);
        let shift = if or == 0 { 0 } else { or.trailing_zeros() };
        let max = samples.iter().map(|&v| v as u32).max().unwrap_or(0) >> shift;
        let shifted = Mapping {
            kind: Mapping::SHIFT,
            bits: (32 - max.leading_zeros()).max(1) as u8,
            shift: shift as u8,
            table: Vec::new(),
        };
        let best = (1..shifted.bits)
            .flat_map(|bits| {
                [Mapping::REPLICATE, Mapping::SCALE].map(|kind| Mapping {
                    kind,
                    bits,
                    shift: 0,
                    table: Vec::new(),
                })
            })
            .find(|m| samples.iter().all(|&v| m.code(v as u32, depth).is_some()))
            .unwrap_or(shifted);
        let mut seen = vec![false; 1 << 16];
        samples.iter().for_each(|&v| seen[v as usize] = true);
        let n = seen.iter().filter(|&&s| s).count();
        if n == 0 || table_bits(n) + 2 > best.bits || n * 128 > samples.len() {
            return best;
        }
        Mapping {
            kind: Mapping::TABLE,
            bits: table_bits(n),
            shift: 0,
            table: (0..=u16::MAX).filter(|&v| seen[v as usize]).collect(),
        }
    }
}

/// Bits that number `n >= 1` values: `ceil(log2 n)`, at least 1.
fn table_bits(n: usize) -> u8 {
    (usize::BITS - (n.max(2) - 1).leading_zeros()) as u8
}

/// LEB128, as spec/format.md 4.5.1: 7 bits a byte, low first.
fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint of at most 3 bytes (values below 2^21, all a table needs), in its shortest form.
fn read_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..3 {
        let b = *data.get(*at)?;
        *at += 1;
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return (i == 0 || b != 0).then_some(v);
        }
    }
    None
}

/// `c`'s `bits` bits repeated from the top of a `depth`-bit word down, the last copy cut short.
fn replicate(c: u32, bits: u32, depth: u32) -> u32 {
    let mut v = 0;
    let mut at = depth as i32 - bits as i32;
    while at > -(bits as i32) {
        v |= if at >= 0 { c << at } else { c >> -at };
        at -= bits as i32;
    }
    v
}

/// `v` of `from` bits scaled to `to` bits and rounded half up:
/// `floor((2 v (2^to - 1) + 2^from - 1) / (2 (2^from - 1)))`.
fn scale(v: u32, from: u32, to: u32) -> u32 {
    let (a, b) = ((1u64 << from) - 1, (1u64 << to) - 1);
    ((2 * v as u64 * b + a) / (2 * a)) as u32
}

/// One plane of an item: which of its channels, and which adaptive state codes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plane {
    /// The item's channels it takes, from `first`.
    first: usize,
    channels: usize,
    /// Whether it is an alpha channel (its own adaptive state).
    alpha: bool,
}

/// The planes of an image of `channels`: grey or RGB, then alpha if there is one.
fn planes(channels: u8) -> &'static [Plane] {
    const GREY: Plane = Plane {
        first: 0,
        channels: 1,
        alpha: false,
    };
    const RGB: Plane = Plane {
        channels: 3,
        ..GREY
    };
    const GREY_ALPHA: [Plane; 2] = [
        GREY,
        Plane {
            first: 1,
            alpha: true,
            ..GREY
        },
    ];
    const RGB_ALPHA: [Plane; 2] = [
        RGB,
        Plane {
            first: 3,
            alpha: true,
            ..GREY
        },
    ];
    match channels {
        1 => &[GREY],
        2 => &GREY_ALPHA,
        3 => &[RGB],
        _ => &RGB_ALPHA,
    }
}

/// An item's shape as this codec takes it.
#[derive(Clone, Copy, Debug)]
struct Shape {
    width: usize,
    height: usize,
    channels: u8,
    depth: u8,
}

fn shape_of(i: usize, s: &ItemShape) -> Result<Shape, CodecError> {
    match *s {
        ItemShape::Image {
            width,
            height,
            channels: channels @ 1..=4,
            depth: depth @ (8 | 16),
        } => Ok(Shape {
            width: width as usize,
            height: height as usize,
            channels,
            depth,
        }),
        _ => Err(corrupt(format!(
            "deep chunk: item {i} is not an image of 1 to 4 channels of 8 or 16-bit samples"
        ))),
    }
}

/// The patch rows of a `width x height` plane, each with its sample count.
fn patch_rows(s: &Shape, plane: &Plane) -> impl Iterator<Item = (usize, u64)> {
    let g = grid(s);
    let (width, height, ch) = (s.width, s.height, plane.channels);
    (0..if width == 0 { 0 } else { g.rows() }).map(move |r| {
        let rows = (height - r * PATCH).min(PATCH);
        (r, (rows * width * ch) as u64)
    })
}

fn grid(s: &Shape) -> Grid {
    Grid {
        width: s.width,
        height: s.height,
        patch: PATCH,
    }
}

/// Where the segments of a chunk end: counts samples patch row by patch row, over every plane of
/// every item in order, and says when a segment closes.
#[derive(Default)]
struct Segmenter {
    samples: u64,
}

impl Segmenter {
    /// Counts a patch row of `n` samples; true when the segment closes after it.
    fn add(&mut self, n: u64) -> bool {
        self.samples += n;
        if self.samples >= SEGMENT_SAMPLES {
            self.samples = 0;
            return true;
        }
        false
    }

    /// Whether a last, shorter segment remains open at the chunk's end.
    fn open(&self) -> bool {
        self.samples > 0
    }
}

/// The adaptive states of a chunk, one per kind of plane and coded depth, made on first use.
#[derive(Default)]
struct Models {
    states: Vec<((usize, bool, u32), ContextModel)>,
}

impl Models {
    fn get(&mut self, plane: &Plane, depth: Depth) -> &mut ContextModel {
        let key = (plane.channels, plane.alpha, depth.bits());
        let at = match self.states.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let m = ContextModel::with_depth(context::Version::V4, depth);
                self.states.push((key, m));
                self.states.len() - 1
            }
        };
        &mut self.states[at].1
    }
}

/// Sample `k` of an item's pixels (one byte a sample at depth 8, two big-endian at 16).
#[inline]
fn sample(pixels: &[u8], depth: u8, k: usize) -> u32 {
    if depth == 16 {
        u16::from_be_bytes([pixels[2 * k], pixels[2 * k + 1]]) as u32
    } else {
        pixels[k] as u32
    }
}

/// The samples of channels `channels` of an item's pixels, interleaved, each mapped by `map`.
fn samples_of(
    img: &Image,
    channels: std::ops::Range<usize>,
    mut map: impl FnMut(usize, u32) -> u16,
) -> Vec<u16> {
    let ch = img.channels as usize;
    let n = img.width as usize * img.height as usize;
    let mut out = Vec::with_capacity(n * channels.len());
    for p in 0..n {
        for c in channels.clone() {
            out.push(map(c, sample(&img.pixels, img.depth, p * ch + c)));
        }
    }
    out
}

/// The codes of a plane: its samples, each mapped by its channel's mapping (`mappings`, one per
/// channel of the item).
fn plane_codes(img: &Image, plane: &Plane, mappings: &[Mapping]) -> Vec<u16> {
    samples_of(img, plane.first..plane.first + plane.channels, |c, v| {
        mappings[c].code(v, img.depth).expect("chosen to fit") as u16
    })
}

/// The depth the context code models a plane's codes at: the most bits of its channels'.
fn plane_depth(plane: &Plane, mappings: &[Mapping]) -> Depth {
    let bits = mappings[plane.first..plane.first + plane.channels]
        .iter()
        .map(|m| m.bits)
        .max()
        .unwrap_or(8);
    Depth::new(bits as u32)
}

/// Writes a plane's samples (codes mapped back) into an item's pixels.
fn put_plane(pixels: &mut [u8], s: &Shape, plane: &Plane, codes: &[u16], mappings: &[Mapping]) {
    let ch = s.channels as usize;
    for (i, &code) in codes.iter().enumerate() {
        let (p, c) = (i / plane.channels, plane.first + i % plane.channels);
        let v = mappings[c].value(code as u32, s.depth);
        let k = p * ch + c;
        if s.depth == 16 {
            pixels[2 * k..2 * k + 2].copy_from_slice(&(v as u16).to_be_bytes());
        } else {
            pixels[k] = v as u8;
        }
    }
}

/// The codec. It has no parameters: everything a chunk needs is in its header.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeepCodec;

/// A chunk's header: the mapping of each channel of each item, item by item.
struct Header {
    mappings: Vec<Vec<Mapping>>,
    /// Where the segments start.
    body: usize,
}

fn parse_header(data: &[u8], shapes: &[Shape]) -> Result<Header, CodecError> {
    match data {
        [FORMAT, CONTEXT_V4, ..] => {}
        [FORMAT, v, ..] => return Err(corrupt(format!("deep chunk: context version {v}"))),
        [f, ..] => return Err(corrupt(format!("deep chunk: unknown format {f}"))),
        [] => return Err(corrupt("deep chunk: empty")),
    }
    let mut at = 2;
    let mut mappings = Vec::with_capacity(shapes.len());
    for (i, s) in shapes.iter().enumerate() {
        let mut item = Vec::with_capacity(s.channels as usize);
        for _ in 0..s.channels {
            let m = Mapping::parse(data, &mut at, s.depth)
                .map_err(|e| corrupt(format!("item {i}: {e}")))?;
            item.push(m);
        }
        mappings.push(item);
    }
    Ok(Header { mappings, body: at })
}

/// The segments of a chunk's body: `u32` length, then a sealed rANS stack (spec/ans.md 4).
struct Segments<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Segments<'a> {
    fn next(&mut self) -> Result<&'a [u8], CodecError> {
        let truncated = || corrupt("deep chunk: a segment is cut short");
        let len = self.data.get(self.at..self.at + 4).ok_or_else(truncated)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let start = self.at + 4;
        let seg = self
            .data
            .get(start..start.checked_add(len).ok_or_else(truncated)?)
            .ok_or_else(truncated)?;
        self.at = start + len;
        Ok(seg)
    }

    fn finished(&self) -> Result<(), CodecError> {
        if self.at != self.data.len() {
            return Err(corrupt(format!(
                "deep chunk: {} bytes after the last segment",
                self.data.len() - self.at
            )));
        }
        Ok(())
    }
}

/// How many segments a chunk of `shapes` has.
fn segment_count(shapes: &[Shape]) -> usize {
    let mut seg = Segmenter::default();
    let mut n = 0;
    for s in shapes {
        for plane in planes(s.channels) {
            for (_, samples) in patch_rows(s, plane) {
                n += seg.add(samples) as usize;
            }
        }
    }
    n + seg.open() as usize
}

fn shapes_of(shapes: &[ItemShape]) -> Result<Vec<Shape>, CodecError> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| shape_of(i, s))
        .collect()
}

/// Codes a segment's intervals (in visiting order) as a fresh stack, pushed in reverse, and
/// appends it with its length; clears them.
fn close_segment(intervals: &mut Vec<(u32, u32)>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let mut stack = Stack::new(1);
    for &(start, freq) in intervals.iter().rev() {
        stack.push(0, start, freq, PRECISION);
    }
    let bytes = stack.to_bytes();
    // Only a patch row of some 2^27 samples could code this long.
    let len = u32::try_from(bytes.len())
        .map_err(|_| CodecError::Unsupported("a segment longer than 4 GiB".into()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes);
    intervals.clear();
    Ok(())
}

impl DeepCodec {
    fn encode(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let mut images = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Payload::Image(img)
                    if (1..=4).contains(&img.channels)
                        && (img.depth == 8 || img.depth == 16)
                        && item.shape().matches(item) =>
                {
                    images.push(img)
                }
                _ => {
                    return Err(CodecError::Unsupported(format!(
                        "item {i} is not an image of 8 or 16-bit samples"
                    )))
                }
            }
        }
        // The header first: each channel's mapping, from a pass over its samples. The codes are
        // made again when a plane is coded, so that only one plane's are ever held.
        let mut out = vec![FORMAT, CONTEXT_V4];
        let mut mappings = Vec::with_capacity(images.len());
        for img in &images {
            let item: Vec<Mapping> = (0..img.channels as usize)
                .map(|c| Mapping::choose(&samples_of(img, c..c + 1, |_, v| v as u16), img.depth))
                .collect();
            item.iter().for_each(|m| m.write(&mut out));
            mappings.push(item);
        }
        let mut models = Models::default();
        let mut seg = Segmenter::default();
        let mut intervals: Vec<(u32, u32)> = Vec::new();
        for (img, item) in images.iter().zip(&mappings) {
            let s = Shape {
                width: img.width as usize,
                height: img.height as usize,
                channels: img.channels,
                depth: img.depth,
            };
            for plane in planes(img.channels) {
                let mut codes = plane_codes(img, plane, item);
                let model = models.get(plane, plane_depth(plane, item));
                let mut coder =
                    ImageCoder::new(s.width, s.height, plane.channels, PATCH, PRECISION);
                let g = grid(&s);
                for (r, samples) in patch_rows(&s, plane) {
                    for k in r * g.cols()..(r + 1) * g.cols() {
                        coder.code_patch(model, codes.as_mut_slice(), &g.pos(k), |d, v| {
                            intervals.push(d.interval(v));
                            v
                        });
                    }
                    if seg.add(samples) {
                        close_segment(&mut intervals, &mut out)?;
                    }
                }
            }
        }
        if seg.open() {
            close_segment(&mut intervals, &mut out)?;
        }
        Ok(out)
    }

    fn decode(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        super::check_upto(upto, shapes.len())?;
        let shapes = shapes_of(shapes)?;
        let header = parse_header(data, &shapes)?;
        let mut segments = Segments {
            data,
            at: header.body,
        };
        let mut models = Models::default();
        let mut seg = Segmenter::default();
        let mut stack: Option<Stack> = None;
        let mut out = Vec::with_capacity(upto + 1);
        for (i, s) in shapes.iter().enumerate().take(upto + 1) {
            let bytes = ItemShape::Image {
                width: s.width as u32,
                height: s.height as u32,
                channels: s.channels,
                depth: s.depth,
            }
            .decoded_len();
            let mut pixels = vec![0u8; bytes as usize];
            let item = &header.mappings[i];
            for plane in planes(s.channels) {
                let model = models.get(plane, plane_depth(plane, item));
                let mut coder =
                    ImageCoder::new(s.width, s.height, plane.channels, PATCH, PRECISION);
                let mut codes = vec![0u16; s.width * s.height * plane.channels];
                let g = grid(s);
                let limits: Vec<u32> = item[plane.first..plane.first + plane.channels]
                    .iter()
                    .map(Mapping::codes)
                    .collect();
                for (r, samples) in patch_rows(s, plane) {
                    let st = match &mut stack {
                        Some(st) => st,
                        None => {
                            let st = Stack::from_bytes(segments.next()?)
                                .map_err(|e| corrupt(format!("deep chunk: segment: {e}")))?;
                            stack.insert(st)
                        }
                    };
                    for k in r * g.cols()..(r + 1) * g.cols() {
                        coder.code_patch(model, codes.as_mut_slice(), &g.pos(k), |d, _| {
                            let (v, start, freq) = d.find(st.peek(0, PRECISION));
                            st.pop(0, start, freq, PRECISION);
                            v
                        });
                    }
                    // The rows just decoded: every code within its channel's mapping.
                    let rows = &codes[r * PATCH * s.width * plane.channels..][..samples as usize];
                    let bad = rows
                        .iter()
                        .enumerate()
                        .any(|(j, &v)| v as u32 >= limits[j % plane.channels]);
                    if bad || st.borrowed() > 0 {
                        return Err(corrupt(format!(
                            "deep chunk: item {i} decodes to samples its mapping cannot hold"
                        )));
                    }
                    if seg.add(samples) {
                        let st = stack.take().expect("a segment is open");
                        if st.check_initial() != Ok(0) {
                            return Err(corrupt(format!(
                                "deep chunk: a segment of item {i} has data left over"
                            )));
                        }
                    }
                }
                put_plane(&mut pixels, s, plane, &codes, item);
            }
            out.push(Payload::Image(Image {
                width: s.width as u32,
                height: s.height as u32,
                channels: s.channels,
                depth: s.depth,
                pixels,
            }));
        }
        if upto + 1 == shapes.len() {
            if let Some(st) = stack.take() {
                if st.check_initial() != Ok(0) {
                    return Err(corrupt("deep chunk: the last segment has data left over"));
                }
            }
            segments.finished()?;
        }
        Ok(out)
    }
}

impl Codec for DeepCodec {
    fn id(&self) -> u8 {
        CODEC_DEEP
    }

    fn name(&self) -> &str {
        "deep"
    }

    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        self.encode(items)
    }

    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        self.decode(data, shapes, upto)
    }

    /// The items' pixels; the largest plane's codes (two bytes a sample) and the largest
    /// plane's coder (its rows of errors); one segment's stack and the value tables, each at
    /// most twice the chunk's bytes; the adaptive states, at most 27 of about 80 KB
    /// (spec/format.md 6.3).
    fn decode_budget(&self, data_len: u64, shapes: &[ItemShape]) -> u64 {
        let planes_of = || {
            shapes
                .iter()
                .enumerate()
                .filter_map(|(i, s)| shape_of(i, s).ok())
                .flat_map(|s| planes(s.channels).iter().map(move |p| (s, *p)))
        };
        let samples = planes_of()
            .map(|(s, p)| (s.width as u64 * s.height as u64).saturating_mul(p.channels as u64))
            .max()
            .unwrap_or(0);
        let coder = planes_of()
            .map(|(s, p)| ImageCoder::memory(s.width, s.height, p.channels, PATCH))
            .max()
            .unwrap_or(0);
        super::decoded_total(shapes)
            .saturating_add(samples.saturating_mul(2))
            .saturating_add(coder)
            .saturating_add(data_len.saturating_mul(4))
            .saturating_add(1 << 23)
            .saturating_add(ITEM_OVERHEAD.saturating_mul(shapes.len() as u64))
    }

    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError> {
        let shapes = shapes_of(shapes)?;
        let header = parse_header(data, &shapes)?;
        let mut segments = Segments {
            data,
            at: header.body,
        };
        for _ in 0..segment_count(&shapes) {
            Stack::from_bytes(segments.next()?)
                .map_err(|e| corrupt(format!("deep chunk: segment: {e}")))?;
        }
        segments.finished()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, channels: u8, depth: u8, f: impl Fn(u32, u32, u32) -> u32) -> Image {
        let mut pixels = Vec::new();
        for y in 0..h {
            for x in 0..w {
                for c in 0..channels as u32 {
                    let v = f(x, y, c);
                    if depth == 16 {
                        pixels.extend_from_slice(&(v as u16).to_be_bytes());
                    } else {
                        pixels.push(v as u8);
                    }
                }
            }
        }
        Image {
            width: w,
            height: h,
            channels,
            depth,
            pixels,
        }
    }

    fn shapes(items: &[Payload]) -> Vec<ItemShape> {
        items.iter().map(Payload::shape).collect()
    }

    fn round_trip(items: &[Payload]) -> Vec<u8> {
        let refs: Vec<&Payload> = items.iter().collect();
        let data = DeepCodec.encode_chunk(&refs).unwrap();
        let shapes = shapes(items);
        DeepCodec.check_chunk(&data, &shapes).unwrap();
        for upto in 0..items.len() {
            let back = DeepCodec.decode_chunk(&data, &shapes, upto).unwrap();
            assert_eq!(back, items[..=upto], "upto {upto}");
        }
        data
    }

    /// A smooth field with noise: what a 16-bit photograph looks like to the coder.
    fn photo(x: u32, y: u32, c: u32) -> u32 {
        let noise = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ (c * 977)) % 97;
        (x * 300 + y * 170 + c * 4000 + noise * 7) % 65536
    }

    #[test]
    fn every_channel_count_and_depth_round_trips() {
        let items: Vec<Payload> = [(1, 16), (2, 16), (3, 16), (4, 16), (3, 8), (1, 8)]
            .iter()
            .enumerate()
            .map(|(i, &(c, d))| {
                let w = 13 + 9 * i as u32;
                Payload::Image(image(w, 40 - i as u32, c, d, |x, y, c| {
                    photo(x, y, c) >> (16 - d)
                }))
            })
            .collect();
        round_trip(&items);
    }

    #[test]
    fn mappings_find_the_bits_in_use() {
        type Case = (fn(u32) -> u32, Mapping);
        let cases: [Case; 5] = [
            // 8-bit data widened to 16 bits as PNG tools do: v * 257.
            (
                |v| (v & 255) * 257,
                Mapping {
                    kind: 1,
                    bits: 8,
                    shift: 0,
                    table: Vec::new(),
                },
            ),
            // 12-bit data in the top bits.
            (
                |v| (v & 4095) << 4,
                Mapping {
                    kind: 0,
                    bits: 12,
                    shift: 4,
                    table: Vec::new(),
                },
            ),
            // 10-bit data in the low bits.
            (
                |v| v & 1023,
                Mapping {
                    kind: 0,
                    bits: 10,
                    shift: 0,
                    table: Vec::new(),
                },
            ),
            // 10-bit data scaled to 16 bits, as Netpbm and PNG writers do.
            (
                |v| ((v & 1023) * 65535 * 2 + 1023) / 2046,
                Mapping {
                    kind: 2,
                    bits: 10,
                    shift: 0,
                    table: Vec::new(),
                },
            ),
            (
                |v| v & 65535,
                Mapping {
                    kind: 0,
                    bits: 16,
                    shift: 0,
                    table: Vec::new(),
                },
            ),
        ];
        for (f, want) in cases {
            let samples: Vec<u16> = (0..70000u32).map(|i| f(i * 7919) as u16).collect();
            let m = Mapping::choose(&samples, 16);
            assert_eq!(m, want);
            for &v in &samples {
                assert_eq!(m.value(m.code(v as u32, 16).unwrap(), 16), v as u32);
            }
        }
        assert_eq!(replicate(0b101, 3, 8), 0b1011_0110);
        assert_eq!(replicate(200, 8, 16), 200 * 257);
    }

    /// 8-bit data widened to 16 bits along a curve (as a colour conversion does): 256 values
    /// no formula gives back, which a table numbers in 8 bits.
    #[test]
    fn a_table_numbers_the_values_in_use() {
        let curve = |v: u32| ((v * v * 65535) / (255 * 255) + v) as u16 as u32;
        let widened = image(200, 170, 3, 16, |x, y, c| curve(photo(x, y, c) >> 8));
        let m = Mapping::choose(&samples_of(&widened, 1..2, |_, v| v as u16), 16);
        assert_eq!((m.kind, m.bits), (Mapping::TABLE, 8));
        assert!(m.table.windows(2).all(|w| w[0] < w[1]));
        let mut header = Vec::new();
        m.write(&mut header);
        let mut at = 0;
        assert_eq!(Mapping::parse(&header, &mut at, 16).unwrap(), m);
        assert_eq!(at, header.len());
        let tabled = round_trip(&[Payload::Image(widened.clone())]).len();
        // The same values in the low byte and noise: no table pays.
        let noisy = image(200, 170, 3, 16, |x, y, c| {
            curve(photo(x, y, c) >> 8) ^ ((x * 7 + y) % 3)
        });
        let m = Mapping::choose(&samples_of(&noisy, 1..2, |_, v| v as u16), 16);
        assert_ne!(m.kind, Mapping::TABLE);
        let plain = round_trip(&[Payload::Image(noisy)]).len();
        assert!(tabled * 2 < plain, "table {tabled} bytes, without {plain}");
        // A table must increase and stay within the depth; its length must fit its bits.
        for (bytes, why) in [
            (&[3u8, 2, 0, 2, 0, 5, 0, 0][..], "a repeated value"),
            (
                &[3, 1, 0, 1, 0, 0xff, 0xff, 0x03, 1][..],
                "a value past the depth",
            ),
            (&[3, 3, 0, 1, 0, 5, 1][..], "two values in 3 bits"),
            (&[3, 1, 0, 1, 0, 5][..], "cut short"),
        ] {
            assert!(Mapping::parse(bytes, &mut 0, 16).is_err(), "{why}");
        }
    }

    #[test]
    fn fewer_bits_in_use_code_smaller() {
        let full = Payload::Image(image(64, 64, 3, 16, photo));
        let twelve = Payload::Image(image(64, 64, 3, 16, |x, y, c| photo(x, y, c) >> 4 << 4));
        let eight = Payload::Image(image(64, 64, 3, 16, |x, y, c| (photo(x, y, c) >> 8) * 257));
        let (a, b, c) = (
            round_trip(&[full]).len(),
            round_trip(&[twelve]).len(),
            round_trip(&[eight]).len(),
        );
        assert!(
            b + 64 * 64 * 3 * 4 / 8 * 9 / 10 < a,
            "12-bit {b} vs 16-bit {a}"
        );
        assert!(
            c + 64 * 64 * 3 * 4 / 8 * 9 / 10 < b,
            "8-bit {c} vs 12-bit {b}"
        );
    }

    #[test]
    fn a_large_image_spans_several_segments() {
        // 1200 x 400 x 3 = 1.44 M samples: two segments.
        let items = [Payload::Image(image(1200, 400, 3, 16, photo))];
        let sh = shapes_of(&shapes(&items)).unwrap();
        assert_eq!(segment_count(&sh), 2);
        round_trip(&items);
    }

    #[test]
    fn damage_is_refused_or_caught() {
        let items = [
            Payload::Image(image(40, 30, 3, 16, photo)),
            Payload::Image(image(20, 20, 2, 16, photo)),
        ];
        let refs: Vec<&Payload> = items.iter().collect();
        let data = DeepCodec.encode_chunk(&refs).unwrap();
        let sh = shapes(&items);
        for cut in [0, 1, 2, 5, data.len() / 2, data.len() - 1] {
            assert!(
                DeepCodec.check_chunk(&data[..cut], &sh).is_err(),
                "cut {cut}"
            );
            assert!(
                DeepCodec.decode_chunk(&data[..cut], &sh, 1).is_err(),
                "cut {cut}"
            );
        }
        let mut long = data.clone();
        long.push(0);
        assert!(DeepCodec.check_chunk(&long, &sh).is_err());
        // A mapping wider than the depth.
        let mut wide = data.clone();
        wide[3] = 17;
        assert!(DeepCodec.check_chunk(&wide, &sh).is_err());
        // Shapes that disagree with the chunk.
        let mut other = sh.clone();
        other[0] = ItemShape::Image {
            width: 40,
            height: 31,
            channels: 3,
            depth: 16,
        };
        assert!(DeepCodec.decode_chunk(&data, &other, 1).is_err());
        // A flipped bit in the message decodes to other samples or fails; never panics.
        for at in (20..data.len()).step_by(97) {
            let mut d = data.clone();
            d[at] ^= 0x10;
            if let Ok(back) = DeepCodec.decode_chunk(&d, &sh, 1) {
                assert_ne!(back, items, "byte {at}");
            }
        }
    }

    #[test]
    fn the_budget_covers_the_items() {
        let items = [Payload::Image(image(300, 200, 4, 16, photo))];
        let refs: Vec<&Payload> = items.iter().collect();
        let data = DeepCodec.encode_chunk(&refs).unwrap();
        let budget = DeepCodec.decode_budget(data.len() as u64, &shapes(&items));
        assert!(budget > 300 * 200 * 4 * 2 * 2);
        assert!(budget < 300 * 200 * 4 * 2 * 60);
    }
}
