//! Codec id 3: JPEG files recompressed losslessly by Lepton (the `lepton_jpeg` crate, pinned),
//! about a fifth smaller, and restored to the identical bytes (spec/format.md 6.2).
//!
//! Each item is one file, coded on its own: Lepton where it is smaller than the file's zstd frame
//! (and decodes back to the very same bytes, which the encoder checks), the zstd frame otherwise,
//! so a JPEG Lepton cannot take (damaged, CMYK, arithmetic-coded) costs what zstd costs. A chunk
//! where no item gains is refused (`Unsupported`), and the writer stores it with zstd instead.

use super::zstd::{decode_frame, frame_len, ZstdCodec};
use super::{Codec, CodecError, ItemShape, Payload, CODEC_LEPTON};
use lepton_jpeg::{EnabledFeatures, SingleThreadPool};
use std::io::Cursor;

/// The chunk's first byte: which Lepton format and settings the items hold. 1 is `lepton_jpeg`
/// 0.5.8 with `EnabledFeatures::compat_lepton_vector_write()` (reading with `..._vector_read()`),
/// one thread. A new `lepton_jpeg` whose output differs gets a new value; old ones keep decoding.
pub const FORMAT_LEPTON_0_5_8: u8 = 1;

/// Item modes: what follows the mode byte.
const ITEM_ZSTD: u8 = 0;
const ITEM_LEPTON: u8 = 1;

pub struct LeptonCodec {
    zstd: ZstdCodec,
}

impl LeptonCodec {
    /// `zstd_level` codes the items Lepton does not make smaller.
    pub fn new(zstd_level: i32) -> Self {
        LeptonCodec {
            zstd: ZstdCodec::new(zstd_level),
        }
    }
}

fn write_features() -> EnabledFeatures {
    EnabledFeatures::compat_lepton_vector_write()
}

fn read_features() -> EnabledFeatures {
    EnabledFeatures::compat_lepton_vector_read()
}

/// `jpeg` in Lepton's format, checked to decode to the same bytes; `None` where Lepton refuses
/// it (or would panic on it: the library's panics are caught and treated as a refusal).
pub fn lepton_encode(jpeg: &[u8]) -> Option<Vec<u8>> {
    std::panic::catch_unwind(|| {
        lepton_jpeg::encode_lepton_verify(jpeg, &write_features(), &SingleThreadPool::default())
            .ok()
            .map(|(v, _)| v)
    })
    .ok()
    .flatten()
}

/// Decodes a Lepton stream to exactly `expected` bytes.
pub fn lepton_decode(stream: &[u8], expected: u64) -> Result<Vec<u8>, String> {
    let mut out = Bounded {
        buf: Vec::new(),
        limit: expected,
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lepton_jpeg::decode_lepton(
            &mut Cursor::new(stream),
            &mut out,
            &read_features(),
            &SingleThreadPool::default(),
        )
    }));
    match r {
        Ok(Ok(_)) => {}
        // The library's messages carry a trace of source locations, one per line: the first
        // line says what is wrong.
        Ok(Err(e)) => {
            let e = e.to_string();
            return Err(format!(
                "Lepton data damaged: {}",
                e.lines().next().unwrap_or("")
            ));
        }
        Err(_) => return Err("Lepton data damaged (the decoder gave up)".into()),
    }
    if out.buf.len() as u64 != expected {
        return Err(format!(
            "Lepton data decodes to {} bytes, the member table says {expected}",
            out.buf.len()
        ));
    }
    Ok(out.buf)
}

/// A Vec that refuses to grow past `limit`: a damaged stream cannot make the decoder allocate
/// more than the member table promised.
struct Bounded {
    buf: Vec<u8>,
    limit: u64,
}

