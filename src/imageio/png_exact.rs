//! Byte-exact PNG members: what it takes to rebuild a PNG file, byte for byte, from its pixels
//! (spec/format.md 4.5.1).
//!
//! A PNG file is its signature and chunks; the image data is one zlib stream of filtered rows,
//! cut into consecutive IDAT chunks. bsar keeps verbatim everything before the first IDAT chunk
//! (`head`: signature, IHDR, palettes, profiles, text...) and after the last (`tail`: more chunks,
//! IEND, and any bytes after IEND), and records how to redo the rest: the filter of each row
//! (`png_filter`), how to recompress the filtered rows into the same zlib stream (`deflate`), and
//! where the stream was cut. The CRC-32 of the original file is kept and checked after every
//! rebuild, so a damaged record can never give back a file that merely looks right.

use super::deflate::{self, Rezip, Stream};
use super::png_filter::{self, Choice, Layout};
use super::{png_file, Raster, WrapperError};
use std::io::Read;

/// The record that rebuilds one PNG file from its pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PngExact {
    /// CRC-32 (ISO-HDLC, as zlib and PNG) of the whole original file.
    pub file_crc: u32,
    /// Everything before the first IDAT chunk, verbatim.
    pub head: Vec<u8>,
    /// Everything after the last IDAT chunk, verbatim.
    pub tail: Vec<u8>,
    /// The length of the zlib stream (all IDAT data together).
    pub stream_len: u64,
    /// The data length of each IDAT chunk.
    pub split: Split,
    pub filters: Choice,
    pub stream: Stream,
}

/// How the zlib stream is cut into IDAT chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Split {
    /// Chunks of `n` bytes, the last one shorter or equal (the way libpng and Pillow write).
    Even(u32),
    /// Each chunk's length.
    Lengths(Vec<u32>),
}

/// The part of the file bsar rebuilds, and how it was found: positions of the IDAT run.
struct Idats<'a> {
    /// Offset of the first IDAT chunk and the end of the last.
    start: usize,
    end: usize,
    data: Vec<&'a [u8]>,
}

/// Finds the one run of consecutive IDAT chunks; `None` if there is none, if IDAT chunks are
/// split by other chunks, or if the chunk structure is damaged before IEND.
fn idats(bytes: &[u8]) -> Option<Idats<'_>> {
    let mut pos = png_file::SIGNATURE.len();
    let mut run: Option<Idats> = None;
    let mut run_over = false;
    loop {
        let len = u32::from_be_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let kind = bytes.get(pos + 4..pos + 8)?;
        let end = pos.checked_add(12)?.checked_add(len)?;
        let data = bytes.get(pos + 8..end - 4)?;
        if kind == b"IDAT" {
            if run_over {
                return None;
            }
            let r = run.get_or_insert(Idats {
                start: pos,
                end,
                data: Vec::new(),
            });
            r.end = end;
            r.data.push(data);
        } else if run.is_some() {
            run_over = true;
        }
        if kind == b"IEND" {
            return run;
        }
        pos = end;
    }
}

/// The zlib stream of a PNG file (its IDAT data, joined); `None` if the chunks are damaged.
#[cfg(test)]
pub(super) fn idat_stream(bytes: &[u8]) -> Option<Vec<u8>> {
    idats(bytes).map(|r| r.data.concat())
}

/// How the filters see the file: the geometry and samples `head`'s IHDR states, and for a palette
/// image the index of each raster value (from the PLTE chunk in `head`); errors name what is
/// wrong.
fn layout(head: &[u8], raster: &Raster) -> Result<(Layout, Option<[u8; 256]>), WrapperError> {
    let bad = |m: &str| WrapperError(format!("PNG record: {m}"));
    let (g, samples) = png_file::ihdr(head).ok_or_else(|| bad("no image header"))?;
    let samples = samples.ok_or_else(|| bad("image samples bsar does not store as pixels"))?;
    let depth = if samples.bits == 16 { 16 } else { 8 };
    if (g.width, g.height, samples.channels, depth)
        != (raster.width, raster.height, raster.channels, raster.depth)
    {
        return Err(bad("image header does not match the pixels"));
    }
    // IHDR data starts at byte 16; the interlace method is its 13th byte.
    let interlaced = match head.get(28) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(bad("unknown interlace method")),
    };
    let values = match samples.palette {
        true => Some(png_file::palette_order(
            png_file::chunk_data(head, b"PLTE")
                .ok_or_else(|| bad("a palette image without PLTE"))?,
        )),
        false => None,
    };
    let layout = Layout {
        width: g.width,
        height: g.height,
        channels: samples.channels as usize,
        bits: samples.bits,
        interlaced,
    };
    Ok((layout, values))
}

