//! Codec id 3: JPEG files recompressed losslessly by Lepton (the `lepton_jpeg` crate, pinned),
//! about a fifth smaller, and restored to the identical bytes (spec/format.md 6.2).
//!
//! Each item is one file, coded on its own: Lepton where it is smaller than the file's zstd frame
//! (and decodes back to the very same bytes, which the encoder checks), the zstd frame otherwise,
//! so a JPEG Lepton cannot take (damaged, CMYK, arithmetic-coded) costs what zstd costs. A chunk
//! where no item gains is refused (`Unsupported`), and the writer stores it with zstd instead.
//!
//! Lepton's model starts afresh with every file, and so does its header (the JPEG's tables and
//! markers, deflated on their own): on a data set's files, nearly the same few hundred bytes each
//! time. Format 2 keeps every item's header in one Zstandard frame for the chunk, which codes the
//! repeats for almost nothing.

mod data;

pub use data::{lepton_decode, lepton_encode};

use super::zstd::{decode_frame, decode_frame_within, frame_len, ZstdCodec};
use super::{Codec, CodecError, ItemShape, Payload, CODEC_LEPTON};
use data::{encode_unchecked, join, split, FIXED};

/// The chunk's first byte: which Lepton format and settings the items hold, and how they lie. 1
/// is `lepton_jpeg` 0.5.8 with `EnabledFeatures::compat_lepton_vector_write()` (reading with
/// `..._vector_read()`), one thread, each item whole. A new `lepton_jpeg` whose output differs
/// gets a new value; old ones keep decoding.
pub const FORMAT_LEPTON_0_5_8: u8 = 1;
/// Lepton data of the same library and settings but one partition (`data::write_features`), each
/// item's header kept in the chunk's header frame (written since format 1.3 of the archive).
pub const FORMAT_SHARED_HEADERS: u8 = 2;

/// Item modes: what follows the mode byte.
const ITEM_ZSTD: u8 = 0;
/// Format 1: a whole Lepton stream.
const ITEM_LEPTON: u8 = 1;
/// Format 2: a Lepton stream's body; its header is the next entry of the header frame.
const ITEM_LEPTON_BODY: u8 = 2;

pub struct LeptonCodec {
    zstd: ZstdCodec,
    level: i32,
}

impl LeptonCodec {
    /// `zstd_level` codes the items Lepton does not make smaller, and the header frame.
    pub fn new(zstd_level: i32) -> Self {
        LeptonCodec {
            zstd: ZstdCodec::new(zstd_level),
            level: zstd_level,
        }
    }
}

/// One item as it lies in the chunk.
enum Item<'a> {
    Zstd(&'a [u8]),
    Lepton(&'a [u8]),
    /// A body, and the index of its header among the chunk's.
    Body(&'a [u8], usize),
}

/// A chunk's framing: its header frame (format 2) and its `count` items, found from their framing
/// only; nothing may follow the last.
struct Chunk<'a> {
    header_frame: &'a [u8],
    items: Vec<Item<'a>>,
    bodies: usize,
}

fn parse(data: &[u8], count: usize) -> Result<Chunk<'_>, CodecError> {
    let bad = |m: String| CodecError::Corrupt(m);
    let short = |i: usize| bad(format!("item {i}: chunk ends early"));
    let (&format, mut rest) = data
        .split_first()
        .ok_or_else(|| bad("empty Lepton chunk".into()))?;
    if format != FORMAT_LEPTON_0_5_8 && format != FORMAT_SHARED_HEADERS {
        return Err(bad(format!(
            "Lepton chunk of format {format}, which this bsar does not know"
        )));
    }
    let mut header_frame: &[u8] = &[];
    if format == FORMAT_SHARED_HEADERS {
        let (n, r) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("Lepton chunk ends in its header frame".into()))?;
        let n = u32::from_le_bytes(*n) as usize;
        if r.len() < n {
            return Err(bad("Lepton chunk ends in its header frame".into()));
        }
        (header_frame, rest) = r.split_at(n);
    }
    let mut items = Vec::with_capacity(count.min(data.len()));
    let mut bodies = 0;
    for i in 0..count {
        let (&mode, r) = rest.split_first().ok_or_else(|| short(i))?;
        let (item, r) = match (format, mode) {
            (_, ITEM_ZSTD) => {
                let n = frame_len(r).map_err(|e| bad(format!("item {i}: {e}")))?;
                (Item::Zstd(&r[..n]), &r[n..])
            }
            (FORMAT_LEPTON_0_5_8, ITEM_LEPTON) | (FORMAT_SHARED_HEADERS, ITEM_LEPTON_BODY) => {
                let (n, r) = r.split_first_chunk::<4>().ok_or_else(|| short(i))?;
                let n = u32::from_le_bytes(*n) as usize;
                if r.len() < n {
                    return Err(short(i));
                }
                let item = if mode == ITEM_LEPTON {
                    Item::Lepton(&r[..n])
                } else {
                    bodies += 1;
                    Item::Body(&r[..n], bodies - 1)
                };
                (item, &r[n..])
            }
            (_, m) => return Err(bad(format!("item {i}: unknown item mode {m}"))),
        };
        items.push(item);
        rest = r;
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} stray bytes after the last of {count} items",
            rest.len()
        )));
    }
    if bodies == 0 && !header_frame.is_empty() {
        return Err(bad(
            "Lepton chunk has a header frame but no item uses it".into()
        ));
    }
    Ok(Chunk {
        header_frame,
        items,
        bodies,
    })
}