impl std::io::Write for Bounded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + b.len() as u64 > self.limit {
            return Err(std::io::Error::other("longer than the member table says"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One item as it lies in the chunk.
enum Item<'a> {
    Zstd(&'a [u8]),
    Lepton(&'a [u8]),
}

/// The chunk's `count` items, found from their framing only; nothing may follow the last.
fn items(data: &[u8], count: usize) -> Result<Vec<Item<'_>>, CodecError> {
    let bad = |m: String| CodecError::Corrupt(m);
    let (&format, mut rest) = data
        .split_first()
        .ok_or_else(|| bad("empty Lepton chunk".into()))?;
    if format != FORMAT_LEPTON_0_5_8 {
        return Err(bad(format!(
            "Lepton chunk of format {format}, which this bsar does not know"
        )));
    }
    let mut out = Vec::with_capacity(count.min(data.len()));
    for i in 0..count {
        let (&mode, r) = rest
            .split_first()
            .ok_or_else(|| bad(format!("item {i}: chunk ends early")))?;
        let (item, r) = match mode {
            ITEM_ZSTD => {
                let n = frame_len(r).map_err(|e| bad(format!("item {i}: {e}")))?;
                (Item::Zstd(&r[..n]), &r[n..])
            }
            ITEM_LEPTON => {
                let (n, r) = r
                    .split_first_chunk::<4>()
                    .ok_or_else(|| bad(format!("item {i}: chunk ends early")))?;
                let n = u32::from_le_bytes(*n) as usize;
                if r.len() < n {
                    return Err(bad(format!("item {i}: chunk ends early")));
                }
                (Item::Lepton(&r[..n]), &r[n..])
            }
            m => return Err(bad(format!("item {i}: unknown item mode {m}"))),
        };
        out.push(item);
        rest = r;
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} stray bytes after the last of {count} items",
            rest.len()
        )));
    }
    Ok(out)
}

impl Codec for LeptonCodec {
    fn id(&self) -> u8 {
        CODEC_LEPTON
    }

    fn name(&self) -> &str {
        "lepton"
    }

    fn encode_chunk(&self, items: &[&Payload]) -> Result<Vec<u8>, CodecError> {
        let mut out = vec![FORMAT_LEPTON_0_5_8];
        let mut gained = false;
        for item in items {
            let Payload::Bytes(file) = item else {
                return Err(CodecError::Unsupported("Lepton codes files, not pixels".into()));
            };
            let frame = self.zstd.encode_chunk(&[item])?;
            match lepton_encode(file) {
                Some(l) if l.len() + 4 < frame.len() => {
                    gained = true;
                    out.push(ITEM_LEPTON);
                    out.extend_from_slice(&(l.len() as u32).to_le_bytes());
                    out.extend_from_slice(&l);
                }
                _ => {
                    out.push(ITEM_ZSTD);
                    out.extend_from_slice(&frame);
                }
            }
        }
        if !gained {
            return Err(CodecError::Unsupported(
                "no JPEG file in the chunk that Lepton makes smaller".into(),
            ));
        }
        Ok(out)
    }

    fn check_chunk(&self, data: &[u8], shapes: &[ItemShape]) -> Result<(), CodecError> {
        for (i, (item, shape)) in items(data, shapes.len())?.iter().zip(shapes).enumerate() {
            if !matches!(shape, ItemShape::Bytes { .. }) {
                return Err(CodecError::Corrupt(format!("item {i}: Lepton items are files")));
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
        Ok(())
    }

    fn decode_chunk(
        &self,
        data: &[u8],
        shapes: &[ItemShape],
        upto: usize,
    ) -> Result<Vec<Payload>, CodecError> {
        super::check_upto(upto, shapes.len())?;
        let items = items(data, shapes.len())?;
        let mut out = Vec::with_capacity(upto + 1);
        for (i, (item, shape)) in items.iter().zip(shapes).take(upto + 1).enumerate() {
            let ItemShape::Bytes { len } = *shape else {
                return Err(CodecError::Corrupt(format!("item {i}: Lepton items are files")));
            };
            let bytes = match item {
                Item::Zstd(f) => decode_frame(f, len),
                Item::Lepton(l) => lepton_decode(l, len),
            }
            .map_err(|e| CodecError::Corrupt(format!("item {i}: {e}")))?;
            out.push(Payload::Bytes(bytes));
        }
        Ok(out)
    }
}