/// `record` as the archive will hold it (serialised and read back), if that rebuilds `bytes`
/// from `raster` with the reader's own code.
fn checked(record: PngExact, raster: &Raster, bytes: &[u8]) -> Option<PngExact> {
    let mut serialised = Vec::new();
    record.write(&mut serialised);
    let mut r = Reader::new(&serialised);
    let stored = PngExact::read(&mut r).ok().filter(|_| r.left() == 0)?;
    (stored.rebuild(raster).ok()? == bytes).then_some(stored)
}

impl PngExact {
    /// The record for `bytes`, a PNG file whose decoded pixels are `raster`, if bsar can rebuild
    /// the file exactly; checked by rebuilding it. `None` sends the file to storage as bytes.
    pub fn capture(bytes: &[u8], raster: &Raster) -> Option<PngExact> {
        let run = idats(bytes)?;
        let head = &bytes[..run.start];
        let tail = &bytes[run.end..];
        let (layout, values) = layout(head, raster).ok()?;
        let values = values.as_ref();
        let zlib = run.data.concat();
        let want = layout.stream_len();
        let mut plain = Vec::with_capacity(want);
        flate2::read::ZlibDecoder::new(&zlib[..])
            .take(want as u64 + 1)
            .read_to_end(&mut plain)
            .ok()?;
        if plain.len() != want {
            return None;
        }
        let rows = png_filter::row_filters(&layout, &plain);
        let filters = png_filter::describe(&layout, &raster.pixels, values, &rows);
        if png_filter::filter(&layout, &raster.pixels, values, &filters).ok()? != plain {
            return None;
        }
        let lens: Vec<u32> = run.data.iter().map(|d| d.len() as u32).collect();
        let split = match lens.split_last() {
            Some((&last, rest))
                if last > 0 && rest.iter().all(|&n| n == lens[0]) && last <= lens[0] =>
            {
                Split::Even(lens[0])
            }
            _ => Split::Lengths(lens),
        };
        let record = |stream| PngExact {
            file_crc: crc32fast::hash(bytes),
            head: head.to_vec(),
            tail: tail.to_vec(),
            stream_len: zlib.len() as u64,
            split: split.clone(),
            filters: filters.clone(),
            stream,
        };
        // The zlib parameters that match the stream's start are nearly always the ones that made
        // it: checking that guess by the rebuild below spares the full replay `analyse` runs.
        if let Some(guessed) = deflate::guess(&zlib, &plain) {
            if let Some(checked) = checked(record(guessed), raster, bytes) {
                return Some(checked);
            }
        }
        let stream = deflate::analyse(&zlib, &plain, layout.row_len())?;
        if let Rezip::Preflate { corrections, .. } = &stream.rezip {
            // A deflate encoder preflate models badly (corrections a quarter of the stream or
            // more, beyond the few bytes any record costs) is not worth it: such a file is
            // stored as bytes. (The writer's never-worse-than-zstd rule has the last word.)
            if corrections.len() > zlib.len() / 4 + 64 {
                return None;
            }
        }
        checked(record(stream), raster, bytes)
    }

    /// The original file's length.
    pub fn file_len(&self) -> Option<u64> {
        let chunks = match &self.split {
            Split::Even(0) => return None,
            Split::Even(n) => self.stream_len.div_ceil(u64::from(*n)).max(1),
            Split::Lengths(v) => v.len() as u64,
        };
        (self.head.len() as u64 + self.tail.len() as u64)
            .checked_add(self.stream_len)?
            .checked_add(chunks.checked_mul(12)?)
    }