/// The entries of a header frame: per body, Lepton's fixed header, then a u32 LE length and the
/// inflated header. `lens` are the files' lengths, which bound each header (a JPEG's header is
/// never much longer than the JPEG: the reader's own bound, `data::precheck`).
fn headers(frame: &[u8], lens: &[u64]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
    let cap = |len: u64| FIXED as u64 + 4 + 2 * len + (1 << 16);
    let total: u64 = lens.iter().map(|&l| cap(l)).sum();
    let raw = decode_frame_within(frame, total).map_err(|e| format!("Lepton header frame: {e}"))?;
    if raw.len() as u64 > total {
        return Err("Lepton header frame holds more than its files' headers could".into());
    }
    let mut r = &raw[..];
    let mut out = Vec::with_capacity(lens.len());
    for (k, &len) in lens.iter().enumerate() {
        let damaged = || format!("Lepton header frame damaged (entry {k})");
        let (fixed, rest) = r.split_at_checked(FIXED).ok_or_else(damaged)?;
        let (n, rest) = rest.split_first_chunk::<4>().ok_or_else(damaged)?;
        let n = u32::from_le_bytes(*n) as u64;
        if n > cap(len) {
            return Err(damaged());
        }
        let (h, rest) = rest.split_at_checked(n as usize).ok_or_else(damaged)?;
        out.push((fixed.to_vec(), h.to_vec()));
        r = rest;
    }
    if !r.is_empty() {
        return Err("Lepton header frame holds more entries than the chunk's items".into());
    }
    Ok(out)
}

impl LeptonCodec {
    /// The chunk's header entries, one per body, in item order.
    fn chunk_headers(
        &self,
        c: &Chunk,
        shapes: &[ItemShape],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, CodecError> {
        if c.bodies == 0 {
            return Ok(Vec::new());
        }
        let lens: Vec<u64> = c
            .items
            .iter()
            .zip(shapes)
            .filter(|(it, _)| matches!(it, Item::Body(..)))
            .map(|(_, s)| s.decoded_len())
            .collect();
        headers(c.header_frame, &lens).map_err(CodecError::Corrupt)
    }
}

impl Codec for LeptonCodec {
    fn id(&self) -> u8 {
        CODEC_LEPTON
    }