    /// The length of each IDAT chunk's data. Called once the stream is rebuilt, so that
    /// `stream_len` is known to be real and a damaged record cannot make it allocate much.
    fn chunk_lengths(&self) -> Result<Vec<u32>, WrapperError> {
        let bad = |m: &str| WrapperError(format!("PNG record: {m}"));
        let lens = match &self.split {
            Split::Even(0) => return Err(bad("IDAT chunks of 0 bytes")),
            Split::Even(n) => {
                let n = u64::from(*n);
                let count = self.stream_len.div_ceil(n).max(1);
                let mut v = vec![n as u32; count as usize];
                v[count as usize - 1] = (self.stream_len - (count - 1) * n) as u32;
                v
            }
            Split::Lengths(v) => v.clone(),
        };
        if lens.iter().map(|&n| u64::from(n)).sum::<u64>() != self.stream_len {
            return Err(bad("IDAT lengths do not add up"));
        }
        Ok(lens)
    }

    /// Rebuilds the original file from its pixels, and checks its CRC-32.
    pub fn rebuild(&self, raster: &Raster) -> Result<Vec<u8>, WrapperError> {
        let (layout, values) = layout(&self.head, raster)?;
        let plain = png_filter::filter(&layout, &raster.pixels, values.as_ref(), &self.filters)
            .map_err(|e| WrapperError(format!("PNG record: {e}")))?;
        let zlib = deflate::rebuild(
            &self.stream,
            &plain,
            layout.row_len(),
            self.stream_len as usize,
        )
        .map_err(|e| WrapperError(format!("PNG record: {e}")))?;
        if zlib.len() as u64 != self.stream_len {
            return Err(WrapperError(
                "PNG record: rebuilt image data shorter than recorded".into(),
            ));
        }
        let lens = self.chunk_lengths()?;
        let mut out =
            Vec::with_capacity(self.head.len() + self.tail.len() + zlib.len() + 12 * lens.len());
        out.extend_from_slice(&self.head);
        let mut at = 0usize;
        for n in lens {
            let data = &zlib[at..at + n as usize];
            at += n as usize;
            out.extend_from_slice(&n.to_be_bytes());
            let start = out.len();
            out.extend_from_slice(b"IDAT");
            out.extend_from_slice(data);
            let crc = crc32fast::hash(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        out.extend_from_slice(&self.tail);
        if crc32fast::hash(&out) != self.file_crc {
            return Err(WrapperError(
                "PNG record: the rebuilt file does not match the original's CRC-32".into(),
            ));
        }
        Ok(out)
    }

    /// Serialises the record (after the wrapper's kind byte; spec/format.md 4.5.1). The usual
    /// head (signature and IHDR, nothing else) and tail (IEND, nothing else) take a few bytes:
    /// the writer charges an image its wrapper's full length, so it must be small.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.file_crc.to_le_bytes());
        put_varint(out, self.stream_len);
        match canonical_ihdr(&self.head) {
            // Form 1 (format 1.2) for 8-bit samples, form 2 (format 1.8) for other depths.
            Some((w, h, bits, colour, interlace)) => {
                out.push(if bits == 8 { 1 } else { 2 });
                put_varint(out, w.into());
                put_varint(out, h.into());
                if bits != 8 {
                    out.push(bits);
                }
                out.extend_from_slice(&[colour, interlace]);
                put_bytes(out, &self.head[HEAD_LEN..]);
            }
            None => {
                out.push(0);
                put_bytes(out, &self.head);
            }
        }
        match self.tail.windows(IEND.len()).position(|w| w == IEND) {
            Some(at) => {
                out.push(1);
                put_bytes(out, &self.tail[..at]);
                put_bytes(out, &self.tail[at + IEND.len()..]);
            }
            None => {
                out.push(0);
                put_bytes(out, &self.tail);
            }
        }
        match &self.split {
            // One IDAT chunk (most small files): its length is the stream's.
            Split::Even(n) if u64::from(*n) == self.stream_len && self.stream_len > 0 => {
                out.push(2)
            }
            Split::Even(n) => {
                out.push(0);
                put_varint(out, (*n).into());
            }
            Split::Lengths(v) => {
                out.push(1);
                put_varint(out, v.len() as u64);
                for &n in v {
                    put_varint(out, n.into());
                }
            }
        }
        match &self.filters {
            Choice::MinSum(mask) => out.extend_from_slice(&[0, *mask]),
            Choice::All(f) => out.extend_from_slice(&[1, *f]),
            Choice::Rows(r) => {
                out.push(2);
                put_bytes(out, r);
            }
        }
        match &self.stream.rezip {
            Rezip::Zlib {
                level,
                window_bits,
                mem_level,
                strategy,
            } => out.extend_from_slice(&[1, *level, *window_bits, *mem_level, *strategy]),
            Rezip::Fdeflate { stored } => out.push(if *stored { 4 } else { 3 }),
            Rezip::Miniz { level } => out.extend_from_slice(&[5, *level]),
            Rezip::Preflate {
                header,
                corrections,
            } => {
                out.push(2);
                out.extend_from_slice(header);
                put_bytes(out, corrections);
            }
        }
        put_bytes(out, &self.stream.extra);
    }

    /// Reads what `write` wrote; all of `r` must be used.
    pub fn read(r: &mut Reader) -> Result<PngExact, WrapperError> {
        let file_crc = r.u32()?;
        let stream_len = r.varint()?;
        let head = match r.u8()? {
            0 => r.bytes()?.to_vec(),
            form @ (1 | 2) => {
                let (w, h) = (r.varint_u32()?, r.varint_u32()?);
                let bits = if form == 1 { 8 } else { r.u8()? };
                let (colour, interlace) = (r.u8()?, r.u8()?);
                let mut head = ihdr_head(w, h, bits, colour, interlace);
                head.extend_from_slice(r.bytes()?);
                head
            }
            t => return Err(r.bad(&format!("unknown head record {t}"))),
        };
        let tail = match r.u8()? {
            0 => r.bytes()?.to_vec(),
            1 => [r.bytes()?, IEND, r.bytes()?].concat(),
            t => return Err(r.bad(&format!("unknown tail record {t}"))),
        };
        let split = match r.u8()? {
            0 => Split::Even(r.varint_u32()?),
            1 => {
                let n = r.varint()? as usize;
                // Each length takes at least a byte: a count beyond what is left is damage,
                // refused before allocating.
                if n > r.left() {
                    return Err(r.bad("truncated"));
                }
                Split::Lengths((0..n).map(|_| r.varint_u32()).collect::<Result<_, _>>()?)
            }
            2 => Split::Even(
                u32::try_from(stream_len)
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| r.bad("one IDAT chunk of an impossible length"))?,
            ),
            t => return Err(r.bad(&format!("unknown IDAT split {t}"))),
        };
        let filters = match r.u8()? {
            0 => Choice::MinSum(r.u8()?),
            1 => Choice::All(r.u8()?),
            2 => Choice::Rows(r.bytes()?.to_vec()),
            t => return Err(r.bad(&format!("unknown filter record {t}"))),
        };
        let rezip = match r.u8()? {
            1 => Rezip::Zlib {
                level: r.u8()?,
                window_bits: r.u8()?,
                mem_level: r.u8()?,
                strategy: r.u8()?,
            },
            2 => Rezip::Preflate {
                header: [r.u8()?, r.u8()?],
                corrections: r.bytes()?.to_vec(),
            },
            3 => Rezip::Fdeflate { stored: false },
            4 => Rezip::Fdeflate { stored: true },
            5 => Rezip::Miniz { level: r.u8()? },
            t => return Err(r.bad(&format!("unknown deflate record {t}"))),
        };
        let extra = r.bytes()?.to_vec();
        Ok(PngExact {
            file_crc,
            head,
            tail,
            stream_len,
            split,
            filters,
            stream: Stream { rezip, extra },
        })
    }
}

/// The IEND chunk as every writer writes it: empty, with its CRC.
const IEND: &[u8] = b"\0\0\0\0IEND\xaeB`\x82";
/// Signature and IHDR chunk.
const HEAD_LEN: usize = 8 + 25;

/// Signature and an IHDR chunk (compression and filter method 0).
fn ihdr_head(w: u32, h: u32, bits: u8, colour: u8, interlace: u8) -> Vec<u8> {
    let mut head = png_file::SIGNATURE.to_vec();
    head.extend_from_slice(&13u32.to_be_bytes());
    head.extend_from_slice(b"IHDR");
    head.extend_from_slice(&w.to_be_bytes());
    head.extend_from_slice(&h.to_be_bytes());
    head.extend_from_slice(&[bits, colour, 0, 0, interlace]);
    let crc = crc32fast::hash(&head[12..]);
    head.extend_from_slice(&crc.to_be_bytes());
    head
}

/// (width, height, bit depth, colour type, interlace) when `head` starts with exactly the
/// signature and IHDR chunk `ihdr_head` writes for them.
fn canonical_ihdr(head: &[u8]) -> Option<(u32, u32, u8, u8, u8)> {
    let b = head.get(..HEAD_LEN)?;
    let w = u32::from_be_bytes(b[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(b[20..24].try_into().ok()?);
    let (bits, colour, interlace) = (b[24], b[25], b[28]);
    (ihdr_head(w, h, bits, colour, interlace) == b).then_some((w, h, bits, colour, interlace))
}

/// A LEB128 length and the bytes.
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// LEB128: 7 bits a byte, low first, the high bit set on all but the last byte.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over a serialised wrapper, every read bounds-checked.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(rest: &'a [u8]) -> Self {
        Reader { rest }
    }

    pub fn bad(&self, why: &str) -> WrapperError {
        WrapperError(format!("image wrapper: {why}"))
    }

    pub fn left(&self) -> usize {
        self.rest.len()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WrapperError> {
        if self.rest.len() < n {
            return Err(self.bad("truncated"));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, WrapperError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, WrapperError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    /// A LEB128 number of at most 64 bits, in its shortest form.
    pub fn varint(&mut self) -> Result<u64, WrapperError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(self.bad("number out of range"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(self.bad("number not in its shortest form"));
                }
                return Ok(v);
            }
        }
        Err(self.bad("number out of range"))
    }

    pub fn varint_u32(&mut self) -> Result<u32, WrapperError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.bad("number out of range"))
    }

    /// A LEB128 length, then that many bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], WrapperError> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| self.bad("truncated"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// A grey `w x h` PNG, every row filtered with None, its image data zlib at level 9 with
    /// Pillow's `optimize` settings (memory level 9, `Z_FILTERED`) and `extra` bytes after the
    /// zlib stream, in one IDAT chunk.
    fn png(w: u32, h: u32, extra: &[u8]) -> (Vec<u8>, Raster) {
        let pixels: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                ((x * 3 + y * 5) ^ (i.wrapping_mul(2_654_435_761) >> 27)) as u8
            })
            .collect();
        let mut plain = Vec::new();
        for row in pixels.chunks(w as usize) {
            plain.push(0);
            plain.extend_from_slice(row);
        }
        let s = Stream {
            rezip: Rezip::Zlib {
                level: 9,
                window_bits: 15,
                mem_level: 9,
                strategy: 1,
            },
            extra: extra.to_vec(),
        };
        let zlib = deflate::rebuild(&s, &plain, Some(w as usize + 1), usize::MAX).unwrap();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &zlib);
        chunk(&mut out, b"IEND", &[]);
        let raster = Raster {
            width: w,
            height: h,
            channels: 1,
            depth: 8,
            pixels,
        };
        (out, raster)
    }

    /// A stream long enough for `deflate::guess`: found from its first bytes and checked by the
    /// rebuild; with bytes after the stream the guess's rebuild fails, and the full analysis
    /// finds them. Either way the record is the one the full analysis gives.
    #[test]
    fn a_long_zlib_stream_is_captured_from_a_guess_checked_by_the_rebuild() {
        for extra in [&b""[..], b"junk"] {
            let (bytes, raster) = png(400, 300, extra);
            let zlib_len = bytes.len() - 8 - 25 - 12 - 12;
            assert!(zlib_len > 2 * deflate::GUESS_PREFIX, "{zlib_len}");
            let rec = PngExact::capture(&bytes, &raster).expect("captured");
            assert_eq!(rec.rebuild(&raster).unwrap(), bytes);
            assert_eq!(rec.stream.extra, extra);
            assert!(
                matches!(
                    rec.stream.rezip,
                    Rezip::Zlib {
                        level: 9,
                        mem_level: 9,
                        strategy: 1,
                        ..
                    }
                ),
                "{:?}",
                rec.stream.rezip
            );
        }
    }
}