    fn name(&self) -> &str {
        "lepton"
    }

    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let mut header_entries = Vec::new();
        let mut coded = Vec::new();
        let mut gained = false;
        for item in items {
            let Payload::Bytes(file) = item else {
                return Err(CodecError::Unsupported(
                    "Lepton codes files, not pixels".into(),
                ));
            };
            let frame = self.zstd.encode_chunk(&[item])?;
            // Lepton data as the reader will rebuild it, decoded back by the reader's own code:
            // the writer keeps only what decodes to the file.
            let parts = encode_unchecked(file).and_then(|l| {
                let p = split(&l)?;
                let again = join(p.fixed, &p.header, p.body);
                (lepton_decode(&again, file.len() as u64).ok()? == **file).then(|| {
                    // What the item costs at most: its body, its header deflated on its own.
                    let cost = 5 + again.len();
                    (p.fixed.to_vec(), p.header, p.body.to_vec(), cost)
                })
            });
            match parts {
                Some((fixed, header, body, cost)) if cost < frame.len() + 1 => {
                    gained = true;
                    header_entries.extend_from_slice(&fixed);
                    header_entries.extend_from_slice(&(header.len() as u32).to_le_bytes());
                    header_entries.extend_from_slice(&header);
                    coded.push(ITEM_LEPTON_BODY);
                    coded.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    coded.extend_from_slice(&body);
                }
                _ => {
                    coded.push(ITEM_ZSTD);
                    coded.extend_from_slice(&frame);
                }
            }
        }
        if !gained {
            return Err(CodecError::Unsupported(
                "no JPEG file in the chunk that Lepton makes smaller".into(),
            ));
        }
        let header_frame = zstd::bulk::compress(&header_entries, self.level)
            .map_err(|e| CodecError::Internal(format!("zstd: {e}")))?;
        let mut out = vec![FORMAT_SHARED_HEADERS];
        out.extend_from_slice(&(header_frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&header_frame);
        out.extend_from_slice(&coded);
        Ok(out)
    }

    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError> {
        let c = parse(data, shapes.len())?;
        for (i, (item, shape)) in c.items.iter().zip(shapes).enumerate() {
            if !matches!(shape, ItemShape::Bytes { .. }) {
                return Err(CodecError::Corrupt(format!(
                    "item {i}: Lepton items are files"
                )));
            }
            if let Item::Zstd(frame) = item {
                if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(frame) {
                    if n != shape.decoded_len() {
                        return Err(CodecError::Corrupt(format!(
                            "item {i}: frame holds {n} bytes, the member table says {}",
                            shape.decoded_len()
                        )));
                    }
                }
            }
        }
        self.chunk_headers(&c, shapes).map(|_| ())
    }

    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        super::check_upto(upto, shapes.len())?;
        let c = parse(data, shapes.len())?;
        let headers = self.chunk_headers(&c, shapes)?;
        let mut out = Vec::with_capacity(upto + 1);
        for (i, (item, shape)) in c.items.iter().zip(shapes).take(upto + 1).enumerate() {
            let ItemShape::Bytes { len } = *shape else {
                return Err(CodecError::Corrupt(format!(
                    "item {i}: Lepton items are files"
                )));
            };
            let bytes = match item {
                Item::Zstd(f) => decode_frame(f, len),
                Item::Lepton(l) => lepton_decode(l, len),
                Item::Body(b, k) => {
                    let (fixed, header) = &headers[*k];
                    lepton_decode(&join(fixed, header, b), len)
                }
            }
            .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
            out.push(Payload::Bytes(bytes));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/exact/jpeg/");

    fn fixtures(names: &[&str]) -> Vec<Payload> {
        names
            .iter()
            .map(|n| Payload::Bytes(std::fs::read(format!("{DIR}{n}")).unwrap()))
            .collect()
    }

    fn shapes(items: &[Payload]) -> Vec<ItemShape> {
        items
            .iter()
            .map(|p| ItemShape::Bytes {
                len: p.len() as u64,
            })
            .collect()
    }

    fn bytes(p: &Payload) -> &[u8] {
        match p {
            Payload::Bytes(b) => b,
            _ => unreachable!(),
        }
    }

    #[test]
    fn shared_headers_cost_less_than_whole_streams_and_decode_to_the_files() {
        let items = fixtures(&[
            "pillow-q75.jpg",
            "cmyk.jpg",
            "pillow-q95.jpg",
            "baseline.jpg",
        ]);
        let refs: Vec<&Payload> = items.iter().collect();
        let codec = LeptonCodec::new(19);
        let chunk = codec.encode_chunk(&refs).unwrap();
        assert_eq!(chunk[0], FORMAT_SHARED_HEADERS);
        let s = shapes(&items);
        codec.check_chunk(&chunk, &s).unwrap();
        let back = codec.decode_chunk(&chunk, &s, 3).unwrap();
        assert_eq!(back, items);
        // Format 1 (each stream whole, as bsar 1.2 wrote) of the same files is larger.
        let mut old = vec![FORMAT_LEPTON_0_5_8];
        for p in &items {
            match lepton_encode(bytes(p)) {
                Some(l) => {
                    old.push(ITEM_LEPTON);
                    old.extend_from_slice(&(l.len() as u32).to_le_bytes());
                    old.extend_from_slice(&l);
                }
                None => {
                    old.push(ITEM_ZSTD);
                    old.extend_from_slice(&zstd::bulk::compress(bytes(p), 19).unwrap());
                }
            }
        }
        assert!(
            chunk.len() < old.len(),
            "{} against {}",
            chunk.len(),
            old.len()
        );
        // ... and still decodes.
        codec.check_chunk(&old, &s).unwrap();
        assert_eq!(codec.decode_chunk(&old, &s, 3).unwrap(), items);
    }

    #[test]
    fn a_header_frame_that_does_not_match_the_items_is_refused() {
        let items = fixtures(&["grey.jpg", "exif.jpg"]);
        let refs: Vec<&Payload> = items.iter().collect();
        let codec = LeptonCodec::new(3);
        let chunk = codec.encode_chunk(&refs).unwrap();
        let s = shapes(&items);
        let n = u32::from_le_bytes(chunk[1..5].try_into().unwrap()) as usize;
        let entries = zstd::bulk::decompress(&chunk[5..5 + n], 1 << 20).unwrap();
        // The frame again with one byte more, then with the last entry cut short.
        for bad in [
            [&entries[..], &[0]].concat(),
            entries[..entries.len() - 1].to_vec(),
        ] {
            let frame = zstd::bulk::compress(&bad, 3).unwrap();
            let mut c = vec![FORMAT_SHARED_HEADERS];
            c.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            c.extend_from_slice(&frame);
            c.extend_from_slice(&chunk[5 + n..]);
            let e = codec.check_chunk(&c, &s).unwrap_err().to_string();
            assert!(e.contains("header frame"), "{e}");
            assert!(codec.decode_chunk(&c, &s, 0).is_err());
        }
        // A format 1 chunk may not carry format 2's item mode.
        let mut c = chunk.clone();
        c[0] = FORMAT_LEPTON_0_5_8;
        assert!(codec.check_chunk(&c, &s).is_err());
    }
}
